"""`mp_compiled.compile_mp` on mpmath's raw values: a step's sums, products, integer powers and
exponentials computed on the ``(sign, mantissa, exponent, bits)`` tuples of `mpmath.libmp`, one
``mpf`` made for the result instead of one for every node.

The check's 50-digit differences at 64-64-64 compute a logistic, 1 / (1 + e^-net), and an error,
(t - out)^2 / 2, 51,000 times each; wrapping every intermediate value in an ``mpf`` and asking of it
whether it is one cost about a third of their time. Each node makes the libmp call that
`mp_compiled` makes for it, at the same precision and rounding, so the result is the same bit for
bit (tests/test_mp_compiled.py compares the two on every step of every registry activation and
loss, and on values that are not mpf: zeros, infinities, NaN, integers, complex numbers). Where a
node's value would not be an ``mpf`` (an input that is not one, a function that returns something
else), the whole step is computed by `compile_mp` itself; a node this module has no raw rule for (a
Piecewise, a registered function's own ``mp``, a non-integer power) is `compile_mp`'s, its value
read raw.
"""

from __future__ import annotations

import mpmath
import sympy as sp
from mpmath.libmp import fone, mpf_exp, mpf_mul, mpf_pos, mpf_pow_int, mpf_sum

from derive.derivation.mp_compiled import compile_mp
from derive.model.functions import Registered

_mpf, _context = mpmath.mpf, mpmath.mp
_make = _context.make_mpf


class _NotRaw(Exception):
    """A value on the way is not an mpf: the step is `compile_mp`'s."""


def compile_fast(expr: sp.Expr):
    """A function of an environment equal to ``compile_mp(expr)``'s, bit for bit and in type."""
    generic = compile_mp(expr)
    while isinstance(expr, Registered) and expr.mp is None:  # (as compile_mp: its elementary form)
        expr = expr.elementary(*expr.args)
    if not (expr.is_Add or expr.is_Mul or (expr.is_Pow and expr.exp.is_Integer) or isinstance(expr, sp.exp)):
        return generic  # (its value is not always one compile_mp makes: a symbol's own, a function's)
    raw = _raw(expr)

    def value(env):
        prec, rounding = _context._prec_rounding
        try:
            return _make(raw(env, prec, rounding))
        except _NotRaw:
            return generic(env)

    return value


def _raw(expr: sp.Expr):
    """A function of (environment, precision, rounding) giving ``compile_mp(expr)(env)._mpf_``, or
    raising _NotRaw where that value, or one it is made from, is not an mpf."""
    if expr.is_Symbol:
        def symbol(env, prec, rounding):
            v = env[expr]
            if isinstance(v, _mpf):
                return v._mpf_
            raise _NotRaw

        return symbol
    if isinstance(expr, Registered) and expr.mp is None:
        return _raw(expr.elementary(*expr.args))
    if expr.is_Add:
        parts = [_raw(a) for a in expr.args]
        return lambda env, prec, rounding: mpf_sum([f(env, prec, rounding) for f in parts], prec, rounding)
    if expr.is_Mul:
        parts = [_raw(a) for a in expr.args]
        if len(parts) == 2:
            first, second = parts
            return lambda env, prec, rounding: _product2(first(env, prec, rounding), second(env, prec, rounding),
                                                         prec, rounding)
        return lambda env, prec, rounding: _product([f(env, prec, rounding) for f in parts], prec, rounding)
    if expr.is_Pow and expr.exp.is_Integer:
        base, power = _raw(expr.base), int(expr.exp)
        return lambda env, prec, rounding: mpf_pow_int(base(env, prec, rounding), power, prec, rounding)
    if isinstance(expr, sp.exp):
        (argument,) = [_raw(a) for a in expr.args]
        return lambda env, prec, rounding: mpf_exp(argument(env, prec, rounding), prec, rounding)
    generic = compile_mp(expr)  # (a number, a Piecewise, a function's own mp, a power that is not an integer)

    def other(env, prec, rounding):
        v = generic(env)
        if isinstance(v, _mpf):
            return v._mpf_
        raise _NotRaw

    return other


def _product(values: list, prec: int, rounding: str):
    """`mp_compiled.fprod` of raw values: 1 times each in turn, each rounded, and rounded once more."""
    product = fone
    for x in values:
        product = mpf_mul(product, x, prec, rounding)
    return mpf_pos(product, prec, rounding)


def _product2(x, y, prec: int, rounding: str):
    """`mp_compiled.fprod2` of raw values: one rounded product where x is regular and fits."""
    if x[1] and x[3] <= prec:
        return mpf_mul(x, y, prec, rounding)
    return _product([x, y], prec, rounding)
