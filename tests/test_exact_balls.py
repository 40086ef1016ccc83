"""A ball of radius 0 is an exact value (arb's balls contain the true value): it is kept as the fmpq it
is, so that it prints as exactly as a value computed from fmpqs does. A relu neuron that is off in
every sample gives its weights a gradient of exactly 0 (a product with an exact 0 ball), and the
weight after the step is then exactly the weight: bce_mean's w3 - 0.5 * 0 is -0.6271, printed so,
not -0.627100000 (a ball proves no equality)."""

import flint
import mpmath
from networks import EXTREME, TODAY, ZOO

import derive
from derive.model import quantities as Q
from derive.model.decimals import plain
from derive.model.proven import Proven


def test_a_weight_with_an_exactly_zero_gradient_is_printed_as_given():
    model = derive.Model(derive.parse(ZOO["bce_mean"]))
    totals = model.evaluation.totals
    dead = [p for p in model.network.parameters if p.kind == Q.WEIGHT and totals[Q.gradient(p.name)] == 0]
    assert [p.name for p in dead] == ["w3", "w4", "w8", "w11"]
    for p in dead:
        before, after = totals[p.quantity], totals[p.quantity.with_update()]
        assert after.exact and after.fraction == before.fraction
        assert plain(after, 9) == plain(before, 9) == mpmath.nstr(mpmath.mpf(before), 4)
    row = "$w_{3}$ & $-0.6271$ & $0$ & $-0.6271$ \\\\"
    assert row in model.latex().splitlines()


def test_no_value_is_a_ball_of_radius_zero():
    """The class: every value of every network of the test zoo, per sample and in total."""
    seen = 0
    for text in {**ZOO, **EXTREME, **TODAY}.values():
        evaluation = derive.Model(derive.parse(text)).evaluation
        for value in [v for sample in evaluation.samples for v in sample.values()] + list(evaluation.totals.values()):
            if isinstance(value, Proven):
                seen += 1
                assert not (isinstance(value.value, flint.arb) and value.value.is_exact() and value.value.is_finite())
    assert seen > 1000
