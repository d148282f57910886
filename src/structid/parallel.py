"""Trajectories on many cores and many machines: frames labelled by Dask workers.

The client indexes the trajectory (where each frame starts in the file), sends each worker
only a frame's position and the pipeline's options, and the worker reads that frame itself
(an uncompressed dump seeks straight to it; a compressed one is decompressed up to it; other
formats are read up to the frame), rebuilds the pipeline once per process and returns the
labels. Results come back in frame order. Each frame's labels are also kept in a resume folder
beside the output (``.<output>.frames/``), so a run that was interrupted starts again from the
frames not done; the folder is removed when the output is complete.

``workers=N`` starts a local cluster of N single-threaded processes; ``scheduler=ADDRESS``
uses a running one (``dask scheduler`` + ``dask worker`` on several machines, or a SLURM/PBS
cluster through dask-jobqueue). Needs the ``dask`` extra: ``pip install 'structid[dask]'``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from structid import runtime
from structid.errors import InputError
from structid.io.lammps_dump import FrameStart, LammpsDumpReader
from structid.io.readers import Trajectory
from structid.io.selection import FrameSelection
from structid.labels import Labels

_PIPELINES: dict[str, Any] = {}  # per worker process: pipelines already built


def _require_dask():
    try:
        import distributed
    except ImportError:
        raise InputError("--workers and --scheduler need Dask: pip install 'structid[dask]'") from None
    return distributed


def _label_frame(path: str, fmt: str | None, types: dict | None, start: FrameStart | int,
                 pipeline: dict, threads: int) -> dict:
    """Run on a worker: read one frame and label it."""
    from structid.registry import build_pipeline

    runtime.configure(threads=threads)
    _share_worker_memory()
    key = json.dumps(pipeline, sort_keys=True)
    if not _PIPELINES:
        runtime.keep_freed_memory()
    if key not in _PIPELINES:
        _PIPELINES[key] = build_pipeline(**pipeline)
    if isinstance(start, FrameStart):
        frame = LammpsDumpReader(path, types=types).read_at(start)
    else:
        frame = next(f for k, f in enumerate(Trajectory(path, format=fmt, types=types)) if k == start)
    labels = _PIPELINES[key].classify(frame)
    return {"codes": labels.codes, "classes": list(labels.classes), "probabilities": labels.probabilities,
            "method": labels.method, "extra": dict(labels.extra)}


def _share_worker_memory() -> None:
    """On a Dask worker with a memory limit (workers on one machine share its memory), make
    that limit the one ``--max-atoms auto`` sizes tiles to, unless the user set one."""
    try:
        limit = _require_dask().get_worker().memory_manager.memory_limit
    except (ValueError, AttributeError):
        return
    if limit and not os.environ.get(runtime.MEMORY_VARIABLE):
        os.environ[runtime.MEMORY_VARIABLE] = str(int(limit))


def _complete(pipeline: dict) -> dict:
    """The pipeline options with every default filled in, so that equal pipelines compare equal
    (the resume folder is reused only for the same options)."""
    import inspect

    from structid.registry import build_pipeline

    parameters = inspect.signature(build_pipeline).parameters
    unknown = sorted(set(pipeline) - set(parameters))
    if unknown:
        raise InputError(f"unknown pipeline option(s) {', '.join(unknown)}")
    return {name: pipeline.get(name, p.default) for name, p in parameters.items()}


def _to_labels(result: dict) -> Labels:
    return Labels(codes=result["codes"], classes=tuple(result["classes"]), probabilities=result["probabilities"],
                  method=result["method"], extra=result["extra"])


class DaskLabeller:
    """Labels of every frame of ``path`` computed on a Dask cluster, in frame order.

    Args:
        path: the trajectory; ``format`` / ``types`` as for :func:`structid.open_trajectory`.
        pipeline: the options of :func:`structid.registry.build_pipeline`.
        output: the labelled output the run writes; its resume folder sits beside it.
        workers: start a local cluster of this many processes; or
        scheduler: the address of a running Dask scheduler (``tcp://host:8786``).
    """

    def __init__(self, path: str | os.PathLike, pipeline: dict, output: str | os.PathLike, *,
                 workers: int | None = None, scheduler: str | None = None, format: str | None = None,
                 types: dict[int, str] | None = None, selection: FrameSelection | None = None) -> None:
        if (workers is None) == (scheduler is None):
            raise InputError("give either --workers N or --scheduler ADDRESS")
        if workers is not None and workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}")
        self.path, self.pipeline, self.types = Path(path), _complete(pipeline), types
        self.selection = selection or FrameSelection()
        self.workers, self.scheduler = workers, scheduler
        self.trajectory = Trajectory(self.path, format=format, types=types)
        output = Path(output)
        self.resume = output.parent / f".{output.name}.frames"

    # -- the resume folder ---------------------------------------------------------------

    def _signature(self) -> str:
        stat = self.path.stat()
        # tiles change the memory a frame takes, not its labels: a run resumes with another budget
        labelling = {k: v for k, v in self.pipeline.items() if k != "max_atoms"}
        spec = {"input": str(self.path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                "format": self.trajectory.format, "types": self.types, "pipeline": labelling,
                "selection": [self.selection.ranges, self.selection.every]}
        return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()

    def _prepare_resume(self) -> set[int]:
        """Frames already labelled by an earlier run of the same command on the same input."""
        signature = self._signature()
        stamp = self.resume / "signature"
        if self.resume.is_dir() and stamp.is_file() and stamp.read_text() == signature:
            return {int(p.stem.split("-")[1]) for p in self.resume.glob("frame-*.npz")}
        if self.resume.exists():
            self.discard()
        self.resume.mkdir()
        stamp.write_text(signature)
        return set()

    def _save(self, k: int, result: dict) -> None:
        tmp = self.resume / f".frame-{k:07d}.npz.part"
        with open(tmp, "wb") as f:
            np.savez(f, codes=result["codes"], classes=np.array(result["classes"]), method=np.array(result["method"]),
                     probabilities=np.zeros((0, 0)) if result["probabilities"] is None else result["probabilities"],
                     has_probabilities=np.array(result["probabilities"] is not None),
                     **{f"extra_{name}": values for name, values in result["extra"].items()})
        os.replace(tmp, self.resume / f"frame-{k:07d}.npz")

    def _load(self, k: int) -> Labels:
        with np.load(self.resume / f"frame-{k:07d}.npz", allow_pickle=False) as data:
            return Labels(codes=data["codes"], classes=tuple(str(c) for c in data["classes"]),
                          probabilities=data["probabilities"] if bool(data["has_probabilities"]) else None,
                          method=str(data["method"]),
                          extra={name[6:]: data[name] for name in data.files if name.startswith("extra_")})

    def discard(self) -> None:
        """Remove the resume folder (after the output is complete)."""
        if self.resume.is_dir():
            for p in self.resume.iterdir():
                p.unlink()
            self.resume.rmdir()

    # -- the run -------------------------------------------------------------------------

    def _starts(self) -> list[FrameStart | int]:
        """Where each selected frame starts (dumps), or its number (other formats)."""
        if self.trajectory.format == "lammps-dump":
            starts = (start for start, _ in LammpsDumpReader(self.path, types=self.types).frames_with_offsets())
        else:
            starts = (k for k, _ in enumerate(self.trajectory))
        return [start for _, start in self.selection.apply(starts, str(self.path))]

    def labels(self) -> Iterator[Labels]:
        """Labels of frame 0, 1, ... as they are ready."""
        distributed = _require_dask()
        done = self._prepare_resume()
        starts = self._starts()
        cluster = None
        if self.workers is not None:
            cluster = distributed.LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=50)
            client = distributed.Client(cluster)
        else:
            try:
                client = distributed.Client(self.scheduler, timeout=30)
            except (OSError, TimeoutError) as exc:
                raise InputError(f"--scheduler {self.scheduler}: cannot connect ({exc})") from None
        try:
            n_workers = max(len(client.scheduler_info()["workers"]), 1)
            threads = max(1, runtime.available_cores() // n_workers) if cluster is not None else 1
            pending = {client.submit(_label_frame, str(self.path), self.trajectory.format, self.types, start,
                                     self.pipeline, threads, pure=False): k
                       for k, start in enumerate(starts) if k not in done}
            ready: dict[int, Labels] = {}
            finished = distributed.as_completed(pending)
            for k in range(len(starts)):
                while k not in done:
                    future = next(finished)
                    index = pending[future]
                    result = future.result()  # a worker's InputError is raised here, as it was
                    self._save(index, result)
                    done.add(index)
                    ready[index] = _to_labels(result)
                yield ready.pop(k) if k in ready else self._load(k)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
