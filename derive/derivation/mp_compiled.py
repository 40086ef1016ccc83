"""`evaluate.mp_value` compiled: a SymPy expression turned once into a Python closure that computes the
same mpmath number, bit for bit, at whatever precision is current when it is called.

`mp_value` walks the SymPy tree on every call, asking each node what it is (a symbol? a rational? an
Add?): on a 64-64-64 network the check's high-precision finite differences call it over a million
times on the same few thousand terms, and the questions cost more than the arithmetic. A compiled
closure asks them once. Each node does exactly what `mp_value` does with it (a sum is mpmath's
``fsum`` of its terms, a product ``fprod``, a rational p/q is ``mpf(p) / q`` at the current
precision, a Piecewise is handed to `mp_value` itself), so the two agree exactly
(tests/test_mp_compiled.py checks every step of every registry activation and loss).
"""

from __future__ import annotations

from operator import itemgetter

import mpmath
import sympy as sp
from mpmath.libmp import fone, mpf_mul, mpf_pos, mpf_pow_int, mpf_sum

from derive.derivation.evaluate import MPMATH_CONSTANTS, MPMATH_FUNCTIONS, mp_value
from derive.model.functions import Registered

_fsum, _fprod, _mpf, _context = mpmath.fsum, mpmath.fprod, mpmath.mpf, mpmath.mp
_make = _context.make_mpf


def fsum(values: list):
    """``mpmath.fsum(values)``, without its questions when every value is an mpf: the exact sum of
    their mantissas, rounded once (`libmp.mpf_sum`, as fsum does)."""
    for x in values:
        if not isinstance(x, _mpf):  # an mpf, or a subclass that computes as one (`proven.Proven`)
            return _fsum(values)
    prec, rounding = _context._prec_rounding
    return _make(mpf_sum([x._mpf_ for x in values], prec, rounding))


def fprod(values: list):
    """``mpmath.fprod(values)``, which multiplies 1 by each factor in turn, each product rounded, and
    rounds the result once more (a no-op): the same roundings, on the raw values."""
    prec, rounding = _context._prec_rounding
    product = fone
    for x in values:
        if not isinstance(x, _mpf):  # an mpf, or a subclass that computes as one (`proven.Proven`)
            return _fprod(values)
        product = mpf_mul(product, x._mpf_, prec, rounding)
    return _make(mpf_pos(product, prec, rounding))


def fprod2(x, y):
    """``fprod([x, y])``: where x's value has at most the current precision's bits (as every value
    computed at it), 1·x is x and the product rounded once more is itself, so it is the one
    rounded product ``mpf_mul(x, y)`` (the rest through `fprod`)."""
    prec, rounding = _context._prec_rounding
    if isinstance(x, _mpf) and isinstance(y, _mpf):
        raw = x._mpf_
        if raw[1] and raw[3] <= prec:  # a regular value that fits (not 0, an infinity or a NaN)
            return _make(mpf_mul(raw, y._mpf_, prec, rounding))
    return fprod([x, y])


def _power(base, power: int):
    """``base ** power`` for an integer power: what mpf's ``__pow__`` computes (``mpf_pow_int`` at the
    current precision) without its questions about the exponent's type."""
    if isinstance(base, _mpf):
        prec, rounding = _context._prec_rounding
        return _make(mpf_pow_int(base._mpf_, power, prec, rounding))
    return base**power


def _rational(p: int, q: int):
    """``mpf(p) / q`` at the current precision and rounding, computed once for each."""
    found = {}

    def value(env):
        key = tuple(_context._prec_rounding)
        if key not in found:
            found[key] = _mpf(p) / q
        return found[key]

    return value


def compile_mp(expr: sp.Expr):
    """A function of an environment (symbol -> mpf) equal to ``mp_value(expr, env)``."""
    if expr.is_Symbol:
        return itemgetter(expr)
    if expr.is_Rational:
        return _rational(int(expr.p), int(expr.q))
    if expr.is_Float:
        return lambda env: _mpf(expr)
    if expr.is_NumberSymbol:
        constant = MPMATH_CONSTANTS[expr]
        return lambda env: constant()
    if isinstance(expr, sp.Piecewise):
        return lambda env: mp_value(expr, env)
    if isinstance(expr, Registered) and expr.mp is None:
        return compile_mp(expr.elementary(*expr.args))
    parts = [compile_mp(a) for a in expr.args]
    if expr.is_Add:
        return lambda env: fsum([f(env) for f in parts])
    if expr.is_Mul:
        if len(parts) == 2:
            first, second = parts
            return lambda env: fprod2(first(env), second(env))
        return lambda env: fprod([f(env) for f in parts])
    if expr.is_Pow:
        base, exponent = parts
        if expr.exp.is_Integer:
            power = int(expr.exp)
            return lambda env: _power(base(env), power)
        return lambda env: base(env) ** exponent(env)
    function = expr.mp if isinstance(expr, Registered) else MPMATH_FUNCTIONS.get(type(expr))
    if function is None:
        raise TypeError(f"no numeric rule for {type(expr).__name__}")
    if len(parts) == 1:
        only = parts[0]
        return lambda env: function(only(env))
    return lambda env: function(*[f(env) for f in parts])
