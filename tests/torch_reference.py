"""PyTorch's answer for a spec in the ``[[layer]]`` form, read from the spec's TOML text alone: the
reference that derive's convolution and pooling layers (#25) are checked against.

``reference(text)`` builds the network with torch.nn's own modules in float64 (``Linear``, ``Conv2d``,
``MaxPool2d``, ``AvgPool2d``; a (C, H, W) map is flattened in PyTorch's order, channel, row, column,
before a linear layer), runs every sample forward, takes the spec's loss (summed over the samples, or
their mean under ``reduction = "mean"``), backpropagates with autograd and returns E_total and every
parameter's value and gradient at its place ``(layer, tensor, index)``: the ``[[layer]]`` table (from
0), "weight" or "bias", and the index in PyTorch's layout of that tensor.

Nothing of derive is imported here (the spec is read with ``tomllib``): the reference stands apart
from the engine it checks. ``compare_with_derive`` (the one function that runs derive, through its
command line) asserts that ``derive gradients --json`` agrees with it. ``cnn_specs()`` draws random
small CNN specs (hypothesis) and ``EXAMPLES`` holds hand-picked ones.

Activations and losses are mapped to torch by their definitions in derive's registry
(derive/model/registry.py): every registered activation has a torch function of the same definition
(``TORCH_ACTIVATIONS``), and so has every loss (``TORCH_LOSSES``); tests/test_torch_reference.py checks
each against derive's engine on a linear network, and fails when the registry gains one not mapped.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

DTYPE = torch.float64

#: derive's activation names (and aliases) -> torch, each of the registry's definition:
#: softplus with a threshold of 50 (torch's default 20 returns x above 20, 2e-9 off there; past 50 the
#: difference ln(1 + e^-x) < 2e-22 is below float64's resolution of x); leaky_relu with the registry's
#: slope 0.01; elu with alpha 1; gelu exact (erf); gelu_tanh torch's tanh approximation (0.044715);
#: softmax over all of a layer's outputs (the registry's "over the layer").
TORCH_ACTIVATIONS = {
    "logistic": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "softplus": lambda x: F.softplus(x, threshold=50),
    "identity": lambda x: x,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "elu": lambda x: F.elu(x, 1.0),
    "silu": F.silu,
    "gelu": lambda x: F.gelu(x, approximate="none"),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "softmax": lambda x: torch.softmax(x.flatten(1), dim=1).reshape(x.shape),
}
ALIASES = {"sigmoid": "logistic", "linear": "identity", "swish": "silu"}


def _per_sample(values):
    """A (N, ...) tensor summed over all but the sample dimension."""
    return values.flatten(1).sum(dim=1)


#: derive's losses -> torch, as one error per sample from (the last layer's net, its out, the
#: targets), each of the registry's definition: half_sse Σ ½(t - out)²; mse the mean over outputs of
#: (t - out)² (torch's MSELoss, reduction "mean", per sample); cross_entropy -Σ t ln softmax(net)
#: (torch's cross_entropy with probability targets, from the net: the softmax is the loss's own);
#: binary_cross_entropy -(t ln out + (1 - t) ln(1 - out)) with logistic outputs, from the net (torch's
#: binary_cross_entropy_with_logits: no clamping of the log at -100); huber torch's HuberLoss, delta 1.
TORCH_LOSSES = {
    "half_sse": lambda net, out, t: _per_sample((t - out) ** 2 / 2),
    "mse": lambda net, out, t: _per_sample((t - out) ** 2) / t[0].numel(),
    "cross_entropy": lambda net, out, t: F.cross_entropy(net.flatten(1), t.flatten(1), reduction="none"),
    "binary_cross_entropy": lambda net, out, t: _per_sample(
        F.binary_cross_entropy_with_logits(net, t, reduction="none")),
    "huber": lambda net, out, t: _per_sample(F.huber_loss(out, t, reduction="none", delta=1.0)),
}
#: the output activation a loss is defined with (its net is what the loss reads)
LOSS_REQUIRES = {"cross_entropy": "softmax", "binary_cross_entropy": "logistic"}

POOLS = {"maxpool2d": torch.nn.MaxPool2d, "avgpool2d": torch.nn.AvgPool2d}
KEYS = {
    "linear": {"type", "out_features", "in_features", "activation", "weight", "bias"},
    "conv2d": {"type", "out_channels", "in_channels", "kernel_size", "stride", "padding", "activation", "weight",
               "bias"},
    "maxpool2d": {"type", "kernel_size", "stride"},
    "avgpool2d": {"type", "kernel_size", "stride"},
    "layernorm": {"type", "normalized_shape", "eps", "elementwise_affine", "weight", "bias"},
    "residual": {"type", "block"},
    "batchnorm": {"type", "num_features", "eps", "affine", "weight", "bias"},
}


class Residual(torch.nn.Module):
    """y = x + f(x), f the block's linear layers, each with its activation."""

    def __init__(self, block: list, activations: list[str]):
        super().__init__()
        self.block, self.activations = torch.nn.ModuleList(block), activations

    def forward(self, x):
        a = x
        for linear, activation in zip(self.block, self.activations, strict=True):
            a = TORCH_ACTIVATIONS[activation](linear(a))
        return x + a


class SpecNotBuilt(ValueError):
    """A spec the reference cannot build (a shape that does not fit, a missing weight, an unknown key)."""


def pair(value, where: str) -> tuple[int, int]:
    """An int or [a, b], as torch.nn's kernel_size, stride and padding take them."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0], value[1]
    raise SpecNotBuilt(f"{where} = {value!r}: give an integer or [two integers]")


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """PyTorch's floor rule: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass
class Layer:
    module: torch.nn.Module
    activation: str | None  # canonical name; None for pooling
    kind: str


@dataclass
class Network:
    input_shape: tuple[int, ...]  # (n,) or (C, H, W)
    layers: list[Layer]
    loss: str
    reduction: str

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(the last layer's net, its out, every layer's out) for a batch x of shape (N, *input_shape)."""
        maps, net, a = [], x, x
        for layer in self.layers:
            if layer.kind == "linear" and a.dim() > 2:
                a = a.flatten(1)  # (N, C, H, W) -> (N, C*H*W): channel, row, column
            net = layer.module(a)
            a = TORCH_ACTIVATIONS[layer.activation](net) if layer.activation else net
            maps.append(a)
        return net, a, maps


@dataclass
class Result:
    e_total: float
    gradients: dict[tuple, float]  # (layer, tensor, index) -> dE_total/dparameter
    values: dict[tuple, float]  # (layer, tensor, index) -> the parameter's value
    outputs: torch.Tensor  # (N, outputs), the network's output for each sample
    input_gradients: torch.Tensor  # dE_total/dinputs, shaped (N, *input_shape)
    maps: list[torch.Tensor] = field(default_factory=list)  # each layer's output (N, ...), detached
    places: list[tuple] = field(default_factory=list)  # the parameters' places in the network's order


def place(layer: int, tensor: str, index) -> tuple:
    return (layer, tensor, tuple(index))


def _tensor(values, shape: tuple[int, ...], where: str) -> torch.Tensor:
    t = torch.tensor(values, dtype=DTYPE)
    if tuple(t.shape) != shape:
        raise SpecNotBuilt(f"{where} has shape {list(t.shape)}, the layer needs {list(shape)}")
    return t


def _activation(table: dict, where: str) -> str:
    name = table.get("activation", "identity")
    name = ALIASES.get(name, name)
    if name not in TORCH_ACTIVATIONS:
        raise SpecNotBuilt(f"{where}.activation = {name!r} has no torch counterpart here (custom or unknown)")
    return name


def _set(module, table: dict, where: str) -> None:
    if "weight" not in table:
        raise SpecNotBuilt(f"{where}.weight is missing: the reference needs the numbers (no seed)")
    bias = table.get("bias")
    with torch.no_grad():
        module.weight.copy_(_tensor(table["weight"], tuple(module.weight.shape), f"{where}.weight"))
        if module.bias is not None:
            if not isinstance(bias, list):
                raise SpecNotBuilt(f"{where}.bias is missing: give a list, or \"none\"")
            module.bias.copy_(_tensor(bias, tuple(module.bias.shape), f"{where}.bias"))


def build(text: str) -> tuple[Network, dict]:
    """The torch network of a spec's TOML text, and the parsed table."""
    table = tomllib.loads(text)
    shape = tuple(table["input"]) if isinstance(table["input"], list) else (table["input"],)
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise SpecNotBuilt(f"input = {table['input']!r}: give a number or [C, H, W]")
    input_shape, layers = shape, []
    for k, t in enumerate(table.get("layer", [])):
        where, kind = f"layer[{k}]", t.get("type")
        if kind not in KEYS:
            raise SpecNotBuilt(f"{where}.type = {kind!r} is not one the reference knows: {sorted(KEYS)}")
        if unknown := set(t) - KEYS[kind]:
            raise SpecNotBuilt(f"{where}: keys {sorted(unknown)} are not read by the reference")
        has_bias = t.get("bias") != "none"
        if kind == "residual":
            width, block, activations = shape[0], [], []
            for j, inner in enumerate(t["block"]):
                linear = torch.nn.Linear(width, inner["out_features"], bias=inner.get("bias") != "none", dtype=DTYPE)
                _set(linear, inner, f"{where}.block[{j}]")
                block.append(linear)
                activations.append(_activation(inner, f"{where}.block[{j}]"))
                width = inner["out_features"]
            if width != shape[0]:
                raise SpecNotBuilt(f"{where}: the block gives {width} features, its input has {shape[0]}")
            module = Residual(block, activations)
        elif kind == "layernorm":
            if len(shape) != 1:
                raise SpecNotBuilt(f"{where}: a layernorm here normalizes features, the layer below gives {shape}")
            module = torch.nn.LayerNorm(shape[0], eps=t.get("eps", 1e-5), elementwise_affine=t.get(
                "elementwise_affine", True), bias=has_bias, dtype=DTYPE)
            with torch.no_grad():  # PyTorch's own ones and zeros where the spec gives none
                for name in ("weight", "bias"):
                    if isinstance(t.get(name), list):
                        getattr(module, name).copy_(_tensor(t[name], (shape[0],), f"{where}.{name}"))
        elif kind == "batchnorm":  # training mode (a new module's): the batch's mean and biased variance
            if len(shape) != 1:
                raise SpecNotBuilt(f"{where}: a batchnorm here normalizes features, the layer below gives {shape}")
            affine = t.get("affine", True)
            module = torch.nn.BatchNorm1d(shape[0], eps=t.get("eps", 1e-5), affine=affine, bias=has_bias and affine,
                                          dtype=DTYPE)
            with torch.no_grad():  # PyTorch's own ones and zeros where the spec gives none
                for name in ("weight", "bias"):
                    if isinstance(t.get(name), list):
                        getattr(module, name).copy_(_tensor(t[name], (shape[0],), f"{where}.{name}"))
        elif kind == "linear":
            features = math.prod(shape)
            if t.get("in_features", features) != features:
                raise SpecNotBuilt(f"{where}.in_features = {t['in_features']}, the layer below gives {features}")
            module = torch.nn.Linear(features, t["out_features"], bias=has_bias, dtype=DTYPE)
            shape = (t["out_features"],)
        else:
            if len(shape) != 3:
                raise SpecNotBuilt(f"{where}: a {kind} layer needs a (C, H, W) map, the layer below gives {shape}")
            c, h, w = shape
            (kh, kw), (sh, sw) = pair(t["kernel_size"], f"{where}.kernel_size"), (1, 1)
            ph, pw = (0, 0)
            if kind == "conv2d":
                sh, sw = pair(t.get("stride", 1), f"{where}.stride")
                ph, pw = pair(t.get("padding", 0), f"{where}.padding")
                if t.get("in_channels", c) != c:
                    raise SpecNotBuilt(f"{where}.in_channels = {t['in_channels']}, the layer below gives {c}")
                module = torch.nn.Conv2d(c, t["out_channels"], (kh, kw), (sh, sw), (ph, pw), bias=has_bias,
                                         dtype=DTYPE)
                c = t["out_channels"]
            else:
                sh, sw = pair(t.get("stride", t["kernel_size"]), f"{where}.stride")
                module = POOLS[kind]((kh, kw), (sh, sw))
            oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
            if min(sh, sw, kh, kw) < 1 or min(ph, pw) < 0 or oh < 1 or ow < 1:
                raise SpecNotBuilt(f"{where}: kernel {kh}x{kw}, stride {sh}x{sw}, padding {ph}x{pw} do not fit "
                                   f"a {h}x{w} map (PyTorch's floor rule gives {oh}x{ow})")
            shape = (c, oh, ow)
        if kind in ("linear", "conv2d"):
            _set(module, t, where)
        layers.append(Layer(module, _activation(t, where) if kind in ("linear", "conv2d") else None, kind))
    if not layers:
        raise SpecNotBuilt("the spec has no [[layer]] tables")
    loss = table.get("loss", "half_sse")
    if loss not in TORCH_LOSSES:
        raise SpecNotBuilt(f"loss = {loss!r} has no torch counterpart here")
    if loss in LOSS_REQUIRES and layers[-1].activation != LOSS_REQUIRES[loss]:
        raise SpecNotBuilt(f"loss = {loss!r} is defined with {LOSS_REQUIRES[loss]} outputs")
    return Network(input_shape, layers, loss, table.get("reduction", "sum")), table


def parameters(network: Network) -> list[tuple[tuple, torch.Tensor]]:
    """Every parameter's place and the tensor it lies in, layer by layer, weight before bias, each
    tensor in row-major order."""
    out = []
    for k, layer in enumerate(network.layers):
        inner = list(enumerate(layer.module.block)) if isinstance(layer.module, Residual) else [(None, layer.module)]
        for j, module in inner:  # a residual block's layers at (k, j), derive's "layer": [k, j]
            for name in ("weight", "bias"):
                tensor = getattr(module, name, None)
                if isinstance(tensor, torch.nn.Parameter):
                    out += [(place(k if j is None else (k, j), name, index), tensor)
                            for index in itertools.product(*map(range, tensor.shape))]
    return out


def reference(text: str) -> Result:
    """PyTorch's E_total, parameter values and gradients for the spec's TOML text."""
    network, table = build(text)
    samples = table.get("samples", [])
    if not samples:
        raise SpecNotBuilt("the spec has no [[samples]]")
    x = torch.stack([_tensor(s["inputs"], network.input_shape, f"samples[{i}].inputs") for i, s in enumerate(samples)])
    x.requires_grad_(True)
    net, out, maps = network.forward(x)
    targets = torch.tensor([s["targets"] for s in samples], dtype=DTYPE)
    if targets.shape[1] != out[0].numel():
        raise SpecNotBuilt(f"targets have {targets.shape[1]} values, the network gives {out[0].numel()}")
    per_sample = TORCH_LOSSES[network.loss](net.flatten(1), out.flatten(1), targets)
    e_total = per_sample.mean() if network.reduction == "mean" else per_sample.sum()
    e_total.backward()
    places = parameters(network)
    gradients = {p: tensor.grad[p[2]].item() for p, tensor in places}
    values = {p: tensor[p[2]].item() for p, tensor in places}
    return Result(e_total.item(), gradients, values, out.detach().flatten(1), x.grad.detach(),
                  [m.detach() for m in maps], [p for p, _ in places])


# -- derive against the reference ------------------------------------------------------------------
#: where derive's --json numbers a parameter's layer from (today 0: the [[layer]] table's index)
DERIVE_LAYER_BASE = 0


class DeriveRefused(RuntimeError):
    """derive did not give gradients for the spec (its one-line message, its exit code)."""


def derive_gradients(text: str, tmp_path: Path) -> dict:
    """``derive gradients --json --digits 15`` on the spec: E_total, and each parameter's value and
    gradient at its place."""
    from derive.cli import main  # the engine under test: only here, never in the reference above

    spec = Path(tmp_path) / "reference_spec.toml"
    spec.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["gradients", str(spec), "--json", "--digits", "15"])
    if code != 0:
        raise DeriveRefused(f"exit {code}: {err.getvalue().strip()}")
    data = json.loads(out.getvalue())
    values = {q["quantity"]: q["value"] for q in data["quantities"]}
    gradients, parameter_values = {}, {}
    for p in data["parameters"]:
        layer = tuple(p["layer"]) if isinstance(p["layer"], list) else p["layer"] - DERIVE_LAYER_BASE
        where = place(layer, p["tensor"], p["index"])
        if where in gradients:
            raise AssertionError(f"derive lists the place {where} twice")
        gradients[where] = values[f"dE_total/d{p['name']}"]
        parameter_values[where] = p.get("value", values[p["name"]])
    return {"e_total": values["E_total"], "gradients": gradients, "values": parameter_values}


def relative_error(got: float, want: float, floor: float = 1e-15) -> float:
    """|got - want| / |want|, with differences under ``floor`` counted as none (abs 1e-15)."""
    diff = abs(got - want)
    return 0.0 if diff <= floor else diff / abs(want) if want else math.inf


def differences(text: str, tmp_path: Path) -> dict:
    """The largest relative errors of derive against the reference: E_total, gradients, values, and
    the places one lists that the other does not."""
    ref, got = reference(text), derive_gradients(text, tmp_path)
    common = ref.gradients.keys() & got["gradients"].keys()
    return {
        "e_total": relative_error(got["e_total"], ref.e_total),
        "gradients": max((relative_error(got["gradients"][p], ref.gradients[p]) for p in common), default=0.0),
        "values": max((relative_error(got["values"][p], ref.values[p]) for p in common), default=0.0),
        "parameters": len(ref.places),
        "missing": sorted(ref.gradients.keys() - got["gradients"].keys()),
        "extra": sorted(got["gradients"].keys() - ref.gradients.keys()),
    }


def compare_with_derive(text: str, tmp_path: Path, rel: float = 1e-12, abs_: float = 1e-15) -> Result:
    """Assert derive's gradients, E_total and parameter values equal PyTorch's, place by place (rel
    1e-12, abs 1e-15), and that both list the same parameters. Raises DeriveRefused when derive
    refuses the spec."""
    ref, got = reference(text), derive_gradients(text, tmp_path)
    assert got["gradients"].keys() == ref.gradients.keys(), (
        f"places only derive lists: {sorted(got['gradients'].keys() - ref.gradients.keys())[:5]}; "
        f"only torch: {sorted(ref.gradients.keys() - got['gradients'].keys())[:5]}")
    assert len(got["gradients"]) == len(ref.places)
    assert math.isclose(got["e_total"], ref.e_total, rel_tol=rel, abs_tol=abs_), (got["e_total"], ref.e_total)
    for p in ref.places:
        assert math.isclose(got["gradients"][p], ref.gradients[p], rel_tol=rel, abs_tol=abs_), (
            p, got["gradients"][p], ref.gradients[p])
        assert math.isclose(got["values"][p], ref.values[p], rel_tol=rel, abs_tol=abs_), (
            p, got["values"][p], ref.values[p])
    return ref


# -- specs as TOML text ------------------------------------------------------------------------------
def toml_value(value) -> str:
    """A TOML value: lists nested, strings quoted, numbers (int, Decimal) as written."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):  # an inline table (a residual block's layer)
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def spec_toml(name: str, input_, layers: list[dict], samples: list[dict], loss: str = "half_sse",
              learning_rate: str = "0.1") -> str:
    """A spec in the [[layer]] form: each layer's keys in the order given."""
    lines = [f"name = {toml_value(name)}", f"input = {toml_value(input_)}", f"loss = {toml_value(loss)}",
             f"learning_rate = {learning_rate}"]
    for layer in layers:
        lines += ["", "[[layer]]"] + [f"{k} = {toml_value(v)}" for k, v in layer.items()]
    for sample in samples:
        lines += ["", "[[samples]]"] + [f"{k} = {toml_value(v)}" for k, v in sample.items()]
    return "\n".join(lines) + "\n"


def nest(flat: list, shape: tuple[int, ...]) -> list:
    """A flat list as nested lists of the shape (row-major)."""
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


# -- random small CNN specs (hypothesis) -------------------------------------------------------------
#: The numbers are dyadic short decimals (weights and biases multiples of 1/8, inputs and targets of
#: 1/4, in [-1, 1]): up to a max pooling layer every value is then exact in float64 whatever the order
#: of the sums, so a tie in exact arithmetic (derive's) is a tie in PyTorch's floats too, and both send
#: the gradient to the same cell. For the same reason the layers below a max pooling layer use
#: identity or relu (a tanh or logistic value is rounded); the others draw from ACTIVATIONS_DRAWN.
ACTIVATIONS_DRAWN = ("identity", "relu", "tanh", "logistic")
EXACT_ACTIVATIONS = ("identity", "relu")
WEIGHT_STEPS, INPUT_STEPS = 8, 4


def _number(steps: int):
    from decimal import Decimal

    from hypothesis import strategies as st

    return st.integers(-steps, steps).map(lambda k: Decimal(k) / steps)


def _array(draw, shape: tuple[int, ...], steps: int) -> list:
    from hypothesis import strategies as st

    n = math.prod(shape)
    return nest(draw(st.lists(_number(steps), min_size=n, max_size=n)), shape)


def _written(draw, a: int, b: int, default: int | None = None):
    """A pair as PyTorch takes it: an int when both are equal (or sometimes [a, a]); None (the key
    left out) when both are the default and the draw says so."""
    from hypothesis import strategies as st

    if a == b == default and draw(st.booleans()):
        return None
    return a if a == b and draw(st.booleans()) else [a, b]


def _strides(size: int, kernel: int, padding: int, exact_fit: bool) -> list[int]:
    """Strides 1-2 that fit (with exact_fit: that drop no cell under the floor rule)."""
    return [s for s in (1, 2) if not exact_fit or (size + 2 * padding - kernel) % s == 0]


def cnn_specs(ties: bool | None = None, losses: tuple[str, ...] = ("half_sse",), exact_fit: bool = False):
    """Random small CNN specs as TOML text, the ranges of #25: input 1-3 channels of 3-7 x 3-7; 1-2
    conv2d layers (1-3 out channels, kernels 1-3, strides 1-2, padding 0-1, each pair drawn per
    dimension); perhaps one max or avg pooling layer after a conv layer (kernel 1-3, stride 1-2 or the
    default); a linear layer to 1-3 outputs; biases in every layer or "none" in every layer; 1-2
    samples. Every shape is valid under PyTorch's floor rule; ``exact_fit`` draws only strides that
    drop no cell. ``ties=True`` forces ties in max pooling: a max pooling layer of 2 cells or more per
    window over maps that are constant per channel (each sample's inputs all equal, convolutions of
    stride 1 without padding); None draws either. The loss is drawn from ``losses``; one defined with an
    output activation (cross_entropy: softmax) gets it, and targets in [0, 1]."""
    from hypothesis import strategies as st

    @st.composite
    def draw_spec(draw):
        tie = draw(st.booleans()) if ties is None else ties
        c = draw(st.integers(1, 3))
        h, w = draw(st.integers(4 if tie else 3, 7)), draw(st.integers(4 if tie else 3, 7))
        convs = draw(st.integers(1, 2))
        pool = "maxpool2d" if tie else draw(st.sampled_from([None, "maxpool2d", "avgpool2d"]))
        pool_after = draw(st.integers(0, convs - 1))
        bias = draw(st.booleans())
        exact_below = pool == "maxpool2d"
        input_shape = (c, h, w)
        layers, shape = [], input_shape
        for i in range(convs):
            c, h, w = shape
            if tie:
                (ph, pw), (sh, sw) = (0, 0), (1, 1)
                kh, kw = draw(st.integers(1, min(2, h))), draw(st.integers(1, min(2, w)))
            else:
                ph, pw = draw(st.integers(0, 1)), draw(st.integers(0, 1))
                kh, kw = draw(st.integers(1, min(3, h + 2 * ph))), draw(st.integers(1, min(3, w + 2 * pw)))
                sh = draw(st.sampled_from(_strides(h, kh, ph, exact_fit)))
                sw = draw(st.sampled_from(_strides(w, kw, pw, exact_fit)))
            out = draw(st.integers(1, 3))
            activations = EXACT_ACTIVATIONS if exact_below and i <= pool_after else ACTIVATIONS_DRAWN
            layer = {"type": "conv2d", "out_channels": out, "kernel_size": _written(draw, kh, kw),
                     "stride": _written(draw, sh, sw, 1), "padding": _written(draw, ph, pw, 0),
                     "activation": draw(st.sampled_from(activations)),
                     "weight": _array(draw, (out, c, kh, kw), WEIGHT_STEPS),
                     "bias": _array(draw, (out,), WEIGHT_STEPS) if bias else "none"}
            layers.append({k: v for k, v in layer.items() if v is not None})
            shape = (out, out_size(h, kh, sh, ph), out_size(w, kw, sw, pw))
            if pool and i == pool_after:
                c, h, w = shape
                low = 2 if tie else 1
                if tie and max(h, w) < 2:
                    raise AssertionError("a tie draw's map is 1x1")  # not reached: stride 1, kernels <= 2, 4x4 up
                kh = draw(st.integers(low if h >= 2 else 1, min(3, h)))
                kw = draw(st.integers(low if w >= 2 and kh == 1 else 1, min(3, w)))
                default = draw(st.booleans()) and (not exact_fit or ((h - kh) % kh == 0 and (w - kw) % kw == 0))
                sh, sw = (kh, kw) if default else (draw(st.sampled_from(_strides(h, kh, 0, exact_fit))),
                                                   draw(st.sampled_from(_strides(w, kw, 0, exact_fit))))
                table = {"type": pool, "kernel_size": _written(draw, kh, kw)}
                if not default:
                    table["stride"] = _written(draw, sh, sw)
                layers.append(table)
                shape = (c, out_size(h, kh, sh, 0), out_size(w, kw, sw, 0))
        outputs, loss = draw(st.integers(1, 3)), draw(st.sampled_from(losses))
        activation = LOSS_REQUIRES.get(loss) or draw(st.sampled_from(ACTIVATIONS_DRAWN))
        layers.append({"type": "linear", "out_features": outputs, "activation": activation,
                       "weight": _array(draw, (outputs, math.prod(shape)), WEIGHT_STEPS),
                       "bias": _array(draw, (outputs,), WEIGHT_STEPS) if bias else "none"})
        samples = []
        for _ in range(draw(st.integers(1, 2))):
            inputs = (nest([draw(_number(INPUT_STEPS))] * math.prod(input_shape), input_shape) if tie
                      else _array(draw, input_shape, INPUT_STEPS))
            targets = (_array(draw, (outputs,), INPUT_STEPS) if loss not in LOSS_REQUIRES  # in [0, 1] for these
                       else [abs(v) for v in _array(draw, (outputs,), INPUT_STEPS)])
            samples.append({"inputs": inputs, "targets": targets})
        return spec_toml("cnn", list(input_shape), layers, samples, loss)

    return draw_spec()


# -- hand-picked examples ----------------------------------------------------------------------------
def _pattern(shape: tuple[int, ...], start: int, step: int = 20) -> list:
    """Fixed numbers for an example's tensor: multiples of 1/step in [-0.5, 0.5], cycling."""
    from decimal import Decimal

    n = math.prod(shape)
    return nest([Decimal((start + 8 * i) % 21 - 10) / step for i in range(n)], shape)


def _conv(out, c, k, activation, start, bias=True, step=20, **keys):
    kh, kw = (k, k) if isinstance(k, int) else k
    return {"type": "conv2d", "out_channels": out, "kernel_size": k, **keys, "activation": activation,
            "weight": _pattern((out, c, kh, kw), start, step),
            "bias": _pattern((out,), start + 3, step) if bias else "none"}


def _linear(out, features, activation, start, bias=True):
    return {"type": "linear", "out_features": out, "activation": activation,
            "weight": _pattern((out, features), start), "bias": _pattern((out,), start + 5) if bias else "none"}


def _sample(shape, start, targets, step=10):
    return {"inputs": _pattern(shape, start, step), "targets": targets}


EXAMPLES = [
    # stride 2 (5x5, kernel 3 -> 2x2), relu, two outputs
    spec_toml("stride2", [1, 5, 5], [_conv(2, 1, 3, "relu", 1, stride=2), _linear(2, 8, "logistic", 2)],
              [_sample((1, 5, 5), 3, [0.0, 1.0])]),
    # two input channels, padding 1 (4x4 -> 5x5), average pooling 2 (-> 2x2, a row and a column dropped)
    spec_toml("pad1_avgpool", [2, 4, 4], [_conv(1, 2, 2, "tanh", 4, padding=1), {"type": "avgpool2d", "kernel_size": 2},
                                         _linear(1, 4, "identity", 5)],
              [_sample((2, 4, 4), 6, [0.5])]),
    # two conv layers, the second with a non-square kernel and a stride per dimension; mse; two samples
    spec_toml("two_conv", [1, 6, 6], [_conv(2, 1, 3, "relu", 7), _conv(1, 2, [2, 3], "tanh", 8, stride=[2, 1]),
                                      _linear(2, 4, "identity", 9)],
              [_sample((1, 6, 6), 10, [0.25, -0.5]), _sample((1, 6, 6), 11, [0.0, 0.75])], loss="mse"),
    # max pooling with ties in its window: the conv's outputs x[r][c] + x[r][c+1] are 0.75 at (0,0), (0,1)
    # and (1,0), from different inputs, so the kernel's gradient tells which one the gradient went to
    # (PyTorch: the first in row-major order). Dyadic numbers: the ties are exact in float64 too.
    spec_toml("maxpool_tie", [1, 2, 3],
              [{"type": "conv2d", "out_channels": 1, "kernel_size": [1, 2], "activation": "identity",
                "weight": [[[[1, 1]]]], "bias": [0]},
               {"type": "maxpool2d", "kernel_size": 2},
               {"type": "linear", "out_features": 1, "activation": "logistic", "weight": [[2]], "bias": [0.5]}],
              [{"inputs": [[[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]]], "targets": [1]}]),
    # three input channels, a non-square kernel, strides and padding per dimension, no biases anywhere
    spec_toml("nonsquare_nobias", [3, 4, 5],
              [_conv(2, 3, [2, 3], "logistic", 12, bias=False, stride=[1, 2], padding=[1, 0]),
               _linear(2, 20, "tanh", 13, bias=False)],
              [_sample((3, 4, 5), 14, [0.5, -0.5]), _sample((3, 4, 5), 15, [-1.0, 1.0])]),
    # conv, max pooling (kernel 2, stride 1: overlapping windows), conv again, two channels in; dyadic
    # numbers below the pooling (sixteenths, eighths), so that its comparisons are exact in float64
    spec_toml("conv_maxpool_conv", [2, 5, 5],
              [_conv(2, 2, 2, "relu", 16, step=16), {"type": "maxpool2d", "kernel_size": 2, "stride": 1},
               _conv(1, 2, 2, "identity", 17), _linear(3, 4, "logistic", 18)],
              [_sample((2, 5, 5), 19, [0.0, 0.5, 1.0], step=8)]),
]
