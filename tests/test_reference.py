"""The reference article's network: every published number, checked against the correct computation.

The correct values come from the independent mpmath route (tests/independent.py); each published
number either agrees with them to its printed digits, or is one of the article's mistakes and is
listed below with the correct value the tool must give instead."""

from decimal import Decimal

import independent
import mpmath
import pytest

from derive.model.decimals import fmt, to_decimal

# Published numbers that are right: (quantity, value as printed).
RIGHT = [
    ("net_h1", "0.3775"), ("out_h1", "0.593269992"), ("out_h2", "0.596884378"),
    ("net_o1", "1.105905967"), ("out_o1", "0.75136507"), ("out_o2", "0.772928465"),
    ("E_o1", "0.274811083"), ("E_o2", "0.023560026"), ("E_total", "0.298371109"),
    ("dE_total/dout_o1", "0.74136507"), ("dout_o1/dnet_o1", "0.186815602"), ("dnet_o1/dw5", "0.593269992"),
    ("dE_total/dw5", "0.082167041"), ("w5+", "0.35891648"), ("w6+", "0.408666186"), ("w7+", "0.511301270"),
    ("w8+", "0.561370121"), ("dE_o1/dnet_o1", "0.138498562"), ("dnet_o1/dout_h1", "0.40"),
    ("dE_o1/dout_h1", "0.055399425"), ("dE_total/dout_h1", "0.036350306"), ("dout_h1/dnet_h1", "0.241300709"),
    ("dnet_h1/dw1", "0.05"), ("dE_total/dw1", "0.000438568"), ("w1+", "0.149780716"), ("w2+", "0.19956143"),
    ("w3+", "0.24975114"), ("w4+", "0.29950229"),
]


def rounded_like(value, printed: str) -> Decimal:
    return to_decimal(value).quantize(Decimal(printed))


@pytest.mark.parametrize("quantity,printed", RIGHT)
def test_published_numbers_that_are_right_are_reproduced_to_their_digits(reference, quantity, printed):
    assert rounded_like(reference.value(quantity), printed) == Decimal(printed)


def test_the_published_dEo2_dout_h1_is_off_in_its_last_digit(reference):
    # Article: -0.019049119. Correct: delta_o2 * w7 = -0.0190491183..., i.e. -0.019049118.
    value = reference.value("dE_o2/dout_h1")
    with mpmath.workdps(60):
        layers = independent.forward(
            reference.spec, independent.parameters(reference.spec), reference.spec.samples[0].inputs
        )
        outs_o = layers[1][1]
        delta_o2 = (outs_o[1] - mpmath.mpf("0.99")) * outs_o[1] * (1 - outs_o[1])
        assert abs(value - delta_o2 * mpmath.mpf("0.5")) < mpmath.mpf("1e-50")
    assert rounded_like(value, "-0.019049119") == Decimal("-0.019049118")


def test_every_gradient_matches_high_precision_finite_differences(reference):
    fd = independent.gradient(reference.spec)
    for name, value in reference.gradients().items():
        assert abs(value - fd[name]) <= mpmath.mpf("1e-25") * (1 + abs(fd[name])), name


def test_bias_gradients_which_the_article_never_gives(reference):
    # Pinned from the independent route at 60 digits, printed to 9 significant digits.
    fd = independent.gradient(reference.spec)
    assert fmt(fd["b1"]) == "0.0187256094" and fmt(reference.value("dE_total/db1")) == "0.0187256094"
    assert fmt(fd["b2"]) == "0.100400325" and fmt(reference.value("dE_total/db2")) == "0.100400325"


def test_error_after_one_step_is_not_the_published_one(reference):
    # The article: 0.291027924 with frozen biases. One exact step (finite differences, 60 digits):
    params = independent.train(reference.spec, 1, freeze_biases=True)
    exact = independent.total_error(reference.spec, params)
    assert fmt(exact) == "0.291027774"
    run = reference.train(1, freeze_biases=True)
    assert abs(run.error_after_first - float(exact)) < 1e-15


def test_ten_thousand_steps_against_a_textbook_loop_implementation(reference):
    run = reference.train(10000, freeze_biases=True)
    _, B, first, error = independent.loop_train(reference.spec, 10000, freeze_biases=True)
    assert run.error == pytest.approx(error, rel=1e-9)
    assert run.error_after_first == pytest.approx(first, rel=1e-12)
    assert fmt(run.error, 6) == "0.0000351019"  # the article prints 0.0000351085
    assert [fmt(o, 8) for o in run.outputs[0]] == ["0.015913620", "0.98406427"]  # article: 0.015912196, 0.984065734
    assert B == [[0.35], [0.6]]


def test_training_biases_too(reference):
    assert reference.spec.freeze_biases  # the article's procedure is the spec's default
    run = reference.train(10000, freeze_biases=False)
    _, B, _, error = independent.loop_train(reference.spec, 10000)
    assert run.error == pytest.approx(error, rel=1e-9)
    assert run.parameters["b1"] == pytest.approx(B[0][0], rel=1e-9)
