"""`canonical.product` and `canonical.total` build what ``sympy.Mul`` and ``sympy.Add`` build: the same
class, equal, the same arguments in the same order (so every printer prints the same), for the
symbols a network names and for anything else (numbers, powers, repeated terms: SymPy's own)."""

from __future__ import annotations

import sympy as sp
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st
from networks import ZOO

import derive
from derive.model import canonical

NAMES = ["w1", "w2", "w10", "w100", "b1", "b2", "out_h1", "out_h10", "out_h2", "i1", "i2", "i10", "delta_o1",
         "delta_h1", "net_h1", "x", "E_total", "t", "z0", "m_w5"]
SYMBOLS = [sp.Symbol(n, real=True) for n in NAMES] + [sp.Symbol("p"), sp.Symbol("q", positive=True)]
ATOMS = st.sampled_from([*SYMBOLS, sp.S.One, sp.Integer(2), sp.Rational(1, 4), sp.Float("0.5")])


def _same(got, expected):
    assert type(got) is type(expected) and got == expected and got.args == expected.args, (got, expected)
    assert sp.srepr(got) == sp.srepr(expected) and str(got) == str(expected)


@given(ATOMS, ATOMS)
def test_product(a, b):
    _same(canonical.product(a, b), a * b)


@given(st.lists(st.one_of(ATOMS, st.tuples(ATOMS, ATOMS).map(lambda p: p[0] * p[1])), max_size=12))
def test_total(terms):
    _same(canonical.total(terms), sp.Add(*terms))


def test_every_step_as_sympy_builds_it(reference, monkeypatch):
    """Every step's written and computed forms of the built-in networks and the zoo are those of a
    derivation built with sp.Mul and sp.Add themselves."""
    from derive.derivation.steps import Derivation

    examples = [derive.load(ROOT / "derive" / "examples" / f"{name}.toml") for name in ("cnn", "cnn_pool")]
    models = [reference, *examples, *(derive.Model(derive.parse(text, f"{n}.toml")) for n, text in ZOO.items())]
    fast = [m.derivation for m in models]
    monkeypatch.setattr(canonical, "product", lambda a, b: a * b)
    monkeypatch.setattr(canonical, "total", lambda terms: sp.Add(*terms))
    for derivation in fast:
        slow = Derivation(derivation.network)
        assert [s.quantity for s in slow.steps] == [s.quantity for s in derivation.steps]
        for mine, theirs in zip(derivation.steps, slow.steps, strict=True):
            _same(mine.formula, theirs.formula)
            _same(mine.compute, theirs.compute)


PLAIN = st.sampled_from([*SYMBOLS, sp.Symbol("w1"), sp.Symbol("w1", positive=True), sp.Symbol("a", integer=True)])


@given(st.lists(st.one_of(PLAIN, st.tuples(PLAIN, PLAIN).filter(lambda p: p[0] != p[1]).map(lambda p: p[0] * p[1]),
                          st.tuples(PLAIN, PLAIN, PLAIN).map(lambda p: p[0] * p[1] * p[2])), max_size=12))
def test_key_is_compares_order(terms):
    """The key the fast paths sort plain symbols and their products by orders them as SymPy's own
    ``_args_sortkey`` (``Basic.compare``): names, assumptions, the products' lengths and arguments."""
    from sympy.core.add import _args_sortkey

    terms = [t for t in dict.fromkeys(terms) if canonical._keyed(t)]
    assert sorted(terms, key=canonical._key) == sorted(terms, key=_args_sortkey)
    for a in terms:
        for b in terms:
            if type(a) is sp.Symbol and type(b) is sp.Symbol and a != b:
                _same(canonical.product(a, b), a * b)


def test_evaluated_is_doit(reference):
    """`steps.evaluated`, the derivation's shortcut for ``formula.doit()``, gives what doit gives for
    every step's formula of the built-in networks and the zoo, and for products SymPy builds itself."""
    from derive.derivation.steps import evaluated

    models = [reference, *(derive.Model(derive.parse(text, f"{n}.toml")) for n, text in ZOO.items())]
    for formula in [s.formula for m in models for s in m.derivation.steps] + [a * b for a in SYMBOLS for b in SYMBOLS]:
        _same(evaluated(formula), formula.doit())


def test_total_of_one_unevaluated():
    """Add of one term is the term itself, except where SymPy is told not to evaluate."""
    x = SYMBOLS[0]
    with sp.core.parameters.evaluate(False):
        _same(canonical.total([x]), sp.Add(x))
    _same(canonical.total([x]), sp.Add(x))
