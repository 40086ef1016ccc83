"""Reading what a user hands in, within bounds: regular files of a sane size only (not /dev/zero, not a
FIFO that never ends), numbers of at most `MAX_DIGITS` significant digits, and messages that quote an
excerpt of what was given, never all of it (a number with 5,000 digits is not a readable message)."""

from __future__ import annotations

import os
import re
import stat
from decimal import Decimal
from pathlib import Path
from typing import cast

from derive.escape import excerpt

MAX_SPEC_BYTES = 8 * 2**20  # 100,000 parameters written out take about 1.5 MB; 1000 samples of 4096 inputs 40 MB
MAX_DIGITS = 50  # significant digits of a number in a spec: the derivation computes at 60


class ReadError(ValueError):
    """A file that cannot or must not be read, as one line without the file name."""


def counted(items, noun: str, plural: str | None = None) -> str:
    """How many things a list the user gave holds, in words: "1 value", "3 values", "1 matrix"."""
    return f"{len(items)} {noun if len(items) == 1 else plural or noun + 's'}"


def digits(value) -> int:
    """Significant digits as written (0.150 has 3; 1e6 has 1)."""
    if isinstance(value, Decimal):
        return len(value.as_tuple().digits)
    return len(str(abs(value)).rstrip("0")) or 1


def place(value: Decimal) -> int:
    """The exponent of a finite Decimal's last digit (0.150: -3; 15E+2: 2). Only an infinity or a NaN
    has a letter there, and they are refused before any caller gets here."""
    return cast(int, value.as_tuple().exponent)


def read_regular(path: str | Path, limit: int = MAX_SPEC_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Opened without blocking (a FIFO with no
    writer would wait forever), checked to be a regular file, then read to at most limit + 1 bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ReadError("cannot read: is a folder, not a file" if stat.S_ISDIR(mode)
                        else "cannot read: not a regular file (a device, a pipe or a socket)")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise ReadError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ReadError(f"is larger than {limit // 2**20} MB; a network description is much smaller")
    return data


MIN_MAGNITUDE_EXPONENT = -50  # a nonzero number is at least 1e-50 in magnitude: 1e-999999999 as a fraction
# would be a denominator of a billion digits
MAX_MAGNITUDE = 10**6  # inputs, targets, weights, biases, training settings: larger values overflow float64
# exponentials


def number_problem(value: int | Decimal, largest: int | None = None) -> str | None:
    """Why a finite number that TOML or a flag gave cannot be used exactly (larger than ``largest``,
    too many digits, too small), or None. Looks at the digits and the exponent only: nothing is
    converted, so 1e-999999999 and a 5,000-digit integer are answered at once."""
    if largest is not None and value.__abs__() > largest:  # abs() of int | Decimal types as object
        return f"is too large: at most {largest:g} in magnitude"
    if digits(value) > MAX_DIGITS:
        return f"has {digits(value)} significant digits; at most {MAX_DIGITS} are used"
    if value and Decimal(value).adjusted() < MIN_MAGNITUDE_EXPONENT:
        return f"is too small: a nonzero number is at least 1e{MIN_MAGNITUDE_EXPONENT} in magnitude (or write 0)"
    return None


def decimal_text(text: str) -> Decimal | None:
    """A number written as text (a flag, a claim, a sheet's value) as a finite Decimal, or None."""
    from decimal import InvalidOperation

    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def rational(value: int | Decimal):
    """The exact value of a checked number (`number_problem` is None) as a SymPy Rational, from its
    digits and exponent (not from its text, which for 0e-999999999 has a billion-digit denominator)."""
    import sympy as sp

    if isinstance(value, int):
        return sp.Integer(value)
    if not value:
        return sp.Integer(0)
    sign, digit_tuple, _ = value.as_tuple()
    exponent = place(value)
    mantissa = int("".join(map(str, digit_tuple))) * (-1 if sign else 1)
    return sp.Rational(mantissa * 10**exponent) if exponent >= 0 else sp.Rational(mantissa, 10**-exponent)


MAX_PUBLISHED_EXPONENT = 1000  # an article's number, as printed, is nowhere near


def published_problem(number: int | Decimal) -> str | None:
    """Why a published number cannot be audited (too many digits, an absurd exponent), or None."""
    if digits(number) > MAX_DIGITS:
        return f"has {digits(number)} significant digits; at most {MAX_DIGITS} are used"
    if number and not -MAX_PUBLISHED_EXPONENT <= Decimal(number).adjusted() <= MAX_PUBLISHED_EXPONENT:
        return f"is out of range: from 1e-{MAX_PUBLISHED_EXPONENT} to 1e{MAX_PUBLISHED_EXPONENT} in magnitude, or 0"
    return None


def value_kind(value) -> str:
    """What a TOML value is, in a message's words ("a list", "true/false")."""
    kinds = {bool: "true/false", str: "a string", list: "a list", dict: "a table", int: "a whole number",
             Decimal: "a number"}
    return kinds.get(type(value), type(value).__name__)


def syntax_error(message: str, text: str) -> str:
    """tomllib's message with the line it points at quoted. The parser notices some faults (a bracket
    or a string left open) only where the next line starts, at column 1: then the line before it, the
    likelier culprit, is quoted too."""
    found = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    if not found:
        return excerpt(message, 200)
    lines = text.splitlines()
    number, column = int(found[1]), int(found[2])
    shown = [number]
    if column == 1:
        before = next((k for k in range(number - 1, 0, -1) if k <= len(lines) and lines[k - 1].strip()), None)
        shown = [before, number] if before else shown
    quoted = [f"line {k}: {excerpt(lines[k - 1].strip(), 60)!r}" for k in shown if k <= len(lines)]
    return "; ".join([excerpt(message, 120), *quoted])
