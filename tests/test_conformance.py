"""Every registered method, and the compositions, pass the conformance check of the test kit;
the kit itself catches what it claims to catch."""

import numpy as np
import pytest

from structid.classical import PTM
from structid.labels import Labels
from structid.lattices import gaussian_noise, lattice
from structid.models.compose import Denoised, NeighborAveraged
from structid.registry import available, get_classifier, get_denoiser
from structid.testing import assert_invariant, check_classifier


@pytest.mark.parametrize("name", sorted(available()))
def test_registered_method_conforms(name):
    check_classifier(get_classifier(name))


def test_compositions_conform():
    check_classifier(NeighborAveraged(get_classifier("nmcnn"), 12))
    check_classifier(Denoised(get_denoiser(), PTM(), 2))


def test_the_invariance_check_names_the_transform_that_breaks():
    frame = gaussian_noise(lattice("fcc", 2.5, 3), 0.05, 0)
    with pytest.raises(AssertionError, match="translate"):
        assert_invariant(lambda f: f.positions[:, 0], frame, transforms=("translate",))
    with pytest.raises(AssertionError, match="rotation"):
        assert_invariant(lambda f: f.positions[:, 0] - f.positions[:, 0].mean(), frame, transforms=("rotate",))
    with pytest.raises(AssertionError, match="permute"):
        assert_invariant(lambda f: np.arange(len(f)), frame, transforms=("permute",))
    # distances to the centre of mass are invariant and pass; vectors to it rotate with the frame
    open_frame = frame.replace(pbc=False)
    centre = lambda f: f.positions - f.positions.mean(axis=0)  # noqa: E731
    assert_invariant(lambda f: np.linalg.norm(centre(f), axis=1), open_frame, transforms=("rotate", "reflect", "permute"))
    assert_invariant(centre, open_frame, transforms=("rotate", "reflect", "permute"), vectors=True)


def test_the_conformance_check_catches_a_broken_method():
    class Positional:  # labels atoms by their x coordinate: not invariant
        name = "positional"

        def classify(self, frame, neighbors=None):
            names = np.where(frame.positions[:, 0] > 4.0, "fcc", "bcc")
            return Labels.from_names(names, method=self.name)

    with pytest.raises(AssertionError, match="not invariant"):
        check_classifier(Positional())

    class Short:  # one label too few
        name = "short"

        def classify(self, frame, neighbors=None):
            return Labels.from_names(["fcc"] * max(len(frame) - 1, 0), method=self.name)

    with pytest.raises(AssertionError, match="labels for"):
        check_classifier(Short())
