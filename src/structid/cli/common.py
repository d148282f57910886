"""What every command shares: the consoles, option types, the progress bar and small parsers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from structid.errors import InputError
from structid.io.compression import strip_suffix
from structid.io.readers import parse_types

out = Console()
err = Console(stderr=True)

FormatOpt = Annotated[Optional[str], typer.Option("--format", help="input format (lammps-dump or any ASE format); detected from the name when omitted")]
TypesOpt = Annotated[Optional[str], typer.Option("--types", help="LAMMPS type to element, e.g. 1=Cu,2=Zr")]
LabelColumnOpt = Annotated[Optional[str], typer.Option("--label-column", help="per-atom label column: names, or ids such as StructureType (structid 0.1 structure_id files are read in their old order)")]
SeedOpt = Annotated[int, typer.Option(help="random seed")]
ReplaceModelOpt = Annotated[bool, typer.Option("--force", help="replace an existing model file")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", help="threads to use (default: the cores available to this process)")]
DeviceOpt = Annotated[str, typer.Option("--device", help="torch device for the ML models: cpu, cuda or mps")]
FramesOpt = Annotated[Optional[str], typer.Option("--frames", help="frames to use, 0-based: 0-10,20,50- (default: all)")]
EveryOpt = Annotated[Optional[int], typer.Option("--every", help="use every N-th of the selected frames")]
MaxAtomsOpt = Annotated[str, typer.Option("--max-atoms", help="label a bigger frame a spatial tile of about this many atoms (halo included) at a time: bounded memory, the same labels; auto: tiles only for a frame too big for the memory available ($STRUCTID_MEMORY, e.g. 4G, caps it); off: never split")]
DataDirOpt = Annotated[Optional[str], typer.Option("--data-dir", help="default ~/.cache/structid or $STRUCTID_DATA")]


def types_option(text: str | None) -> dict[int, str] | None:
    """``--types 1=Cu,2=Zr`` as a table (None when not given)."""
    return None if text is None else parse_types(text)


def progress() -> Progress:
    """A transient progress bar on stderr (silent when stderr is not a terminal)."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    )


def floats(text: str | None, what: str) -> tuple[float, ...] | None:
    """``"0.25,0.5"`` -> (0.25, 0.5); ``what`` names the option in the error."""
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{what}: expected comma-separated numbers, got {text!r}") from None


def names(text: str | None) -> list[str] | None:
    """``"al, fe"`` -> ["al", "fe"] (None when not given)."""
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def channel_weights(text: str | None) -> list[dict[str, float]]:
    """``"Cu=1,Zr=-1"`` -> one extra channel; ``;`` separates channels."""
    if not text:
        return []
    channels = []
    for part in text.split(";"):
        table = {}
        for item in filter(None, (p.strip() for p in part.split(","))):
            key, sep, value = item.partition("=")
            try:
                table[key.strip()] = float(value)
            except ValueError:
                raise InputError(f"--channels: cannot read {item!r}; write SPECIES=WEIGHT pairs like Cu=1,Zr=-1") from None
            if not sep:
                raise InputError(f"--channels: cannot read {item!r}; write SPECIES=WEIGHT pairs like Cu=1,Zr=-1")
        channels.append(table)
    return channels


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def check_paths(inputs: list, outputs: dict[str, str | None]) -> None:
    """Every output path must differ from every input and from every other output
    (``outputs``: option name -> path, None when not given); otherwise one :class:`InputError`
    names the two options."""
    given = [(name, Path(p)) for name, p in outputs.items() if p]
    # training specs are LABEL=FILE, as structid.training.datasets reads them
    sources = [Path(str(p).partition("=")[2] or str(p)) for p in inputs if p]
    for k, (name, path) in enumerate(given):
        for source in sources:
            if _same_file(path, source):
                raise InputError(f"{path}: {name} would overwrite the input {source}; choose another path")
        for other, other_path in given[:k]:
            if _same_file(path, other_path):
                raise InputError(f"{path}: given to both {other} and {name}; each output needs its own file")


def refuse_existing(output: str, force: bool) -> None:
    if Path(output).exists() and not force:
        raise InputError(f"{output}: already exists; pass --force to replace it")


def default_output(path: Path, fmt: str) -> Path:
    """``dump.lammpstrj`` -> ``dump.structid.lammpstrj``; other inputs -> ``NAME.structid.extxyz``."""
    stem, _, ext = strip_suffix(path.name).rpartition(".")
    if fmt == "lammps-dump":
        return path.with_name(f"{stem or ext}.structid.{ext if stem else 'lammpstrj'}")
    return path.with_name(f"{stem or ext}.structid.extxyz")
