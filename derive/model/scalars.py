"""A layer lowered unit by unit (`derive.model.program.Scalars`): the loop form of a kind whose units are
not one operation over the layer (an LSTM's gates, cell and hidden states), written once from what
the kind already says, its connections, its units' formulas and activations, so that every code
target prints it with no code of the kind's own.

Each line assigns (or adds to) one entry of a vector: ``z{k}[j]``, ``a{k}[j]`` (layer k's nets and
outs), ``d{k}[j]`` (its deltas), ``back{k}[j]`` (dE/dout sent back to it), ``p[e]`` (a parameter),
``q[e]`` (a parameter as the backward pass reads it), ``g[e]`` (a gradient): symbols named so, which
a target prints as they are or renames (`entry`).
"""

from __future__ import annotations

import dataclasses
import math
import re

import sympy as sp

from derive.model import program as P
from derive.model.entries import activation

_ENTRY = re.compile(r"(?P<vector>[a-z]+)(?P<layer>\d*)\[(?P<index>[^\]]+)\]$")


def entry(vector: str, layer: int | None, index: int) -> sp.Symbol:
    """Entry ``index`` of layer ``layer``'s ``vector`` (z, a, d, back), or of p, q, g (layer None)."""
    return sp.Symbol(f"{vector}{'' if layer is None else layer}[{index}]", real=True)


def parts(symbol: sp.Symbol) -> tuple[str, int | None, str] | None:
    """(vector, layer or None, index: a number, or in the step t) of an `entry` symbol; None for
    another symbol."""
    m = _ENTRY.match(symbol.name)
    if m is None:
        return None
    return m["vector"], int(m["layer"]) if m["layer"] else None, m["index"]


def lowering(kind) -> P.Lowering:
    """The unit-by-unit lowering of ``kind`` (its connections, bias units, local terms and unit
    activations, `derive.model.layers.kind`)."""
    return P.Lowering(lambda layer: [_forward(kind, layer)], lambda layer, below: _backward(kind, layer, below))


def _reads(layer: P.Layer):
    """How layer k reads input i: an entry of the layer below's outs (through the positions it reads,
    `Layer.reads`), or of its own (an input past the layer below's)."""
    k, typed = layer.index, layer.typed
    below = layer.reads or tuple(range(layer.width_in))

    def read(vector: str, i: int) -> sp.Symbol:
        width_in = typed.width_in  # type: ignore[attr-defined]
        return entry(vector, k, i - width_in) if i >= width_in else entry(vector, k - 1, below[i])
    return read


def _units(kind, layer: P.Layer) -> list:
    """Per unit: its activation, its weighted reads (input, weight entry), its bias entry (-1: none) and
    its formula with the inputs it reads (None: a weighted unit)."""
    from derive.model import layers as kinds

    typed = layer.typed
    assert isinstance(typed, kinds.Typed)  # a layer of the lowered program carries its table's reading
    names = kinds.unit_activations(typed, "")  # a kind lowered unit by unit names each unit's (the name
    assert names is not None, typed.kind  # given is not read: an rnn's is in its settings with an initial state)
    bias = [-1] * len(names)
    if layer.biases >= 0:
        for b, units in enumerate(kinds.bias_units(typed)):
            for j in units:
                bias[j] = b
    read = _reads(layer)
    connections = kinds.connections(typed)
    return [(activation(name), connections[j], bias[j], kind.local_terms(typed, j, lambda i: read("a", i)))
            for j, name in enumerate(names)]


class _Unit:
    """One unit's lines: its forward (net, out), its backward (delta, what it sends back) and its
    gradients, in `entry` symbols."""

    def __init__(self, layer: P.Layer, below: bool, j: int, act, reads, bias: int, local):
        self.layer, self.below, self.j = layer, below, j
        self.act, self.reads, self.bias, self.local = act, reads, bias, local

    def forward(self) -> list:
        layer, read, k, j = self.layer, _reads(self.layer), self.layer.index, self.j
        if self.local is not None:
            net = self.local[0]
        else:
            net = sp.Add(*(entry("p", None, layer.weights + e) * read("a", i) for i, e in self.reads),
                         *([entry("p", None, layer.biases + self.bias)] if self.bias >= 0 else []))
        z = entry("z", k, j)
        return [(z, net, False), (entry("a", k, j), self.act.out(z), False)]

    def backward(self) -> list:
        """Its delta from dE/dout (the layer above's, and its own later units' added), then what it sends
        to each input (its own layer's earlier units; the layer below's, where there is one)."""
        layer, read, k, j = self.layer, _reads(self.layer), self.layer.index, self.j
        d = entry("d", k, j)
        lines = [(d, entry("back", k, j) * self.act.derivative(entry("z", k, j), entry("a", k, j)), False)]
        partials = ([(i, sp.diff(self.local[0], read("a", i))) for i in self.local[1]] if self.local is not None
                    else [(i, entry("q", None, layer.weights + e)) for i, e in self.reads])
        return lines + [(read("back", i), d * partial, True) for i, partial in partials
                        if i >= layer.width_in or self.below]

    def gradients(self) -> list:
        layer, read, d = self.layer, _reads(self.layer), entry("d", self.layer.index, self.j)
        lines = [(entry("g", None, layer.weights + e), d * read("a", i), True) for i, e in self.reads]
        return lines + ([(entry("g", None, layer.biases + self.bias), d, True)] if self.bias >= 0 else [])


def _per_step(kind, layer: P.Layer, below: bool) -> tuple[list[_Unit], list[list[_Unit]], int, int]:
    """The layer's units before its first step (an initial state's: `initial_units`), its units step by
    step (one step: every unit), and the strides of its own and of the layer below's positions from one
    step to the next."""
    units = [_Unit(layer, below, j, *unit) for j, unit in enumerate(_units(kind, layer))]
    typed = layer.typed
    from derive.model import layers as kinds

    first = kinds.initial_units(typed)  # type: ignore[arg-type]
    initial, units = units[:first], units[first:]
    steps = typed.shape[0] if getattr(kind, "recurrent", False) else 1  # type: ignore[attr-defined]
    period = len(units) // steps
    position = layer.reads or range(layer.width_in)
    features = layer.width_in // steps if layer.reads is None else len(position) // steps
    stride = position[features] - position[0] if steps > 1 else 0
    return initial, [units[t * period:(t + 1) * period] for t in range(steps)], period, stride


_INDEX = re.compile(r"(?P<vector>[a-z]+)(?P<layer>\d*)\[(?P<index>-?\d+)\]$")


def _template(lines: list, k: int, period: int, stride: int, at: int) -> list:
    """Step ``at``'s lines written for any step (the targets' loop variable ``step``): an entry of its own
    layer's at index n as n + period (step - at), of the layer below's as n + stride (step - at); the
    parameters' as they are."""
    def moved(symbol: sp.Symbol) -> sp.Symbol:
        m = _INDEX.match(symbol.name)
        if m is None or not m["layer"]:
            return symbol
        step = period if int(m["layer"]) == k else stride
        offset = int(m["index"]) - step * at
        index = f"{step}*step" + (f" + {offset}" if offset > 0 else f" - {-offset}" if offset < 0 else "")
        return sp.Symbol(f"{m['vector']}{m['layer']}[{index}]", real=True)

    def shifted(expr: sp.Expr) -> sp.Expr:
        return expr.xreplace({s: moved(s) for s in expr.free_symbols})
    return [(moved(target), shifted(value), add) for target, value, add in lines]


def _scalars(into: str, layer: P.Layer, initial, per_step, lines_of, period: int, stride: int, below: bool = False):
    """A statement of the layer's lines: its initial units' and step 0's, and a general step's written
    once for t = 1 .. T - 1 (checked against step 2's, where there is one), or every step's where its
    steps are not alike. The initial units come first forward, last backward."""
    k, steps = layer.index, len(per_step)
    head = [line for unit in initial for line in lines_of(unit)]
    step_lines = [[line for unit in units for line in lines_of(unit)] for units in per_step[:3]]

    def with_initial(lines: list) -> tuple:
        return tuple(lines + head if into == P.BACKS else head + lines)
    if steps >= 3 and _template(step_lines[1], k, period, stride, 1) == _template(step_lines[2], k, period, stride, 2):
        template = tuple(_template(step_lines[1], k, period, stride, 1))
        return P.Scalars(into, layer, with_initial(step_lines[0]), below, template, steps)
    order = reversed(per_step) if into == P.BACKS else per_step  # every step's: the last first, backward
    return P.Scalars(into, layer, with_initial([line for units in order for unit in units for line in lines_of(unit)]),
                     below)


def _forward(kind, layer: P.Layer) -> P.Scalars:
    initial, per_step, period, stride = _per_step(kind, layer, False)
    return _scalars(P.NETS, layer, initial, per_step, _Unit.forward, period, stride)


def _backward(kind, layer: P.Layer, below: P.Layer | None) -> list[P.Statement]:
    """Last unit first (a step's units backward, last step first: the printers run the template's steps
    backward); the gradients after (a step in place changes the weights the vector sent back reads)."""
    initial, per_step, period, stride = _per_step(kind, layer, below is not None)
    backward = [list(reversed(units)) for units in per_step]
    backs = _scalars(P.BACKS, layer, list(reversed(initial)), backward, _Unit.backward, period, stride,
                     below is not None)
    sent = [backs, *(P.below_deltas(below) if below else [])]
    gradients = _scalars(P.WEIGHT_GRADIENTS, layer, initial, per_step, _Unit.gradients, period, stride)
    lines = _zeros(layer) + gradients.lines
    return [*sent, dataclasses.replace(gradients, lines=lines)] if lines else sent  # none: no parameters


def _zeros(layer: P.Layer) -> tuple:
    """Every gradient entry of the layer set to 0 first (lines not added): a weight no step reads (W_hh over
    one step, h_0 = 0) has gradient 0, and a target whose gradient vector is not zeroed must say so."""
    from derive.model import layers as kinds

    typed = layer.typed
    assert isinstance(typed, kinds.Typed)
    weights = sum(math.prod(shape) for shape in kinds.tensors(typed))
    biases = len(kinds.bias_units(typed)) if layer.biases >= 0 else 0
    entries = [*range(layer.weights, layer.weights + weights), *range(layer.biases, layer.biases + biases)]
    return tuple((entry("g", None, e), sp.S.Zero, False) for e in entries)
