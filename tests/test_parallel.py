"""Frames labelled on Dask workers: the same output as one process, in frame order, resumable."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_one_line_error, run_cli
from structid.io.readers import open_trajectory
from structid.io.writers import write_frames
from structid.labels import CODE
from structid.lattices import gaussian_noise, lattice
from structid.parallel import DaskLabeller

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def trajectory(tmp_path_factory):
    """Five frames that differ (fcc, bcc, hcp, hotter copies): an order mix-up shows."""
    folder = tmp_path_factory.mktemp("traj")
    frames = [gaussian_noise(lattice(name, 2.55, 5, species="Cu"), sigma, k)
              for k, (name, sigma) in enumerate([("fcc", 0.05), ("bcc", 0.05), ("hcp", 0.05), ("fcc", 0.3), ("bcc", 0.25)])]
    frames = [f.replace(info={**f.info, "timestep": 100 * k}) for k, f in enumerate(frames)]
    return write_frames(folder / "mixed.lammpstrj", frames), write_frames(folder / "mixed.extxyz.gz", frames)


@pytest.mark.parametrize("method", ["acna", "nmcnn"])
def test_two_workers_write_what_one_process_writes(trajectory, tmp_path, method):
    dump, _ = trajectory
    single = run_cli("classify", dump, "-m", method, "-o", tmp_path / "one.lammpstrj")
    assert single.returncode == 0, single.stderr
    parallel = run_cli("classify", dump, "-m", method, "-o", tmp_path / "two.lammpstrj", "--workers", "2")
    assert parallel.returncode == 0, parallel.stderr
    assert (tmp_path / "one.lammpstrj").read_bytes() == (tmp_path / "two.lammpstrj").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.lammpstrj", "two.lammpstrj"]  # resume folder gone


def test_an_interrupted_run_resumes_from_the_frames_done(trajectory, tmp_path):
    dump, _ = trajectory
    output = tmp_path / "out.lammpstrj"
    pipeline = {"method": "acna"}
    first = DaskLabeller(dump, pipeline, output, workers=1).labels()
    got = [next(first) for _ in range(2)]
    first.close()  # the run stops after two frames
    assert [int(np.bincount(g.codes).argmax()) for g in got] == [CODE["fcc"], CODE["bcc"]]
    saved = sorted((tmp_path / ".out.lammpstrj.frames").glob("frame-*.npz"))
    assert len(saved) >= 2
    # mark frame 1's saved labels: a resumed run must take them, not label the frame again
    labeller = DaskLabeller(dump, pipeline, output, workers=1)
    marked = labeller._load(1)
    labeller._save(1, {"codes": np.full_like(marked.codes, CODE["ico"]), "classes": list(marked.classes),
                       "probabilities": None, "method": marked.method, "extra": {}})
    result = run_cli("classify", dump, "-m", "acna", "-o", output, "--workers", "1")
    assert result.returncode == 0, result.stderr
    frames = list(open_trajectory(output))
    assert np.all(frames[1].properties["StructureType"] == CODE["ico"])
    assert np.bincount(frames[2].properties["StructureType"]).argmax() == CODE["hcp"]
    assert [f.info["timestep"] for f in frames] == [0, 100, 200, 300, 400]
    assert not (tmp_path / ".out.lammpstrj.frames").exists()


def test_other_options_do_not_reuse_old_results(trajectory, tmp_path):
    dump, _ = trajectory
    output = tmp_path / "out.lammpstrj"
    old = DaskLabeller(dump, {"method": "acna"}, output, workers=1)
    old._prepare_resume()
    old._save(0, {"codes": np.zeros(500, np.int16), "classes": ["other"], "probabilities": None, "method": "x", "extra": {}})
    assert DaskLabeller(dump, {"method": "ptm"}, output, workers=1)._prepare_resume() == set()
    assert DaskLabeller(dump, {"method": "acna"}, output, workers=1)._prepare_resume() == set()  # discarded


def test_a_running_scheduler_and_a_compressed_extxyz(trajectory, tmp_path):
    from distributed import LocalCluster

    dump, xyz = trajectory
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        result = run_cli("classify", xyz, "-m", "ptm", "-o", tmp_path / "s.extxyz", "--scheduler", cluster.scheduler_address)
    assert result.returncode == 0, result.stderr
    single = run_cli("classify", xyz, "-m", "ptm", "-o", tmp_path / "p.extxyz")
    assert single.returncode == 0, single.stderr
    assert (tmp_path / "s.extxyz").read_bytes() == (tmp_path / "p.extxyz").read_bytes()


def test_bad_cluster_options(trajectory, tmp_path):
    dump, _ = trajectory
    for args, message in [(["--workers", "0"], "--workers must be at least 1, got 0"),
                          (["--workers", "1", "--scheduler", "tcp://127.0.0.1:1"], "give either --workers N or --scheduler"),
                          (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler tcp://127.0.0.1:1: cannot connect")]:
        assert_one_line_error(run_cli("classify", dump, "-o", tmp_path / "x.lammpstrj", *args), message)
