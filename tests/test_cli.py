import json

import numpy as np
import pytest

from conftest import assert_one_line_error, run_cli
from structid.io.readers import open_trajectory


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    folder = tmp_path_factory.mktemp("example")
    path = folder / "grains.lammpstrj"
    result = run_cli("example", "grains", "-o", path)
    assert result.returncode == 0, result.stderr
    return path


def test_info(example):
    result = run_cli("info", example)
    assert result.returncode == 0, result.stderr
    assert "lammps-dump" in result.stdout and "frames" in result.stdout
    assert "40.0000 40.0000 40.0000" in result.stdout


def test_classify_end_to_end(example, tmp_path):
    out = tmp_path / "labels.extxyz"
    summary = tmp_path / "summary.json"
    csv = tmp_path / "fractions.csv"
    png = tmp_path / "fractions.png"
    result = run_cli("classify", example, "--method", "acna", "-o", out, "--summary-json", summary,
                     "--fractions-csv", csv, "--plot", png)
    assert result.returncode == 0, result.stderr
    assert "fcc" in result.stdout and "labels written to" in result.stdout
    frames = list(open_trajectory(out))
    assert len(frames) == 4
    data = json.loads(summary.read_text())
    assert data["method"] == "acna" and len(data["frames"]) == 4
    # the example heats up: the crystalline share drops from the first to the last frame
    crystal = [1 - f["fractions"].get("other", 0) for f in data["frames"]]
    assert crystal[0] > 0.5 and crystal[-1] < crystal[0] / 2
    # per-atom labels agree with the summary
    counts = np.bincount(frames[0].properties["structure_type"], minlength=15)
    assert counts[1] == data["frames"][0]["counts"]["fcc"]
    assert csv.read_text().splitlines()[0].startswith("frame,timestep,atoms,")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_default_output_beside_input(example, tmp_path):
    local = tmp_path / "dump.lammpstrj"
    local.write_bytes(example.read_bytes())
    result = run_cli("classify", local)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "dump.structid.lammpstrj"
    assert written.exists()
    frame = next(iter(open_trajectory(written)))
    assert "StructureType" in frame.properties
    # a second run refuses to overwrite, --force replaces
    assert run_cli("classify", local).returncode == 2
    assert run_cli("classify", local, "--force").returncode == 0


def test_types_option(tmp_path, example):
    result = run_cli("info", example, "--types", "1=Ni")
    assert result.returncode == 0 and "Ni: " in result.stdout


def test_methods_lists_the_registry():
    result = run_cli("methods")
    assert result.returncode == 0
    for name in ("acna", "ptm", "diamond"):
        assert name in result.stdout


DUMP = ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n{n}\nITEM: BOX BOUNDS pp pp pp\n"
        "0 {L}\n0 {L}\n0 {L}\nITEM: ATOMS id type x y z\n")


def fcc_dump(scale=1.0, n=4, bad=None):
    a = 3.6
    cells = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    pos = ((cells[:, None] + basis).reshape(-1, 3)) * a
    lines = [f"{k + 1} {1 + k % 2} {x:.5f} {y:.5f} {z:.5f}" for k, (x, y, z) in enumerate(pos)]
    if bad:
        bad(lines)
    return DUMP.format(n=len(pos), L=n * a * scale) + "\n".join(lines) + "\n"


def _nan(lines):
    lines[5] = "6 2 nan 1.0 1.0"


def _text(lines):
    lines[7] = "8 2 1.0 oops 1.0"


BAD_INPUTS = {
    "missing file": (None, ["classify", "{dir}/nope.lammpstrj"], "no such file"),
    "unknown format": ("data.weird", ["classify", "{file}"], "cannot tell the file format"),
    "truncated dump": ("t.lammpstrj", ["classify", "{file}"], "looks truncated"),
    "malformed dump": ("m.lammpstrj", ["classify", "{file}"], ":17: column 'y' holds 'oops'"),
    "nan coordinates": ("n.lammpstrj", ["classify", "{file}"], "NaN or infinite coordinate"),
    "zero-volume cell": ("z.lammpstrj", ["classify", "{file}"], "zero length"),
    "too few atoms": ("few.xyz", ["classify", "{file}"], "3 atoms in a non-periodic frame"),
    "unknown method": ("ok.lammpstrj", ["classify", "{file}", "--method", "magic"], "unknown method 'magic'"),
    "unknown type": ("ok.lammpstrj", ["classify", "{file}", "--types", "1=Cu"], "LAMMPS type 2 is not in --types"),
    "not an element": ("ok.lammpstrj", ["classify", "{file}", "--types", "1=Cu,2=Qq"], "'Qq' is not an element"),
    "missing output dir": ("ok.lammpstrj", ["classify", "{file}", "-o", "{dir}/no/out.extxyz"], "does not exist"),
    "output is input": ("ok.lammpstrj", ["classify", "{file}", "-o", "{file}", "--force"], "would overwrite the input"),
    "rmsd for acna": ("ok.lammpstrj", ["classify", "{file}", "-m", "acna", "--rmsd-cutoff", "0.1"], "ptm and default only"),
}
CONTENT = {
    "data.weird": "just some words\nnothing structured\n",
    "t.lammpstrj": fcc_dump().rsplit("\n", 30)[0] + "\n",
    "m.lammpstrj": fcc_dump(bad=_text),
    "n.lammpstrj": fcc_dump(bad=_nan),
    "z.lammpstrj": fcc_dump(scale=0.0),
    "few.xyz": "3\nProperties=species:S:1:pos:R:3\nCu 0 0 0\nCu 1 0 0\nCu 0 1 0\n",
    "ok.lammpstrj": fcc_dump(),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_line_and_exit_2(tmp_path, case):
    name, args, message = BAD_INPUTS[case]
    file = tmp_path / (name or "nope")
    if name:
        file.write_text(CONTENT[name])
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_one_line_error(run_cli(*(a.format(file=file, dir=tmp_path) for a in args)), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no partial output


def test_atoms_outside_box_are_wrapped_not_rejected(tmp_path):
    def outside(lines):
        lines[3] = "4 2 -1.00000 15.00000 1.00000"
    file = tmp_path / "out.lammpstrj"
    file.write_text(fcc_dump(bad=outside))
    result = run_cli("classify", file, "-m", "ptm")
    assert result.returncode == 0, result.stderr
    frame = next(iter(open_trajectory(tmp_path / "out.structid.lammpstrj")))
    assert np.all((frame.positions >= 0) & (frame.positions < 14.4))


def test_option_for_the_wrong_method(tmp_path):
    file = tmp_path / "ok.lammpstrj"
    file.write_text(fcc_dump())
    result = run_cli("classify", file, "-m", "acna", "--model", "x.pt")
    assert result.returncode == 2
    assert result.stderr.strip() == "structid: error: method 'acna' does not take the option(s) model"


def test_classify_check_order_writes_the_order_column(tmp_path):
    from structid.io.writers import write_frames
    from structid.lattices import gaussian_noise, lattice

    # an A15 crystal: nmcnn has no class for it, the check makes it unknown
    path = write_frames(tmp_path / "a15.extxyz", gaussian_noise(lattice("a15", 2.5, 4), 0.05, 0))
    out = tmp_path / "labels.extxyz"
    result = run_cli("classify", path, "-m", "nmcnn", "--check-order", "-o", out)
    assert result.returncode == 0, result.stderr
    frame = next(iter(open_trajectory(out)))
    assert frame.properties["order"].min() > 0.2
    assert set(frame.properties["structure"]) == {"unknown"}
    result = run_cli("classify", path, "-m", "ptm", "--check-order", "-o", tmp_path / "x.extxyz")
    assert_one_line_error(result, "--check-order applies to the ML methods")
