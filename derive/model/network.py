"""The symbolic model of a network: its neurons, parameters, symbols and defining expressions.

Every quantity has one SymPy symbol, named by the quantity (``net_h1``, ``out_o1``, ``w5``), so that
expressions are written in intermediate symbols, as the article writes them, and can be expanded into
the parameters on demand. Net inputs are kept as data (their terms), which is what the renderers
print and what gives each net input's local partials without differentiating anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from derive.model import canonical, expansion
from derive.model import layers as kinds
from derive.model import quantities as Q
from derive.model.modes import BiasMode
from derive.model.registry import Activation
from derive.model.spec import Spec


@dataclass(frozen=True)
class Parameter:
    name: str  # w5, b1
    kind: str  # Q.WEIGHT | Q.BIAS
    layer: int  # the layer whose net inputs it enters (1 = first non-input layer)
    value: sp.Rational
    feeds: tuple[str, ...]  # the neurons whose net input it enters
    sources: tuple[str | None, ...] = ()  # a weight: for each neuron it feeds, the neuron it multiplies there
    row: int = 0  # a weight entering one neuron: its entry of the layer's matrix W (row = destination);
    column: int = 0  # a bias: its entry of the layer's bias vector
    index: int = 0  # its entry of its layer's weight tensor (flat, PyTorch's order) or bias vector

    @property
    def quantity(self) -> Q.Quantity:
        return Q.parameter(self.name)

    @property
    def source(self) -> str | None:
        """The neuron a weight multiplies, where it enters one neuron only (else None)."""
        return self.sources[0] if len(self.sources) == 1 else None

    @property
    def shared(self) -> bool:
        """Whether it enters several net inputs (a convolution's kernel entry, a shared bias)."""
        return len(self.feeds) > 1


@dataclass(frozen=True)
class Term:
    """One term of a net input: ``parameter * factor`` (factor None for a bias), or, in a layer without
    parameters (pooling), ``coefficient * factor``: the local partial d net / d factor (1/n, or the
    indicator of the window's first maximum, in the window's symbols)."""

    parameter: str | None
    factor: Q.Quantity | None  # the input or output the parameter multiplies
    coefficient: sp.Expr = sp.S.One


class Network:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.layers: list[list[str]] = Q.neuron_names(list(spec.layers))
        self.inputs = self.layers[0]
        self.outputs = self.layers[-1]
        self.loss = spec.functions.loss(spec.loss)  # the spec's own functions first, then the registry's
        self._symbols: dict[Q.Quantity, sp.Symbol] = {}
        self.quantity_of: dict[sp.Symbol, Q.Quantity] = {}
        self.parameters: list[Parameter] = []
        self.net_terms: dict[str, list[Term]] = {n: [] for layer in self.layers[1:] for n in layer}
        #: the net inputs that are formulas of other units' outs, not sums of terms (`_local_terms`)
        self.formulas: dict[str, sp.Expr] = {}
        self._number_parameters()

    # -- structure ------------------------------------------------------------------------------
    def _number_parameters(self) -> None:
        """w1..wN layer by layer in the order of each layer's weight tensor (a matrix: by destination,
        then by source); biases after, layer by layer. Each weight enters the net inputs its layer's
        kind connects it to (`Kind.connections`), each bias those of its units (`Kind.bias_units`)."""
        count = 0
        for k in range(1, len(self.layers)):
            below, units = self.exposed(k - 1), self.layers[k]
            values = kinds.flat(self.spec.weights[k - 1])
            reads = below + units  # an input past the layer below is the layer's own (a recurrent one's)
            edges: list[list[tuple[int, int]]] = [[] for _ in values]
            for j, connections in enumerate(kinds.connections(self.typed(k))):
                for i, e in connections:
                    edges[e].append((j, i))
            for e, value in enumerate(values):
                count += 1
                (row, column), = edges[e][:1] or [(0, 0)]
                p = Parameter(Q.weight_name(count), Q.WEIGHT, k, value, tuple(units[j] for j, _ in edges[e]),
                              tuple(reads[i] for _, i in edges[e]), row, column, e)
                self.parameters.append(p)
                for j, i in edges[e]:
                    self.net_terms[units[j]].append(Term(p.name, Q.out(reads[i])))
            if self.sequential(k):  # each unit's terms in the order of its inputs (x_t, then h_(t-1))
                for n in units:
                    self.net_terms[n].sort(key=lambda t: self.layer_of[t.factor.name] if t.factor else k)
        count = 0
        for k in range(1, len(self.layers)):
            if self.spec.bias == BiasMode.SHARED:
                groups: tuple[tuple[int, ...], ...] = (tuple(range(len(self.layers[k]))),)
            elif self.spec.bias == BiasMode.PER_NEURON:
                groups = kinds.bias_units(self.typed(k))
            else:
                groups = ()
            for g, members in enumerate(groups):
                count += 1
                feeds = tuple(self.layers[k][j] for j in members)
                p = Parameter(Q.bias_name(count), Q.BIAS, k, self.spec.biases[k - 1][g], feeds,
                              (None,) * len(feeds), row=g, index=g)
                self.parameters.append(p)
                for n in feeds:
                    self.net_terms[n].append(Term(p.name, None))
        for k in range(1, len(self.layers)):
            combination = self.kind(k).combination
            if combination is not None:
                for unit, window in zip(self.layers[k], combination.windows(self.typed(k)), strict=True):
                    self.net_terms[unit] = self._combined(combination, [self.exposed(k - 1)[i] for i in window])
            if hasattr(self.kind(k), "local_terms"):
                self._local_terms(k)

    def _local_terms(self, k: int) -> None:
        """The units of layer k whose net inputs are formulas of other units' outs (an LSTM's c_t =
        f_t c_(t-1) + i_t g_t and h_t = o_t tanh(c_t)), as their kind writes them (`formulas`): a term
        per input, its coefficient the local partial d net / d input, the formula differentiated in that
        one input (the registry's derivatives: dh_t/dc_t = o_t (1 - tanh^2 c_t))."""
        reads = self.exposed(k - 1) + self.layers[k]
        typed, kind = self.typed(k), self.kind(k)
        for j, unit in enumerate(self.layers[k]):
            local = kind.local_terms(typed, j, lambda i: self.symbol(Q.out(reads[i])))  # type: ignore[attr-defined]
            if local is not None:
                formula, inputs = local
                self.formulas[unit] = formula
                partial = _Partials(formula)
                self.net_terms[unit] = [Term(None, Q.out(reads[i]), partial(self.symbol(Q.out(reads[i]))))
                                        for i in inputs]

    def exposed(self, k: int) -> list[str]:
        """The units of layer k that the layer above reads, in the order its kind's connections number
        them: every unit, but an LSTM's hidden states only (`layers.exposed`)."""
        if k == 0:
            return self.layers[0]
        return [self.layers[k][j] for j in kinds.exposed(self.typed(k))]

    def weighted(self, neuron: str) -> bool:
        """Whether a unit's net input is a weighted sum of its inputs (and a bias), every term a
        parameter's: not a pooling unit's, nor an LSTM's cell or hidden state."""
        return neuron not in self.formulas and all(t.parameter is not None for t in self.net_terms[neuron])

    def _combined(self, combination: kinds.Combination, window: list[str]) -> list[Term]:
        """A unit of a layer without parameters: each input of its window times its local partial."""
        outs = [self.symbol(Q.out(n)) for n in window]
        return [Term(None, Q.out(n), combination.partial(outs, i)) for i, n in enumerate(window)]

    def typed(self, k: int) -> kinds.Typed:
        """Layer k as given (`derive.model.layers.Typed`; 1 = the first non-input layer)."""
        return kinds.typed(self.spec, k)

    def kind(self, k: int) -> kinds.Kind:
        """Layer k's kind (`derive.model.layers`; 1 = the first non-input layer)."""
        return kinds.KINDS[self.typed(k).kind]

    def sequential(self, k: int) -> bool:
        """Whether layer k's units read earlier units of their own layer (a recurrent layer unrolled, a
        normalization's nodes: `layers.sequential`): its units are then computed one after the other
        (net, then out), and their deltas last first."""
        return kinds.sequential(self.typed(k))

    def dense(self, k: int) -> bool:
        """Whether every unit of layer k reads every input through a weight of its own (a linear layer)."""
        weights = [p for p in self.parameters if p.layer == k and p.kind == Q.WEIGHT]
        return len(weights) == len(self.layers[k]) * len(self.layers[k - 1]) and not any(p.shared for p in weights)

    def weight_matrix(self, k: int, own: bool = False) -> tuple[tuple[sp.Rational, ...], ...]:
        """Layer k's weights as the matrix W of z = W a + b [destination][source], whatever the layer's
        kind: an input a unit does not read has a 0, a weight used at several places is at each (the
        matrix form's W; a per-feature layer's is diagonal, a convolution's is a band of its kernels).
        ``own``: the matrix U of a recurrent layer's reads of its own units, z = W a^(l-1) + U a^l + b
        (W_hh at each step, below the diagonal)."""
        sources = self.layers[k] if own else self.layers[k - 1]
        position = {n: j for j, n in enumerate(sources)}
        rows = [[sp.S.Zero] * len(sources) for _ in self.layers[k]]
        for j, n in enumerate(self.layers[k]):
            for t in self.net_terms[n]:
                if t.parameter is not None and t.factor is not None and t.factor.name in position:
                    rows[j][position[t.factor.name]] += self.parameter[t.parameter].value
        return tuple(tuple(row) for row in rows)

    @cached_property
    def parameter(self) -> dict[str, Parameter]:
        return {p.name: p for p in self.parameters}

    @cached_property
    def layer_of(self) -> dict[str, int]:
        return {n: k for k, layer in enumerate(self.layers) for n in layer}

    @property
    def depth(self) -> int:
        """The number of non-input layers (the output layer's index)."""
        return len(self.layers) - 1

    def activation(self, neuron: str) -> Activation:
        """A unit's activation: its layer's, or its own where a kind's units differ (an LSTM's)."""
        k = self.layer_of[neuron]
        names = self._unit_activations[k]
        if names is None:
            return self.layer_activation(k)
        return self.spec.functions.activation(names[self._position[neuron]])

    @cached_property
    def _unit_activations(self) -> list[tuple[str, ...] | None]:
        return [None, *(kinds.unit_activations(self.typed(k), self.spec.activations[k - 1])
                        for k in range(1, len(self.layers)))]

    @cached_property
    def _position(self) -> dict[str, int]:
        return {n: j for layer in self.layers for j, n in enumerate(layer)}

    def layer_activation(self, k: int) -> Activation:
        return self.spec.functions.activation(self.spec.activations[k - 1])

    @cached_property
    def _read_by(self) -> dict[Q.Quantity, list[tuple[str, Term]]]:
        """For each out, the (neuron, term) pairs of the net inputs that read it, in layer order."""
        found: dict[Q.Quantity, list[tuple[str, Term]]] = {}
        for layer in self.layers[1:]:
            for dest in layer:
                for t in self.net_terms[dest]:
                    if t.factor is not None:
                        found.setdefault(t.factor, []).append((dest, t))
        return found

    def reads(self, neuron: str) -> list[tuple[str, Term]]:
        """(next-layer neuron, term) for every net input term that reads ``neuron``'s out: a weighted
        edge, or a pooling window's input."""
        return self._read_by.get(Q.out(neuron), [])

    def local(self, term: Term) -> sp.Expr:
        """d net / d(what ``term`` multiplies): its weight, or its coefficient (a pooling layer's)."""
        return self.symbol(Q.parameter(term.parameter)) if term.parameter is not None else term.coefficient

    def feeds(self, neuron: str) -> list[tuple[str, str]]:
        """(next-layer neuron, weight) for every weighted edge leaving ``neuron``."""
        return [(dest, t.parameter) for dest, t in self.reads(neuron) if t.parameter is not None]

    def knows(self, q: Q.Quantity) -> bool:
        """Whether every neuron and parameter ``q`` names is in this network."""
        if q.is_partial:
            return self.knows(q.subject) and self.knows(q.variable)
        if q.kind == Q.STATE:
            return self.knows(q.subject)
        if q.is_parameter:
            return q.name in self.parameter
        if q.kind in (Q.TARGET, Q.ERROR):
            return q.name in self.outputs
        if q.kind == Q.INPUT:
            return q.name in self.inputs
        if q.neuron is not None:
            return q.name in self.layer_of and self.layer_of[q.name] > 0
        return True

    # -- symbols and expressions ----------------------------------------------------------------
    def symbol(self, quantity: Q.Quantity) -> sp.Symbol:
        """The one symbol of a quantity (real, so SymPy simplifies nothing it should not)."""
        symbol = self._symbols.get(quantity)
        if symbol is None:
            symbol = self._symbols[quantity] = sp.Symbol(str(quantity), real=True)
            self.quantity_of[symbol] = quantity
        return symbol

    def net_expr(self, neuron: str) -> sp.Expr:
        """The net input as the sum of its terms (a pooling unit's: each input times its local partial,
        which is its value, the convention at a tie built in: what ``sympy.diff`` differentiates), or
        its kind's formula (an LSTM's c_t and h_t)."""
        if neuron in self.formulas:
            return self.formulas[neuron]
        return canonical.total([  # sp.Add(*(local * factor ...)), in its canonical form without its search
            canonical.product(self.symbol(Q.parameter(t.parameter)), self.symbol(t.factor))
            if t.parameter is not None and t.factor else
            (self.symbol(Q.parameter(t.parameter)) if t.parameter is not None else t.coefficient)
            * (self.symbol(t.factor) if t.factor else 1)
            for t in self.net_terms[neuron]
        ])

    def net_forms(self, neuron: str) -> tuple[sp.Expr, sp.Expr]:
        """The net input as a textbook writes it, and as it is computed: the sum of its terms, or, in a
        layer without parameters, its kind's (``max(...)``, the mean)."""
        combination = self.kind(self.layer_of[neuron]).combination
        if combination is None:
            expr = self.net_expr(neuron)
            return expr, expr
        window = [self.symbol(t.factor) for t in self.net_terms[neuron] if t.factor is not None]
        return combination.shown(window), combination.compute(window)

    def layer_nets(self, k: int) -> list[sp.Symbol]:
        return [self.symbol(Q.net(n)) for n in self.layers[k]]

    def out_expr(self, neuron: str) -> sp.Expr:
        """out as an unevaluated function of net (of the layer's nets, for a coupled activation)."""
        act = self.activation(neuron)
        if act.couples_layer:
            k = self.layer_of[neuron]
            return act.coupling.out(self.layer_nets(k), self.layers[k].index(neuron))
        return act.out(self.symbol(Q.net(neuron)))

    def error_expr(self, output: str) -> sp.Expr:
        """One output's error term, as a textbook writes it (in target and out)."""
        t, o = self.symbol(Q.target(output)), self.symbol(Q.out(output))
        return self.loss.term(t, o, len(self.outputs))

    def total_expr(self) -> sp.Expr:
        return sp.Add(*(self.symbol(Q.error(o)) for o in self.outputs))

    def definitions(self) -> dict[sp.Symbol, sp.Expr]:
        """Every intermediate symbol and its defining expression in earlier symbols."""
        d: dict[sp.Symbol, sp.Expr] = {}
        for k, layer in enumerate(self.layers[1:], start=1):
            if self.sequential(k):  # unit by unit: a step's net reads the step before's outs
                for n in layer:
                    d[self.symbol(Q.net(n))] = self.net_expr(n)
                    d[self.symbol(Q.out(n))] = self.out_expr(n)
                continue
            for n in layer:  # every net of a layer before any out: a coupled activation reads all of them
                d[self.symbol(Q.net(n))] = self.net_expr(n)
            for n in layer:
                d[self.symbol(Q.out(n))] = self.out_expr(n)
        for o in self.outputs:
            d[self.symbol(Q.error(o))] = self.error_expr(o)
        d[self.symbol(Q.TOTAL_ERROR)] = self.total_expr()
        return d

    def expand(self, expr: sp.Expr, after: sp.Symbol | None = None) -> sp.Expr:
        """``expr`` with every intermediate symbol replaced, down to parameters, inputs and targets
        (with ``after``, only the definitions that come after that symbol's).

        Grows exponentially with depth for wide networks: for display and cross-checks on small ones.
        """
        defs = self.definitions()
        start = list(defs).index(after) + 1 if after in defs else 0
        return expansion.expanded(expr, tuple(defs.items())[start:])

    def nested_total(self) -> sp.Expr:
        """E_total (one sample) as one nested expression in elementary functions only: the input of
        the independent ``sympy.diff`` cross-check, which must not rely on the registry's derivatives.
        Made once a process for each network's definitions (`expansion.nested_total`)."""
        return expansion.nested_total(tuple(self.definitions().items()), self.symbol(Q.TOTAL_ERROR))

    def sample_values(self, sample: int) -> dict[Q.Quantity, sp.Rational]:
        """Exact values of every parameter, input and target for one sample (from 0)."""
        s = self.spec.samples[sample]
        values = {Q.parameter(p.name): p.value for p in self.parameters}
        values.update((Q.out(i), v) for i, v in zip(self.inputs, s.inputs, strict=True))
        values.update((Q.target(o), t) for o, t in zip(self.outputs, s.targets, strict=True))
        return values


class _Partials:
    """``sp.diff(formula, symbol)`` for each symbol a formula reads, the same expressions, where a sum (or a
    number times a sum) differentiates only its terms that read the symbol: a batch's variance is a sum
    over its N samples read by each of them, and differentiating every term for each was N² (a batch of
    400 took 37 s, most of it here)."""

    def __init__(self, formula: sp.Expr):
        self.formula = formula
        coefficient, rest = formula.as_coeff_Mul() if formula.is_Mul else (sp.S.One, formula)
        self.coefficient, self.terms = coefficient, None
        if rest.is_Add and (coefficient is sp.S.One or len(formula.args) == 2):
            self.terms = rest.args
            self.reading: dict = {}
            for j, term in enumerate(rest.args):
                for symbol in term.free_symbols:
                    self.reading.setdefault(symbol, []).append(j)

    def __call__(self, symbol: sp.Symbol) -> sp.Expr:
        if self.terms is None:
            return sp.diff(self.formula, symbol)
        inner = sp.Add(*[self.terms[j].diff(symbol) for j in self.reading.get(symbol, ())])
        return inner if self.coefficient is sp.S.One else self.coefficient * inner
