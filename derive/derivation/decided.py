"""The derivation's values as balls, at the precision each printed digit takes.

Every sample is computed by `balls.ball_value` from its exact inputs at `proven.START` bits; a sample
whose branches (kinks, guards) or divisions its balls cannot decide is computed again at twice the
precision, up to `proven.CAP`. E_total, the gradients (summed or averaged over the samples) and the
parameters after one step (the optimizer's rules) are computed from the samples' balls in the same
way. Each value is handed out as a `proven.Proven`: an mpf (the midpoint) that can compute its ball
again at any precision, so that a printer rounds it to as many digits as it prints, proven
(`proven.decide`). A value that is infinite in exact arithmetic (a division by an exact 0) is
mpmath's inf.
"""

from __future__ import annotations

import flint
import mpmath

from derive.derivation import balls
from derive.derivation.steps import ERROR
from derive.model import layers, optimizers
from derive.model import quantities as Q
from derive.model.proven import CAP, START, Proven, Undecided, exact_ball, precision


class Decided:
    """The balls of one derivation's values, computed on demand at any precision and kept."""

    def __init__(self, derivation, steps, settings, first_batch: list[int]):
        self.network = derivation.network
        self.steps, self.settings, self.first = steps, settings, first_batch
        self.count = len(self.network.spec.samples)
        self._samples: dict[tuple[int, int], dict] = {}
        self._totals: dict[int, dict] = {}
        self.least = [START] * self.count  # the precision each sample needs to decide its branches
        # gradients exactly 0 by the network's structure (a batch's one pass: each sample's is the total)
        self.zero = {self.network.symbol(Q.gradient(name)) for name in layers.exact_zeros(self.network)}
        walker = balls.Walker(derivation.complements)
        # An error term is computed by its stable form; where that form's ball lost its digits (t (lse -
        # net) at a saturated softmax), by the textbook's, whose 1 - out and ln out the walker keeps.
        self._program = [(step.symbol, walker.compile(step.compute),
                          walker.compile(step.formula.doit()) if step.phase == ERROR and step.formula != step.compute
                          else None) for step in steps]

    # -- per sample ---------------------------------------------------------------------------------
    def sample(self, s: int, bits: int) -> dict:
        """Symbol -> fmpq | arb | INFINITE for sample s, at ``bits`` or more."""
        bits = max(bits, self.least[s])
        if (s, bits) not in self._samples:
            while True:
                try:
                    with precision(bits):
                        values = self._compute(s)
                except Undecided:
                    values = None
                if values is not None and (bits >= CAP or all(_finite(v) for v in values.values())):
                    break
                if bits >= CAP:  # a branch no precision decides: the midpoints decide it
                    with precision(bits):
                        values = self._compute(s, undecided_ok=True)
                    break
                bits *= 2
            self.least[s] = max(self.least[s], bits)
            self._samples[(s, bits)] = values
        return self._samples[(s, bits)]

    def _compute(self, s: int, undecided_ok: bool = False) -> dict:
        network = self.network
        env = {network.symbol(q): balls.ball_value(v, {}) for q, v in network.sample_values(s).items()}
        for symbol, compute, textbook in self._program:
            try:
                if symbol in self.zero:
                    env[symbol] = flint.fmpq(0)
                    continue
                env[symbol] = value = exact_ball(compute(env))
                if textbook is not None and _imprecise(value):
                    other = textbook(env)
                    env[symbol] = other if _exact(other) or other.rel_accuracy_bits() > value.rel_accuracy_bits() \
                        else value
            except (balls.Infinite, ZeroDivisionError):  # a display factor 1/(1 - out) with out exactly 1
                env[symbol] = INFINITE
            except Undecided:
                if not undecided_ok:
                    raise
                env[symbol] = flint.arb.nan()
        return env

    # -- over the samples ---------------------------------------------------------------------------
    def totals(self, bits: int) -> dict:
        """Quantity -> value for E_total, the gradients, the parameters and the parameters after one
        step, at ``bits`` or more."""
        if bits not in self._totals:
            network, settings = self.network, self.settings
            per_sample = [self.sample(s, bits) for s in range(self.count)]
            mean = network.spec.reduction == "mean"
            with precision(max(bits, *self.least)):
                def total(symbol, indices):
                    values = [per_sample[s][symbol] for s in indices]
                    if any(v is INFINITE for v in values):
                        return INFINITE
                    value = balls._sum(values)
                    return exact_ball(value / len(indices) if mean else value)

                every, numbers = list(range(self.count)), self._numbers()
                out = {Q.TOTAL_ERROR: total(network.symbol(Q.TOTAL_ERROR), every)}
                for p in network.parameters:
                    g, q = Q.gradient(p.name), p.quantity
                    out[g] = total(network.symbol(g), every)
                    out[q] = per_sample[0][network.symbol(q)]
                    if not settings.trains(p):
                        out[q.with_update()] = out[q]
                        continue
                    step = out[g] if len(self.first) == self.count else total(network.symbol(g), self.first)
                    out[q.with_update()] = INFINITE if step is INFINITE else self._update(out[q], step, numbers)
            self._totals[bits] = out
        return self._totals[bits]

    def _numbers(self) -> dict:
        """The hyperparameters' values at the current precision, for `_update` (the same for every
        parameter: made once, not once for each of 8,320)."""
        return {symbol: balls.ball_value(v, {}) for symbol, v in self.settings.numbers().items()}

    def _update(self, value, gradient, numbers: dict):
        """One step of the optimizer's rules for one parameter (``numbers``: `_numbers`)."""
        entry = self.settings.entry
        env = dict(numbers)
        env |= {optimizers.P: value, optimizers.G: gradient, optimizers.T: flint.fmpq(1)}
        env |= {optimizers.SLOT[s]: flint.fmpq(0) for s in entry.state}
        result = None
        for target, expr in entry.rules:
            symbol = optimizers.P if target == optimizers.PARAMETER else optimizers.SLOT[target]
            env[symbol] = balls.ball_value(expr, env)
            if target == optimizers.PARAMETER:
                result = env[symbol]
        return result

    # -- handed out -----------------------------------------------------------------------------------
    def proven_samples(self) -> list[dict]:
        out = []
        for s in range(self.count):
            values = self.sample(s, START)
            bits = self.least[s]
            named = self.network.quantity_of
            out.append({named[sym]: _proven(v, bits, lambda b, s=s, sym=sym: self.sample(s, b)[sym])
                        for sym, v in values.items() if sym in named})  # (not the walker's complements)
        return out

    def proven_totals(self) -> dict:
        bits = max(START, *self.least)
        return {q: _proven(v, bits, lambda b, q=q: self.totals(b)[q]) for q, v in self.totals(bits).items()}


class _Infinite:
    """A value that is infinite in exact arithmetic."""


INFINITE = _Infinite()


def _exact(value) -> bool:
    return isinstance(value, flint.fmpq)


def _imprecise(value) -> bool:
    return value is not INFINITE and not _exact(value) and value.rel_accuracy_bits() <= flint.ctx.prec // 2


def _finite(value) -> bool:
    return value is INFINITE or isinstance(value, flint.fmpq) or value.is_finite()


#: A value's midpoint (the mpf other code computes with: the checks, the audit, exercises) is taken
#: from a ball this accurate (bits), computed again up to `MIDPOINT_CAP` bits where it is not (a slope
#: of 1e-1049 from 1/2 + tanh(-1211)/2 is a ball of ±1e-77 at 256 bits).
MIDPOINT_BITS, MIDPOINT_CAP = 200, 4096


def _proven(value, bits, source):
    if value is INFINITE:
        return mpmath.inf
    while not _exact(value) and bits < MIDPOINT_CAP and not value.rel_accuracy_bits() >= MIDPOINT_BITS:
        bits *= 2
        value = source(bits)
        if value is INFINITE:
            return mpmath.inf
    return Proven(value, bits, source)
