"""The ``[[layer]]`` form of a spec (PyTorch's `torch.nn.Linear`: out_features, weight [out][in], bias
[out] or "none"): the same network as ``layers = [...]`` gives the same outputs, every parameter's
place (layer, tensor, index) is PyTorch's, and its gradients are PyTorch's in float64; every bad table
is one line, exit 2."""

import json

import pytest
import torch  # the reference for layer semantics (the test extra installs its CPU build)
from conftest import spec_text

import derive
from derive.cli import main

MAZUR_LAYERS = """name = "t"
input = 2
loss = "half_sse"
learning_rate = 0.5

[[layer]]
type = "linear"
out_features = 2
activation = "logistic"
weight = [[0.15, 0.20], [0.25, 0.30]]
bias = [0.35, 0.35]

[[layer]]
type = "linear"
out_features = 2
activation = "logistic"
weight = [[0.40, 0.45], [0.50, 0.55]]
bias = [0.60, 0.60]

[[samples]]
inputs = [0.05, 0.10]
targets = [0.01, 0.99]
"""
MAZUR_LIST = spec_text(bias='"per_neuron"', biases="[[0.35, 0.35], [0.60, 0.60]]")


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.suffix != ".pdf"}


def test_both_forms_of_one_network_give_the_same_outputs(tmp_path):
    """Every file of `derive build` (but the PDF's bytes), byte for byte, once the spec file's own
    digest (which its header quotes) is set aside."""
    built = {}
    for form, text in (("list", MAZUR_LIST), ("tables", MAZUR_LAYERS)):
        (tmp_path / form).mkdir()
        spec = tmp_path / form / "t.toml"
        spec.write_text(text)
        assert main(["build", str(spec), "-o", str(tmp_path / form / "out"), "--quiet"]) == 0
        digest = derive.load(spec).spec.digest
        built[form] = {k: v.replace(digest.encode(), b"D").replace(digest[:16].encode(), b"D")
                       for k, v in _files(tmp_path / form / "out").items()}
    assert built["list"].keys() == built["tables"].keys()
    for name in built["list"]:
        assert built["list"][name] == built["tables"][name], name


def test_a_seed_draws_the_same_numbers_in_both_forms(tmp_path):
    tables = tmp_path / "tables.toml"
    tables.write_text('name = "s"\ninput = 3\nloss = "mse"\nlearning_rate = 0.1\nseed = 7\n'
                      '[[layer]]\ntype = "linear"\nout_features = 4\nactivation = "tanh"\n'
                      '[[layer]]\ntype = "linear"\nout_features = 2\n'
                      "[[samples]]\ninputs = [0.3, -0.2, 0.9]\ntargets = [0.5, -0.25]\n")
    listed = tmp_path / "list.toml"
    listed.write_text(spec_text(name='"s"', layers="[3, 4, 2]", activation='["tanh", "identity"]', loss='"mse"',
                                bias='"per_neuron"', weights=None, biases=None, seed="7", learning_rate="0.1",
                                samples="[[samples]]\ninputs = [0.3, -0.2, 0.9]\ntargets = [0.5, -0.25]\n"))
    a, b = derive.load(tables).spec, derive.load(listed).spec
    assert (a.weights, a.biases, a.activations, a.bias) == (b.weights, b.biases, b.activations, b.bias)
    assert [t.kind for t in a.kinds] == ["linear", "linear"] and b.kinds == ()


TORCH_ACTIVATIONS = {"logistic": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda x: x,
                     "softplus": torch.nn.functional.softplus}
NETWORKS = {
    "mazur": MAZUR_LAYERS,
    "deep": """name = "deep"
input = 3
loss = "half_sse"
learning_rate = 0.1
[[layer]]
type = "linear"
out_features = 4
activation = "tanh"
weight = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9], [0.15, -0.25, 0.35]]
bias = [0.1, -0.1, 0.2, 0.0]
[[layer]]
type = "linear"
in_features = 4
out_features = 3
activation = "softplus"
weight = [[0.2, -0.1, 0.05, 0.3], [-0.4, 0.25, 0.1, -0.2], [0.3, 0.3, -0.3, 0.1]]
bias = [0.05, 0.1, -0.05]
[[layer]]
type = "linear"
out_features = 2
weight = [[0.5, -0.5, 0.25], [0.1, 0.2, 0.3]]
bias = [0.0, 0.2]
[[samples]]
inputs = [0.3, -0.2, 0.9]
targets = [0.5, -0.25]
[[samples]]
inputs = [1.5, 0.25, -0.75]
targets = [0.1, 0.2]
""",
    "no_bias": """name = "nb"
input = 2
loss = "half_sse"
learning_rate = 0.5
[[layer]]
type = "linear"
out_features = 3
activation = "relu"
weight = [[0.15, 0.2], [-0.25, 0.3], [0.35, -0.1]]
bias = "none"
[[layer]]
type = "linear"
out_features = 1
activation = "logistic"
weight = [[0.4, 0.45, -0.5]]
bias = "none"
[[samples]]
inputs = [0.05, 0.1]
targets = [0.9]
""",
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_gradient_at_its_place_is_pytorch_s(tmp_path, capsys, name):
    """A torch.nn.Linear stack built from the same tables (float64), ½ squared error summed over the
    samples: each parameter's gradient, read at the place `derive gradients --json` lists, agrees."""
    import tomllib

    spec = tmp_path / "n.toml"
    spec.write_text(NETWORKS[name])
    table = tomllib.loads(NETWORKS[name])
    linears = []
    width = table["input"]
    for layer in table["layer"]:
        has_bias = layer.get("bias") != "none"
        linear = torch.nn.Linear(width, layer["out_features"], bias=has_bias, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(layer["weight"], dtype=torch.float64))
            if has_bias:
                linear.bias.copy_(torch.tensor(layer["bias"], dtype=torch.float64))
        linears.append((linear, TORCH_ACTIVATIONS[layer.get("activation", "identity")]))
        width = layer["out_features"]
    loss = 0
    for sample in table["samples"]:
        a = torch.tensor(sample["inputs"], dtype=torch.float64)
        for linear, act in linears:
            a = act(linear(a))
        loss = loss + 0.5 * ((torch.tensor(sample["targets"], dtype=torch.float64) - a) ** 2).sum()
    loss.backward()

    assert main(["gradients", str(spec), "--json", "--digits", "15"]) == 0
    out = json.loads(capsys.readouterr().out)
    values = {q["quantity"]: q["value"] for q in out["quantities"]}
    assert values["E_total"] == pytest.approx(loss.item(), rel=1e-12)
    assert len(out["parameters"]) == sum(p.numel() for linear, _ in linears for p in linear.parameters())
    for p in out["parameters"]:
        tensor = getattr(linears[p["layer"]][0], p["tensor"])
        expected = tensor.grad[tuple(p["index"])].item()
        assert values[f"dE_total/d{p['name']}"] == pytest.approx(expected, rel=1e-12, abs=1e-15), p
        assert float(tensor[tuple(p["index"])].item()) == values[p["name"]]


BAD = [
    ('input = 2\n[[layer]]\ntype = "dense"\nout_features = 2\n',
     "layer[0].type = 'dense' is unknown; known: attention, batchnorm, conv2d, layernorm, linear, lstm, maxpool2d, avgpool2d, residual, rnn"),
    ('input = 2\n[[layer]]\ntype = "linear"\nout_feature = 2\n',
     "layer[0]: unknown key 'out_feature' (did you mean 'out_features'?)"),
    ('input = 2\n[[layer]]\ntype = "linear"\nout_features = 2\nweight = [[1, 2, 3], [4, 5, 6]]\nbias = [0, 0]\n',
     "layer[0].weight[0] has 3 values, in_features is 2"),
    ('input = 2\n[[layer]]\ntype = "linear"\nin_features = 3\nout_features = 2\n',
     "layer[0].in_features = 3, but the layer below gives 2 features"),
    ('input = 2\n[[layer]]\ntype = "linear"\nout_features = 2\nweight = [[1, 2], [3, 4]]\nbias = "none"\n'
     '[[layer]]\ntype = "linear"\nout_features = 1\nweight = [[1, 2]]\nbias = [0]\n',
     "some [[layer]] tables have bias = \"none\" and others biases: a network's layers have biases alike"),
    ('input = 2\nlayers = [2, 2]\n[[layer]]\ntype = "linear"\nout_features = 2\n',
     "layers and [[layer]] are two ways of giving the layers: give one ([[layer]] tables hold type, "
     "out_features, activation, weight and bias)"),
    ('[[layer]]\ntype = "linear"\nout_features = 2\n',
     "missing key 'input' (the number of input features, for [[layer]] tables)"),
    ('input = [1, 4, 4]\n[[layer]]\ntype = "linear"\nout_features = 2\n',  # flattened: the samples must be shaped
     "samples[0].inputs has 2 entries, input[0] is 1"),
    ('input = [1, 4, 4, 2]\n[[layer]]\ntype = "linear"\nout_features = 2\n',
     "input has 4 axes: give a number of features or [channels, height, width]"),
    ('input = 2\n[[layer]]\ntype = "linear"\nout_features = 2\nbias = [0, 0]\n',
     "missing key 'layer[0].weight' (give it, or a seed = N to fill it reproducibly)"),
    ('input = 2\n[[layer]]\ntype = "linear"\nout_features = 2\nactivation = "sigmoidd"\nweight = [[1, 2], [3, 4]]\n'
     'bias = [0, 0]\n', "layer[0].activation = 'sigmoidd' is unknown (did you mean 'sigmoid'?)"),
    ('input = 2\n[[layer]]\ntype = "linear"\nout_features = 2\nweight = [[1, 2], [3, 4]]\nbias = "some"\n',
     "layer[0].bias = 'some' is unknown: give a list of out_features numbers, or \"none\""),
    ('input = 2\nlayer = 3\n', "layer must be one or more [[layer]] tables"),
]


@pytest.mark.parametrize("body,message", BAD, ids=[m[:40] for _, m in BAD])
def test_a_bad_layer_table_is_one_line_and_exit_2(tmp_path, capsys, body, message):
    spec = tmp_path / "bad.toml"
    head = 'name = "b"\nloss = "half_sse"\nlearning_rate = 0.5\n'
    spec.write_text(head + body + "[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n"
                    if "layer = 3" not in body else head + body)
    assert main(["gradients", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("derive: bad.toml: ")
    assert err.removeprefix("derive: bad.toml: ").startswith(message), err
