"""`mp_compiled.compile_mp` computes what `evaluate.mp_value` computes, bit for bit: every step's
compute form and written form, of a network for every registered activation (hidden) and every
output activation and loss, in the ordinary and the extreme regimes, at 60 and 50 digits (the
evaluator's precision and the check's finite differences')."""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp
from networks import EXTREME, ZOO
from test_every_value import _cases, _spec

import derive
from derive.derivation.evaluate import mp_value
from derive.derivation.mp_compiled import compile_mp
from derive.derivation.mp_raw import compile_fast


def _agree(model) -> int:
    network = model.network
    env = {network.symbol(q): v for q, v in model.evaluation.samples[0].items()}
    compared = 0
    for step in model.derivation.steps:
        for expr in (step.compute, step.formula.doit()):
            for digits in (60, 50):
                with mpmath.workdps(digits):
                    try:
                        expected = mp_value(expr, env)
                    except (ZeroDivisionError, ValueError, TypeError) as error:
                        for compile_ in (compile_mp, compile_fast):
                            with pytest.raises(type(error)):
                                compile_(expr)(env)
                        continue
                    got, fast = compile_mp(expr)(env), compile_fast(expr)(env)
                for found in (got, fast):
                    assert type(found) is type(expected) and (found == expected or
                                                              (found != found and expected != expected)), (
                        step.quantity, expr, digits, found, expected)
                    if isinstance(found, mpmath.mpf):
                        assert found._mpf_ == expected._mpf_
                compared += 1
    return compared


@pytest.mark.parametrize("case", _cases(), ids=lambda c: "-".join(c) if isinstance(c, tuple) else c)
def test_every_activation_and_loss(case):
    hidden, output, loss, regime = case
    assert _agree(derive.Model(derive.parse(_spec(hidden, output, loss, regime), "n.toml"))) > 20


@pytest.mark.parametrize("name", sorted(ZOO) + sorted(EXTREME))
def test_zoo_and_extremes(name):
    text = {**ZOO, **EXTREME}[name]
    assert _agree(derive.Model(derive.parse(text, f"{name}.toml"))) > 10


def test_every_kind_of_node():
    """Rationals, floats, constants, integer and other powers, a Piecewise, SymPy's own functions."""
    x, y = sp.symbols("x y", real=True)
    env = {x: mpmath.mpf("0.3"), y: mpmath.mpf("-1.25")}
    exprs = [x / 3 + sp.Rational(7, 11), x * sp.Float("0.1", 30), sp.pi * x + sp.E, x**3 * y**-2, sp.Abs(y) ** x,
             sp.Piecewise((x, y > 0), (y * 2, True)), sp.exp(x) + sp.log(2 + y), sp.Max(x, y) - sp.Min(x, y)]
    for expr in exprs:
        for digits in (15, 60, 1000):
            with mpmath.workdps(digits):
                assert compile_mp(expr)(env)._mpf_ == mp_value(expr, env)._mpf_, (expr, digits)



def _raw_values():
    """mpf values of every kind: regular ones of fewer and more bits than the precision they are used
    at (an evaluation's 60-digit values at the check's 50), exact small ones, 0, ±inf and NaN."""
    values = [mpmath.mpf(0), mpmath.inf, -mpmath.inf, mpmath.nan, mpmath.mpf(1), mpmath.mpf(-1), mpmath.mpf(0.5),
              mpmath.mpf(2) ** 1000, mpmath.mpf(2) ** -1074]
    for digits in (15, 50, 60, 120):
        with mpmath.workdps(digits):
            values += [mpmath.mpf(1) / 3, -mpmath.mpf(2) / 7, mpmath.sqrt(2) * 10**20, mpmath.exp(-50)]
    return values


def test_the_raw_product_and_power_are_mpmath_s():
    """`mp_compiled.fprod2` is ``fprod([x, y])`` and `_power` is ``x ** n``, bit for bit, for every pair
    of every kind of value, at several precisions (the shortcut taken where x fits the precision)."""
    from derive.derivation.mp_compiled import _power, fprod2

    values = _raw_values()
    for digits in (15, 50, 60):
        with mpmath.workdps(digits):
            for x in values:
                for y in values:
                    expected, got = mpmath.fprod([x, y]), fprod2(x, y)
                    assert type(got) is type(expected) and got._mpf_ == expected._mpf_, (digits, x, y)
                for n in (-3, -2, -1, 0, 1, 2, 3, 7):
                    try:
                        expected = x**n
                    except ZeroDivisionError:
                        with pytest.raises(ZeroDivisionError):
                            _power(x, n)
                        continue
                    got = _power(x, n)
                    assert type(got) is type(expected) and got._mpf_ == expected._mpf_, (digits, x, n)


def test_raw_steps_on_values_of_every_kind():
    """`mp_raw.compile_fast` gives `compile_mp`'s value, bit for bit and of its type, for a logistic, an
    error, sums, products of two and three factors and integer powers, at values of every kind (fewer
    and more bits than the precision, 0, ±inf, NaN), at values that are not mpf (an int, a complex
    number: the step is then compile_mp's), and raises where it raises (0 to a negative power)."""
    from derive.model.registry import Logistic

    x, y, t = sp.symbols("x y t", real=True)
    exprs = [Logistic(x), sp.Rational(1, 2) * (t - y) ** 2, x + y + t, x * y, -x * y * t, x**-2 * y, sp.exp(-x) + 1,
             3 * x + sp.exp(y) * t, (x + y) ** 3, x * sp.Abs(y) ** sp.Rational(1, 2)]
    values = [*_raw_values()[::2], 3, mpmath.mpc(1, 2)]
    for expr in exprs:
        generic, fast = compile_mp(expr), compile_fast(expr)
        for a in values:
            for b in values[::3]:
                env = {x: a, y: b, t: mpmath.mpf("0.1")}
                for digits in (15, 50):
                    with mpmath.workdps(digits):
                        try:
                            expected = generic(env)
                        except (ZeroDivisionError, ValueError, TypeError) as error:
                            with pytest.raises(type(error)):
                                fast(env)
                            continue
                        got = fast(env)
                    assert type(got) is type(expected), (expr, a, b, digits)
                    if isinstance(got, mpmath.mpf):
                        assert got._mpf_ == expected._mpf_, (expr, a, b, digits)
                    else:
                        assert got == expected or (got != got and expected != expected)
