"""E_total of one sample at high precision after one parameter moves: the check's finite differences
at 50 digits (`routes`), recomputing only the forward steps that depend on the moved parameter."""

from __future__ import annotations

import heapq
from typing import Any

import mpmath

from derive.derivation.evaluate import mp_value
from derive.derivation.mp_compiled import compile_mp, fsum
from derive.derivation.steps import Phase
from derive.model import quantities as Q

EPSILON = 2.0**-52


class Forward:
    """E_total of one sample at high precision, recomputing after a parameter change only the
    forward steps that depend on it (a weight of the first layer touches one net input of 785
    terms, not all 25,000), so finite differences on every parameter stay linear."""

    def __init__(self, model, sample: int):
        network = model.network
        self.steps = [s for s in model.derivation.kernel if s.phase in (Phase.FORWARD, Phase.ERROR)]
        self.uses = [s.compute.free_symbols for s in self.steps]
        self.readers: dict = {}  # symbol -> the steps that read it, in order
        self.ids: dict = {}  # symbol -> a number (sets of numbers meet without SymPy's hash, a Python call)
        for k, uses in enumerate(self.uses):
            for used in uses:
                self.readers.setdefault(used, []).append(k)
                self.ids.setdefault(used, len(self.ids))
        for step in self.steps:
            self.ids.setdefault(step.symbol, len(self.ids))
        self.terms: dict[tuple[int, int], tuple[list, list]] = {}  # (step, precision): a sum's terms at the base
        self.compiled: dict[int, Any] = {}  # step -> its compute form compiled (a sum: each term's: a list)
        # the unperturbed values are the model's own evaluation (60 digits), not computed again
        self.base = {network.symbol(q): v for q, v in model.evaluation.samples[sample].items()}
        self.total = network.symbol(Q.TOTAL_ERROR)
        self.rounding = self._rounding(network, model.evaluation.samples[sample])

    def _rounding(self, network, values) -> float:
        """A first-order bound of float64's rounding error in E_total at this point: each net input
        is off by about ε·Σ|w·x| + |b| (its terms' sizes, not its value: 10^12 − 10^12 + 0.35 cancels),
        which moves E_total by that times |δ| = |∂E/∂net|; plus ε·|E_total| for the error itself."""
        sizes = {symbol: abs(value) for symbol, value in self.base.items()}
        bound = abs(self.base[self.total])
        for step in self.steps:
            if step.quantity.kind == Q.NET:
                delta = values.get(Q.delta(step.quantity.name), mpmath.mpf(1))
                bound += mp_value(step.compute, sizes) * abs(delta)
        return float(EPSILON * bound)

    def error(self, symbol, value):
        return self.values(symbol, value)[self.total]

    def values(self, symbol, value) -> dict:
        """Every forward value after the change: the changed ones held, the others read from the base
        (not copied: 45,000 values for a 1x28x28 network, at each of 1,600 points)."""
        env = _Moved(self.base)
        env[symbol] = value
        changed = {self.ids.get(symbol, -1)}
        pending = list(self.readers.get(symbol, ()))  # a heap of the steps to compute again, in order
        heapq.heapify(pending)
        done = set()
        while pending:
            k = heapq.heappop(pending)
            if k not in done:  # (its readers all come after it: the program's order)
                done.add(k)
                step = self.steps[k]
                env[step.symbol] = self._value(k, env, changed)
                changed.add(self.ids[step.symbol])
                for reader in self.readers.get(step.symbol, ()):
                    heapq.heappush(pending, reader)
        return env

    def _value(self, k: int, env: dict, changed: set):
        """``mp_value`` of step k at ``env``, bit for bit: a sum is mpmath's fsum of its terms' values
        (as mp_value takes it), and a term none of whose symbols changed has its value at the base, kept
        from the first call at this precision: a net of 677 terms moved by one weight computes one
        product, not 677."""
        compute = self.steps[k].compute
        if k not in self.compiled:
            self.compiled[k] = [compile_mp(a) for a in compute.args] if compute.is_Add else compile_mp(compute)
        compiled = self.compiled[k]
        if not compute.is_Add:
            return compiled(env)
        key = (k, mpmath.mp.prec)
        if key not in self.terms:
            self.terms[key] = ([frozenset(self.ids[u] for u in a.free_symbols) for a in compute.args],
                               [f(self.base) for f in compiled])
        uses, base = self.terms[key]
        return fsum([value if used.isdisjoint(changed) else f(env)
                     for f, used, value in zip(compiled, uses, base, strict=True)])


class _Moved(dict):
    """Values after a change: those it holds, and for any other key the base's (read with ``[]``)."""

    __slots__ = ("base",)

    def __init__(self, base: dict):
        super().__init__()
        self.base = base

    def __missing__(self, key):
        return self.base[key]
