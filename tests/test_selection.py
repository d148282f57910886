"""--frames and --every: which frames classify, denoise and train use."""

import pytest

from conftest import assert_one_line_error, run_cli
from structid.errors import InputError
from structid.io.readers import open_trajectory
from structid.io.selection import FrameSelection
from structid.io.writers import write_frames
from structid.lattices import lattice


def _picked(frames=None, every=None, n=12):
    return [k for k, _ in FrameSelection.parse(frames, every).apply(range(n))]


def test_ranges_single_frames_open_ends_and_every():
    assert _picked() == list(range(12))
    assert _picked("2-4,7") == [2, 3, 4, 7]
    assert _picked("9-") == [9, 10, 11]
    assert _picked(every=5) == [0, 5, 10]
    assert _picked("3-11", every=4) == [3, 7, 11]
    assert _picked("1,3,5,7", every=2) == [1, 5]


def test_reading_stops_after_the_last_range():
    seen = []

    def items():
        for k in range(1000):
            seen.append(k)
            yield k

    assert [k for k, _ in FrameSelection.parse("2-3").apply(items())] == [2, 3]
    assert len(seen) == 5


@pytest.mark.parametrize("frames, every, message", [
    ("a-b", None, "cannot read 'a-b'"), ("5-2", None, "is not a range"), ("-3", None, "cannot read"),
    ("", None, "no frame numbers"), (None, 0, "--every must be at least 1"),
])
def test_bad_selections(frames, every, message):
    with pytest.raises(InputError, match=message):
        FrameSelection.parse(frames, every)


def test_a_selection_past_the_end_is_an_error():
    with pytest.raises(InputError, match="picks no frame .*has 12 frame"):
        list(FrameSelection.parse("20-30").apply(range(12), "run.dump"))


def test_classify_denoise_and_train_take_the_selection(tmp_path):
    frames = [lattice(name, 2.55, 3, species="Cu").replace(info={"timestep": 10 * k})
              for k, name in enumerate(["fcc", "bcc", "fcc", "bcc", "fcc", "bcc"])]
    path = write_frames(tmp_path / "t.lammpstrj", frames)
    result = run_cli("classify", path, "-m", "acna", "--frames", "1-5", "--every", "2", "-o", tmp_path / "c.lammpstrj")
    assert result.returncode == 0, result.stderr
    assert [f.info["timestep"] for f in open_trajectory(tmp_path / "c.lammpstrj")] == [10, 30, 50]
    result = run_cli("denoise", path, "--frames", "0", "-o", tmp_path / "d.extxyz", "--iterations", "1")
    assert result.returncode == 0, result.stderr
    assert len(list(open_trajectory(tmp_path / "d.extxyz"))) == 1
    result = run_cli("train", "less", path, "--window", "frames 0:fcc", "--window", "frames 1:bcc", "--frames", "0-1", "--per-class", "50",
                     "-o", tmp_path / "m.pt")
    assert result.returncode == 0, result.stderr
    assert_one_line_error(run_cli("classify", path, "--frames", "40-", "-o", tmp_path / "x.lammpstrj"),
                          "the frame selection picks no frame")
