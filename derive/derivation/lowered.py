"""The network lowered once for the code targets: a short program in a few statement kinds, which each
target prints with its own syntax (`derive.render.walker`; Python, C and NumPy in loop form).

Statement kinds, over vectors named by their kind and layer (``out`` of layer 1 is a^1; ``error`` and
``delta`` of the output layer; ``back`` of layer l is dE/da^l, the deltas of layer l + 1 sent back):

- `Units`: a loop over a layer's units, whose body holds the unit-level statements `Affine` and `Map`
  (a target may print it as one loop, or each body statement as a vector operation);
- `Affine`: the net input, a sum over the layer's inputs, z_j = sum_k W_jk a_k (+ the bias);
- `Map`: an elementwise map, vector_j = expr for every unit j, reading the vectors ``reads``;
- `Rows`: vector_j = expr_j unit by unit (a coupled layer such as softmax);
- `Let`: one scalar assignment for the layer (a temporary);
- `Total`: the sum of a vector (E_total, the sum of the error terms);
- `Propagate`: back = W^T delta, the sum over a layer's units sent to the layer below;
- `Update`: a layer's gradients delta a^T (and its biases'), stored or applied as a step in place.

Straight-line code is the other lowering of the same program (`straight`): the same sections, every
unit's statements unrolled into scalars in the derivation's order: `Sum` (one net input, a sum of
weight * input terms, the bias last), `Let` (one step's quantity) and `Store` (one parameter's
gradient). The form is chosen in one place, `derive.render.targets`.

The program's sections (`Program.forward`, ``error``, ``deltas``, ``backward``) are where every target
puts its early returns (no targets: the outputs; no gradient: the error). Each layer kind contributes
its own statements through `LOWERINGS` (its forward statements, and its backward statements given the
layer below it); the output layer's activation and the loss come from the registry's entries through
`derive.derivation.layers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from derive.derivation import layers as L
from derive.derivation.steps import ERROR, FORWARD, GRADIENTS
from derive.model import quantities as Q


@dataclass(frozen=True)
class Affine:
    layer: L.Layer


@dataclass(frozen=True)
class Map:
    vector: str  # "out", "error", "delta"
    layer: int
    expr: sp.Expr  # in the vector symbols `layers.NET`, `OUT`, `TARGET`, `BACK`
    reads: tuple[str, ...]  # the vectors the map reads, of "net", "out", "target", "back"


@dataclass(frozen=True)
class Units:
    layer: L.Layer
    body: tuple[Affine | Map, ...]


@dataclass(frozen=True)
class Rows:
    vector: str
    layer: int
    exprs: tuple[sp.Expr, ...]  # unit j's value, in the per-unit symbols `layers.indexed`


@dataclass(frozen=True)
class Let:
    name: str
    expr: sp.Expr


@dataclass(frozen=True)
class Total:
    name: str
    vector: str


@dataclass(frozen=True)
class Propagate:
    layer: L.Layer  # back of the layer below = this layer's W^T delta


@dataclass(frozen=True)
class Update:
    layer: L.Layer


@dataclass(frozen=True)
class Sum:
    """A net input as the sum of its terms (`Network.net_terms`: weight * what it multiplies, the bias
    alone), in the spec's order."""

    quantity: object
    terms: tuple


@dataclass(frozen=True)
class Store:
    """One parameter's gradient (``quantity``, dE_total/dp) at ``index`` in PARAMETERS order."""

    quantity: object
    index: int
    expr: sp.Expr


LOOP_KINDS = (Units, Affine, Map, Rows, Let, Total, Propagate, Update)
STRAIGHT_KINDS = (Sum, Let, Store)
Statement = Units | Affine | Map | Rows | Let | Total | Propagate | Update | Sum | Store


@dataclass(frozen=True)
class Lowering:
    """A layer kind's statements: its forward pass, and its backward pass given the layer below it
    (None for the first layer)."""

    forward: Callable[[L.Layer], list[Statement]]
    backward: Callable[[L.Layer, L.Layer | None], list[Statement]]


def _dense_forward(layer: L.Layer) -> list[Statement]:
    body: list[Affine | Map] = [Affine(layer)]
    if layer.out is not None:
        body.append(Map("out", layer.index, layer.out, ("net",)))
    return [Units(layer, tuple(body))]


def _dense_backward(layer: L.Layer, below: L.Layer | None) -> list[Statement]:
    """back and the deltas of the layer below first, then this layer's gradients: a step applied in
    place changes the weights that back reads."""
    statements: list[Statement] = []
    if below is not None:
        statements += [Propagate(layer), Map("delta", below.index, below.delta, ("back", "net", "out"))]
    return [*statements, Update(layer)]


#: layer kind -> its lowering
LOWERINGS: dict[str, Lowering] = {"dense": Lowering(_dense_forward, _dense_backward)}


@dataclass(frozen=True)
class Program:
    layers: tuple[L.Layer, ...]
    forward: tuple[Statement, ...]
    error: tuple[Statement, ...]
    deltas: tuple[Statement, ...]
    backward: tuple[Statement, ...]
    parameters: int

    @property
    def top(self) -> int:
        return len(self.layers)

    @property
    def outputs(self) -> int:
        return self.layers[-1].width


def _output(statements, vector: str, layer: int, reads: tuple[str, ...]) -> list[Statement]:
    """The layer program's output-layer statements in the statement kinds."""
    lowered: list[Statement] = []
    rows = [s for s in statements if s.neuron is not None]
    for s in statements:
        if s.uniform:
            lowered.append(Map(vector, layer, s.expr, reads))
        elif s.neuron is None:
            lowered.append(Let(s.name, s.expr))
        elif s is rows[0]:
            lowered.append(Rows(vector, layer, tuple(r.expr for r in rows)))
    return lowered


def lower(network) -> Program:
    """The network's program, from its shape and registry entries only (`layers.program`)."""
    program = L.program(network)
    top = len(program.layers)
    forward = [s for layer in program.layers for s in LOWERINGS[layer.kind].forward(layer)]
    forward += _output(program.forward, "out", top, ("net",))
    error = [*_output(program.error, "error", top, ("net", "out", "target")), Total("E_total", "error")]
    deltas = _output(program.deltas, "delta", top, ("net", "out", "target"))
    backward = [s for layer in reversed(program.layers)
                for s in LOWERINGS[layer.kind].backward(layer, program.layers[layer.index - 2] if layer.index > 1
                                                        else None)]
    return Program(program.layers, tuple(forward), tuple(error), tuple(deltas), tuple(backward), program.parameters)


def straight(derivation, steps=None) -> Program:
    """The straight-line lowering: each of ``steps`` (default: the kernel's) one scalar statement, in
    order; the sections end where the forward pass and the error end. ``Let.name`` is a quantity."""
    network = derivation.network
    index = {p.name: k for k, p in enumerate(network.parameters)}
    sections: list[list[Statement]] = [[], [], []]
    section, phase = 0, FORWARD
    for step in derivation.kernel if steps is None else steps:
        if step.phase != phase and phase in (FORWARD, ERROR) and section < 2:
            section += 1
        phase = step.phase
        if step.quantity.kind == Q.NET:
            sections[section].append(Sum(step.quantity, tuple(network.net_terms[step.quantity.name])))
        elif step.phase == GRADIENTS:
            sections[section].append(Store(step.quantity, index[step.quantity.wrt.name], step.compute))
        else:
            sections[section].append(Let(step.quantity, step.compute))
    forward, error, rest = (tuple(x) for x in sections)
    return Program((), forward, error, rest, (), len(network.parameters))
