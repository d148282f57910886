import numpy as np
import pytest

from structid.errors import InputError
from structid.labels import CODE, Labels


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
