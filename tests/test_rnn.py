"""Recurrent networks (issue #26): ``type = "rnn"``, `torch.nn.RNN` unrolled over a sequence, its
layers after it at every step (``sequence_output = "all"``) or at the last (``"last"``). Every
gradient is PyTorch's (tests/torch_recurrent.py, float64 autograd) to 1e-12, on hand-picked and on
random small networks; every code target in both forms computes the engine's numbers; the backward
pass through time is written as the textbooks write it; bad input is one line, exit 2."""

import functools
import json
import random
import re

import pytest
import sympy as sp
import torch
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

ISSUE = spec_toml("rnn", [3, 2], [
    {"type": "rnn", "hidden_size": 2, "activation": "tanh", "weight_ih": [[0.1, 0.2], [0.3, -0.1]],
     "weight_hh": [[0.5, -0.3], [0.2, 0.4]], "bias": [0.0, 0.1]},
    {"type": "linear", "out_features": 1, "activation": "identity", "weight": [[0.7, -0.2]], "bias": [0.05]}],
    [{"inputs": [[1.0, 2.0], [0.5, 3.0], [0.0, -1.0]], "targets": [[0.5], [1.25], [0.0]]}])
ONE_STEP = ISSUE.replace("input = [3, 2]", "input = [1, 2]").replace(", [0.5, 3.0], [0.0, -1.0]]", "]").replace(
    "[[0.5], [1.25], [0.0]]", "[[0.5]]")  # W_hh reads nothing: its gradient is an empty sum, 0
LAST = ISSUE.replace('loss = "half_sse"', 'loss = "half_sse"\nsequence_output = "last"').replace(
    "targets = [[0.5], [1.25], [0.0]]", "targets = [[0.25]]")


def _random_spec(seed: int, sequence_output: str, recurrent: int = 1, bias: bool = True,
                 activation: str | None = None) -> str:
    """A small random network: ``recurrent`` rnn layers (hidden 1-4, tanh or relu) over 1-6 steps of 1-3
    features, then a linear layer; two samples."""
    rng = random.Random(seed)
    steps, features = rng.randint(1, 6), rng.randint(1, 3)

    def matrix(rows, columns):
        return [[round(rng.uniform(-1, 1), 3) for _ in range(columns)] for _ in range(rows)]

    layers, width = [], features
    for _ in range(recurrent):
        hidden = rng.randint(1, 4)
        layers.append({"type": "rnn", "hidden_size": hidden, "activation": activation or rng.choice(["tanh", "relu"]),
                       "weight_ih": matrix(hidden, width), "weight_hh": matrix(hidden, hidden),
                       "bias": matrix(1, hidden)[0] if bias else "none"})
        width = hidden
    out = rng.randint(1, 2)
    layers.append({"type": "linear", "out_features": out, "activation": rng.choice(["identity", "logistic"]),
                   "weight": matrix(out, width), "bias": matrix(1, out)[0] if bias else "none"})
    rows = steps if sequence_output == "all" else 1
    samples = [{"inputs": matrix(steps, features), "targets": matrix(rows, out)} for _ in range(2)]
    text = spec_toml(f"rnn_{seed}", [steps, features], layers, samples)
    return text.replace('loss = "half_sse"', f'loss = "half_sse"\nsequence_output = "{sequence_output}"')


INITIAL = ISSUE.replace("bias = [0.0, 0.1]", "bias = [0.0, 0.1]\ninitial_state = [0.4, -0.6]")  # h_0 given
#: the networks every code target and route is checked on, by name
#: a second rnn after one with an initial state: it reads that layer's units after h_0 (`Recur.positions`)
STACKED_INITIAL = INITIAL.replace('[[layer]]\ntype = "linear"', '[[layer]]\ntype = "rnn"\nhidden_size = 2\n'
                                  'weight_ih = [[0.3, 0.1], [-0.2, 0.4]]\nweight_hh = [[0.1, 0.2], [0.3, -0.1]]\n'
                                  'bias = [0.1, 0.0]\n\n[[layer]]\ntype = "linear"')
NETWORKS = {"all": ISSUE, "last": LAST, "stacked": _random_spec(5, "all", recurrent=2), "one step": ONE_STEP,
            "initial state": INITIAL, "after an initial state": STACKED_INITIAL}


# One model a network for the module's tests: a Model computes each part once, on demand, and is
# only read (the same numbers for each test, its derivation and values built once).
@functools.cache
def _model(text: str) -> derive.Model:
    return derive.Model(derive.parse(text, "rnn.toml"))


@pytest.mark.parametrize("text", [ISSUE, LAST], ids=["all", "last"])
def test_the_issues_network_has_pytorchs_gradients(tmp_path, text):
    tr.assert_agrees(tr.reference(text), derive_gradients(text, tmp_path))


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6), sequence_output=st.sampled_from(["all", "last"]),
       recurrent=st.integers(1, 2), bias=st.booleans())
def test_random_recurrent_networks_have_pytorchs_gradients(tmp_path_factory, seed, sequence_output, recurrent, bias):
    text = _random_spec(seed, sequence_output, recurrent, bias)
    tr.assert_agrees(tr.reference(text), derive_gradients(text, tmp_path_factory.mktemp("rnn")))


def test_the_backward_pass_through_time_is_written_as_the_textbooks_write_it():
    """dE/dh_t collects the layer above at step t and the step after through W_hh; a shared weight's
    gradient is the sum over the steps of delta times what it multiplies there (h_(t-1) for W_hh)."""
    model = _model(ISSUE)
    derivation, net = model.derivation, model.network
    sym = net.symbol
    # h_1 (step 1, unit 1) is read by o1 (the linear layer at step 1) and by h3, h4 (step 2) through W_hh
    d_out = derivation.step[Q.partial(Q.TOTAL_ERROR, Q.out("h1"))].formula
    assert d_out == (sym(Q.delta("o1")) * sym(Q.parameter("w9")) + sym(Q.delta("h3")) * sym(Q.parameter("w5"))
                     + sym(Q.delta("h4")) * sym(Q.parameter("w7")))
    # the last step's hidden state has nothing after it but the output at that step
    assert derivation.step[Q.partial(Q.TOTAL_ERROR, Q.out("h5"))].formula == (
        sym(Q.delta("o3")) * sym(Q.parameter("w9")))
    # W_hh[0][0] (w5) multiplies h_(t-1),1 at steps 2 and 3: out_h1 and out_h3
    assert derivation.step[Q.gradient("w5")].formula == (sym(Q.delta("h3")) * sym(Q.out("h1"))
                                                          + sym(Q.delta("h5")) * sym(Q.out("h3")))
    # W_ih[0][0] (w1) multiplies x_t,1 at every step: i1, i3, i5
    assert derivation.step[Q.gradient("w1")].formula == sp.Add(*(
        sym(Q.delta(h)) * sym(Q.out(i)) for h, i in (("h1", "i1"), ("h3", "i3"), ("h5", "i5"))))
    # the deltas are computed last step first: h5's before h3's before h1's
    order = [s.quantity for s in derivation.steps]
    assert order.index(Q.delta("h5")) < order.index(Q.delta("h3")) < order.index(Q.delta("h1"))


def test_a_second_rnn_after_an_initial_state_has_pytorchs_gradients(tmp_path):
    tr.assert_agrees(tr.reference(STACKED_INITIAL), derive_gradients(STACKED_INITIAL, tmp_path))


def test_an_initial_state_is_h_0_the_layers_first_units(tmp_path):
    """initial_state = [0.4, -0.6]: the layer's first units are h_0 (h1, h2, their nets the numbers given),
    step 1 reads them through W_hh, and their deltas are dE/dh_0; the gradients are PyTorch's."""
    tr.assert_agrees(tr.reference(INITIAL), derive_gradients(INITIAL, tmp_path))
    model = _model(INITIAL)
    sym = model.network.symbol
    assert model.derivation.step[Q.net("h1")].formula == sp.Rational(2, 5)
    assert model.derivation.step[Q.partial(Q.TOTAL_ERROR, Q.out("h1"))].formula == (
        sym(Q.delta("h3")) * sym(Q.parameter("w5")) + sym(Q.delta("h4")) * sym(Q.parameter("w7")))
    assert model.network.outputs == ["o1", "o2", "o3"]


def test_an_initial_state_of_zeros_is_the_default():
    zeros = _model(ISSUE.replace("bias = [0.0, 0.1]", "bias = [0.0, 0.1]\ninitial_state = [0.0, 0.0]"))
    assert zeros.gradients() == _model(ISSUE).gradients()


def test_the_places_of_the_parameters_are_pytorchs_tensors(tmp_path, capsys):
    spec = tmp_path / "rnn.toml"
    spec.write_text(ISSUE)
    assert main(["gradients", str(spec), "--json"]) == 0
    places = {p["name"]: (p["layer"], p["tensor"], p["index"]) for p in json.loads(capsys.readouterr().out)["parameters"]}
    assert places["w1"] == (0, "weight_ih", [0, 0])
    assert places["w4"] == (0, "weight_ih", [1, 1])
    assert places["w5"] == (0, "weight_hh", [0, 0])
    assert places["w7"] == (0, "weight_hh", [1, 0])
    assert places["w9"] == (1, "weight", [0, 0])
    assert places["b2"] == (0, "bias", [1])


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_python_and_numpy_code_in_every_form_is_the_engine(tmp_path, name):
    text = NETWORKS[name]
    python_and_numpy_are_the_engine(_model(text), tmp_path)


@needs_cc
@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_the_c_code_in_both_forms_is_the_python_and_the_engine(tmp_path, loops):
    for text in NETWORKS.values():
        c_is_the_python_and_the_engine(_model(text), tmp_path, loops)


def test_the_spec_is_written_back_as_it_was_read():
    """The exercise's variants are written back as [[layer]] tables with sequence_output and a row of
    targets per step, and read again to the same network."""
    from derive.render.spec_toml import spec_toml as written

    for text in (ISSUE, LAST):
        spec = derive.parse(text, "rnn.toml")
        again = derive.parse(written(spec), "again.toml")
        assert (again.kinds, again.weights, again.biases, again.samples) == (
            spec.kinds, spec.weights, spec.biases, spec.samples)


BAD = {
    "a sequence of another length": (ISSUE.replace("[0.0, -1.0]]", "[0.0, -1.0], [1.0, 1.0]]"),
                                     "derive: rnn.toml: samples[0].inputs has 4 rows, input[0] is 3"),
    "targets not per step": (ISSUE.replace("[[0.5], [1.25], [0.0]]", "[0.5, 1.25, 0.0]"),
                             "derive: rnn.toml: samples[0].targets[0] must be a list of numbers, not a number"),
    "a flat input": (ISSUE.replace("input = [3, 2]", "input = 6"),
                     "derive: rnn.toml: layer[0]: an rnn layer reads a sequence [steps, features], but the layer "
                     "below gives 6 features: put it first (input = [steps, features]) or right after another "
                     "recurrent layer"),
    "after a convolution": (ISSUE.replace("input = [3, 2]", "input = [1, 3, 2]").replace(
        '[[layer]]\ntype = "rnn"', '[[layer]]\ntype = "conv2d"\nout_channels = 1\nkernel_size = 1\n'
        'weight = [[[[1.0]]]]\nbias = [0.0]\n\n[[layer]]\ntype = "rnn"'),
        "derive: rnn.toml: layer[1]: an rnn layer reads a sequence [steps, features], but the layer below gives "
        "a shape [1, 3, 2]: put it first (input = [steps, features]) or right after another recurrent layer"),
    "binary cross-entropy on a last rnn": (
        ISSUE[:ISSUE.index('[[layer]]\ntype = "linear"')].replace('activation = "tanh"', 'activation = "logistic"')
        .replace('loss = "half_sse"', 'loss = "binary_cross_entropy"')
        + ISSUE[ISSUE.index("[[samples]]"):].replace("[[0.5], [1.25], [0.0]]", "[[0.5, 0.5], [0.25, 1], [0.0, 0]]"),
        "derive: rnn.toml: loss = 'binary_cross_entropy' needs logistic outputs of their own, and the outputs here "
        "are the last rnn layer's hidden states: add a [[layer]] of type linear with activation = \"logistic\""),
    "sequence_output unknown": (ISSUE.replace('loss = "half_sse"', 'loss = "half_sse"\nsequence_output = "first"'),
                                "derive: rnn.toml: sequence_output = 'first' is unknown: \"all\" (the layers after the "
                                "recurrent one at every step) or \"last\" (at the last step only)"),
    "softmax over the steps": (ISSUE.replace('activation = "identity"', 'activation = "softmax"'),
                               "derive: rnn.toml: activation 'softmax' of the output layer couples its units, which "
                               "here are every step's (sequence_output = \"all\"): give an elementwise activation, or "
                               "sequence_output = \"last\""),
    "no weights and no seed": (ISSUE.replace("weight_ih = [[0.1, 0.2], [0.3, -0.1]]\n", "").replace(
        "weight_hh = [[0.5, -0.3], [0.2, 0.4]]\n", ""),
        "derive: rnn.toml: missing key 'layer[0].weight_ih' (give it, or a seed = N to fill it reproducibly)"),
    "sequence_output a number": (ISSUE.replace('loss = "half_sse"', 'loss = "half_sse"\nsequence_output = 3'),
                                 'derive: rnn.toml: sequence_output must be "all" or "last", not a whole number'),
    "last with a row per step": (LAST.replace("targets = [[0.25]]", "targets = [[0.5], [1.25], [0.0]]"),
                                 "derive: rnn.toml: samples[0].targets has 3 rows, rows (the last step's targets) is 1"),
    "one tensor of two": (ISSUE.replace("weight_hh = [[0.5, -0.3], [0.2, 0.4]]\n", ""),
                          "derive: rnn.toml: layer[0]: weight_ih is given but not weight_hh: give both, or neither "
                          "(drawn from the seed)"),
}


RNN_LAST = ISSUE[:ISSUE.index('[[layer]]\ntype = "linear"')] + ISSUE[ISSUE.index("[[samples]]"):].replace(
    "[[0.5], [1.25], [0.0]]", "[[0.5, 0.5], [1.25, 1], [0.0, 0]]")


@pytest.mark.parametrize("mode", ["all", "last"])
def test_an_rnn_may_be_the_last_layer_its_hidden_states_the_outputs(tmp_path, mode):
    """No layer after it: its h_t are the outputs (derive's readout copies them, o_t = h_t), every step's
    ("all", a row of targets per step) or the last's; the gradients are PyTorch's."""
    text = RNN_LAST if mode == "all" else RNN_LAST.replace('loss = "half_sse"', 'loss = "half_sse"\nsequence_output = '
                                                           '"last"').replace("[[0.5, 0.5], [1.25, 1], [0.0, 0]]",
                                                                             "[[0.5, 0.5]]")
    tr.assert_agrees(tr.reference(text), derive_gradients(text, tmp_path))
    model = _model(text)
    assert model.network.outputs == (["o1", "o2", "o3", "o4", "o5", "o6"] if mode == "all" else ["o1", "o2"])
    assert str(model.derivation.step[Q.net("o1")].formula) == ("out_h1" if mode == "all" else "out_h5")


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    text, message = BAD[case]
    assert refused(text, "rnn.toml", tmp_path, capsys).strip() == message


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_pages_loop_form_gives_every_value_of_every_sample(chrome, name):
    """The page's script in loop form (above LOOP_THRESHOLD parameters), in headless Chromium: every
    kernel and display value of every sample is the engine's."""
    from test_page_loops import agrees

    text = NETWORKS[name]
    agrees(chrome, _model(text))


def _weight_hh(values) -> dict:
    """W_hh's gradient as a matrix [j][m] -> its places in layer 0."""
    return {(0, "weight_hh", (j, m)): values[j][m].item() for j in range(values.shape[0]) for m in range(values.shape[1])}


def test_each_recurrent_slip_is_its_own_number_computed_apart():
    """The grader's slips of a recurrent layer, each computed by the engine's variant and apart in torch:
    BPTT cut after one step (h_(t-1) detached where W_hh multiplies it), W_hh's gradient from the last
    step only (delta_T h_(T-1)^T), and with h_t in place of h_(t-1) (sum of delta_t h_t^T)."""
    from derive.check import variants
    from derive.model.layers import place

    model = _model(ISSUE)
    found = {v.key: v.build() for v in variants.variants(model)}
    right = tr.unrolled(ISSUE)
    deltas, hidden = right["deltas"], right["hidden"]
    expected = {
        "recurrent_term_left_out_1": tr.unrolled(ISSUE, truncated=True)["gradients"],
        "shared_weight_last_position": _weight_hh(torch.outer(deltas[-1], hidden[-2])),
        "recurrent_input_wrong_step_1": _weight_hh(sum(torch.outer(deltas[t], hidden[t]) for t in (1, 2))),
    }
    places = {tr.place(**{**place(model.spec, p), "index": tuple(place(model.spec, p)["index"])}): p.name
              for p in model.network.parameters}
    for key, gradients in expected.items():
        for where, want in gradients.items():
            got = float(found[key].value(model.quantity(f"dE_total/d{places[where]}")))
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15), (key, where)
        assert any(abs(want - right["gradients"][w]) > 1e-3 for w, want in gradients.items()), key


def test_the_grader_names_a_recurrent_slip(tmp_path, capsys):
    """A learner's dE/dw5 (W_hh[0][0]) computed with BPTT cut after one step: the grader says so."""
    grader_names(_model(ISSUE), ISSUE, "recurrent_term_left_out_1", "dE_total/dw5", tmp_path, capsys)


@pytest.fixture(scope="module")
def rnn_pages(tmp_path_factory):
    """The issue's network's page, straight-line (as built) and in loop form with the runs elided (forced:
    its 13 parameters are below the thresholds)."""
    from derive.render.web import html

    folder, model = tmp_path_factory.mktemp("rnn_page"), _model(ISSUE)
    straight, loops = folder / "straight.html", folder / "loops.html"
    straight.write_text(model.html(check=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(html, "loop_form", lambda network: True)
        patch.setattr(html, "EMBED_LIMIT", 10)
        loops.write_text(model.html(check=False))
    return model, straight, loops


def test_clicking_a_recurrent_weight_highlights_its_path_through_every_step(chrome, rnn_pages):
    """W_hh[0][0] (w5) feeds h3 (from h1) and h5 (from h3): both its edges and everything downstream of
    h3, edge by edge (the w9 edge h1 -> o1 is not downstream), are highlighted; ids are unique."""
    from test_browser import open_page

    _, straight, _ = rnn_pages
    open_page(chrome, straight)
    ids = chrome.execute_script("return Array.from(document.querySelectorAll('[id]')).map(e => e.id)")
    assert len(ids) == len(set(ids))
    chrome.execute_script("document.getElementById('p-w5').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    on_path = chrome.execute_script("return Array.from(document.querySelectorAll('svg .on-path')).map(e => e.id)")
    assert sorted(on_path) == sorted(["p-w5", "e-h3-h5", "e-h3-o2", "e-h3-h6", "e-h5-o3", "e-h6-o3", "n-h1", "n-h3",
                                      "n-h5", "n-h6", "n-o2", "n-o3", "n-error"])


def test_the_page_shows_the_engines_numbers_and_recomputes_them_after_an_edit(chrome, rnn_pages):
    """Every number on both forms of the page is the engine's; after an edit of a recurrent weight, an
    input and a target, every number of the loop form's page is the straight-line page's and the edited
    gradients are the generated module's."""
    import math

    from test_browser import assert_shown_are_the_engines, number, open_page, shown

    model, straight, loops = rnn_pages
    pages = []
    for path in (straight, loops):
        open_page(chrome, path)
        assert_shown_are_the_engines(shown(chrome), model.evaluation)
        for key, value in (("w5", "0.3"), ("i3", "-0.5"), ("target_o2", "1")):
            edit = chrome.find_element("css selector", f'input[data-edit="{key}"]')
            edit.clear()
            edit.send_keys(value + "\n")
        assert chrome.find_elements("css selector", ".stale") == []
        pages.append(shown(chrome))
    for key, texts in pages[1].items():
        for text in texts:
            assert math.isclose(number(text), number(pages[0][key][0]), rel_tol=1e-9, abs_tol=1e-15), key
    params = {p.name: float(p.value) for p in model.network.parameters} | {"w5": 0.3}
    inputs = [float(v) for v in model.spec.samples[0].inputs]
    inputs[2] = -0.5
    targets = [float(v) for v in model.spec.samples[0].targets]
    targets[1] = 1.0
    for p, g in model.module.gradient(params, inputs, targets).items():
        assert math.isclose(number(pages[0][f"dE_total/d{p}"][0]), g, rel_tol=1e-8, abs_tol=1e-15), p


def test_the_document_has_a_table_per_step_and_a_recurrent_weights_sum_over_the_steps():
    """Section 'Layer 1, step by step': each step's units with their step-and-unit names, net, out and
    delta as torch computes them apart (9 digits), and dE/dw5 written out as its sum over steps 2 and 3."""
    from derive.model.decimals import plain
    from derive.render.tex.latex import document

    model = _model(ISSUE)
    tex = document(model, derive.__version__)
    right = tr.unrolled(ISSUE)
    nets = [(right["inputs"][t] @ torch.tensor([[0.1, 0.3], [0.2, -0.1]], dtype=torch.float64)
             + torch.tensor([0.0, 0.1], dtype=torch.float64)
             + (right["hidden"][t - 1] @ torch.tensor([[0.5, 0.2], [-0.3, 0.4]], dtype=torch.float64) if t else 0))
            for t in range(3)]
    for t in range(3):
        for j in range(2):
            unit = re.escape(f"$h_{{{2 * t + j + 1}}} = h^{{\\langle {t + 1} \\rangle}}_{{{j + 1}}}$")
            row = re.search(unit + r" & \$(\S+)\$ & \$(\S+)\$ & \$(\S+)\$", tex)
            assert row is not None, (t, j)
            for shown, want in zip(row.groups(), (nets[t][j], right["hidden"][t][j], right["deltas"][t][j]), strict=True):
                assert float(shown) == pytest.approx(float(want), rel=6e-9), (t, j)  # 9 digits
    d, h = right["deltas"], right["hidden"]
    assert (r"\frac{\partial E_{\mathrm{total}}}{\partial w_{5}} &= \delta_{h_{3}} \cdot \mathrm{out}_{h_{1}} + "
            r"\delta_{h_{5}} \cdot \mathrm{out}_{h_{3}}") in tex
    assert (rf"&= \left({plain(float(d[1][0]), 9)}\right) \cdot {plain(float(h[0][0]), 9)} + "
            rf"{plain(float(d[2][0]), 9)} \cdot {plain(float(h[1][0]), 9)}") in tex


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_the_module_trains_a_recurrent_network_as_the_formulas_say(optimizer):
    """10 steps of the generated train (two samples, batches of one, shuffled) with every optimizer
    against the independent loop of the formulas, over the module's gradient (itself the engine's)."""
    module_trains_as_the_formulas_say(_model(_random_spec(11, "last", recurrent=2, activation="tanh")), optimizer)


def test_every_command_takes_the_built_in_recurrent_example(tmp_path, capsys):
    """The variants are written back as [[layer]] tables with sequence_output and read again."""
    for path, variant in every_command_takes("rnn", "dE_total/dw5", tmp_path, capsys):
        assert 'sequence_output = "all"' in path.read_text()
        assert [t.kind for t in variant.kinds] == ["rnn", "linear"] and variant.kinds[1].steps == 3
        assert len(variant.samples[0].targets) == 3


@pytest.mark.parametrize("name", ["all", "last", "stacked", "initial state"])
def test_the_matrix_route_gives_the_engines_numbers(name):
    """The unrolled matrix form (`matrix_steps`: Z = W A + U A + b unit by unit, Δ with (U)ᵀ Δ last step
    first), a route of its own: every net, out and delta of every sample and every gradient are the
    scalar derivation's to 1e-45; W_hh's entries are named in U."""
    from derive.derivation import matrix
    from derive.model.layers import place

    model = _model(NETWORKS[name])
    matrix_route_is_the_engine(model)
    form = model.matrix_form

    kinds = {str(e.quantity): e.matrix for e in form.entries}
    for p in model.network.parameters:
        if p.kind == Q.WEIGHT:
            tensor = place(model.spec, p)["tensor"]
            assert kinds[p.name] == (matrix.RECURRENT if tensor == "weight_hh" else matrix.WEIGHTS), p.name


def test_the_documents_matrix_form_writes_the_recurrence():
    from derive.render.tex.latex import document

    small = LAST.replace("input = [3, 2]", "input = [2, 2]").replace(", [0.0, -1.0]]", "]")
    tex = document(_model(small), derive.__version__)
    assert r"z^{(1)} &= W^{(1)} a^{(0)} + U^{(1)} a^{(1)} + b^{(1)}" in tex
    assert r"\delta^{(1)} &= \big((W^{(2)})^{T} \delta^{(2)} + (U^{(1)})^{T} \delta^{(1)}\big)" in tex
    assert r"w_{5} = U^{(1)}_{3,1}" in tex


def test_the_page_and_the_document_say_how_the_biases_are_shared():
    from derive.render.tex.latex import document

    model = _model(ISSUE)
    said = "one bias per neuron, but in layers 1 and 2 one per unit, shared by the steps"
    assert said in model.html(check=False)
    assert said in " ".join(document(model, derive.__version__).split())


def test_over_one_step_the_recurrent_weights_multiply_nothing_and_every_output_says_so():
    """One step: W_hh reads no earlier unit, so its entries feed nothing; their gradients are 0 in the
    engine, the explanation, the document, the page and the code (tested above), and nothing fails."""
    from derive.render.tex.latex import document

    model = _model(ONE_STEP)
    assert [model.gradients()[p] for p in ("w5", "w6", "w7", "w8")] == [0, 0, 0, 0]
    assert str(model.explain("dE_total/dw5")).splitlines()[0] == "dE_total/dw5 = 0"
    assert "$w_{5}$ multiplies nothing in this network (a recurrent weight over a single step): its gradient is 0." \
        in document(model, derive.__version__)
    assert 'data-parameter="w5"' in model.html(check=False)


@needs_cc
@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_float32_c_and_numpy_are_the_engine_within_float32s_bound(tmp_path, loops):
    """--dtype float32 on a recurrent network (stacked, two samples): C in both forms and NumPy give every
    gradient of the engine within tests/test_float32.py's bound, counting the chain through the steps."""
    import ctypes

    from targets import _import
    from test_float32 import _c32, _floats32, bound

    from derive.render.code import c, targets

    model = _model(_random_spec(5, "all", recurrent=2, activation="tanh"))
    network, steps = model.network, model.spec.kinds[0].shape_in[0]
    want = model.gradients()
    scale = steps * max(1.0, *(abs(float(v)) for v in want.values()))
    lib = _c32(model, tmp_path, loops)
    gradient = getattr(lib, f"{c.c_identifier(model.spec.name)}_gradient")
    gradient.restype = ctypes.c_float
    p = _floats32([float(q.value) for q in network.parameters])
    for s, sample in enumerate(model.spec.samples):
        g = (ctypes.c_float * len(network.parameters))()
        gradient(p, _floats32([float(v) for v in sample.inputs]), _floats32([float(v) for v in sample.targets]), g)
        for k, q in enumerate(model.parameters):
            assert abs(g[k] - float(model.value(f"dE_total/d{q}", s))) <= bound(network, scale), q
    path = tmp_path / "g32.py"
    path.write_text(targets.render("numpy", None, network, derive.__version__, None, "float32")["gradients_numpy.py"])
    module = _import(path)
    g = module.gradient(list(module.INITIAL.values()), [[float(v) for v in s.inputs] for s in model.spec.samples],
                        [[float(v) for v in s.targets] for s in model.spec.samples])
    assert g.dtype.name == "float32"
    for k, q in enumerate(model.parameters):
        assert abs(float(g[k]) - float(want[q])) <= bound(network, scale * 2), q


def test_the_general_matrix_rules_have_u_and_a_second_sample_is_said_to_be_a_share():
    """Where the matrices are too large to print, the general rules still carry U; with two samples the
    sum over the steps is said to be sample 1's share of the gradient."""
    from derive.render.tex.latex import document

    tex = document(_model(ISSUE), derive.__version__)
    assert r"z^{(l)} &= W^{(l)} a^{(l-1)} + U^{(l)} a^{(l)} + b^{(l)}" in tex
    assert r"\frac{\partial E_{\mathrm{total}}}{\partial U^{(l)}} &= \delta^{(l)} (a^{(l)})^{T}" in tex
    two = ISSUE + "\n[[samples]]\ninputs = [[0.5, 1.0], [0.0, 2.0], [1.0, 0.0]]\ntargets = [[0.0], [0.5], [1.0]]\n"
    tex = " ".join(document(_model(two), derive.__version__).split())
    assert "Here is sample 1's share (the gradient sums every sample's share: the summary gives the total)." in tex
