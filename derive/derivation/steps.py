"""The derivation, built once as data: an ordered program of steps for one sample, and, for every
parameter, the chain of factors the article writes out.

Each `Step` defines one quantity by a ``formula`` in earlier symbols, as a textbook writes it, and a
``compute`` form, the same value in a form that never overflows or takes the log of 0 (they differ
only where stability needs it, e.g. binary cross-entropy is computed from net, not from out). Kernel
steps (forward, error, deltas, gradients) are all a gradient needs; display steps hold the article's
named factors (``dout_o1/dnet_o1``). Renderers print these records; the evaluator gives them values.

Derivatives are read off the structure (each net input is linear in its terms; each activation and
loss has its derivative in the registry), layer by layer, with the deltas δ = ∂E/∂net, so the cost is
linear in the number of parameters: nothing is differentiated as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from derive.model import naming
from derive.model.network import Network
from derive.model.registry import LogSumExp, stable_error_term

KERNEL_PHASES = ("forward", "error", "output deltas", "hidden deltas", "gradients")


@dataclass(frozen=True)
class Step:
    quantity: str
    symbol: sp.Symbol
    formula: sp.Expr
    compute: sp.Expr
    phase: str  # one of KERNEL_PHASES, or "display"
    layer: int = 0


@dataclass(frozen=True)
class Chain:
    """How dE_total/d<parameter> is written out: for each neuron the parameter feeds, the factors
    whose product is that neuron's share (one neuron for a weight; a shared bias sums over several)."""

    parameter: str
    gradient: str  # the quantity dE_total/d<parameter>
    shares: tuple[tuple[str, ...], ...]  # per fed neuron: factor quantities, multiplied left to right
    delta_shares: tuple[tuple[str, str | None], ...]  # per fed neuron: (delta, out of source or None)


class Derivation:
    def __init__(self, network: Network):
        self.network = network
        self.steps: list[Step] = []
        self._build()

    @cached_property
    def step(self) -> dict[str, Step]:
        return {s.quantity: s for s in self.steps}

    @property
    def kernel(self) -> list[Step]:
        return [s for s in self.steps if s.phase != "display"]

    def sym(self, quantity: str) -> sp.Symbol:
        return self.network.symbol(quantity)

    def _add(self, quantity, formula, phase, compute=None, layer=0) -> sp.Symbol:
        symbol = self.sym(quantity)
        compute = formula if compute is None else compute
        if phase in ("error", "output deltas", "display"):  # where the losses' textbook forms enter
            compute = compute.doit()  # canonical: fewest operations
        self.steps.append(Step(quantity, symbol, formula, compute, phase, layer))
        return symbol

    # -- the program ------------------------------------------------------------------------------
    def _build(self) -> None:
        net = self.network
        L = len(net.layers) - 1
        nets = [self.sym(naming.net(o)) for o in net.outputs]
        softmax = net.activation(net.outputs[0]).name == "softmax"
        for k, layer in enumerate(net.layers[1:], start=1):
            for n in layer:
                self._add(naming.net(n), net.net_expr(n), "forward", layer=k)
            if k == L and softmax:  # out_j = e^(net_j - lse): no exponential can overflow
                lse = self._add(naming.LOGSUMEXP, LogSumExp(*nets), "forward", layer=k)
            for n in layer:
                compute = sp.exp(self.sym(naming.net(n)) - lse) if k == L and softmax else None
                self._add(naming.out(n), net.out_expr(n), "forward", compute, layer=k)
        for j, o in enumerate(net.outputs):
            t, out = self.sym(naming.target(o)), self.sym(naming.out(o))
            compute = stable_error_term(net.loss, t, nets[j], self.sym(naming.LOGSUMEXP), out, len(nets))
            self._add(naming.error(o), net.error_expr(o), "error", compute, layer=L)
        self._add(naming.TOTAL, net.total_expr(), "error", layer=L)
        self._output_deltas()
        for k in range(L - 1, 0, -1):
            self._hidden_deltas(k)
        for p in net.parameters:
            self._add(naming.partial(naming.TOTAL, p.name), self._gradient_formula(p), "gradients", layer=p.layer)
        for p in net.parameters:
            for n in p.feeds:
                factor = self._net_factor(n, p.name)
                self._add(naming.partial(naming.net(n), p.name), factor, "display", layer=p.layer)

    def _net_factor(self, neuron: str, parameter: str) -> sp.Expr:
        """dnet_n/dparameter, read off the net input's terms: the factor multiplying the parameter."""
        for t in self.network.net_terms[neuron]:
            if t.parameter == parameter:
                return self.sym(t.factor) if t.factor else sp.S.One
        return sp.S.Zero


    def _output_deltas(self) -> None:
        net = self.network
        L = len(net.layers) - 1
        outs = [self.sym(naming.out(o)) for o in net.outputs]
        nets = [self.sym(naming.net(o)) for o in net.outputs]
        targets = [self.sym(naming.target(o)) for o in net.outputs]
        d_out = [net.loss.dterm(t, o, len(outs)) for t, o in zip(targets, outs)]  # as written
        d_out_value = [d.doit() for d in d_out]  # evaluated, for the compute forms
        fused = net.loss.requires is not None  # logistic + BCE, softmax + CE
        if net.activation(net.outputs[0]).name == "softmax":
            if fused:  # delta_j = out_j * Σ_k target_k - target_j: the sum once, not once per output
                target_sum = self._add(naming.TARGET_SUM, sp.Add(*targets), "output deltas", layer=L)
            for i, oi in enumerate(net.outputs):
                self._add(naming.partial(naming.TOTAL, naming.out(oi)), d_out[i], "display", layer=L)
            for j, o in enumerate(net.outputs):
                for i, oi in enumerate(net.outputs):
                    jac = outs[i] * ((1 if i == j else 0) - outs[j])
                    self._add(naming.partial(naming.out(oi), naming.net(o)), jac, "display", layer=L)
                formula = sp.Add(*(
                    self.sym(naming.partial(naming.TOTAL, naming.out(oi))) * self.sym(naming.partial(naming.out(oi), naming.net(o)))
                    for oi in net.outputs
                ), evaluate=False)
                if fused:
                    compute = outs[j] * target_sum - targets[j]
                else:
                    compute = sp.Add(*(d_out_value[i] * outs[i] * ((1 if i == j else 0) - outs[j]) for i in range(len(outs))))
                self._add(naming.delta(o), formula, "output deltas", compute, layer=L)
            return
        for j, o in enumerate(net.outputs):
            derivative = net.activation(o).derivative(nets[j], outs[j])
            d_out_sym = self._add(naming.partial(naming.TOTAL, naming.out(o)), d_out[j], "display", layer=L)
            d_act = self._add(naming.partial(naming.out(o), naming.net(o)), derivative, "display", layer=L)
            compute = outs[j] - targets[j] if fused else d_out_value[j] * derivative
            delta = self._add(naming.delta(o), d_out_sym * d_act, "output deltas", compute, layer=L)
            # E_oj depends on net_oj only through out_oj: the article's dE_o1/dnet_o1 is delta_o1.
            self._add(naming.partial(naming.error(o), naming.net(o)), delta, "display", layer=L)

    def _hidden_deltas(self, k: int) -> None:
        """dE/dout_h = Σ_j delta_j · w_jh over the neurons h feeds; then delta_h as for an output."""
        net = self.network
        for h in net.layers[k]:
            contributions = []
            for dest, weight in net.feeds(h):
                self._add(naming.partial(naming.net(dest), naming.out(h)), self.sym(weight), "display", layer=k + 1)
                contribution = self.sym(naming.delta(dest)) * self.sym(weight)
                if dest in net.outputs and net.loss.requires != "softmax" and net.activation(dest).name != "softmax":
                    # E_oj depends on out_h only through net_oj: the article's dE_o1/dout_h1.
                    self._add(naming.partial(naming.error(dest), naming.out(h)), contribution, "display", layer=k + 1)
                contributions.append(contribution)
            d_out = self._add(naming.partial(naming.TOTAL, naming.out(h)), sp.Add(*contributions), "hidden deltas", layer=k)
            derivative = net.activation(h).derivative(self.sym(naming.net(h)), self.sym(naming.out(h)))
            d_act = self._add(naming.partial(naming.out(h), naming.net(h)), derivative, "display", layer=k)
            self._add(naming.delta(h), d_out * d_act, "hidden deltas", d_out * derivative, layer=k)

    def _gradient_formula(self, p) -> sp.Expr:
        return sp.Add(*(self.sym(naming.delta(n)) * self._net_factor(n, p.name) for n in p.feeds))

    # -- the article's chains ---------------------------------------------------------------------
    @cached_property
    def chains(self) -> dict[str, Chain]:
        net = self.network
        chains = {}
        for p in net.parameters:
            shares, delta_shares = [], []
            for n in p.feeds:
                factor = naming.partial(naming.net(n), p.name)
                if net.activation(n).name == "softmax":
                    shares.append((naming.delta(n), factor))
                else:
                    shares.append((naming.partial(naming.TOTAL, naming.out(n)), naming.partial(naming.out(n), naming.net(n)), factor))
                delta_shares.append((naming.delta(n), naming.out(p.source) if p.source else None))
            chains[p.name] = Chain(p.name, naming.partial(naming.TOTAL, p.name), tuple(shares), tuple(delta_shares))
        return chains

    # -- symbolic forms for users -----------------------------------------------------------------
    def gradient(self, parameter: str) -> sp.Expr:
        """dE_total/d<parameter> for one sample, in intermediate symbols (deltas and outputs)."""
        return self.step[naming.partial(naming.TOTAL, parameter)].formula

    def in_kernel_symbols(self, quantity: str) -> sp.Expr:
        """A quantity written with the compute forms substituted down to forward quantities."""
        subs = {s.symbol: s.compute for s in self.steps if s.phase in ("output deltas", "hidden deltas")}
        expr = self.step[quantity].compute
        for s in reversed([s for s in self.steps if s.symbol in subs]):
            expr = expr.xreplace({s.symbol: subs[s.symbol]})
        return expr

    def expanded_gradient(self, parameter: str) -> sp.Expr:
        """dE_total/d<parameter> for one sample, fully expanded in parameters, inputs and targets
        (small networks only: this is the nested expression the chain rule avoids)."""
        return self.network.expand(self.in_kernel_symbols(naming.partial(naming.TOTAL, parameter)))
