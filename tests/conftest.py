from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261121)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `structid` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "structid.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    """The CLI promise for bad input: exit code 2, one line on stderr naming the problem, no
    traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("structid: error: "), result.stderr
    assert message in lines[0], lines[0]


def random_triclinic_cell(rng: np.random.Generator, scale: float = 10.0) -> np.ndarray:
    """A lower-triangular (LAMMPS-style) cell with random tilts."""
    lengths = scale * (0.8 + 0.4 * rng.random(3))
    xy, xz, yz = (rng.random(3) - 0.5) * 0.6 * scale
    return np.array([[lengths[0], 0, 0], [xy, lengths[1], 0], [xz, yz, lengths[2]]])


@pytest.fixture(scope="session")
def quick_al(tmp_path_factory):
    """Real LAMMPS runs of the dc3 recipe in quick mode: cold fcc Al and liquid Al at Tm."""
    from structid.md.recipes import plan
    from structid.md.simulate import execute_isolated

    root = tmp_path_factory.mktemp("data")
    spec = {"recipe": "dc3", "systems": ["al"], "temps": (0.25,), "n_atoms": None, "quick": True, "seed": 0}
    runs = plan("dc3", ["al"], (0.25,), quick=True)
    assert [r.name for r in runs] == ["crystal-th0.25", "liquid-th1.00"]
    for run in runs:
        execute_isolated(run, root, spec)
    return root, runs
