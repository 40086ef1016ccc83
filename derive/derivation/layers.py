"""The layer program: the derivation's kernel for a whole layer at a time, for code in loop form.

Built from the network's shape and its registry entries' hooks only (as `matrix` is), never from the
scalar steps, so it costs the same for 784-32-10 as for 2-2-2 (the scalar derivation of 784-32-10
takes seconds). Each expression is the one the scalar kernel computes for one neuron, in symbols that
stand for a layer's vectors: `NET`, `OUT`, `TARGET`, `BACK` (dE/dout of a hidden neuron, the
propagated sum) for "this neuron's" entry, and per-neuron symbols ``net_j``, ``out_j``, ``target_j``
where a coupled output layer (softmax) reads several. A renderer prints ``uniform`` expressions once
in a loop (or as one vector operation) and the others one neuron at a time.

Layer l computes its nets as its kind says (a linear layer z = W a + b, weights of row j, source k at
``weights + j * width_in + k`` in PARAMETERS order; biases per neuron, shared, or none: its kind's
lowering, `derive.model.layers`), a = f(z); hidden deltas are BACK * f'(z, a).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.model import layers as kinds
from derive.model import quantities as Q
from derive.model.modes import BiasMode
from derive.model.program import BACK, NET, OUT, TARGET, Layer, index_of, indexed


@dataclass(frozen=True)
class Statement:
    """``name = expr`` for one neuron (``neuron`` j) or once for the layer (neuron None); a uniform
    statement (``uniform``) holds for every neuron in the vector symbols."""

    name: str  # "out", "error", "delta", or a temporary's name
    expr: sp.Expr
    neuron: int | None = None
    uniform: bool = False


@dataclass(frozen=True)
class Program:
    layers: tuple[Layer, ...]
    forward: tuple[Statement, ...]  # the output layer's outs (and temporaries)
    error: tuple[Statement, ...]  # each output's error term (name "error"), summed into E_total
    deltas: tuple[Statement, ...]  # the output layer's deltas (and temporaries)
    parameters: int

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].width_in, *(layer.width for layer in self.layers)]


def _temporary_symbol(quantity: Q.Quantity) -> sp.Symbol:
    return sp.Symbol(str(quantity), real=True)


def _statements(name: str, exprs: list[sp.Expr], width: int) -> list[Statement]:
    """One uniform statement where every neuron's expression is the same in the vector symbols,
    else one statement a neuron."""
    vector = [{indexed("net", j): NET, indexed("out", j): OUT, indexed("target", j): TARGET} for j in range(width)]
    generic = [e.xreplace(v) for e, v in zip(exprs, vector, strict=True)]
    if all(g == generic[0] for g in generic) and not any(index_of(s) for s in generic[0].free_symbols):
        return [Statement(name, generic[0], uniform=True)]
    return [Statement(name, e, j) for j, e in enumerate(exprs)]


def _reads(network, k: int) -> tuple[int, ...] | None:
    """The positions of the units of layer k - 1 that layer k reads, where not all of them (an LSTM's
    hidden states)."""
    if k == 1:
        return None
    exposed = kinds.exposed(network.typed(k - 1))
    return exposed if exposed != tuple(range(len(network.layers[k - 1]))) else None


def program(network) -> Program:
    spec = network.spec
    sizes = list(spec.layers)
    index = {p.name: k for k, p in enumerate(network.parameters)}
    layers = []
    for k in range(1, len(sizes)):
        weights = [index[p.name] for p in network.parameters if p.layer == k and p.kind == Q.WEIGHT]
        biases = [p for p in network.parameters if p.layer == k and p.kind == Q.BIAS]
        # the layout the loops rely on, checked rather than assumed: a layer's weights one after the
        # other in PARAMETERS, in its kind's order (`Network.edges`)
        first = weights[0] if weights else 0  # a layer without parameters (pooling) has no weights
        assert weights == list(range(first, first + len(weights)))
        act = network.layer_activation(k)
        hidden = k < len(sizes) - 1
        delta = sp.Mul(BACK, *sp.Mul.make_args(act.derivative(NET, OUT)), evaluate=False) if hidden else None
        layers.append(Layer(k, sizes[k - 1], sizes[k], first, spec.bias if biases else BiasMode.NONE,
                            index[biases[0].name] if biases else -1, act.out(NET) if hidden else None, delta,
                            network.kind(k).name, network.typed(k), network.sequential(k), _reads(network, k)))
    width, act, loss = sizes[-1], network.layer_activation(len(sizes) - 1), network.loss
    nets = [indexed("net", j) for j in range(width)]
    outs = [indexed("out", j) for j in range(width)]
    targets = [indexed("target", j) for j in range(width)]
    forward: list[Statement] = []
    if act.couples_layer:
        for t in act.layer.temporaries(nets, _temporary_symbol):
            forward.append(Statement(str(t.quantity), t.formula if t.compute is None else t.compute))
        forward += _statements("out", [act.layer.compute(nets, j, _temporary_symbol) for j in range(width)], width)
    else:
        forward += _statements("out", [act.out(n) for n in nets], width)
    terms = [loss.compute_term(t, n, o, width, _temporary_symbol).doit()
             for t, n, o in zip(targets, nets, outs, strict=True)]
    error = _statements("error", terms, width)
    deltas: list[Statement] = []
    if loss.fused_delta is not None:
        for t in loss.fused_temporaries(targets) if loss.fused_temporaries else []:
            deltas.append(Statement(str(t.quantity), t.formula if t.compute is None else t.compute))
        exprs = [loss.fused_delta(nets, outs, targets, j, _temporary_symbol) for j in range(width)]
    else:
        d_out = [loss.derivative(t, o, width).doit() for t, o in zip(targets, outs, strict=True)]
        if act.couples_layer:
            exprs = [sp.Add(*(d_out[i] * act.layer.jacobian(outs, i, j) for i in range(width))) for j in range(width)]
        else:
            exprs = [sp.Mul(d_out[j], *sp.Mul.make_args(act.derivative(nets[j], outs[j])), evaluate=False)
                     for j in range(width)]
    deltas += _statements("delta", exprs, width)
    return Program(tuple(layers), tuple(forward), tuple(error), tuple(deltas), len(network.parameters))
