"""``type = "linear"``: `torch.nn.Linear`, the dense layer. z = W a + b, out = activation(z).

Keys: ``out_features``; ``activation`` (any of the registry or the spec's own, default the identity,
as `torch.nn.Linear` has none); ``weight`` [out_features][in_features]; ``bias`` [out_features] or
"none"; ``in_features`` optional (checked against the layer below). A tensor left out is drawn from
the spec's seed."""

from __future__ import annotations

from derive.model import program as P
from derive.model import quantities
from derive.model.layers import Read, read_bias, register
from derive.model.registry import NO_ACTIVATION


def _forward(layer: P.Layer) -> list[P.Statement]:
    body: list[P.Affine | P.Each | P.Map] = [P.Affine(layer)]
    if layer.out is not None:
        body.append(P.Map("out", layer.index, layer.out, ("net",)))
    return [P.Units(layer, tuple(body))]


def _backward(layer: P.Layer, below: P.Layer | None) -> list[P.Statement]:
    """back = W^T delta and the deltas of the layer below first, then this layer's gradients delta a^T:
    a step applied in place changes the weights that back reads."""
    statements: list[P.Statement] = []
    if below is not None:
        statements += [P.Propagate(layer), P.below_deltas(below)]
    return [*statements, P.Update(layer)]


class Linear:
    name = "linear"
    keys: tuple[str, ...] = ("type", "in_features", "out_features", "activation", "weight", "bias")
    lowering = P.Lowering(_forward, _backward)

    def read(self, table: dict, key: str, width_in: int, check) -> Read:
        if "out_features" not in table:
            check.fail(f"{key}: missing key 'out_features' (its number of neurons)")
        width = check.integer(table["out_features"], f"{key}.out_features", 1, check.max_width,
                              " neurons (a wider layer is almost always a typo)")
        if "in_features" in table:
            given = check.integer(table["in_features"], f"{key}.in_features", 1, check.max_width)
            if given != width_in:
                check.fail(f"{key}.in_features = {given}, but the layer below gives {width_in} features")
        activation = table.get("activation", NO_ACTIVATION)
        weight = None
        if "weight" in table:
            rows = table["weight"]
            if not isinstance(rows, list):
                check.fail(f"{key}.weight must be a matrix [out_features][in_features], not {check.kind(rows)}")
            if len(rows) != width:
                check.fail(f"{key}.weight has {len(rows)} rows, out_features is {width}")
            weight = tuple(check.vector(row, f"{key}.weight[{j}]", width_in, "in_features is")
                           for j, row in enumerate(rows))
        return Read(self.name, width, activation, weight, read_bias(table, key, width, "out_features", check))

    def edges(self, width_in: int, width: int) -> tuple[tuple[int, ...], ...]:
        """Every unit reads every input: a weight matrix [out_features][in_features]."""
        return (tuple(range(width_in)),) * width

    def table(self, width: int, activation: str, weight: tuple) -> dict:
        return {"out_features": width, "activation": activation, "weight": weight}

    def slips(self, parameters: list) -> list:
        return []  # the slips of every layer are its usual ones

    def place(self, layer: int, parameter) -> dict:
        if parameter.kind == quantities.WEIGHT:
            return {"tensor": "weight", "index": [parameter.row, parameter.column]}
        return {"tensor": "bias", "index": [parameter.row]}


register(Linear())
