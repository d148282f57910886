"""The layout of docs/architecture.md holds: each part of the package imports only parts of
lower layers (so there is no import cycle between them), and no source file grows past 500
lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "structid"

#: layer of every top-level module or subpackage; a part may import parts of lower layers only
LAYERS = {
    "errors": 0,
    "frame": 1, "pretrained": 1, "plots": 1, "runtime": 1,
    "scales": 2, "tiles": 2,
    "labels": 3, "neighbors": 3, "lattices": 3,
    "io": 4, "polycrystal": 4, "descriptors": 4, "classical": 4,
    "models": 5, "md": 5,
    "registry": 6, "analysis": 6, "testing": 6,
    "bench": 7, "ovito": 7, "parallel": 7,
    "training": 8,
    "cli": 9,
}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """Parts of structid that ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "structid":
                names += [f"structid.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("structid.")}
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_part_has_a_layer():
    parts = {_part(p) for p in SOURCES}
    assert parts == set(LAYERS), "add new modules to LAYERS here and to docs/architecture.md"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path):
    part = _part(path)
    upward = sorted(t for t in _imports(path) - {part} if LAYERS[t] >= LAYERS[part])
    assert not upward, f"{path.relative_to(PACKAGE)} (layer {LAYERS[part]}) imports {upward} " \
                       f"(layers {[LAYERS[t] for t in upward]})"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_source_files_stay_short(path):
    assert len(path.read_text().splitlines()) <= 500


def test_the_rule_catches_an_upward_import(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from structid.cli import app\n    import structid.models.nmcnn\n")
    assert _imports(source) == {"cli", "models"}
