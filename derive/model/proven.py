"""Values whose printed digits are proven: a ball (python-flint's `arb`: a midpoint and a radius that
certainly contains the true value), or an exact rational (`fmpq`), rounded to d significant digits
only when every point of the ball rounds to the same decimal. When it does not, the ball is computed
again at twice the precision (its ``source``) until it does, up to `CAP` bits.

A `Proven` is an `mpmath.mpf` (the ball's midpoint, for the arithmetic other code does with it) that
carries its proof; `derive.model.decimals` rounds it by `decide`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

import mpmath
from mpmath.libmp import from_int, from_man_exp, mpf_div, mpf_pos

if TYPE_CHECKING:  # the checker reads python-flint's types; at run time it may be missing
    import flint
else:
    try:
        import flint
    except ModuleNotFoundError as exc:  # PrairieLearn's image has SymPy and mpmath, not python-flint
        if exc.name != "flint":  # (installed, but a module of it is missing: broken, not absent)
            raise
        flint = None
    # Any other ImportError (an installed python-flint that fails to load: a broken install, a shared
    # library not mapped on a loaded machine) propagates: it must not silently change every printed
    # digit to the mpmath route's.

#: False only where python-flint is not installed (a PrairieLearn worker runs the exercise's
#: `server.py` there): values are then computed with mpmath at `evaluate.PRECISION` digits, as the
#: audit's variants always are, not as balls: no printed digit is proven, none is needed to draw or
#: mark an exercise; the documents refuse to print (`require_balls`).
HAVE_FLINT = flint is not None

NO_FLINT = ("python-flint is not installed: derive prints no value without it, every printed digit being "
            "proven by its balls (pip install python-flint)")


def require_balls() -> None:
    """RuntimeError (`NO_FLINT`) without python-flint: a printer of values calls it first, so that no
    document prints the 60-digit route's unproven digits (an exact 0 as -4.86e-63)."""
    if not HAVE_FLINT:
        raise RuntimeError(NO_FLINT)

START = 256  # bits: a ball is first computed at this precision, then at twice it while undecided
CAP = 2**16  # bits (19,700 digits); 1 - out at a saturated registry entry is computed by its complement
#: The largest decimal exponent at which `decide`'s rounding is handed out as a Decimal (the contexts of
#: `derive.model.decimals` hold up to 10^18 - 1); `decide` has no bound.
DECIMAL_EXPONENT = 9 * 10**17


class Undecided(ArithmeticError):
    """A comparison or a sign that this precision cannot decide."""


def precision(bits: int):
    """flint's working precision as a context (flint.ctx.prec is global)."""
    return _Precision(bits)


class _Precision:
    def __init__(self, bits: int):
        self.bits = bits

    def __enter__(self):
        self.previous = flint.ctx.prec
        flint.ctx.prec = self.bits

    def __exit__(self, *exc):
        flint.ctx.prec = self.previous


def to_mpf(value) -> mpmath.mpf:
    """An fmpq or an arb's midpoint as an mpf at mpmath's current precision (nan for a ball that is
    not finite)."""
    prec, rounding = mpmath.mp._prec_rounding
    if isinstance(value, flint.fmpq):  # mpf(p) / q, its two roundings on the raw values
        return _MAKE(mpf_div(mpf_pos(from_int(int(value.p)), prec, rounding), from_int(int(value.q)), prec, rounding))
    if isinstance(value, flint.fmpz):
        return mpmath.mpf(int(value))
    if not value.is_finite():
        return mpmath.nan if value.is_nan() or not value.mid().is_finite() else mpmath.mpf(value.mid().str(30))
    man, exp = value.mid().man_exp()
    return _MAKE(from_man_exp(int(man), int(exp), prec, rounding))  # mpf((man, exp))


_MAKE = mpmath.mp.make_mpf


class Proven(mpmath.mpf):
    """An mpf (the midpoint) with its proof: ``value`` (an exact fmpq, or an arb computed at
    ``bits``) and ``source(bits)``, which computes the same value again at that precision."""

    value: flint.fmpq | flint.arb
    bits: int
    source: Callable[[int], flint.fmpq | flint.arb] | None

    def __new__(cls, value, bits: int, source: Callable[[int], flint.fmpq | flint.arb] | None):
        self = object.__new__(cls)  # (mpf.__new__ would round to_mpf's value again at the same precision: a no-op)
        self._mpf_ = to_mpf(value)._mpf_
        self.value, self.bits, self.source = value, bits, source
        return self

    def __reduce__(self):
        """Across processes (`derive exercise`'s workers): the value itself, an exact one exactly and a
        ball as its midpoint and a radius no smaller, without its source (a closure): the copy is
        decided at the precision the ball was computed at."""
        return _restore, (_parts(self.value), self.bits)

    @property
    def exact(self) -> bool:
        return isinstance(self.value, flint.fmpq)

    @property
    def fraction(self) -> flint.fmpq | None:
        """The value when it is exact, else None (a ball)."""
        return self.value if isinstance(self.value, flint.fmpq) else None

    def ball_at(self, bits: int):
        """The value as a ball (or exactly) at ``bits`` of precision or more."""
        if self.exact or self.bits >= bits or self.source is None:
            return self.value
        self.value, self.bits = self.source(bits), bits
        return self.value


#: A ball of radius 0 is its midpoint exactly, a dyadic rational: as an fmpq up to this exponent of 2.
EXACT_EXPONENT = 4096


def exact_ball(value):
    """An arb of radius 0 (an exact 0 times a ball; a sum of exact dyadics) as the fmpq it is, so that
    it prints as exactly as the same value computed from fmpqs does (w3 - 0.5 * 0 is -0.6271): what
    `derive.derivation.decided` computes goes through it."""
    if isinstance(value, flint.arb) and value.is_exact() and value.is_finite():
        man, exp = value.mid().man_exp()
        if abs(int(exp)) <= EXACT_EXPONENT:
            return flint.fmpq(int(man) * 2 ** int(exp)) if exp >= 0 else flint.fmpq(int(man), 2 ** -int(exp))
    return value


def _parts(value) -> tuple:
    if isinstance(value, flint.fmpq):
        return "q", int(value.p), int(value.q)
    if isinstance(value, flint.fmpz):
        return "q", int(value), 1
    if not value.is_finite():
        return "f", float(to_mpf(value))
    (man, exp), (rman, rexp) = value.mid().man_exp(), value.rad().man_exp()
    return "b", int(man), int(exp), int(rman), int(rexp)


def _restore(parts: tuple, bits: int) -> Proven:
    kind, *numbers = parts
    value: flint.fmpq | flint.arb
    if kind == "q":
        value = flint.fmpq(*numbers)
    elif kind == "f":
        value = flint.arb(numbers[0])
    else:
        man, exp, rman, rexp = numbers
        value = flint.arb(flint.arf((man, exp)), flint.arf((rman, rexp)))
    return Proven(value, bits, None)


def decide(value: Proven, digits: int) -> tuple[bool, int, int] | None:
    """``value`` correctly rounded (half to even) to ``digits`` significant digits, proven by its ball
    at the precision it takes: (negative, n, e) for ±n × 10^(e - digits + 1), 10^(digits-1) <= n <
    10^digits (n = 0 for an exact 0), with no bound on e (e^-(10^23) has its digits too); None where no
    precision up to `CAP` decides it."""
    if isinstance(value.value, flint.fmpq):  # value.exact
        return _rational_parts(value.value, digits)
    bits = value.bits
    while True:
        ball = value.ball_at(bits)
        with precision(max(bits, 128) + 64):
            decided = _round_ball(ball, digits)
        if decided is not None or bits >= CAP or value.source is None:
            return decided
        bits *= 2


def as_decimal(parts: tuple[bool, int, int], digits: int) -> Decimal:
    negative, n, e = parts
    if n == 0:
        return Decimal(0)
    return Decimal((int(negative), tuple(int(c) for c in str(n)), e - digits + 1))


def is_zero(value) -> bool | None:
    """Whether a value is exactly 0 (True), certainly not 0 (False), or undecided (None)."""
    if isinstance(value, flint.fmpq):
        return value == 0
    if value.is_zero():
        return True
    return None if value.contains(0) else False


def _rational_parts(q: flint.fmpq, digits: int) -> tuple[bool, int, int]:
    p, d = int(q.p), int(q.q)
    if p == 0:
        return False, 0, 0
    sign, p = int(p < 0), abs(p)
    e = len(str(p)) - len(str(d))  # within one of floor(log10(p/d)); then 10^e <= p/d < 10^(e+1)
    while not _at_least(p, d, e):
        e -= 1
    while _at_least(p, d, e + 1):
        e += 1
    shift = digits - 1 - e
    num, den = p * 10 ** max(shift, 0), d * 10 ** max(-shift, 0)
    n, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and n % 2):
        n += 1
    if n == 10**digits:
        n, e = n // 10, e + 1
    return bool(sign), n, e


def _at_least(p: int, d: int, k: int) -> bool:
    """p/d >= 10^k, in integers."""
    return p * 10 ** max(-k, 0) >= d * 10 ** max(k, 0)


def _round_ball(ball, digits: int) -> tuple[bool, int, int] | None:
    if isinstance(ball, flint.fmpq):
        return _rational_parts(ball, digits)
    if not ball.is_finite():
        return None
    if ball.is_zero():
        return False, 0, 0
    if ball.contains(0):
        return None
    negative = bool(ball < 0)
    a = abs(ball)
    guess = (a.log() / flint.arb(10).log()).mid().floor().unique_fmpz()
    if guess is None:
        return None
    e = int(guess)
    low, high = 10 ** (digits - 1), 10**digits
    for _ in range(4):
        m = a * flint.arb(10) ** (digits - 1 - e)
        if m < low:
            e -= 1
        elif m >= high:
            e += 1
        else:
            break
    else:
        return None
    if not m >= low:  # straddles 10^e: decided only as 10^e itself, within half a unit of the finer side
        e -= 1
        m = m * 10
    n = (m + flint.arb(1) / 2).floor().unique_fmpz()
    if n is None or not (m > n - flint.arb(1) / 2 and m < n + flint.arb(1) / 2):
        return None
    n = int(n)
    if n == high:
        n, e = low, e + 1
    if not low <= n < high:
        return None
    return negative, n, e
