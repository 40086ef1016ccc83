"""How far the generated code's float64 can be from each gradient: a running error bound.

The generated code computes each kernel step's compute form, with every registered function as its
float form. Walking those same expressions with the exact values of their symbols, each value carries
a bound on |float64 − exact|, from the unit roundoff u = 2^-53 of every operation and the bounds of
its operands (Wilkinson's running error analysis, made rigorous for products and functions):

- a sum's bound is its terms' bounds plus (n − 1)·u·Σ|terms| (each addition rounds a partial sum no
  larger than that), so it is relative to the magnitudes summed, not to the sum: 10^12 − 10^12 + 0.35
  and 1.0 − out where out rounds to 1 are bounded by the terms' size;
- a product's is Π(|x_i| + e_i) − Π|x_i| plus its roundings; a power's, and a function's, the most
  it moves over the operand's interval [x − e, x + e] plus 4 ulp for the library's own rounding;
- each rounding may also underflow (2^-1075 absolute: e^-1000 is 0), and a value past 2^1024 is inf.

A gradient whose exact value is within 10% of its bound is one float64 cannot resolve there: the
check says so, rather than passing it on an absolute tolerance (a 1e-97 gradient computed as 0).
"""

from __future__ import annotations

import mpmath
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from derive.derivation.mp_compiled import fprod, fsum
from derive.model import quantities as Q
from derive.model.functions import CONSTANTS, DERIVED, ELEMENTARY, Registered

UNIT = mpmath.mpf(2) ** -53  # float64's unit roundoff
TINY = mpmath.mpf(2) ** -1075  # half the smallest subnormal: a rounding's absolute error where it underflows
HUGE = mpmath.mpf(2) ** 1024  # past float64's range: inf
NORMAL = mpmath.mpf(2) ** -1022  # float64's smallest normal number: below it, roundings are absolute
LIBRARY = 4  # ulp a library function (exp, log, tanh, erfc) may be off, beyond its operand's error
RESOLVED = mpmath.mpf("0.1")  # a bound above 10% of the exact value: float64 does not resolve it
FUNCTIONS = {sp.exp: mpmath.exp, sp.log: mpmath.log, log1p: mpmath.log1p, expm1: mpmath.expm1,
             **dict(ELEMENTARY.values()), **DERIVED}


class Unbounded(Exception):
    """An expression the walk has no rule for: the check then keeps its fixed tolerance."""


def gradient_bounds(derivation, values: dict, parameters=None) -> dict[str, mpmath.mpf]:
    """parameter -> the bound of its generated gradient for one sample (``values``: the sample's
    exact values by quantity), for ``parameters`` (default: every one). A step that no wanted gradient
    reads, directly or through others, is left out where its walk cannot fail (`_plain`: a sum or
    product of known symbols and numbers, as the gradients of the 7,920 parameters the check does not
    sample at 64-64-64), so the walk raises Unbounded exactly where the walk of every step does."""
    network = derivation.network
    env = {network.symbol(q): v for q, v in values.items()}
    names = [p.name for p in network.parameters] if parameters is None else list(parameters)
    wanted = {network.symbol(Q.gradient(p)) for p in names}
    walked = []
    for step in reversed(derivation.kernel):
        if step.symbol in wanted or not _plain(step.compute, env):
            walked.append(step)
            wanted |= step.compute.free_symbols
    errors: dict = {}
    with mpmath.workdps(30):
        for step in reversed(walked):
            errors[step.symbol] = _step_bound(step.compute, env, errors)[1]
    return {p: errors[network.symbol(Q.gradient(p))] for p in names}


def _plain(expr, env) -> bool:
    """A sum or product of symbols ``env`` holds and numbers: what `_bound` walks without failing."""
    if expr.is_Symbol:
        return expr in env
    if expr.is_Rational or expr.is_Float:
        return True
    return (expr.is_Add or expr.is_Mul) and all(_plain(a, env) for a in expr.args)


def unresolved(chain, bound) -> bool:
    return bound > RESOLVED * abs(chain)


_FORMS: dict = {}  # (function, its arguments' assumptions) -> (dummies, its float form at them)


def _step_bound(expr, env, errors):
    """``_bound`` of a kernel step's float form. An activation's step, f(net) of a symbol, walks f's
    float form made once at a symbol of the same assumptions that holds the net's value and bound
    while it is walked: SymPy builds (or substitutes into) a Piecewise in milliseconds, 128 of them
    at 64-64-64, and the walk reads a symbol's value and bound and nothing else of it."""
    if not (isinstance(expr, Registered) and all(a.is_Symbol for a in expr.args)):
        return _bound(_float_form(expr), env, errors)
    key = (type(expr), tuple(tuple(sorted(a.assumptions0.items())) for a in expr.args))
    if key not in _FORMS:
        dummies = tuple(sp.Dummy(**a.assumptions0) for a in expr.args)
        _FORMS[key] = (dummies, expr.float_form(*dummies))
    dummies, form = _FORMS[key]
    for dummy, argument in zip(dummies, expr.args, strict=True):
        env[dummy], errors[dummy] = _bound(argument, env, errors)
    try:
        return _bound(form, env, errors)
    finally:
        for dummy in dummies:
            del env[dummy], errors[dummy]


def _float_form(expr):
    if not expr.has(Registered):  # most steps (a net's sum, a delta's product): nothing to rewrite
        return expr
    return expr.replace(lambda e: isinstance(e, Registered), lambda e: e.float_form(*e.args))


def _bound(expr, env, errors):
    """(exact value, bound on the float64 value's error)."""
    if expr.is_Symbol:
        value = env[expr]
        return value, errors[expr] if expr in errors else _read(value)  # an input, target or parameter: as read
    if expr.is_Integer:
        return mpmath.mpf(int(expr)), mpmath.mpf(0)
    if expr.is_Rational:
        value = mpmath.mpf(int(expr.p)) / int(expr.q)
        return value, UNIT * abs(value)
    if expr.is_Float:
        return mpmath.mpf(expr), UNIT * abs(mpmath.mpf(expr))
    if expr.is_NumberSymbol:
        value = dict(CONSTANTS.values())[expr]()
        return value, UNIT * abs(value)
    if isinstance(expr, Registered):
        return _bound(_float_form(expr), env, errors)
    if isinstance(expr, sp.Piecewise):
        for value, condition in expr.args:
            if _holds(condition, env, errors):
                return _bound(value, env, errors)
        raise Unbounded(f"no branch of {expr} holds")
    parts = [_bound(a, env, errors) for a in expr.args]
    if expr.is_Add:  # (fsum and fprod: mpmath's, bit for bit, on raw values)
        value, size = fsum([v for v, _ in parts]), fsum([abs(v) + e for v, e in parts])
        return value, fsum([e for _, e in parts]) + _rounding(parts, value, (len(parts) - 1) * UNIT * size)
    if expr.is_Mul:
        if any(v == 0 and e == 0 for v, e in parts):  # an exact 0 factor (relu' off its kink): exactly 0
            return mpmath.mpf(0), mpmath.mpf(0)
        value, top = fprod([v for v, _ in parts]), fprod([abs(v) + e for v, e in parts])
        return value, top - abs(value) + _rounding(parts, value, (len(parts) - 1) * UNIT * top)
    if expr.is_Pow:
        (base, error), (exponent, _) = parts
        return _function(lambda x: x**exponent, base, error, 1 if expr.exp.is_Integer and expr.exp > 0 else LIBRARY)
    if isinstance(expr, sp.Max | sp.Min):
        pick = max if isinstance(expr, sp.Max) else min
        return pick(v for v, _ in parts), max(e for _, e in parts)
    if isinstance(expr, sp.Abs):
        return abs(parts[0][0]), parts[0][1]
    function = FUNCTIONS.get(type(expr))
    if function is None or len(parts) != 1:
        raise Unbounded(f"no error rule for {type(expr).__name__}")
    ((x, error),) = parts
    return _function(function, x, error, LIBRARY)


def _read(value):
    """The error of a number as float64 holds it: 0 where it is a float64 (1, 0.5, 300)."""
    return mpmath.mpf(0) if _exact(value) else UNIT * abs(value)


def _exact(value) -> bool:
    try:
        return mpmath.mpf(float(value)) == value
    except OverflowError:
        return False


def _rounding(parts, value, bound):
    """A sum's or product's own rounding: none where its operands are exact and so is the result
    (1 - 1.0 = 0, 0.5 * 2), else ``bound``."""
    return mpmath.mpf(0) if all(e == 0 for _, e in parts) and _exact(value) else _rounded(value, bound)


def _rounded(value, bound):
    """``bound`` plus the underflow a rounding may add (e^-1000 is 0 in float64), or inf past the range."""
    if abs(value) >= HUGE:
        return mpmath.inf
    return bound + TINY if abs(value) <= NORMAL + bound else bound


def _function(function, x, error, ulps):
    """f(x) and the most f moves over [x − error, x + error] (f monotone there: every function here
    is, on an interval this small), plus ``ulps`` of its own rounding."""
    value = function(x)
    try:
        moved = max(abs(function(x + error) - value), abs(function(x - error) - value))
    except (ValueError, ZeroDivisionError):  # the interval leaves the domain (a log of about 0)
        moved = mpmath.inf
    if isinstance(value, mpmath.mpc):
        raise Unbounded("a complex value")
    if isinstance(moved, mpmath.mpc):  # the interval leaves the real domain (a root of about 0)
        moved = mpmath.inf
    return value, _rounded(value, moved + ulps * UNIT * abs(value))


def _holds(condition, env, errors) -> bool:
    if condition in (sp.true, sp.false):
        return bool(condition)
    if isinstance(condition, sp.And):
        return all(_holds(c, env, errors) for c in condition.args)
    if isinstance(condition, sp.Or):
        return any(_holds(c, env, errors) for c in condition.args)
    if isinstance(condition, sp.Not):
        return not _holds(condition.args[0], env, errors)
    if isinstance(condition, sp.core.relational.Relational):
        left, right = _bound(condition.lhs, env, errors)[0], _bound(condition.rhs, env, errors)[0]
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right,
                     "==": left == right, "!=": left != right}[condition.rel_op])
    raise Unbounded(f"no rule for the condition {condition}")
