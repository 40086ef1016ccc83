"""The PyTorch reference for convolution and pooling (tests/torch_reference.py) checked on its own:
hand-computed cross-correlations, max pooling's routing and average pooling's spreading, the flatten
order, the losses' definitions; against derive's engine on linear networks (every activation and
loss of the registry); its examples and random draws valid in torch. The comparison of derive's
conv2d, max pooling (ties included) and average pooling with it."""

import ast
import math
import sys
import tomllib
from pathlib import Path

import pytest
import torch
import torch_reference as tr
from hypothesis import HealthCheck, given, settings

from derive.model.registry import ACTIVATIONS, ALIASES, LOSSES

X3 = [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]  # one channel, 3x3
K2 = [[[[1, 2], [3, 4]]]]  # one filter of one channel, 2x2


def conv_only(kernel_keys: str, bias: str, targets: int, inputs=X3, input_=(1, 3, 3), weight=K2) -> str:
    return (f'name = "c"\ninput = {list(input_)}\nloss = "half_sse"\nlearning_rate = 0.1\n'
            f'[[layer]]\ntype = "conv2d"\nout_channels = 1\n{kernel_keys}\nweight = {weight}\nbias = {bias}\n'
            f"[[samples]]\ninputs = {inputs}\ntargets = {[0] * targets}\n")


def test_conv2d_is_the_cross_correlation_computed_by_hand():
    """out[i][j] = b + sum_ab K[a][b] x[i+a][j+b] (the kernel not flipped); with targets 0, delta =
    out, so dK[a][b] = sum_ij out[i][j] x[i+a][j+b], db = sum out, and dx is the full convolution
    of delta with the kernel: the numbers below are worked by hand."""
    r = tr.reference(conv_only("kernel_size = 2", "[0.5]", 4))
    assert r.outputs[0].tolist() == [37.5, 47.5, 67.5, 77.5]  # 1+4+12+20 +.5, 2+6+15+24, 4+10+21+32, 5+12+24+36
    assert r.e_total == 7112.5  # (37.5² + 47.5² + 67.5² + 77.5²) / 2
    kernel = {ab: r.gradients[(0, "weight", (0, 0, *ab))] for ab in [(0, 0), (0, 1), (1, 0), (1, 1)]}
    assert kernel == {(0, 0): 790.0, (0, 1): 1020.0, (1, 0): 1480.0, (1, 1): 1710.0}
    assert r.gradients[(0, "bias", (0,))] == 230.0
    dx = r.input_gradients[0, 0]
    assert (dx[0, 0].item(), dx[1, 1].item(), dx[2, 2].item()) == (37.5, 505.0, 310.0)  # 37.5·1; 37.5·4+47.5·3+67.5·2+77.5·1; 77.5·4


def test_padding_and_stride_by_hand():
    """Padding 1, stride 2: 3x3 -> 2x2, each output the kernel over zero-padded cells."""
    r = tr.reference(conv_only("kernel_size = 2\nstride = 2\npadding = 1", '"none"', 4))
    assert r.outputs[0].tolist() == [4.0, 18.0, 36.0, 77.0]  # 4·1; 3·2 + 4·3; 2·4 + 4·7; 1·5+2·6+3·8+4·9
    assert r.places == [(0, "weight", (0, 0, a, b)) for a in (0, 1) for b in (0, 1)]  # bias "none": none


def test_the_floor_rule_drops_the_last_row_and_column():
    """3x3, kernel 2, stride 2: one output (floor(1/2) + 1), x[2][*] and x[*][2] unread."""
    r = tr.reference(conv_only("kernel_size = 2\nstride = 2", "[0]", 1))
    assert r.outputs[0].tolist() == [37.0]
    dx = r.input_gradients[0, 0]
    assert dx[2].tolist() == [0.0, 0.0, 0.0] and dx[:, 2].tolist() == [0.0, 0.0, 0.0]
    assert dx[:2, :2].tolist() == [[37.0, 74.0], [111.0, 148.0]]  # delta = 37 times the kernel


def test_non_square_kernel_by_hand():
    """Kernel [1, 2] (a row of two), stride [2, 1]: outputs at rows 0 and 2."""
    r = tr.reference(conv_only("kernel_size = [1, 2]\nstride = [2, 1]", "[0]", 4, weight=[[[[1, -1]]]]))
    assert r.outputs[0].tolist() == [-1.0, -1.0, -1.0, -1.0]  # 1-2, 2-3, 7-8, 8-9


def pool_only(kind: str, keys: str, inputs) -> str:
    rows, cols = len(inputs[0]), len(inputs[0][0])
    return (f'name = "p"\ninput = [1, {rows}, {cols}]\nloss = "half_sse"\nlearning_rate = 0.1\n'
            f'[[layer]]\ntype = "{kind}"\n{keys}\n[[samples]]\ninputs = {inputs}\ntargets = [0, 0]\n')


def test_max_pooling_routes_the_gradient_to_the_first_maximum():
    """Windows [1 3; 3 0] and [2 2; 2 1]: maxima 3 and 2, tied; the gradient (delta = out) goes to
    the first maximum in row-major order, PyTorch's choice, and nowhere else."""
    r = tr.reference(pool_only("maxpool2d", "kernel_size = 2", [[[1, 3, 2, 2], [3, 0, 2, 1]]]))
    assert r.outputs[0].tolist() == [3.0, 2.0]
    assert r.input_gradients[0, 0].tolist() == [[0.0, 3.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]


def test_average_pooling_spreads_the_gradient_evenly():
    r = tr.reference(pool_only("avgpool2d", "kernel_size = 2", [[[1, 3, 2, 2], [3, 0, 2, 1]]]))
    assert r.outputs[0].tolist() == [1.75, 1.75]
    assert r.input_gradients[0, 0].tolist() == [[0.4375] * 4, [0.4375] * 4]  # 1.75 / 4 to each cell
    # overlapping windows (stride 1): the middle column gets a quarter of both outputs
    r = tr.reference(pool_only("avgpool2d", "kernel_size = 2\nstride = 1", [[[1, 2, 3], [4, 5, 6]]]))
    assert r.outputs[0].tolist() == [3.0, 4.0]
    assert r.input_gradients[0, 0].tolist() == [[0.75, 1.75, 1.0], [0.75, 1.75, 1.0]]


def test_the_maxpool_tie_example_sends_its_gradient_to_the_first_tied_cell():
    """EXAMPLES' maxpool_tie: the conv's outputs x[r][c] + x[r][c+1] tie at 0.75 in (0,0), (0,1),
    (1,0); the first reads x = (0.25, 0.5), the others (0.5, 0.25). out = sigma(2·0.75 + 0.5)."""
    r = tr.reference(next(t for t in tr.EXAMPLES if '"maxpool_tie"' in t))
    s = 1 / (1 + math.exp(-2))
    delta = (s - 1) * s * (1 - s) * 2  # dE/dout · sigma' · the linear weight 2
    assert r.gradients[(0, "weight", (0, 0, 0, 0))] == pytest.approx(0.25 * delta, rel=1e-14)
    assert r.gradients[(0, "weight", (0, 0, 0, 1))] == pytest.approx(0.5 * delta, rel=1e-14)
    assert r.gradients[(0, "bias", (0,))] == pytest.approx(delta, rel=1e-14)


def test_a_map_is_flattened_channel_row_column_before_a_linear_layer():
    """Two 1x1 filters (x1, x2) over [[1, 2], [3, 4]]; a one-hot linear weight at feature 6 reads
    channel 1, row 1, column 0: 2·3 = 6 (row, column, channel order would read feature 6 as 4·1)."""
    text = ('name = "f"\ninput = [1, 2, 2]\nloss = "half_sse"\nlearning_rate = 0.1\n'
            '[[layer]]\ntype = "conv2d"\nout_channels = 2\nkernel_size = 1\nweight = [[[[1]]], [[[2]]]]\nbias = [0, 0]\n'
            '[[layer]]\ntype = "linear"\nout_features = 1\nweight = [[0, 0, 0, 0, 0, 0, 1, 0]]\nbias = [0]\n'
            "[[samples]]\ninputs = [[[1, 2], [3, 4]]]\ntargets = [0]\n")
    assert tr.reference(text).outputs[0].tolist() == [6.0]


def linear_spec(loss: str = "half_sse", hidden: str = "tanh", output: str = "identity", outputs: int = 3,
                reduction: str | None = None, targets=(0.25, 0.5, 0.75), weight=None) -> str:
    head = f'name = "l"\ninput = 2\nloss = "{loss}"\nlearning_rate = 0.1\n'
    head += f'reduction = "{reduction}"\n' if reduction else ""
    weight = weight or [[0.5, -1.5], [-0.75, 1.25], [1.5, 0.25]]
    return (head + f'[[layer]]\ntype = "linear"\nout_features = 3\nactivation = "{hidden}"\nweight = {weight}\n'
            "bias = [0.1, -0.2, 0.05]\n"
            f'[[layer]]\ntype = "linear"\nout_features = {outputs}\nactivation = "{output}"\n'
            f"weight = {[[0.3, -0.6, 0.9], [-1.2, 0.45, 0.15], [0.8, 0.2, -0.4]][:outputs]}\n"
            f"bias = {[0.05, -0.1, 0.2][:outputs]}\n"
            f"[[samples]]\ninputs = [0.8, -0.6]\ntargets = {list(targets[:outputs])}\n"
            f"[[samples]]\ninputs = [-1.1, 0.4]\ntargets = {list(targets[::-1][:outputs])}\n")


def test_the_losses_and_reductions_by_hand():
    """One identity layer (out = [x, 2x, 3x]), targets 0, samples x = 1 and x = 2: half_sse per sample
    ½(1 + 4 + 9) x² = 7x², mse (1 + 4 + 9) x² / 3; summed over the samples, or their mean."""
    def spec(loss, reduction):
        return (f'name = "h"\ninput = 1\nloss = "{loss}"\nreduction = "{reduction}"\nlearning_rate = 0.1\n'
                '[[layer]]\ntype = "linear"\nout_features = 3\nweight = [[1], [2], [3]]\nbias = [0, 0, 0]\n'
                "[[samples]]\ninputs = [1]\ntargets = [0, 0, 0]\n[[samples]]\ninputs = [2]\ntargets = [0, 0, 0]\n")
    assert tr.reference(spec("half_sse", "sum")).e_total == 35.0  # 7 + 28
    assert tr.reference(spec("half_sse", "mean")).e_total == 17.5
    assert tr.reference(spec("mse", "sum")).e_total == pytest.approx(70 / 3, rel=1e-15)  # 14/3 + 56/3
    assert tr.reference(spec("mse", "mean")).e_total == pytest.approx(35 / 3, rel=1e-15)


def test_every_activation_and_loss_of_the_registry_has_a_torch_counterpart():
    """A new registry entry fails here until it is mapped (or found to have no torch counterpart)."""
    assert set(ACTIVATIONS) == set(tr.TORCH_ACTIVATIONS)
    assert dict(ALIASES) == tr.ALIASES
    assert set(LOSSES) == set(tr.TORCH_LOSSES)
    assert {name: loss.requires for name, loss in LOSSES.items() if loss.requires} == tr.LOSS_REQUIRES


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_each_activation_is_derive_s_on_a_linear_network(tmp_path, name):
    """The activation in the hidden layer and at the output (softmax, an output layer's, at the output
    only, with half_sse: cross_entropy reads the net, not softmax's out): every gradient at its place,
    E_total and the values equal derive's engine to 1e-12 (the nets range over about [-2, 2])."""
    hidden = "tanh" if ACTIVATIONS[name].layer else name
    tr.compare_with_derive(linear_spec(hidden=hidden, output=name), tmp_path)


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_each_loss_is_derive_s_on_a_linear_network(tmp_path, loss, reduction):
    """Each loss with the output activation it is defined with (softmax for cross_entropy, logistic for
    binary_cross_entropy, else identity), targets in [0, 1], both reductions; huber's errors reach past
    1 (its both branches)."""
    output = LOSSES[loss].requires or "identity"
    targets = (0.25, 0.5, 0.75) if LOSSES[loss].requires else (2.5, 0.5, -1.75)
    tr.compare_with_derive(linear_spec(loss, output=output, reduction=reduction, targets=targets), tmp_path)


def test_a_gradient_that_differs_from_derive_s_is_caught(tmp_path, monkeypatch):
    """The comparison fails when the reference is off: tanh taken as identity in torch."""
    monkeypatch.setitem(tr.TORCH_ACTIVATIONS, "tanh", lambda x: x)
    with pytest.raises(AssertionError):
        tr.compare_with_derive(linear_spec(hidden="tanh"), tmp_path)


def test_the_reference_imports_nothing_of_derive():
    """derive is imported in one place only, inside derive_gradients (the engine under test): the
    module level and every other function of the reference stand apart from it."""
    module = ast.parse(Path(tr.__file__).read_text())
    where = {}
    for node in ast.walk(module):
        for child in ast.iter_child_nodes(node):
            where[child] = node
    importing = []
    for node in ast.walk(module):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(n.split(".")[0] == "derive" for n in names):
            outer = node
            while outer in where and not isinstance(outer, ast.FunctionDef):
                outer = where[outer]
            importing.append(getattr(outer, "name", "<module>"))
    assert importing == ["derive_gradients"]


def features(text: str) -> set[str]:
    """What a spec exercises, read from its TOML."""
    t, found = tomllib.loads(text), set()
    convs = [layer for layer in t["layer"] if layer["type"] == "conv2d"]
    found |= {"two_conv"} if len(convs) >= 2 else set()
    found |= {"channels"} if t["input"][0] > 1 else set()
    found |= {"bias_none"} if all(layer.get("bias") == "none" for layer in t["layer"] if "weight" in layer) else set()
    for layer in t["layer"]:
        k = tr.pair(layer.get("kernel_size", 1), "k")
        found |= {"non_square"} if k[0] != k[1] else set()
        found |= {"stride2"} if 2 in tr.pair(layer.get("stride", 1), "s") and layer["type"] == "conv2d" else set()
        found |= {"padding1"} if 1 in tr.pair(layer.get("padding", 0), "p") else set()
        found |= {layer["type"]} if "pool" in layer["type"] else set()
    return found


def max_pool_ties(text: str) -> int:
    """How many max pooling windows hold their maximum more than once, over every sample."""
    r, layers = tr.reference(text), tomllib.loads(text)["layer"]
    ties = 0
    for k, layer in enumerate(layers):
        if layer["type"] == "maxpool2d":
            below = r.maps[k - 1] if k else None
            kh, kw = tr.pair(layer["kernel_size"], "k")
            sh, sw = tr.pair(layer.get("stride", layer["kernel_size"]), "s")
            windows = below.unfold(2, kh, sh).unfold(3, kw, sw).flatten(4)  # (N, C, oh, ow, kh·kw)
            ties += int(((windows == windows.amax(-1, keepdim=True)).sum(-1) > 1).sum())
    return ties


def test_the_examples_cover_what_the_issue_asks():
    covered = set().union(*map(features, tr.EXAMPLES))
    assert covered >= {"stride2", "padding1", "two_conv", "maxpool2d", "avgpool2d", "channels", "non_square",
                       "bias_none"}
    assert max_pool_ties(next(t for t in tr.EXAMPLES if '"maxpool_tie"' in t)) == 1
    assert len(tr.EXAMPLES) == 6 and len({tomllib.loads(t)["name"] for t in tr.EXAMPLES}) == 6


@pytest.mark.parametrize("text", tr.EXAMPLES, ids=[tomllib.loads(t)["name"] for t in tr.EXAMPLES])
def test_every_example_runs_in_torch_with_its_values_at_their_places(text):
    """The values at each place are the TOML's numbers at that index: the places are PyTorch's layout
    and the spec's; every gradient is finite and some are not zero."""
    r, layers = tr.reference(text), tomllib.loads(text)["layer"]
    assert len(r.places) == len(r.gradients) == sum(
        math.prod(torch.tensor(layer[key]).shape) for layer in layers for key in ("weight", "bias")
        if isinstance(layer.get(key), list))
    for layer, tensor, index in r.places:
        written = layers[layer][tensor]
        for i in index:
            written = written[i]
        assert r.values[(layer, tensor, index)] == float(written)
    assert all(math.isfinite(g) for g in r.gradients.values()) and any(r.gradients.values())
    assert math.isfinite(r.e_total) and r.e_total > 0


def check_draw(text: str, exact_fit: bool = False) -> dict:
    """A drawn spec within the issue's ranges, run by torch, each map of the shape the floor rule gives."""
    t = tomllib.loads(text)
    c, h, w = t["input"]
    assert 1 <= c <= 3 and 3 <= h <= 7 and 3 <= w <= 7
    kinds = [layer["type"] for layer in t["layer"]]
    assert kinds[-1] == "linear" and kinds.count("linear") == 1 and 1 <= kinds.count("conv2d") <= 2
    assert kinds[0] == "conv2d" and sum("pool" in k for k in kinds) <= 1
    r = tr.reference(text)
    for layer, got in zip(t["layer"], r.maps, strict=True):
        numbers = [v for key in ("weight", "bias") if isinstance(layer.get(key), list)
                   for v in torch.tensor(layer[key]).flatten().tolist()]
        assert all(-1 <= v <= 1 and v * tr.WEIGHT_STEPS == int(v * tr.WEIGHT_STEPS) for v in numbers)
        if layer["type"] == "linear":
            assert 1 <= layer["out_features"] <= 3 and got.shape[1] == layer["out_features"]
            continue
        (kh, kw), p = tr.pair(layer["kernel_size"], "k"), tr.pair(layer.get("padding", 0), "p")
        s = tr.pair(layer.get("stride", 1 if layer["type"] == "conv2d" else layer["kernel_size"]), "s")
        assert min(kh, kw) >= 1 and max(kh, kw) <= 3 and set(p) <= {0, 1}
        assert set(s) <= {1, 2} or "stride" not in layer  # a pooling layer's default stride is its kernel
        assert layer["activation"] in tr.ACTIVATIONS_DRAWN if layer["type"] == "conv2d" else "activation" not in layer
        assert 1 <= layer.get("out_channels", 1) <= 3
        if exact_fit:
            assert (h + 2 * p[0] - kh) % s[0] == 0 and (w + 2 * p[1] - kw) % s[1] == 0
        c = layer.get("out_channels", c)
        h, w = ((h + 2 * p[0] - kh) // s[0] + 1, (w + 2 * p[1] - kw) // s[1] + 1)
        assert tuple(got.shape[1:]) == (c, h, w) and min(h, w) >= 1
    values = [v for s in t["samples"] for v in torch.tensor(s["inputs"]).flatten().tolist() + s["targets"]]
    assert all(-1 <= v <= 1 and v * tr.INPUT_STEPS == int(v * tr.INPUT_STEPS) for v in values)
    if t["loss"] in tr.LOSS_REQUIRES:
        assert t["layer"][-1]["activation"] == tr.LOSS_REQUIRES[t["loss"]]
        assert all(0 <= v <= 1 for s in t["samples"] for v in s["targets"])
    return t


@settings(max_examples=30, deadline=None)
@given(tr.cnn_specs())
def test_drawn_specs_are_valid_in_torch(text):
    check_draw(text)


@settings(max_examples=10, deadline=None)
@given(tr.cnn_specs(exact_fit=True))
def test_exact_fit_draws_drop_no_cell(text):
    check_draw(text, exact_fit=True)


@settings(max_examples=10, deadline=None)
@given(tr.cnn_specs(losses=tuple(sorted(LOSSES))))
def test_draws_with_every_loss_are_valid_in_torch(text):
    check_draw(text)


@settings(max_examples=15, deadline=None)
@given(tr.cnn_specs(ties=True))
def test_tie_draws_hold_ties_in_max_pooling(text):
    check_draw(text)
    assert max_pool_ties(text) >= 1


@pytest.mark.parametrize("text", tr.EXAMPLES, ids=[tomllib.loads(t)["name"] for t in tr.EXAMPLES])
def test_derive_s_conv_gradients_are_pytorch_s(tmp_path, text):
    tr.compare_with_derive(text, tmp_path)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.filter_too_much])
@given(tr.cnn_specs(ties=False))
def test_derive_s_gradients_of_random_small_cnns_are_pytorch_s(tmp_path, text):
    """Random small networks (1-2 conv layers, 1-3 channels, kernels 1-3, strides 1-2, padding 0-1,
    biases or none, perhaps max or average pooling, 1-2 samples, then a linear layer): every gradient
    is PyTorch's, in the engine and in the loop-form code of every target (Python, NumPy, C)."""
    reference = tr.compare_with_derive(text, tmp_path)
    for target, gradients in _code_gradients(text, tmp_path).items():
        for where, value in gradients.items():
            assert math.isclose(value, reference.gradients[where], rel_tol=1e-12, abs_tol=1e-15), (
                target, where, value, reference.gradients[where])


def _code_gradients(text: str, tmp_path: Path) -> dict[str, dict]:
    """Each loop-form target's gradient summed over the samples, at each parameter's place."""
    from generated_module import floats
    from targets import _import, load_c, load_numpy, needs_cc

    import derive
    from derive.model import layers
    from derive.render.code import targets

    model = derive.Model(derive.parse(text, "draw.toml"))
    path = tmp_path / "loops.py"
    path.write_text(targets.render("python", None, model.network, derive.__version__, True)["gradients.py"])
    modules = {"python": _import(path), "numpy": load_numpy(model, tmp_path)}
    if not needs_cc.mark.args[0]:  # a C compiler is here
        modules["c"] = load_c(model, tmp_path, True)
    places = {p.name: layers.place(model.spec, p) for p in model.network.parameters}
    inputs = [floats(s.inputs) for s in model.spec.samples]
    wanted = [floats(s.targets) for s in model.spec.samples]
    found = {}
    for target, module in modules.items():
        if target == "numpy":
            g = {name: float(v) for name, v in module.gradient(module.INITIAL, inputs, wanted).items()}
        else:
            per_sample = [module.gradient(module.INITIAL, x, t) for x, t in zip(inputs, wanted, strict=True)]
            g = {name: math.fsum(s[name] for s in per_sample) for name in places}
            if model.spec.reduction == "mean":
                g = {name: v / len(per_sample) for name, v in g.items()}
        found[target] = {tr.place(w["layer"] - tr.DERIVE_LAYER_BASE, w["tensor"], w["index"]): g[name]
                         for name, w in places.items()}
    return found


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tr.cnn_specs(ties=True))
def test_derive_routes_max_pooling_s_ties_as_pytorch_does(tmp_path, text):
    """Max pooling with ties in its windows: derive sends the delta to the first maximum in row-major
    order, as PyTorch does (an input gradient elsewhere would differ from PyTorch's)."""
    assert max_pool_ties(text) >= 1
    tr.compare_with_derive(text, tmp_path)


def test_the_benchmark_reports_each_spec_without_crashing(tmp_path, capsys):
    """benchmarks/validate_torch_cnn.py: a row per spec (the examples, the draws, a linear spec that
    agrees), each agreeing or refused by derive with its message; none it could not build or run."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    import validate_torch_cnn

    linear = tmp_path / "linear.toml"
    linear.write_text(linear_spec())
    code = validate_torch_cnn.main(["2", "--spec", str(linear)])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| spec")]
    assert len(rows) == len(tr.EXAMPLES) + 2 + 1
    assert all(row.endswith("| agrees |") or "| refused (exit 2: derive: " in row for row in rows), out
    assert next(row for row in rows if row.startswith("| linear.toml |")).endswith("| agrees |")
    assert code == (0 if all(row.endswith("| agrees |") for row in rows) else 1)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu"])
def test_the_derivative_at_a_kink_is_derive_s_convention(tmp_path, name):
    """A hidden net exactly 0 (0.5·1 - 0.5·1 + 0): relu'(0) = 0, leaky_relu'(0) = 0.01 (PyTorch's
    and derive's conventions), elu'(0) = 1."""
    text = (f'name = "k"\ninput = 2\nloss = "half_sse"\nlearning_rate = 0.1\n'
            f'[[layer]]\ntype = "linear"\nout_features = 2\nactivation = "{name}"\n'
            "weight = [[0.5, -0.5], [0.25, 0.75]]\nbias = [0, 0.5]\n"
            '[[layer]]\ntype = "linear"\nout_features = 1\nweight = [[1.5, -0.5]]\nbias = [0.25]\n'
            "[[samples]]\ninputs = [1, 1]\ntargets = [2]\n")
    r = tr.compare_with_derive(text, tmp_path)
    slope = {"relu": 0.0, "leaky_relu": 0.01, "elu": 1.0}[name]
    delta = (0.25 - 0.5 * 1.5) - 2  # out - target: the hidden outs are 0 and 1.5 (net 1.5 > 0)
    assert r.gradients[(0, "weight", (0, 0))] == pytest.approx(delta * 1.5 * slope, rel=1e-15, abs=1e-300)


REFUSED = [
    (conv_only("kernel_size = 4", "[0]", 1), "layer[0]: kernel 4x4, stride 1x1, padding 0x0 do not fit a 3x3 map "
     "(PyTorch's floor rule gives 0x0)"),
    (conv_only("kernel_size = 3", "[0]", 1), "layer[0].weight has shape [1, 1, 2, 2], the layer needs [1, 1, 3, 3]"),
    ('name = "b"\ninput = 4\n[[layer]]\ntype = "linear"\nout_features = 4\nbias = "none"\n'
     'weight = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]\n[[layer]]\ntype = "maxpool2d"\nkernel_size = 2\n',
     "layer[1]: a maxpool2d layer needs a (C, H, W) map, the layer below gives (4,)"),
    (conv_only("kernel_size = 2\nactivation = \"cube\"", "[0]", 4), "layer[0].activation = 'cube' has no torch "
     "counterpart here (custom or unknown)"),
    (conv_only("kernel_size = 2\ndilation = 2", "[0]", 4), "layer[0]: keys ['dilation'] are not read by the reference"),
]


@pytest.mark.parametrize("text,message", REFUSED, ids=range(len(REFUSED)))
def test_a_spec_the_reference_cannot_build_is_refused_with_the_reason(text, message):
    with pytest.raises(tr.SpecNotBuilt) as refused:
        tr.reference(text)
    assert str(refused.value) == message
