import warnings

import numpy as np
import pytest

from structid.errors import InputError, NotFittedError
from structid.lattices import gaussian_noise, lattice
from structid.models.less import LESS


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    frames, labels = [], []
    for name in ("fcc", "bcc", "hcp", "rocksalt"):
        for sigma in (0.05, 0.12):
            frames.append(gaussian_noise(lattice(name, 2.5, 3), sigma, rng))
            labels.append(name)
    return LESS().fit(frames, labels)


def test_classifies_held_out_noisy_lattices(model):
    for name in ("fcc", "bcc", "hcp", "rocksalt"):
        labels = model.classify(gaussian_noise(lattice(name, 3.1, 3), 0.1, 42))
        assert labels.fractions().get(name, 0) > 0.9, name
        assert np.allclose(labels.probabilities.sum(axis=1), 1, atol=1e-5)


def test_save_load_round_trip(model, tmp_path):
    frame = gaussian_noise(lattice("bcc", 2.5, 3), 0.1, 3)
    loaded = LESS.load(model.save(tmp_path / "less.pkl"))
    assert loaded.classes_ == model.classes_
    assert np.allclose(loaded.classify(frame).probabilities, model.classify(frame).probabilities)


def test_settings_survive_save_and_load(tmp_path):
    from structid.descriptors.steinhardt import Steinhardt

    frames = [gaussian_noise(lattice(n, 2.5, 3), 0.05, 1) for n in ("fcc", "bcc")]
    model = LESS(Steinhardt(ls=(4, 6), averaged=False), n_folds=3, seed=7, min_confidence=0.4).fit(frames, ["fcc", "bcc"])
    loaded = LESS.load(model.save(tmp_path / "m.pkl"))
    assert repr(loaded) == repr(model) and loaded.n_folds == 3 and loaded.seed == 7
    assert loaded.descriptor == model.descriptor
    frame = gaussian_noise(lattice("fcc", 2.6, 3), 0.08, 2)
    assert np.array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_pickled_files_are_refused_and_convert_pickled_upgrades_them(model, tmp_path):
    import lzma
    import pickle

    from structid.models.less import convert_pickled

    old = tmp_path / "v2.pkl"
    old.write_bytes(lzma.compress(pickle.dumps({
        "format": "structid-less", "version": 2, "features": model.descriptor.params(),
        "classes": list(model.classes_), "level0": model.level0_, "meta": model.meta_, "stats": model.stats_,
        "history": {**model.history_, "card": {"name": "old"}}})))
    with pytest.raises(InputError, match="pickled model .* can run code .*convert_pickled"):
        LESS.load(old)
    loaded = LESS.load(convert_pickled(old, tmp_path / "v2.pt"))
    frame = gaussian_noise(lattice("hcp", 2.5, 3), 0.08, 3)
    assert loaded.metadata_ == {"name": "old"} and "card" not in loaded.history_
    assert np.array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_base_models_can_be_swapped():
    from sklearn.tree import DecisionTreeClassifier

    frames = [lattice("fcc", 2.5, 2), lattice("bcc", 2.5, 3)]
    m = LESS(base_models=[("tree", lambda: DecisionTreeClassifier(random_state=0))]).fit(frames, ["fcc", "bcc"])
    assert len(m.level0_) == 2  # one model per class
    assert m.classify(lattice("fcc", 2.7, 2)).counts() == {"fcc": 32}


def test_errors(tmp_path):
    with pytest.raises(NotFittedError):
        LESS().classify(lattice("fcc", 2.5, 2))
    with pytest.raises(InputError, match="at least 5 samples"):
        LESS().fit_descriptors(np.zeros((6, 12)), ["fcc"] * 3 + ["bcc"] * 3)
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable structid model"):
        LESS.load(bad)


def test_extend_with_a_new_class(model):
    import copy

    rng = np.random.default_rng(1)
    extended = copy.deepcopy(model).extend([gaussian_noise(lattice("graphite", 1.42, 3), 0.03, rng)],
                                           "graphite", n_per_class=60)
    assert "graphite" in extended.classes_ and len(extended.classes_) == 5
    assert extended.classify(gaussian_noise(lattice("graphite", 1.42, 3), 0.03, 7)).fractions()["graphite"] > 0.9
    assert extended.classify(gaussian_noise(lattice("fcc", 2.5, 3), 0.08, 7)).fractions()["fcc"] > 0.9
    # the old one-vs-rest models are kept as trained on real data, one new model per base added
    x = model.descriptor.compute(gaussian_noise(lattice("hcp", 2.5, 3), 0.08, 8))
    old = [e for e in model.level0_ if e[0] is not None]
    kept = [e for e in extended.level0_ if e[0] is not None and e[0] < 4]
    assert len(kept) == len(old) and len(extended.level0_) == len(model.level0_) + len(old) // 4
    for (c, a), (k, b) in zip(old, kept):
        assert c == k and np.array_equal(a.predict_proba(x), b.predict_proba(x))
    with pytest.raises(InputError, match="already in the model"):
        extended.extend([lattice("fcc", 2.5, 2)], "fcc")
    with pytest.raises(InputError, match="only 4 atoms"):
        copy.deepcopy(model).extend([lattice("fcc", 2.5, 1)], "graphite")


def test_sampled_old_classes_are_confident_and_keep_constant_features(model):
    rng = np.random.default_rng(2)
    k = model.classes_.index("fcc")
    samples = model.sample_class("fcc", 200, rng)
    assert samples.shape == (200, model.descriptor.n_features)
    assert np.all(model.predict_proba_descriptors(samples)[:, k] > 0.8)
    # one species: the unlike-neighbour q_l are exactly zero in training, and stay so
    unlike = slice(len(model.descriptor.ls), 2 * len(model.descriptor.ls))
    assert np.all(samples[:, unlike] == 0)
    # samples spread like the training data rather than collapsing on the class mean
    x = model.descriptor.compute(gaussian_noise(lattice("fcc", 2.5, 3), 0.05, 0))
    assert samples[:, 1].std() > 0.2 * x[:, 1].std()


def test_train_classify_and_extend_on_the_command_line(tmp_path):
    from conftest import run_cli
    from structid.io.writers import write_frames

    rng = np.random.default_rng(5)
    specs = []
    for name in ("fcc", "bcc", "hcp"):
        path = tmp_path / f"{name}.extxyz"
        write_frames(path, [gaussian_noise(lattice(name, 2.5, 4), s, rng) for s in (0.04, 0.1)])
        specs.append(f"{name}={path}")
    model = tmp_path / "m.pkl"
    result = run_cli("train", "less", *specs, "-o", str(model), "--per-class", "200")
    assert result.returncode == 0, result.stderr
    test = tmp_path / "test.extxyz"
    write_frames(test, gaussian_noise(lattice("bcc", 3.0, 4), 0.08, rng))
    result = run_cli("classify", str(test), "--method", "less", "--model", str(model),
                     "--summary-json", str(tmp_path / "s.json"))
    assert result.returncode == 0, result.stderr
    import json

    assert json.loads((tmp_path / "s.json").read_text())["total"]["fractions"]["bcc"] > 0.95
    graphite = tmp_path / "graphite.extxyz"
    write_frames(graphite, gaussian_noise(lattice("graphite", 1.42, 3), 0.05, rng))
    bigger = tmp_path / "m2.pkl"
    result = run_cli("train", "less", str(graphite), "--extend", str(model), "--add", "graphite",
                     "-o", str(bigger), "--per-class", "60")
    assert result.returncode == 0, result.stderr
    assert LESS.load(bigger).classes_ == ("bcc", "fcc", "hcp", "graphite")  # new class last
    # the model being extended is never overwritten, and a class already known is refused
    again = run_cli("train", "less", str(graphite), "--extend", str(model), "--add", "fcc", "-o",
                    str(tmp_path / "m3.pkl"))
    assert again.returncode == 2 and "already in the model" in again.stderr
    same = run_cli("train", "less", str(graphite), "--extend", str(model), "--add", "graphite",
                   "-o", str(model), "--force")
    assert same.returncode == 2 and "is the model being extended" in same.stderr


def test_radius_vote_is_scikit_learns_radius_neighbors_classifier(rng):
    # the level-0 neighbour vote runs without scikit-learn's per-query loop: same probabilities
    # on random rows, with queries that reach no training row (zeros) and one that sits on a
    # training row (that row takes all the weight)
    from sklearn.neighbors import RadiusNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from structid.models.less import _predict_proba

    train = rng.normal(size=(400, 5))
    labels = rng.integers(0, 4, 400)
    model = make_pipeline(StandardScaler(), RadiusNeighborsClassifier(
        radius=1.0, weights="distance", outlier_label=-1)).fit(train, labels)
    x = np.vstack([rng.normal(size=(300, 5)), rng.normal(size=(20, 5)) + 40.0, train[:3]])
    with warnings.catch_warnings():  # scikit-learn on outliers with a label outside its classes
        warnings.simplefilter("ignore")
        expected = model.predict_proba(x)
    def refuse(_):
        raise AssertionError("scikit-learn's per-query loop ran")

    model[-1].predict_proba = refuse  # the vote must not fall back to it
    got = _predict_proba(model, x)
    assert np.array_equal(got, expected)
    assert not got[300:320].any() and got[300:].shape[0] == 23
    assert np.array_equal(got[320:], np.eye(4)[labels[:3]])
