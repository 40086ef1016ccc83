"""The plain Python session: what `repr`, `print` and a claim give without the command line."""

from decimal import Decimal

import pytest

import derive


@pytest.fixture(scope="module")
def model():
    return derive.load()


def test_repr_names_the_network_its_shape_and_settings(model):
    assert repr(model) == ("<derive.Model 'mazur': layers 2-2-2, logistic, loss half_sse, 10 parameters, 1 sample; "
                           "sgd (learning rate 0.5), full batch, biases frozen>")


def test_repr_of_mixed_activations_and_optimizer():
    from conftest import spec_text

    spec = derive.parse(spec_text(layers="[2, 3, 1]", activation='["tanh", "identity"]', loss='"mse"',
                                  weights=None, biases=None, seed="3", learning_rate=None,
                                  samples="[training]\noptimizer = \"adam\"\nlearning_rate = 0.01\n\n"
                                          "[[samples]]\ninputs = [1, 2]\ntargets = [0.5]\n"
                                          "[[samples]]\ninputs = [0, 1]\ntargets = [0.25]\n"))
    text = repr(derive.Model(spec))
    assert text.startswith("<derive.Model 't': layers 2-3-1, tanh → identity, loss mse, 11 parameters, 2 samples; adam")


def test_print_of_an_explanation_is_the_text_derivation(model):
    """The same lines as `derive gradients --quantity`, not the data structure."""
    assert str(model.explain("dE_total/dw5")).splitlines() == [
        "dnet_o1/dw5 = d/dw5 (w5 * out_h1 + w6 * out_h2 + b2)",
        "    = out_h1",
        "    = 0.593269992",
        "dE_total/dw5 = dE_total/dout_o1 * dout_o1/dnet_o1 * dnet_o1/dw5",
        "    = 0.741365070 * 0.186815602 * 0.593269992",
        "    = delta_o1 * out_h1   (delta rule)",
        "    = 0.0821670406",
        "w5+ = w5 - eta * dE_total/dw5",
        "    = 0.4 - 0.5 * 0.0821670406",
        "    = 0.358916480",
    ]


@pytest.mark.parametrize("value", [0.0822, "0.0822", Decimal("0.0822")])
def test_a_claim_as_float_string_or_decimal(model, value):
    verdict = model.claim("dE_total/dw5", value)
    assert verdict.agrees and verdict.correct == "0.0821670406"
    assert str(verdict) == ("Your dE_total/dw5 = 0.0822: correct. It agrees with 0.0821670406 to the 4 decimals "
                            "you gave.")


def test_a_wrong_claim_names_its_slip_as_the_command_line_does(model, capsys):
    from derive.cli import main

    verdict = model.claim("dE_total/dw6", 0.0822)
    assert main(["check", "--claim", "dE_total/dw6=0.0822"]) == 1
    printed = capsys.readouterr().out
    assert str(verdict) in printed and not verdict.agrees
    assert verdict.as_dict()["quantity"] == "dE_total/dw6"
    assert verdict.slips[0] == "the value of dE_total/dw5 given for dE_total/dw6"


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "cannot read claim 'dE_total/dw5=abc': 'abc' is not a number"),
    (float("nan"), "cannot read claim 'dE_total/dw5=nan': the value must be finite"),
])
def test_a_bad_claim_value_is_the_command_lines_message(model, value, message):
    with pytest.raises(derive.QuantityError, match=f"^{message}$"):
        model.claim("dE_total/dw5", value)


def test_the_auditor_takes_a_float(model):
    """A float once crashed it (AttributeError: 'float' object has no attribute 'as_tuple')."""
    assert model.auditor.examine("dE_total/dw5", 0.0822).agrees
