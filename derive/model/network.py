"""The symbolic model of a network: its neurons, parameters, symbols and defining expressions.

Every quantity has one SymPy symbol, named by the quantity (``net_h1``, ``out_o1``, ``w5``), so that
expressions are written in intermediate symbols, as the article writes them, and can be expanded into
the parameters on demand. Net inputs are kept as data (their terms), which is what the LaTeX renderer
prints and what gives each net input's local partials without differentiating anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from derive.model import naming
from derive.model.registry import ACTIVATIONS, LOSSES, Softmax
from derive.model.spec import Spec


@dataclass(frozen=True)
class Parameter:
    name: str  # w5, b1
    kind: str  # "weight" | "bias"
    layer: int  # the layer whose net inputs it enters (1 = first non-input layer)
    value: sp.Rational
    feeds: tuple[str, ...]  # the neurons whose net input it enters
    source: str | None = None  # for a weight, the neuron its edge starts at


@dataclass(frozen=True)
class Term:
    """One term of a net input: ``parameter * factor`` (factor is 1 for a bias)."""

    parameter: str
    factor: str | None  # quantity multiplied by the parameter (an input or an output), None for a bias


class Network:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.layers: list[list[str]] = naming.neuron_names(list(spec.layers))
        self.inputs = self.layers[0]
        self.outputs = self.layers[-1]
        self.loss = LOSSES[spec.loss]
        self._symbols: dict[str, sp.Symbol] = {}
        self.parameters: list[Parameter] = []
        self.net_terms: dict[str, list[Term]] = {n: [] for layer in self.layers[1:] for n in layer}
        self._number_parameters()

    # -- structure ------------------------------------------------------------------------------
    def _number_parameters(self) -> None:
        """w1..wN layer by layer, by destination, by source; biases after, layer by layer."""
        count = 0
        for k in range(1, len(self.layers)):
            for j, dest in enumerate(self.layers[k]):
                for i, src in enumerate(self.layers[k - 1]):
                    count += 1
                    p = Parameter(f"w{count}", "weight", k, self.spec.weights[k - 1][j][i], (dest,), src)
                    self.parameters.append(p)
                    self.net_terms[dest].append(Term(p.name, naming.out(src)))
        count = 0
        for k in range(1, len(self.layers)):
            groups = [self.layers[k]] if self.spec.bias == "shared" else [[n] for n in self.layers[k]]
            for g, feeds in enumerate(groups):
                count += 1
                p = Parameter(f"b{count}", "bias", k, self.spec.biases[k - 1][g], tuple(feeds))
                self.parameters.append(p)
                for n in feeds:
                    self.net_terms[n].append(Term(p.name, None))

    @cached_property
    def parameter(self) -> dict[str, Parameter]:
        return {p.name: p for p in self.parameters}

    @cached_property
    def layer_of(self) -> dict[str, int]:
        return {n: k for k, layer in enumerate(self.layers) for n in layer}

    def activation(self, neuron: str):
        return ACTIVATIONS[self.spec.activations[self.layer_of[neuron] - 1]]

    def feeds(self, neuron: str) -> list[tuple[str, str]]:
        """(next-layer neuron, weight) for every edge leaving ``neuron``."""
        k = self.layer_of[neuron]
        return [
            (dest, t.parameter)
            for dest in self.layers[k + 1]
            for t in self.net_terms[dest]
            if t.factor == naming.out(neuron)
        ]

    # -- symbols and expressions ----------------------------------------------------------------
    def symbol(self, quantity: str) -> sp.Symbol:
        """The one symbol of a quantity (real, so SymPy simplifies nothing it should not)."""
        if quantity not in self._symbols:
            self._symbols[quantity] = sp.Symbol(quantity, real=True)
        return self._symbols[quantity]

    def net_expr(self, neuron: str) -> sp.Expr:
        return sp.Add(*(
            self.symbol(t.parameter) * (self.symbol(t.factor) if t.factor else 1) for t in self.net_terms[neuron]
        ))

    def out_expr(self, neuron: str) -> sp.Expr:
        act = self.activation(neuron)
        if act.name == "softmax":
            layer = self.layers[self.layer_of[neuron]]
            return Softmax(layer.index(neuron), *(self.symbol(naming.net(n)) for n in layer))
        return act.apply(self.symbol(naming.net(neuron)))

    def error_expr(self, output: str) -> sp.Expr:
        """One output's error term, as the article writes it (in target and out)."""
        t, o = self.symbol(naming.target(output)), self.symbol(naming.out(output))
        return self.loss.term(t, o, len(self.outputs))

    def total_expr(self) -> sp.Expr:
        return sp.Add(*(self.symbol(naming.error(o)) for o in self.outputs))

    def definitions(self) -> dict[sp.Symbol, sp.Expr]:
        """Every intermediate symbol and its defining expression in earlier symbols."""
        d: dict[sp.Symbol, sp.Expr] = {}
        for layer in self.layers[1:]:
            for n in layer:  # every net of a layer before any out: softmax reads all of them
                d[self.symbol(naming.net(n))] = self.net_expr(n)
            for n in layer:
                d[self.symbol(naming.out(n))] = self.out_expr(n)
        for o in self.outputs:
            d[self.symbol(naming.error(o))] = self.error_expr(o)
        d[self.symbol(naming.TOTAL)] = self.total_expr()
        return d

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with every intermediate symbol replaced, down to parameters, inputs and targets.

        Grows exponentially with depth for wide networks: for display and cross-checks on small ones.
        """
        defs = self.definitions()
        order = list(defs)  # forward order: later symbols are defined in terms of earlier ones
        for sym in reversed(order):
            if expr.has(sym):
                expr = expr.xreplace({sym: defs[sym]})
        return expr

    def nested_total(self) -> sp.Expr:
        """E_total (one sample) as one nested expression in elementary functions only: the input of
        the independent ``sympy.diff`` cross-check, which must not rely on the registry's derivatives."""
        return self.expand(self.symbol(naming.TOTAL)).rewrite(sp.exp)

    def sample_values(self, sample: int) -> dict[str, sp.Rational]:
        """Exact values of every parameter, input and target for one sample (from 0)."""
        s = self.spec.samples[sample]
        values = {p.name: p.value for p in self.parameters}
        values.update(zip(self.inputs, s.inputs))
        values.update((naming.target(o), t) for o, t in zip(self.outputs, s.targets))
        return values
