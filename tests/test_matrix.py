"""The matrix form: its own route (from the network's matrices and the registry's rules, never from
the scalar derivation) against the scalar derivation, entry by entry, on every kind of network; the
name-to-entry table; and its LaTeX part (numbers for small networks, shapes above, the batch form
with several samples)."""

import os
import shutil
import subprocess

import mpmath
import pytest
from conftest import ROOT, spec_text
from hypothesis import HealthCheck, given, settings
from networks import EXTREME, TODAY, ZOO, random_specs

import derive
from derive.derivation import evaluate, matrix, steps
from derive.model import quantities as Q
from derive.model.network import Network
from derive.render.tex import pdf
from derive.render.tex.latex_matrix import PRINT_LIMIT, entry_latex

NETWORKS = {**ZOO, **TODAY, **EXTREME}
CLOSE = mpmath.mpf("1e-45")


def assert_same_numbers(model):
    """Every z, a, δ of every sample, every sample's and the total gradient: matrix = scalar."""
    form = model.matrix_form
    values = model.evaluation.samples
    with mpmath.workdps(60):
        for e in form.entries:
            if e.matrix in (matrix.NETS, matrix.OUTS, matrix.DELTAS):
                source = form.inputs if e.layer == 0 else {
                    matrix.NETS: form.layers[e.layer - 1].nets if e.layer else None,
                    matrix.OUTS: form.layers[e.layer - 1].outs if e.layer else None,
                    matrix.DELTAS: form.layers[e.layer - 1].deltas if e.layer else None}[e.matrix]
                for s in range(form.samples):
                    scalar = values[s][e.quantity]
                    assert abs(source[e.row - 1, s] - scalar) <= CLOSE * (1 + abs(scalar)), (str(e.quantity), s)
            elif e.matrix == matrix.WEIGHTS:
                for s in range(form.samples):
                    own = form.layers[e.layer - 1].sample_gradients[s][e.row - 1, e.column - 1]
                    scalar = values[s][Q.gradient(e.quantity.name)]
                    assert abs(own - scalar) <= CLOSE * (1 + abs(scalar)), (e.quantity.name, s)
        assert set(form.gradients) == set(model.parameters)
        for p, value in form.gradients.items():
            scalar = model.evaluation.totals[Q.gradient(p)]
            assert abs(value - scalar) <= CLOSE * (1 + abs(scalar)), p


@pytest.mark.parametrize("name", ["reference", *sorted(NETWORKS)])
def test_the_matrix_route_gives_the_scalar_derivations_numbers(name, reference):
    model = reference if name == "reference" else derive.Model(derive.parse(NETWORKS[name], f"{name}.toml"))
    assert_same_numbers(model)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs())
def test_random_networks_give_the_same_numbers_by_both_routes(text):
    assert_same_numbers(derive.Model(derive.parse(text, "random.toml")))


def test_the_matrix_route_reads_nothing_of_the_scalar_derivation(monkeypatch):
    """It needs only the network: with the scalar derivation and its evaluation made to fail, it
    still computes the reference network's gradients (the article's 0.082167041 for w5)."""
    def fail(*args, **kwargs):
        raise AssertionError("the matrix route used the scalar derivation")

    monkeypatch.setattr(steps.Derivation, "__init__", fail)
    monkeypatch.setattr(evaluate, "evaluate", fail)
    form = matrix.compute(Network(derive.load_spec()))
    assert mpmath.nstr(form.gradients["w5"], 9) == "0.0821670406"
    assert mpmath.nstr(form.gradients["b2"], 9) == "0.100400325"


def test_the_batch_gradient_is_the_sum_of_the_samples_outer_products():
    model = derive.Model(derive.parse(ZOO["bce_mean"], "bce_mean.toml"))  # reduction = "mean", 2 samples
    form = model.matrix_form
    with mpmath.workdps(60):
        for layer in form.layers:
            rows, cols = layer.weight_gradient.shape
            for r in range(rows):
                for c in range(cols):
                    total = mpmath.fsum(g[r, c] for g in layer.sample_gradients) / 2
                    assert abs(layer.weight_gradient[r, c] - total) < CLOSE


def test_every_scalar_name_has_its_entry(reference):
    by_name = {str(e.quantity): entry_latex(e) for e in reference.matrix_form.entries}
    assert by_name["w5"] == "W^{(2)}_{1,1}" and by_name["w6"] == "W^{(2)}_{1,2}" and by_name["w7"] == "W^{(2)}_{2,1}"
    assert by_name["b1"] == r"b^{(1)}\ \text{(shared)}" and by_name["i2"] == "a^{(0)}_{2}"
    assert by_name["net_h1"] == "z^{(1)}_{1}" and by_name["delta_o2"] == r"\delta^{(2)}_{2}"
    per_neuron = derive.Model(derive.parse(ZOO["deep_tanh_relu"], "d.toml"))
    entries = {str(e.quantity): entry_latex(e, batch=True) for e in per_neuron.matrix_form.entries}
    assert entries["b4"] == "b^{(2)}_{1}" and entries["out_h1_3"] == "A^{(1)}_{3,k}"
    assert len(reference.matrix_form.entries) == 10 + 2 + 3 * 4


def test_the_reference_documents_matrix_part(reference):
    tex = reference.latex()
    part = tex[tex.index(r"\section{The matrix form}"):]
    for fragment in [
        r"z^{(2)} &= W^{(2)} a^{(1)} + b^{(2)}\,\mathbf{1}",
        r" &= \begin{bmatrix} 0.4 & 0.45 \\ 0.5 & 0.55 \end{bmatrix} \begin{bmatrix} 0.593269992 \\ 0.596884378 "
        r"\end{bmatrix} + 0.6\,\mathbf{1}",
        r"\delta^{(2)} &= \nabla_{a^{(2)}} E \odot \sigma'\big(z^{(2)}\big)",
        r"\delta^{(1)} &= \big((W^{(2)})^{T} \delta^{(2)}\big) \odot \sigma'\big(z^{(1)}\big)",
        r" &= \begin{bmatrix} 0.0821670406 & 0.0826676278 \\ -0.0226025405 & -0.0227402422 \end{bmatrix}",
        r"\frac{\partial E_{\mathrm{total}}}{\partial b^{(1)}} &= \mathbf{1}^{T} \delta^{(1)} = 0.0187256094",
        r"$w_{5} = W^{(2)}_{1,1}$",
    ]:
        assert fragment in part, fragment
    assert tex.index(r"\section{The matrix form}") < tex.index(r"\section{Errata")


def test_several_samples_give_the_batch_form_and_large_networks_their_shapes():
    batch = derive.Model(derive.parse(TODAY["no_bias"], "no_bias.toml")).latex()
    assert r"Z^{(l)} &= W^{(l)} A^{(l-1)}" in batch and r"\tfrac{1}{2}" not in batch
    assert r"\frac{\partial E_{\mathrm{total}}}{\partial W^{(1)}} &= \Delta^{(1)} (A^{(0)})^{T}" in batch
    assert "column $k$ of each matrix is sample $k$" in batch and r"\partial b^{(" not in batch
    mean = derive.Model(derive.parse(ZOO["bce_mean"], "bce_mean.toml")).latex()
    assert r"\tfrac{1}{2}\, \Delta^{(2)} (A^{(1)})^{T}" in mean
    wide = derive.load(ROOT / "benchmarks" / "net_4_16_16_3.toml").latex()
    part = wide[wide.index(r"\section{The matrix form}"):]
    assert f"more than {PRINT_LIMIT} neurons in a layer" in part and r"$16 \times 4$" in part
    assert "bmatrix" not in part
    assert "The first 800 of 403" not in part and r"$w_{1} = W^{(1)}_{1,1}$" in part


@pytest.mark.skipif(pdf.engine() is None and not os.environ.get("DERIVE_REQUIRE_LATEX"), reason="no LaTeX engine")
@pytest.mark.skipif(shutil.which("pdftotext") is None and not os.environ.get("DERIVE_REQUIRE_LATEX"),
                    reason="no pdftotext")
def test_a_batch_document_with_own_functions_compiles_with_the_matrix_numbers(tmp_path):
    text = TODAY["own_functions"].replace("[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n",
                                          "[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n"
                                          "[[samples]]\ninputs = [0.5, -0.25]\ntargets = [0.3, 0.6]\n")
    model = derive.Model(derive.parse(text, "own2.toml"))
    path = pdf.compile_pdf(model.latex(), tmp_path / "own2.pdf")
    shown = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "The matrix form" in shown and "Matrix form: scalar names and matrix entries" in shown
    with mpmath.workdps(30):
        w5 = model.value("dE_total/dw5")
    assert mpmath.nstr(abs(w5), 9, strip_zeros=False) in shown


def test_no_bias_spec_text_example_has_no_bias_anywhere_in_the_matrix_form():
    model = derive.Model(derive.parse(spec_text(bias='"none"', biases=None), "t.toml"))
    assert all(b is None for b in model.matrix_form.biases)
    assert all(layer.bias_gradient is None for layer in model.matrix_form.layers)
