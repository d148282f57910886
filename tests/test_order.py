import numpy as np
import pytest
from scipy.special import sph_harm_y

from structid.descriptors.order import (SIGNATURE_FILE, SIGNATURE_L, RegionalOrder, compute_signatures, mismatch,
                                       mismatch_thresholds, signatures)
from structid.errors import InputError
from structid.frame import Frame
from structid.labels import CODE, Labels
from structid.lattices import gaussian_noise, lattice, random_rotation
from structid.models.compose import ORDERED, OrderChecked
from structid.registry import build_pipeline, pipeline

LS = (4, 6, 8, 10, 12)


def brute_force_order(frame: Frame, radius: float) -> np.ndarray:
    """The definition, literally, with minimum-image vectors in a cubic cell: bonds within 1.2 x
    the mean distance to the 4 nearest neighbours; the region of atom i: every atom whose voxel
    (a cubic grid of cells at least 1.5 first-shell distances wide) is reached from i's voxel by
    a voxel offset no longer than ``radius`` first-shell distances; Q_l over all m of the sum
    of Y_lm over the region's bonds."""
    box = frame.cell[0, 0]
    d = frame.positions[None, :, :] - frame.positions[:, None, :]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=2)
    np.fill_diagonal(r, np.inf)
    cut = 1.2 * np.sort(r, axis=1)[:, :4].mean(axis=1)
    cut = np.minimum(cut, 2 * np.median(cut))
    shell = np.median(cut) / 1.2
    n = max(int(box // (1.5 * shell)), 1)
    voxel = np.floor((frame.positions % box) / box * n).astype(int) % n
    reach = int(np.ceil(radius * shell / (box / n)))
    offsets = set()
    for corner in np.ndindex(*(2 * reach + 1,) * 3):
        step = np.array(corner) - reach
        if np.linalg.norm(step * box / n) <= radius * shell:
            offsets.add(tuple(np.mod(step, n)))
    out = np.zeros((len(frame), len(LS)))
    for i in range(len(frame)):
        region = [j for j in range(len(frame)) if tuple(np.mod(voxel[j] - voxel[i], n)) in offsets]
        vectors = np.concatenate([d[j][r[j] < cut[j]] for j in region])
        polar = np.arccos(np.clip(vectors[:, 2] / np.linalg.norm(vectors, axis=1), -1, 1))
        azimuth = np.arctan2(vectors[:, 1], vectors[:, 0])
        for k, l in enumerate(LS):
            qlm = np.array([sph_harm_y(l, m, polar, azimuth).mean() for m in range(-l, l + 1)])
            out[i, k] = np.sqrt(4 * np.pi / (2 * l + 1) * np.sum(np.abs(qlm) ** 2))
    return out


def test_matches_the_definition_on_random_atoms(rng):
    box = 14.0
    frame = Frame(positions=rng.uniform(0, box, (150, 3)), cell=np.eye(3) * box, pbc=(True,) * 3,
                  species=np.full(150, "Ar"))
    np.testing.assert_allclose(RegionalOrder(2.0).compute_all(frame), brute_force_order(frame, 2.0), atol=1e-9)


@pytest.mark.parametrize("name, l, value", [("fcc", 6, 0.57452), ("fcc", 4, 0.19094), ("sc", 4, 0.76376),
                                            ("sc", 6, 0.35355)])
def test_a_perfect_crystal_has_its_bond_order_everywhere(name, l, value):
    # every bond of a perfect crystal points along the same few directions: the regional Q_l is
    # the single atom's q_l, known in closed form
    q = RegionalOrder().compute_all(lattice(name, 2.5, 6))
    np.testing.assert_allclose(q[:, LS.index(l)], value, atol=2e-5)


def test_rotation_and_missing_atoms_keep_a_crystal_ordered(rng):
    frame = gaussian_noise(lattice("bcc", 2.5, 8), 0.15, rng)
    order = RegionalOrder().compute(frame)
    np.testing.assert_allclose(RegionalOrder().compute(random_rotation(frame, rng)), order, atol=1e-9)
    thinned = frame.select(rng.random(len(frame)) < 0.5)
    assert np.percentile(RegionalOrder().compute(thinned), 1) > ORDERED


def test_random_atoms_are_disordered(rng):
    box = 25.0
    frame = Frame(positions=rng.uniform(0, box, (1500, 3)), cell=np.eye(3) * box, pbc=(True,) * 3,
                  species=np.full(1500, "Ar"))
    assert RegionalOrder().compute(frame).max() < ORDERED


def test_bad_settings():
    with pytest.raises(InputError, match="radius"):
        RegionalOrder(0)
    with pytest.raises(InputError, match="even"):
        RegionalOrder(ls=(3, 6))
    assert RegionalOrder().compute(lattice("fcc", 2.5, 2).select(np.zeros(32, bool))).shape == (0,)


class Always:
    """A classifier that gives every atom one label."""

    name = "always"
    classes_ = ("fcc", "liquid")

    def __init__(self, label: str) -> None:
        self.label = label

    def classify(self, frame: Frame, neighbors=None) -> Labels:
        return Labels(codes=np.full(len(frame), CODE[self.label]), classes=self.classes_, method=self.name)


@pytest.mark.parametrize("label", ["liquid", "amorphous"])
def test_a_disordered_label_in_an_unknown_crystal_becomes_unknown(label, rng):
    frame = gaussian_noise(lattice("a15", 2.5, 4), 0.05, rng)
    labels = OrderChecked(Always(label)).classify(frame)
    assert set(labels.names) == {"unknown"}
    assert labels.method == "always+order" and labels.extra["order"].min() > ORDERED


def test_a_crystal_label_in_a_disordered_region_becomes_unknown(rng):
    box = 20.0
    gas = Frame(positions=rng.uniform(0, box, (800, 3)), cell=np.eye(3) * box, pbc=(True,) * 3,
                species=np.full(800, "Ar"))
    assert set(OrderChecked(Always("fcc")).classify(gas).names) == {"unknown"}
    assert set(OrderChecked(Always("liquid")).classify(gas).names) == {"liquid"}


def test_labels_the_order_agrees_with_stay(rng):
    frame = gaussian_noise(lattice("fcc", 2.5, 5), 0.1, rng)
    assert set(OrderChecked(Always("fcc")).classify(frame).names) == {"fcc"}
    assert set(OrderChecked(Always("other")).classify(frame).names) == {"other"}


def test_pipelines_name_the_check():
    assert pipeline("nmcnn+avg12+order").name == "nmcnn+avg12+order"
    with pytest.raises(InputError, match="--check-order applies to the ML methods"):
        build_pipeline("ptm", check_order=True)
    with pytest.raises(InputError, match="between 0 and 1"):
        OrderChecked(Always("fcc"), ordered=1.5)


def test_the_shipped_signatures_are_what_the_code_computes():
    import json

    shipped = json.loads(SIGNATURE_FILE.read_text())
    assert shipped["ls"] == list(SIGNATURE_L)
    computed = compute_signatures()
    assert computed.keys() == shipped["signatures"].keys()
    for name, rows in computed.items():
        np.testing.assert_allclose(rows, shipped["signatures"][name], atol=2e-5, err_msg=name)


def test_mismatch_tells_one_crystal_from_another(rng):
    frame = gaussian_noise(lattice("fcc", 2.5, 5), 0.15, rng)
    q = RegionalOrder(ls=SIGNATURE_L, bonds="shell").compute_all(frame)
    limits = mismatch_thresholds()
    assert mismatch(q, np.full(len(frame), "fcc")).max() < limits["fcc"]
    assert mismatch(q, np.full(len(frame), "bcc")).min() > limits["bcc"]
    assert np.isnan(mismatch(q, np.full(len(frame), "ico"))).all()  # no signature: no verdict
    labels = OrderChecked(Always("fcc")).classify(gaussian_noise(lattice("bcc", 2.5, 6), 0.15, rng))
    assert set(labels.names) == {"unknown"}


def test_shell_bonds_keep_the_signature_when_atoms_are_missing(rng):
    # missing atoms remove shell bonds but add none from the second shell: diamond with half of
    # its atoms gone still fits diamond, and hexagonal ice-like diamond does not
    cd = gaussian_noise(lattice("cd", 2.5, 6), 0.1, rng)
    thinned = cd.select(rng.random(len(cd)) < 0.5)
    q = RegionalOrder(ls=SIGNATURE_L, bonds="shell").compute_all(thinned)
    assert np.percentile(mismatch(q, np.full(len(thinned), "cd")), 99) < mismatch_thresholds()["cd"]
    hd = gaussian_noise(lattice("hd", 2.5, 6), 0.1, rng)
    assert np.mean(OrderChecked(Always("cd")).classify(hd).names == "unknown") > 0.95
    with pytest.raises(InputError, match="bonds"):
        RegionalOrder(bonds="covalent")


def test_every_signature_has_a_threshold():
    assert set(signatures()) <= set(mismatch_thresholds())


@pytest.mark.parametrize("positions, box", [(np.array([[0.0, 0, 0], [1e5, 0, 0], [0, 1e5, 0], [0, 0, 1e5]]), 1e6),
                                            (np.array([[1.0, 1, 1], [1.0, 1, 1.5]]), 10.0)])
def test_sparse_frames_have_a_defined_order(positions, box):
    frame = Frame(positions=positions, cell=np.eye(3) * box, pbc=(True,) * 3, species=np.full(len(positions), "Ar"))
    labels = OrderChecked(Always("fcc")).classify(frame)
    assert np.isfinite(labels.extra["order"]).all() and len(labels) == len(positions)


def test_a_triclinic_cell_gives_the_crystals_order():
    # fcc in its primitive (rhombohedral) cell, 8 x 8 x 8: every region holds fcc bonds only
    a = 3.6
    primitive = a / 2 * np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]])
    steps = np.array(list(np.ndindex(8, 8, 8)), dtype=float)
    frame = Frame(positions=steps @ primitive, cell=8 * primitive, pbc=(True,) * 3,
                  species=np.full(len(steps), "Cu"))
    q = RegionalOrder().compute_all(frame)
    np.testing.assert_allclose(q[:, LS.index(6)], 0.57452, atol=2e-5)


def test_two_atoms_at_one_position_are_a_clear_error():
    positions = np.array([[1.0, 1, 1], [1.0, 1, 1], [3.0, 1, 1], [1.0, 3, 1], [1.0, 1, 3]])
    frame = Frame(positions=positions, cell=np.eye(3) * 10, pbc=(True,) * 3, species=np.full(5, "Ar"))
    for bonds in ("adaptive", "shell"):
        with pytest.raises(InputError, match="same position|coincid"):
            RegionalOrder(bonds=bonds).compute(frame)
