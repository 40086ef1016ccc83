"""`derive.check.diff_once.derivative` is ``sympy.diff``: the same expression (equal as SymPy compares
them), on networks whose nested errors repeat their subexpressions (a recurrent network's steps,
attention's scores, hidden outs read by every output) and hold Piecewise (relu) and Max; SymPy's own
``Expr.diff`` is back after it, also when it fails; an underivable node is left to SymPy."""

from importlib import resources

import pytest
import sympy as sp
from networks import ZOO
from sympy.core.cache import clear_cache
from sympy.core.expr import Expr

import derive
from derive.check import diff_once
from derive.model import quantities as Q

EXAMPLES = ("mazur", "rnn", "attention")


def _model(name: str) -> derive.Model:
    if name in ZOO:
        return derive.Model(derive.parse(ZOO[name], f"{name}.toml"))
    return derive.Model(derive.parse((resources.files("derive.examples") / f"{name}.toml").read_text(), f"{name}.toml"))


@pytest.mark.parametrize("name", [*EXAMPLES, "deep_tanh_relu", "softmax_ce"])
def test_the_derivative_is_sympy_diffs(name):
    model = _model(name)
    nested = model.network.nested_total()
    names = list(model.parameters)
    for p in dict.fromkeys([names[0], names[-1]]):  # the first layer's and the last's
        symbol = model.network.symbol(Q.parameter(p))
        clear_cache()  # each side computed afresh: SymPy's cache keeps each node's derivative, whoever asked
        want = sp.diff(nested, symbol)
        clear_cache()
        assert diff_once.derivative(nested, symbol) == want, p
    assert Expr.diff is sp.Expr.diff and Expr.diff.__qualname__ == "Expr.diff"  # SymPy's own again


def test_sympys_diff_is_back_after_a_failure():
    x = sp.Symbol("x")

    class Broken(sp.Function):
        def fdiff(self, argindex=1):
            raise RuntimeError("no rule")

    with pytest.raises(RuntimeError, match="no rule"):
        diff_once.derivative(Broken(x**2) * x, x)
    assert Expr.diff.__qualname__ == "Expr.diff"


def test_what_sympy_leaves_unevaluated_is_sympys():
    """An undefined function's derivative stays a Derivative, in SymPy's own canonical form."""
    x, y = sp.symbols("x y")
    f = sp.Function("f")
    expr = f(x, y) * sp.exp(x * y) + f(y, x) ** 2
    got = diff_once.derivative(expr, x)
    assert got == sp.diff(expr, x) and got.has(sp.Derivative)
