"""Self-attention (issue #29): ``type = "attention"``, one head of scaled dot-product self-attention over
the steps of a sequence (q, k, v projections; s_ts = q_t . k_s / sqrt(d); a_t. the registry's
normalized exponential of s_t.; y_t = sum a_ts v_s; causal or not). Every gradient is PyTorch's
(tests/torch_recurrent.py's `Attention`, written with torch.softmax, float64 autograd) to 1e-12 on
hand-picked and random networks; every code target and the matrix route compute the engine's numbers;
the local partials are the textbook's; bad input is one line, exit 2."""

import functools
import json
import math
import random
import re
import tomllib

import pytest
import sympy as sp
import torch_recurrent as tr
from hypothesis import given, settings
from hypothesis import strategies as st
from kind_checks import every_command_takes, grader_names, matrix_route_is_the_engine, refused
from targets import (
    c_is_the_python_and_the_engine,
    module_trains_as_the_formulas_say,
    needs_cc,
    python_and_numpy_are_the_engine,
)
from torch_reference import derive_gradients, spec_toml

import derive
from derive.cli import main
from derive.model import quantities as Q

EXAMPLE = "derive/examples/attention.toml"
with open(EXAMPLE) as _file:
    ISSUE = _file.read()
LAST = ISSUE.replace('sequence_output = "all"', 'sequence_output = "last"').replace(
    "targets = [[0.5], [-0.25], [1.0]]", "targets = [[0.25]]")
CAUSAL = ISSUE.replace("causal = false", "causal = true")
BIASED = ISSUE.replace("causal = false", "causal = false\nbias_q = [0.1, -0.2]\nbias_k = [0.0, 0.3]\n"
                       "bias_v = [-0.1, 0.2]")


def _random_spec(seed: int, sequence_output: str = "all", causal: bool = False, bias: bool = False,
                 linear: bool = True, rnn: bool = False) -> str:
    """A small random network: (an rnn of hidden 1-2, then) an attention head (d 1-2) over 1-4 steps of
    1-3 features, then a linear layer at every step or the last (or none: its y are the outputs); two
    samples."""
    rng = random.Random(seed)
    steps, features = rng.randint(1, 4), rng.randint(1, 3)

    def matrix(rows, columns):
        return [[round(rng.uniform(-1, 1), 3) for _ in range(columns)] for _ in range(rows)]

    tables, width = [], features
    if rnn:
        hidden = rng.randint(1, 2)
        tables.append({"type": "rnn", "hidden_size": hidden, "weight_ih": matrix(hidden, width),
                       "weight_hh": matrix(hidden, hidden), "bias": matrix(1, hidden)[0]})
        width = hidden
    d = rng.randint(1, 2)
    head: dict = {"type": "attention", "d": d, **{f"weight_{n}": matrix(d, width) for n in "qkv"}, "causal": causal}
    if bias:
        head |= {f"bias_{n}": matrix(1, d)[0] for n in "qkv"}
    tables.append(head)
    out = rng.randint(1, 2) if linear else d
    if linear:
        tables.append({"type": "linear", "out_features": out, "activation": rng.choice(["identity", "logistic"]),
                       "weight": matrix(out, d), "bias": matrix(1, out)[0]})
    rows = steps if sequence_output == "all" else 1
    samples = [{"inputs": matrix(steps, features), "targets": matrix(rows, out)} for _ in range(2)]
    text = spec_toml(f"attention_{seed}", [steps, features], tables, samples)
    return text.replace('loss = "half_sse"', f'loss = "half_sse"\nsequence_output = "{sequence_output}"')


NETWORKS = {"all": ISSUE, "last": LAST, "causal": CAUSAL, "biased": BIASED,
            "alone": _random_spec(1, linear=False), "after rnn": _random_spec(2, "last", rnn=True),
            "causal biased": _random_spec(3, causal=True, bias=True)}


@functools.cache  # each network's model built once (the tests only read it)
def _model(text: str) -> derive.Model:
    return derive.Model(derive.parse(text, "attention.toml"))


def _agrees(text: str, tmp_path) -> None:
    """derive's gradients are PyTorch's, place by place (rel 1e-12, abs 1e-15), and the key bias's is exactly
    0: a bias added to every key adds q_t . b_k to every score of row t, which the weights do not see (ball
    arithmetic could not decide that 0, `layers.exact_zeros` proves it; torch's is rounding noise)."""
    want, got = tr.reference(text), derive_gradients(text, tmp_path)
    assert got["gradients"].keys() == want["gradients"].keys()
    assert math.isclose(got["e_total"], want["e_total"], rel_tol=1e-12, abs_tol=1e-15)
    for p, value in want["gradients"].items():
        if p[1] == "bias_k":
            assert got["gradients"][p] == 0 and abs(value) < 1e-13, (p, got["gradients"][p], value)
            continue
        assert math.isclose(got["gradients"][p], value, rel_tol=1e-12, abs_tol=1e-15), (p, got["gradients"][p], value)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_networks_have_pytorchs_gradients(tmp_path, name):
    _agrees(NETWORKS[name], tmp_path)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), sequence_output=st.sampled_from(["all", "last"]), causal=st.booleans(),
       bias=st.booleans(), linear=st.booleans(), rnn=st.booleans())
def test_random_attention_networks_have_pytorchs_gradients(tmp_path_factory, seed, sequence_output, causal, bias,
                                                           linear, rnn):
    _agrees(_random_spec(seed, sequence_output, causal, bias, linear, rnn), tmp_path_factory.mktemp("attention"))


def test_the_local_partials_are_the_textbooks():
    """ds_ts/dq_ti = k_si / sqrt(d); da_ts/ds_ts = a_ts (1 - a_ts) and da_ts/ds_tr = -a_ts a_tr, the registry
    entry's Jacobian; dy_tj/da_ts = v_sj."""
    network = _model(ISSUE).network
    units = network.layers[1]
    out = {n: network.symbol(Q.out(n)) for n in units}
    q11, k11, k12 = units[0], units[6], units[7]  # q_1,1; k_1,1 and k_1,2 (q: 3 steps of 2, then k)
    s11, s12, a11, a12 = units[18], units[19], units[27], units[28]
    local = {t.factor.name: t.coefficient for t in network.net_terms[s11]}
    assert sp.simplify(local[q11] - out[k11] / sp.sqrt(2)) == 0
    assert sp.simplify(local[k12] - out[units[1]] / sp.sqrt(2)) == 0  # k_1,2: q_1,2 / sqrt(2)
    weights = {t.factor.name: t.coefficient for t in network.net_terms[a11]}
    first, second = network.formulas[a11], network.formulas[a12]  # the registry's function of s_1.
    assert sp.simplify(weights[s11] - first * (1 - first)) == 0
    assert sp.simplify(weights[s12] + first * second) == 0
    y11 = units[36]
    assert {t.factor.name: t.coefficient for t in network.net_terms[y11]}[a11] == out[units[12]]  # v_1,1


def test_the_places_of_the_parameters_are_the_tensors(tmp_path, capsys):
    spec = tmp_path / "attention.toml"
    spec.write_text(BIASED)
    assert main(["gradients", str(spec), "--json"]) == 0
    places = {p["name"]: (p["layer"], p["tensor"], p["index"]) for p in json.loads(capsys.readouterr().out)["parameters"]}
    assert places["w1"] == (0, "weight_q", [0, 0]) and places["w6"] == (0, "weight_k", [0, 1])
    assert places["w12"] == (0, "weight_v", [1, 1]) and places["w13"] == (1, "weight", [0, 0])
    assert places["b3"] == (0, "bias_k", [0]) and places["b6"] == (0, "bias_v", [1])


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
def test_the_module_trains_an_attention_network_as_the_formulas_say(optimizer):
    module_trains_as_the_formulas_say(_model(NETWORKS["causal"]), optimizer)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_matrix_route_gives_the_engines_numbers(name):
    matrix_route_is_the_engine(_model(NETWORKS[name]))


def test_the_document_has_a_table_of_every_node_as_torch_computes_it():
    """Section 'Layer 1, node by node': s, a and y of step 1 as torch computes them apart (9 digits)."""
    import torch

    from derive.render.tex.latex import document

    tex = document(_model(ISSUE), derive.__version__)
    assert r"s_{ts} &= \frac{q_t \cdot k_s}{\sqrt{d}}" in tex
    table = tomllib.loads(ISSUE)
    head = table["layer"][0]
    x = torch.tensor(table["samples"][0]["inputs"], dtype=torch.float64)
    q, k, v = (x @ torch.tensor(head[f"weight_{n}"], dtype=torch.float64).T for n in "qkv")
    s = q @ k.T / math.sqrt(2)
    a = torch.softmax(s, dim=-1)
    y = a @ v
    nodes = {19: ("s_{1,1}", s[0, 0]), 20: ("s_{1,2}", s[0, 1]), 28: ("a_{1,1}", a[0, 0]), 30: ("a_{1,3}", a[0, 2]),
             37: ("y_{1,1}", y[0, 0]), 42: ("y_{3,2}", y[2, 1])}
    for unit, (name, want) in nodes.items():
        row = re.search(re.escape(f"$h_{{{unit}}} = {name}$") + r" & \$(\S+)\$ & \$(\S+)\$", tex)
        assert row is not None, name
        assert float(row.group(2)) == pytest.approx(float(want), rel=6e-9), name


BAD = {
    "flat": (ISSUE.replace("input = [3, 2]", "input = 6"),
             "derive: attention.toml: layer[0]: an attention layer reads a sequence [steps, features], but the layer "
             "below gives 6 features: put it first (input = [steps, features]) or right after a recurrent layer"),
    "no d": (ISSUE.replace("d = 2\n", ""),
             "derive: attention.toml: layer[0]: missing key 'd' (the size of its queries, keys and values)"),
    "one tensor": (re.sub(r"weight_k = .*\n", "", ISSUE),
                   "derive: attention.toml: layer[0]: weight_q is given but not weight_k: give all three, or none "
                   "(drawn from the seed)"),
    "causal": (ISSUE.replace("causal = false", 'causal = "yes"'),
               "derive: attention.toml: layer[0].causal must be true or false, not a string"),
    "bias": (ISSUE.replace("causal = false", "causal = false\nbias_q = [0.1, 0.2]"),
             "derive: attention.toml: layer[0]: bias_q is given but not bias_k: give all three, or none (no biases)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    text, message = BAD[case]
    assert refused(text, "attention.toml", tmp_path, capsys).strip() == message


def test_every_command_takes_the_built_in_attention_example(tmp_path, capsys):
    for _, variant in every_command_takes("attention", "dE_total/dw1", tmp_path, capsys):
        assert [t.kind for t in variant.kinds] == ["attention", "linear"] and variant.kinds[1].steps == 3


class _Diagonal:
    """torch's normalized exponential over the last axis, backward through its Jacobian's diagonal only."""

    @staticmethod
    def apply(s):
        import torch

        class Function(torch.autograd.Function):
            @staticmethod
            def forward(ctx, scores):
                a = torch.softmax(scores, dim=-1)
                ctx.save_for_backward(a)
                return a

            @staticmethod
            def backward(ctx, grad):
                (a,) = ctx.saved_tensors
                return grad * a * (1 - a)
        return Function.apply(s)


def _torch_example(diagonal: bool = False, unscaled: bool = False) -> dict:
    """The example's gradients in torch, the head written out: the weights' Jacobian taken as its diagonal,
    or the scores' partials without 1/sqrt(d) (their values as they are)."""
    import torch

    table = tomllib.loads(ISSUE)
    head, linear = table["layer"]
    tensors = {n: torch.tensor(head[f"weight_{n}"], dtype=torch.float64, requires_grad=True) for n in "qkv"}
    w = torch.tensor(linear["weight"], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(linear["bias"], dtype=torch.float64, requires_grad=True)
    x = torch.tensor(table["samples"][0]["inputs"], dtype=torch.float64)
    q, k, v = (x @ tensors[n].T for n in "qkv")
    dot = q @ k.T
    s = (dot - dot.detach()) + dot.detach() / math.sqrt(2) if unscaled else dot / math.sqrt(2)
    a = _Diagonal.apply(s) if diagonal else torch.softmax(s, dim=-1)
    out = (a @ v) @ w.T + b
    (((torch.tensor(table["samples"][0]["targets"], dtype=torch.float64) - out) ** 2) / 2).sum().backward()
    found = {("weight_" + n, (i, j)): tensors[n].grad[i, j].item() for n in "qkv" for i in range(2) for j in range(2)}
    return found | {("weight", (0, j)): w.grad[0, j].item() for j in range(2)} | {("bias", (0,)): b.grad[0].item()}


def test_each_attention_slip_is_its_own_number_computed_apart():
    """The grader's slips, each computed by the engine's variant and apart in torch: the weights' Jacobian
    replaced by its diagonal, and the scale 1/sqrt(d) left out of the scores' partials backward."""
    from derive.check import variants
    from derive.model.layers import place

    model = _model(ISSUE)
    found = {v.key: v.build() for v in variants.variants(model)}
    names = {(place(model.spec, p)["tensor"], tuple(place(model.spec, p)["index"])): p.name
             for p in model.network.parameters}
    right = _torch_example()
    for key, expected in (("attention_jacobian_diagonal_1", _torch_example(diagonal=True)),
                          ("attention_scale_left_out_1", _torch_example(unscaled=True))):
        for where, want in expected.items():
            got = float(found[key].value(model.quantity(f"dE_total/d{names[where]}")))
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15), (key, where)
        assert any(abs(want - right[w]) > 1e-3 for w, want in expected.items()), key


def test_the_grader_names_the_jacobian_taken_as_its_diagonal(tmp_path, capsys):
    grader_names(_model(ISSUE), ISSUE, "attention_jacobian_diagonal_1", "dE_total/dw1", tmp_path, capsys)


def test_scores_of_ten_thousand_do_not_overflow_the_generated_code(tmp_path, capsys):
    """The weights' float form subtracts the row's largest score (the registry's, as its exact form does):
    with scores near 10^4, the module's error is the engine's and `derive check` runs every route."""
    text = ISSUE.replace("inputs = [[1.0, 0.5], [-0.5, 2.0], [0.3, -1.0]]",
                         "inputs = [[200.0, 100.0], [-100.0, 200.0], [150.0, -200.0]]")
    model = _model(text)
    x = [float(v) for v in model.spec.samples[0].inputs]
    t = [float(v) for v in model.spec.samples[0].targets]
    assert model.module.loss(model.module.INITIAL, x, t) == pytest.approx(
        float(model.evaluation.totals[Q.TOTAL_ERROR]), rel=1e-9)
    spec = tmp_path / "attention.toml"
    spec.write_text(text)
    assert main(["check", str(spec)]) == 0  # before: "derive: error: OverflowError: math range error", exit 1
    out = capsys.readouterr()
    assert out.err == "" and "cannot resolve" in out.out  # every route agrees; float64 says what it cannot resolve


def test_the_diagram_draws_the_outputs_the_layer_above_reads():
    """A head of 42 units is too wide to draw: its first q's (h1, h2, with W_q's edges from the inputs,
    so that a projection weight can be clicked) and its y's (h37..h42, what the linear layer reads, each
    with its edges into the outputs) are drawn."""
    from derive.render import diagram

    network = _model(ISSUE).network
    drawn = diagram.layout(network)
    assert [n.neuron for n in drawn.nodes if n.neuron in network.layers[1]] == ["h1", "h2"] + [
        f"h{j}" for j in range(37, 43)]
    into = {(e.source.neuron, e.dest.neuron) for e in drawn.edges}
    assert {(f"h{j}", f"o{(j - 37) // 2 + 1}") for j in range(37, 43)} <= into
    assert {("i1", "h1"), ("i2", "h1"), ("i1", "h2")} <= into


def test_clicking_a_projection_weight_highlights_what_its_gradient_sums_over(chrome, tmp_path):
    """W_q[0][0] (w1) is shared by the steps: it feeds q_t,1 from x_t,1 at every step (h1, h3, h5; h1 is
    drawn, from i1), so its path holds its edge, q_1,1 and everything downstream: every row's scores and
    weights, every y (h37..h42) and every output, and the inputs it multiplies (x_t,1: i1, i3, i5); not
    q_1,2 (h2, fed by W_q's second row) nor x_t,2 (i2)."""
    from test_browser import open_page

    path = tmp_path / "attention.html"
    path.write_text(_model(ISSUE).html(check=False))
    open_page(chrome, path)
    chrome.execute_script("document.getElementById('p-w1').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    on_path = set(chrome.execute_script("return Array.from(document.querySelectorAll('svg .on-path')).map(e => e.id)"))
    assert {"p-w1", "n-i1", "n-h1", *(f"n-h{j}" for j in range(37, 43)), "n-o1", "n-o2", "n-o3"} <= on_path
    assert not on_path & {"n-h2", "n-i2"}



def test_the_key_biases_gradients_are_exactly_zero_and_no_other():
    """`layers.exact_zeros` of an attention head: its key biases (b3, b4 of bias_q, bias_k, bias_v), causal or
    not, exactly 0 in the exact values (an exact rational, not a ball), and printed as 0; the query and value
    biases' are not 0. A head without biases has none."""
    from derive.model import layers
    from derive.model.decimals import plain

    for text in (BIASED, _random_spec(3, causal=True, bias=True)):
        model = derive.Model(derive.parse(text, "attention.toml"))
        zeros = layers.exact_zeros(model.network)
        d = model.network.typed(1).shape[1]
        assert zeros == {f"b{d + j}" for j in range(1, d + 1)}
        totals = model.evaluation.totals
        for p in model.parameters:
            value = totals[Q.gradient(p)]
            assert (value.fraction == 0) is (p in zeros), (p, value)
            if p in zeros:
                assert plain(value, 9) == "0"
    assert layers.exact_zeros(_model(ISSUE).network) == frozenset()
