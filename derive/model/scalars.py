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

import re

import sympy as sp

from derive.model import program as P
from derive.model.entries import activation

_ENTRY = re.compile(r"(?P<vector>[a-z]+)(?P<layer>\d*)\[(?P<index>\d+)\]$")


def entry(vector: str, layer: int | None, index: int) -> sp.Symbol:
    """Entry ``index`` of layer ``layer``'s ``vector`` (z, a, d, back), or of p, q, g (layer None)."""
    return sp.Symbol(f"{vector}{'' if layer is None else layer}[{index}]", real=True)


def parts(symbol: sp.Symbol) -> tuple[str, int | None, int] | None:
    """(vector, layer or None, index) of an `entry` symbol; None for another symbol."""
    m = _ENTRY.match(symbol.name)
    if m is None:
        return None
    return m["vector"], int(m["layer"]) if m["layer"] else None, int(m["index"])


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


def _units(kind, layer: P.Layer):
    """Per unit: its activation, its weighted reads (input, weight entry), its bias entry (-1: none) and
    its formula with the inputs it reads (None: a weighted unit)."""
    from derive.model import layers as kinds

    typed = layer.typed
    assert isinstance(typed, kinds.Typed)  # a layer of the lowered program carries its table's reading
    names = kinds.unit_activations(typed, "") or ()
    bias = [-1] * len(names)
    if layer.biases >= 0:
        for b, units in enumerate(kinds.bias_units(typed)):
            for j in units:
                bias[j] = b
    read = _reads(layer)
    connections = kinds.connections(typed)
    for j, name in enumerate(names):
        local = kind.local_terms(typed, j, lambda i: read("a", i))
        yield activation(name), connections[j], bias[j], local


def _forward(kind, layer: P.Layer) -> P.Scalars:
    k, read, lines = layer.index, _reads(layer), []
    for j, (act, reads, bias, local) in enumerate(_units(kind, layer)):
        if local is not None:
            net = local[0]
        else:
            net = sp.Add(*(entry("p", None, layer.weights + e) * read("a", i) for i, e in reads),
                         *([entry("p", None, layer.biases + bias)] if bias >= 0 else []))
        z = entry("z", k, j)
        lines += [(z, net, False), (entry("a", k, j), act.out(z), False)]
    return P.Scalars(P.NETS, layer, tuple(lines))


def _backward(kind, layer: P.Layer, below: P.Layer | None) -> list[P.Statement]:
    """Last unit first: its delta from dE/dout (the layer above's, and its own later units' added), then
    what it sends to each input; the gradients after (a step in place changes the weights read)."""
    k, read = layer.index, _reads(layer)
    backs: list[tuple[sp.Symbol, sp.Expr, bool]] = []
    gradients: list[tuple[sp.Symbol, sp.Expr, bool]] = []
    units = list(_units(kind, layer))
    for j in reversed(range(len(units))):
        act, reads, bias, local = units[j]
        d = entry("d", k, j)
        backs.append((d, entry("back", k, j) * act.derivative(entry("z", k, j), entry("a", k, j)), False))
        partials = ([(i, sp.diff(local[0], read("a", i))) for i in local[1]] if local is not None
                    else [(i, entry("q", None, layer.weights + e)) for i, e in reads])
        for i, partial in partials:
            if i >= layer.width_in or below is not None:
                backs.append((read("back", i), d * partial, True))
        gradients += [(entry("g", None, layer.weights + e), d * read("a", i), True) for i, e in reads]
        if bias >= 0:
            gradients.append((entry("g", None, layer.biases + bias), d, True))
    sent = [P.Scalars(P.BACKS, layer, tuple(backs), below is not None), *(P.below_deltas(below) if below else [])]
    return [*sent, P.Scalars(P.WEIGHT_GRADIENTS, layer, tuple(gradients))]
