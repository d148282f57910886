import numpy as np
import pytest

from conftest import random_triclinic_cell, run_cli
from structid.classical import AdaptiveCNA
from structid.errors import InputError, NotFittedError
from structid.frame import Frame
from structid.lattices import gaussian_noise, lattice, random_rotation_matrix, rotate
from structid.models.compose import Denoised
from structid.models.denoiser import Denoiser
from structid.neighbors import nn_distance
from structid.registry import get_denoiser


@pytest.fixture(scope="module")
def untrained():
    return Denoiser(steps=0, seed=3).fit()  # random weights: equivariance holds for any weights


@pytest.fixture(scope="module")
def shipped():
    return get_denoiser()


def random_frame(rng, n=40):
    cell = random_triclinic_cell(rng, 9.0)
    return Frame(positions=rng.random((n, 3)) @ cell, cell=cell, pbc=True, species=np.full(n, "Cu"))


def test_network_is_small():
    assert Denoiser().n_parameters < 1_000_000


def test_equivariant_under_rotation_reflection_translation_permutation(untrained, rng):
    frame = random_frame(rng)
    d = nn_distance(frame, 4)
    out = untrained.displacements(frame, scale=d)
    assert np.abs(out).max() > 1e-3  # not trivially zero
    rotation = random_rotation_matrix(rng) @ np.diag([1.0, 1.0, -1.0])  # improper: a reflection
    assert np.allclose(untrained.displacements(rotate(frame, rotation), scale=d), out @ rotation.T, atol=1e-5)
    shifted = frame.replace(positions=frame.positions + [1.3, -2.1, 0.7])
    assert np.allclose(untrained.displacements(shifted, scale=d), out, atol=1e-5)
    order = rng.permutation(len(frame))
    assert np.allclose(untrained.displacements(frame.select(order), scale=d), out[order], atol=1e-5)


def test_first_shell_distance_of_lattices():
    for name in ("fcc", "bcc", "hcp", "cd", "sc"):
        assert nn_distance(lattice(name, 2.7, 3), 4) == pytest.approx(2.7)


@pytest.mark.parametrize("name", ["fcc", "bcc", "hcp"])
def test_ideal_lattice_is_a_fixed_point(shipped, name):
    frame = rotate(lattice(name, 2.9, 4), random_rotation_matrix(7))
    assert np.abs(shipped.displacements(frame)).max() < 0.01 * 2.9


@pytest.mark.parametrize("name", ["fcc", "bcc", "hcp"])
def test_removes_noise_and_restores_acna(shipped, name):
    d = 2.55
    ideal = lattice(name, d, (6, 6, 6) if name != "hcp" else (6, 6, 4))
    noisy = gaussian_noise(ideal, 0.08 * d, 11)
    clean = shipped.denoise(noisy, 8).frame
    shift = clean.positions - ideal.positions
    shift -= np.round(shift @ np.linalg.inv(ideal.cell)) @ ideal.cell
    shift -= shift.mean(axis=0)
    assert np.sqrt((shift ** 2).sum(axis=1).mean()) / d < 0.02
    assert np.mean(AdaptiveCNA().classify(clean).names == name) >= 0.99
    assert np.mean(AdaptiveCNA().classify(noisy).names == name) < 0.9  # the noise mattered


def test_fixed_scale_of_a_noisy_frame_is_what_reestimation_avoids(shipped):
    # the first-shell distance of a noisy frame is short; kept fixed, bcc drifts off its lattice
    d = 2.5
    ideal = lattice("bcc", d, 6)
    noisy = gaussian_noise(ideal, 0.08 * d, 0)
    short = nn_distance(noisy, 4)
    assert short < 0.95 * d

    def rmsd(frame):
        shift = frame.positions - ideal.positions
        shift -= np.round(shift @ np.linalg.inv(ideal.cell)) @ ideal.cell
        return np.sqrt(((shift - shift.mean(axis=0)) ** 2).sum(axis=1).mean()) / d

    assert rmsd(shipped.denoise(noisy, 8).frame) < 0.01
    assert rmsd(shipped.denoise(noisy, 8, scale=d).frame) < 0.01  # the true scale is fine too
    assert rmsd(shipped.denoise(noisy, 8, scale=short).frame) > 0.03


def test_liquid_stays_disordered(shipped, quick_al):
    from structid.io.readers import open_trajectory

    root, runs = quick_al
    liquid = list(open_trajectory(runs[1].paths(root)[0]))[-1]
    result = shipped.denoise(liquid, 8)
    assert max(result.max_step) > 0.05 * nn_distance(liquid, 4)  # the atoms did move
    assert np.mean(AdaptiveCNA().classify(result.frame).names == "other") >= 0.9


@pytest.mark.parametrize("name", ["cd", "sc"])
def test_dc3_model_restores_open_lattices(name):
    from structid.classical import PTM

    model = get_denoiser("denoiser-dc3")  # a shipped model by name
    assert set(model.lattices) == {"fcc", "bcc", "hcp", "cd", "hd", "sc"}
    noisy = gaussian_noise(lattice(name, 2.4, 5), 0.1 * 2.4, 3)
    assert np.mean(PTM().classify(noisy).names == name) < 0.9
    assert np.mean(PTM().classify(model.denoise(noisy, 8).frame).names == name) >= 0.99


def test_point_defects_stay_non_crystalline_locally(shipped):
    d = 2.55
    ideal = lattice("fcc", d, 6)
    site = int(np.argmin(np.linalg.norm(ideal.positions - ideal.cell.sum(axis=0) / 2, axis=1)))
    vacancy = gaussian_noise(ideal.select(np.arange(len(ideal)) != site), 0.05 * d, 1)
    labels = AdaptiveCNA().classify(shipped.denoise(vacancy, 8).frame).names
    # the 12 former neighbours of the removed atom lose their 12-neighbour fcc shell
    near = np.linalg.norm(vacancy.positions - ideal.positions[site], axis=1) < 1.2 * d
    assert near.sum() == 12 and np.mean(labels[near] != "fcc") > 0.8
    extra = ideal.positions[site] + np.array([0.5, 0.5, 0.0]) * d / np.sqrt(2)
    interstitial = gaussian_noise(ideal.replace(positions=np.vstack([ideal.positions, extra]),
                                                species=np.append(ideal.species, "Cu"),
                                                ids=np.arange(1, len(ideal) + 2)), 0.05 * d, 2)
    labels = AdaptiveCNA().classify(shipped.denoise(interstitial, 8).frame).names
    assert labels[-1] != "fcc"


def test_denoised_classifier_composes(shipped):
    from structid.classical import PTM

    noisy = gaussian_noise(lattice("bcc", 2.5, 5), 0.09 * 2.5, 4)
    labels = Denoised(shipped, PTM(), 8).classify(noisy)
    assert labels.method == "ptm+denoise8" and len(labels.codes) == len(noisy)
    assert np.mean(labels.names == "bcc") > 0.99


def test_errors(tmp_path):
    with pytest.raises(NotFittedError):
        Denoiser().denoise(lattice("fcc", 2.5, 2))
    with pytest.raises(InputError, match="cannot be estimated"):
        nn_distance(lattice("fcc", 2.5, 1).select([0]))
    with pytest.raises(InputError, match="species Zr not known"):
        Denoiser(species=("Cu",), steps=0).fit().denoise(lattice("fcc", 2.5, 2).replace(species=np.full(32, "Zr")))
    with pytest.raises(InputError, match="no such model file"):
        get_denoiser("denoiser-nonexistent")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(InputError, match="not a readable structid model"):
        Denoiser.load(bad)


def test_species_embedding_trains_on_rocksalt(rng):
    model = Denoiser(["rocksalt", "fcc"], species=("Na", "Cl"), steps=3, batch=2, seed=2).fit()
    frame = gaussian_noise(lattice("rocksalt", 2.8, 3), 0.1, 5)
    swapped = frame.replace(species=np.where(frame.species == "Na", "Cl", "Na"))
    # the two elements have their own embedding: swapping them changes the displacements
    assert not np.allclose(model.displacements(frame), model.displacements(swapped), atol=1e-6)
    with pytest.raises(InputError, match="2 sublattices"):
        Denoiser(["rocksalt"], species=("Na",), steps=1).fit()


def test_training_resumes_from_a_checkpoint(tmp_path):
    straight = Denoiser(["fcc"], steps=6, batch=1, seed=1).fit()

    class Stop(Exception):
        pass

    def interrupt(event):
        if event["step"] == 3:
            raise Stop

    ckpt = tmp_path / "c.ckpt"
    with pytest.raises(Stop):
        Denoiser(["fcc"], steps=6, batch=1, seed=1).fit(checkpoint=ckpt, checkpoint_every=3, progress=interrupt)
    # a new run goes on from step 3 with the saved weights, optimiser, schedule and rng
    resumed = Denoiser(["fcc"], steps=6, batch=1, seed=1).fit(checkpoint=ckpt, checkpoint_every=3)
    for a, b in zip(straight.net_.state_dict().values(), resumed.net_.state_dict().values()):
        assert np.allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_denoise_cli_writes_output_and_never_overwrites_input(tmp_path):
    from structid.io.readers import open_trajectory
    from structid.io.writers import write_frames

    path = tmp_path / "in.extxyz"
    write_frames(path, gaussian_noise(lattice("fcc", 2.55, 4), 0.2, 0))
    before = path.read_bytes()
    result = run_cli("denoise", str(path), "-o", str(path), "--force")
    assert result.returncode == 2 and path.read_bytes() == before
    out = tmp_path / "out.extxyz"
    result = run_cli("denoise", str(path), "-o", str(out), "--save-trajectory", "--iterations", "3")
    assert result.returncode == 0, result.stderr
    frames = list(open_trajectory(out))
    assert 2 <= len(frames) <= 4  # the input, then one frame per iteration
    result = run_cli("classify", str(path), "--method", "acna", "--denoise", "8",
                     "--summary-json", str(tmp_path / "s.json"), "-o", str(tmp_path / "l.extxyz"))
    assert result.returncode == 0, result.stderr
    import json

    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["method"] == "acna+denoise8" and summary["total"]["fractions"]["fcc"] > 0.99


def test_settings_round_trip_and_construction_has_no_side_effects(tmp_path):
    import torch

    state = torch.random.get_rng_state()
    model = Denoiser(["fcc", "bcc"], steps=0, sigma_max=0.1, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # __init__ only stores its arguments
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m.pt")
    model.fit()
    loaded = Denoiser.load(model.save(tmp_path / "m.pt"))
    assert loaded.get_params() == model.get_params()
    frame = gaussian_noise(lattice("fcc", 2.5, 3), 0.1, 0)
    assert np.array_equal(loaded.displacements(frame), model.displacements(frame))


def test_a_given_neighbour_list_gives_the_same_denoising(shipped):
    from structid.neighbors import neighbor_list

    noisy = gaussian_noise(lattice("fcc", 2.55, 5), 0.08 * 2.55, 9)
    given = neighbor_list(noisy, 1.6 * 2.55)
    assert np.allclose(shipped.denoise(noisy, 3, neighbors=given).frame.positions,
                       shipped.denoise(noisy, 3).frame.positions, atol=1e-5)


def test_compiled_kernels_and_blocks_give_the_torch_layers_denoising(shipped, monkeypatch, rng):
    # inference runs compiled kernels (bond vectors, messages) and updates big frames a block of
    # atoms at a time; the plain torch layers on the whole frame are the reference, also in a
    # triclinic cell where pairs cross the boundary
    import structid.models.denoiser as module
    import structid.models.denoiser_network as network

    noisy = gaussian_noise(rotate(lattice("bcc", 2.48, 6), random_rotation_matrix(rng)), 0.06 * 2.48, rng)
    noisy = noisy.replace(cell=noisy.cell + np.array([[0, 0, 0], [1.5, 0, 0], [0.7, -1.1, 0]]), pbc=True).wrapped()
    whole = shipped.denoise(noisy, 4, tolerance=0.0)
    kernel_edges = module.edges_within
    # without offsets the network runs its torch layers
    monkeypatch.setattr(module, "edges_within", lambda *args: (*kernel_edges(*args)[:3], None))
    monkeypatch.setattr(network, "ATOM_BLOCK", 101)
    blocked = shipped.denoise(noisy, 4, tolerance=0.0)
    assert whole.iterations == blocked.iterations == 4
    assert np.allclose(blocked.frame.positions, whole.frame.positions, atol=1e-5)
    assert not np.array_equal(blocked.frame.positions, noisy.positions)
    assert not np.array_equal(blocked.frame.positions, whole.frame.positions)  # two paths ran
    assert np.array_equal(AdaptiveCNA().classify(blocked.frame).codes, AdaptiveCNA().classify(whole.frame).codes)


def test_pair_list_kernels_are_the_neighbor_lists_vectors_and_distances(rng):
    # the denoiser's bond vectors and nearest distances from its int32 pair list, against the
    # neighbour list of the same frame (triclinic, periodic in two directions)
    from structid.models.denoiser_kernels import edges_within, nearest_distances
    from structid.neighbors import neighbor_list, pair_list

    cell = random_triclinic_cell(rng, 9.0)
    frame = Frame(positions=rng.random((150, 3)) @ cell, cell=cell, pbc=np.array([True, True, False]),
                  species=np.full(150, "Cu"))
    j, shifts, offsets = pair_list(frame, 3.4)
    d, cutoff = 2.0, 1.3  # edges within 2.6 Å, vectors in units of 2 Å
    i_in, j_in, vectors, within = edges_within(frame.positions, frame.cell, offsets, j, shifts, d, cutoff)
    reference = neighbor_list(frame, d * cutoff)
    assert np.array_equal(i_in, reference.i) and np.array_equal(j_in, reference.j)
    assert np.array_equal(within, reference.offsets)
    assert np.allclose(vectors * d, reference.vectors, atol=1e-5) and vectors.dtype == np.float32
    near = nearest_distances(frame.positions, frame.cell, offsets, j, shifts, 4)
    full = neighbor_list(frame, 3.4)
    counts = full.counts()
    for a in rng.choice(len(frame), 20, replace=False):
        expected = full.distances[full.offsets[a]:full.offsets[a + 1]][:4]
        assert np.allclose(near[a, :len(expected)], expected) and np.all(np.isinf(near[a, counts[a]:]))


@pytest.mark.parametrize("n_rbf", [5, 8])
def test_compiled_messages_are_the_torch_layers_sums(n_rbf, rng):
    # random weights and features, uneven neighbour counts, bonds past the cutoff and of zero
    # length: the fused kernel against the layer's torch code
    import torch

    from structid.models.denoiser_network import CUTOFF, build_network

    torch.manual_seed(3)
    net = build_network(1, 16, 2, n_rbf).eval()
    n = 40
    i = np.sort(rng.integers(0, n, 500)).astype(np.int32)
    j = rng.integers(0, n, 500).astype(np.int32)
    vectors = rng.normal(scale=0.8, size=(500, 3)).astype(np.float32)
    vectors[7] = 0.0
    assert (np.linalg.norm(vectors, axis=1) > CUTOFF).any()
    offsets = np.searchsorted(i, np.arange(n + 1))
    s = torch.from_numpy(rng.normal(size=(n, 16)).astype(np.float32))
    v = torch.from_numpy(rng.normal(size=(n, 3, 16)).astype(np.float32))
    message = net.messages[0]
    with torch.no_grad():
        for first in (True, False):
            reference = message(s, v, torch.from_numpy(i), torch.from_numpy(j), torch.from_numpy(vectors),
                                net.geometry, 64, first=first)
            fused = message.fused(s, v, offsets, torch.from_numpy(j), torch.from_numpy(vectors),
                                  net.centers, first=first)
            for a, b in zip(reference, fused):
                assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
