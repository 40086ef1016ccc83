"""Correctly rounded decimal text for high-precision values."""

from __future__ import annotations

from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Decimal, localcontext

import mpmath
import sympy as sp

from derive.model.proven import DECIMAL_EXPONENT, Proven, Undecided, as_decimal, decide

#: What every printer writes for a value whose digits no precision up to `proven.CAP` decides (a ball
#: that still holds 0 or straddles a rounding boundary): never a digit that is not proven.
UNDECIDED = "undecided"


def to_decimal(value) -> Decimal:
    """An mpmath/float/SymPy number as a Decimal with 50 significant digits (converted at 60, so a
    high-precision value keeps its digits). Read from scientific notation: a saturated neuron's
    e^-10^12 written out in fixed notation would be a string of 10^12 zeros."""
    if isinstance(value, Decimal):
        return value
    with mpmath.workdps(60):
        x = mpmath.mpf(value)
        if not mpmath.isfinite(x):
            return Decimal(str(float(x)))  # Infinity, -Infinity, NaN
        if beyond_decimal(x):  # e^-(10^23) from gelu at -10^12: past any Decimal's exponent
            return Decimal(0) if mpmath.mag(x) < 0 else Decimal("Infinity" if x > 0 else "-Infinity")
        return Decimal(mpmath.nstr(x, 50, strip_zeros=False, min_fixed=0, max_fixed=0))


def beyond_decimal(x) -> bool:
    """Whether an mpmath number's decimal exponent is past the largest a Decimal can hold (10^18)."""
    return bool(x) and abs(mpmath.mag(x)) > 3 * 10**18


def round_sig(value, digits: int) -> Decimal:
    """``value`` rounded (half to even) to ``digits`` significant digits: proven by its ball for a
    `Proven` value (at the precision that decides it; `Undecided` where none up to `proven.CAP`
    does), else from its 50 significant digits. A value past a Decimal's exponent is 0 or ±Infinity
    here, as in `to_decimal`; `fmt` writes its digits."""
    if isinstance(value, Proven):
        parts = decide(value, digits)
        if parts is None:
            raise Undecided(f"no precision up to {value.bits} bits decides {digits} digits")
        if abs(parts[2]) <= DECIMAL_EXPONENT:
            return as_decimal(parts, digits)
        value = mpmath.mpf(value)
    d = to_decimal(value)
    if not d.is_finite() or d == 0:
        return d
    with localcontext() as ctx:
        ctx.prec = digits
        ctx.Emax, ctx.Emin = MAX_EMAX, MIN_EMIN  # e^-10^12 is a number like any other
        ctx.rounding = ROUND_HALF_EVEN
        return +d


def fmt(value, digits: int = 9) -> str:
    """``value`` to ``digits`` significant digits, trailing zeros kept (they are significant):
    plain notation for magnitudes from 1e-5 to 1e9, scientific beyond; ``undecided`` for a `Proven`
    value whose digits no precision up to `proven.CAP` decides."""
    if isinstance(value, Proven):
        parts = decide(value, digits)
        if parts is None:
            return UNDECIDED
        if abs(parts[2]) > DECIMAL_EXPONENT:  # past a Decimal's exponent (gelu at -10^12: 1e-2e23)
            negative, n, e = parts
            text = str(n)
            return f"{'-' if negative else ''}{text[0]}{'.' + text[1:] if digits > 1 else ''}e{e:+d}"
        d = as_decimal(parts, digits)
    elif not isinstance(value, Decimal) and beyond_decimal(mpmath.mpf(value)):
        return mpmath.nstr(mpmath.mpf(value), digits, strip_zeros=False, min_fixed=0, max_fixed=0)
    else:
        d = round_sig(value, digits)
    if not d.is_finite():
        return {"Infinity": "inf", "-Infinity": "-inf"}.get(str(d), "nan")
    if d == 0:
        return "0"
    exponent = d.adjusted()
    if -5 <= exponent < max(digits, 9):
        return f"{d:.{max(digits - 1 - exponent, 0)}f}"
    with localcontext() as ctx:
        ctx.Emax, ctx.Emin = MAX_EMAX, MIN_EMIN
        mantissa = d.scaleb(-exponent)
    return f"{mantissa:.{digits - 1}f}e{exponent:+d}"


def exact_decimal(value, digits: int) -> str | None:
    """A rational with a short terminating decimal expansion, written exactly (0.15, not 0.150000000)."""
    if not isinstance(value, sp.Rational):
        return None
    q = int(value.q)
    twos = fives = 0
    while q % 2 == 0:
        q //= 2
        twos += 1
    while q % 5 == 0:
        q //= 5
        fives += 1
    places = max(twos, fives)
    if q != 1 or places > digits:
        return None
    text = f"{int(value.p) * 10**places // int(value.q):d}"
    negative = text.startswith("-")
    text = text.lstrip("-").rjust(places + 1, "0")
    body = f"{text[:-places]}.{text[-places:]}" if places else text
    return ("-" if negative else "") + body


def short_decimal(value, digits: int) -> str | None:
    """A high-precision value that is a short decimal to 30 significant digits (0.3775 computed as
    0.05 * 0.15 + ...), written as that decimal."""
    try:
        d = round_sig(value, 30)
    except Undecided:
        return None
    if not d.is_finite() or d == 0 or not -6 <= d.adjusted() < digits:  # (normalize() past Emax overflows)
        return None
    d = d.normalize()
    if len(d.as_tuple().digits) > digits:
        return None
    return f"{d:f}"


def plain(value, digits: int) -> str:
    """Exact when the value is a short decimal (0.15, 0.3775), else ``fmt``. A `Proven` value is one
    only when it is exact (a ball proves no equality: 0.6 + 4e-41 is not 0.6, though its first 30
    digits are); another value when its first 30 digits are."""
    if isinstance(value, Proven):
        q = value.fraction
        exact = q is not None and exact_decimal(sp.Rational(int(q.p), int(q.q)), digits)
        return exact or fmt(value, digits)
    return exact_decimal(value, digits) or short_decimal(value, digits) or fmt(value, digits)


#: The JSON key of a value that float64 cannot hold (see `json_value`).
DECIMAL_KEY = "value_decimal"
_LARGEST, _SMALLEST = Decimal("1.7976931348623157e308"), Decimal("2.2250738585072014e-308")


def json_value(value) -> dict:
    """A value for JSON, which has no infinity and whose numbers are float64 to most readers:
    ``{"value": x}`` when float64 holds it (a normal float, or 0): x is the float nearest its correct
    rounding to 40 significant digits (read from those digits, never from a ball's midpoint); else
    ``{"value": None, "value_decimal": "2.36...e+86858"}``: that rounding as a string ("inf" or "-inf"
    for a value that is infinite in exact arithmetic, "undecided" where no precision decides it)."""
    written = fmt(value, 40)
    if written in (UNDECIDED, "inf", "-inf", "nan"):
        return {"value": None, DECIMAL_KEY: written}
    _, _, exponent = written.partition("e")
    d = None if exponent and abs(int(exponent)) > 400 else Decimal(written)
    if d is not None and (d == 0 or _SMALLEST <= abs(d) <= _LARGEST):
        return {"value": float(d)}  # (not from 17 digits, which would round twice)
    return {"value": None, DECIMAL_KEY: fmt(value, 17)}


def digits_shown(printed: Decimal) -> str:
    """How many digits a written number shows: "4 decimals", "1 decimal", "units"."""
    places = -int(printed.as_tuple().exponent)  # a written number: finite, its exponent a whole number
    return f"{places} decimal{'s' if places != 1 else ''}" if places > 0 else "units"
