"""Bad input, faults and signals: one line on stderr and exit code 2 (or 128 + signal), no
traceback, nothing overwritten, nothing left behind."""

from __future__ import annotations

import errno
import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, run_cli
from structid.errors import InputError
from structid.io.readers import read_frame
from structid.io.writers import AtomicFile, write_frames
from structid.lattices import gaussian_noise, lattice


def dump_text(n_cells: int = 3, columns: str = "id type element x y z", box: str = "ITEM: BOX BOUNDS pp pp pp",
              bounds: tuple[str, str, str] | None = None, edit=None) -> str:
    frame = lattice("fcc", 2.55, n_cells, species="Cu")
    size = frame.cell[0, 0]
    lines = ["ITEM: TIMESTEP", "0", "ITEM: NUMBER OF ATOMS", str(len(frame)), box,
             *(bounds or (f"0 {size}",) * 3), f"ITEM: ATOMS {columns}"]
    for k, (x, y, z) in enumerate(frame.positions):
        values = {"id": str(k + 1), "type": "1", "element": "Cu", "x": f"{x:.6f}", "y": f"{y:.6f}", "z": f"{z:.6f}",
                  "c_pe": "1.5"}
        lines.append(" ".join(values[c] for c in columns.split()))
    if edit:
        edit(lines)
    return "\n".join(lines) + "\n"


def _set(row: int, column: int, value: str):
    def edit(lines):
        fields = lines[9 + row].split()
        fields[column] = value
        lines[9 + row] = " ".join(fields)
    return edit


#: (dump text, message): the dump reader's strictness; every case names file and line
STRICT = {
    "'none' is not NaN": (dump_text(edit=_set(3, 3, "none")), ":13: column 'x' holds 'none', not a number"),
    "'ignore' is not inf": (dump_text(edit=_set(3, 4, "ignore")), ":13: column 'y' holds 'ignore', not a number"),
    "'nothing' as a type": (dump_text(edit=_set(0, 1, "nothing")), ":10: column 'type' holds 'nothing', not an integer"),
    "type 1.9": (dump_text(edit=_set(1, 1, "1.9")), ":11: column 'type' holds '1.9', not an integer"),
    "NaN type": (dump_text(edit=_set(1, 1, "nan")), ":11: column 'type' holds 'nan', not an integer"),
    "id 4.9": (dump_text(edit=_set(2, 0, "4.9")), ":12: column 'id' holds '4.9', not an integer"),
    "id 4.0": (dump_text(edit=_set(2, 0, "4.0")), ":12: column 'id' holds '4.0', not an integer"),
    "id above 2^63": (dump_text(edit=_set(2, 0, "9223372036854775808")), ":12: column 'id' holds '9223372036854775808'"),
    "id inf": (dump_text(edit=_set(2, 0, "inf")), ":12: column 'id' holds 'inf', not an integer"),
    "id 1e30": (dump_text(edit=_set(2, 0, "1e30")), ":12: column 'id' holds '1e30', not an integer"),
    "broken tilt header": (dump_text(box="ITEM: BOX BOUNDS xy xz pp pp pp", bounds=("0 10 1", "0 10 0", "0 10 0")),
                           "are not three LAMMPS boundary styles"),
    "tilt values without the header": (dump_text(bounds=("0 10 1", "0 10 0", "0 10 0")), "holds a tilt factor"),
    "duplicate columns": (dump_text(columns="id type x y z x"), "names the column 'x' twice"),
    "unknown pbc flags": (dump_text(box="ITEM: BOX BOUNDS pp qq pp"), "'pp qq pp' are not three LAMMPS boundary"),
    "periodic on one face": (dump_text(box="ITEM: BOX BOUNDS pf pp pp"), "a periodic direction is 'pp'"),
    "negative box length": (dump_text(bounds=("0 10", "10 0", "0 10")), "yhi is below ylo"),
    "non-ASCII element": (dump_text(edit=_set(4, 2, "Cu\u00e9")), ":14: column 'element' holds a non-ASCII byte"),
    "truncated last line": (dump_text()[:-14], "the file ends inside atom line 108 of 108 (5 of 6 fields)"),
    "blank line inside the atoms": (dump_text(edit=lambda lines: lines.insert(15, "")),
                                    "the frame ends after 6 of 108 atom lines"),
}


@pytest.mark.parametrize("case", sorted(STRICT))
def test_the_dump_reader_is_strict(tmp_path, case):
    text, message = STRICT[case]
    path = tmp_path / "bad.lammpstrj"
    path.write_bytes(text.encode())
    with pytest.raises(InputError) as info:
        read_frame(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_spelled_out_nan_and_inf_are_still_numbers(tmp_path):
    path = tmp_path / "ok.lammpstrj"
    spelled = [_set(k, 5, v) for k, v in enumerate(["nan", "-inf", "Infinity", "NaN"])]
    path.write_text(dump_text(columns="id type x y z c_pe", edit=lambda lines: [e(lines) for e in spelled]))
    frame = read_frame(path)
    assert np.isnan(frame.properties["c_pe"][0]) and frame.properties["c_pe"][1] == -np.inf


def test_types_without_a_type_column_are_an_error(tmp_path):
    path = tmp_path / "elements.lammpstrj"
    path.write_text(dump_text(columns="id element x y z"))
    with pytest.raises(InputError, match="--types maps LAMMPS types, but the dump has no 'type' column"):
        read_frame(path, types={1: "Cu"})


def test_lammps_data_keeps_the_box_origin(tmp_path):
    path = tmp_path / "box.data"
    path.write_text("test\n\n2 atoms\n1 atom types\n\n5 15 xlo xhi\n-3 7 ylo yhi\n1 11 zlo zhi\n\n"
                    "Masses\n\n1 63.5\n\nAtoms # atomic\n\n1 1 14.5 0 2\n2 1 6 6.5 3\n")
    frame = read_frame(path, format="lammps-data")
    np.testing.assert_allclose(frame.origin, [5, -3, 1])
    np.testing.assert_allclose(frame.positions, [[14.5, 0, 2], [6, 6.5, 3]])  # inside the box: not moved
    back = read_frame(write_frames(tmp_path / "box.lammpstrj", frame))
    np.testing.assert_allclose(back.positions, frame.positions)


# -- the command line -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("inputs")
    ok = dump_text()
    (d / "ok.lammpstrj").write_text(ok)
    data = bytearray(gzip.compress(ok.encode() * 20))
    for k in range(len(data) // 2, len(data) // 2 + 64):
        data[k] ^= 0x55
    (d / "corrupt.lammpstrj.gz").write_bytes(bytes(data))
    (d / "zero.lammpstrj").write_text("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n0\nITEM: BOX BOUNDS pp pp pp\n"
                                      "0 10\n0 10\n0 10\nITEM: ATOMS id type element x y z\n")
    (d / "latin.lammpstrj").write_bytes(dump_text(edit=_set(2, 2, "Cu\u00e9")).encode("latin-1"))
    cell = 'Lattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 pbc="T T T"'
    (d / "text-step.extxyz").write_text(f"2\n{cell} timestep=abc\nCu 0 0 0\nCu 1 1 1\n")
    (d / "empty-step.extxyz").write_text(f"2\n{cell} timestep=\nCu 0 0 0\nCu 1 1 1\n")
    (d / "huge.extxyz").write_text(f"99999999999\n{cell}\nCu 0 0 0\n")
    (d / "isolated.extxyz").write_text('3\nProperties=species:S:1:pos:R:3 pbc="F F F"\nCu 0 0 0\nCu 50 0 0\nCu 0 50 0\n')
    (d / "a-directory.extxyz").mkdir()
    return d


CLI = {
    "corrupt gzip, classify": (["classify", "{d}/corrupt.lammpstrj.gz", "-o", "{o}/x.extxyz"], "corrupt.lammpstrj.gz: cannot read"),
    "corrupt gzip, info": (["info", "{d}/corrupt.lammpstrj.gz"], "corrupt.lammpstrj.gz: cannot read"),
    "corrupt gzip, denoise": (["denoise", "{d}/corrupt.lammpstrj.gz", "-o", "{o}/x.extxyz"], "corrupt.lammpstrj.gz: cannot read"),
    "no atoms, element column": (["classify", "{d}/zero.lammpstrj", "-o", "{o}/x.extxyz"], "the frame has no atoms"),
    "non-ASCII species": (["classify", "{d}/latin.lammpstrj", "-o", "{o}/x.extxyz"], "latin.lammpstrj:12: column 'element' holds a non-ASCII"),
    "timestep text": (["classify", "{d}/text-step.extxyz", "-o", "{o}/x.lammpstrj"], "timestep=abc is not an integer"),
    "timestep empty": (["classify", "{d}/empty-step.extxyz", "-o", "{o}/x.lammpstrj"], "timestep= is not an integer"),
    "huge atom count": (["info", "{d}/huge.extxyz"], "declares more atoms than the file holds"),
    "nmcnn, isolated atoms": (["classify", "{d}/isolated.extxyz", "-m", "nmcnn", "-o", "{o}/x.extxyz"], "isolated atoms"),
    "nmap, isolated atoms": (["nmap", "{d}/isolated.extxyz", "-o", "{o}/m.png"], "isolated atoms"),
    "unwritable directory": (["classify", "{d}/ok.lammpstrj", "-o", "/proc/x.extxyz"], "cannot write in /proc"),
    "output is a directory": (["classify", "{d}/ok.lammpstrj", "-o", "{d}/a-directory.extxyz", "--force"], "is a directory"),
    "summary over the labels": (["classify", "{d}/ok.lammpstrj", "-o", "{o}/x.extxyz", "--summary-json", "{o}/x.extxyz"],
                                "given to both --output and --summary-json"),
    "plot over the csv": (["classify", "{d}/ok.lammpstrj", "-o", "{o}/x.extxyz", "--plot", "{o}/p", "--fractions-csv", "{o}/p"],
                          "given to both --fractions-csv and --plot"),
    "train over its input": (["train", "less", "fcc={d}/ok.lammpstrj", "-o", "{d}/ok.lammpstrj", "--force"],
                             "--output would overwrite the input"),
    "epochs 0": (["train", "nmcnn", "fcc={d}/ok.lammpstrj", "--epochs", "0", "-o", "{o}/m.pt"], "epochs must be at least 1"),
    "unknown as a label": (["train", "less", "unknown={d}/ok.lammpstrj", "-o", "{o}/m.pt"], "'unknown' is what a model says"),
    "ramp with one temperature": (["md", "run", "ramp", "--temps", "1", "--quick", "--data-dir", "{o}"], "--temps for ramp is START,STOP"),
    "negative size": (["md", "run", "dc3", "--size", "-5", "--systems", "al", "--data-dir", "{o}"], "--size must be a positive"),
    "rmsd cutoff nan": (["classify", "{d}/ok.lammpstrj", "--rmsd-cutoff", "nan", "-o", "{o}/x.extxyz"], "must be a number >= 0, got nan"),
    "tolerance nan": (["denoise", "{d}/ok.lammpstrj", "--tolerance", "nan", "-o", "{o}/x.extxyz"], "tolerance must be a number >= 0"),
}


@pytest.mark.parametrize("case", sorted(CLI))
def test_command_line_faults_are_one_line(files, tmp_path, case):
    args, message = CLI[case]
    before = sorted(p.name for p in files.iterdir())
    assert_one_line_error(run_cli(*(a.format(d=files, o=tmp_path) for a in args)), message)
    assert sorted(p.name for p in files.iterdir()) == before, "an input was changed"
    assert not any(tmp_path.iterdir()), f"left behind: {list(tmp_path.iterdir())}"
    assert (files / "ok.lammpstrj").read_text() == dump_text()


def test_immutable_output_file(files, tmp_path):
    target = tmp_path / "locked.extxyz"
    target.write_text("keep me\n")
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    try:
        result = run_cli("classify", files / "ok.lammpstrj", "-o", target, "--force")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "locked.extxyz: writing failed" in result.stderr
        assert target.read_text() == "keep me\n"
        assert [p.name for p in tmp_path.iterdir()] == ["locked.extxyz"]
    finally:
        subprocess.run(["chattr", "-i", str(target)])


def test_full_disk_leaves_nothing(tmp_path):
    """A real full file system when the machine lets us mount one, else a write that fails
    like one: one InputError, no partial file."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
                             capture_output=True).returncode == 0
    try:
        frame = gaussian_noise(lattice("fcc", 2.55, 8), 0.05, 0)
        for name in ("big.extxyz", "big.lammpstrj.gz"):
            if mounted:
                with pytest.raises(InputError, match="writing failed .*No space left"):
                    write_frames(small / name, [frame] * 4)
            else:
                out = AtomicFile(small / name)
                out.stream = _Full()
                with pytest.raises(InputError, match="writing failed"):
                    out.write(b"x")
            assert list(small.iterdir()) == []
    finally:
        if mounted:
            subprocess.run(["umount", str(small)])


class _Full:
    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_stale_parts_of_dead_runs_are_removed(tmp_path):
    frame = lattice("fcc", 2.55, 2)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".out.extxyz.{dead.stdout.strip()}.abc123.part"
    live = tmp_path / f".out.extxyz.{os.getpid()}.def456.part"
    stale.write_text("left by a killed run")
    live.write_text("another run is writing")
    write_frames(tmp_path / "out.extxyz", frame)
    assert not stale.exists() and live.exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_stops_the_run_and_removes_partial_outputs(tmp_path, signum):
    big = tmp_path / "big.lammpstrj"
    frame = gaussian_noise(lattice("fcc", 2.55, 14), 0.1, 0)
    write_frames(big, [frame] * 30)
    before = {p.name for p in tmp_path.iterdir()}
    process = subprocess.Popen([sys.executable, "-m", "structid.cli", "classify", str(big), "-m", "acna",
                                "-o", str(tmp_path / "out.extxyz"), "--plot", str(tmp_path / "f.png")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # wait (bounded) until the run is writing: its temporary output exists
    while not list(tmp_path.glob(".out.extxyz.*.part")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be stopped"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == [f"structid: stopped by {signal.Signals(signum).name}; unfinished outputs removed"]
    assert {p.name for p in tmp_path.iterdir()} == before
