"""Layer normalization (issue #29): ``type = "layernorm"``, `torch.nn.LayerNorm` over one sample's
features, written as the textbooks' graph (mu, var, xhat_j = (x_j - mu) / sqrt(var + eps),
y_j = gamma_j xhat_j + beta_j). Every gradient is PyTorch's (tests/torch_reference.py, float64
autograd) to 1e-12 on hand-picked and random networks; every code target and the matrix route compute
the engine's numbers; the backward pass is the textbook's three paths; the grader knows the mean and
variance paths left out, each computed apart in torch; bad input is one line, exit 2."""

import functools
import json
import random
import tomllib
from decimal import Decimal

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from kind_checks import every_command_takes, grader_names, matrix_route_is_the_engine, refused
from targets import (
    c_is_the_python_and_the_engine,
    module_trains_as_the_formulas_say,
    needs_cc,
    python_and_numpy_are_the_engine,
)
from torch_reference import compare_with_derive, spec_toml

import derive
from derive.cli import main
from derive.model import quantities as Q

EXAMPLE = "derive/examples/layernorm.toml"
with open(EXAMPLE) as _file:
    ISSUE = _file.read()


def _random_spec(seed: int, first: bool = False, last: bool = False, affine: bool = True, bias: bool = True,
                 eps: Decimal | None = None, two: bool = False) -> str:
    """A small random network: linear (tanh) of 2-4 units, then layernorm (or layernorm first, reading the
    inputs; or two of them, the second right after the first), then linear (logistic) of 1-3 outputs (or
    none: the normalized features are the outputs); two samples."""
    rng = random.Random(seed)
    n_in, n = rng.randint(2 if first else 1, 3), rng.randint(2, 4)  # over 1 feature: var = 0, torch's noise ~1e-15

    def row(length):
        return [round(rng.uniform(-1, 1), 3) for _ in range(length)]

    tables, width = [], n_in
    if not first:
        tables.append({"type": "linear", "out_features": n, "activation": "tanh", "weight": [row(n_in) for _ in range(n)],
                       "bias": row(n) if bias else "none"})
        width = n
    for _ in range(2 if two else 1):
        norm: dict = {"type": "layernorm"}
        if eps is not None:
            norm["eps"] = eps
        if affine:
            norm |= {"weight": row(width), "bias": row(width) if bias else "none"}
        else:
            norm["elementwise_affine"] = False
        tables.append(norm)
    out = width
    if not last:
        out = rng.randint(1, 3)
        tables.append({"type": "linear", "out_features": out, "activation": "logistic",
                       "weight": [row(width) for _ in range(out)], "bias": row(out) if bias else "none"})
    samples = [{"inputs": row(n_in), "targets": row(out)} for _ in range(2)]
    return spec_toml(f"layernorm_{seed}", n_in, tables, samples)


NETWORKS = {"example": ISSUE, "first": _random_spec(1, first=True), "last": _random_spec(2, last=True),
            "no affine": _random_spec(3, affine=False), "no bias": _random_spec(4, bias=False),
            "eps": _random_spec(5, eps=Decimal("0.25")), "two": _random_spec(6, two=True)}


@functools.cache  # each network's model built once (the tests only read it)
def _model(text: str) -> derive.Model:
    return derive.Model(derive.parse(text, "layernorm.toml"))


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_networks_have_pytorchs_gradients(tmp_path, name):
    """The built-in example, a layernorm reading the inputs, one whose outputs are the network's (derive's
    readout copies its y), without the affine map, without beta, with another eps, two in a row."""
    compare_with_derive(NETWORKS[name], tmp_path)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), first=st.booleans(), last=st.booleans(), affine=st.booleans(),
       bias=st.booleans(), two=st.booleans())
def test_random_layernorm_networks_have_pytorchs_gradients(tmp_path_factory, seed, first, last, affine, bias, two):
    compare_with_derive(_random_spec(seed, first, last, affine, bias, None, two), tmp_path_factory.mktemp("ln"))


def test_the_backward_pass_is_the_textbooks_three_paths():
    """dE/dx_i sums the three paths: xhat_i's delta over sqrt(var + eps), the mean's delta over n, the
    variance's delta times 2 (x_i - mu) / n; and the local partials are the textbook's."""
    model = _model(ISSUE)
    network = model.network
    mu, var, xhat1 = network.layers[2][0], network.layers[2][1], network.layers[2][2]
    x1 = network.layers[1][0]
    out = {n: network.symbol(Q.out(n)) for n in (mu, var, xhat1, x1, *network.layers[1])}
    eps = sp.Rational(1, 100000)
    local = {t.factor.name: t.coefficient for t in network.net_terms[xhat1]}
    assert sp.simplify(local[x1] - 1 / sp.sqrt(out[var] + eps)) == 0
    assert sp.simplify(local[mu] + 1 / sp.sqrt(out[var] + eps)) == 0
    assert sp.simplify(local[var] + (out[x1] - out[mu]) / 2 / (out[var] + eps) ** sp.Rational(3, 2)) == 0
    assert {t.factor.name: t.coefficient for t in network.net_terms[mu]} == {n: sp.Rational(1, 3)
                                                                              for n in network.layers[1]}
    variance = {t.factor.name: t.coefficient for t in network.net_terms[var]}
    assert sp.simplify(variance[x1] - sp.Rational(2, 3) * (out[x1] - out[mu])) == 0
    readers = {dest for dest, _ in network.reads(x1)}
    assert readers == {mu, var, xhat1}  # the three paths back to x_1


def test_the_places_of_the_parameters_are_pytorchs_tensors(tmp_path, capsys):
    spec = tmp_path / "layernorm.toml"
    spec.write_text(ISSUE)
    assert main(["gradients", str(spec), "--json"]) == 0
    places = {p["name"]: (p["layer"], p["tensor"], p["index"]) for p in json.loads(capsys.readouterr().out)["parameters"]}
    assert places["w10"] == (1, "weight", [0]) and places["w12"] == (1, "weight", [2])
    assert places["b4"] == (1, "bias", [0]) and places["b6"] == (1, "bias", [2])
    assert places["w13"] == (2, "weight", [0, 0])


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_python_and_numpy_code_in_every_form_is_the_engine(tmp_path, name):
    python_and_numpy_are_the_engine(_model(NETWORKS[name]), tmp_path)


@needs_cc
@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_the_c_code_in_both_forms_is_the_python_and_the_engine(tmp_path, loops):
    for text in NETWORKS.values():
        c_is_the_python_and_the_engine(_model(text), tmp_path, loops)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_pages_loop_form_gives_every_value_of_every_sample(chrome, name):
    from test_page_loops import agrees

    agrees(chrome, _model(NETWORKS[name]))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_the_module_trains_a_layernorm_network_as_the_formulas_say(optimizer):
    module_trains_as_the_formulas_say(_model(NETWORKS["eps"]), optimizer)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_matrix_route_gives_the_engines_numbers(name):
    """The matrix form unit by unit, the formulas' local partials P (in the layer's own units) and Q (in
    the layer below's), a route of its own: every net, out and delta and every gradient to 1e-45."""
    matrix_route_is_the_engine(_model(NETWORKS[name]))


def _torch_example(text: str, mean_path: bool = True, variance_path: bool = True) -> dict:
    """The example's gradients in torch with the layer normalization written out, the mean (in xhat and
    in var) or the variance (in xhat) detached where a slip leaves its path out: {(layer, tensor, index):
    gradient}."""
    import torch

    table = tomllib.loads(text)
    norm = table["layer"][1]
    tensors = {(k, name): torch.tensor(t[name], dtype=torch.float64, requires_grad=True)
               for k, t in enumerate(table["layer"]) for name in ("weight", "bias")}
    x = torch.tensor(table["samples"][0]["inputs"], dtype=torch.float64)
    a = torch.tanh(tensors[0, "weight"] @ x + tensors[0, "bias"])
    mu = a.mean()
    mu = mu if mean_path else mu.detach()
    var = ((a - mu) ** 2).mean()
    var = var if variance_path else var.detach()
    y = tensors[1, "weight"] * (a - mu) / torch.sqrt(var + norm["eps"]) + tensors[1, "bias"]
    out = torch.sigmoid(tensors[2, "weight"] @ y + tensors[2, "bias"])
    (((torch.tensor(table["samples"][0]["targets"], dtype=torch.float64) - out) ** 2) / 2).sum().backward()
    return {(k, name, index): tensor.grad[index].item() for (k, name), tensor in tensors.items()
            for index in ((j,) if tensor.dim() == 1 else (j, i) for j in range(tensor.shape[0])
                          for i in range(tensor.shape[1] if tensor.dim() > 1 else 1))}


def _places(model) -> dict:
    from derive.model.layers import place

    return {(place(model.spec, p)["layer"], place(model.spec, p)["tensor"], tuple(place(model.spec, p)["index"])):
            p.name for p in model.network.parameters}


def test_each_layernorm_slip_is_its_own_number_computed_apart():
    """The grader's slips, each computed by the engine's variant and apart in torch: the mean's path left
    out (mu detached), the variance's (var detached); each changes the first layer's gradients."""
    from derive.check import variants

    model = _model(ISSUE)
    found = {v.key: v.build() for v in variants.variants(model)}
    right = _torch_example(ISSUE)
    expected = {"mean_path_left_out_2": _torch_example(ISSUE, mean_path=False),
                "variance_path_left_out_2": _torch_example(ISSUE, variance_path=False)}
    places = _places(model)
    for key, gradients in expected.items():
        for where, want in gradients.items():
            got = float(found[key].value(model.quantity(f"dE_total/d{places[where]}")))
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15), (key, where)
        assert any(abs(want - right[w]) > 1e-3 for w, want in gradients.items()), key


def test_the_grader_names_the_variance_path_left_out(tmp_path, capsys):
    grader_names(_model(ISSUE), ISSUE, "variance_path_left_out_2", "dE_total/dw1", tmp_path, capsys)


BAD = {
    "shape": (ISSUE.replace('type = "layernorm"', 'type = "layernorm"\nnormalized_shape = 4'),
              "derive: layernorm.toml: layer[1].normalized_shape = 4, but the layer below gives 3 features"),
    "eps": (ISSUE.replace("eps = 1e-5", "eps = 0"),
            "derive: layernorm.toml: layer[1].eps = 0 must be positive (it keeps sqrt(var + eps) above 0)"),
    "gamma": (ISSUE.replace("weight = [1.5, 0.5, -1.0]", "weight = [1.5, 0.5]"),
              "derive: layernorm.toml: layer[1].weight has 2 values, features are 3"),
    "affine": (ISSUE.replace("eps = 1e-5", "eps = 1e-5\nelementwise_affine = false"),
               "derive: layernorm.toml: layer[1].weight is given, but elementwise_affine = false has no weight"),
    "map": ('name = "m"\ninput = [1, 2, 2]\nloss = "half_sse"\nlearning_rate = 0.1\n[[layer]]\ntype = "layernorm"\n'
            '[[samples]]\ninputs = [[[1.0, 2.0], [3.0, 4.0]]]\ntargets = [1.0, 2.0, 3.0, 4.0]\n',
            "derive: layernorm.toml: layer[0]: a layernorm layer normalizes a vector of features, but the layer "
            "below gives a shape [1, 2, 2]: put it after a linear layer"),
    "steps": ('name = "s"\ninput = [2, 1]\nloss = "half_sse"\nlearning_rate = 0.1\n[[layer]]\ntype = "rnn"\n'
              'hidden_size = 2\nweight_ih = [[0.1], [0.2]]\nweight_hh = [[0.1, 0.2], [0.3, 0.4]]\nbias = [0.0, 0.0]\n'
              '[[layer]]\ntype = "layernorm"\n[[samples]]\ninputs = [[1.0], [2.0]]\ntargets = [[1.0, 2.0], [3.0, 4.0]]\n',
              "derive: layernorm.toml: layer[1]: a layernorm layer over a sequence's steps (after a recurrent or "
              "attention layer) is not available yet; with sequence_output = \"last\", put it after a linear layer "
              "of the last step"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    text, message = BAD[case]
    assert refused(text, "layernorm.toml", tmp_path, capsys).strip() == message


def test_every_command_takes_the_built_in_layernorm_example(tmp_path, capsys):
    for _, variant in every_command_takes("layernorm", "dE_total/dw1", tmp_path, capsys):
        assert [t.kind for t in variant.kinds] == ["linear", "layernorm", "linear"]
        assert variant.kinds[1].setting("eps") == sp.Rational(1, 100000)


def test_the_summary_names_the_layers_widths():
    """3-3-3-2: the units each layer gives the layer above (not the layer's mean and variance nodes)."""
    from derive.model.layers import shape

    assert shape(_model(ISSUE).spec) == "3-3-3-2 (layer 2: layernorm)"


def test_the_document_has_a_table_of_every_node_as_torch_computes_it():
    """Section 'Layer 2, node by node': the textbook's equations, and each node named as the textbooks
    name it (h_{2,1} = mu), its out as torch computes mu, var, xhat and y apart (9 digits)."""
    import re

    import torch

    from derive.render.tex.latex import document

    tex = document(_model(ISSUE), derive.__version__)
    assert r"\hat{x}_j &= \frac{x_j - \mu}{\sqrt{\sigma^2 + \epsilon}}" in tex
    table = tomllib.loads(ISSUE)
    first, norm = table["layer"][0], table["layer"][1]
    x = torch.tensor(table["samples"][0]["inputs"], dtype=torch.float64)
    a = torch.tanh(torch.tensor(first["weight"], dtype=torch.float64) @ x + torch.tensor(first["bias"], dtype=torch.float64))
    mu, var = a.mean(), a.var(unbiased=False)
    xhat = (a - mu) / torch.sqrt(var + norm["eps"])
    y = torch.tensor(norm["weight"], dtype=torch.float64) * xhat + torch.tensor(norm["bias"], dtype=torch.float64)
    nodes = [(r"\mu", mu), (r"\sigma^2", var)] + [(rf"\hat{{x}}_{{{j + 1}}}", xhat[j]) for j in range(3)] + [
        (f"y_{{{j + 1}}}", y[j]) for j in range(3)]
    for unit, (name, want) in enumerate(nodes, start=1):
        row = re.search(re.escape(f"$h_{{2,{unit}}} = {name}$") + r" & \$(\S+)\$ & \$(\S+)\$", tex)
        assert row is not None, name
        assert float(row.group(2)) == pytest.approx(float(want), rel=6e-9), name


def test_the_compact_form_the_document_shows_is_the_three_paths_summed():
    """dE/dx_i = (n delta_xhat_i - sum_j delta_xhat_j - xhat_i sum_j delta_xhat_j xhat_j) / (n sqrt(var + eps)),
    from the engine's own deltas and outs, is the engine's dE/dx_i (the sum of its three paths)."""
    from derive.render.tex.latex import document

    model = _model(ISSUE)
    assert r"\frac{1}{n \sqrt{\sigma^2 + \epsilon}} \Big(n \, \delta_{\hat{x}_i}" in document(model, derive.__version__)
    network, values = model.network, model.evaluation.samples[0]
    units, n = network.layers[2], 3
    var = float(values[Q.out(units[1])])
    xhat = [float(values[Q.out(u)]) for u in units[2:5]]
    delta = [float(values[Q.delta(u)]) for u in units[2:5]]
    for i, x in enumerate(network.layers[1]):
        compact = (n * delta[i] - sum(delta) - xhat[i] * sum(d * h for d, h in zip(delta, xhat, strict=True))) / (
            n * (var + 1e-5) ** 0.5)
        assert compact == pytest.approx(float(values[Q.partial(Q.TOTAL_ERROR, Q.out(x))]), rel=1e-10)


def test_clicking_gamma_highlights_its_edge_and_everything_downstream(chrome, tmp_path):
    """gamma_1 (w10) multiplies xhat_1 (h2_3) into y_1 (h2_6): its edge, y_1, y_1's edges and the outputs
    are on its path; y_2, its edge w14 and the mean, beside it or upstream, are not."""
    from test_browser import open_page

    path = tmp_path / "layernorm.html"
    path.write_text(_model(ISSUE).html(check=False))
    open_page(chrome, path)
    chrome.execute_script("document.getElementById('p-w10').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    on_path = set(chrome.execute_script("return Array.from(document.querySelectorAll('svg .on-path')).map(e => e.id)"))
    assert {"p-w10", "n-h2x6", "p-w13", "p-w16", "n-o1", "n-o2"} <= on_path  # y_1's edges w13, w16 to o1, o2
    assert not on_path & {"n-h2x7", "n-h2x1", "n-h1x1", "p-w14"}
