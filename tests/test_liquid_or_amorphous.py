"""The default pipeline's split of disordered atoms into liquid and glass, and the choice of a
model by the frame's species."""

import numpy as np
import pytest

from structid.errors import InputError
from structid.frame import Frame
from structid.labels import CODE, Labels
from structid.lattices import lattice
from structid.models.compose import BySpecies, LiquidOrAmorphous

D = 2.55


class _Fixed:
    """A classifier that returns given codes (and, optionally, a region order)."""

    classes_ = ("fcc", "liquid", "amorphous", "unknown")

    def __init__(self, codes, order=None, name="fixed"):
        self.codes, self.order, self.name, self.calls = np.asarray(codes, dtype=np.int16), order, name, 0

    def classify(self, frame, neighbors=None):
        self.calls += 1
        extra = {} if self.order is None else {"order": np.asarray(self.order)}
        return Labels(codes=self.codes, classes=self.classes_, method=self.name,
                      extra=extra)


def test_only_disordered_atoms_take_the_glass_models_label():
    frame = lattice("fcc", D, 3)  # 108 atoms
    n = len(frame)
    first = np.array([CODE["fcc"], CODE["liquid"], CODE["amorphous"], CODE["unknown"], CODE["unknown"], CODE["other"]] * 18)
    order = np.tile([0.5, 0.05, 0.05, 0.05, 0.6, 0.05], 18)  # the 4th kind: unknown in a disordered region
    glass = np.full(n, CODE["amorphous"])
    labels = LiquidOrAmorphous(_Fixed(first, order), _Fixed(glass)).classify(frame)
    expected = [CODE["fcc"], CODE["amorphous"], CODE["amorphous"], CODE["amorphous"], CODE["unknown"], CODE["other"]] * 18
    assert labels.codes.tolist() == expected
    # the glass model's crystal labels are never taken, not even for a liquid atom
    glass_says_fcc = np.full(n, CODE["fcc"])
    assert np.array_equal(LiquidOrAmorphous(_Fixed(first, order), _Fixed(glass_says_fcc)).classify(frame).codes, first)


def test_the_glass_model_runs_only_when_some_atom_is_disordered():
    frame = lattice("fcc", D, 3)
    glass = _Fixed(np.full(len(frame), CODE["amorphous"]))
    crystal = _Fixed(np.full(len(frame), CODE["fcc"]), np.ones(len(frame)))
    assert set(LiquidOrAmorphous(crystal, glass).classify(frame).names) == {"fcc"} and glass.calls == 0


def test_without_an_order_column_the_region_order_is_computed():
    # a perfect crystal is ordered: its unknown atoms are not disordered ones and stay unknown
    frame = lattice("fcc", D, 4)
    first = np.full(len(frame), CODE["unknown"])
    labels = LiquidOrAmorphous(_Fixed(first), _Fixed(np.full(len(frame), CODE["liquid"]))).classify(frame)
    assert set(labels.names) == {"unknown"}
    with pytest.raises(InputError, match="order threshold"):
        LiquidOrAmorphous(_Fixed(first), _Fixed(first), ordered=0)


def test_the_frames_species_choose_the_model():
    cuzr, fallback = _Fixed([CODE["amorphous"]] * 4, name="cuzr"), _Fixed([CODE["liquid"]] * 4, name="any")
    by = BySpecies({("Cu", "Zr"): cuzr}, fallback)
    positions = np.eye(4, 3) * 3.0
    frame = Frame(cell=np.eye(3) * 20.0, positions=positions, species=np.array(["Zr", "Cu", "Cu", "Zr"]),
                  pbc=np.ones(3, bool))
    assert by.classify(frame).method == "cuzr"
    assert by.classify(frame.replace(species=np.array(["Cu"] * 4))).method == "any"  # pure Cu: not the alloy's model
    assert by.classify(frame.replace(species=np.array(["Cu", "Zr", "Al", "Cu"]))).method == "any"
    assert set(by.classes_) == {"fcc", "liquid", "amorphous", "unknown"}


def test_probabilities_follow_the_model_whose_label_is_taken():
    frame = lattice("fcc", D, 3)
    n = len(frame)
    first = _Fixed(np.where(np.arange(n) < 10, CODE["liquid"], CODE["fcc"]), np.zeros(n))
    first.classes_ = ("fcc", "liquid")
    first_p = np.tile([0.1, 0.9], (n, 1))
    first_p[10:] = [0.8, 0.2]
    glass = _Fixed(np.full(n, CODE["amorphous"]))
    glass.classes_ = ("liquid", "amorphous", "hcp")
    glass_p = np.tile([0.3, 0.6, 0.1], (n, 1))
    first.classify = lambda frame, neighbors=None: Labels(codes=first.codes, classes=first.classes_, probabilities=first_p)
    glass.classify = lambda frame, neighbors=None: Labels(codes=glass.codes, classes=glass.classes_, probabilities=glass_p)
    labels = LiquidOrAmorphous(first, glass).classify(frame)
    assert labels.classes == ("fcc", "liquid", "amorphous", "hcp")
    assert np.allclose(labels.probabilities[:10], [0, 0.3, 0.6, 0.1])
    assert np.allclose(labels.probabilities[10:], [0.8, 0.2, 0, 0])
    assert np.array_equal(labels.names[:10], ["amorphous"] * 10) and set(labels.names[10:]) == {"fcc"}


class _Always:
    """Every atom gets one label (what denoised PTM gives a crystal it pulled onto a known one)."""

    def __init__(self, name):
        self.name_ = name

    def classify(self, frame, neighbors=None):
        return Labels.from_names(np.full(len(frame), self.name_), method="always")


def test_signature_check_flags_an_unknown_crystal_taken_for_a_known_one(rng):
    from structid.lattices import gaussian_noise
    from structid.models.compose import SignatureChecked

    alpha_u = gaussian_noise(lattice("alpha-u", 2.75, 8), 0.03 * 2.75, rng)
    labels = SignatureChecked(_Always("hcp")).classify(alpha_u)
    assert np.mean(labels.names == "unknown") > 0.99 and np.isfinite(labels.extra["mismatch"]).all()
    # the lattice itself, hot, keeps its label
    for name, d in (("hcp", 3.2), ("fcc", 2.55), ("bcc", 2.48), ("cd", 2.35)):
        hot = gaussian_noise(lattice(name, d, 7), 0.06 * d, rng)
        assert set(SignatureChecked(_Always(name)).classify(hot).names) == {name}
    with pytest.raises(InputError, match="uniform share"):
        SignatureChecked(_Always("fcc"), uniform=0)


@pytest.mark.parametrize("sample,name,d", [("bicrystal", "fcc", 2.55), ("fault", "hcp", 3.2), ("twin", "fcc", 2.55),
                                           ("polycrystal", "bcc", 2.48), ("particle", "fcc", 2.55)])
def test_signature_check_leaves_boundaries_faults_and_surfaces_alone(sample, name, d, rng):
    # regions that mix orientations or stackings fit no single signature: they are not checked,
    # so the right labels there (truth: a-CNA on the perfect sample) stay
    from structid.lattices import gaussian_noise
    from structid.md import samples
    from structid.md.truth import truth_labels
    from structid.models.compose import SignatureChecked

    perfect = samples.build(sample, name, d, 3000)
    truth = truth_labels(perfect, name)

    class Truth:
        def classify(self, frame, neighbors=None):
            return Labels.from_names(truth, method="truth")

    labels = SignatureChecked(Truth()).classify(gaussian_noise(perfect, 0.05 * d, rng))
    assert np.array_equal(labels.names, truth)


def test_default_pipeline_does_not_take_alpha_uranium_for_hcp(rng):
    from structid.classical import PTM
    from structid.lattices import gaussian_noise
    from structid.registry import pipeline

    alpha_u = gaussian_noise(lattice("alpha-u", 2.75, 8), 0.03 * 2.75, rng)
    # the denoiser pulls it onto hcp, which PTM then finds everywhere
    assert np.mean(pipeline("ptm+denoise8").classify(alpha_u).names == "hcp") > 0.9
    assert np.mean(PTM().classify(alpha_u).names == "other") > 0.9
    assert np.mean(np.isin(pipeline("default").classify(alpha_u).names, ["unknown", "other"])) > 0.99


def test_crystal_pockets_take_the_glass_models_label_and_crystals_keep_theirs():
    # half of the frame a crystal, the other half disordered with a pocket of one atom and its
    # 12 neighbours called fcc: the pocket is disordered, the crystal's inside stays fcc
    frame = lattice("fcc", D, 8)  # 2,048 atoms
    x = frame.positions[:, 0]
    crystal = x < x.max() / 2
    centre = int(np.argmin(np.linalg.norm(frame.positions - frame.positions.mean(axis=0) - [D * 2.5, 0, 0], axis=1)))
    pocket = np.linalg.norm(frame.positions - frame.positions[centre], axis=1) < 1.1 * D
    assert pocket.sum() == 13 and not (pocket & crystal).any()
    first = np.where(crystal | pocket, CODE["fcc"], CODE["liquid"])
    order = np.where(crystal, 0.6, 0.05)
    glass = _Fixed(np.full(len(frame), CODE["amorphous"]))
    plain = LiquidOrAmorphous(_Fixed(first, order), glass).classify(frame).codes
    assert np.all(plain[pocket] == CODE["fcc"])
    codes = LiquidOrAmorphous(_Fixed(first, order), glass, pocket_share=0.7).classify(frame).codes
    assert np.all(codes[pocket] == CODE["amorphous"])
    deep = (x > 2 * D) & (x < x.max() / 2 - 2 * D)  # two layers and more from both interfaces (periodic)
    assert deep.sum() > 200 and np.all(codes[deep] == CODE["fcc"])
    # a crystal with holes (every third atom not crystalline) keeps every crystal label
    holes = np.where(np.arange(len(frame)) % 3 == 0, CODE["liquid"], CODE["fcc"])
    codes = LiquidOrAmorphous(_Fixed(holes, np.full(len(frame), 0.6)), glass, pocket_share=0.5).classify(frame).codes
    assert np.array_equal(codes == CODE["fcc"], holes == CODE["fcc"])
    with pytest.raises(InputError, match="pocket_share"):
        LiquidOrAmorphous(_Fixed(first), glass, pocket_share=1.5)
