"""The network lowered once for the code targets: a short program in a few statement kinds
(`derive.model.program`), which each target prints with its own syntax (`derive.render.code.walker`;
Python, C and NumPy in loop form).

Straight-line code is the other lowering of the same program (`straight`): the same sections, every
unit's statements unrolled into scalars in the derivation's order: `Sum` (one net input, a sum of
weight * input terms, the bias last), `Let` (one step's quantity) and `Store` (one parameter's
gradient). The form is chosen in one place, `derive.render.code.targets`.

The program's sections (`Program.forward`, ``error``, ``deltas``, ``backward``) are where every target
puts its early returns (no targets: the outputs; no gradient: the error). Each layer kind contributes
its own statements through its ``lowering`` (`derive.model.layers`: its forward statements, and its
backward statements given the layer below it); the output layer's activation and the loss come from
the registry's entries through `derive.derivation.layers`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from derive.derivation import layers as L
from derive.derivation.steps import ERROR, FORWARD, GRADIENTS
from derive.model import quantities as Q
from derive.model.layers import KINDS
from derive.model.program import (  # noqa: F401  (the statement kinds and the unit entries, for the printers)
    BACKS,
    BIAS,
    BIAS_GRADIENTS,
    DELTA,
    INPUT,
    LOOP_KINDS,
    MAX,
    MEAN,
    NET,
    NETS,
    OUT,
    STRAIGHT_KINDS,
    WEIGHT,
    WEIGHT_GRADIENTS,
    Affine,
    Each,
    Gather,
    Layer,
    Let,
    Lowering,
    Map,
    Pool,
    Propagate,
    Recur,
    Rows,
    Scalars,
    Statement,
    Store,
    Sum,
    Total,
    Units,
    Update,
    entries,
)


@dataclass(frozen=True)
class Program:
    layers: tuple[Layer, ...]
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


#: Each network's program, lowered once: every target's renderer (Python, NumPy, C, JavaScript, the page)
#: prints it, and lowering a layer of attention or an LSTM builds its units' scalar backward expressions
#: (a tenth of the time of those kinds' test files was lowering the same network again). Weakly: a
#: network's program goes with it.
_LOWERED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def lower(network) -> Program:
    """The network's program, from its shape and registry entries only (`layers.program`); every
    layer's kind has its loop form (`derive.render.code.loops.lowerable`). Built once per network
    (`_LOWERED`); a `Program` is frozen, its statements too."""
    program = _LOWERED.get(network)
    if program is None:
        program = _LOWERED[network] = _lower(network)
    return program


def _lower(network) -> Program:
    program = L.program(network)
    top = len(program.layers)
    lowering = {layer.kind: KINDS[layer.kind].lowering for layer in program.layers}
    assert all(lowering.values()), f"a kind without a loop form: {[k for k, v in lowering.items() if v is None]}"
    forward = [s for layer in program.layers for s in lowering[layer.kind].forward(layer)]  # type: ignore[union-attr]
    forward += _output(program.forward, "out", top, ("net",))
    error = [*_output(program.error, "error", top, ("net", "out", "target")), Total("E_total", "error")]
    deltas = _output(program.deltas, "delta", top, ("net", "out", "target"))
    below = (None, *program.layers[:-1])
    backward = [s for layer in reversed(program.layers)
                for s in lowering[layer.kind].backward(layer, below[layer.index - 1])]  # type: ignore[union-attr]
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
        if step.quantity.kind == Q.NET and network.weighted(step.quantity.name):
            sections[section].append(Sum(step.quantity, tuple(network.net_terms[step.quantity.name])))
        elif step.phase == GRADIENTS:
            sections[section].append(Store(step.quantity, index[step.quantity.wrt.name], step.compute))
        else:
            sections[section].append(Let(step.quantity, step.compute))
    forward, error, rest = (tuple(x) for x in sections)
    return Program((), forward, error, rest, (), len(network.parameters))
