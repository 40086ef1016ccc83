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
from derive.model import quantities as Q

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


def test_a_network_as_sympy_builds_it(reference):
    """Every net input and gradient formula of the built-in networks and the zoo, against sp.Add and sp.Mul."""
    examples = [derive.load(ROOT / "derive" / "examples" / f"{name}.toml") for name in ("cnn", "cnn_pool")]
    for model in [reference, *examples, *(derive.Model(derive.parse(text, f"{n}.toml")) for n, text in ZOO.items())]:
        network, derivation = model.network, model.derivation
        for layer in network.layers[1:]:
            for n in layer:
                expected = sp.Add(*(
                    (network.symbol(Q.parameter(t.parameter)) if t.parameter is not None
                     else t.coefficient) * (network.symbol(t.factor) if t.factor else 1)
                    for t in network.net_terms[n]))
                _same(network.net_expr(n), expected)
        for p in network.parameters:
            expected = sp.Add(*(derivation.sym(Q.delta(n)) * derivation._net_factor(n, p.name)
                                for n in p.feeds))
            _same(derivation.gradient(p.name), expected)
