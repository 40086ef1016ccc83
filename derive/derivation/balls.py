"""SymPy expressions evaluated as balls (python-flint's `arb`), exactly where they can be.

`ball_value` walks a SymPy tree as `evaluate.mp_value` does, but every value is either an exact
rational (`fmpq`: inputs, parameters, and sums and products of them, so a net of 0.0075 + 0.02 -
0.0275 is exactly 0) or a ball that certainly contains the true value. A comparison (a Piecewise
branch, a kink) is decided exactly or by the ball; a ball that cannot decide it raises `Undecided`,
and the caller computes again at a higher precision. A registered function is evaluated by its
textbook form (elementary functions), and the walker writes the forms that would lose every digit
to cancellation the way that keeps them: ln(1 + u) as log1p(u), e^u - 1 as expm1(u), 1 ± erf(u) as
erfc(∓u), 1 ± tanh(u) as 2 / (1 + e^(∓2u)). A division by an exact 0 is a true infinity (`INFINITE`).
"""

from __future__ import annotations

import flint
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from derive.model.functions import ARB_FUNCTIONS, ONE_PLUS, Registered
from derive.model.proven import Undecided

fmpq, arb = flint.fmpq, flint.arb


class Infinite(ArithmeticError):
    """A division by an exact zero: the value is infinite (or undefined) in exact arithmetic."""


_FUNCTIONS = ARB_FUNCTIONS | {expm1: arb.expm1, log1p: arb.log1p}
_CONSTANTS = {sp.pi: arb.pi, sp.E: arb.const_e}
_TEMPLATES: dict[tuple, tuple[sp.Expr, tuple[sp.Symbol, ...]]] = {}


def ball(value) -> arb:
    return value if isinstance(value, arb) else arb(value)


def ball_value(expr: sp.Expr, env: dict):
    """``expr`` as an fmpq (exact) or an arb at flint's current precision; ``env`` maps symbols to
    fmpq or arb values."""
    if expr.is_Symbol:
        return env[expr]
    if expr.is_Rational:
        return fmpq(int(expr.p), int(expr.q))
    if expr.is_Float:  # a binary float is an exact rational
        exact = sp.Rational(expr)
        return fmpq(int(exact.p), int(exact.q))
    if expr.is_NumberSymbol:
        return _CONSTANTS[expr]()
    if isinstance(expr, sp.Piecewise):
        for value, condition in expr.args:
            if condition is sp.true or condition_value(condition, env):
                return ball_value(value, env)
        raise ValueError(f"no branch of {expr} holds")
    if expr.is_Add:
        stable = _stable_sum(expr, env)
        if stable is not None:
            return stable
        return _sum([ball_value(a, env) for a in expr.args])
    if expr.is_Mul:
        total = fmpq(1)
        for a in expr.args:
            total = total * ball_value(a, env)
        return total
    if expr.is_Pow:
        base = ball_value(expr.base, env)
        if expr.exp.is_Integer:
            n = int(expr.exp)
            if n < 0:
                return _divide(fmpq(1), base) ** -n
            return base**n
        exponent = ball_value(expr.exp, env)
        if exponent == fmpq(1, 2):
            return ball(base).sqrt()
        return ball(base) ** ball(exponent)
    if isinstance(expr, Registered):
        template, dummies = _template(expr)
        return ball_value(template, env | {d: ball_value(a, env) for d, a in zip(dummies, expr.args, strict=True)})
    if isinstance(expr, sp.Max | sp.Min):
        values = [ball_value(a, env) for a in expr.args]
        pick = max if isinstance(expr, sp.Max) else min
        if all(isinstance(v, fmpq) for v in values):
            return pick(values)
        result = ball(values[0])
        for v in values[1:]:
            result = result.max(ball(v)) if pick is max else result.min(ball(v))
        return result
    if isinstance(expr, sp.Abs):
        return abs(ball_value(expr.args[0], env))
    if isinstance(expr, sp.log) and expr.args[0].is_Add and sp.S.One in expr.args[0].args:
        rest = expr.args[0] - 1
        return ball(ball_value(rest, env)).log1p()
    function = _FUNCTIONS.get(type(expr))
    if function is None:
        raise TypeError(f"no numeric rule for {type(expr).__name__}")
    args = [ball_value(a, env) for a in expr.args]
    if isinstance(expr, sp.exp) and isinstance(args[0], fmpq) and args[0] == 0:
        return fmpq(1)
    if isinstance(expr, sp.log) and isinstance(args[0], fmpq) and args[0] == 1:
        return fmpq(0)
    if isinstance(expr, sp.log) and isinstance(args[0], fmpq) and args[0] == 0:
        raise Infinite
    return function(*(ball(a) for a in args))


def _sum(values):
    exact = [v for v in values if isinstance(v, fmpq)]
    balls = [v for v in values if not isinstance(v, fmpq)]
    total = sum(exact, fmpq(0))
    if not balls:
        return total
    result = balls[0]
    for b in balls[1:]:
        result = result + b
    return result + total if total != 0 else result


def _divide(numerator, denominator):
    if isinstance(denominator, fmpq):
        if denominator == 0:
            raise Infinite
        return numerator / denominator
    return numerator / denominator


def _stable_sum(expr: sp.Add, env):
    """1 ± f(u) and e^u - 1 written without their cancellation (see the module's docstring)."""
    if len(expr.args) != 2:
        return None
    a, b = expr.args
    if a == sp.S.NegativeOne and isinstance(b, sp.exp):
        return _function(arb.expm1, b.args[0], env)
    if a != sp.S.One:
        return None
    sign, f = 1, b
    if b.is_Mul and len(b.args) == 2 and b.args[0] == sp.S.NegativeOne:
        sign, f = -1, b.args[1]
    rule = ONE_PLUS.get(type(f))
    if rule is not None:
        u = ball_value(f.args[0], env)
        if isinstance(u, fmpq) and u == 0:  # erf(0) = 0 exactly
            return fmpq(1)
        return rule(sign, ball(u))
    return None


def _function(function, arg, env):
    value = ball_value(arg, env)
    if isinstance(value, fmpq) and value == 0:
        return fmpq(0) if function is arb.expm1 else fmpq(1)
    return function(ball(value))


def _template(expr: Registered):
    """The function's textbook form with a symbol for each argument (constant arguments, a softmax's
    index, stay in it), made once per function and constants."""
    constants = tuple(a if a.is_Integer else None for a in expr.args)
    key = (type(expr), constants)
    if key not in _TEMPLATES:
        dummies = tuple(sp.Dummy(f"x{i}") for i in range(len(expr.args)))
        args = [c if c is not None else d for c, d in zip(constants, dummies, strict=True)]
        form = getattr(type(expr), "textbook", None) or type(expr).elementary
        _TEMPLATES[key] = (form(*args), dummies)
    return _TEMPLATES[key]


def condition_value(condition, env) -> bool:
    """A Piecewise condition (comparisons, And, Or, Not, ITE), decided exactly or by the balls;
    `Undecided` when a ball straddles a comparison."""
    if condition in (sp.true, sp.false):
        return bool(condition)
    if isinstance(condition, sp.And | sp.Or):
        test = all if isinstance(condition, sp.And) else any
        return test(condition_value(c, env) for c in condition.args)
    if isinstance(condition, sp.Not):
        return not condition_value(condition.args[0], env)
    if isinstance(condition, sp.ITE):
        test, then, otherwise = condition.args
        return condition_value(then if condition_value(test, env) else otherwise, env)
    left, right = (ball_value(a, env) for a in condition.args)
    difference = left - right
    if isinstance(difference, fmpq):
        sign = (difference > 0) - (difference < 0)
    elif difference > 0:
        sign = 1
    elif difference < 0:
        sign = -1
    elif difference.is_zero():
        sign = 0
    else:
        raise Undecided(str(condition))
    return {"<": sign < 0, "<=": sign <= 0, ">": sign > 0, ">=": sign >= 0}[condition.rel_op]
