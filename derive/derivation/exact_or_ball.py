"""Arithmetic on the values `derive.derivation.balls` computes: each an exact rational (`fmpq`) or
a ball (`arb`) certainly containing the true value. Exact values stay exact as long as they meet
only exact values (a sum's exact terms are added exactly before any ball); a division by an exact 0
is a true infinity (`Infinite`)."""

from __future__ import annotations

from flint import arb, fmpq

_ZERO, _ONE = fmpq(0), fmpq(1)


class Infinite(ArithmeticError):
    """A division by an exact zero: the value is infinite (or undefined) in exact arithmetic."""


def ball(value) -> arb:
    return value if type(value) is arb else arb(value)


def _exact(value) -> bool:
    return type(value) is fmpq


def _pick(values, largest: bool):
    if all(_exact(v) for v in values):
        return max(values) if largest else min(values)
    result = ball(values[0])
    for v in values[1:]:
        result = result.max(ball(v)) if largest else result.min(ball(v))
    return result


def _sum(values):
    total, result = _ZERO, None
    for v in values:
        if type(v) is fmpq:
            total = total + v
        else:
            result = v if result is None else result + v
    if result is None:
        return total
    return result + total if total != 0 else result


def _divide(numerator, denominator):
    if _exact(denominator) and denominator == 0:
        raise Infinite
    return numerator / denominator
