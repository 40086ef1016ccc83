"""``type = "linear"``: `torch.nn.Linear`, the dense layer. z = W a + b, out = activation(z).

Keys: ``out_features``; ``activation`` (any of the registry or the spec's own, default the identity,
as `torch.nn.Linear` has none); ``weight`` [out_features][in_features]; ``bias`` [out_features] or
"none"; ``in_features`` optional (checked against the layer below). A tensor left out is drawn from
the spec's seed."""

from __future__ import annotations

import math

from derive.model import program as P
from derive.model.layers import Read, Typed, bias_units, connections, read_bias, register, tensor
from derive.model.registry import NO_ACTIVATION


def _stepped(layer: P.Layer) -> tuple[P.Gather, list[P.Gather]] | None:
    """A layer after a recurrent one (applied at every step, or reading the last): a table of
    connections (`P.Gather`), its weights shared by the steps; None for a layer of its own."""
    typed = layer.typed
    assert isinstance(typed, Typed)  # a layer of the lowered program carries its table's reading
    if not (typed.steps or typed.offset or layer.reads):  # reads: some units of the layer below (an LSTM's h)
        return None
    return P.gathered(layer, connections(typed), bias_units(typed), math.prod(LINEAR.weight_shape(typed)))


def _forward(layer: P.Layer) -> list[P.Statement]:
    stepped = _stepped(layer)
    body: list[P.Affine | P.Each | P.Gather | P.Map] = [P.Affine(layer) if stepped is None else stepped[0]]
    if layer.out is not None:
        body.append(P.Map("out", layer.index, layer.out, ("net",)))
    return [P.Units(layer, tuple(body))]


def _backward(layer: P.Layer, below: P.Layer | None) -> list[P.Statement]:
    """back = W^T delta and the deltas of the layer below first, then this layer's gradients delta a^T:
    a step applied in place changes the weights that back reads."""
    stepped = _stepped(layer)
    if stepped is not None:
        back, *gradients = stepped[1]
        return [*([back, *P.below_deltas(below)] if below is not None else []), *gradients]
    statements: list[P.Statement] = []
    if below is not None:
        statements += [P.Propagate(layer), *P.below_deltas(below)]
    return [*statements, P.Update(layer)]


class Linear:
    name = "linear"
    keys: tuple[str, ...] = ("type", "in_features", "out_features", "activation", "weight", "bias")
    lowering = P.Lowering(_forward, _backward)
    combination = None
    reads_positions = True  # its lowering reads the layer below through `Layer.reads`

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        """A shaped input (channels, height, width) is flattened in PyTorch's order, as
        ``torch.nn.Flatten`` before ``torch.nn.Linear`` does."""
        width_in = math.prod(shape_in)
        if "out_features" not in table:
            check.fail(f"{key}: missing key 'out_features' (its number of neurons)")
        width = check.integer(table["out_features"], f"{key}.out_features", 1, check.max_width,
                              " neurons (a wider layer is almost always a typo)")
        if "in_features" in table:
            given = check.integer(table["in_features"], f"{key}.in_features", 1, check.max_width)
            if given != width_in:
                check.fail(f"{key}.in_features = {given}, but the layer below gives {width_in} features")
        weight = None
        if "weight" in table:
            if not isinstance(table["weight"], list):
                check.fail(f"{key}.weight must be a matrix [out_features][in_features], not "
                           f"{check.kind(table['weight'])}")
            weight = tensor(table["weight"], f"{key}.weight", (width, width_in), ("out_features", "in_features"), check)
        return Read(Typed(self.name, tuple(shape_in), (width,)), table.get("activation", NO_ACTIVATION), weight,
                    read_bias(table, key, width, "out_features", check))

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        return (layer.width, layer.width_in)

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Every unit reads every input: row j of the matrix [out_features][in_features]."""
        n = layer.width_in
        return tuple(tuple((i, j * n + i) for i in range(n)) for j in range(layer.width))

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        return tuple((j,) for j in range(layer.width))

    def table(self, layer: Typed, activation: str, weight: tuple) -> dict:
        return {"out_features": layer.width, "activation": activation, "weight": weight}

    def slips(self, layer: Typed, parameters: list) -> list:
        return []  # the slips of every layer are its usual ones


LINEAR = register(Linear())
