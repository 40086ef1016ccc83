"""A toy layer kind, ``type = "scale"``, kept in the test suite: unit j multiplies input j by its own
weight and adds its own bias, z_j = w_j a_j + b_j, out_j = activation(z_j) (a per-feature scale, as
the affine part of `torch.nn.LayerNorm` is: tensors ``weight`` [features] and ``bias`` [features]).

It is not a kind of the package. It is here to prove that a layer kind is one module and one
registration: everything below is all it takes for every command to handle it
(tests/test_layer_kind.py). Its backward pass in the textbook's form (dE/dw_j = delta_j a_j,
dE/da_j = delta_j w_j), its diagram (one edge per unit), its checks and its grader's slips follow
from its edges, as a linear layer's do.
"""

from __future__ import annotations

import math

from derive.model import program as P
from derive.model import quantities
from derive.model.layers import KINDS, Read, Slip, Typed, read_bias, register
from derive.model.registry import NO_ACTIVATION


def _forward(layer: P.Layer) -> list[P.Statement]:
    net = P.WEIGHT * P.INPUT + (P.BIAS if layer.biases >= 0 else 0)
    body: list[P.Affine | P.Each | P.Map] = [P.Each(P.NETS, layer, net)]
    if layer.out is not None:
        body.append(P.Map("out", layer.index, layer.out, ("net",)))
    return [P.Units(layer, tuple(body))]


def _backward(layer: P.Layer, below: P.Layer | None) -> list[P.Statement]:
    statements: list[P.Statement] = []
    if below is not None:
        statements += [P.Each(P.BACKS, layer, P.WEIGHT * P.DELTA), *P.below_deltas(below)]
    statements.append(P.Each(P.WEIGHT_GRADIENTS, layer, P.DELTA * P.INPUT))
    if layer.biases >= 0:
        statements.append(P.Each(P.BIAS_GRADIENTS, layer, P.DELTA))
    return statements


class Scale:
    name = "scale"
    keys: tuple[str, ...] = ("type", "activation", "weight", "bias")
    lowering = P.Lowering(_forward, _backward)
    combination = None

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        width = math.prod(shape_in)
        weight = check.vector(table["weight"], f"{key}.weight", width, "the layer below gives") \
            if "weight" in table else None
        return Read(Typed(self.name, (width,), (width,)), table.get("activation", NO_ACTIVATION), weight,
                    read_bias(table, key, width, "features", check))

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        return (layer.width,)

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        return tuple(((j, j),) for j in range(layer.width))

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        return tuple((j,) for j in range(layer.width))

    def table(self, layer: Typed, activation: str, weight: tuple) -> dict:
        return {"activation": activation, "weight": list(weight)}

    def slips(self, layer: Typed, parameters: list) -> list[Slip]:
        """The scale left out of what is sent back: dE/da_j taken as delta_j (as if the layer passed
        its deltas through unchanged)."""
        weights = {p.name: 1 for p in parameters if p.kind == quantities.WEIGHT}
        layer = parameters[0].layer
        return [Slip(f"scale_not_sent_back_{layer}", f"the scale weights of layer {layer} left out of the "
                     "backward pass (dE/dout below taken as the deltas themselves)", weights)]


def install() -> Scale:
    """Register the kind (once per process)."""
    return KINDS.get("scale") or register(Scale())  # type: ignore[return-value]


def uninstall() -> None:
    KINDS.pop("scale", None)
