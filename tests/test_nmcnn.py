import numpy as np
import pytest
import torch

from structid.descriptors.neighbors_map import NeighborsMap
from structid.errors import InputError, NotFittedError
from structid.lattices import gaussian_noise, lattice
from structid.md.store import labelled_frames
from structid.models.nmcnn import NMCNN, build_network
from structid.registry import get_classifier


def test_network_matches_the_paper():
    net = build_network(1, 2)
    net(torch.zeros(2, 1, 32, 32))
    # Appendix A: 416 + 4640 + 4624 + 2320 + 2080 + 12312 + 48 (BatchNorm) + 50 (2 classes)
    assert sum(p.numel() for p in net.parameters()) == 26490


def test_pool_first_has_the_same_layers_and_a_smaller_first_feature_map():
    paper, early = build_network(1, 2), build_network(1, 2, "pool-first")
    x = torch.zeros(2, 1, 32, 32)
    paper(x), early(x)
    assert [p.shape for p in paper.parameters()] == [p.shape for p in early.parameters()]
    # the 16->32 convolution sees 32x32 pixels in the paper's network, 16x16 in pool-first
    assert paper[:4](x).shape[-1] == 32 and early[:5](x).shape[-1] == 16
    with pytest.raises(InputError, match="architecture"):
        build_network(1, 2, "huge")


@pytest.fixture(scope="module")
def tiny_model():
    rng = np.random.default_rng(3)
    frames = [gaussian_noise(lattice(n, 2.5, 3), 0.08, rng) for n in ("fcc", "bcc") for _ in range(2)]
    labels = ["fcc", "fcc", "bcc", "bcc"]
    return NMCNN(NeighborsMap(size=16, scale="auto"), epochs=6, batch_size=16, seed=1).fit(frames, labels)


def test_learns_two_easy_classes(tiny_model):
    assert tiny_model.classes_ == ("bcc", "fcc")
    history = tiny_model.history_
    best = max(e["val_accuracy"] for e in history["epochs"])
    assert best >= 0.9 and history["epochs"][history["best_epoch"] - 1]["val_accuracy"] == best
    # the kept weights are those of the best epoch: their confusion matrix gives its accuracy
    confusion = np.array(history["confusion"])
    assert np.trace(confusion) / confusion.sum() == pytest.approx(best)
    labels = tiny_model.classify(gaussian_noise(lattice("fcc", 3.0, 3), 0.1, 7))
    assert labels.fractions().get("fcc", 0) > 0.9
    assert labels.probabilities.shape == (108, 2)
    assert np.allclose(labels.probabilities.sum(axis=1), 1, atol=1e-5)


def test_save_load_round_trip(tiny_model, tmp_path):
    frame = gaussian_noise(lattice("bcc", 2.5, 3), 0.1, 9)
    path = tiny_model.save(tmp_path / "m.pt", metadata={"note": "test"})
    loaded = NMCNN.load(path)
    assert loaded.classes_ == tiny_model.classes_ and loaded.metadata_ == {"note": "test"}
    assert loaded.descriptor.params() == tiny_model.descriptor.params()
    assert np.allclose(loaded.classify(frame).probabilities, tiny_model.classify(frame).probabilities, atol=1e-6)


def test_settings_survive_save_and_load(tmp_path):
    model = NMCNN(NeighborsMap(size=16, scale="auto"), epochs=1, batch_size=8, learning_rate=3e-3, seed=4,
                  architecture="pool-first", min_confidence=0.3)
    frames = [gaussian_noise(lattice(n, 2.5, 2), 0.05, 0) for n in ("fcc", "bcc")]
    model.fit(frames, ["fcc", "bcc"])
    loaded = NMCNN.load(model.save(tmp_path / "m.pt"))
    assert repr(loaded) == repr(model)
    assert {k: v for k, v in loaded.get_params().items() if k != "descriptor"} == \
        {k: v for k, v in model.get_params().items() if k != "descriptor"}
    assert NMCNN.load(tmp_path / "m.pt", min_confidence=0.9).min_confidence == 0.9


def test_reads_the_version_1_file_layout(tiny_model, tmp_path):
    old = tmp_path / "v1.pt"
    torch.save({"format": "structid-nmcnn", "version": 1, "descriptor": tiny_model.descriptor.params(),
                "architecture": tiny_model.architecture, "classes": list(tiny_model.classes_),
                "channels": tiny_model.descriptor.channels, "state_dict": tiny_model.network_.state_dict(),
                "history": tiny_model.history_, "metadata": {"from": "v1"}}, old)
    loaded = NMCNN.load(old)
    frame = gaussian_noise(lattice("fcc", 2.5, 3), 0.1, 2)
    assert loaded.metadata_ == {"from": "v1"}
    assert np.array_equal(loaded.predict_proba(frame), tiny_model.predict_proba(frame))


def test_min_confidence_gives_unknown(tiny_model):
    frame = gaussian_noise(lattice("sc", 2.5, 3), 0.3, 1)
    tiny_model.min_confidence = 0.999999
    try:
        assert "unknown" in tiny_model.classify(frame).counts()
    finally:
        tiny_model.min_confidence = 0.0


def test_bad_model_files(tmp_path, tiny_model):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="not a readable structid model"):
        NMCNN.load(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "structid-model", "kind": "nmcnn", "version": 99}, other)
    with pytest.raises(InputError, match="file version 99"):
        NMCNN.load(other)
    with pytest.raises(InputError, match="no such model file"):
        NMCNN.load(tmp_path / "missing.pt")


def test_unknown_class_names_and_unfitted():
    with pytest.raises(InputError, match="unknown structure name 'bct'"):
        NMCNN(epochs=1).fit_descriptors(np.zeros((4, 1, 32, 32)), ["bct", "fcc", "bct", "fcc"])
    with pytest.raises(NotFittedError):
        NMCNN().classify(lattice("fcc", 2.5, 2))


def test_train_cli_and_classify_with_the_model(tmp_path):
    from conftest import run_cli
    from structid.io.writers import write_frames

    for name in ("fcc", "bcc"):
        write_frames(tmp_path / f"{name}.extxyz", gaussian_noise(lattice(name, 2.5, 3), 0.05, 1))
    model = tmp_path / "m.pt"
    result = run_cli("train", "nmcnn", f"fcc={tmp_path / 'fcc.extxyz'}", f"bcc={tmp_path / 'bcc.extxyz'}",
                     "--epochs", "2", "--missing", "0.2", "-o", model)
    assert result.returncode == 0, result.stderr
    assert "validation accuracy" in result.stdout and model.exists()
    result = run_cli("classify", tmp_path / "fcc.extxyz", "-m", "nmcnn", "--model", model,
                     "--min-confidence", "0.5", "-o", tmp_path / "out.extxyz")
    assert result.returncode == 0, result.stderr
    bad = run_cli("train", "nmcnn", f"fcx={tmp_path / 'fcc.extxyz'}", "-o", tmp_path / "x.pt")
    assert bad.returncode == 2 and "unknown structure name 'fcx'" in bad.stderr


def test_frozen_inference_network_matches_the_trained_one(tiny_model):
    from structid.models.nmcnn import _predict

    maps = np.concatenate([tiny_model.descriptor.compute(gaussian_noise(lattice(n, 2.7, 3), 0.08, 11))
                           for n in ("fcc", "bcc")])
    frozen = tiny_model.predict_proba_descriptors(maps)
    assert isinstance(tiny_model._frozen, torch.jit.ScriptModule)  # the frozen graph really ran
    eager = _predict(tiny_model.network_, torch.from_numpy(maps), 64)
    assert np.allclose(frozen, eager, atol=1e-5)
    assert np.array_equal(frozen.argmax(1), eager.argmax(1))


def test_batches_and_threads_do_not_change_predictions(tiny_model):
    from structid.models.nmcnn import _predict

    x = torch.from_numpy(tiny_model.descriptor.compute(gaussian_noise(lattice("bcc", 2.5, 3), 0.1, 4)))
    whole = _predict(tiny_model.network_, x, 10_000)
    assert np.allclose(_predict(tiny_model.network_, x, 7), whole, atol=1e-6)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert np.allclose(_predict(tiny_model.network_, x, 7), whole, atol=1e-6)
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads


def test_shipped_training_set_takes_more_atoms_from_the_runs_at_tm(quick_al, monkeypatch):
    from structid.training import nmcnn as build

    root, _ = quick_al
    monkeypatch.setattr(build, "TRAIN_FRAMES", (0,))
    _, maps, labels, sources = build.nmcnn_training_set(root, seed=0, atoms_per_map_set=50,
                                                        melting_factor=3)
    assert sources == ["dc3/al/crystal-th0.25#0", "dc3/al/liquid-th1.00#0"]
    assert dict(zip(*np.unique(labels, return_counts=True))) == {"fcc": 6 * 50, "liquid": 6 * 150}
    # ideal lattices: 3 noise levels x 6 missing shares each, after the MD frames
    _, more_maps, more, sources = build.nmcnn_training_set(root, seed=0, atoms_per_map_set=50,
                                                           melting_factor=3, ideal_atoms=10)
    assert sources[2:] == ["lattice/bcc", "lattice/cd", "lattice/fcc", "lattice/hcp"]
    assert np.array_equal(more[:len(labels)], labels)
    assert dict(zip(*np.unique(more[len(labels):], return_counts=True))) == {
        name: 3 * 6 * 10 for name in ("bcc", "cd", "fcc", "hcp")}
    # bcc: the perfect lattice (all sites alike) first, then noise 0.01 with no atom removed
    bcc = more_maps[len(labels):len(labels) + 180].reshape(180, -1)
    assert len(np.unique(bcc[:10].round(4), axis=0)) == 1
    assert len(np.unique(bcc[60:70].round(4), axis=0)) == 10
    # the noisy extra copies are of crystals at Tm only: none of a cold crystal or a liquid
    _, _, same, _ = build.nmcnn_training_set(root, seed=0, atoms_per_map_set=50, melting_factor=3,
                                             hot_noise=0.02)
    assert np.array_equal(same, labels)
    # at 50 % removed the liquid frame has fewer than 150 atoms left: fresh removals fill the rest
    n_atoms = len(next(labelled_frames(root, "dc3", ["al"], {"liquid"}, (0,))).frame)
    assert n_atoms // 2 < 150
    assert len(np.unique(maps[-150:].reshape(150, -1), axis=0)) > n_atoms // 2


@pytest.mark.parametrize("name", ["fcc", "bcc", "hcp", "cd"])
@pytest.mark.parametrize("noise", [0.0, 0.04])
def test_shipped_model_knows_lattices_with_a_third_of_the_atoms_missing(name, noise):
    from structid.lattices import remove_atoms

    model = get_classifier("nmcnn")  # nmcnn-metals, by default
    assert model.classes_ == ("bcc", "cd", "fcc", "hcp", "liquid")
    rng = np.random.default_rng(5)
    # Gaussian noise in nearest-neighbour distances d per coordinate (0.04: 0.07 d rms
    # displacement); the perfect lattice is colder than any MD frame the model learnt from
    frame = remove_atoms(gaussian_noise(lattice(name, 2.8, 5), noise * 2.8, rng), 0.3, rng)
    assert model.classify(frame).fractions().get(name, 0) > 0.98


def test_shipped_model_calls_a_real_liquid_liquid(quick_al):
    root, _ = quick_al
    liquid = next(labelled_frames(root, "dc3", ["al"], {"liquid"})).frame
    assert get_classifier("nmcnn").classify(liquid).fractions().get("liquid", 0) > 0.95


def test_glass_variant_adds_the_checked_quench_snapshots(quick_al, tmp_path, monkeypatch):
    import shutil

    from structid.md.dynamics import check_run
    from structid.md.recipes import Schedule, quench_runs
    from structid.md.simulate import execute
    from structid.md.store import finished_runs
    from structid.md.systems import GLASS
    from structid.training import nmcnn as build

    root, _ = quick_al
    shutil.copytree(root / "md" / "dc3", tmp_path / "md" / "dc3")
    (run,) = quench_runs([GLASS["ni"]], Schedule(equilibrate=1.0, sample=1.0, frames=3, melt=1.0), (2.0,), 4, 256, 0)
    execute(run, tmp_path, threads=1)
    monkeypatch.setattr(build, "TRAIN_FRAMES", (0,))
    monkeypatch.setattr(build, "GLASS_SYSTEMS", ["ni"])
    _, _, labels, _ = build.nmcnn_training_set(tmp_path, seed=0, atoms_per_map_set=50, melting_factor=3)
    _, maps, more, sources = build.nmcnn_training_set(tmp_path, seed=0, atoms_per_map_set=50, melting_factor=3,
                                                      glass=True)
    # the DC3 part is unchanged; then the checked quench snapshots, each with 6 shares removed
    assert np.array_equal(more[:len(labels)], labels)
    kept = {c.label: len(c.used) for c in check_run(finished_runs(tmp_path, "quench")[0])}
    assert kept["amorphous"] >= 2 and kept["liquid"] >= 1
    assert dict(zip(*np.unique(more[len(labels):], return_counts=True))) == {
        "fcc": 3 * 6 * build.QUENCH_CRYSTAL_ATOMS, "liquid": kept["liquid"] * 6 * build.GLASS_ATOMS["liquid"],
        "amorphous": kept["amorphous"] * 6 * build.GLASS_ATOMS["amorphous"]}
    windows = [s for s in sources if isinstance(s, dict)]
    assert sorted(w["label"] for w in windows) == ["amorphous", "liquid"] and all(w["used"] for w in windows)
    assert np.isfinite(maps).all()


def test_cuzr_model_reads_two_channels_and_refuses_other_species(tmp_path):
    from conftest import assert_one_line_error, run_cli

    from structid.io.writers import write_frames

    model = get_classifier("nmcnn", model="nmcnn-cuzr")
    assert model.classes_ == ("amorphous", "liquid") and model.descriptor.channels == 2
    assert model.descriptor.channel_weights == [{"Cu": 1.0, "Zr": -1.0}]
    ni = lattice("fcc", 2.49, 4, species="Ni")
    with pytest.raises(InputError, match="species Ni has no weight in map channel 1"):
        model.classify(ni)
    path = write_frames(tmp_path / "ni.extxyz", ni)
    result = run_cli("classify", path, "-m", "nmcnn", "--model", "nmcnn-cuzr", "-o", tmp_path / "out.extxyz")
    assert_one_line_error(result, "species Ni has no weight")
    assert not (tmp_path / "out.extxyz").exists()
