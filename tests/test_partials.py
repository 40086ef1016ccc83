"""The local partials of a formula unit (an LSTM's cell, a normalization's variance, attention's scores)
are ``sympy.diff`` of its formula in each input it reads, the same expressions; a sum differentiates only
its terms that read the input, so a batch's variance over N samples costs N terms, not N² (a batch of
400 samples took 37 s, most of it there)."""

import pytest
import sympy as sp
from conftest import ROOT

import derive
from derive.model.network import _Partials

EXAMPLES = sorted((ROOT / "derive" / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_formulas_partials_are_sympy_diff_in_each_input(path):
    network = derive.load(path).network
    for unit, formula in network.formulas.items():
        partials = _Partials(formula)
        for symbol in sorted(formula.free_symbols, key=str):
            expected = sp.diff(formula, symbol)
            got = partials(symbol)
            assert sp.srepr(got) == sp.srepr(expected), (unit, symbol)


def test_a_batch_variance_differentiates_only_the_terms_an_input_is_in(monkeypatch):
    """A batch of 40 samples: each sample's x reads one of the variance's 40 terms, the mean reads all of
    them; the derivatives taken are those 40 + 40, not 41 × 40."""
    text = (ROOT / "derive" / "examples" / "batchnorm.toml").read_text()
    head = text[:text.index("[[samples]]")]
    samples = "".join(f"[[samples]]\ninputs = [{k / 40:.3f}, {1 - k / 35:.3f}]\ntargets = [0.5, 0.5]\n\n"
                      for k in range(40))
    network = derive.Model(derive.parse(head + samples)).network
    variance = next(f for f in network.formulas.values() if f.is_Mul and len(f.free_symbols) == 41)
    partials = _Partials(variance)
    taken = []
    diff = sp.Expr.diff

    def counted(self, *args, **kwargs):
        taken.append(self)
        return diff(self, *args, **kwargs)

    monkeypatch.setattr(sp.Expr, "diff", counted)
    for symbol in variance.free_symbols:
        partials(symbol)
    terms = set(variance.as_coeff_Mul()[1].args)
    assert len(terms) == 40 and len([t for t in taken if t in terms]) == 80
