"""The derivation, built once as data: an ordered program of steps for one sample, and, for every
parameter, the chain of factors the article writes out.

Each `Step` defines one quantity by a ``formula`` in earlier symbols, as a textbook writes it, and a
``compute`` form, the same value in a form that never overflows or takes the log of 0 (they differ
only where stability needs it, e.g. binary cross-entropy is computed from net, not from out). Kernel
steps (forward, error, deltas, gradients) are all a gradient needs; display steps hold the article's
named factors (``dout_o1/dnet_o1``). Renderers print these records; the evaluator gives them values.

Derivatives are read off the structure (each net input is linear in its terms; each activation and
loss has its derivative, and its hooks, in the registry), layer by layer, with the deltas
δ = ∂E/∂net, so the cost is linear in the number of parameters: nothing is differentiated as a whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from derive.model import canonical
from derive.model import quantities as Q
from derive.model.modes import Described
from derive.model.network import Network


class Phase(Described):
    """Where a step of the derivation belongs: the kernel's phases in order, then the display's."""

    FORWARD = "forward", "forward pass"
    ERROR = "error", "error"
    OUTPUT_DELTAS = "output deltas", "the output layer's deltas"
    HIDDEN_DELTAS = "hidden deltas", "the hidden layers' deltas, propagated back"
    GRADIENTS = "gradients", "the gradients of the weights and biases"
    DISPLAY = "display", "a chain-rule factor shown in a derivation, computed by no kernel"


FORWARD, ERROR, OUTPUT_DELTAS, HIDDEN_DELTAS, GRADIENTS, DISPLAY = Phase
KERNEL_PHASES = (FORWARD, ERROR, OUTPUT_DELTAS, HIDDEN_DELTAS, GRADIENTS)
#: the phases of the backward pass: the weights they read are the ones the deltas are propagated
#: through (with `optimizers.IN_PLACE`, those of the layers above as already updated)
BACKWARD_PHASES = (OUTPUT_DELTAS, HIDDEN_DELTAS, GRADIENTS, DISPLAY)
_EVALUATED = (ERROR, OUTPUT_DELTAS, DISPLAY)  # phases whose formulas hold the losses' textbook forms


class Forms(Mapping):
    """{sign: form}, each form made by its call (a function and its arguments) when first looked up:
    SymPy takes about a millisecond to build 1/(1 + exp(net)) for one neuron, and the ball evaluator
    asks for a form only where an out saturates."""

    def __init__(self, calls: dict[int, tuple]):
        self._calls = calls
        self._made: dict[int, sp.Expr] = {}

    def __getitem__(self, sign: int) -> sp.Expr:
        if sign not in self._made:
            function, *args = self._calls[sign]
            self._made[sign] = function(*args)
        return self._made[sign]

    def __contains__(self, sign: object) -> bool:  # (Mapping's own would make the form)
        return sign in self._calls

    def __iter__(self) -> Iterator[int]:
        return iter(self._calls)

    def __len__(self) -> int:
        return len(self._calls)


@dataclass(frozen=True)
class Step:
    quantity: Q.Quantity
    symbol: sp.Symbol
    formula: sp.Expr
    compute: sp.Expr
    phase: Phase  # one of KERNEL_PHASES, or DISPLAY
    layer: int = 0


@dataclass(frozen=True)
class Chain:
    """How dE_total/d<parameter> is written out: for each neuron the parameter feeds, the factors
    whose product is that neuron's share (one neuron for a weight; a shared bias sums over several)."""

    parameter: str
    gradient: Q.Quantity  # dE_total/d<parameter>
    shares: tuple[tuple[Q.Quantity, ...], ...]  # per fed neuron: factors, multiplied left to right
    delta_shares: tuple[tuple[str, Q.Quantity | None], ...]  # per fed neuron: (neuron, what the parameter multiplies)


def evaluated(formula: sp.Expr) -> sp.Expr:
    """``formula.doit()``: a product of two distinct plain symbols in SymPy's order (a delta times a
    weight, dE_o/dout_h: 4,096 of them at 64-64-64) is its own, which ``Mul.doit`` builds again."""
    if type(formula) is sp.Mul and len(formula.args) == 2:
        a, b = formula.args
        if type(a) is sp.Symbol and type(b) is sp.Symbol and canonical.product(a, b).args == formula.args:
            return formula
    return formula.doit()


class Derivation:
    def __init__(self, network: Network):
        self.network = network
        self.steps: list[Step] = []
        self._build()

    @cached_property
    def step(self) -> dict[Q.Quantity, Step]:
        return {s.quantity: s for s in self.steps}

    @property
    def kernel(self) -> list[Step]:
        return [s for s in self.steps if s.phase != DISPLAY]

    def sym(self, quantity: Q.Quantity) -> sp.Symbol:
        return self.network.symbol(quantity)

    def _add(self, quantity, formula, phase, compute=None, layer=0) -> sp.Symbol:
        symbol = self.sym(quantity)
        if compute is None:
            compute = evaluated(formula) if phase in _EVALUATED else formula
        self.steps.append(Step(quantity, symbol, formula, compute, phase, layer))
        return symbol

    # -- the program ------------------------------------------------------------------------------
    def _build(self) -> None:
        net = self.network
        for k, layer in enumerate(net.layers[1:], start=1):
            act = net.layer_activation(k)
            if net.sequential(k):  # step by step: a step's net reads the outs of the step before
                for n in layer:
                    self._add(Q.net(n), net.net_expr(n), FORWARD, layer=k)
                    self._add(Q.out(n), net.out_expr(n), FORWARD, layer=k)
                continue
            for n in layer:
                shown, computed = net.net_forms(n)
                self._add(Q.net(n), shown, FORWARD, computed, layer=k)
            if act.couples_layer:
                nets = net.layer_nets(k)
                for t in act.coupling.temporaries(nets, self.sym):
                    self._add(t.quantity, t.formula, FORWARD, t.compute, layer=k)
                for j, n in enumerate(layer):
                    self._add(Q.out(n), net.out_expr(n), FORWARD, act.coupling.compute(nets, j, self.sym), layer=k)
            else:
                for n in layer:
                    self._add(Q.out(n), net.out_expr(n), FORWARD, layer=k)
        L = net.depth
        for o in net.outputs:
            t, out, n = self.sym(Q.target(o)), self.sym(Q.out(o)), self.sym(Q.net(o))
            compute = net.loss.compute_term(t, n, out, len(net.outputs), self.sym).doit()
            self._add(Q.error(o), net.error_expr(o), ERROR, compute, layer=L)
        self._add(Q.TOTAL_ERROR, net.total_expr(), ERROR, layer=L)
        self._output_deltas()
        for k in range(L - 1, 0, -1):
            self._hidden_deltas(k)
        for p in net.parameters:
            self._add(Q.gradient(p.name), self._gradient_formula(p), GRADIENTS, layer=p.layer)
        for p in net.parameters:
            for n in p.feeds:
                self._add(Q.partial(Q.net(n), p.quantity), self._net_factor(n, p.name), DISPLAY, layer=p.layer)

    def _net_factor(self, neuron: str, parameter: str) -> sp.Expr:
        """dnet_n/dparameter, read off the net input's terms: the factor multiplying the parameter."""
        return self._factors[neuron].get(parameter, sp.S.Zero)

    @cached_property
    def _factors(self) -> dict[str, dict[str | None, sp.Expr]]:
        """Each net input's factor of each of its parameters (a search of a 677-term net input per
        parameter was quadratic in a convolution's fan-in)."""
        found: dict[str, dict[str | None, sp.Expr]] = {}
        for n, terms in self.network.net_terms.items():
            factors = found[n] = {}
            for t in terms:
                factors.setdefault(t.parameter, self.sym(t.factor) if t.factor else sp.S.One)
        return found

    def _output_deltas(self) -> None:
        """delta_j = Σ_i dE/dout_i · dout_i/dnet_j (one term for an elementwise activation), or the
        simplified form the loss gives with the activation it is fused with."""
        net = self.network
        L = net.depth
        act, loss = net.layer_activation(L), net.loss
        nets = [self.sym(Q.net(o)) for o in net.outputs]
        outs = [self.sym(Q.out(o)) for o in net.outputs]
        targets = [self.sym(Q.target(o)) for o in net.outputs]
        d_out = [loss.derivative(t, o, len(outs)) for t, o in zip(targets, outs, strict=True)]  # as written
        d_out_value = [d.doit() for d in d_out]  # evaluated, for the compute forms
        fused = loss.fused_delta is not None
        for t in (loss.fused_temporaries(targets) if fused and loss.fused_temporaries else []):
            self._add(t.quantity, t.formula, OUTPUT_DELTAS, t.compute, layer=L)
        d_out_sym = [
            self._add(Q.partial(Q.TOTAL_ERROR, Q.out(o)), d, DISPLAY, layer=L)
            for o, d in zip(net.outputs, d_out, strict=True)
        ]
        for j, o in enumerate(net.outputs):
            if act.couples_layer:
                jac = [act.coupling.jacobian(outs, i, j) for i in range(len(outs))]
                factors = [
                    self._add(Q.partial(Q.out(oi), Q.net(o)), jac[i], DISPLAY, layer=L)
                    for i, oi in enumerate(net.outputs)
                ]
                formula = sp.Add(*(d * f for d, f in zip(d_out_sym, factors, strict=True)), evaluate=False)
                compute = sp.Add(*(d * f for d, f in zip(d_out_value, jac, strict=True)))
            else:
                derivative = act.derivative(self.sym(Q.net(o)), outs[j])
                factor = self._add(Q.partial(Q.out(o), Q.net(o)), derivative, DISPLAY, layer=L)
                formula = d_out_sym[j] * factor
                compute = sp.Mul(d_out_value[j], *sp.Mul.make_args(derivative), evaluate=False)  # the textbook's order
            if loss.fused_delta is not None:  # fused
                compute = loss.fused_delta(nets, outs, targets, j, self.sym)
            delta = self._add(Q.delta(o), formula, OUTPUT_DELTAS, compute, layer=L)
            if not act.couples_layer:  # E_oj depends on net_oj only through out_oj: dE_o1/dnet_o1 is delta_o1
                self._add(Q.partial(Q.error(o), Q.net(o)), delta, DISPLAY, layer=L)

    def _hidden_deltas(self, k: int) -> None:
        """dE/dout_h = Σ_j delta_j · w_jh over the neurons h feeds (a pooling unit's local partial in
        place of w_jh); then delta_h as for an output."""
        net = self.network
        elementwise_outputs = not net.layer_activation(net.depth).couples_layer
        # a recurrent layer's last step first: its units' deltas reach back to the step before
        for h in reversed(net.layers[k]) if net.sequential(k) else net.layers[k]:
            contributions, computed = [], []
            for dest, term in net.reads(h):
                w = net.local(term)
                factor = self._add(Q.partial(Q.net(dest), Q.out(h)), w, DISPLAY, w, layer=k + 1)
                # a weight is written as itself; a pooling unit's local partial by its name (its
                # derivation is that factor's), computed as its expression
                contribution = canonical.product(self.sym(Q.delta(dest)), w if term.parameter is not None else factor)
                if dest in net.outputs and elementwise_outputs:
                    # E_oj depends on out_h only through net_oj: the article's dE_o1/dout_h1.
                    self._add(Q.partial(Q.error(dest), Q.out(h)), contribution, DISPLAY, layer=k + 1)
                contributions.append(contribution)
                computed.append(canonical.product(self.sym(Q.delta(dest)), w))
            d_out = self._add(Q.partial(Q.TOTAL_ERROR, Q.out(h)), canonical.total(contributions), HIDDEN_DELTAS,
                              canonical.total(computed), layer=k)
            derivative = net.activation(h).derivative(self.sym(Q.net(h)), self.sym(Q.out(h)))
            d_act = self._add(Q.partial(Q.out(h), Q.net(h)), derivative, DISPLAY, layer=k)
            compute = sp.Mul(d_out, *sp.Mul.make_args(derivative), evaluate=False)
            self._add(Q.delta(h), d_out * d_act, HIDDEN_DELTAS, compute, layer=k)

    def _gradient_formula(self, p) -> sp.Expr:
        return canonical.total([canonical.product(self.sym(Q.delta(n)), self._net_factor(n, p.name)) for n in p.feeds])

    @cached_property
    def complements(self) -> dict[sp.Symbol, Forms]:
        """out -> {-1: 1 - out, +1: 1 + out} in the registry's forms without cancellation, in earlier
        symbols: what the ball evaluator computes where out saturates (1 - sigma(net) at net = 2e12).
        Each form is built when first asked for (`Forms`): most values never saturate."""
        net, found = self.network, {}
        for k, layer in enumerate(net.layers[1:], start=1):
            act = net.layer_activation(k)
            nets = net.layer_nets(k)
            for j, n in enumerate(layer):
                forms: dict[int, tuple] = {}
                if act.couples_layer:
                    if act.coupling.complement is not None:
                        forms[-1] = (act.coupling.complement, nets, j, self.sym)
                elif act.function is not None:
                    for sign, name in ((-1, "one_minus"), (1, "one_plus")):
                        hook = getattr(act.function, name, None)
                        if hook is not None:
                            forms[sign] = (hook, self.sym(Q.net(n)))
                if forms:
                    found[self.sym(Q.out(n))] = Forms(forms)
        return found

    # -- the article's chains ---------------------------------------------------------------------
    @cached_property
    def chains(self) -> dict[str, Chain]:
        net = self.network
        chains = {}
        for p in net.parameters:
            shares: list[tuple[Q.Quantity, ...]] = []
            delta_shares: list[tuple[str, Q.Quantity | None]] = []
            for n, source in zip(p.feeds, p.sources, strict=True):
                factor = Q.partial(Q.net(n), p.quantity)
                if net.activation(n).couples_layer:
                    shares.append((Q.delta(n), factor))
                else:
                    shares.append((Q.partial(Q.TOTAL_ERROR, Q.out(n)), Q.partial(Q.out(n), Q.net(n)), factor))
                delta_shares.append((n, Q.out(source) if source else None))
            chains[p.name] = Chain(p.name, Q.gradient(p.name), tuple(shares), tuple(delta_shares))
        return chains

    # -- symbolic forms for users -----------------------------------------------------------------
    def gradient(self, parameter: str) -> sp.Expr:
        """dE_total/d<parameter> for one sample, in intermediate symbols (deltas and outputs)."""
        return self.step[Q.gradient(parameter)].formula

    def in_kernel_symbols(self, quantity: Q.Quantity) -> sp.Expr:
        """A quantity written with the compute forms substituted down to forward quantities."""
        subs = {s.symbol: s.compute for s in self.steps if s.phase in (OUTPUT_DELTAS, HIDDEN_DELTAS)}
        expr = self.step[quantity].compute
        for s in reversed([s for s in self.steps if s.symbol in subs]):
            expr = expr.xreplace({s.symbol: subs[s.symbol]})
        return expr

    def expanded_gradient(self, parameter: str) -> sp.Expr:
        """dE_total/d<parameter> for one sample, fully expanded in parameters, inputs and targets
        (small networks only: this is the nested expression the chain rule avoids)."""
        return self.network.expand(self.in_kernel_symbols(Q.gradient(parameter)))
