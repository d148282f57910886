import numpy as np
import pytest

from structid.errors import InputError
from structid.labels import CODE, DISPLAY, VOCABULARY, Labels, names_from_column


def test_from_probabilities_takes_the_most_likely_class_and_unknown_below_the_threshold(rng):
    classes = ("liquid", "fcc", "bcc")
    p = rng.dirichlet(np.ones(3), size=200).astype(np.float32)
    labels = Labels.from_probabilities(p, classes, method="m")
    np.testing.assert_array_equal(labels.codes, [CODE[classes[k]] for k in p.argmax(axis=1)])
    assert labels.classes == classes and labels.method == "m"
    np.testing.assert_array_equal(labels.probabilities, p)
    unsure = Labels.from_probabilities(p, classes, min_confidence=0.6)
    low = p.max(axis=1) < 0.6
    assert low.any() and (~low).any()
    assert (unsure.codes[low] == CODE["unknown"]).all()
    np.testing.assert_array_equal(unsure.codes[~low], labels.codes[~low])


def test_from_probabilities_of_no_atoms_and_bad_input():
    empty = Labels.from_probabilities(np.zeros((0, 2)), ("fcc", "bcc"), 0.5)
    assert len(empty) == 0 and empty.probabilities.shape == (0, 2)
    with pytest.raises(InputError, match="min_confidence"):
        Labels.from_probabilities(np.ones((1, 1)), ("fcc",), 1.5)
    with pytest.raises(InputError, match="unknown structure name"):
        Labels.from_probabilities(np.ones((1, 1)), ("bct",))
    with pytest.raises(ValueError, match="shape"):
        Labels.from_probabilities(np.ones((3, 2)), ("fcc",))


def test_ids_are_ovitos_structure_types():
    """Codes 0-8 are the ids of OVITO's PTM (and a-CNA) structure types, with
    OVITO's colours."""
    from ovito.modifiers import CommonNeighborAnalysisModifier as CNA
    from ovito.modifiers import PolyhedralTemplateMatchingModifier as PTM

    T = PTM.Type
    expected = {"other": T.OTHER, "fcc": T.FCC, "hcp": T.HCP, "bcc": T.BCC, "ico": T.ICO, "sc": T.SC,
                "cd": T.CUBIC_DIAMOND, "hd": T.HEX_DIAMOND, "graphite": T.GRAPHENE}
    assert {name: CODE[name] for name in expected} == {k: int(v) for k, v in expected.items()}
    assert (CODE["fcc"], CODE["hcp"], CODE["bcc"], CODE["ico"]) == (
        int(CNA.Type.FCC), int(CNA.Type.HCP), int(CNA.Type.BCC), int(CNA.Type.ICO))
    for structure in PTM().structures:
        name = VOCABULARY[structure.id]
        assert np.allclose(DISPLAY[name][1], structure.color, atol=1e-3), name
    assert set(DISPLAY) == set(VOCABULARY)


def test_label_columns_in_both_numberings():
    ids = np.array([1, 2, 3, 11])
    # StructureType (and any other id column): today's vocabulary
    assert list(names_from_column("StructureType", ids)) == ["fcc", "hcp", "bcc", "fluorite"]
    # structure_id written by structid 0.1: bcc was 2, hcp 3, graphite 11
    assert list(names_from_column("structure_id", ids)) == ["fcc", "bcc", "hcp", "graphite"]
    assert list(names_from_column("label", np.array(["fcc", "liquid"]))) == ["fcc", "liquid"]
    assert list(names_from_column("StructureType", np.array([2.0]))) == ["hcp"]
    with pytest.raises(InputError, match="not ids 0..14"):
        names_from_column("StructureType", np.array([15]), "f.dump")
    with pytest.raises(InputError, match="not ids"):
        names_from_column("StructureType", np.array([1.5]))
    with pytest.raises(InputError, match="'bct', not a structure name"):
        names_from_column("label", np.array(["bct"]))
