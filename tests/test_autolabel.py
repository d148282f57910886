"""Training on a user's own trajectory: the LAMMPS log, windows, confident PTM, balanced
sampling, the report, and one-line errors for bad windows, logs and classes."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_one_line_error, run_cli
from structid.errors import InputError
from structid.io.readers import open_trajectory
from structid.io.thermo import read_lammps_log
from structid.io.writers import write_frames
from structid.lattices import gaussian_noise, lattice
from structid.labels import CODE
from structid.training.autolabel import (LabelledFrameRecord, PTMLabels, Window, check_classes, class_quotas,
                                         label_trajectories)
from structid.training.report import glass_from_energy, melting_from_energy


@pytest.fixture(scope="module")
def cycle_run(tmp_path_factory):
    """A quick real LAMMPS heat-melt-quench run: dump + log, as a user's run leaves them."""
    from structid.md.recipes import plan
    from structid.md.simulate import execute
    from structid.md.store import log_path

    root = tmp_path_factory.mktemp("md")
    dump, _ = execute(plan("cycle", ["ni"], quick=True)[0], root, threads=1)
    return dump, log_path(dump)


def test_the_log_has_a_row_for_every_dump_step(cycle_run):
    dump, log = cycle_run
    thermo = read_lammps_log(log)
    frames = list(open_trajectory(dump))
    temps = [thermo.value("T", f.info["timestep"]) for f in frames]
    assert len(frames) >= 6 and all(t > 0 for t in temps)
    assert thermo.value("pe", frames[0].info["timestep"]) == thermo.value("PotEng", frames[0].info["timestep"]) < 0
    # heated then quenched: the hottest frame is in the middle
    assert 0 < int(np.argmax(temps)) < len(temps) - 1
    with pytest.raises(InputError, match="no thermo row at timestep 7"):
        thermo.value("T", 7)
    with pytest.raises(InputError, match="no thermo column 'c_msd'"):
        thermo.value("c_msd", 0)


def test_a_log_without_thermo_is_refused(tmp_path):
    (tmp_path / "log.lammps").write_text("LAMMPS (22 Jul 2025)\nunits metal\n")
    with pytest.raises(InputError, match="no thermo table"):
        read_lammps_log(tmp_path / "log.lammps")


def test_log_tables_of_several_runs_merge_by_step(tmp_path):
    (tmp_path / "log").write_text("Step Temp PotEng\n0 10 -1\n100 20 -2\nLoop time of 1\n"
                                  "Step Temp PotEng Press\n100 20 -2 5\n200 30 -3 6\nLoop time\n")
    thermo = read_lammps_log(tmp_path / "log")
    assert list(thermo.steps) == [0, 100, 200]
    assert thermo.value("temp", 200) == 30 and thermo.value("press", 100) == 5
    with pytest.raises(InputError, match="no value"):
        thermo.value("Press", 0)


@pytest.mark.parametrize("text, message", [
    ("T<400:fcx", "'fcx' is not a structure name"),
    ("T<400:unknown", "'unknown' is not a class to train"),
    ("T<400", "write CONDITIONS:LABEL"),
    ("T~400:fcc", "cannot read condition"),
    ("frames 9-3:fcc", "runs backwards"),
])
def test_bad_windows(text, message):
    with pytest.raises(InputError, match=message) as info:
        Window.parse(text)
    assert "--window" in str(info.value)


def _frames(tmp_path, *, column_on=(0, 1)):
    """Six frames: cold fcc (0-2), disordered (3-5); a label column on some frames only."""
    rng = np.random.default_rng(0)
    frames = []
    for k in range(6):
        frame = gaussian_noise(lattice("fcc", 2.55, 4, species="Cu"), 0.03 if k < 3 else 0.6, rng)
        props = {"mylabel": np.full(len(frame), "fcc" if k < 3 else "liquid")} if k in column_on else {}
        frames.append(frame.replace(info={"timestep": 100 * k}, properties=props))
    paths = []
    for k, frame in enumerate(frames):  # a column present in some frames only: one file per frame
        paths.append(write_frames(tmp_path / f"f{k}.extxyz", frame))
    whole = tmp_path / "all.lammpstrj"
    write_frames(whole, [f.replace(properties={}) for f in frames])
    log = tmp_path / "log.lammps"
    log.write_text("Step Temp PotEng\n" + "".join(f"{100 * k} {300 + 400 * k} {-4 + 0.1 * k}\n" for k in range(6)))
    return frames, paths, whole, log


def test_windows_ptm_and_columns_label_frames_in_order(tmp_path):
    _, paths, whole, log = _frames(tmp_path)
    labels = label_trajectories([(str(whole), None)], windows=[Window.parse("T>=1500 & frames 3-:liquid")],
                                ptm=PTMLabels(), logs=[read_lammps_log(log)])
    sources = [r.source for r in labels.frames]
    assert sources == ["ptm"] * 3 + ["window T>=1500 & frames 3-:liquid"] * 3
    assert all((r.codes[r.codes != CODE["unknown"]] == CODE["fcc"]).all() for r in labels.frames[:3])
    assert [r.quantities["Temp"] for r in labels.frames] == [300, 700, 1100, 1500, 1900, 2300]
    # a label column on frames 0-1 only: the others stay unlabelled instead of stopping the run
    labels = label_trajectories([(str(p), None) for p in paths], label_column="mylabel")
    assert [r.source for r in labels.frames] == ["column mylabel"] * 2 + [None] * 4
    assert labels.class_counts() == {"fcc": 2 * len(lattice("fcc", 2.55, 4))}


def test_ptm_leaves_unconfident_frames_and_atoms_out(tmp_path):
    _, _, whole, _ = _frames(tmp_path)
    labels = label_trajectories([(str(whole), None)], ptm=PTMLabels(min_share=0.9))
    assert [r.source for r in labels.frames] == ["ptm"] * 3 + [None] * 3
    strict = label_trajectories([(str(whole), None)], ptm=PTMLabels(rmsd_cutoff=0.02, min_share=0.05))
    loose = label_trajectories([(str(whole), None)], ptm=PTMLabels(rmsd_cutoff=0.3, min_share=0.05))
    unknown = [np.mean(r.codes == CODE["unknown"]) for r in strict.frames[:3]]
    assert min(unknown) > 0 and all(np.mean(r.codes == CODE["unknown"]) < u for r, u in zip(loose.frames, unknown))


def test_overlapping_and_empty_windows_are_errors(tmp_path):
    _, _, whole, log = _frames(tmp_path)
    thermo = [read_lammps_log(log)]
    with pytest.raises(InputError, match="both select frame 3"):
        label_trajectories([(str(whole), None)], windows=[Window.parse("T>1000:liquid"), Window.parse("frames 3:fcc")], logs=thermo)
    with pytest.raises(InputError, match=r"selects no frame \(the frames have T from 300 to 2300 K\)"):
        label_trajectories([(str(whole), None)], windows=[Window.parse("T>5000:liquid")], logs=thermo)
    with pytest.raises(InputError, match="has no 'T'.*give --log"):
        label_trajectories([(str(whole), None)], windows=[Window.parse("T>5000:liquid")])


def test_balanced_quotas_and_class_checks():
    rng = np.random.default_rng(1)
    records = [LabelledFrameRecord("x", 0, k, None, n, np.array([CODE["fcc"]] * (n - 10) + [CODE["liquid"]] * 10, np.int8),
                                   "w", False, {}) for k, n in enumerate((100, 400, 1000))]
    quotas = class_quotas(records, 600, rng)
    for code in (CODE["fcc"], CODE["liquid"]):
        assert sum(q.get(code, 0) for q in quotas) == 600
    fcc = [q[CODE["fcc"]] for q in quotas]
    assert fcc[0] < fcc[1] < fcc[2]  # in proportion to the class's atoms in each frame
    with pytest.raises(InputError, match="class 'liquid' has 30 labelled atom"):
        check_classes({"fcc": 1470, "liquid": 30}, 50)
    with pytest.raises(InputError, match="only one class"):
        check_classes({"fcc": 1470}, 50)


def test_transition_temperatures_from_the_energy():
    t = np.linspace(300, 2000, 40)
    e = 0.001 * t + np.where(t > 1400, 0.5, 0.0)
    assert abs(melting_from_energy(t, e) - 1400) < 30
    e = np.where(t > 900, 0.002 * t - 0.9, 0.001 * t)  # slopes meet at 900 K
    assert abs(glass_from_energy(t[::-1], e[::-1]) - 900) < 30


def test_train_on_an_unlabelled_trajectory_with_a_report(tmp_path):
    _, _, whole, log = _frames(tmp_path)
    report = tmp_path / "report"
    result = run_cli("train", "nmcnn", whole, "--log", log, "--auto-label", "ptm", "--window", "T>1400:liquid",
                     "--holdout-frames", "2,5", "--epochs", "2", "--per-class", "300", "--noise", "0.05",
                     "--architecture", "pool-first-s2", "--report", report, "-o", tmp_path / "m.pt", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "ptm: 2 frame(s)" in result.stdout and "held-out accuracy" in result.stdout
    text = (report / "report.md").read_text()
    assert "## Held-out frames" in text and "| fcc |" in text
    csv = (report / "fractions.csv").read_text().splitlines()
    assert len(csv) == 7 and "ptm_fcc" in csv[0]
    assert (report / "fractions.png").read_bytes()[:4] == b"\x89PNG"
    result = run_cli("train", "less", whole, "--log", log, "--auto-label", "ptm", "--window", "T>1400:liquid",
                     "--per-class", "200", "-o", tmp_path / "l.pt", "--threads", "1")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args, message", [
    (["--log", "{log}", "--auto-label", "ptm", "--window", "T>1400:fcx"], "--window 'T>1400:fcx': 'fcx' is not a structure name"),
    (["--log", "{log}", "--auto-label", "ptm", "--window", "T>1400:liquid", "--window", "frames 5:fcc"], "both select frame 5"),
    (["--log", "{log}", "--auto-label", "ptm", "--window", "T>9000:liquid"], "--window 'T>9000:liquid' selects no frame"),
    (["--log", "{log}", "--auto-label", "ptm", "--window", "T>1400:liquid", "--min-class-atoms", "100000"],
     "training needs at least 100000 per class"),
    (["--log", "{bad}", "--window", "T>1400:liquid"], "--log {bad}: no thermo row at timestep 200"),
    (["--auto-label", "acna"], "--auto-label: 'acna' is not a labeller"),
])
def test_bad_training_input_is_one_line(tmp_path, args, message):
    _, _, whole, log = _frames(tmp_path)
    bad = tmp_path / "short.log"
    bad.write_text("Step Temp PotEng\n0 300 -4\n100 700 -3.9\n")
    fill = (lambda text: text.replace("{log}", str(log)).replace("{bad}", str(bad)))
    result = run_cli("train", "nmcnn", whole, *map(fill, args), "--epochs", "1", "-o", tmp_path / "m.pt")
    assert_one_line_error(result, fill(message))
    assert not (tmp_path / "m.pt").exists()


def test_cycle_recipe_labels_and_seed_names():
    from structid.md.recipes import plan

    ni, cuzr = plan("cycle", ["ni", "cuzr"])
    labels = [stage.label(t) for stage in ni.stages for t in (stage.t_start, stage.t_stop)]
    assert labels[0] == "fcc" and "liquid" in labels and labels[-1] == "amorphous"
    assert ni.stages[1].label(0.5 * 1700) == "fcc" and ni.stages[1].label(1.2 * 1700) is None
    assert cuzr.stages[0].frames == 0  # a random alloy has no crystal of its own: melted first
    assert plan("cycle", ["ni"], seed=3)[0].name == "cycle-seed3" and ni.name == "cycle"


def test_classify_puts_the_log_temperature_on_every_frame(tmp_path):
    import csv
    import json

    _, _, whole, log = _frames(tmp_path)
    result = run_cli("classify", whole, "-m", "ptm", "--log", log, "-o", tmp_path / "o.lammpstrj",
                     "--fractions-csv", tmp_path / "f.csv", "--summary-json", tmp_path / "s.json", "--plot", tmp_path / "p.png")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "f.csv").open()))
    assert [float(r["Temp"]) for r in rows] == [300, 700, 1100, 1500, 1900, 2300]
    assert float(rows[0]["fcc"]) > 0.9 > float(rows[-1]["fcc"])
    assert json.loads((tmp_path / "s.json").read_text())["frames"][5]["Temp"] == 2300
    short = tmp_path / "short.log"
    short.write_text("Step Temp\n0 300\n100 700\n")
    assert_one_line_error(run_cli("classify", whole, "-m", "ptm", "--log", short, "-o", tmp_path / "x.lammpstrj"),
                          f"--log {short}: no thermo row at timestep 200 of frame 2")
    assert not (tmp_path / "x.lammpstrj").exists()  # nothing half-written
