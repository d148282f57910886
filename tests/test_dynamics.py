"""The dynamics check of quench windows: displacements through periodic boundaries, mobile
shares, and the verdicts on a real quick melt-quench run."""

import numpy as np
import pytest

from structid.errors import InputError
from structid.frame import Frame
from structid.lattices import lattice
from structid.md.dynamics import (CAGE, _windows, check_run, checked_frames, displacements, mean_square_displacement,
                                  mobile_share)
from structid.md.recipes import Schedule, plan, quench_runs
from structid.md.simulate import execute
from structid.md.store import finished_runs
from structid.md.systems import GLASS
from tests.conftest import random_triclinic_cell


@pytest.fixture(scope="module")
def ni_quench(tmp_path_factory):
    """A small but real melt-quench: 1 ps at 2 Tm melts 256 Ni atoms, a 2 ps quench freezes a
    glass; the folder holding the finished run."""
    root = tmp_path_factory.mktemp("quench")
    schedule = Schedule(equilibrate=1.0, sample=1.0, frames=3, melt=1.0)
    (run,) = quench_runs([GLASS["ni"]], schedule, (2.0,), 4, 256, seed=0)
    execute(run, root, threads=1)
    return root


def test_displacements_follow_atoms_across_the_boundary_in_a_changing_cell(rng):
    cell = random_triclinic_cell(rng, 12.0)
    n, steps = 40, 30
    frac = rng.random((n, 3))
    velocity = rng.normal(0, 0.02, (n, 3))  # fractional units per step: crosses the faces
    truth, frames = np.zeros((steps, n, 3)), []
    for k in range(steps):
        c = cell * (1 + 0.002 * k)  # the barostat breathes
        s = frac + velocity * k
        if k:
            truth[k] = truth[k - 1] + (velocity @ c)
        frames.append(Frame(positions=(s % 1.0) @ c, cell=c, pbc=np.ones(3, bool), species=np.full(n, "Ar"),
                            ids=np.arange(1, n + 1)))
    # atoms listed in another order in one frame: matched by id
    shuffle = rng.permutation(n)
    frames[7] = frames[7].select(shuffle)
    got = displacements(frames)
    # the cell scales between frames, so the fractional step is carried by the later cell
    assert np.allclose(got[1:, :, :], truth[1:], atol=0.05 * np.abs(truth).max())
    assert mean_square_displacement(frames)[0] == 0.0


def test_still_and_moving_atoms(rng):
    frame = lattice("fcc", 2.5, 4)
    frames = [frame, frame.replace(positions=frame.positions + 0.1)]
    assert mobile_share(frames, 2.5) == (0.0, pytest.approx(0.03 / 6.25))
    jumped = frame.positions.copy()
    jumped[: len(frame) // 4] += 2.5 * (CAGE + 0.1)
    share, _ = mobile_share([frame, frame.replace(positions=jumped)], 2.5)
    assert share == pytest.approx(0.25)
    with pytest.raises(InputError, match="other atoms"):
        displacements([frame, frame.select(np.arange(10))])


def test_windows_are_runs_of_one_label():
    labels = ["fcc", "fcc", "liquid", None, None, "amorphous", "amorphous", "liquid"]
    assert list(_windows(labels)) == [("fcc", [0, 1]), ("liquid", [2]), ("amorphous", [5, 6]), ("liquid", [7])]


def test_quench_windows_checked_on_real_runs(ni_quench):
    (finished,) = finished_runs(ni_quench, "quench")
    checks = {c.label: c for c in check_run(finished)}
    assert checks["liquid"].passed and checks["liquid"].mobile > 0.9
    assert checks["amorphous"].passed and checks["amorphous"].mobile <= 0.05
    assert checks["amorphous"].crystalline < 0.1
    kept, _ = checked_frames(ni_quench, "quench")
    labels = [item.label for item in kept]
    assert labels.count("fcc") == 3 and "liquid" in labels and labels.count("amorphous") >= 2


def test_a_window_that_is_not_what_it_claims_is_dropped(tmp_path):
    # --quick melts for 0.3 ps only: the "liquid" is still half crystal, and no snapshot of it is kept
    (run,) = plan("quench", ["ni"], quick=True)
    execute(run, tmp_path, threads=1)
    (finished,) = finished_runs(tmp_path, "quench")
    liquid = next(c for c in check_run(finished) if c.label == "liquid")
    assert not liquid.passed and liquid.used == () and (liquid.why == "crystallized" or liquid.why.startswith("does not flow"))
    kept, _ = checked_frames(tmp_path, "quench")
    assert "liquid" not in [item.label for item in kept]


def test_default_pipeline_tells_the_glass_from_its_liquid(ni_quench):
    from structid.registry import pipeline

    kept, _ = checked_frames(ni_quench, "quench")
    default = pipeline("default")
    glasses = [default.classify(item.frame).names for item in kept if item.label == "amorphous"]
    assert glasses and all(np.mean(names == "amorphous") > 0.9 for names in glasses)
    *_, last_liquid = (item.frame for item in kept if item.label == "liquid")
    assert np.mean(default.classify(last_liquid).names == "liquid") > 0.9
    # the crystal-and-melt model alone has no amorphous class: it takes the glass for hcp
    assert np.mean(pipeline("nmcnn+avg12").classify(kept[-1].frame).names == "hcp") > 0.5


def test_bench_glass_judges_checked_snapshots_only(ni_quench):
    from structid.bench import glass
    from structid.registry import pipeline

    runs = finished_runs(ni_quench, "quench")
    rows, tracks = glass.evaluate({"ptm": pipeline("ptm"), "acna": pipeline("acna")}, ni_quench, runs=runs)
    by = {(r.truth, r.method): r for r in rows}
    assert by[("fcc", "ptm")].frames == 3 and by[("fcc", "ptm")].right / by[("fcc", "ptm")].atoms > 0.9
    # PTM has no liquid or amorphous class: nothing right there, which the table must show
    assert by[("liquid", "ptm")].right == 0 and by[("amorphous", "acna")].right == 0
    kept = {c.label: len(c.used) for c in check_run(runs[0])}
    assert by[("amorphous", "ptm")].frames == kept["amorphous"] and by[("liquid", "ptm")].frames == kept["liquid"]
    assert tracks == []  # fractions are tracked through cycle runs only
    text = glass.markdown(rows)
    assert "| ni | quench-2ps | fcc | 3 |" in text and "| amorphous, ni |" in text


def test_bench_glass_without_runs_says_how_to_make_them(tmp_path):
    from tests.conftest import assert_one_line_error, run_cli

    result = run_cli("bench", "glass", "-m", "ptm", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "no test runs under")
