"""Every symbol a derivation shows is defined where it is shown: a value the stable forms compute on
the way (the softmax + cross-entropy delta's sum of the targets, ``target_sum``) is derived, with its
numbers, before the first row that uses it, on the page and in every explanation."""

import re

import pytest
from networks import TODAY, ZOO

import derive
from derive.derivation.explain import NAMES, NUMBERS
from derive.model import quantities as Q
from derive.render.html import Page


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


def test_the_softmax_page_derives_the_sum_of_the_targets_where_it_uses_it():
    model = _model(ZOO["softmax_ce"], "softmax_ce")
    page = Page(model, "test")
    page.render()
    shown = 0
    for parameter, ids in page.derivations.items():
        pieces = [page.pieces[k] for k in ids]
        using = [k for k, p in enumerate(pieces) if "target_sum" in p]
        defining = [k for k, p in enumerate(pieces) if 'data-derives="target_sum' in p]
        if using:
            shown += 1
            assert defining and defining[0] == using[0], parameter  # derived where it is first shown
    assert shown == 3 * 3 + 3  # the output layer's weights and biases (one per neuron)
    first = next(p for p in page.pieces if 'data-derives="target_sum' in p)
    text = re.sub(r"\s+", "", re.sub(r"<[^>]+>", " ", first))
    # sample 1's targets are 0, 1, 0
    assert text.startswith("target_sum=targeto1+targeto2+targeto3=0+1+0=1"), text
