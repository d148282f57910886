"""Exceptions that structid raises for problems the user can fix.

The command line turns every :class:`StructidError` into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class StructidError(Exception):
    """Base class of the errors the user can act on (bad input, bad option, missing file)."""


class InputError(StructidError, ValueError):
    """An input file, a frame or an argument is unusable; the message says what to do."""


class NotFittedError(StructidError):
    """A trainable model was used before ``fit`` or ``load``."""
