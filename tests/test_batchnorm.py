"""Batch normalization (issue #29): ``type = "batchnorm"``, `torch.nn.BatchNorm1d` in training mode over
the batch's samples, written as the textbooks' graph (mu_j, var_j over the batch, xhat_tj = (x_tj - mu_j)
/ sqrt(var_j + eps), y_tj = gamma_j xhat_tj + beta_j); the spec's samples are one batch. Every gradient
is PyTorch's (tests/torch_reference.py, float64 autograd on the [samples, features] batch) to 1e-12 on
hand-picked and random networks; every code target and the matrix route compute the engine's numbers;
the backward pass is the textbook's three paths; the grader knows the mean and variance paths left out,
the variance taken unbiased and eps dropped, each computed apart in torch; bad input is one line, exit 2."""

import functools
import json
import random
import re
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

EXAMPLE = "derive/examples/batchnorm.toml"
with open(EXAMPLE) as _file:
    ISSUE = _file.read()


#: The absolute tolerance beside the relative 1e-12: below a batchnorm, dE/dx_tj sums to exactly 0 over the
#: batch (a shift of every sample's x_tj moves mu_j alike), so the gradient of a bias below it is a difference
#: of terms of about 1e-2 that nearly cancel, which float64 (torch's) gets to about 1e-15 absolute, not relative.
CANCELLED = 1e-14


def _spread(tables: list, batch: list) -> float:
    """The smallest variance over the batch of a feature a batchnorm layer reads (float64, the layers as
    the spec gives them): a batch whose feature hardly varies is ill-conditioned, its xhat = (x - mu) /
    sqrt(var + eps) amplifying float64's rounding past the 1e-12 the comparison with torch asks."""
    import math

    act = {"tanh": math.tanh, "logistic": lambda z: 1 / (1 + math.exp(-z))}
    rows, least = [s["inputs"] for s in batch], math.inf
    for t in tables:
        if t["type"] == "linear":
            b = t["bias"] if t["bias"] != "none" else [0] * len(t["weight"])
            rows = [[act[t["activation"]](sum(w * a for w, a in zip(ws, r, strict=True)) + bj)
                     for ws, bj in zip(t["weight"], b, strict=True)] for r in rows]
            continue
        for j in range(len(rows[0])):
            column = [r[j] for r in rows]
            mu = sum(column) / len(column)
            var = sum((x - mu) ** 2 for x in column) / len(column)
            least = min(least, var)
            gamma, beta = (t["weight"][j], t["bias"][j] if t["bias"] != "none" else 0) if "weight" in t else (1, 0)
            for r in rows:
                r[j] = gamma * (r[j] - mu) / math.sqrt(var + float(t.get("eps", 1e-5))) + beta
    return least


def _random_spec(seed: int, first: bool = False, last: bool = False, affine: bool = True, bias: bool = True,
                 eps: Decimal | None = None, two: bool = False, samples: int = 3) -> str:
    """A small random network: linear (tanh) of 1-3 units, then batchnorm (or batchnorm first, reading the
    inputs; or two of them with a linear layer between), then linear (logistic) of 1-2 outputs (or none:
    the normalized features are the outputs); a batch of ``samples`` whose every normalized feature varies
    (variance at least 1e-3: drawn again from the next seed otherwise)."""
    while True:
        tables, batch = _draw(random.Random(seed), first, last, affine, bias, eps, two, samples)
        if _spread(tables, batch) >= 1e-3:
            return spec_toml(f"batchnorm_{seed}", len(batch[0]["inputs"]), tables, batch)
        seed += 1


def _draw(rng: random.Random, first: bool, last: bool, affine: bool, bias: bool, eps: Decimal | None, two: bool,
          samples: int) -> tuple[list, list]:
    n_in, n = rng.randint(1, 3), rng.randint(1, 3)

    def row(length):
        return [round(rng.uniform(-1, 1), 3) for _ in range(length)]

    def norm(width):
        table: dict = {"type": "batchnorm"}
        if eps is not None:
            table["eps"] = eps
        if affine:
            table |= {"weight": row(width), "bias": row(width) if bias else "none"}
        else:
            table["affine"] = False
        return table

    def linear(width_in, width, activation):
        return {"type": "linear", "out_features": width, "activation": activation,
                "weight": [row(width_in) for _ in range(width)], "bias": row(width) if bias else "none"}

    tables, width = [], n_in
    if not first:
        tables.append(linear(n_in, n, "tanh"))
        width = n
    tables.append(norm(width))
    if two:
        tables += [linear(width, n, "tanh"), norm(n)]
        width = n
    out = width
    if not last:
        out = rng.randint(1, 2)
        tables.append(linear(width, out, "logistic"))
    return tables, [{"inputs": row(n_in), "targets": row(out)} for _ in range(samples)]


IDENTITY = ISSUE.replace('activation = "tanh"', 'activation = "identity"')  # the textbook's linear -> batchnorm
STACKED = ISSUE.replace("[[layer]]\ntype = \"linear\"\nout_features = 2\nactivation = \"logistic\"",
                        "[[layer]]\ntype = \"batchnorm\"\nweight = [0.8, 1.2]\nbias = [-0.1, 0.3]\n\n"
                        "[[layer]]\ntype = \"linear\"\nout_features = 2\nactivation = \"logistic\"")
NETWORKS = {"example": ISSUE, "identity": IDENTITY, "stacked": STACKED, "first": _random_spec(1, first=True), "last": _random_spec(2, last=True),
            "no affine": _random_spec(3, affine=False), "no bias": _random_spec(4, bias=False),
            "eps": _random_spec(5, eps=Decimal("0.25")), "two": _random_spec(6, two=True),
            "pair": _random_spec(7, samples=2)}


@functools.cache  # each network's model built once (the tests only read it)
def _model(text: str) -> derive.Model:
    return derive.Model(derive.parse(text, "batchnorm.toml"))


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_networks_have_pytorchs_gradients(tmp_path, name):
    """The built-in example, a batchnorm reading the inputs, one whose outputs are the network's (derive's
    readout copies its y), without the affine map, without beta, with another eps, two with a linear layer
    between, a batch of two."""
    compare_with_derive(NETWORKS[name], tmp_path, abs_=CANCELLED)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), first=st.booleans(), last=st.booleans(), affine=st.booleans(),
       bias=st.booleans(), two=st.booleans(), samples=st.integers(2, 4))
def test_random_batchnorm_networks_have_pytorchs_gradients(tmp_path_factory, seed, first, last, affine, bias, two,
                                                           samples):
    compare_with_derive(_random_spec(seed, first, last, affine, bias, None, two, samples),
                        tmp_path_factory.mktemp("bn"), abs_=CANCELLED)


def test_the_backward_pass_is_the_textbooks_three_paths():
    """dE/dx_tj sums the three paths: xhat_tj's delta over sqrt(var_j + eps), the mean's delta over N, the
    variance's delta times 2 (x_tj - mu_j) / N; the local partials are the textbook's; and feature 1 of a
    sample is read by feature 1's nodes only (mu_1, var_1, its own xhat)."""
    model = _model(ISSUE)
    network = model.network
    norm, below = network.layers[2], network.layers[1]  # mu_1 mu_2 var_1 var_2 xhat(3 x 2) y(3 x 2)
    mu, var, xhat = norm[0], norm[2], norm[6]  # feature 1; xhat_21 (sample 2, feature 1)
    x = below[2]  # sample 2's feature 1
    out = {n: network.symbol(Q.out(n)) for n in (mu, var, xhat, *below)}
    eps = sp.Rational(1, 100000)
    local = {t.factor.name: t.coefficient for t in network.net_terms[xhat]}
    assert sp.simplify(local[x] - 1 / sp.sqrt(out[var] + eps)) == 0
    assert sp.simplify(local[mu] + 1 / sp.sqrt(out[var] + eps)) == 0
    assert sp.simplify(local[var] + (out[x] - out[mu]) / 2 / (out[var] + eps) ** sp.Rational(3, 2)) == 0
    assert {t.factor.name: t.coefficient for t in network.net_terms[mu]} == {below[k]: sp.Rational(1, 3)
                                                                              for k in (0, 2, 4)}
    variance = {t.factor.name: t.coefficient for t in network.net_terms[var]}
    assert sp.simplify(variance[x] - sp.Rational(2, 3) * (out[x] - out[mu])) == 0
    assert {dest for dest, _ in network.reads(x)} == {mu, var, xhat}  # the three paths back to x_21


def test_the_places_of_the_parameters_are_pytorchs_tensors(tmp_path, capsys):
    """gamma and beta are layer 1's weight and bias [features]; the linear layers' weights are one matrix
    each, shared by the batch's samples (not one per sample)."""
    spec = tmp_path / "batchnorm.toml"
    spec.write_text(ISSUE)
    assert main(["gradients", str(spec), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    places = {p["name"]: (p["layer"], p["tensor"], p["index"]) for p in data["parameters"]}
    assert places["w5"] == (1, "weight", [0]) and places["w6"] == (1, "weight", [1])
    assert places["b3"] == (1, "bias", [0]) and places["b4"] == (1, "bias", [1])
    assert places["w1"] == (0, "weight", [0, 0]) and places["w10"] == (2, "weight", [1, 1])
    assert len(places) == 16


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_python_and_numpy_code_in_every_form_is_the_engine(tmp_path, name):
    python_and_numpy_are_the_engine(_model(NETWORKS[name]), tmp_path, CANCELLED)


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
def test_the_module_trains_a_batchnorm_network_as_the_formulas_say(optimizer):
    module_trains_as_the_formulas_say(_model(NETWORKS["eps"]), optimizer)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_matrix_route_gives_the_engines_numbers(name):
    matrix_route_is_the_engine(_model(NETWORKS[name]))


def _torch_example(text: str, mean_path: bool = True, variance_path: bool = True, unbiased: bool = False,
                   eps: bool = True) -> dict:
    """The example's gradients in torch with the batch normalization written out over the batch: the mean
    (in xhat and in var) or the variance (in xhat) detached where a slip leaves its path out, the variance
    unbiased, eps dropped: {(layer, tensor, index): gradient}."""
    import torch

    table = tomllib.loads(text)
    norm = table["layer"][1]
    tensors = {(k, name): torch.tensor(t[name], dtype=torch.float64, requires_grad=True)
               for k, t in enumerate(table["layer"]) for name in ("weight", "bias")}
    x = torch.tensor([s["inputs"] for s in table["samples"]], dtype=torch.float64)  # [samples, features]
    a = torch.tanh(x @ tensors[0, "weight"].T + tensors[0, "bias"])
    mu = a.mean(dim=0)
    mu = mu if mean_path else mu.detach()
    var = ((a - mu) ** 2).sum(dim=0) / (len(a) - 1 if unbiased else len(a))
    var = var if variance_path else var.detach()
    y = tensors[1, "weight"] * (a - mu) / torch.sqrt(var + (norm["eps"] if eps else 0)) + tensors[1, "bias"]
    out = torch.sigmoid(y @ tensors[2, "weight"].T + tensors[2, "bias"])
    targets = torch.tensor([s["targets"] for s in table["samples"]], dtype=torch.float64)
    (((targets - out) ** 2) / 2).sum().backward()
    return {(k, name, index): tensor.grad[index].item() for (k, name), tensor in tensors.items()
            for index in ((j,) if tensor.dim() == 1 else (j, i) for j in range(tensor.shape[0])
                          for i in range(tensor.shape[1] if tensor.dim() > 1 else 1))}


def _places(model) -> dict:
    from derive.model.layers import place

    return {(place(model.spec, p)["layer"], place(model.spec, p)["tensor"], tuple(place(model.spec, p)["index"])):
            p.name for p in model.network.parameters}


def test_the_written_out_torch_route_is_batchnorm1d():
    """The slips' reference below, with no slip, is torch.nn.BatchNorm1d's (through compare_with_derive's
    reference): a check of the check."""
    from torch_reference import reference

    ref = reference(ISSUE).gradients
    for where, want in _torch_example(ISSUE).items():
        assert ref[where] == pytest.approx(want, rel=1e-12, abs=1e-15), where


def test_each_batchnorm_slip_is_its_own_number_computed_apart():
    """The grader's slips, each computed by the engine's variant and apart in torch: the mean's path left
    out (mu detached), the variance's (var detached), the variance over N - 1, eps dropped; each changes the
    first layer's gradients."""
    from derive.check import variants

    model = _model(ISSUE)
    found = {v.key: v.build() for v in variants.variants(model)}
    right = _torch_example(ISSUE)
    expected = {"mean_path_left_out_2": _torch_example(ISSUE, mean_path=False),
                "variance_path_left_out_2": _torch_example(ISSUE, variance_path=False),
                "unbiased_variance_2": _torch_example(ISSUE, unbiased=True),
                "eps_dropped_2": _torch_example(ISSUE, eps=False)}
    places = _places(model)
    for key, gradients in expected.items():
        for where, want in gradients.items():
            got = float(found[key].value(model.quantity(f"dE_total/d{places[where]}")))
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15), (key, where)
        assert any(abs(want - right[w]) > 1e-6 for w, want in gradients.items()), key


def test_the_grader_names_the_variance_taken_unbiased(tmp_path, capsys):
    grader_names(_model(ISSUE), ISSUE, "unbiased_variance_2", "dE_total/dw1", tmp_path, capsys)


def test_the_grader_names_the_mean_path_left_out(tmp_path, capsys):
    grader_names(_model(ISSUE), ISSUE, "mean_path_left_out_2", "dE_total/dw2", tmp_path, capsys)


_SECOND = ISSUE.split("[[samples]]")
BAD = {
    "one sample": ("[[samples]]".join(_SECOND[:2]),
                   "derive: batchnorm.toml: a batchnorm layer normalizes each feature over the batch's samples, and "
                   "this spec has 1 sample: training-mode BatchNorm needs at least two (the variance over one is 0), "
                   "as PyTorch's does: add [[samples]]"),
    "shape": (ISSUE.replace('type = "batchnorm"', 'type = "batchnorm"\nnum_features = 3'),
              "derive: batchnorm.toml: layer[1].num_features = 3, but the layer below gives 2 features"),
    "eps": (ISSUE.replace("eps = 1e-5 ", "eps = -1 "),
            "derive: batchnorm.toml: layer[1].eps = -1 must be positive (it keeps sqrt(var + eps) above 0)"),
    "gamma": (ISSUE.replace("weight = [1.5, -0.5]", "weight = [1.5]"),
              "derive: batchnorm.toml: layer[1].weight has 1 value, features are 2"),
    "affine": (ISSUE.replace("eps = 1e-5 ", "affine = false\neps = 1e-5 "),
               "derive: batchnorm.toml: layer[1].weight is given, but affine = false has no weight"),
    "mean": (ISSUE.replace("learning_rate = 0.5", "learning_rate = 0.5\nreduction = \"mean\""),
             "derive: batchnorm.toml: reduction = 'mean' with a batchnorm layer is not available yet: the batch's "
             "samples are one pass, their errors summed (reduction = \"sum\")"),
    "batch size": (ISSUE.replace("learning_rate = 0.5", "learning_rate = 0.5\n[training]\nbatch_size = 3\n"),
                   "derive: batchnorm.toml: training.batch_size = 3 with a batchnorm layer is not available yet: its "
                   "batch is every sample, one pass (batch_size = 0)"),
    "softmax": (ISSUE.replace('activation = "logistic"', 'activation = "softmax"'),
                "derive: batchnorm.toml: activation 'softmax' of the output layer couples its units, which here are "
                "every sample's of the batch (one pass, for the batchnorm layer): give an elementwise activation"),
    "with layernorm": (ISSUE.replace('[[layer]]\ntype = "linear"\nout_features = 2\nactivation = "logistic"',
                                     '[[layer]]\ntype = "layernorm"\n\n[[layer]]\ntype = "linear"\nout_features = 2\n'
                                     'activation = "logistic"'),
                       "derive: batchnorm.toml: layer[2]: a layernorm layer in a network with a batchnorm layer is not "
                       "available yet (its samples are one batch, which linear and batchnorm layers read)"),
    "sample": (ISSUE.replace("inputs = [0.50, -0.30]", "inputs = [0.50]"),
               "derive: batchnorm.toml: samples[1].inputs has 1 value, the input layer has 2"),
    "sample key": (ISSUE.replace("inputs = [0.50, -0.30]", "input = [0.50, -0.30]"),
                   "derive: batchnorm.toml: samples[1]: unknown key 'input' (a sample has inputs and targets)"),
    "target range": (ISSUE.replace("half_sse", "binary_cross_entropy").replace("[0.30, 0.50]", "[0.30, 1.50]"),
                     "derive: batchnorm.toml: samples[2].targets[1] = 3/2 is outside [0, 1], which binary_cross_entropy "
                     "needs"),
    "too many": (ISSUE + "\n[[samples]]\ninputs = [0.1, 0.2]\ntargets = [0.3, 0.4]\n" * 998,
                 "derive: batchnorm.toml: samples has 1001 pairs; the limit is 1000"),
    "sequence": ('name = "s"\ninput = [2, 1]\nloss = "half_sse"\nlearning_rate = 0.1\n[[layer]]\ntype = "batchnorm"\n'
                 '[[samples]]\ninputs = [[1.0], [2.0]]\ntargets = [[1.0], [3.0]]\n'
                 '[[samples]]\ninputs = [[1.0], [2.0]]\ntargets = [[1.0], [3.0]]\n',
                 "derive: batchnorm.toml: input = [2, 1]: a network with a batchnorm layer reads a vector of features "
                 "per sample"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    text, message = BAD[case]
    assert refused(text, "batchnorm.toml", tmp_path, capsys).strip() == message


def test_every_command_takes_the_built_in_batchnorm_example(tmp_path, capsys):
    """The exercise's variants are written back as a batch of 3 [[samples]] and read again."""
    for path, variant in every_command_takes("batchnorm", "dE_total/dw1", tmp_path, capsys):
        assert [t.kind for t in variant.kinds] == ["linear", "batchnorm", "linear"]
        assert variant.kinds[1].setting("eps") == sp.Rational(1, 100000)
        assert len(tomllib.loads(path.read_text())["samples"]) == 3


def test_the_summary_names_one_samples_widths_and_the_batch():
    from derive.model.layers import biases, shape

    spec = _model(ISSUE).spec
    assert shape(spec) == "2-2-2-2 (layer 2: batchnorm, a batch of 3 samples)"
    assert biases(spec) == ("one bias per neuron, but in layers 1 and 3 one per neuron, shared by the batch's samples; "
                            "in layer 2 one per feature")


def test_the_document_has_a_table_of_every_node_as_torch_computes_it():
    """Section 'Layer 2, node by node': the textbook's equations, and each node named as the textbooks name
    it (h_{2,1} = mu_1), its out as torch's BatchNorm1d computes the batch's mean, variance, xhat and y (9
    digits)."""
    import torch

    from derive.render.tex.latex import document

    tex = document(_model(ISSUE), derive.__version__)
    assert r"\hat{x}_{tj} &= \frac{x_{tj} - \mu_j}{\sqrt{\sigma^2_j + \epsilon}}" in tex
    table = tomllib.loads(ISSUE)
    first, norm = table["layer"][0], table["layer"][1]
    x = torch.tensor([s["inputs"] for s in table["samples"]], dtype=torch.float64)
    a = torch.tanh(x @ torch.tensor(first["weight"], dtype=torch.float64).T + torch.tensor(first["bias"],
                                                                                             dtype=torch.float64))
    module = torch.nn.BatchNorm1d(2, eps=norm["eps"], dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(norm["weight"]))
        module.bias.copy_(torch.tensor(norm["bias"]))
    y = module(a).detach()
    mu, var = a.mean(dim=0), a.var(dim=0, unbiased=False)
    xhat = (a - mu) / torch.sqrt(var + norm["eps"])
    nodes = [(rf"\mu_{{{j + 1}}}", mu[j]) for j in range(2)] + [(rf"\sigma^2_{{{j + 1}}}", var[j]) for j in range(2)]
    nodes += [(rf"\hat{{x}}_{{{t + 1},{j + 1}}}", xhat[t, j]) for t in range(3) for j in range(2)]
    nodes += [(f"y_{{{t + 1},{j + 1}}}", y[t, j]) for t in range(3) for j in range(2)]
    for unit, (name, want) in enumerate(nodes, start=1):
        row = re.search(re.escape(f"$h_{{2,{unit}}} = {name}$") + r" & \$(\S+)\$ & \$(\S+)\$", tex)
        assert row is not None, name
        assert float(row.group(2)) == pytest.approx(float(want), rel=6e-9), name


def test_the_compact_form_the_document_shows_is_the_three_paths_summed():
    """dE/dx_tj = (N delta_xhat_tj - sum_s delta_xhat_sj - xhat_tj sum_s delta_xhat_sj xhat_sj) / (N sqrt(var_j
    + eps)), from the engine's own deltas and outs, is the engine's dE/dx_tj (the sum of its three paths)."""
    from derive.render.tex.latex import document

    model = _model(ISSUE)
    assert r"\frac{1}{N \sqrt{\sigma^2_j + \epsilon}} \Big(N \, \delta_{\hat{x}_{tj}}" in document(model,
                                                                                                   derive.__version__)
    network, values = model.network, model.evaluation.samples[0]
    units, below, n = network.layers[2], network.layers[1], 3
    for j in range(2):
        var = float(values[Q.out(units[2 + j])])
        xhat = [float(values[Q.out(units[4 + 2 * t + j])]) for t in range(n)]
        delta = [float(values[Q.delta(units[4 + 2 * t + j])]) for t in range(n)]
        for t in range(n):
            compact = (n * delta[t] - sum(delta) - xhat[t] * sum(d * h for d, h in zip(delta, xhat, strict=True))) / (
                n * (var + 1e-5) ** 0.5)
            want = float(values[Q.partial(Q.TOTAL_ERROR, Q.out(below[2 * t + j]))])
            assert compact == pytest.approx(want, rel=1e-10, abs=1e-15)


def test_clicking_gamma_highlights_its_edges_and_everything_downstream(chrome, tmp_path):
    """gamma_1 (w5) multiplies xhat_t1 into y_t1 for every sample t: its path holds y_11, y_21, y_31 and every
    output; y_12 (feature 2) and the means are not on it."""
    from test_browser import open_page

    path = tmp_path / "batchnorm.html"
    path.write_text(_model(ISSUE).html(check=False))
    open_page(chrome, path)
    chrome.execute_script("document.getElementById('p-w5').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    on_path = set(chrome.execute_script("return Array.from(document.querySelectorAll('svg .on-path')).map(e => e.id)"))
    assert {"p-w5", "n-o1", "n-o2"} <= on_path
    ids = set(chrome.execute_script("return Array.from(document.querySelectorAll('svg [id]')).map(e => e.id)"))
    y_feature_1 = {f"n-h2x{k}" for k in (11, 13, 15)} & ids
    assert y_feature_1 and y_feature_1 <= on_path
    assert not on_path & {"n-h2x12", "n-h2x1", "n-h1x1"}


def test_the_page_shows_the_engines_numbers_and_recomputes_them_after_an_edit(chrome, tmp_path):
    """Every number on the page is the engine's; after an edit of gamma_1 (w5) and of sample 2's first input
    (i3), every gradient shown is the engine's for the edited spec (its mean and variance over the batch
    recomputed), to the page's float64."""
    import math

    from test_browser import assert_shown_are_the_engines, number, open_page, shown

    model = _model(ISSUE)
    path = tmp_path / "batchnorm.html"
    path.write_text(model.html(check=False))
    open_page(chrome, path)
    assert_shown_are_the_engines(shown(chrome), model.evaluation)
    for key, value in (("w5", "0.7"), ("i3", "-0.25")):
        edit = chrome.find_element("css selector", f'input[data-edit="{key}"]')
        edit.clear()
        edit.send_keys(value + "\n")
    assert chrome.find_elements("css selector", ".stale") == []
    after = shown(chrome)
    edited = derive.Model(derive.parse(ISSUE.replace("weight = [1.5, -0.5]", "weight = [0.7, -0.5]").replace(
        "inputs = [0.50, -0.30]", "inputs = [-0.25, -0.30]"), "batchnorm.toml"))
    for p in edited.network.parameters:
        want = float(edited.evaluation.totals[Q.gradient(p.name)])
        assert math.isclose(number(after[f"dE_total/d{p.name}"][0]), want, rel_tol=1e-8, abs_tol=1e-15), p.name


def test_clicking_beta_highlights_the_units_it_is_added_to(chrome, tmp_path):
    """beta_1 (b3) is added to y_t1 for every sample t: y_11, y_21 and y_31 (drawn ones) and every output are on
    its path; y_12 (feature 2's) is not."""
    from test_browser import open_page

    path = tmp_path / "batchnorm.html"
    path.write_text(_model(ISSUE).html(check=False))
    open_page(chrome, path)
    chrome.execute_script("document.getElementById('p-b3').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    on_path = set(chrome.execute_script("return Array.from(document.querySelectorAll('svg .on-path')).map(e => e.id)"))
    assert {"n-h2x11", "n-h2x13", "n-h2x15", "n-o1", "n-o2", "n-o5"} <= on_path
    assert not on_path & {"n-h2x12", "n-h2x14", "n-h2x1"}


def test_every_summary_counts_the_batchs_samples(tmp_path):
    """The batch is one pass (one sample within), but the repr, the page and derive build's summary count
    the samples the spec gives."""
    model = _model(ISSUE)
    assert repr(model).endswith("16 parameters, 3 samples, one batch; sgd (learning rate 0.5), full batch>")
    assert "16 parameters, 3 samples, one batch." in model.html(check=False)


def test_a_batch_size_asked_of_train_is_refused_with_the_reason(tmp_path, capsys):
    """--batch-size 1 had trained the whole batch while saying "online"; 2 was refused as "more than the 1
    sample"."""
    spec = tmp_path / "batchnorm.toml"
    spec.write_text(ISSUE)
    for size in ("1", "2"):
        assert main(["train", str(spec), "--batch-size", size, "--steps", "2"]) == 2
        assert capsys.readouterr().err == (f"derive train: --batch-size = {size} with a batchnorm layer is not available "
                                           "yet: its batch is every sample, one pass (batch_size = 0)\n")
    with pytest.raises(derive.optimizers.OptionError, match="batch_size = 1 with a batchnorm layer"):
        _model(ISSUE).settings(batch_size=1)


@pytest.mark.parametrize("name", ["first", "two", "no affine"])
def test_every_network_is_written_back_as_it_was_given(name):
    """spec_toml's text of a batch (a batchnorm first too: its input one sample's features, not the batch's
    [samples, features]) reads back to the same network, its samples as given."""
    from derive.model.layers import batch_size
    from derive.render.spec_toml import spec_toml

    spec = _model(NETWORKS[name]).spec
    again = derive.parse(spec_toml(spec), "again.toml")
    assert (again.kinds, again.samples, again.weights, again.biases) == (spec.kinds, spec.samples, spec.weights,
                                                                           spec.biases)
    assert len(tomllib.loads(spec_toml(spec))["samples"]) == batch_size(spec.kinds) >= 2


@pytest.mark.parametrize(("text", "zero"), [(IDENTITY, {"b1", "b2"}), (STACKED, {"b3", "b4"}), (ISSUE, set())])
def test_a_bias_just_below_a_batchnorm_has_a_gradient_of_exactly_0(tmp_path, capsys, text, zero):
    """A bias added to every sample's feature through no activation (a linear layer's with identity, the first
    batchnorm's beta below a second) moves the batch mean with it: its gradient is exactly 0, printed "0" (ball
    arithmetic alone left it undecided), and torch's is rounding noise; through tanh it is not 0."""
    from torch_reference import reference

    from derive.model.layers import exact_zeros

    model = _model(text)
    assert exact_zeros(model.network) == zero
    torch_gradients = reference(text).gradients
    places = _places(model)
    for where, name in places.items():
        if name in zero:
            assert model.evaluation.totals[Q.gradient(name)] == 0 and abs(torch_gradients[where]) < 1e-15
    spec = tmp_path / "bn.toml"
    spec.write_text(text)
    assert main(["gradients", str(spec)]) == 0
    printed = dict(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  dE_total/db"))
    assert {name for name, value in printed.items() if value == "0"} == {f"dE_total/d{b}" for b in zero}
    assert "undecided" not in printed.values()


def test_a_sheet_computed_with_the_variance_over_n_minus_1_is_marked_with_that_slip_first(tmp_path, capsys):
    """Every number of the sheet from the unbiased variance (4 significant digits, as a learner writes): the
    grader names that slip first for each (it had ranked it after weight swaps and one-path slips)."""
    from derive.check import variants

    model = _model(ISSUE)
    slip = next(v for v in variants.variants(model) if v.key == "unbiased_variance_2").build()
    asked = ["net_h2_3", "E_total", "dE_total/dw1", "dE_total/dw5", "dE_total/dw7"]
    sheet = tmp_path / "sheet.txt"
    sheet.write_text("".join(f"{q} = {float(slip.value(model.quantity(q))):.4g}\n" for q in asked))
    spec = tmp_path / "spec.toml"
    spec.write_text(ISSUE)
    assert main(["grade", str(spec), str(sheet), "--json", "--time-limit", "300"]) == 1
    answers = json.loads(capsys.readouterr().out)["answers"]
    assert [a["verdict"] for a in answers] == ["wrong"] * len(asked)
    assert [a["slips"][0]["slip"] for a in answers] == ["unbiased_variance_2"] * len(asked)


def test_the_worksheet_says_what_each_node_is_and_its_eps():
    """A learner asked for net_h2_3 is told it is sigma^2_1, the layer's equations and its eps (the sheet had
    named none of them), and is given no node's value."""
    from derive.render.tex import worksheet
    from derive.teaching.exercise import Question

    model = _model(ISSUE)
    tex = worksheet.sheet(model, [Question(model.quantity("net_h2_3"), 0, 4)], 1, derive.__version__)
    assert r"$h_{2,3} = \sigma^2_{1}$" in tex and r"$h_{2,11} = y_{1,1}$" in tex
    assert r"\hat{x}_{tj} &= \frac{x_{tj} - \mu_j}{\sqrt{\sigma^2_j + \epsilon}}" in tex
    assert r"($\epsilon = 0.00001$)" in tex
    assert "0.00186703884" not in tex  # sigma^2_1's value: the key's, not the sheet's


def test_without_the_affine_map_the_document_shows_no_y():
    """affine = false: the layer's outputs are the xhat's, and its section's equations have no y = gamma xhat +
    beta (they had); the layernorm's alike."""
    from pathlib import Path

    from derive.render.tex.latex import document

    affine_row = r"y_{tj} &= \gamma_j \hat{x}_{tj} + \beta_j"
    assert affine_row in document(_model(ISSUE), derive.__version__)
    assert affine_row not in document(_model(NETWORKS["no affine"]), derive.__version__)
    plain = Path("derive/examples/layernorm.toml").read_text().replace(
        "weight = [1.5, 0.5, -1.0]    # gamma", "elementwise_affine = false    # gamma").replace(
        "bias = [0.1, 0.2, 0.3]       # beta", "# beta")
    tex = document(derive.Model(derive.parse(plain, "ln.toml")), derive.__version__)
    assert r"\hat{x}_j &=" in tex and r"y_j &= \gamma_j" not in tex
