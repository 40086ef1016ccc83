"""Convolution (issue #25): ``type = "conv2d"``, PyTorch's `torch.nn.Conv2d` (cross-correlation, its
weight layout, stride, padding and floor rule), through the engine and the commands: every gradient is
PyTorch's in float64 at its place; every code target in both forms computes the engine's numbers (the
loop form through the layer's connection table); one kernel entry's gradient is the sum over the
positions it is used at; a flipped kernel is a slip the grader finds; bad tables are one line."""

import json
import tomllib

import pytest
import torch
from targets import c_is_the_python_and_the_engine, needs_cc, python_and_numpy_are_the_engine

import derive
from derive.cli import main
from derive.render.code import targets

CNN = """name = "cnn"
input = [1, 4, 4]
loss = "half_sse"
learning_rate = 0.1

[[layer]]
type = "conv2d"
out_channels = 2
kernel_size = 2
activation = "relu"
weight = [[[[0.1, -0.2], [0.3, 0.4]]], [[[-0.5, 0.6], [0.7, -0.8]]]]
bias = [0.1, -0.1]

[[layer]]
type = "linear"
out_features = 2
activation = "logistic"
weight = [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, -0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8, -0.9],
          [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, -0.05, -0.1, -0.15, -0.2, -0.25, -0.3, -0.35, -0.4, -0.45]]
bias = [0.0, 0.1]

[[samples]]
inputs = [[[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], [0.9, 1.0, 0.0, -0.1], [-0.2, -0.3, 0.2, 0.1]]]
targets = [0.0, 1.0]
"""
# Two input channels, stride 2 and padding 1 (a kernel entry over the padding adds nothing), a
# non-square kernel, two conv layers, no biases, two samples, drawn from a seed.
DEEP = """name = "deep"
input = [2, 5, 4]
loss = "half_sse"
learning_rate = 0.1
seed = 4
[[layer]]
type = "conv2d"
out_channels = 3
kernel_size = [3, 2]
stride = 2
padding = 1
activation = "tanh"
bias = "none"
[[layer]]
type = "conv2d"
in_channels = 3
out_channels = 1
kernel_size = 2
activation = "identity"
bias = "none"
[[layer]]
type = "linear"
out_features = 2
activation = "identity"
bias = "none"
[[samples]]
inputs = [[[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], [0.9, 1.0, 0.0, -0.1], [-0.2, -0.3, 0.2, 0.1],
           [0.3, -0.4, 0.5, 0.0]],
          [[-0.1, 0.2, -0.3, 0.4], [0.5, -0.6, 0.7, -0.8], [0.2, 0.1, 0.0, -0.1], [0.0, 0.3, 0.2, 0.1],
           [0.6, 0.4, -0.5, 0.2]]]
targets = [0.5, -0.5]
[[samples]]
inputs = [[[0.2, 0.2, 0.3, -0.4], [0.5, 0.1, 0.7, 0.8], [0.9, -1.0, 0.0, -0.1], [-0.2, -0.3, 0.2, 0.1],
           [0.3, 0.4, 0.5, 0.0]],
          [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, -0.7, 0.8], [0.2, 0.1, 0.0, 0.1], [0.0, 0.3, -0.2, 0.1],
           [0.6, 0.4, 0.5, 0.2]]]
targets = [0.25, 0.75]
"""
ACTIVATIONS = {"logistic": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda x: x}


def _spec(tmp_path, text=CNN):
    path = tmp_path / "n.toml"
    path.write_text(text)
    return path


def _reference(text, places):
    """E_total and every gradient at its place, by PyTorch's autograd."""
    table = tomllib.loads(text)
    channels, modules = table["input"][0], []
    x = torch.zeros(1, *table["input"], dtype=torch.float64)
    for layer in table["layer"]:
        bias = layer.get("bias") != "none"
        if layer["type"] == "conv2d":
            module = torch.nn.Conv2d(channels, layer["out_channels"], layer["kernel_size"], layer.get("stride", 1),
                                     layer.get("padding", 0), bias=bias, dtype=torch.float64)
            channels = layer["out_channels"]
        else:
            module = torch.nn.Linear(x.numel(), layer["out_features"], bias=bias, dtype=torch.float64)
        x = module(x if layer["type"] == "conv2d" else x.flatten())
        modules.append((module, ACTIVATIONS[layer.get("activation", "identity")]))
    with torch.no_grad():
        for p in places:
            getattr(modules[p["layer"]][0], p["tensor"])[tuple(p["index"])] = p["value"]
    loss = 0
    for sample in table["samples"]:
        a = torch.tensor(sample["inputs"], dtype=torch.float64).unsqueeze(0)
        for module, act in modules:
            a = act(module(a if isinstance(module, torch.nn.Conv2d) else a.flatten()))
        loss = loss + 0.5 * ((torch.tensor(sample["targets"], dtype=torch.float64) - a) ** 2).sum()
    loss.backward()
    return modules, loss.item()


@pytest.mark.parametrize("text", [CNN, DEEP], ids=["cnn", "deep"])
def test_every_gradient_at_its_place_is_pytorch_s(tmp_path, capsys, text):
    assert main(["gradients", str(_spec(tmp_path, text)), "--json", "--digits", "15"]) == 0
    out = json.loads(capsys.readouterr().out)
    values = {q["quantity"]: q["value"] for q in out["quantities"]}
    places = [{**p, "value": values[p["name"]]} for p in out["parameters"]]
    modules, loss = _reference(text, places)
    assert values["E_total"] == pytest.approx(loss, rel=1e-12)
    assert len(places) == sum(p.numel() for m, _ in modules for p in m.parameters())
    for p in places:
        grad = getattr(modules[p["layer"]][0], p["tensor"]).grad[tuple(p["index"])].item()
        assert values[f"dE_total/d{p['name']}"] == pytest.approx(grad, rel=1e-12, abs=1e-15), p
    if text == CNN:
        assert [(p["name"], p["tensor"], p["index"]) for p in out["parameters"][:2]] == [
            ("w1", "weight", [0, 0, 0, 0]), ("w2", "weight", [0, 0, 0, 1])]
        assert [(p["name"], p["index"]) for p in out["parameters"] if p["tensor"] == "bias"][:2] == [
            ("b1", [0]), ("b2", [1])]


def test_a_kernel_entry_s_gradient_is_the_sum_over_the_positions_it_is_used_at():
    """w1 (kernel 0, entry (0, 0)) multiplies input (y, x) at output (y, x) for the 3 x 3 positions:
    its gradient is the sum of delta times that input, written so, and b1 is the sum of channel 0's deltas."""
    model = derive.Model(derive.parse(CNN, "n.toml"))
    net = model.network
    w1 = net.parameter["w1"]
    assert w1.feeds == tuple(f"h{j}" for j in range(1, 10))
    assert w1.sources == ("i1", "i2", "i3", "i5", "i6", "i7", "i9", "i10", "i11")
    written = sum(model.symbol(f"delta_h{j}") * model.symbol(s)
                  for j, s in zip(range(1, 10), w1.sources, strict=True))
    assert model.gradient("w1") - written == 0
    expected = sum(model.value(f"delta_h{j}") * model.value(s) for j, s in zip(range(1, 10), w1.sources, strict=True))
    assert abs(model.value("dE_total/dw1") - expected) < 1e-15  # model.value: a float64-precision mpf
    b1 = sum(model.value(f"delta_h{j}") for j in range(1, 10))
    assert abs(model.value("dE_total/db1") - b1) < 1e-15
    form = model.matrix_form
    for p in model.parameters:
        assert abs(form.gradients[p] - model.value(f"dE_total/d{p}")) < 1e-40, p


@pytest.mark.parametrize("text", [CNN, DEEP], ids=["cnn", "deep"])
def test_the_python_and_numpy_code_in_every_form_is_the_engine(tmp_path, text):
    model = derive.Model(derive.parse(text, "n.toml"))
    python_and_numpy_are_the_engine(model, tmp_path)


def test_the_loop_form_writes_each_layer_s_connection_table_once():
    """The forward pass defines a convolution's table; the backward statements reuse it."""
    model = derive.Model(derive.parse(DEEP, "n.toml"))
    for name, table in [("python", "table{k} = ("), ("c", "static const long table{k}["), ("numpy", "J{k}, I{k}, E{k} = ")]:
        text = "".join(targets.render(name, None, model.network, derive.__version__, True).values())
        for k in (1, 2):
            assert text.count(table.format(k=k)) == 1, (name, k)


@needs_cc
@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_the_c_code_in_both_forms_is_the_python_and_the_engine(tmp_path, loops):
    for text in (CNN, DEEP):
        c_is_the_python_and_the_engine(derive.Model(derive.parse(text, "n.toml")), tmp_path, loops)


def test_every_command_takes_it(tmp_path, capsys):
    spec = _spec(tmp_path)
    assert main(["build", str(spec), "-o", str(tmp_path / "b"), "--quiet"]) == 0
    capsys.readouterr()
    said = "one bias per neuron, but in layer 1 one per output channel, shared by its units"
    for name in ("cnn.html", "cnn.tex"):  # a channel's bias described as it is, not as one per neuron
        assert said in (tmp_path / "b" / name).read_text(), name
    assert main(["check", str(spec), "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert checks["passed"] is True and checks["parameters_checked"] == 48
    assert main(["train", str(spec), "--steps", "5", "--optimizer", "adam"]) == 0
    for name in targets.TARGETS:
        assert main(["codegen", str(spec), "--target", name, "-o", str(tmp_path / f"code_{name}")]) == 0, name
    assert main(["exercise", str(spec), "--variants", "2", "--ask", "dE_total/dw1", "-o", str(tmp_path / "x"),
                 "--no-pdf"]) == 0
    capsys.readouterr()
    for path in sorted((tmp_path / "x").rglob("*.toml")):
        variant = derive.load(path).spec
        assert [t.kind for t in variant.kinds] == ["conv2d", "linear"] and variant.kinds[0].shape == (2, 3, 3)


def test_the_grader_finds_a_flipped_kernel(tmp_path, capsys):
    from derive.check import variants

    model = derive.Model(derive.parse(CNN, "n.toml"))
    flipped = next(v for v in variants.variants(model) if v.key == "kernel_flipped_1")
    wrong = flipped.build().value(model.quantity("net_h1"))
    assert abs(float(wrong) - float(model.value("net_h1"))) > 1e-3
    sheet = tmp_path / "sheet.txt"
    sheet.write_text(f"net_h1 = {float(wrong):.10f}\n")
    assert main(["grade", str(_spec(tmp_path)), str(sheet), "--json"]) == 1
    answer = json.loads(capsys.readouterr().out)["answers"][0]
    assert answer["verdict"] == "wrong" and "kernel_flipped_1" in [s["slip"] for s in answer["slips"]]


def test_the_grader_finds_a_kernel_gradient_taken_at_one_position(tmp_path, capsys):
    """dE_total/dw1 written as delta_h1 * i1 (the first of the 9 positions w1 is used at), not the sum:
    the grader names the slip."""
    model = derive.Model(derive.parse(CNN, "n.toml"))
    one = model.value("delta_h1") * model.value("i1")
    assert abs(one - model.value("dE_total/dw1")) > 1e-3
    sheet = tmp_path / "sheet.txt"
    sheet.write_text(f"dE_total/dw1 = {float(one):.10f}\n")
    assert main(["grade", str(_spec(tmp_path)), str(sheet), "--json", "--time-limit", "300"]) == 1
    answer = json.loads(capsys.readouterr().out)["answers"][0]
    assert answer["verdict"] == "wrong" and "shared_weight_one_position" in [s["slip"] for s in answer["slips"]]


@pytest.mark.parametrize(("name", "slip"), [("pad1_avgpool", "padding_ignored_1"), ("stride2", "stride_ignored_1")])
def test_the_grader_finds_a_stride_or_a_padding_ignored(tmp_path, capsys, name, slip):
    """A learner who slides the kernel without the padding (or one cell at a time) numbers their units
    as that smaller (or larger) map: their second net input is PyTorch's conv2d of that setting's
    second, and the grader names the slip."""
    import torch_reference as tr

    text = next(t for t in tr.EXAMPLES if tomllib.loads(t)["name"] == name)
    table = tomllib.loads(text)
    conv, sample = table["layer"][0], table["samples"][0]
    setting = {"padding": 0} if slip.startswith("padding") else {"stride": 1, "padding": conv.get("padding", 0)}
    theirs = torch.nn.functional.conv2d(torch.tensor([sample["inputs"]], dtype=torch.float64),
                                        torch.tensor(conv["weight"], dtype=torch.float64),
                                        torch.tensor(conv["bias"], dtype=torch.float64), **setting).flatten()[1].item()
    model = derive.Model(derive.parse(text, "n.toml"))
    unit = model.network.layers[1][1]
    assert abs(theirs - float(model.value(f"net_{unit}", 0))) > 1e-3
    sheet = tmp_path / "sheet.txt"
    sheet.write_text(f"net_{unit}{'[1]' if len(table['samples']) > 1 else ''} = {theirs:.10f}\n")
    path = tmp_path / "n.toml"
    path.write_text(text)
    assert main(["grade", str(path), str(sheet), "--json", "--time-limit", "300"]) == 1
    answer = json.loads(capsys.readouterr().out)["answers"][0]
    assert answer["verdict"] == "wrong" and slip in [s["slip"] for s in answer["slips"]], answer


BAD = [
    ('input = 3\n[[layer]]\ntype = "conv2d"\nout_channels = 1\nkernel_size = 2\n',
     "layer[0]: a conv2d layer takes (channels, height, width), but the layer below gives 3 features: put it "
     "after the input (input = [channels, height, width]) or another conv2d layer"),
    ('input = [1, 2, 2]\n[[layer]]\ntype = "conv2d"\nout_channels = 1\nkernel_size = 3\n',
     "layer[0]: the kernel 3x3 is larger than its padded input 2x2"),
    ('input = [1, 3, 3]\n[[layer]]\ntype = "conv2d"\nout_channels = 1\n',
     "layer[0]: missing key 'kernel_size' (a number, or [rows, columns])"),
    ('input = [1, 3, 3]\n[[layer]]\ntype = "conv2d"\nout_channels = 1\nkernel_size = [2, 2, 2]\n',
     "layer[0].kernel_size has 3 values: give a number or [rows, columns]"),
    ('input = [1, 3, 3]\n[[layer]]\ntype = "conv2d"\nout_channels = 1\nkernel_size = [2]\n',
     "layer[0].kernel_size has 1 value: give a number or [rows, columns]"),
    ('input = [2, 3, 3]\n[[layer]]\ntype = "conv2d"\nin_channels = 1\nout_channels = 1\nkernel_size = 2\n',
     "layer[0].in_channels = 1, but the layer below gives 2 channels"),
    ('input = [1, 3, 3]\n[[layer]]\ntype = "conv2d"\nout_channels = 1\nkernel_size = 2\n'
     'weight = [[[[1, 2], [3, 4], [5, 6]]]]\nbias = [0]\n',
     "layer[0].weight[0][0] has 3 rows, kernel_size[0] is 2"),
    ('input = [1, 3, 3]\n[[layer]]\ntype = "conv2d"\nout_channels = 1\nkernel_size = 2\nstride = 0\n',
     "layer[0].stride = 0 is out of range: it must be from 1 to 4096"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_a_bad_conv_table_is_one_line_and_exit_2(tmp_path, capsys, body, message):
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\nloss = "half_sse"\nlearning_rate = 0.1\n' + body
                    + "[[samples]]\ninputs = [[[0, 0, 0], [0, 0, 0], [0, 0, 0]]]\ntargets = [0]\n")
    assert main(["gradients", str(path)]) == 2
    assert capsys.readouterr().err == f"derive: bad.toml: {message}\n"


def test_the_built_in_example_starts_a_spec_that_reads_back_to_it(tmp_path, capsys):
    """`derive init --like cnn` writes the example back, commented, [[layer]] tables and shaped inputs
    included: the same network, number for number."""
    path = tmp_path / "mine.toml"
    assert main(["init", str(path), "--like", "cnn"]) == 0
    capsys.readouterr()
    mine, example = derive.load(path).spec, derive.parse(CNN, "cnn.toml")
    assert (mine.kinds, mine.weights, mine.biases, mine.samples) == (example.kinds, example.weights, example.biases,
                                                                     example.samples)
    assert "# input: the input's shape" in path.read_text()
