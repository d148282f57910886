"""Seeded mutation fuzzing of the dump and extxyz readers: whatever the bytes, only structid's
error escapes, nothing hangs, and an accepted dump equals what a strict reference parser reads."""

from __future__ import annotations

import re
import signal

import numpy as np
import pytest

from structid.errors import InputError, StructidError
from structid.io.readers import open_trajectory
from structid.io.writers import write_frames
from structid.lattices import gaussian_noise, lattice

TOKENS = ["nan", "none", "NaN", "inf", "-Infinity", "ignore", "1e400", "-", "1.5.2", "4.9", "", "x", "1e30",
          "99999999999999999999", "\u00e9", "0", "-1", "ITEM:", "1d3", "+.5"]
_NUMBER = re.compile(r"^[+-]?((\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?|nan|inf|infinity)$", re.IGNORECASE)
_INTEGER = re.compile(r"^[+-]?\d+$")
MUTANTS = 500


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


def _mutate(text: str, rng: np.random.Generator) -> bytes:
    lines = text.split("\n")
    for _ in range(rng.integers(1, 4)):
        kind = rng.integers(5)
        k = int(rng.integers(len(lines)))
        if kind == 0:
            words = lines[k].split(" ")
            words[int(rng.integers(len(words)))] = TOKENS[int(rng.integers(len(TOKENS)))]
            lines[k] = " ".join(words)
        elif kind == 1 and len(lines) > 1:
            del lines[k]
        elif kind == 2:
            lines.insert(k, lines[k])
        elif kind == 3:
            line = lines[k]
            if line:
                j = int(rng.integers(len(line)))
                lines[k] = line[:j] + chr(int(rng.integers(32, 127))) + line[j + 1:]
        else:
            joined = "\n".join(lines)
            return joined[: int(rng.integers(len(joined)))].encode()
    return "\n".join(lines).encode("utf-8")


def _reference_dump(data: bytes) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """(ids, positions) per frame of a plain orthogonal dump with columns id type x y z, or None
    when the file breaks a rule: a strict, slow parser written from the format's description."""
    try:
        lines = data.decode("ascii").split("\n")
    except UnicodeDecodeError:
        return None
    if lines and lines[-1] == "":
        lines.pop()
    frames, k = [], 0
    while k < len(lines):
        try:
            head = lines[k:k + 9]
            if head[0] != "ITEM: TIMESTEP" or not _INTEGER.match(head[1].strip()) or head[2] != "ITEM: NUMBER OF ATOMS":
                return None
            if not _INTEGER.match(head[3].strip()) or int(head[3]) < 0 or head[4] != "ITEM: BOX BOUNDS pp pp pp":
                return None
            box = []
            for line in head[5:8]:
                words = line.split()
                if len(words) != 2 or not all(_NUMBER.match(w) for w in words):
                    return None
                lo, hi = (float(w.replace("d", "e").replace("D", "e")) for w in words)
                if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                    return None
                box.append((lo, hi))
            names = head[8].split()[2:]
            if head[8].split()[:2] != ["ITEM:", "ATOMS"] or len(names) != 5 or len(set(names)) != 5:
                return None
            if not {"x", "y", "z"} <= set(names):
                return None
            integer = [name in ("id", "type") for name in names]
            n = int(head[3])
            atoms = lines[k + 9:k + 9 + n]
            if len(atoms) != n or n == 0:
                return None
            ids, xyz = [], []
            for line in atoms:
                words = line.split()
                if len(words) != 5:
                    return None
                for word, whole in zip(words, integer):
                    if whole and not (_INTEGER.match(word) and abs(int(word)) < 2**53):
                        return None
                    if not whole and not _NUMBER.match(word):
                        return None
                values = [float(words[names.index(c)].replace("d", "e").replace("D", "e")) for c in "xyz"]
                if not np.all(np.isfinite(values)):
                    return None
                ids.append(int(words[names.index("id")]) if "id" in names else len(ids) + 1)
                xyz.append(values)
            frames.append((np.array(ids), np.array(xyz)))
            k += 9 + n
        except (IndexError, ValueError):
            return None
    return frames or None


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    d = tmp_path_factory.mktemp("seeds")
    frames = [gaussian_noise(lattice("fcc", 2.55, 2), 0.05, k) for k in range(2)]
    dump = write_frames(d / "seed.lammpstrj", frames)
    text = dump.read_text()
    # the reference parser's column set
    text = text.replace("ITEM: ATOMS id type element x y z", "ITEM: ATOMS id type x y z")
    text = re.sub(r"^(\d+ \d+) Cu ", r"\1 ", text, flags=re.MULTILINE)
    return text, write_frames(d / "seed.extxyz", frames).read_text()


def _read_all(path):
    return [(f.ids, f.positions) for f in open_trajectory(path, wrap=False)]


@pytest.mark.parametrize("fmt", ["lammpstrj", "extxyz"])
def test_mutated_files_give_structid_errors_or_correct_frames(seeds, tmp_path, fmt):
    dump_text, xyz_text = seeds
    text = dump_text if fmt == "lammpstrj" else xyz_text
    assert _reference_dump(dump_text.encode()) is not None
    rng = np.random.default_rng(20261203)
    previous = signal.signal(signal.SIGALRM, _alarm)
    accepted = rejected = 0
    try:
        for k in range(MUTANTS):
            data = _mutate(text, rng)
            path = tmp_path / f"m{k}.{fmt}"
            path.write_bytes(data)
            signal.alarm(10)
            try:
                ours = _read_all(path)
            except StructidError as exc:
                assert isinstance(exc, InputError) and "\n" not in str(exc), (k, str(exc))
                ours = None
            except _Hang:
                pytest.fail(f"mutant {k} made the {fmt} reader hang:\n{data[:400]!r}")
            except Exception as exc:  # noqa: BLE001 (any other escape is the failure under test)
                pytest.fail(f"mutant {k}: {type(exc).__name__}: {exc}\n{data[:400]!r}")
            finally:
                signal.alarm(0)
            if ours is None:
                rejected += 1
                continue
            accepted += 1
            if fmt == "lammpstrj":
                reference = _reference_dump(data)
                assert reference is not None, f"mutant {k} accepted, the reference refuses it:\n{data!r}"
                assert len(ours) == len(reference)
                for (ids, xyz), (ref_ids, ref_xyz) in zip(ours, reference):
                    np.testing.assert_array_equal(ids, ref_ids)
                    np.testing.assert_allclose(xyz, ref_xyz, rtol=1e-12)
            else:
                assert all(len(ids) == len(xyz) for ids, xyz in ours)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert accepted >= 10 and rejected >= 10, (accepted, rejected)
