"""Nets that lie exactly on a kink: every activation with one (the registry's with a piecewise
definition, and a spec's own with max, min or abs), in the first and in a deeper layer, on both
sides of rounding (the nets are sums of decimals whose binary sums at 60 digits are ±1e-63, not 0).

Each such net must be exactly 0 in the scalar derivation and in the matrix form, the slope there
the stated convention (written out here, not read from the engine), and every cell of the matrix
form equal to the scalar derivation's; the LaTeX matrix form prints the net as 0."""

import json
from fractions import Fraction

import mpmath
import pytest
import sympy as sp
from conftest import spec_text
from test_matrix import assert_same_numbers

import derive
from derive.model import quantities as Q
from derive.model.registry import ACTIVATIONS
from derive.render.tex.latex_matrix import sections

#: The derivative each kinked activation takes at its kink, by its documented convention.
BUILT_IN = {"relu": 0, "leaky_relu": Fraction(1, 100), "elu": 1}
OWN = {  # a spec's own: at a tie max and min take their first argument's branch; abs'(0) = 0
    "max(0, net)": 0,
    "max(net, 0)": 1,
    "max(net, 0.1 * net)": 1,
    "max(0.1 * net, net)": Fraction(1, 10),
    "min(0, net) + net": 1,
    "min(net, 2 * net)": 1,
    "abs(net)": 0,
    "(net + abs(net)) / 2": Fraction(1, 2),
}
KINKED = [(name, slope, "") for name, slope in BUILT_IN.items()] + [
    ("f", slope, f"[activations]\nf = {json.dumps(formula)}\n") for formula, slope in OWN.items()]
IDS = [*BUILT_IN, *OWN]
SAMPLE = "[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n"
# Layer 1's nets: 0.35 * 0.05 - 0.15 * 0.1 - 0.0025 and 0.15 * 0.05 + 0.2 * 0.1 - 0.0275, both exactly 0.
FIRST = {"bias": '"per_neuron"', "weights": "[[[0.35, -0.15], [0.15, 0.20]], [[0.40, 0.45], [0.50, 0.55]]]",
         "biases": "[[-0.0025, -0.0275], [0.60, 0.60]]"}
# Layer 1's nets 0.3775 and 0.3925 (positive: every function here is the identity there, so its
# outs are exact too); layer 2's: 0.5 * 0.3775 - 0.5 * 0.3925 + 0.0075 and its negative, both exactly 0.
DEEP = {"layers": "[2, 2, 2, 2]", "bias": '"per_neuron"',
        "weights": "[[[0.15, 0.20], [0.25, 0.30]], [[0.5, -0.5], [-0.5, 0.5]], [[0.40, 0.45], [0.50, 0.55]]]",
        "biases": "[[0.35, 0.35], [0.0075, -0.0075], [0.60, 0.60]]"}
CASES = {"first": (FIRST, 1), "deep": (DEEP, 2)}  # the spec and the layer whose nets lie on the kink


def model(name: str, tables: str, case: str):
    over, layer = CASES[case]
    activations = [name] * layer + ["logistic"]
    return derive.Model(derive.parse(spec_text(activation=json.dumps(activations), samples=tables + "\n" + SAMPLE,
                                               **over), "kink.toml"))


def _decimals(text: str):
    return json.loads(text, parse_float=Fraction, parse_int=Fraction)  # exact: Fraction("0.15")


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fixtures_nets_are_exactly_0_but_not_in_binary(case):
    """The premise: each kinked net is 0 as a sum of decimals, and ±1e-63 summed at 60 digits, with
    both signs among the neurons (so a route that sums in binary takes the wrong side somewhere)."""
    over, layer = CASES[case]
    weights, biases = _decimals(over["weights"]), _decimals(over["biases"])
    outs = [Fraction("0.05"), Fraction("0.10")]
    for k in range(layer):
        nets = [sum(w * o for w, o in zip(row, outs, strict=True)) + b for row, b in zip(weights[k], biases[k],
                                                                                          strict=True)]
        if k + 1 < layer:
            assert all(n > 0 for n in nets)
            outs = nets
    assert nets == [0, 0]
    with mpmath.workdps(60):
        def mp(f):
            return mpmath.mpf(f.numerator) / f.denominator
        binary = [mpmath.fsum([mp(b)] + [mp(w) * mp(o) for w, o in zip(row, outs, strict=True)])
                  for row, b in zip(weights[layer - 1], biases[layer - 1], strict=True)]
    assert binary[0] > 0 > binary[1] and all(abs(v) < 1e-60 for v in binary)


def test_every_kinked_activation_of_the_registry_is_tested():
    x = sp.Symbol("x", real=True)
    kinked = {name for name, a in ACTIVATIONS.items() if a.function is not None
              and (a.kink is not None or a.function.elementary(x).has(sp.Piecewise))}
    assert kinked == set(BUILT_IN)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name,slope,tables", KINKED, ids=IDS)
def test_a_net_exactly_on_a_kink_is_0_in_both_routes_with_the_conventions_slope(name, slope, tables, case):
    built = model(name, tables, case)
    layer = CASES[case][1]
    form = built.matrix_form.layers[layer - 1]
    hidden = built.network.layers[layer]
    for j, neuron in enumerate(hidden):
        assert built.evaluation.samples[0][Q.net(neuron)] == 0, str(neuron)  # the scalar route
        assert form.nets[j, 0] == 0, str(neuron)  # the matrix route
        with mpmath.workdps(60):
            expected = mpmath.mpf(Fraction(slope).numerator) / Fraction(slope).denominator
            assert abs(form.slopes[j, 0] - expected) < mpmath.mpf("1e-58"), str(neuron)
    assert_same_numbers(built)


@pytest.mark.parametrize("case", sorted(CASES))
def test_relu_on_its_kink_passes_no_gradient_to_the_weights_before_it(case):
    """relu'(0) = 0: every weight and bias into a neuron on the kink has gradient exactly 0, by both
    routes (the matrix route took the slope 1 of the other side)."""
    built = model("relu", "", case)
    layer = CASES[case][1]
    before = [p for p in built.network.parameters if p.layer == layer]
    assert before
    for p in before:
        assert built.matrix_form.gradients[p.name] == 0, p.name
        assert built.evaluation.totals[Q.gradient(p.name)] == 0, p.name


def test_the_latex_matrix_form_prints_a_net_on_a_kink_as_0():
    built = model("relu", "", "first")
    forward = next(s for s in sections(built, 9) if s.title == "Matrix form: forward pass")
    text = "\n".join(" = ".join(row) for block in forward.blocks for row in block.rows)
    assert r"\begin{bmatrix} 0 \\ 0 \end{bmatrix}" in text, text
    assert "10^{-6" not in text
