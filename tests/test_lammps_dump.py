import gzip

import ase.io
import numpy as np
import pytest

from conftest import random_triclinic_cell
from structid.errors import InputError
from structid.io import lammps_dump
from structid.io.readers import open_trajectory, read_frame

COORDS = {"x": ("x", "y", "z"), "xu": ("xu", "yu", "zu"), "xs": ("xs", "ys", "zs"),
          "xsu": ("xsu", "ysu", "zsu")}


def dump_frame(cell, origin, positions, types, style="x", timestep=0, extra=None, order=None,
               images=None, elements=None) -> str:
    """A LAMMPS dump frame written from the LAMMPS documentation's conventions."""
    n = len(positions)
    (lx, _, _), (xy, ly, _), (xz, yz, lz) = (map(float, row) for row in cell)
    xlo, ylo, zlo = map(float, origin)
    if images is not None:
        positions = positions + images @ cell
    frac = (positions - origin) @ np.linalg.inv(cell)
    coords = frac if style in ("xs", "xsu") else positions
    columns = {"id": np.arange(1, n + 1), "type": types}
    columns.update(dict(zip(COORDS[style], coords.T)))
    if elements is not None:
        columns["element"] = elements
    columns.update(extra or {})
    names = order or list(columns)
    triclinic = xy != 0 or xz != 0 or yz != 0
    lines = ["ITEM: TIMESTEP", str(timestep), "ITEM: NUMBER OF ATOMS", str(n)]
    if triclinic:
        lines.append("ITEM: BOX BOUNDS xy xz yz pp pp pp")
        lines.append(f"{xlo + min(0, xy, xz, xy + xz)!r} {xlo + lx + max(0, xy, xz, xy + xz)!r} {xy!r}")
        lines.append(f"{ylo + min(0, yz)!r} {ylo + ly + max(0, yz)!r} {xz!r}")
        lines.append(f"{zlo!r} {zlo + lz!r} {yz!r}")
    else:
        lines.append("ITEM: BOX BOUNDS pp pp pp")
        lines += [f"{lo!r} {lo + length!r}" for lo, length in ((xlo, lx), (ylo, ly), (zlo, lz))]
    lines.append("ITEM: ATOMS " + " ".join(names))
    for k in range(n):
        lines.append(" ".join(str(columns[c][k]) if c in ("id", "type", "element") else repr(float(columns[c][k]))
                              for c in names) + " ")
    return "\n".join(lines) + "\n"


def wrap(positions, cell, origin):
    frac = (positions - origin) @ np.linalg.inv(cell)
    return (frac % 1.0) @ cell + origin


@pytest.mark.parametrize("style", sorted(COORDS))
@pytest.mark.parametrize("triclinic", [False, True])
def test_matches_ase(tmp_path, rng, style, triclinic):
    cell = random_triclinic_cell(rng) if triclinic else np.diag(8 + 4 * rng.random(3))
    origin = rng.normal(size=3)
    n = 40
    positions = rng.random((n, 3)) @ cell + origin
    images = rng.integers(-2, 3, size=(n, 3)) if style.endswith("u") else None
    types = rng.integers(1, 3, size=n)
    extra = {"vx": rng.normal(size=n), "c_pe": rng.normal(size=n)}
    order = ["c_pe", *COORDS[style][::-1], "type", "vx", "id"]  # any column order
    path = tmp_path / "a.lammpstrj"
    text = dump_frame(cell, origin, positions, types, style, 7, extra, order, images)
    path.write_text(text + text.replace("TIMESTEP\n7", "TIMESTEP\n8"))
    ours = list(open_trajectory(path))
    theirs = ase.io.read(path, format="lammps-dump-text", index=":", order=False)
    assert len(ours) == len(theirs) == 2
    for f, a in zip(ours, theirs):
        assert np.allclose(f.cell, a.cell[:], atol=1e-12)
        assert np.allclose(f.origin, a.get_celldisp().ravel())
        # ASE builds scaled coordinates from the cell alone and leaves out the box origin
        # (celldisp), which LAMMPS defines as x = xlo + xs * lx + ...; add it back to compare.
        ase_positions = a.positions + (f.origin if style.startswith("xs") else 0.0)
        assert np.allclose(f.positions, wrap(ase_positions, f.cell, f.origin), atol=1e-9)
        assert np.allclose(f.positions, wrap(positions, cell, origin), atol=1e-9)
        assert list(f.species) == [str(t) for t in types]
        assert np.array_equal(f.ids, np.arange(1, n + 1))
        assert np.allclose(f.properties["vx"], extra["vx"]) and np.allclose(f.properties["c_pe"], extra["c_pe"])
    assert [f.info["timestep"] for f in ours] == [7, 8]


def test_unwrapped_without_wrapping_keeps_images(tmp_path, rng):
    cell = np.diag([5.0, 6.0, 7.0])
    positions = rng.random((10, 3)) @ cell
    images = rng.integers(-2, 3, size=(10, 3))
    path = tmp_path / "u.dump"
    path.write_text(dump_frame(cell, np.zeros(3), positions, np.ones(10, int), "xu", images=images))
    frame = next(iter(open_trajectory(path, wrap=False)))
    assert np.allclose(frame.positions, positions + images @ cell)


@pytest.mark.parametrize("chunk", [7, 64, 1000])
def test_chunk_boundaries_do_not_matter(tmp_path, rng, monkeypatch, chunk):
    cell = random_triclinic_cell(rng)
    frames_text, expected = [], []
    for t in range(4):
        n = 5 + 7 * t  # the atom count changes between frames
        pos = rng.random((n, 3)) @ cell
        frames_text.append(dump_frame(cell, np.zeros(3), pos, rng.integers(1, 4, n), "x", t,
                                      elements=rng.choice(["Cu", "Zr", "Al"], n)))
        expected.append(pos)
    path = tmp_path / "multi.lammpstrj.gz"
    with gzip.open(path, "wt") as f:
        f.write("".join(frames_text))
    monkeypatch.setattr(lammps_dump, "_CHUNK", chunk)
    frames = list(open_trajectory(path))
    assert [len(f) for f in frames] == [5, 12, 19, 26]
    for f, pos, text in zip(frames, expected, frames_text):
        assert np.allclose(f.positions, wrap(pos, cell, np.zeros(3)), atol=1e-9)
        elements = [line.split()[-1] for line in text.splitlines()[9:]]
        assert list(f.species) == elements


def test_reader_streams_one_frame_at_a_time(tmp_path, rng, monkeypatch):
    cell = np.eye(3) * 10
    text = dump_frame(cell, np.zeros(3), rng.random((200, 3)) * 10, np.ones(200, int))
    path = tmp_path / "big.dump"
    path.write_text(text * 50)
    monkeypatch.setattr(lammps_dump, "_CHUNK", 4096)
    traj = open_trajectory(path)
    it = iter(traj)
    next(it)
    assert 0 < traj.bytes_read < traj.total_bytes / 10
    assert sum(1 for _ in it) == 49


def test_types_option_maps_elements(tmp_path, rng):
    path = tmp_path / "t.dump"
    path.write_text(dump_frame(np.eye(3) * 9, np.zeros(3), rng.random((6, 3)) * 9, np.array([1, 2, 1, 2, 2, 1])))
    frame = read_frame(path, types={1: "Cu", 2: "Zr"})
    assert list(frame.species) == ["Cu", "Zr", "Cu", "Zr", "Zr", "Cu"]
    with pytest.raises(InputError, match=r"LAMMPS type 2 is not in --types 1=Cu; add 2=ELEMENT"):
        read_frame(path, types={1: "Cu"})


def test_general_triclinic_abc_origin(tmp_path):
    a, b, c = np.array([3.0, 1.0, 0.0]), np.array([0.0, 4.0, 1.0]), np.array([1.0, 0.0, 5.0])
    origin = np.array([0.5, -1.0, 2.0])
    text = ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS abc origin pp pp pp\n"
            "3 1 0 0.5\n0 4 1 -1\n1 0 5 2\nITEM: ATOMS id type xs ys zs\n1 1 0.5 0.5 0.5\n")
    path = tmp_path / "g.dump"
    path.write_text(text)
    frame = read_frame(path)
    assert np.allclose(frame.cell, [a, b, c]) and np.allclose(frame.origin, origin)
    assert np.allclose(frame.positions, origin + 0.5 * (a + b + c))


def test_non_periodic_flags(tmp_path, rng):
    text = dump_frame(np.eye(3) * 9, np.zeros(3), rng.random((3, 3)) * 9, np.ones(3, int))
    path = tmp_path / "f.dump"
    path.write_text(text.replace("BOX BOUNDS pp pp pp", "BOX BOUNDS pp ss fm"))
    assert list(read_frame(path).pbc) == [True, False, False]


GOOD = dump_frame(np.eye(3) * 9, np.zeros(3), np.full((3, 3), 1.5), np.ones(3, int))


@pytest.mark.parametrize("text,message", [
    (GOOD.rsplit("\n", 3)[0] + "\n", r":10: the file ends after 1 of 3 atom lines; the dump looks truncated"),
    (GOOD.replace("ITEM: ATOMS id type x y z\n", "ITEM: ATOMS id type x y z\n1 1 1.5 abc 1.5\n", 1)
     .replace("NUMBER OF ATOMS\n3", "NUMBER OF ATOMS\n4"), r":10: column 'y' holds 'abc', not a number"),
    (GOOD.replace("ITEM: ATOMS id type x y z\n", "ITEM: ATOMS id type x y z\n1 1 1.5 1.5\n", 1)
     .replace("NUMBER OF ATOMS\n3", "NUMBER OF ATOMS\n4"), r":10: atom line has 4 fields, the ITEM: ATOMS header names 5"),
    (GOOD.replace("ITEM: TIMESTEP", "TIMESTEP"), r":1: expected an 'ITEM:' line"),
    (GOOD.split("ITEM: ATOMS")[0], r"ends before the ITEM: ATOMS section"),
    (GOOD.replace("0.0 9.0\n", "0.0 nine\n", 1), r"BOX BOUNDS lines must hold numbers"),
    (GOOD.replace("ITEM: ATOMS id type x y z", "ITEM: ATOMS id type vx vy vz"), "no coordinate columns"),
    (GOOD.replace("1.5 1.5 1.5", "1.5 nan 1.5", 1), "has a NaN or infinite coordinate"),
    (GOOD.replace("0.0 9.0\n", "0.0 0.0\n", 1), "zero length"),
])
def test_malformed_dumps(tmp_path, text, message):
    path = tmp_path / "bad.dump"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        list(open_trajectory(path))


def test_atoms_outside_the_box_are_wrapped(tmp_path):
    path = tmp_path / "out.dump"
    path.write_text(GOOD.replace("1.5 1.5 1.5", "10.5 -1.5 1.5", 1))
    frame = read_frame(path)
    assert np.allclose(frame.positions[0], [1.5, 7.5, 1.5])
