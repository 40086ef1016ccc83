"""Layers whose units form maps, as grids: what the LaTeX document and the page draw for a layer whose
shape has 3 axes (channels, height, width: a convolution's feature maps, a pooling layer's, an input
given as such), and for a weight tensor of more than 2 axes (a convolution's kernels).

Read from the network alone: a layer's shape (`derive.model.layers.Typed.shape`), its units in
PyTorch's flat order (channel, row, column), and each parameter's place in its tensor
(`Parameter.index`, row-major), so any layer kind with such shapes is drawn the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from derive.model import quantities as Q
from derive.model.layers import unravel

MAP_AXES = 3  # (channels, height, width)
KINDS = (("net", Q.net), ("out", Q.out), ("delta", Q.delta))  # what a layer's maps show of each unit


def title(network, k: int) -> str:
    """What the grids' heading calls layer ``k`` (0: the input): its kind, and its activation unless
    it has no parameters (pooling): "Layer 1 (conv2d, relu)", "Layer 2 (maxpool2d)"."""
    if k == 0:
        return "The input"
    kind = network.typed(k).kind
    if network.kind(k).combination is not None:
        return f"Layer {k} ({kind})"
    return f"Layer {k} ({kind}, {network.spec.activations[k - 1]})"


def shown(maps: Maps, values) -> list[tuple[str, Callable[[str], Q.Quantity]]]:
    """The (name, quantity maker) of `KINDS` that the layer's units have a value of in ``values`` (a
    layer whose units have no net input of their own shows the others); the input shows its ``out``."""
    if maps.layer == 0:
        return [KINDS[1]]
    units = [n for channel in maps.channels for row in channel for n in row]
    return [(name, quantity) for name, quantity in KINDS if all(quantity(n) in values for n in units)]


@dataclass(frozen=True)
class Maps:
    """Layer ``layer``'s units (0: the input) as ``channels`` grids of neuron names [row][column]."""

    layer: int
    shape: tuple[int, int, int]
    channels: tuple[tuple[tuple[str, ...], ...], ...]

    @property
    def side(self) -> int:
        """Its longest side (rows or columns)."""
        return max(self.shape[1:])


@dataclass(frozen=True)
class Kernel:
    """One kernel of layer ``layer``: the entries of its weight tensor at the leading ``index`` (a
    convolution's [out][in]) as a grid of parameter names [row][column]."""

    layer: int
    index: tuple[int, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def names(self) -> list[str]:
        return [name for row in self.rows for name in row]


def _grid(names: list[str], rows: int, columns: int) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(names[r * columns:(r + 1) * columns]) for r in range(rows))


def shape(network, k: int) -> tuple[int, ...]:
    """The shape of layer k's units (0: the input)."""
    return network.typed(1).shape_in if k == 0 else network.typed(k).shape


def maps(network) -> list[Maps]:
    """Every layer (the input first) whose shape has 3 axes, as grids of its units."""
    out = []
    for k in range(network.depth + 1):
        size = shape(network, k)
        if len(size) != MAP_AXES:
            continue
        channels, rows, columns = size
        units = network.layers[k]
        per = rows * columns
        out.append(Maps(k, (channels, rows, columns),
                        tuple(_grid(units[c * per:(c + 1) * per], rows, columns) for c in range(channels))))
    return out


def kernels(network, k: int) -> list[Kernel]:
    """Layer k's weight tensor as grids over its last two axes, one for each index of the axes before
    them (a convolution's kernel [out][in] as kh × kw); none for a tensor of 2 axes or fewer."""
    weights = [p for p in network.parameters if p.layer == k and p.kind == Q.WEIGHT]
    if not weights:  # a layer of no weights (pooling)
        return []
    tensor = tuple(network.kind(k).weight_shape(network.typed(k)))
    if len(tensor) <= 2:
        return []
    rows, columns = tensor[-2:]
    per = rows * columns
    by_index = sorted(weights, key=lambda p: p.index)
    return [Kernel(k, tuple(unravel(b, tensor[:-2])), _grid([p.name for p in by_index[b * per:(b + 1) * per]],
                                                              rows, columns))
            for b in range(math.prod(tensor[:-2]))]


def filters(network, k: int) -> list[list[str]]:
    """Layer k's parameters by the first axis of its weight tensor (a convolution's filters): each
    filter's first kernel entry that is used, then the biases added to its units (each bias once)."""
    out, seen = [], set()
    entries: dict[int, list[str]] = {}
    for kernel in kernels(network, k):
        entries.setdefault(kernel.index[0], []).extend(kernel.names)
    for names in entries.values():
        used = [n for n in names if network.parameter[n].feeds]
        if not used:
            continue
        units = {u for n in names for u in network.parameter[n].feeds}
        biases = [p.name for p in network.parameters
                  if p.layer == k and p.kind == Q.BIAS and set(p.feeds) & units and p.name not in seen]
        seen.update(biases)
        out.append([used[0], *biases])
    return out
