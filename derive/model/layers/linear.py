"""``type = "linear"``: `torch.nn.Linear`, the dense layer. z = W a + b, out = activation(z).

Keys: ``out_features``; ``activation`` (any of the registry or the spec's own, default the identity,
as `torch.nn.Linear` has none); ``weight`` [out_features][in_features]; ``bias`` [out_features] or
"none"; ``in_features`` optional (checked against the layer below). A tensor left out is drawn from
the spec's seed."""

from __future__ import annotations

from derive.escape import quoted
from derive.model import quantities
from derive.model.layers import Read, register
from derive.model.modes import BiasMode
from derive.model.registry import NO_ACTIVATION


class Linear:
    name = "linear"
    keys: tuple[str, ...] = ("type", "in_features", "out_features", "activation", "weight", "bias")

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
        bias = None
        if table.get("bias") == "none":
            bias = BiasMode.NONE
        elif "bias" in table:
            if isinstance(table["bias"], str):
                check.fail(f"{key}.bias = {quoted(table['bias'])} is unknown: give a list of out_features "
                           "numbers, or \"none\"")
            bias = check.vector(table["bias"], f"{key}.bias", width, "out_features is")
        return Read(self.name, width, activation, weight, bias)

    def place(self, layer: int, parameter) -> dict:
        if parameter.kind == quantities.WEIGHT:
            return {"tensor": "weight", "index": [parameter.row, parameter.column]}
        return {"tensor": "bias", "index": [parameter.row]}


register(Linear())
