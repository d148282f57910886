import numpy as np
import pytest

from conftest import run_cli
from structid.errors import InputError
from structid.frame import Frame
from structid.labels import CODE, Labels
from structid.lattices import gaussian_noise, lattice
from structid.models.compose import NeighborAveraged

CLASSES = ("fcc", "hcp", "liquid")


class Fixed:
    """A classifier that gives stored probabilities (one row per atom)."""

    name = "fixed"

    def __init__(self, probabilities: np.ndarray | None) -> None:
        self.probabilities = probabilities

    def classify(self, frame: Frame, neighbors=None) -> Labels:
        p = self.probabilities
        codes = np.full(len(frame), CODE["fcc"]) if p is None else np.array([CODE[CLASSES[k]] for k in p.argmax(1)])
        return Labels(codes=codes, classes=CLASSES, probabilities=p, method=self.name)


def brute_force_average(frame: Frame, p: np.ndarray, k: int, weight: float) -> np.ndarray:
    """The definition, literally: minimum-image distances to every other atom of an
    orthorhombic cell more than twice as wide as the k-th neighbour distance."""
    lengths = np.diag(frame.cell)
    d = frame.positions[:, None, :] - frame.positions[None, :, :]
    d -= lengths * np.round(d / lengths)
    r = np.linalg.norm(d, axis=2)
    np.fill_diagonal(r, np.inf)
    nearest = np.argsort(r, axis=1)[:, :k]
    return (p + weight * p[nearest].mean(axis=1)) / (1 + weight)


@pytest.mark.parametrize("k, weight", [(12, 1.0), (4, 0.5), (20, 2.0)])
def test_equals_the_definition_on_random_probabilities(rng, k, weight):
    frame = gaussian_noise(lattice("fcc", 2.5, 4), 0.1, rng)
    p = rng.dirichlet(np.ones(3), size=len(frame)).astype(np.float32)
    labels = NeighborAveraged(Fixed(p), k, weight).classify(frame)
    expected = brute_force_average(frame, p, k, weight)
    np.testing.assert_allclose(labels.probabilities, expected, atol=1e-6)
    np.testing.assert_array_equal(labels.codes, [CODE[CLASSES[c]] for c in expected.argmax(1)])
    assert labels.method == f"fixed+avg{k}"
    np.testing.assert_allclose(labels.probabilities.sum(axis=1), 1, atol=1e-5)


def test_an_isolated_miss_joins_its_neighbours_a_cluster_stays(rng):
    frame = gaussian_noise(lattice("fcc", 2.5, 4), 0.05, rng)
    p = np.tile(np.float32([0.9, 0.05, 0.05]), (len(frame), 1))
    p[0] = [0.2, 0.0, 0.8]
    labels = NeighborAveraged(Fixed(p)).classify(frame)
    assert (labels.codes == CODE["fcc"]).all()
    # a whole liquid half stays liquid away from its edge
    liquid = frame.positions[:, 2] < frame.cell[2, 2] / 2
    p[liquid] = [0.05, 0.05, 0.9]
    labels = NeighborAveraged(Fixed(p)).classify(frame)
    deep = liquid & (np.abs(frame.positions[:, 2] - frame.cell[2, 2] / 4) < 1.0)
    assert deep.any() and (labels.codes[deep] == CODE["liquid"]).all()


def test_weight_zero_keeps_the_classifier_and_min_confidence_gives_unknown(rng):
    frame = gaussian_noise(lattice("fcc", 2.5, 3), 0.05, rng)
    p = rng.dirichlet(np.ones(3), size=len(frame)).astype(np.float32)
    same = NeighborAveraged(Fixed(p), 12, weight=0.0).classify(frame)
    np.testing.assert_allclose(same.probabilities, p, atol=1e-7)
    unsure = NeighborAveraged(Fixed(p), 12, min_confidence=0.99).classify(frame)
    assert (unsure.codes == CODE["unknown"]).all()


def test_bad_use():
    frame = lattice("fcc", 2.5, 3)
    with pytest.raises(InputError, match="no probabilities"):
        NeighborAveraged(Fixed(None)).classify(frame)
    for kwargs in ({"neighbors": 0}, {"weight": -1.0}, {"min_confidence": 1.5}):
        with pytest.raises(InputError):
            NeighborAveraged(Fixed(None), **kwargs)


def test_cli_averages_an_ml_method_and_refuses_a_classical_one(tmp_path):
    from structid.io.writers import write_frames

    src = tmp_path / "fcc.extxyz"
    write_frames(src, [gaussian_noise(lattice("fcc", 2.86, 4), 0.1, np.random.default_rng(0))])
    out = tmp_path / "out.extxyz"
    result = run_cli("classify", src, "-m", "nmcnn", "--neighbor-average", "12", "-o", out,
                     "--summary-json", tmp_path / "s.json")
    assert result.returncode == 0, result.stderr
    assert '"method": "nmcnn+avg12"' in (tmp_path / "s.json").read_text()
    bad = run_cli("classify", src, "-m", "ptm", "--neighbor-average", "12", "-o", tmp_path / "p.extxyz")
    assert bad.returncode == 2 and "no probabilities" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "p.extxyz").exists()


def twinned_fcc(a: float = 2.5, repeat: int = 4) -> tuple[Frame, np.ndarray]:
    """Close-packed layers ABCABCABC BACBACBAC (periodic along z): fcc with two twin planes,
    each a single hcp layer. Returns the frame and which atoms are in a twin plane."""
    sequence = "ABCABCABCBACBACBAC"
    shift = {"A": 0.0, "B": 1 / 3, "C": 2 / 3}  # along the rectangular cell's long side
    height, spacing = a * np.sqrt(3), a * np.sqrt(2 / 3)
    cell_xy = np.array([[0, 0], [a / 2, height / 2]])
    grid = np.array([(i, j) for i in range(repeat) for j in range(repeat // 2 + 1)], dtype=float) * [a, height]
    positions, twin = [], []
    for k, layer in enumerate(sequence):
        xy = (grid[:, None, :] + cell_xy[None]).reshape(-1, 2) + [0, shift[layer] * height]
        positions.append(np.column_stack([xy, np.full(len(xy), k * spacing)]))
        twin += [sequence[k - 1] == sequence[(k + 1) % len(sequence)]] * len(xy)
    cell = np.diag([repeat * a, (repeat // 2 + 1) * height, len(sequence) * spacing])
    positions = np.concatenate(positions)
    frame = Frame(positions=positions, cell=cell, pbc=True, species=np.full(len(positions), "Cu")).wrapped()
    return frame, np.array(twin)


def test_a_twin_plane_one_layer_thick_survives_the_average():
    from structid.classical import PTM

    frame, twin = twinned_fcc()
    assert twin.sum() == 2 * len(frame) // 18
    # the geometry is right: OVITO's PTM sees hcp exactly in the twin planes
    np.testing.assert_array_equal(PTM().classify(frame).codes, np.where(twin, CODE["hcp"], CODE["fcc"]))
    p = np.zeros((len(frame), 3), dtype=np.float32)
    p[twin, 1], p[~twin, 0] = 1.0, 1.0
    labels = NeighborAveraged(Fixed(p), 12).classify(frame)
    np.testing.assert_array_equal(labels.codes, np.where(twin, CODE["hcp"], CODE["fcc"]))
    # the right neighbours were averaged: a twin atom has 6 twin neighbours of 12
    np.testing.assert_allclose(labels.probabilities[twin, 1], 0.75, atol=1e-6)


def test_nmcnn_neighbours_from_its_own_list_equal_a_fresh_search(rng):
    from structid.neighbors import nearest_neighbors
    from structid.registry import get_classifier

    model = get_classifier("nmcnn")
    frame = gaussian_noise(lattice("hcp", 2.9, 4), 0.15, rng)

    class Plain:  # the same model without its neighbour list
        name = "nmcnn"

        def classify(self, frame, neighbors=None):
            return model.classify(frame)

    shared, fresh = NeighborAveraged(model).classify(frame), NeighborAveraged(Plain()).classify(frame)
    np.testing.assert_allclose(shared.probabilities, fresh.probabilities, atol=1e-6)
    np.testing.assert_array_equal(shared.codes, fresh.codes)
    own = model.find_neighbors(frame)
    np.testing.assert_array_equal(np.sort(nearest_neighbors(frame, 12, neighbors=own).indices, axis=1),
                                  np.sort(nearest_neighbors(frame, 12).indices, axis=1))
    np.testing.assert_array_equal(model.classify(frame, own).probabilities, model.classify(frame).probabilities)
