"""The ``structid`` command line: thin commands over the library.

``info``, ``methods``, ``example``, ``nmap`` (:mod:`.explore`); ``classify``, ``denoise``
(:mod:`.classify`); ``md ...`` (:mod:`.md`), ``train ...`` (:mod:`.train`), ``bench ...``
(:mod:`.bench`). Problems with the input end in one line on stderr and exit code 2; every file
is written atomically, and an input file is never overwritten.
"""

from __future__ import annotations

import lzma
import signal
import sys
import warnings
import zlib

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


class Stopped(BaseException):
    """Raised in the main thread when the process gets SIGINT, SIGTERM or SIGHUP, so that every
    open output is aborted (its temporary file removed) on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, _frame) -> None:
    raise Stopped(signum)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2; a signal stops the
    run cleanly (exit 128 + signal number)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    # numerical warnings (empty means, divisions) would break the one-line promise on stderr
    warnings.simplefilter("ignore")
    try:
        app()
    except StructidError as exc:
        err.print(f"structid: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except Stopped as stop:
        name = signal.Signals(stop.signum).name
        err.print(f"structid: stopped by {name}; unfinished outputs removed", markup=False, highlight=False)
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:
        err.print("structid: interrupted; unfinished outputs removed", markup=False)
        sys.exit(130)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error, lzma.LZMAError) as exc:
        # reading or writing failed below the checks (disk full, permissions, damaged streams)
        where = getattr(exc, "filename", None)
        text = str(exc).strip()
        detail = getattr(exc, "strerror", None) or (text.splitlines()[0] if text else type(exc).__name__)
        err.print(f"structid: error: {f'{where}: ' if where else ''}{detail}", markup=False, highlight=False,
                  soft_wrap=True)
        sys.exit(2)
