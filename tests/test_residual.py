"""Residual blocks (issue #29): ``type = "residual"``, y = x + f(x), f the linear layers of its
``[[layer.block]]`` tables. Every gradient is PyTorch's (tests/torch_reference.py: the block's
`torch.nn.Linear` layers and the sum, float64 autograd) to 1e-12 on hand-picked and random networks;
every code target and the matrix route compute the engine's numbers; dE/dx is the skip path plus the
block's; the grader knows the skip path left out, computed apart in torch; bad input is one line,
exit 2; ``--json`` places a block's parameters at ``"layer": [k, j]``."""

import functools
import json
import random
import re
import tomllib

import pytest
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

EXAMPLE = "derive/examples/residual.toml"
with open(EXAMPLE) as _file:
    ISSUE = _file.read()
ACTIVATIONS = ("identity", "relu", "tanh", "logistic")


def _random_spec(seed: int, first: bool = False, last: bool = False, bias: bool = True, blocks: int = 1,
                 norm: bool = False) -> str:
    """A small random network: linear (tanh) of 1-3 units (or the residual first, reading the inputs), a
    layernorm (``norm``), ``blocks`` residual blocks of 1-3 linear layers (widths 1-3, the last back to
    the block's input width), then linear (logistic) of 1-2 outputs (or none); two samples."""
    rng = random.Random(seed)
    n_in = rng.randint(2 if first and norm else 1, 3)
    width = n_in if first else rng.randint(2 if norm else 1, 3)  # a layernorm over 1 feature: var = 0, torch's noise

    def matrix(rows, columns):
        return [[round(rng.uniform(-1, 1), 3) for _ in range(columns)] for _ in range(rows)]

    def linear(out, fan_in, activation):
        return {"type": "linear", "out_features": out, "activation": activation, "weight": matrix(out, fan_in),
                "bias": matrix(1, out)[0] if bias else "none"}

    tables = [] if first else [linear(width, n_in, "tanh")]
    if norm:
        tables.append({"type": "layernorm", "weight": matrix(1, width)[0], "bias": matrix(1, width)[0] if bias
                       else "none"})
    for _ in range(blocks):
        inner, fan_in = [], width
        for j in range(rng.randint(1, 3)):
            out = width if j == 2 else rng.randint(1, 3)
            inner.append(linear(out, fan_in, rng.choice(ACTIVATIONS)))
            fan_in = out
        if fan_in != width:
            inner.append(linear(width, fan_in, rng.choice(ACTIVATIONS)))
        tables.append({"type": "residual", "block": inner})
    out = width
    if not last:
        out = rng.randint(1, 2)
        tables.append(linear(out, width, "logistic"))
    samples = [{"inputs": matrix(1, n_in)[0], "targets": matrix(1, out)[0]} for _ in range(2)]
    return spec_toml(f"residual_{seed}", n_in, tables, samples)


NETWORKS = {"example": ISSUE, "first": _random_spec(1, first=True), "last": _random_spec(2, last=True),
            "no bias": _random_spec(3, bias=False), "two blocks": _random_spec(4, blocks=2),
            "after layernorm": _random_spec(5, norm=True)}


@functools.cache  # each network's model built once (the tests only read it)
def _model(text: str) -> derive.Model:
    return derive.Model(derive.parse(text, "residual.toml"))


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_networks_have_pytorchs_gradients(tmp_path, name):
    compare_with_derive(NETWORKS[name], tmp_path)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), first=st.booleans(), last=st.booleans(), bias=st.booleans(),
       blocks=st.integers(1, 2), norm=st.booleans())
def test_random_residual_networks_have_pytorchs_gradients(tmp_path_factory, seed, first, last, bias, blocks, norm):
    compare_with_derive(_random_spec(seed, first, last, bias, blocks, norm), tmp_path_factory.mktemp("res"))


def test_the_inputs_delta_is_the_skip_path_plus_the_blocks():
    """dE/dx_1 = delta_y1 * 1 (the skip) + the first block layer's deltas through its weights."""
    network = _model(ISSUE).network
    x1, y1 = network.layers[1][0], network.layers[2][5]
    readers = dict(network.reads(x1))
    assert set(readers) == {y1, *network.layers[2][:3]}
    assert readers[y1].parameter is None and readers[y1].coefficient == 1
    assert [readers[f].parameter for f in network.layers[2][:3]] == ["w5", "w7", "w9"]


def test_the_places_of_a_blocks_parameters_are_layer_k_j(tmp_path, capsys):
    spec = tmp_path / "residual.toml"
    spec.write_text(ISSUE)
    assert main(["gradients", str(spec), "--json"]) == 0
    places = {p["name"]: (p["layer"], p["tensor"], p["index"]) for p in json.loads(capsys.readouterr().out)["parameters"]}
    assert places["w5"] == ([1, 0], "weight", [0, 0]) and places["w10"] == ([1, 0], "weight", [2, 1])
    assert places["w11"] == ([1, 1], "weight", [0, 0]) and places["w16"] == ([1, 1], "weight", [1, 2])
    assert places["b3"] == ([1, 0], "bias", [0]) and places["b7"] == ([1, 1], "bias", [1])
    assert places["w17"] == (2, "weight", [0, 0])


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
def test_the_module_trains_a_residual_network_as_the_formulas_say(optimizer):
    module_trains_as_the_formulas_say(_model(NETWORKS["two blocks"]), optimizer)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_matrix_route_gives_the_engines_numbers(name):
    matrix_route_is_the_engine(_model(NETWORKS[name]))


def _torch_example(skip: bool = True) -> dict:
    """The example's gradients in torch, the skip's x detached where the slip leaves its path out."""
    import torch

    table = tomllib.loads(ISSUE)
    first, residual, last = table["layer"]
    tensors = {}
    for where, t in (((0,), first), ((1, 0), residual["block"][0]), ((1, 1), residual["block"][1]), ((2,), last)):
        for name in ("weight", "bias"):
            tensors[where, name] = torch.tensor(t[name], dtype=torch.float64, requires_grad=True)
    x = torch.tensor(table["samples"][0]["inputs"], dtype=torch.float64)
    a = torch.tanh(tensors[(0,), "weight"] @ x + tensors[(0,), "bias"])
    f = torch.relu(tensors[(1, 0), "weight"] @ a + tensors[(1, 0), "bias"])
    f = tensors[(1, 1), "weight"] @ f + tensors[(1, 1), "bias"]
    y = (a if skip else a.detach()) + f
    out = torch.sigmoid(tensors[(2,), "weight"] @ y + tensors[(2,), "bias"])
    (((torch.tensor(table["samples"][0]["targets"], dtype=torch.float64) - out) ** 2) / 2).sum().backward()
    found = {}
    for (where, name), tensor in tensors.items():
        for index, g in zip(torch.cartesian_prod(*(torch.arange(n) for n in tensor.shape)).reshape(
                -1, tensor.dim()).tolist(), tensor.grad.flatten().tolist(), strict=True):
            found[(where[0] if len(where) == 1 else where, name, tuple(index))] = g
    return found


def test_the_skip_path_slip_is_its_own_number_computed_apart():
    from derive.check import variants
    from derive.model.layers import place

    model = _model(ISSUE)
    wrong = next(v for v in variants.variants(model) if v.key == "skip_path_left_out_2").build()
    right, expected = _torch_example(), _torch_example(skip=False)
    def key(w: dict) -> tuple:
        return (tuple(w["layer"]) if isinstance(w["layer"], list) else w["layer"], w["tensor"], tuple(w["index"]))
    names = {key(place(model.spec, p)): p.name for p in model.network.parameters}
    for where, want in expected.items():
        got = float(wrong.value(model.quantity(f"dE_total/d{names[where]}")))
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15), where
    assert any(abs(want - right[w]) > 1e-3 for w, want in expected.items())


def test_the_grader_names_the_skip_path_left_out(tmp_path, capsys):
    grader_names(_model(ISSUE), ISSUE, "skip_path_left_out_2", "dE_total/dw1", tmp_path, capsys)


BAD = {
    "sizes": (ISSUE.replace("out_features = 2\nactivation = \"identity\"\nweight = [[0.7, -0.4, 0.2], [0.1, 0.3, -0.5]]\n"
                            "bias = [0.0, 0.1]", "out_features = 1\nactivation = \"identity\"\nweight = [[0.7, -0.4, 0.2]]\n"
                            "bias = [0.0]"),
              "derive: residual.toml: layer[1]: the block gives 1 features, but its input has 2: y = x + f(x) needs "
              "them equal"),
    "no block": (ISSUE.replace("[[layer.block]]", "[[layer.other]]"),
                 "derive: residual.toml: layer[1]: unknown key 'other'; residual layers have type, block"),
    "kind": (ISSUE.replace('type = "linear"\nout_features = 3', 'type = "conv2d"\nout_features = 3'),
             "derive: residual.toml: layer[1].block[0].type = 'conv2d': a residual block holds linear layers"),
    "activation": (ISSUE.replace('activation = "relu"', 'activation = "rellu"'),
                   "derive: residual.toml: layer[1].block[0].activation = 'rellu' is unknown (did you mean 'relu'?); "),
    "coupled": (ISSUE.replace('activation = "relu"', 'activation = "softmax"'),
                "derive: residual.toml: layer[1].block[0].activation = 'softmax' is for a network's output layer: a "
                "block's layers take an elementwise activation"),
    "one weight": (re.sub(r"weight = \[\[0.7.*\n", "", ISSUE).replace('name = "residual"', 'name = "residual"\nseed = 1'),
                   "derive: residual.toml: layer[1].block[1]: missing key 'weight': give every block layer's weight, "
                   "or none (drawn from the seed)"),
    "no tensors": (re.sub(r"(weight = \[\[0\.(5|7), |bias = \[0\.(05|0), ).*\n", "", ISSUE),
                   "derive: residual.toml: missing key 'layer[1].block[0].weight' (give it, or a seed = N to fill it "
                   "reproducibly)"),
    "no block key": (ISSUE[:ISSUE.index("[[layer.block]]")] + ISSUE[ISSUE.index("[[layer]]\ntype = \"linear\"\n"
                                                                                "out_features = 2\nactivation = \"logistic\""):],
                     "derive: residual.toml: layer[1]: missing key 'block' (its [[layer.block]] tables: the linear "
                     "layers of f)"),
    "in_features": (ISSUE.replace("out_features = 3", 'out_features = 3\nin_features = "2"'),
                    "derive: residual.toml: layer[1].block[0].in_features must be a whole number, not a string"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case):
    text, message = BAD[case]
    err = refused(text, "residual.toml", tmp_path, capsys)
    assert err.count("\n") == 1 and err.startswith(message)


def test_every_command_takes_the_built_in_residual_example(tmp_path, capsys):
    for _, variant in every_command_takes("residual", "dE_total/dw1", tmp_path, capsys):
        assert [t.kind for t in variant.kinds] == ["linear", "residual", "linear"]
        assert variant.kinds[1].setting("block") == ((3, "relu"), (2, "identity"))


def test_the_document_has_a_table_of_every_node_as_torch_computes_it():
    import torch

    from derive.render.tex.latex import document

    tex = document(_model(ISSUE), derive.__version__)
    table = tomllib.loads(ISSUE)
    first, residual = table["layer"][0], table["layer"][1]
    x = torch.tensor(table["samples"][0]["inputs"], dtype=torch.float64)

    def linear(t, a):
        return torch.tensor(t["weight"], dtype=torch.float64) @ a + torch.tensor(t["bias"], dtype=torch.float64)
    a = torch.tanh(linear(first, x))
    f1 = torch.relu(linear(residual["block"][0], a))
    f2 = linear(residual["block"][1], f1)
    nodes = [(f"f^{{(1)}}_{{{j + 1}}}", f1[j]) for j in range(3)] + [(f"f^{{(2)}}_{{{j + 1}}}", f2[j]) for j in range(2)]
    nodes += [(f"y_{{{j + 1}}}", a[j] + f2[j]) for j in range(2)]
    for unit, (name, want) in enumerate(nodes, start=1):
        row = re.search(re.escape(f"$h_{{2,{unit}}} = {name}$") + r" & \$(\S+)\$ & \$(\S+)\$", tex)
        assert row is not None, name
        assert float(row.group(2)) == pytest.approx(float(want), rel=6e-9, abs=1e-12), name
