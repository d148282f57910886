"""structid's OVITO modifiers in headless OVITO pipelines: import a file, append the modifier,
compute, check the typed Structure Type, the counts and the tables."""

from importlib.metadata import entry_points

import numpy as np
import pytest
from ovito.io import import_file
from ovito.modifiers import ExpressionSelectionModifier, PolyhedralTemplateMatchingModifier

from structid.errors import InputError
from structid.io.writers import write_frames
from structid.labels import CODE
from structid.lattices import gaussian_noise, lattice
from structid.ovito import Denoising, StructureIdentification


@pytest.fixture
def hcp_file(tmp_path, rng):
    frame = gaussian_noise(lattice("hcp", 2.9, 5, species="Ti"), 0.12, rng)
    return write_frames(tmp_path / "hcp.lammpstrj", frame)


def _counts(data) -> dict[str, int]:
    prefix = "StructureIdentification.counts."
    return {k.removeprefix(prefix): v for k, v in data.attributes.items() if k.startswith(prefix)}


def test_ptm_through_the_modifier_equals_ovitos_own_ptm(hcp_file):
    ours = import_file(str(hcp_file))
    ours.modifiers.append(StructureIdentification(method="ptm"))
    theirs = import_file(str(hcp_file))
    theirs.modifiers.append(PolyhedralTemplateMatchingModifier())
    a, b = ours.compute(), theirs.compute()
    np.testing.assert_array_equal(a.particles["Structure Type"][...], b.particles["Structure Type"][...])
    for name in ("FCC", "HCP", "BCC", "OTHER"):
        assert a.attributes[f"StructureIdentification.counts.{name}"] == b.attributes[f"PolyhedralTemplateMatching.counts.{name}"]
    assert "RMSD" in a.particles


def test_nmcnn_outputs_typed_structures_probabilities_counts_and_a_table(hcp_file):
    pipeline = import_file(str(hcp_file))
    pipeline.modifiers.append(StructureIdentification(method="nmcnn", min_confidence=0.5))
    data = pipeline.compute()
    structure = data.particles["Structure Type"]
    assert structure.dtype == np.int32
    names = {t.id: t.name for t in structure.types}
    assert names[CODE["hcp"]] == "HCP" and names[CODE["liquid"]] == "Liquid" and names[0] == "Other"
    hcp = next(t for t in structure.types if t.id == CODE["hcp"])
    assert np.allclose(hcp.color, (1.0, 0.4, 0.4))  # OVITO's own hcp colour
    is_hcp = np.asarray(structure[...]) == CODE["hcp"]
    assert np.allclose(data.particles["Color"][...][is_hcp], (1.0, 0.4, 0.4))
    counts = _counts(data)
    assert counts["HCP"] / data.particles.count > 0.95 and sum(counts.values()) == data.particles.count
    p = np.column_stack([data.particles[f"prob_{c}"][...] for c in ("bcc", "cd", "fcc", "hcp", "liquid")])
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-4)
    table = data.tables["structid-structures"]
    assert dict(zip(table.x[...].tolist(), table.y[...].tolist()))[CODE["hcp"]] == counts["HCP"]


def test_the_order_check_writes_order_and_keeps_a_known_crystal(hcp_file):
    pipeline = import_file(str(hcp_file))
    pipeline.modifiers.append(StructureIdentification(method="nmcnn", check_order=True))
    data = pipeline.compute()
    order = np.asarray(data.particles["Order"][...])
    assert order.min() > 0.2  # an hcp crystal is ordered
    assert _counts(data)["HCP"] / data.particles.count > 0.95


def test_only_selected_particles_are_classified(hcp_file):
    pipeline = import_file(str(hcp_file))
    pipeline.modifiers.append(ExpressionSelectionModifier(expression="Position.Z < CellSize.Z/2"))
    pipeline.modifiers.append(StructureIdentification(method="acna", only_selected=True))
    data = pipeline.compute()
    selected = np.asarray(data.particles["Selection"][...]) != 0
    codes = np.asarray(data.particles["Structure Type"][...])
    assert selected.any() and (~selected).any()
    assert np.all(codes[~selected] == 0)


def test_denoising_then_identification(hcp_file):
    pipeline = import_file(str(hcp_file))
    pipeline.modifiers.append(Denoising(steps=8))
    pipeline.modifiers.append(StructureIdentification(method="acna"))
    data = pipeline.compute()
    assert _counts(data)["HCP"] == data.particles.count
    steps = data.tables["structid-denoising"].y[...]
    assert len(steps) >= 2 and steps[-1] < steps[0]
    moved = np.linalg.norm(data.particles["Denoising Displacement"][...], axis=1)
    assert 0 < moved.max() < 1.0  # thermal noise removed, no atom sent across the box


def test_the_loaded_model_is_reused_between_frames(hcp_file):
    modifier = StructureIdentification(method="nmcnn")
    assert modifier.classifier() is modifier.classifier()
    other = StructureIdentification(method="nmcnn", min_confidence=0.5)
    assert other.classifier() is not modifier.classifier()


def test_bad_settings_give_a_clear_error(hcp_file):
    pipeline = import_file(str(hcp_file))
    pipeline.modifiers.append(StructureIdentification(method="acna", only_selected=True))
    with pytest.raises(Exception, match="no Selection property"):
        pipeline.compute()
    with pytest.raises(InputError, match="no-such-model.pt: no such model file"):
        StructureIdentification(method="nmcnn", model="no-such-model.pt").classifier()


def test_modifiers_are_registered_for_ovito_pro():
    found = {e.name: e.value for e in entry_points(group="OVITO.Modifier")}
    assert found["Structure identification (structid)"] == "structid.ovito:StructureIdentification"
    assert found["Denoising (structid)"] == "structid.ovito:Denoising"


def test_denoising_only_selected_particles_moves_only_those(hcp_file):
    pipeline = import_file(str(hcp_file))
    pipeline.modifiers.append(ExpressionSelectionModifier(expression="Position.X < CellSize.X/2"))
    before = import_file(str(hcp_file)).compute()
    pipeline.modifiers.append(Denoising(steps=4, only_selected=True))
    data = pipeline.compute()
    selected = np.asarray(data.particles["Selection"][...]) != 0
    moved = np.linalg.norm(data.particles["Denoising Displacement"][...], axis=1)
    assert selected.any() and (~selected).any()
    assert np.all(moved[~selected] == 0) and moved[selected].max() > 0
    np.testing.assert_array_equal(data.particles.positions[...][~selected], before.particles.positions[...][~selected])
