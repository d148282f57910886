"""The ``structid`` command line: thin commands over the library.

``info``, ``methods``, ``example``, ``nmap`` (:mod:`.explore`); ``classify``, ``denoise``
(:mod:`.classify`); ``md ...`` (:mod:`.md`), ``train ...`` (:mod:`.train`), ``bench ...``
(:mod:`.bench`). Problems with the input end in one line on stderr and exit code 2; every file
is written atomically, and an input file is never overwritten.
"""

from __future__ import annotations

import sys

import typer

from structid.cli import bench, classify, explore, md, train
from structid.cli.common import err
from structid.errors import StructidError

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Atom-by-atom structure identification in molecular-dynamics snapshots.",
)
app.command()(explore.info)
app.command()(explore.methods)
app.command()(classify.classify)
app.command()(explore.example)
app.command("denoise")(classify.denoise)
app.command()(explore.nmap)
app.add_typer(md.app, name="md")
app.add_typer(train.app, name="train")
app.add_typer(bench.app, name="bench")


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except StructidError as exc:
        err.print(f"structid: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("structid: interrupted", markup=False)
        sys.exit(130)
