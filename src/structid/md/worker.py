"""Runs one MD run in its own process (``python -m structid.md.worker SPEC``).

Each LAMMPS run gets a fresh process: a crash of the LAMMPS library (seen after many instances
in one process) then costs one run, not the whole command, and memory is returned at its end.
Progress goes to stdout as ``progress STEPS`` lines, errors to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from structid.errors import StructidError


def main() -> None:
    spec = json.loads(sys.argv[1])
    from structid.md.recipes import plan
    from structid.md.simulate import execute

    runs = {run.key: run for run in plan(spec["recipe"], spec["systems"], spec["temps"],
                                           spec["n_atoms"], spec["quick"], spec["seed"])}
    run = runs[spec["key"]]

    def report(steps: int) -> None:
        print(f"progress {steps}", flush=True)

    try:
        execute(run, Path(spec["root"]), spec["threads"], report)
    except StructidError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
