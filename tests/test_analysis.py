import csv
import io
import json

import numpy as np
import pytest

from structid.analysis import StructureFractions
from structid.classical import PTM
from structid.errors import InputError, NotFittedError
from structid.labels import Labels
from structid.lattices import lattice


class ByX:
    """fcc for atoms left of x0, bcc right of it: known fractions."""

    name = "byx"

    def __init__(self, x0: float) -> None:
        self.x0 = x0

    def classify(self, frame, neighbors=None):
        return Labels.from_names(np.where(frame.positions[:, 0] < self.x0, "fcc", "bcc"), method=self.name)


def frames():
    base = lattice("sc", 1.0, 10)  # x = 0..9, 100 atoms per plane
    return [base.replace(info={"timestep": 100 * k}) for k in range(4)]


def test_per_frame_fractions_counts_and_files():
    shares = iter([0.2, 0.5, 0.5, 0.9])
    seen = []

    class Moving(ByX):
        def classify(self, frame, neighbors=None):
            self.x0 = 10 * next(shares) - 0.5
            return super().classify(frame)

    analysis = StructureFractions(Moving(0)).run(frames(), on_frame=lambda f, labels: seen.append(len(labels)))
    assert seen == [1000] * 4
    assert analysis.names_ == ["fcc", "bcc"]  # vocabulary order
    np.testing.assert_allclose(analysis.fractions_[:, 0], [0.2, 0.5, 0.5, 0.9])
    np.testing.assert_allclose(analysis.fractions_.sum(axis=1), 1)
    np.testing.assert_array_equal(analysis.timesteps_, [0, 100, 200, 300])
    assert analysis.total_counts_ == {"fcc": 2100, "bcc": 1900} and analysis.n_atoms == 4000
    rows = list(csv.reader(io.StringIO(analysis.to_csv())))
    assert rows[0] == ["frame", "timestep", "atoms", "fcc", "bcc"]
    assert rows[2] == ["1", "100", "1000", "0.500000", "0.500000"]
    summary = json.loads(analysis.to_json(input="x"))
    assert summary["input"] == "x" and summary["frames"][3]["counts"] == {"fcc": 900, "bcc": 100}
    assert summary["total"]["fractions"]["bcc"] == pytest.approx(0.475)
    assert analysis.plot()[:8] == b"\x89PNG\r\n\x1a\n"


def test_frames_without_timesteps_and_a_real_method():
    frame = lattice("fcc", 2.5, 3)
    analysis = StructureFractions(PTM()).run([frame, frame])
    assert analysis.timesteps_ is None and analysis.method == "ptm"
    np.testing.assert_array_equal(analysis.fractions_, [[1.0], [1.0]])


def test_no_frames_and_results_before_run():
    with pytest.raises(InputError, match="no frames"):
        StructureFractions(PTM()).run([])
    with pytest.raises(NotFittedError):
        StructureFractions(PTM()).to_csv()
