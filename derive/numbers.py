"""Correctly rounded decimal text for high-precision values."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import mpmath


def to_decimal(value) -> Decimal:
    """An mpmath/float/SymPy number as a Decimal with 50 significant digits (converted at 60, so a
    high-precision value keeps its digits)."""
    if isinstance(value, Decimal):
        return value
    with mpmath.workdps(60):
        x = mpmath.mpf(value)
        if not mpmath.isfinite(x):
            return Decimal(str(float(x)))  # Infinity, -Infinity, NaN
        return Decimal(mpmath.nstr(x, 50, strip_zeros=False, min_fixed=-mpmath.inf, max_fixed=mpmath.inf))


def round_sig(value, digits: int) -> Decimal:
    """``value`` rounded (half to even) to ``digits`` significant digits."""
    d = to_decimal(value)
    if not d.is_finite() or d == 0:
        return d
    with localcontext() as ctx:
        ctx.prec = digits
        ctx.rounding = ROUND_HALF_EVEN
        return +d


def fmt(value, digits: int = 9) -> str:
    """``value`` to ``digits`` significant digits, trailing zeros kept (they are significant):
    plain notation for magnitudes from 1e-5 to 1e9, scientific beyond."""
    d = round_sig(value, digits)
    if not d.is_finite():
        return {"Infinity": "inf", "-Infinity": "-inf"}.get(str(d), "nan")
    if d == 0:
        return "0"
    exponent = d.adjusted()
    if -5 <= exponent < max(digits, 9):
        return f"{d:.{max(digits - 1 - exponent, 0)}f}"
    mantissa = d.scaleb(-exponent)
    return f"{mantissa:.{digits - 1}f}e{exponent:+d}"
