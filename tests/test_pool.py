"""Pooling (issue #25): ``type = "maxpool2d"`` and ``"avgpool2d"``, PyTorch's `torch.nn.MaxPool2d` and
`torch.nn.AvgPool2d` (kernel, stride defaulting to the kernel, the floor rule), through the engine and
the commands. The gradients are PyTorch's (tests/test_torch_reference.py, ties included); here: every
code target in both forms computes the engine's numbers, max pooling's delta goes to the first
maximum of its window and average pooling's is spread, as the derivation writes them; bad tables are
one line."""

import functools
import json
import tomllib

import pytest
import sympy as sp
import torch_reference as tr
from targets import (
    c_is_the_python_and_the_engine,
    module_trains_as_the_formulas_say,
    needs_cc,
    python_and_numpy_are_the_engine,
)

import derive
from derive.cli import main
from derive.render.code import targets

EXAMPLES = {tomllib.loads(t)["name"]: t for t in tr.EXAMPLES}
POOLING = ["pad1_avgpool", "maxpool_tie", "conv_maxpool_conv"]
# pooling straight on the input (nothing to send back), 3x3 windows (a mean over 9), two samples
FIRST = tr.spec_toml("pool_first", [1, 4, 4], [{"type": "avgpool2d", "kernel_size": 3, "stride": 1},
                                               {"type": "linear", "out_features": 1, "activation": "tanh",
                                                "weight": [[0.5, -0.25, 0.75, 1]], "bias": [0.1]}],
                     [tr._sample((1, 4, 4), 2, [0.5]), tr._sample((1, 4, 4), 3, [-0.5])])
# a 1x1 convolution, then max pooling whose maxima are not in the windows' first cells
SMALL = tr.spec_toml("small_maxpool", [1, 2, 4], [
    {"type": "conv2d", "out_channels": 1, "kernel_size": 1, "activation": "identity", "weight": [[[[0.5]]]],
     "bias": [0.1]},
    {"type": "maxpool2d", "kernel_size": 2},
    {"type": "linear", "out_features": 1, "activation": "logistic", "weight": [[0.75, 0.5]], "bias": [0.25]}],
    [{"inputs": [[[0.1, 0.5, 0.3, 0.2], [0.4, 0.2, 0.9, 0.1]]], "targets": [1]}])
EXAMPLES["small_maxpool"] = SMALL
EXAMPLES["small_avgpool"] = SMALL.replace("small_maxpool", "small_avgpool").replace("maxpool2d", "avgpool2d")
SPECS = [*POOLING, "pool_first"]


# One model a network for the module's tests: a Model computes each part once, on demand, and is
# only read (the same numbers for each test, its derivation and values built once).
@functools.cache
def _model(name: str) -> derive.Model:
    return derive.Model(derive.parse(EXAMPLES.get(name, FIRST), f"{name}.toml"))


def _spec(tmp_path, name):
    path = tmp_path / f"{name}.toml"
    path.write_text(EXAMPLES.get(name, FIRST))
    return path


@pytest.mark.parametrize("name", SPECS)
def test_the_python_and_numpy_code_in_every_form_is_the_engine(tmp_path, name):
    model = _model(name)
    python_and_numpy_are_the_engine(model, tmp_path)


@needs_cc
@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_the_c_code_in_both_forms_is_the_python_and_the_engine(tmp_path, loops):
    for name in SPECS:
        c_is_the_python_and_the_engine(_model(name), tmp_path, loops)


def test_max_pooling_sends_its_delta_to_the_first_maximum_of_its_window():
    """maxpool_tie: the conv's outputs are 0.75, 0.75 (row 0) and 0.75, 0.5 (row 1): three ties; the
    pooled unit's delta goes to the first only, the others get 0, and the derivation says why."""
    model = _model("maxpool_tie")
    net = model.network
    conv, pooled = net.layers[1], net.layers[2][0]
    assert conv == ["h1_1", "h1_2", "h1_3", "h1_4"] and pooled == "h2_1"
    assert [float(model.value(f"out_{h}")) for h in conv] == [0.75, 0.75, 0.75, 0.5]
    assert model.value(f"net_{pooled}") == model.value("out_h1_1")
    assert [model.value(f"dnet_{pooled}/dout_{h}") for h in conv] == [1, 0, 0, 0]
    assert model.value("delta_h1_1") == model.value(f"delta_{pooled}") != 0
    assert [model.value(f"delta_{h}") for h in conv[1:]] == [0, 0, 0]
    outs = [model.symbol(f"out_{h}") for h in conv]
    assert model.derivation.step[model.quantity(f"net_{pooled}")].formula == sp.Max(*outs, evaluate=False)
    assert str(model.explain(f"dnet_{pooled}/dout_h1_2")).splitlines() == [
        "dnet_h2_1/dout_h1_2 = d/dout_h1_2 (Max(out_h1_1, out_h1_2, out_h1_3, out_h1_4))",
        "    = (1 if out_h1_2 >= out_h1_3 and out_h1_2 >= out_h1_4 and out_h1_2 > out_h1_1 else 0)",
        "    = (1 if 0.75 >= 0.75 and 0.75 >= 0.5 and 0.75 > 0.75 else 0)",
        "    = 0"]


def test_average_pooling_spreads_its_delta_over_its_window():
    model = _model("pool_first")
    assert model.spec.kinds[0].shape == (1, 2, 2)
    net = model.network
    q = net.layers[1][0]
    window = [1, 2, 3, 5, 6, 7, 9, 10, 11]  # rows 0-2, columns 0-2 of the 4x4 input
    assert [(str(t.factor), t.coefficient) for t in net.net_terms[q]] == [(f"i{i}", sp.Rational(1, 9)) for i in window]
    assert abs(model.value(f"net_{q}", 0) - sum(model.value(f"i{i}", 0) for i in window) / 9) < 1e-15


def test_average_pooling_s_delta_reaches_the_layer_below_spread():
    """pad1_avgpool: each conv unit in a 2x2 window gets a quarter of the pooled unit's delta (times
    its activation's derivative); the conv's last row and column, in no window, get nothing."""
    model = _model("pad1_avgpool")
    net = model.network
    conv, pooled = net.layers[1], net.layers[2]
    assert model.spec.kinds[0].shape == (1, 5, 5) and model.spec.kinds[1].shape == (1, 2, 2)
    for j, p in enumerate(pooled):
        y, x = divmod(j, 2)
        for cell in (5 * (2 * y + dy) + 2 * x + dx for dy in (0, 1) for dx in (0, 1)):
            h = conv[cell]
            assert model.value(f"dnet_{p}/dout_{h}") == sp.Rational(1, 4)
            expected = model.value(f"delta_{p}") / 4 * model.value(f"dout_{h}/dnet_{h}")
            assert abs(model.value(f"delta_{h}") - expected) < 1e-15
    assert all(model.value(f"delta_{conv[cell]}") == 0 for cell in (*range(20, 25), 4, 9, 14, 19))


@pytest.mark.parametrize("name", [*SPECS, "small_maxpool"])
def test_the_matrix_form_routes_through_each_sample_s_local_partials(name):
    """The matrix route (z = P a, back = Pᵀ δ with P a pooling layer's local partials at each sample)
    gives every gradient, net and delta of the scalar derivation."""
    model = _model(name)
    form = model.matrix_form
    for p in model.parameters:
        assert abs(form.gradients[p] - model.gradients()[p]) < 1e-40, p
    for layer in form.layers:
        for j, n in enumerate(model.network.layers[layer.index]):
            for s in range(len(model.spec.samples)):
                assert abs(layer.nets[j, s] - model.value(f"net_{n}", s)) < 1e-40
                assert abs(layer.deltas[j, s] - model.value(f"delta_{n}", s)) < 1e-40


def test_every_command_takes_it(tmp_path, capsys):
    spec = _spec(tmp_path, "conv_maxpool_conv")
    assert main(["build", str(spec), "-o", str(tmp_path / "b"), "--quiet"]) == 0
    capsys.readouterr()
    tex, page = ((tmp_path / "b" / f"conv_maxpool_conv.{ext}").read_text() for ext in ("tex", "html"))
    rule = ("Layer 2 (maxpool2d) has no parameters: each of its units sends its delta back to the first largest "
            "input of its window (PyTorch's rule at a tie), 0 to the others. That share is the factor "
            r"$\partial \mathrm{net}/\partial \mathrm{out}$ of each input of its window, in place of a weight in "
            r"$\partial E_{\mathrm{total}}/\partial \mathrm{out}$ of the layer below.")
    assert rule in " ".join(tex.split())
    assert r"\mathrm{net}_{h_{2,1}} &= \max\left(" in tex and r"\begin{cases}" in tex
    assert "Layer 1 (conv2d, relu): 2 channels of 4 × 4" in page and "Layer 2 (maxpool2d): 2 channels of 3 × 3" in page
    assert main(["check", str(spec), "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert checks["passed"] is True
    assert main(["train", str(spec), "--steps", "3", "--optimizer", "adam"]) == 0
    for name in targets.TARGETS:
        assert main(["codegen", str(spec), "--target", name, "-o", str(tmp_path / f"code_{name}")]) == 0, name
    assert main(["exercise", str(spec), "--variants", "2", "--ask", "dE_total/dw1", "-o", str(tmp_path / "x"),
                 "--no-pdf"]) == 0
    capsys.readouterr()
    for path in sorted((tmp_path / "x").rglob("*.toml")):
        variant = derive.load(path).spec
        assert [t.kind for t in variant.kinds] == ["conv2d", "maxpool2d", "conv2d", "linear"]
        assert variant.kinds[1].settings == (("kernel_size", (2, 2)), ("stride", (1, 1)))


BAD = [
    ('input = 3\n[[layer]]\ntype = "maxpool2d"\nkernel_size = 2\n',
     "layer[0]: a maxpool2d layer takes (channels, height, width), but the layer below gives 3 features: put it "
     "after the input (input = [channels, height, width]) or a conv2d layer"),
    ('input = [1, 2, 2]\n[[layer]]\ntype = "avgpool2d"\nkernel_size = 3\n',
     "layer[0]: the kernel 3x3 is larger than its input 2x2"),
    ('input = [1, 3, 3]\n[[layer]]\ntype = "maxpool2d"\n',
     "layer[0]: missing key 'kernel_size' (a number, or [rows, columns])"),
    ('input = [1, 3, 3]\n[[layer]]\ntype = "maxpool2d"\nkernel_size = 2\npadding = 1\n',
     "layer[0]: unknown key 'padding'; maxpool2d layers have type, kernel_size, stride"),
    ('input = [1, 3, 3]\n[[layer]]\ntype = "avgpool2d"\nkernel_size = 2\nstride = [1, 0]\n',
     "layer[0].stride[1] = 0 is out of range: it must be from 1 to 4096"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_a_bad_pooling_table_is_one_line_and_exit_2(tmp_path, capsys, body, message):
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\nloss = "half_sse"\nlearning_rate = 0.1\n' + body
                    + "[[samples]]\ninputs = [[[0, 0, 0], [0, 0, 0], [0, 0, 0]]]\ntargets = [0]\n")
    assert main(["gradients", str(path)]) == 2
    assert capsys.readouterr().err == f"derive: bad.toml: {message}\n"


def test_every_pooling_slip_changes_the_gradients_below_it():
    """Each slip of max pooling (every cell, the first cell, the last maximum at a tie, spread) and of
    average pooling (undivided) gives another dE/dw1 where it applies, so the grader can tell it."""
    from derive.check import variants

    for name, slips in [("small_maxpool", ["max_pool_to_every_cell_2", "max_pool_to_first_cell_2",
                                           "max_pool_spread_2"]),
                        ("maxpool_tie", ["max_pool_to_last_maximum_2", "max_pool_to_every_cell_2"]),
                        ("small_avgpool", ["avg_pool_not_divided_2"])]:
        model = _model(name)
        found = {v.key: v for v in variants.variants(model)}
        for slip in slips:
            value = found[slip].build().value(model.quantity("dE_total/dw1"))
            assert abs(value - model.value("dE_total/dw1")) > 1e-4, (name, slip)


@pytest.mark.parametrize(("name", "slip", "asked"), [
    ("maxpool_tie", "max_pool_to_last_maximum_2", "dE_total/dw1"),
    ("small_maxpool", "max_pool_to_first_cell_2", "dE_total/dw1"),
    ("small_avgpool", "avg_pool_not_divided_2", "dE_total/dw1"),
])
def test_the_grader_names_a_pooling_slip(tmp_path, capsys, name, slip, asked):
    """A learner's gradient computed with the pooling layer's delta sent the wrong way: the grader
    says which way (the value differs from the right one, so the slip is what explains it)."""
    from derive.check import variants

    model = _model(name)
    wrong = next(v for v in variants.variants(model) if v.key == slip).build().value(model.quantity(asked))
    assert abs(float(wrong) - float(model.value(asked))) > 1e-3
    sheet = tmp_path / "sheet.txt"
    sheet.write_text(f"{asked} = {float(wrong):.10f}\n")
    assert main(["grade", str(_spec(tmp_path, name)), str(sheet), "--json", "--time-limit", "300"]) == 1
    answer = json.loads(capsys.readouterr().out)["answers"][0]
    assert answer["verdict"] == "wrong" and slip in [s["slip"] for s in answer["slips"]], answer


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_the_module_trains_a_pooling_network_as_the_formulas_say(optimizer):
    """10 steps of the generated train (two samples, batches of one, shuffled) with every optimizer
    against the independent loop of the formulas, over the module's gradient (itself the engine's)."""
    module_trains_as_the_formulas_say(_model("pool_first"), optimizer)


def test_the_built_in_example_s_document_and_page_derive_a_cell_no_window_reads(tmp_path, capsys):
    """cnn_pool (the README's example): max pooling 2 over 3 x 3 maps reads rows and columns 1-2 only
    (the floor rule drops the third); a dropped unit's dE/dout is 0, said so, in the document and on
    the page, which derive every kernel entry's gradient through it."""
    path = tmp_path / "cnn.toml"
    assert main(["init", str(path), "--like", "cnn_pool"]) == 0
    capsys.readouterr()
    model = derive.load(path)
    assert [t.shape for t in model.spec.kinds] == [(2, 3, 3), (2, 1, 1), (2,)]
    assert model.network.reads("h1_3") == [] and model.value("delta_h1_3") == 0
    tex, page = model.latex(), model.html(check=False)  # the page's derivation (its check section is slow: not asked here)
    assert r"\frac{\partial E_{\mathrm{total}}}{\partial \mathrm{out}_{h_{1,3}}} &= 0" in tex
    assert "no unit of the layer above reads it" in tex
    assert "no unit of the layer above reads it" in page
    for text in (tex, page):  # a pooling layer has no activation: described so in every output
        assert "layer 1: relu, layer 2: none (maxpool2d), layer 3: logistic" in text
