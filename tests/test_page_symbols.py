"""Every symbol a derivation shows is defined where it is shown: a value the stable forms compute on
the way (a temporary) is derived, with its numbers, before the first row that uses it, on the page and
in every explanation."""

import re

import pytest
from networks import TODAY, ZOO

import derive
from derive.derivation.explain import NAMES, NUMBERS
from derive.model import quantities as Q
from derive.render.web.html import Page


def _model(text, name):
    return derive.Model(derive.parse(text, f"{name}.toml"))


def _temporaries(model) -> dict:
    return {model.network.symbol(s.quantity): s.quantity for s in model.derivation.steps
            if s.quantity.kind == Q.TEMPORARY}


@pytest.mark.parametrize("name", sorted({**ZOO, **TODAY}))
def test_every_temporary_a_derivation_uses_is_derived_before_it(name):
    model = _model({**ZOO, **TODAY}[name], name)
    temporaries = _temporaries(model)
    for p in model.network.parameters:
        for sample in range(len(model.spec.samples)):
            defined = set()
            for row in model.explainer.walkthrough(p.name, sample).rows:
                if row.lhs is not None and row.lhs.kind == Q.TEMPORARY:
                    defined.add(row.lhs)
                if row.kind in (NAMES, NUMBERS) and row.expr is not None:
                    used = {temporaries[s] for s in row.expr.free_symbols if s in temporaries}
                    assert used <= defined, f"{p.name}, sample {sample + 1}: {used - defined} used undefined"


def test_the_softmax_page_shows_no_symbol_it_does_not_derive():
    """The softmax + cross-entropy page once showed ``target_sum``, which nothing defined: every
    temporary a parameter's derivation shows is derived in the piece where it first appears (or one
    before), and target_sum itself is gone (the fused delta no longer needs it)."""
    model = _model(ZOO["softmax_ce"], "softmax_ce")
    page = Page(model, "test")
    html = page.render()
    assert "target_sum" not in html
    names = {str(q) for q in _temporaries(model).values()}
    for parameter, ids in page.derivations.items():
        pieces = [page.pieces[k] for k in ids]
        for name in names:
            using = [k for k, p in enumerate(pieces) if re.search(rf">{name}<|{name}_", p)]
            defining = [k for k, p in enumerate(pieces) if f'data-derives="{name}' in p]
            if using:
                assert defining and defining[0] <= using[0], (parameter, name)
