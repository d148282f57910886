"""A test kit for structure-identification methods: use it on your own method too.

- :func:`assert_invariant`: a per-atom computation must not change (or must rotate with the
  frame) under rotations, reflections, translations and permutations of the atoms, with
  positions in float64 and in float32 precision; a failure says which transform broke it.
- :func:`check_classifier`: the conformance check every registered method passes: edge-case
  frames (no atom, one atom, open boundaries, a triclinic cell) give labels of the right length
  or one clear :class:`~structid.errors.InputError`; every class is in the vocabulary;
  probabilities are a distribution (or all zero for an atom the method could not see, labelled
  `other`); a neighbour list passed in changes nothing; a trained model
  saved and loaded gives the same settings and the same probabilities.

    >>> from structid.testing import check_classifier
    >>> check_classifier(MyMethod())
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from structid.errors import InputError, NotFittedError
from structid.frame import Frame
from structid.labels import CODE, VOCABULARY, Classifier, Labels
from structid.lattices import gaussian_noise, lattice, random_rotation_matrix, rotate
from structid.neighbors import neighbor_list, nn_distance

#: the transforms :func:`assert_invariant` applies
TRANSFORMS = ("rotate", "reflect", "translate", "permute")


def _transformed(frame: Frame, kind: str, rng: np.random.Generator) -> tuple[Frame, np.ndarray | None, np.ndarray, str]:
    """(new frame, rotation applied to vectors or None, atom order, description)."""
    order = np.arange(len(frame))
    if kind == "rotate":
        rotation = random_rotation_matrix(rng)
        return rotate(frame, rotation), rotation, order, f"rotation\n{np.array2string(rotation, precision=6)}"
    if kind == "reflect":
        normal = rng.normal(size=3)
        normal /= np.linalg.norm(normal)
        mirror = np.eye(3) - 2 * np.outer(normal, normal)
        return rotate(frame, mirror), mirror, order, f"reflection through the plane of normal {np.round(normal, 6)}"
    if kind == "translate":
        shift = rng.normal(scale=3.0, size=3)
        moved = frame.replace(positions=frame.positions + shift)
        return (moved.wrapped() if frame.pbc.any() else moved), None, order, f"translation by {np.round(shift, 6)} Å"
    if kind == "permute":
        order = rng.permutation(len(frame))
        return frame.select(order), None, order, f"permutation of the atoms (first: {order[:8].tolist()})"
    raise ValueError(f"unknown transform {kind!r}; known: {', '.join(TRANSFORMS)}")


def _compare(expected: np.ndarray, got: np.ndarray, atol: float, max_mismatch: float) -> str | None:
    """Why two outputs differ, or None when they agree."""
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.shape != got.shape:
        return f"shape {got.shape} instead of {expected.shape}"
    if expected.dtype.kind in "iub" or expected.dtype.kind in "US":
        wrong = (expected != got).reshape(len(expected), -1).any(axis=1) if expected.size else np.zeros(0, bool)
        if wrong.size and wrong.mean() > max_mismatch:
            return f"{int(wrong.sum())} of {len(wrong)} atoms differ (first: atom {int(np.flatnonzero(wrong)[0])})"
        return None
    error = np.abs(expected.astype(np.float64) - got.astype(np.float64))
    if error.size and error.max() > atol:
        worst = np.unravel_index(int(error.argmax()), error.shape)
        return f"largest difference {error.max():.3g} > {atol:g} at index {tuple(int(w) for w in worst)}"
    return None


def assert_invariant(compute: Callable[[Frame], np.ndarray], frame: Frame, *,
                     transforms: Sequence[str] = TRANSFORMS, vectors: bool = False, atol: float = 1e-5,
                     float32_atol: float | None = None, max_mismatch: float = 0.0,
                     rng: np.random.Generator | int = 0) -> None:
    """Assert that ``compute(frame)`` (an array with one row per atom) is invariant under each
    transform, atoms reordered as the transform reorders them; with ``vectors``, rows are
    vectors that must rotate with the frame (``out @ R.T``). Each check runs with float64
    positions and with positions rounded to float32 (tolerance ``float32_atol``, default 100
    times ``atol``). Integer outputs (codes) may differ on at most a ``max_mismatch`` share of
    atoms. Raises AssertionError naming the transform and the precision."""
    rng = np.random.default_rng(rng)
    float32_atol = 100 * atol if float32_atol is None else float32_atol
    reference = np.asarray(compute(frame))
    single = frame.replace(positions=frame.positions.astype(np.float32))
    problem = _compare(reference, np.asarray(compute(single)), float32_atol, max_mismatch)
    if problem:
        raise AssertionError(f"positions in float32 precision change the result: {problem}")
    for kind in transforms:
        for precision, base, tol in (("float64", frame, atol), ("float32", single, float32_atol)):
            moved, rotation, order, description = _transformed(base, kind, rng)
            if precision == "float32":
                moved = moved.replace(positions=moved.positions.astype(np.float32))
            expected = reference[order]
            if vectors and rotation is not None:
                expected = expected @ rotation.T
            problem = _compare(expected, np.asarray(compute(moved)), tol, max_mismatch)
            if problem:
                raise AssertionError(f"not invariant under {kind} ({precision} positions): {problem}\n"
                                     f"transform: {description}")


def edge_frames(d: float = 2.55) -> dict[str, Frame]:
    """Small frames every method must survive (nearest-neighbour distance ``d``, Å)."""
    fcc = lattice("fcc", d, 3)
    cell = np.array([[4 * d, 0, 0], [1.1 * d, 4 * d, 0], [0.7 * d, -0.9 * d, 4 * d]])
    rng = np.random.default_rng(0)
    return {
        "no atoms": fcc.select(np.zeros(0, dtype=int)),
        "one atom": fcc.select([0]),
        "two atoms": fcc.select([0, 1]),
        "open boundaries": gaussian_noise(fcc.replace(pbc=False), 0.03 * d, rng),
        "triclinic gas": Frame(positions=rng.random((40, 3)) @ cell, cell=cell, pbc=True, species=np.full(40, "Cu")),
        "noisy bcc": gaussian_noise(lattice("bcc", d, 4), 0.05 * d, rng),
    }


def _check_labels(labels: Labels, frame: Frame, where: str) -> None:
    assert isinstance(labels, Labels), f"{where}: classify returned {type(labels).__name__}, not Labels"
    assert len(labels) == len(frame), f"{where}: {len(labels)} labels for {len(frame)} atoms"
    assert set(labels.classes) <= set(VOCABULARY), f"{where}: classes outside the vocabulary: {labels.classes}"
    p = labels.probabilities
    if p is not None:
        assert p.shape == (len(frame), len(labels.classes)), f"{where}: probabilities of shape {p.shape}"
        assert np.isfinite(p).all() and (p >= -1e-6).all(), f"{where}: probabilities not finite or negative"
        total = p.sum(axis=1)
        # a row of zeros is a method's way of saying it saw no neighbourhood: the atom is `other`
        blank = np.isclose(total, 0, atol=1e-6)
        assert np.allclose(total[~blank], 1, atol=1e-4), f"{where}: probabilities do not sum to 1 (or 0)"
        assert (labels.codes[blank] == CODE["other"]).all(), f"{where}: an atom with no probability is not `other`"


def check_classifier(classifier: Classifier, *, max_mismatch: float = 0.02) -> None:
    """The conformance check (see the module docstring); raises AssertionError on a failure.
    ``max_mismatch``: share of atoms of a noisy crystal whose label may change under a rigid
    motion (float32 rounding may tip an atom at a decision boundary)."""
    name = getattr(classifier, "name", type(classifier).__name__)
    for where, frame in edge_frames().items():
        try:
            labels = classifier.classify(frame)
        except InputError:
            continue  # a clear, one-line refusal is allowed
        _check_labels(labels, frame, f"{name} on {where}")
    crystal = edge_frames()["noisy bcc"]
    labels = classifier.classify(crystal)
    _check_labels(labels, crystal, f"{name} on noisy bcc")
    assert_invariant(lambda f: classifier.classify(f).codes, crystal, max_mismatch=max_mismatch)
    # a neighbour list handed in, reaching well past any method's shell, changes nothing
    given = neighbor_list(crystal, 3.0 * nn_distance(crystal))
    with_list = classifier.classify(crystal, neighbors=given)
    assert np.array_equal(with_list.codes, labels.codes), f"{name}: a given neighbour list changes the labels"
    for query in ({"num_neighbors": 16}, {"r_max": 2.0 * nn_distance(crystal)}):
        _check_labels(classifier.classify(crystal, neighbors=query), crystal, f"{name} with neighbors={query}")
    if hasattr(classifier, "save") and hasattr(classifier, "get_params"):
        _check_round_trip(classifier, crystal, name)


def _check_round_trip(model, frame: Frame, name: str) -> None:
    cls = type(model)
    try:
        cls().classify(frame)
    except NotFittedError:
        pass
    else:
        raise AssertionError(f"{name}: an unfitted {cls.__name__} classified a frame")
    with tempfile.TemporaryDirectory() as folder:
        loaded = cls.load(model.save(Path(folder) / "model"))
    assert repr(loaded) == repr(model), f"{name}: settings changed on save/load: {loaded!r} != {model!r}"
    assert loaded.get_params().keys() == model.get_params().keys()
    a, b = model.classify(frame), loaded.classify(frame)
    assert a.classes == b.classes and np.array_equal(a.probabilities, b.probabilities), \
        f"{name}: probabilities changed on save/load"
