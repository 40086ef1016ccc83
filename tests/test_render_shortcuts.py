"""The printing shortcuts of the straight-line Python module (issue #28: `derive html` on 64-64-64 spent
1.9 s rendering it) print exactly what the general path prints: a sum of two-symbol products written
from its pairs, an activation's float form printed once at a stand-in symbol, and pyformat's direct
text for a name and a two-name product. Each is compared with the path it replaces, for every network
of the zoo and every registered function."""

import ast
import types

import pytest
import sympy as sp
from conftest import spec_text
from networks import EXTREME, TODAY, ZOO

import derive
from derive.model import quantities as Q
from derive.model import registry  # noqa: F401  (fills the registry)
from derive.model.functions import Registered
from derive.render.code import code_functions, pyformat
from derive.render.code import python as P

NETWORKS = {**ZOO, **EXTREME, **TODAY, "wide": spec_text(
    layers="[3, 12, 5]", weights=None, biases=None, seed="2",
    samples="[[samples]]\ninputs = [0.1, -0.4, 0.7]\ntargets = [0.2, 0.9, 0.1, 0.5, 0.3]\n")}


def _registered() -> list[type[Registered]]:
    """Every registered function class (the registry's and, once their specs are loaded, spec-defined ones)."""
    found, todo = [], [Registered]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            found.append(sub)
            todo.append(sub)
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__, c.text_name))


def _through_sympy(monkeypatch):
    """The module's printing with the shortcuts off: every statement through SymPy's printers."""
    monkeypatch.setattr(P, "_symbol_products", lambda expr: None)
    monkeypatch.setattr(P._Printer, "inline", lambda self, expr: self.doprint(expr.float_form(*expr.args)))
    monkeypatch.setattr(code_functions.RegisteredCalls, "_one_call",
                        lambda self, expr: code_functions._single_call(expr.float_form(*expr.args)))
    monkeypatch.setattr(pyformat, "_text", lambda node: pyformat.expression(pyformat._unparse(node)))
    monkeypatch.setattr(pyformat, "_spaced",
                        lambda source, node: pyformat._HUG.sub(r"\1**\2", pyformat._unparse(node)))


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_module_is_the_same_with_and_without_the_shortcuts(name, monkeypatch):
    model = derive.Model(derive.parse(NETWORKS[name]))
    fast = P.render(model.derivation, "test")
    with monkeypatch.context() as patched:
        _through_sympy(patched)
        general = P.render(model.derivation, "test")
    assert fast == general


def test_a_hidden_unit_s_sum_takes_the_shortcut():
    """The shortcut is taken where it is meant to be (else the test above compares a path with itself):
    a hidden unit's dE/dout is a sum of delta * weight products."""
    model = derive.Model(derive.parse(NETWORKS["wide"]))
    step = model.derivation.step[Q.partial(Q.TOTAL_ERROR, Q.out("h1"))]
    pairs = P._symbol_products(step.compute)
    assert pairs is not None and len(pairs) == 5
    assert [str(model.network.quantity_of[a]) + "*" + str(model.network.quantity_of[b]) for a, b in pairs] == [
        str(t).replace(" ", "") for t in P._Printer(model.network).doprint(step.compute).split(" + ")]
    x, y, z = sp.symbols("x y z")
    assert P._symbol_products(x * y + 2 * z) is None and P._symbol_products(x * y - y * z) is None
    assert P._symbol_products(x * y * z + x * y) is None and P._symbol_products(x * y) is None


def test_inline_float_form_at_a_stand_in_is_the_direct_one():
    """Every registered function of one argument, at symbols of several names (sorting before and after
    the stand-in's) and assumptions (a positive one decides the logistic's guard), one printer for all
    of them: the stand-in's printing renamed is the float form printed directly, the helpers noted the
    same."""
    derive.Model(derive.parse(NETWORKS["own_functions"]))  # a spec's own functions are registered too
    names = ["h1", "a", "zz9", "Z", "x_1"]
    symbols = [sp.Symbol(f"s_{n}_{k}", **assumptions) for k, assumptions in enumerate(
        [{}, {"real": True}, {"positive": True}, {"negative": True}]) for n in names]
    network = types.SimpleNamespace(quantity_of={s: Q.net(s.name) for s in symbols})
    tried = 0
    for cls in _registered():
        fast = P._Printer(network)
        for symbol in symbols:
            try:
                expr = cls(symbol)
                direct_form = expr.float_form(symbol) if isinstance(expr, Registered) else None
            except (TypeError, ValueError, IndexError):
                continue  # not a function of one argument
            if direct_form is None:  # evaluates to something else (the identity: its argument)
                continue
            slow = P._Printer(network)
            assert fast.inline(expr) == slow.doprint(direct_form), (cls, symbol)
            assert slow.helpers <= fast.helpers, cls
            tried += 1
    assert tried >= 10 * len(symbols)


def test_one_call_at_a_stand_in_is_the_direct_one():
    """`RegisteredCalls._one_call` (the C and Python printers): every registered function of one argument at
    symbols of several assumptions gives the float form built at the symbol itself when that is one call,
    and None when it is not; some are one call (tanh, erf), some not (the logistic's guarded form)."""
    from derive.render.code.c_printer import CPrinter

    derive.Model(derive.parse(NETWORKS["own_functions"]))
    symbols = [sp.Symbol(f"s{k}", **assumptions) for k, assumptions in enumerate(
        [{}, {"real": True}, {"positive": True}, {"negative": True}])]
    printer = CPrinter(str, None, "double")
    found = set()
    for cls in _registered():
        for symbol in symbols:
            try:
                expr = cls(symbol)
                direct = code_functions._single_call(expr.float_form(symbol)) if isinstance(expr, Registered) else False
            except (TypeError, ValueError, IndexError):
                continue  # not a function of one argument
            if direct is False:
                continue
            assert printer._one_call(expr) == direct, (cls, symbol)
            found.add(direct is None)
    assert found == {True, False}


@pytest.mark.parametrize("source", ["a", "a * b", "a + b", "a - b", "a / b", "a ** b", "-a", "(a)", "a * b * c",
                                    "a * (b + c)", "-(a ** 2)", "f(a) * b", "1.0 * a", "a % b"])
def test_pyformat_direct_text_is_the_unparsed_one(source):
    node = ast.parse(source, mode="eval").body
    assert pyformat._text(node) == pyformat.expression(pyformat._unparse(ast.parse(source, mode="eval").body))
    assert pyformat.expression(source) == pyformat._HUG.sub(
        r"\1**\2", pyformat._unparse(ast.parse(source, mode="eval").body))
