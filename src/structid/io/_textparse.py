"""Compiled parsing of whitespace-separated numeric tables (the atom lines of LAMMPS dumps).

A hand-written parser in numba reads the raw bytes once, with no Python object per token: this
is what makes the dump reader several times faster than ``ase.io.read`` on large frames.
"""

from __future__ import annotations

import numpy as np
from numba import njit

OK, BAD_COLUMNS, BAD_NUMBER, BAD_INTEGER = 0, 1, 2, 3
#: integers are stored in float64 tables: beyond 2^53 they would silently change
INTEGER_LIMIT = 2**53

_POW10 = np.array([10.0**k for k in range(23)])
# Significant digits kept in the integer mantissa; more cannot change a float64 noticeably.
_MANTISSA_LIMIT = 10**17


@njit(cache=True, inline="always")
def _is_space(c: int) -> bool:
    return c == 32 or c == 9 or c == 13 or c == 11 or c == 12


_NAN = np.frombuffer(b"nan", dtype=np.uint8)
_INFINITY = np.frombuffer(b"infinity", dtype=np.uint8)


@njit(cache=True, inline="always")
def _spells(buf, i, e, word, n):
    """Whether buf[i:e] is the first ``n`` letters of ``word``, in any case."""
    if e - i != n:
        return False
    for k in range(n):
        c = buf[i + k]
        if 65 <= c <= 90:
            c += 32
        if c != word[k]:
            return False
    return True


@njit(cache=True)
def _parse_float(buf, s, e):
    """Parse buf[s:e] as a float; returns (value, ok). Besides decimal numbers it accepts only
    ``nan``, ``inf`` and ``infinity`` (any case, optional sign): ``none`` or ``ignore`` are
    not numbers."""
    i = s
    neg = False
    if buf[i] == 45:  # '-'
        neg = True
        i += 1
    elif buf[i] == 43:  # '+'
        i += 1
    if i < e and (buf[i] == 110 or buf[i] == 78):
        return np.nan, _spells(buf, i, e, _NAN, 3)
    if i < e and (buf[i] == 105 or buf[i] == 73):
        ok = _spells(buf, i, e, _INFINITY, 3) or _spells(buf, i, e, _INFINITY, 8)
        return (-np.inf if neg else np.inf), ok
    mantissa = 0
    exp10 = 0
    digits = 0
    while i < e and 48 <= buf[i] <= 57:
        if mantissa < _MANTISSA_LIMIT:
            mantissa = mantissa * 10 + (buf[i] - 48)
        else:
            exp10 += 1
        digits += 1
        i += 1
    if i < e and buf[i] == 46:  # '.'
        i += 1
        while i < e and 48 <= buf[i] <= 57:
            if mantissa < _MANTISSA_LIMIT:
                mantissa = mantissa * 10 + (buf[i] - 48)
                exp10 -= 1
            digits += 1
            i += 1
    if digits == 0:
        return 0.0, False
    if i < e and (buf[i] == 101 or buf[i] == 69 or buf[i] == 100 or buf[i] == 68):  # e E d D
        i += 1
        eneg = False
        if i < e and buf[i] == 45:
            eneg = True
            i += 1
        elif i < e and buf[i] == 43:
            i += 1
        if i >= e:
            return 0.0, False
        ev = 0
        while i < e and 48 <= buf[i] <= 57:
            if ev < 100000:
                ev = ev * 10 + (buf[i] - 48)
            i += 1
        exp10 += -ev if eneg else ev
    if i != e:
        return 0.0, False
    value = float(mantissa)
    if exp10 > 0:
        value = value * _POW10[exp10] if exp10 <= 22 else value * 10.0**exp10
    elif exp10 < 0:
        value = value / _POW10[-exp10] if exp10 >= -22 else value * 10.0**exp10
    return (-value if neg else value), True


@njit(cache=True)
def _parse_integer(buf, s, e):
    """Parse buf[s:e] as an integer spelled with digits only (optional sign), below
    :data:`INTEGER_LIMIT`; returns (value, ok)."""
    i = s
    neg = False
    if buf[i] == 45:
        neg = True
        i += 1
    elif buf[i] == 43:
        i += 1
    if i >= e:
        return 0.0, False
    value = 0
    while i < e:
        c = buf[i]
        if c < 48 or c > 57:
            return 0.0, False
        value = value * 10 + (c - 48)
        if value >= INTEGER_LIMIT:
            return 0.0, False
        i += 1
    return float(-value if neg else value), True


@njit(cache=True)
def parse_rows(buf, pos, end, eof, out, row0, nrows, string_slot, str_start, str_len, integer):
    """Parse up to ``nrows`` lines of ``buf[pos:end]`` into ``out[row0:, :]``.

    Only complete lines are consumed unless ``eof``. Columns with ``string_slot[c] >= 0`` are
    not converted: their token offsets go to ``str_start/str_len[row, slot]`` (rows counted
    from this call, offsets into ``buf``).

    Columns with ``integer[c]`` must hold integers (:func:`_parse_integer`).

    Returns ``(new_pos, rows_done, status, column)``; on a bad line ``new_pos`` is that line's
    start, ``rows_done`` the number of good rows before it and ``column`` the token index.
    """
    ncols = out.shape[1]
    row = 0
    while row < nrows:
        le = pos
        while le < end and buf[le] != 10:
            le += 1
        if le == end and (not eof or le == pos):
            break
        col = 0
        p = pos
        while True:
            while p < le and _is_space(buf[p]):
                p += 1
            if p >= le:
                break
            s = p
            while p < le and not _is_space(buf[p]):
                p += 1
            if col < ncols:
                slot = string_slot[col]
                if slot >= 0:
                    str_start[row, slot] = s
                    str_len[row, slot] = p - s
                elif integer[col]:
                    value, ok = _parse_integer(buf, s, p)
                    if not ok:
                        return pos, row, BAD_INTEGER, col
                    out[row0 + row, col] = value
                else:
                    value, ok = _parse_float(buf, s, p)
                    if not ok:
                        return pos, row, BAD_NUMBER, col
                    out[row0 + row, col] = value
            col += 1
        if col != ncols:
            return pos, row, BAD_COLUMNS, col
        row += 1
        pos = le + 1
    return pos, row, OK, 0
