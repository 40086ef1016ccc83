"""A layer kind is one module and one registration: the toy kind of tests/scale_kind.py (a per-feature
scale, z_j = w_j a_j + b_j), registered here and nowhere in the package, goes through every command:
its gradients are PyTorch's in float64, every code target in both forms computes the engine's
numbers, the check's routes agree, the grader finds its own slip, and the exercises write it back."""

import json
import tomllib

import pytest
import scale_kind
import sympy as sp
import torch
from generated_module import floats
from targets import _import, load_c, load_numpy, needs_cc, same_as_python

import derive
from derive.cli import main
from derive.model.spec import SpecError
from derive.render import diagram
from derive.render.code import targets

SCALED = """name = "scaled"
input = 2
loss = "half_sse"
learning_rate = 0.5

[[layer]]
type = "linear"
out_features = 2
activation = "logistic"
weight = [[0.15, 0.2], [0.25, 0.3]]
bias = [0.35, 0.35]

[[layer]]
type = "scale"
activation = "tanh"
weight = [0.5, -1.5]
bias = [0.1, 0.2]

[[layer]]
type = "linear"
out_features = 2
activation = "logistic"
weight = [[0.4, 0.45], [0.5, 0.55]]
bias = [0.6, 0.6]

[[samples]]
inputs = [0.05, 0.1]
targets = [0.01, 0.99]

[[samples]]
inputs = [-0.3, 0.8]
targets = [0.7, 0.2]
"""
# The scale as the last layer, without biases, after a relu layer: the output layer's statements
# and a bias-free kind.
LAST = """name = "last"
input = 3
loss = "half_sse"
learning_rate = 0.25
[[layer]]
type = "linear"
out_features = 3
activation = "relu"
weight = [[0.5, -0.2, 0.1], [0.3, 0.8, -0.4], [-0.6, 0.2, 0.9]]
bias = "none"
[[layer]]
type = "scale"
weight = [2.0, -0.5, 1.5]
bias = "none"
[[samples]]
inputs = [0.4, 0.7, -0.2]
targets = [0.1, -0.3, 0.5]
"""
ACTIVATIONS = {"logistic": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda x: x}


@pytest.fixture(autouse=True)
def scale():
    kind = scale_kind.install()
    yield kind
    scale_kind.uninstall()


def _spec(tmp_path, text=SCALED):
    path = tmp_path / "n.toml"
    path.write_text(text)
    return path


def _torch(text):
    """The network in PyTorch, float64: a Linear, or a weight and a bias vector for a scale layer; the
    loss ½ squared error summed over the samples, backpropagated."""
    table = tomllib.loads(text)
    layers = []
    width = table["input"]
    for layer in table["layer"]:
        has_bias = layer.get("bias") != "none"
        if layer["type"] == "linear":
            module = torch.nn.Linear(width, layer["out_features"], bias=has_bias, dtype=torch.float64)
            with torch.no_grad():
                module.weight.copy_(torch.tensor(layer["weight"], dtype=torch.float64))
                if has_bias:
                    module.bias.copy_(torch.tensor(layer["bias"], dtype=torch.float64))
            width = layer["out_features"]
        else:
            module = torch.nn.Module()
            module.weight = torch.nn.Parameter(torch.tensor(layer["weight"], dtype=torch.float64))
            module.bias = torch.nn.Parameter(torch.tensor(layer["bias"], dtype=torch.float64)) if has_bias else None
        layers.append((module, layer["type"], ACTIVATIONS[layer.get("activation", "identity")]))
    loss = 0
    for sample in table["samples"]:
        a = torch.tensor(sample["inputs"], dtype=torch.float64)
        for module, kind, act in layers:
            a = act(module(a) if kind == "linear" else module.weight * a + (0 if module.bias is None else module.bias))
        loss = loss + 0.5 * ((torch.tensor(sample["targets"], dtype=torch.float64) - a) ** 2).sum()
    loss.backward()
    return [m for m, _, _ in layers], loss.item()


@pytest.mark.parametrize("text", [SCALED, LAST], ids=["scaled", "last"])
def test_every_gradient_at_its_place_is_pytorch_s(tmp_path, capsys, text):
    modules, loss = _torch(text)
    assert main(["gradients", str(_spec(tmp_path, text)), "--json", "--digits", "15"]) == 0
    out = json.loads(capsys.readouterr().out)
    values = {q["quantity"]: q["value"] for q in out["quantities"]}
    assert values["E_total"] == pytest.approx(loss, rel=1e-12)
    assert len(out["parameters"]) == sum(p.numel() for m in modules for p in m.parameters())
    for p in out["parameters"]:
        tensor = getattr(modules[p["layer"]], p["tensor"])
        assert values[f"dE_total/d{p['name']}"] == pytest.approx(tensor.grad[tuple(p["index"])].item(), rel=1e-12,
                                                                 abs=1e-15), p
        assert float(tensor[tuple(p["index"])].item()) == values[p["name"]]
    scaled = [p for p in out["parameters"] if p["layer"] == 1]
    if text == SCALED:
        assert [(p["name"], p["tensor"], p["index"]) for p in scaled] == [
            ("w5", "weight", [0]), ("w6", "weight", [1]), ("b3", "bias", [0]), ("b4", "bias", [1])]


def test_its_unit_reads_its_own_input_only():
    """The kind's edges are the network: one term per net input, one edge each in the diagram, the
    textbook's backward pass dE/dout_h1_j = delta_h2_j w_j, and a diagonal W in the matrix form."""
    model = derive.Model(derive.parse(SCALED, "n.toml"))
    net = model.network
    assert [(t.parameter, t.factor and str(t.factor)) for n in net.layers[2] for t in net.net_terms[n]] == [
        ("w5", "out_h1_1"), ("b3", None), ("w6", "out_h1_2"), ("b4", None)]
    edges = [(e.source.neuron, e.dest.neuron, e.parameter) for e in diagram.layout(net).edges]
    assert [e for e in edges if e[2] in ("w5", "w6")] == [("h1_1", "h2_1", "w5"), ("h1_2", "h2_2", "w6")]
    assert str(model.expression("dE_total/dout_h1_1")) == "delta_h2_1*w5"
    assert net.weight_matrix(2) == ((sp.Rational(1, 2), 0), (0, sp.Rational(-3, 2)))
    form = model.matrix_form
    for p in model.parameters:
        assert abs(form.gradients[p] - model.value(f"dE_total/d{p}")) < 1e-50, p


def test_the_check_agrees_by_every_route(tmp_path, capsys):
    assert main(["check", str(_spec(tmp_path)), "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert checks["passed"] is True and checks["parameters_checked"] == 16 and checks["samples"] == 2
    assert len(checks["rows"]) == 32
    for row in checks["rows"]:
        assert row["passed"] and set(row["routes"]) == {"sympy_diff", "fd_mpmath", "fd_float64", "generated"}, row


@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_the_python_code_in_both_forms_is_the_engine(tmp_path, loops):
    model = derive.Model(derive.parse(SCALED, "n.toml"))
    path = tmp_path / "g.py"
    path.write_text(targets.render("python", model.derivation, model.network, derive.__version__, loops)["gradients.py"])
    module = _import(path)
    for s, sample in enumerate(model.spec.samples):
        g = module.gradient(module.INITIAL, floats(sample.inputs), floats(sample.targets))
        for p in model.parameters:
            assert g[p] == pytest.approx(float(model.value(f"dE_total/d{p}", s)), rel=1e-12, abs=1e-15), (p, s)


@needs_cc
@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_the_c_code_in_both_forms_is_the_python_and_the_engine(tmp_path, loops):
    model = derive.Model(derive.parse(SCALED, "n.toml"))
    python = tmp_path / "g.py"
    python.write_text(targets.render("python", model.derivation, model.network, derive.__version__)["gradients.py"])
    same_as_python(model, load_c(model, tmp_path, loops), _import(python))


def test_the_numpy_code_is_the_engine_on_a_batch_and_in_a_step(tmp_path):
    import numpy

    for text in (SCALED, LAST):
        model = derive.Model(derive.parse(text, "n.toml"))
        module = load_numpy(model, tmp_path)
        inputs = [floats(s.inputs) for s in model.spec.samples]
        targets_ = [floats(s.targets) for s in model.spec.samples]
        g = module.gradient(module.INITIAL, inputs, targets_)
        expected = model.gradients()
        for p in model.parameters:
            assert float(g[p]) == pytest.approx(float(expected[p]), rel=1e-12, abs=1e-15), p
        p = numpy.array(module.vector(module.INITIAL) if hasattr(module, "vector") else list(module.INITIAL.values()))
        step = module.train_step(module.INITIAL, inputs, targets_)
        rate = float(model.spec.learning_rate)
        for k, name in enumerate(model.parameters):
            assert float(step[name]) == pytest.approx(p[k] - rate * float(expected[name]), rel=1e-12, abs=1e-15)


def test_every_command_takes_it(tmp_path, capsys):
    """build (every output and the PDF), train, codegen for every target, latex, html, exercise: exit
    0, and what they write reads back (the exercises' variant specs are the same network)."""
    spec = _spec(tmp_path)
    assert main(["build", str(spec), "-o", str(tmp_path / "b"), "--quiet"]) == 0
    assert {"gradients.txt", "gradients.py", "check.txt", "scaled.html", "scaled.tex"} <= {
        p.name for p in (tmp_path / "b").iterdir()}
    assert main(["train", str(spec), "--steps", "3"]) == 0
    for name in targets.TARGETS:
        assert main(["codegen", str(spec), "--target", name, "-o", str(tmp_path / f"code_{name}")]) == 0, name
    assert main(["latex", str(spec), "-o", str(tmp_path / "d.tex")]) == 0
    assert main(["html", str(spec), "-o", str(tmp_path / "p.html")]) == 0
    assert main(["exercise", str(spec), "--variants", "2", "--ask", "dE_total/dw5", "-o", str(tmp_path / "x"),
                 "--no-pdf"]) == 0
    capsys.readouterr()
    variants = sorted((tmp_path / "x").rglob("*.toml"))
    assert variants, "the exercise writes its variants' specs"
    for path in variants:
        variant = derive.load(path).spec
        assert [t.kind for t in variant.kinds] == ["linear", "scale", "linear"] and variant.layers == (2, 2, 2, 2)


def test_the_grader_finds_the_kind_s_own_slip(tmp_path, capsys):
    """A learner who passed the deltas of the scale layer down unscaled gets dE_total/dw1 wrong by
    exactly the kind's slip (`Scale.slips`)."""
    model = derive.Model(derive.parse(SCALED.split("[[samples]]\ninputs = [-0.3")[0], "n.toml"))
    from derive.check import variants

    variant = next(v for v in variants.variants(model) if v.key == "scale_not_sent_back_2")
    resolver = variant.build()
    wrong = resolver.value(model.quantity("dE_total/dw1"))
    assert abs(float(wrong) - float(model.value("dE_total/dw1"))) > 1e-6
    sheet = tmp_path / "sheet.txt"
    sheet.write_text(f"dE_total/dw1 = {float(wrong):.10f}\n")
    spec = _spec(tmp_path, SCALED.split("[[samples]]\ninputs = [-0.3")[0])
    assert main(["grade", str(spec), str(sheet), "--json"]) == 1
    answer = json.loads(capsys.readouterr().out)["answers"][0]
    assert answer["verdict"] == "wrong" and "scale_not_sent_back_2" in [s["slip"] for s in answer["slips"]]


def test_without_the_registration_the_kind_is_unknown(tmp_path, capsys):
    scale_kind.uninstall()
    assert main(["gradients", str(_spec(tmp_path))]) == 2
    assert capsys.readouterr().err == (
        "derive: n.toml: layer[1].type = 'scale' is unknown; known: attention, batchnorm, conv2d, layernorm, linear, lstm, maxpool2d, avgpool2d, residual, rnn\n")
    with pytest.raises(SpecError):
        derive.parse(SCALED, "n.toml")


def test_every_cell_of_the_page_after_edits_is_the_engine_s(chrome, tmp_path):
    """The page's script is printed from the same derivation: after editing the scale's weight and
    bias, a linear weight and an input, every number on the page and in the panels of the edited
    parameters is the engine's for the edited spec (float64 on the page: 1e-8)."""
    from test_page_edits import CELLS, _number

    path = tmp_path / "page.html"
    path.write_text(derive.Model(derive.parse(SCALED, "n.toml")).html(check=False))
    chrome.get(path.as_uri())
    assert chrome.execute_script("return document.body.dataset.ready") == "true"
    text = SCALED
    for key, value, old, new in [("w6", "-0.7", "weight = [0.5, -1.5]", "weight = [0.5, -0.7]"),
                                 ("b3", "-0.2", "bias = [0.1, 0.2]", "bias = [-0.2, 0.2]"),
                                 ("w1", "0.3", "[[0.15, 0.2], [0.25, 0.3]]", "[[0.3, 0.2], [0.25, 0.3]]"),
                                 ("i2[1]", "0.4", "inputs = [0.05, 0.1]", "inputs = [0.05, 0.4]")]:
        edit = chrome.find_element("css selector", f'input[data-edit="{key}"]')
        edit.clear()
        edit.send_keys(f"{value}\n")
        text = text.replace(old, new)
        model = derive.Model(derive.parse(text, "n.toml"))
        got = chrome.execute_script(CELLS, ["w1", "w5", "w6", "b3"])
        assert got["stale"] == [], key
        cells = got["page"] + [c for panel in got["panels"].values() for c in panel["cells"]]
        assert {f"{p}+" for p in model.parameters} <= {k for k, _ in got["page"]}
        for name, shown in cells:
            want = 0.5 if name == "eta" else float(model.value(name))
            assert _number(shown) == pytest.approx(want, rel=1e-8, abs=1e-13), (key, name, shown)
