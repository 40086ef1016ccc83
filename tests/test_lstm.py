"""LSTM layers (issue #26): ``type = "lstm"``, `torch.nn.LSTM` unrolled over a sequence (gates i, f, g,
o; c_t = f c_(t-1) + i g; h_t = o tanh(c_t)). Every gradient is PyTorch's (tests/torch_recurrent.py,
float64 autograd) to 1e-12, on hand-picked and on random small networks; the straight-line code
targets in both forms and the matrix route compute the engine's numbers; the backward pass through the cell state
is written as the textbooks write it; the grader knows the forget gate's path left out; bad input is
one line, exit 2."""

import functools
import json
import random
import re

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

EXAMPLE = "derive/examples/lstm.toml"
with open(EXAMPLE) as _file:
    ISSUE = _file.read()
LAST = ISSUE.replace('sequence_output = "all"', 'sequence_output = "last"').replace(
    "targets = [[0.5], [1.25], [0.0]]", "targets = [[0.25]]")


def _random_spec(seed: int, sequence_output: str, layers: tuple[str, ...] = ("lstm",), bias: bool = True,
                 linear: bool = True) -> str:
    """A small random network: the recurrent ``layers`` (hidden 1-3) over 1-4 steps of 1-3 features, then
    a linear layer (or none: the last recurrent layer's hidden states are the outputs); two samples."""
    rng = random.Random(seed)
    steps, features = rng.randint(1, 4), rng.randint(1, 3)

    def matrix(rows, columns):
        return [[round(rng.uniform(-1, 1), 3) for _ in range(columns)] for _ in range(rows)]

    tables, width = [], features
    for kind in layers:
        hidden = rng.randint(1, 3)
        rows = 4 * hidden if kind == "lstm" else hidden
        tables.append({"type": kind, "hidden_size": hidden, "weight_ih": matrix(rows, width),
                       "weight_hh": matrix(rows, hidden), "bias": matrix(1, rows)[0] if bias else "none"})
        width = hidden
    out = rng.randint(1, 2) if linear else width
    if linear:
        tables.append({"type": "linear", "out_features": out, "activation": rng.choice(["identity", "logistic"]),
                       "weight": matrix(out, width), "bias": matrix(1, out)[0] if bias else "none"})
    rows = steps if sequence_output == "all" else 1
    samples = [{"inputs": matrix(steps, features), "targets": matrix(rows, out)} for _ in range(2)]
    text = spec_toml(f"lstm_{seed}", [steps, features], tables, samples)
    return text.replace('loss = "half_sse"', f'loss = "half_sse"\nsequence_output = "{sequence_output}"')


#: the LSTM as the last layer: its hidden states are the outputs, every step's or the last's
ALONE = ISSUE[:ISSUE.index('[[layer]]\ntype = "linear"')] + ISSUE[ISSUE.index("[[samples]]"):].replace(
    "[[0.5], [1.25], [0.0]]", "[[0.5, 0.1], [0.25, 0.0], [0.0, -0.3]]")
ALONE_LAST = ALONE.replace('sequence_output = "all"', 'sequence_output = "last"').replace(
    "[[0.5, 0.1], [0.25, 0.0], [0.0, -0.3]]", "[[0.5, 0.1]]")
#: an initial state given: h_0 and c_0, the layer's first units; and c_0 alone (h_0 = 0)
INITIAL = ISSUE.replace("hidden_size = 2", "hidden_size = 2\ninitial_state = [0.3, -0.2]\ninitial_cell = [0.1, 0.5]")
CELL_ONLY = ISSUE.replace("hidden_size = 2", "hidden_size = 2\ninitial_cell = [0.1, 0.5]")
#: one step: W_hh multiplies nothing (h_0 = 0), its gradient 0 in every target
ONE_STEP = ISSUE.replace("input = [3, 2]", "input = [1, 2]").replace(", [0.5, 3.0], [0.0, -1.0]]", "]").replace(
    "[[0.5], [1.25], [0.0]]", "[[0.5]]")
#: the networks the code targets and the matrix route are checked on, by name
NETWORKS = {"all": ISSUE, "last": LAST, "stacked": _random_spec(3, "all", ("rnn", "lstm", "lstm")),
            "no bias": _random_spec(8, "last", bias=False), "alone": ALONE, "alone last": ALONE_LAST,
            "initial": INITIAL, "one step": ONE_STEP, "lstm then rnn": _random_spec(4, "all", ("lstm", "rnn"))}


# One model a network for the module's tests: a Model computes each part once, on demand, and is
# only read (the same numbers for each test, its derivation and values built once).
@functools.cache
def _model(text: str) -> derive.Model:
    return derive.Model(derive.parse(text, "lstm.toml"))


@pytest.mark.parametrize("text", [ISSUE, LAST, ALONE, ALONE_LAST, INITIAL, CELL_ONLY],
                         ids=["all", "last", "alone", "alone last", "initial", "cell only"])
def test_the_issues_network_has_pytorchs_gradients(tmp_path, text):
    """The built-in example, the LSTM as the last layer (its h_t the outputs, as the numerical examples
    take it: derive's readout copies them, o_t = h_t, and dE/dh_t collects the loss at t), and with an
    initial state (h_0 and c_0 the layer's first units, their deltas dE/dh_0 and dE/dc_0)."""
    tr.assert_agrees(tr.reference(text), derive_gradients(text, tmp_path))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), sequence_output=st.sampled_from(["all", "last"]),
       layers=st.sampled_from([("lstm",), ("lstm", "lstm"), ("rnn", "lstm"), ("lstm", "rnn")]), bias=st.booleans(),
       linear=st.booleans())
def test_random_lstm_networks_have_pytorchs_gradients(tmp_path_factory, seed, sequence_output, layers, bias, linear):
    text = _random_spec(seed, sequence_output, layers, bias, linear)
    tr.assert_agrees(tr.reference(text), derive_gradients(text, tmp_path_factory.mktemp("lstm")))


def _tanh(expr: sp.Expr) -> sp.Expr:
    """The registry's tanh (a function of its own, for its printers and stable forms) as SymPy's."""
    return expr.replace(lambda e: type(e).__name__ == "Tanh", lambda e: sp.tanh(e.args[0]))


def test_the_cell_states_delta_is_written_as_the_textbooks_write_it():
    """Units step by step, i f g o c h (2 each): step 1 is h1..h12, step 2 h13..h24. dE/dc_1 collects h_1's
    delta through o_1 (1 - tanh^2 c_1) and the next step's cell through f_2; dE/dh_1 the output at step 1
    and the next step's gates through W_hh; a gate's weight's gradient is the sum over the steps."""
    model = _model(ISSUE)
    derivation, net = model.derivation, model.network
    sym = net.symbol
    c1, o1, f2, c2 = (sym(Q.out(n)) for n in ("h9", "h7", "h15", "h21"))
    d_c = derivation.step[Q.partial(Q.TOTAL_ERROR, Q.out("h9"))]
    assert d_c.formula == (sym(Q.delta("h11")) * sym(Q.partial(Q.net("h11"), Q.out("h9")))
                           + sym(Q.delta("h21")) * sym(Q.partial(Q.net("h21"), Q.out("h9"))))
    assert _tanh(derivation.step[Q.partial(Q.net("h11"), Q.out("h9"))].formula) == o1 * (1 - sp.tanh(c1) ** 2)
    assert derivation.step[Q.partial(Q.net("h21"), Q.out("h9"))].formula == f2
    assert derivation.step[Q.net("h21")].formula.free_symbols >= {f2, c1}
    assert _tanh(derivation.step[Q.net("h11")].formula) == o1 * sp.tanh(c1)
    # h_1 (h11) is read by the output at step 1 (w33) and by the 8 gates of step 2 through W_hh
    readers = {dest for dest, _ in net.reads("h11")}
    assert readers == {"o1", *(f"h{n}" for n in range(13, 21))}
    # the forget gate at step 1 multiplies c_0 = 0: nothing flows back to it
    assert derivation.step[Q.net("h9")].formula.free_symbols == {sym(Q.out("h1")), sym(Q.out("h5"))}
    # W_ih[0][0] (w1, the input gate's) multiplies x_t,1 at every step: i1, i3, i5
    assert derivation.step[Q.gradient("w1")].formula == sp.Add(*(
        sym(Q.delta(h)) * sym(Q.out(i)) for h, i in (("h1", "i1"), ("h13", "i3"), ("h25", "i5"))))
    order = [s.quantity for s in derivation.steps]
    assert order.index(Q.delta("h33")) < order.index(Q.delta("h21")) < order.index(Q.delta("h9"))
    assert c2 in derivation.step[Q.net("h23")].formula.free_symbols  # h_2 = o_2 tanh(c_2)


def test_the_places_of_the_parameters_are_pytorchs_tensors(tmp_path, capsys):
    spec = tmp_path / "lstm.toml"
    spec.write_text(ISSUE)
    assert main(["gradients", str(spec), "--json"]) == 0
    places = {p["name"]: (p["layer"], p["tensor"], p["index"]) for p in json.loads(capsys.readouterr().out)["parameters"]}
    assert places["w1"] == (0, "weight_ih", [0, 0])
    assert places["w16"] == (0, "weight_ih", [7, 1])
    assert places["w17"] == (0, "weight_hh", [0, 0])
    assert places["w32"] == (0, "weight_hh", [7, 1])
    assert places["w33"] == (1, "weight", [0, 0])
    assert places["b8"] == (0, "bias", [7])
    assert places["b9"] == (1, "bias", [0])


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_python_and_numpy_code_in_every_form_is_the_engine(tmp_path, name):
    """Straight-line Python, and the loop form (the layer unit by unit, `derive.model.scalars`) in Python
    and NumPy."""
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


def test_an_rnn_after_an_lstm_reads_its_hidden_states_through_their_positions():
    """An rnn's loops read the layer below's x_t; after an LSTM (or after an rnn with an initial state,
    whose h_0 units come first) through a table of the hidden states' positions (`Recur.positions`)."""
    from derive.derivation import lowered
    from derive.model import program as P
    from derive.render.code import loops

    network = _model(NETWORKS["lstm then rnn"]).network
    assert loops.unlowered(network) is None
    recur = next(s for s in lowered.lower(network).forward if isinstance(s, P.Recur))
    assert recur.positions == tuple(p for p, unit in enumerate(network.layers[1]) if unit in network.exposed(1))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_the_module_trains_an_lstm_as_the_formulas_say(optimizer):
    module_trains_as_the_formulas_say(_model(_random_spec(11, "last")), optimizer)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_matrix_route_gives_the_engines_numbers(name):
    """The unrolled matrix form with the products' local partials P (c_t, h_t), a route of its own: every
    net, out and delta of every sample and every gradient are the scalar derivation's to 1e-45."""
    matrix_route_is_the_engine(_model(NETWORKS[name]))


def _places(model) -> dict:
    from derive.model.layers import place

    return {tr.place(**{**place(model.spec, p), "index": tuple(place(model.spec, p)["index"])}): p.name
            for p in model.network.parameters}


def test_each_lstm_slip_is_its_own_number_computed_apart():
    """The grader's slips of an LSTM, each computed by the engine's variant and apart in torch: the forget
    gate's path left out (c_(t-1) detached in f_t c_(t-1)), BPTT cut after one step through W_hh
    (h_(t-1) detached where W_hh multiplies it), and W_hh's gradient with h_t for h_(t-1) (the sum of
    dE/dz_t h_t^T over steps 2 and 3)."""
    import torch

    from derive.check import variants

    model = _model(ISSUE)
    found = {v.key: v.build() for v in variants.variants(model)}
    assert not any(key.startswith("activation_1_") for key in found)  # no one function of the layer to swap
    unrolled = tr.lstm_unrolled(ISSUE)
    right, deltas, hidden = unrolled["gradients"], unrolled["deltas"], unrolled["hidden"]
    wrong_step = sum(torch.outer(deltas[t], hidden[t]) for t in (1, 2))  # h_t for h_(t-1) at steps 2 and 3
    expected = {"forget_path_left_out_1": tr.lstm_unrolled(ISSUE, forget_path=False)["gradients"],
                "recurrent_term_left_out_1": tr.lstm_unrolled(ISSUE, truncated=True)["gradients"],
                "recurrent_input_wrong_step_1": {(0, "weight_hh", (j, m)): wrong_step[j][m].item()
                                                 for j in range(8) for m in range(2)}}
    places = _places(model)
    for key, gradients in expected.items():
        for where, want in gradients.items():
            got = float(found[key].value(model.quantity(f"dE_total/d{places[where]}")))
            assert got == pytest.approx(want, rel=1e-12, abs=1e-15), (key, where)
        assert any(abs(want - right[w]) > 1e-3 for w, want in gradients.items()), key


def test_the_grader_names_the_forget_path_left_out(tmp_path, capsys):
    grader_names(_model(ISSUE), ISSUE, "forget_path_left_out_1", "dE_total/dw17", tmp_path, capsys)


def test_the_document_has_a_table_per_step_of_every_gate_and_state():
    """Section 'Layer 1, step by step': the LSTM's equations, and each step's units named by part, step
    and unit (h_9 = c^<1>_1), with net, out and delta as torch computes them apart (9 digits)."""
    import torch

    from derive.render.tex.latex import document

    model = _model(ISSUE)
    tex = document(model, derive.__version__)
    assert r"c^{\langle t \rangle} &= f^{\langle t \rangle} c^{\langle t-1 \rangle} + i^{\langle t \rangle} g^{\langle t \rangle}" in tex
    modules, table, _ = tr.build(ISSUE)
    lstm = modules[0][1]
    x = torch.tensor(table["samples"][0]["inputs"], dtype=torch.float64)
    with torch.no_grad():
        _, (h, c) = lstm(x[:1].unsqueeze(0))
    for part, j, want in (("c", 1, c[0, 0, 0]), ("c", 2, c[0, 0, 1]), ("h", 1, h[0, 0, 0]), ("h", 2, h[0, 0, 1])):
        unit = 8 + 2 * (part == "h") + j
        cell = re.escape(f"$h_{{{unit}}} = {part}^{{\\langle 1 \\rangle}}_{{{j}}}$")
        row = re.search(cell + r" & \$(\S+)\$ & \$(\S+)\$", tex)
        assert row is not None, (part, j)
        assert float(row.group(2)) == pytest.approx(float(want), rel=6e-9), (part, j)
    for n, part in ((1, "i"), (3, "f"), (5, "g"), (7, "o"), (13, "i"), (36, "h")):
        step, j = (n - 1) // 12 + 1, (n - 1) % 2 + 1
        assert f"$h_{{{n}}} = {part}^{{\\langle {step} \\rangle}}_{{{j}}}$" in tex


BAD = {
    "rows": (ISSUE.replace("[-0.3, 0.2], [0.2, 0.2]]", "[-0.3, 0.2]]", 1),
             "derive: lstm.toml: layer[0].weight_ih has 7 rows, 4 hidden_size is 8"),
    "activation": (ISSUE.replace("hidden_size = 2", "hidden_size = 2\nactivation = \"relu\""),
                   "derive: lstm.toml: layer[0]: unknown key 'activation'; lstm layers have type, input_size, "
                   "hidden_size, weight_ih, weight_hh, bias, initial_state, initial_cell"),
    "one tensor": (re.sub(r"weight_hh = .*\n", "", ISSUE, count=1),
                   "derive: lstm.toml: layer[0]: weight_ih is given but not weight_hh: give both, or neither "
                   "(drawn from the seed)"),
    "flat input": (ISSUE.replace("input = [3, 2]", "input = 6"),
                   "derive: lstm.toml: layer[0]: an lstm layer reads a sequence [steps, features], but the layer "
                   "below gives 6 features: put it first (input = [steps, features]) or right after another "
                   "recurrent layer"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    text, message = BAD[case]
    assert refused(text, "lstm.toml", tmp_path, capsys).strip() == message


def test_every_command_takes_the_built_in_lstm_example(tmp_path, capsys):
    for _, variant in every_command_takes("lstm", "dE_total/dw17", tmp_path, capsys):
        assert [t.kind for t in variant.kinds] == ["lstm", "linear"] and variant.kinds[1].steps == 3


@pytest.fixture(scope="module")
def lstm_page(tmp_path_factory):
    path = tmp_path_factory.mktemp("lstm_page") / "lstm.html"
    model = _model(ISSUE)
    path.write_text(model.html(check=False))
    return model, path


def test_the_page_shows_the_engines_numbers_and_recomputes_them_after_an_edit(chrome, lstm_page):
    """Every number on the page is the engine's; after an edit of a W_hh entry and an input, the edited
    gradients are the generated module's."""
    import math

    from test_browser import assert_shown_are_the_engines, number, open_page, shown

    model, path = lstm_page
    open_page(chrome, path)
    assert_shown_are_the_engines(shown(chrome), model.evaluation)
    for key, value in (("w17", "0.3"), ("i3", "-0.5")):
        edit = chrome.find_element("css selector", f'input[data-edit="{key}"]')
        edit.clear()
        edit.send_keys(value + "\n")
    assert chrome.find_elements("css selector", ".stale") == []
    after = shown(chrome)
    params = {p.name: float(p.value) for p in model.network.parameters} | {"w17": 0.3}
    inputs = [float(v) for v in model.spec.samples[0].inputs]
    inputs[2] = -0.5
    targets = [float(v) for v in model.spec.samples[0].targets]
    for p, g in model.module.gradient(params, inputs, targets).items():
        assert math.isclose(number(after[f"dE_total/d{p}"][0]), g, rel_tol=1e-8, abs_tol=1e-15), p


def test_clicking_a_recurrent_weight_highlights_its_edges_at_every_step(chrome, lstm_page):
    """W_hh[0][0] (w17) feeds the input gate's first unit at steps 2 and 3 (h13, h25) from h_1 and h_2
    (h11, h23): both its edges (the first labelled, p-w17) are highlighted, and the cell and hidden states downstream of them."""
    from test_browser import open_page

    _, path = lstm_page
    open_page(chrome, path)
    chrome.execute_script("document.getElementById('p-w17').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    on_path = set(chrome.execute_script("return Array.from(document.querySelectorAll('svg .on-path')).map(e => e.id)"))
    assert {"p-w17", "e-h23-h25", "n-h13", "n-h25", "n-h21", "n-h23", "n-h33", "n-h35", "n-o3"} <= on_path
    assert "n-h1" not in on_path and "e-h11-o1" not in on_path


def test_the_loop_form_holds_step_0_and_one_template_of_the_later_steps():
    """Each statement of the layer's loop form holds step 0's lines and one template of steps 1 .. T - 1
    (the C source of hidden 16 over 20 steps unrolled did not compile in 9 minutes; as loops, 0.44 MB),
    and the template at step 2 is step 2's lines: the code tests above run it."""
    from derive.derivation import lowered
    from derive.model import program as P

    network = _model(ISSUE).network
    layer = [s for s in (*lowered.lower(network).forward, *lowered.lower(network).backward)
             if isinstance(s, P.Scalars)]
    assert [s.into for s in layer] == [P.NETS, P.BACKS, P.WEIGHT_GRADIENTS]
    assert all(s.steps == 3 and s.template for s in layer)
    assert len(layer[0].lines) == len(layer[0].template) == 2 * 6 * 2  # a net and an out for each of 12 units
    assert str(layer[0].template[0][0]) == "z1[12*step]"
    assert layer[0].template[0][1].free_symbols >= {sp.Symbol("a1[12*step - 1]", real=True)}  # h_(t-1),2
