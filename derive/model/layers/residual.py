"""``type = "residual"``: a residual block, y = x + f(x), f the linear layers of its ``block`` (an array
of ``[[layer.block]]`` tables, each `torch.nn.Linear` with its activation, as a ``linear`` layer's
table), whose output size equals its input size.

Written as one layer of units computed in order: the block's layers' units (each a weighted unit as a
dense layer's: the first reads x, the layer below, each next one the block layer before it, its own
units), then y_j, a unit whose net input is the formula x_j + f_j (`local_terms`; its out is its net).
The backward pass reads the local partials off that sum, 1 and 1, so dE/dx_j collects the skip path,
delta_y_j, beside the block's path (the first block layer's deltas through its weights): the
textbooks' "the gradient flows around the block".

Parameters: the block's weights, layer by layer, each [out_features][in_features] (PyTorch's
``block[j].weight``), then its biases, layer by layer; ``--json`` places them at ``"layer": [k, j]``,
the residual's table from 0, then the block's layer from 0.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from derive.model import program as P
from derive.model import scalars
from derive.model.entries import ALIASES
from derive.model.layers import BELOW, PathSlip, Read, Typed, read_bias, register, tensor, unknown_keys
from derive.model.modes import BiasMode
from derive.model.registry import NO_ACTIVATION

BLOCK_KEYS = ("type", "in_features", "out_features", "activation", "weight", "bias")
SUM, INSIDE = "y", "f"  # a unit's part: the sum, a block layer's unit


def block(layer: Typed) -> tuple[tuple[int, str], ...]:
    """The block's layers, each (out_features, activation)."""
    return layer.setting("block")


def _starts(layer: Typed) -> list[int]:
    """Where each block layer's units start among the layer's units, and where the sums start."""
    return _starts_of(list(block(layer)))


class Residual:
    name = "residual"
    keys: tuple[str, ...] = ("type", "block")
    combination = None
    reads_positions = True  # its lowering reads the layer below through `Layer.reads`
    sequential = True  # a block layer reads the one before it, the sums read the last: computed in order
    tensor_names = ("weight",)
    block_kind = "linear"  # the kind of its block's layers
    given_at = ("block[0].weight", "block[0].bias")  # where a tensor left out (with no seed) is given
    equations = ((r"y_j", r"x_j + f_j(x)"), (r"\frac{\partial E}{\partial x_j}",
                                            r"\delta_{y_j} + \sum_i \delta_{f^{(1)}_i} w^{(1)}_{ij}"))

    #: its usual slip (`derive.check.variants`): the skip path left out of dE/dx (as if y were f(x) alone)
    path_slips = (PathSlip("skip_path_left_out", "the residual's skip path left out: dE/dx without delta_y "
                           "(the gradient through the block only)", ((SUM, BELOW),)),)

    @property
    def lowering(self) -> P.Lowering:
        """Unit by unit (`derive.model.scalars`), from its connections and its sums' formula."""
        return scalars.lowering(self)

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        if len(shape_in) != 1:
            check.fail(f"{key}: a {self.name} block adds its input to its output, but the layer below gives a "
                       f"shape {list(shape_in)}: put it after a linear layer")
        if "block" not in table:
            check.fail(f"{key}: missing key 'block' (its [[layer.block]] tables: the linear layers of f)")
        tables = table["block"]
        if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
            shown = "an empty list" if tables == [] else check.kind(tables)
            return check.fail(f"{key}.block must be one or more [[layer.block]] tables (linear layers), not {shown}")
        width, inner, weights, biases = shape_in[0], [], [], []
        for j, t in enumerate(tables):
            where = f"{key}.block[{j}]"
            if t.get("type", self.block_kind) != self.block_kind:
                check.fail(f"{where}.type = {t['type']!r}: a residual block holds {self.block_kind} layers")
            unknown_keys(t, where, BLOCK_KEYS, check)
            if "out_features" not in t:
                check.fail(f"{where}: missing key 'out_features' (its number of neurons)")
            out = check.integer(t["out_features"], f"{where}.out_features", 1, check.max_width)
            if "in_features" in t and check.integer(t["in_features"], f"{where}.in_features", 1,
                                                    check.max_width) != width:
                check.fail(f"{where}.in_features = {t['in_features']}, but the layer before gives {width} features")
            name = check.string(t.get("activation", NO_ACTIVATION), f"{where}.activation")
            inner.append((out, ALIASES.get(name, name)))
            weights.append(tensor(t["weight"], f"{where}.weight", (out, width), ("out_features", "in_features"),
                                  check) if "weight" in t else None)
            biases.append(read_bias(t, where, out, "out_features", check))
            width = out
        if width != shape_in[0]:
            check.fail(f"{key}: the block gives {width} features, but its input has {shape_in[0]}: y = x + f(x) "
                       "needs them equal")
        layer = Typed(self.name, shape_in, shape_in, (("block", tuple(inner)),), internal=_starts_of(inner)[-1])
        return Read(layer, NO_ACTIVATION, _all_or_none(weights, "weight", key, check), _bias(biases, key, check))

    def tensors(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        """Each block layer's weight [out_features][in_features]."""
        widths = [layer.shape[0], *(w for w, _ in block(layer))]
        return tuple((widths[j + 1], widths[j]) for j in range(len(block(layer))))

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        """The block's units and the first layer's fan-in (what a drawn bias is scaled by)."""
        return _starts(layer)[-1], layer.shape[0]

    def exposed(self, layer: Typed) -> tuple[int, ...]:
        """The sums y: what the layer above reads."""
        first = _starts(layer)[-1]
        return tuple(range(first, first + layer.width))

    def part(self, layer: Typed, position: int) -> tuple[str, int, int]:
        """(f for a block layer's unit, y for a sum; the block layer, from 1, or 1; its unit, from 1)."""
        starts = _starts(layer)
        for j in range(len(starts) - 1):
            if position < starts[j + 1]:
                return INSIDE, j + 1, position - starts[j] + 1
        return SUM, 1, position - starts[-1] + 1

    def latex_node(self, layer: Typed, position: int) -> str:
        which, inner, j = self.part(layer, position)
        return f"f^{{({inner})}}_{{{j}}}" if which == INSIDE else f"y_{{{j}}}"

    def activation_words(self, layer: Typed) -> str:
        inner = ", ".join(f"{Residual.block_kind} {name}" for _, name in block(layer))
        return f"none (residual: y = x + f(x), f: {inner})"

    def unit_activations(self, layer: Typed, activation_name: str) -> tuple[str, ...]:
        return (*(name for width, name in block(layer) for _ in range(width)), *(NO_ACTIVATION,) * layer.width)

    def named_activations(self, layer: Typed) -> list[tuple[str, str]]:
        """Each block layer's activation with the key it is given at (for the spec's check of the names)."""
        return [(f"block[{j}].activation", name) for j, (_, name) in enumerate(block(layer))]

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Block layer 1's unit j reads input i through its weight [j][i]; a later one's reads the layer
        before it (its own units, numbered after the layer below's); the sums read through no weight."""
        units: list[tuple[tuple[int, int], ...]] = []
        starts, entry = _starts(layer), 0
        for j, (width, _) in enumerate(block(layer)):
            fan_in = layer.width_in if j == 0 else block(layer)[j - 1][0]
            first = 0 if j == 0 else layer.width_in + starts[j - 1]
            units += [tuple((first + i, entry + u * fan_in + i) for i in range(fan_in)) for u in range(width)]
            entry += width * fan_in
        return (*units, *((),) * layer.width)

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        return tuple((u,) for u in range(_starts(layer)[-1]))

    def local_terms(self, layer: Typed, position: int, out: Callable[[int], sp.Expr]):
        """y_j = x_j + f_j (f the last block layer's unit j), and its inputs; None for a block unit."""
        starts = _starts(layer)
        if position < starts[-1]:
            return None
        j, last = position - starts[-1], layer.width_in + starts[-2]
        return sp.Add(out(j), out(last + j), evaluate=False), [j, last + j]

    def place(self, layer: Typed, weight: bool, index: int) -> tuple[list[int], str, list[int]]:
        """(the block layer, from 0; its tensor; the index in it) of the layer's weight or bias ``index``."""
        widths = [layer.shape[0], *(w for w, _ in block(layer))]
        for j in range(len(widths) - 1):
            size = widths[j + 1] * (widths[j] if weight else 1)
            if index < size:
                return [j], "weight" if weight else "bias", list(divmod(index, widths[j])) if weight else [index]
            index -= size
        raise AssertionError("past the block's parameters")

    def table(self, layer: Typed, activation_name: str, weight: tuple, bias=None) -> dict:
        """The block's tables (with their biases: ``bias`` the layer's vector, or None for "none")."""
        tables, start = [], 0
        for (width, name), w in zip(block(layer), weight, strict=True):
            t = {"type": self.block_kind, "out_features": width, "activation": name, "weight": w}
            t["bias"] = list(bias[start:start + width]) if bias is not None else "none"
            tables.append(t)
            start += width
        return {"block": tables}

    def slips(self, layer: Typed, parameters: list) -> list:
        return []  # its slip is a path left out (`path_slips`)


def _starts_of(inner: list[tuple[int, str]]) -> list[int]:
    return [0, *(sum(w for w, _ in inner[:j + 1]) for j in range(len(inner)))]


def _all_or_none(given: list, name: str, key: str, check) -> tuple | None:
    """Every block layer's ``name`` tensor, or none of them (None: drawn from the seed, all alike)."""
    if all(g is None for g in given):
        return None
    missing = next((j for j, g in enumerate(given) if g is None), None)
    if missing is not None:
        check.fail(f"{key}.block[{missing}]: missing key '{name}': give every block layer's {name}, or none "
                   "(drawn from the seed)")
    return tuple(given)


def _bias(biases: list, key: str, check):
    """The block's bias vector: every block layer's, one after the other; "none" in all or none."""
    if all(b is BiasMode.NONE for b in biases):
        return BiasMode.NONE
    if any(b is BiasMode.NONE for b in biases):
        check.fail(f"{key}.block: some tables have bias = \"none\" and others biases: a network's layers have "
                   "biases alike")
    given = _all_or_none(biases, "bias", key, check)
    return None if given is None else tuple(v for b in given for v in b)


RESIDUAL = register(Residual())
