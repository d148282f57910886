import numpy as np
import pytest

from structid.classical import PTM
from structid.errors import InputError
from structid.frame import Frame
from structid.io.readers import open_trajectory, read_frame
from structid.io.writers import TrajectoryWriter, write_frames
from structid.labels import CODE, VOCABULARY, Labels
from structid.lattices import gaussian_noise, lattice, random_rotation
from structid.neighbors import nearest_neighbors


def labelled_frame(rng):
    frame = gaussian_noise(lattice("hcp", 2.5, 3), 0.05, rng)
    frame = frame.replace(origin=np.array([1.0, 2.0, -3.0]), ids=np.arange(11, 11 + len(frame)),
                          positions=frame.positions + [1.0, 2.0, -3.0],
                          properties={"c_pe": rng.normal(size=len(frame))})
    classes = ("fcc", "hcp", "other")
    p = rng.random((len(frame), 3))
    p /= p.sum(axis=1, keepdims=True)
    names = np.array(classes)[p.argmax(axis=1)]
    labels = Labels(codes=[VOCABULARY.index(n) for n in names], classes=classes, probabilities=p)
    return frame, labels


@pytest.mark.parametrize("suffix", [".extxyz", ".xyz.gz", ".lammpstrj", ".lammpstrj.gz"])
def test_round_trip(tmp_path, rng, suffix):
    frame, labels = labelled_frame(rng)
    path = write_frames(tmp_path / f"out{suffix}", [frame, frame], [labels, labels])
    back = list(open_trajectory(path))
    assert len(back) == 2
    for g in back:
        assert np.allclose(g.positions, frame.positions, atol=1e-7)
        assert np.allclose(g.cell, frame.cell) and np.allclose(g.origin, frame.origin)
        assert np.array_equal(g.ids, frame.ids) and np.array_equal(g.species, frame.species)
        column = "structure_type" if "xyz" in suffix else "StructureType"
        assert np.array_equal(g.properties[column], labels.codes)
        assert np.allclose(g.properties["c_pe"], frame.properties["c_pe"], rtol=1e-7)
        for k, name in enumerate(labels.classes):
            assert np.allclose(g.properties[f"prob_{name}"], labels.probabilities[:, k], atol=1e-6)
        if "xyz" in suffix:
            assert np.array_equal(g.properties["structure"], labels.names)


def test_ase_calculator_columns_are_kept(tmp_path):
    frame = lattice("fcc", 2.5, 1).replace(properties={"charge": np.arange(4.0), "forces": np.ones((4, 3))})
    back = read_frame(write_frames(tmp_path / "calc.extxyz", frame))
    assert np.allclose(back.properties["charges"], np.arange(4.0))  # ASE's name for them
    assert np.allclose(back.properties["forces"], 1.0)


def test_dump_rotates_a_general_cell_into_lammps_form(tmp_path, rng):
    frame = random_rotation(lattice("hcp", 2.5, 3), rng)
    path = write_frames(tmp_path / "rot.lammpstrj", frame, PTM().classify(frame))
    back = read_frame(path)
    assert np.allclose(np.triu(back.cell, 1), 0) and np.all(np.diag(back.cell) > 0)
    assert back.volume == pytest.approx(frame.volume)
    assert np.allclose(nearest_neighbors(back, 12).distances, 2.5)
    assert PTM().classify(back).counts() == {"hcp": len(frame)}


def test_partially_periodic_cluster(tmp_path):
    f = lattice("fcc", 2.5, 3)
    slab = Frame(positions=f.positions, cell=f.cell * [[1], [1], [0]], pbc=[True, True, False], species="Cu")
    for name in ("slab.extxyz", "slab.lammpstrj"):
        back = read_frame(write_frames(tmp_path / name, slab))
        assert list(back.pbc) == [True, True, False]
        assert np.allclose(back.positions, slab.positions, atol=1e-7)


@pytest.mark.parametrize("name", ["out.extxyz", "out.lammpstrj"])
def test_ovito_opens_the_output(tmp_path, rng, name):
    from ovito.io import import_file

    frame = lattice("bcc", 2.5, 3)
    labels = PTM().classify(frame)
    path = write_frames(tmp_path / name, frame, labels)
    data = import_file(str(path)).compute()
    assert data.particles.count == len(frame)
    # OVITO imports the ids as its own typed, int32 Structure Type, where 3 is bcc
    structure = data.particles["Structure Type"]
    assert structure.dtype == np.int32
    assert np.array_equal(np.asarray(structure[...]), labels.codes)
    assert set(np.asarray(structure[...])) == {3}
    if name.endswith("extxyz"):
        assert set(data.particles["structure"][...]) == {"bcc"}


def test_existing_output_needs_force(tmp_path):
    path = tmp_path / "out.extxyz"
    path.write_text("keep me")
    with pytest.raises(InputError, match="already exists; pass --force"):
        write_frames(path, lattice("fcc", 2.5, 2))
    assert path.read_text() == "keep me"
    write_frames(path, lattice("fcc", 2.5, 2), force=True)
    assert read_frame(path).n_atoms == 32


def test_input_is_never_overwritten(tmp_path):
    source = write_frames(tmp_path / "in.extxyz", lattice("fcc", 2.5, 2))
    before = source.read_bytes()
    with pytest.raises(InputError, match="is the input file"):
        TrajectoryWriter(source, force=True, protect=(source,))
    assert source.read_bytes() == before


def test_missing_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist; create it first"):
        write_frames(tmp_path / "nowhere" / "out.extxyz", lattice("fcc", 2.5, 2))


def test_failure_leaves_no_file(tmp_path):
    path = tmp_path / "out.extxyz"
    with pytest.raises(RuntimeError):
        with TrajectoryWriter(path) as writer:
            writer.write(lattice("fcc", 2.5, 2))
            raise RuntimeError("simulated crash mid-trajectory")
    assert list(tmp_path.iterdir()) == []


def test_unknown_output_format(tmp_path):
    with pytest.raises(InputError, match="cannot tell the output format"):
        write_frames(tmp_path / "out.pdb", lattice("fcc", 2.5, 2))


def test_ase_and_ovito_read_extxyz_with_type_numbers(tmp_path):
    """Species that are LAMMPS type numbers go out as ASE's placeholder ``X`` with a ``type``
    column: ase.io reads the file, OVITO reads it, structid gets the species back."""
    import ase.io
    from ovito.io import import_file

    f = lattice("cscl", 2.5, 3)
    types = np.where(f.species == f.species[0], 1, 2)
    frame = f.replace(species=types.astype(str), properties={"type": types})
    path = write_frames(tmp_path / "types.extxyz", frame, PTM().classify(frame))
    atoms = ase.io.read(path)
    assert set(atoms.get_chemical_symbols()) == {"X"} and np.array_equal(atoms.arrays["type"], types)
    back = read_frame(path)
    assert np.array_equal(back.species, frame.species)
    data = import_file(str(path)).compute()
    assert data.particles.count == len(frame)
    assert set(np.asarray(data.particles["Structure Type"][...])) == {CODE["cscl"]}


def test_non_element_names_round_trip_through_extxyz(tmp_path):
    f = lattice("fcc", 2.5, 2)
    frame = f.replace(species=np.where(np.arange(len(f)) % 2, "A", "B"), properties={"type": np.ones(len(f), int)})
    back = read_frame(write_frames(tmp_path / "names.extxyz", frame))
    assert np.array_equal(back.species, frame.species)
    assert np.array_equal(back.properties["type"], np.ones(len(f)))


def test_labelling_again_replaces_the_label_columns(tmp_path):
    frame = lattice("bcc", 2.5, 3)
    first = read_frame(write_frames(tmp_path / "a.lammpstrj", frame, PTM().classify(frame)))
    relabelled = Labels.from_names(np.full(len(frame), "fcc"))
    again = read_frame(write_frames(tmp_path / "b.lammpstrj", first, relabelled))
    assert [k for k in again.properties if "tructure" in k] == ["StructureType"]
    assert np.all(again.properties["StructureType"] == CODE["fcc"])


def test_ase_reads_the_labelled_dump(tmp_path):
    import ase.io

    frame = lattice("hcp", 2.5, 3)
    labels = PTM().classify(frame)
    atoms = ase.io.read(write_frames(tmp_path / "out.lammpstrj", frame, labels), format="lammps-dump-text")
    # ASE's dump reader keeps only the columns it knows (the labels are for OVITO and structid)
    assert len(atoms) == len(frame)
    assert np.allclose(atoms.get_positions(), frame.positions, atol=1e-6)
    assert set(labels.codes) == {CODE["hcp"]} == {2}
