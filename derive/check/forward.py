"""E_total of one sample at high precision after one parameter moves: the check's finite differences
at 50 digits (`routes`), recomputing only the forward steps that depend on the moved parameter."""

from __future__ import annotations

import heapq
from typing import Any

import mpmath
from mpmath.libmp import from_man_exp

from derive.derivation.evaluate import mp_value
from derive.derivation.mp_compiled import fsum
from derive.derivation.mp_raw import compile_fast
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
        for k, uses in enumerate(self.uses):
            for used in uses:
                self.readers.setdefault(used, []).append(k)
        self.sums: dict[tuple[int, int], _Sum] = {}  # (step, precision): a sum's terms at the base
        self.compiled: dict[int, Any] = {}  # step -> its compute form compiled (a sum: each term's: a list)
        self.where: dict[int, dict] = {}  # a sum's step -> symbol -> the terms that read it
        self.plans: dict = {}  # symbol moved -> the steps it reaches, in order, each with its moved terms
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
        prec = mpmath.mp.prec
        compiled = self.compiled
        for k, step, hits in self._plan(symbol):
            if hits is None:  # (not a sum: its compiled form, compiled when the plan was made)
                env[step] = compiled[k](env)
            else:
                env[step] = self._sum(k, prec, env, hits)
        return env

    def _plan(self, symbol) -> list:
        """The steps a move of ``symbol`` reaches, in the program's order, each with its symbol and the
        terms that read a moved value (a sum's; None for a step that is not a sum): the same for every
        move of it, so found once (the route moves each parameter four times)."""
        if symbol not in self.plans:
            plan = []
            moved = {k: [symbol] for k in self.readers.get(symbol, ())}  # step -> the moved values it reads
            pending = list(moved)  # a heap of the steps to compute again, in order
            heapq.heapify(pending)
            while pending:
                k = heapq.heappop(pending)
                if k in moved:  # (its readers all come after it: the program's order)
                    step = self.steps[k]
                    self._compile(k)
                    plan.append((k, step.symbol, self._terms(k, moved.pop(k)) if step.compute.is_Add else None))
                    for reader in self.readers.get(step.symbol, ()):
                        if reader not in moved:
                            moved[reader] = []
                            heapq.heappush(pending, reader)
                        moved[reader].append(step.symbol)
            self.plans[symbol] = plan
        return self.plans[symbol]

    def _kept(self, k: int, prec: int) -> _Sum:
        """Sum k's terms at the base, at this precision, made once."""
        base = self.sums.get((k, prec))
        if base is None:
            base = self.sums[k, prec] = _Sum([f(self.base) for f in self.compiled[k]])
        return base

    def prepare(self, symbols) -> None:
        """The plans of moves of ``symbols``, and the terms they keep at this precision, made now: processes
        forked after this (the check's shares of its parameters) find them made, where each would make the
        ones they share (an output's net, which every weight below moves) again."""
        for symbol in symbols:
            for k, _, hits in self._plan(symbol):
                if hits is not None:
                    self._kept(k, mpmath.mp.prec)

    def _terms(self, k: int, symbols: list) -> tuple:
        """The terms of sum k that read any of ``symbols``, in order."""
        if k not in self.where:
            where: dict = {}
            self.where[k] = where
            for j, term in enumerate(self.steps[k].compute.args):
                for u in term.free_symbols:
                    where.setdefault(u, []).append(j)
        where = self.where[k]
        return tuple(sorted({j for u in symbols for j in where.get(u, ())}))

    def _compile(self, k: int) -> None:
        """Step k's compute form compiled (`compile_fast`: ``mp_value``'s result, bit for bit); a sum's
        term by term."""
        if k not in self.compiled:
            compute = self.steps[k].compute
            self.compiled[k] = [compile_fast(a) for a in compute.args] if compute.is_Add else compile_fast(compute)

    def _sum(self, k: int, prec: int, env: dict, hits: tuple):
        """``mp_value`` of sum k at ``env``, bit for bit: mpmath's fsum of its terms' values (as mp_value
        takes it), where a term none of whose symbols changed (not in ``hits``) has its value at the base,
        kept from the first call at this precision: a net of 677 terms moved by one weight computes one
        product, not 677, and (`_Sum`) adds it to the base's exact sum in one step, not 677."""
        compiled = self.compiled[k]
        base = self._kept(k, prec)
        if base.exact is not None:
            value = base.moved(hits, [compiled[j](env) for j in hits])
            if value is not None:
                return value
        moved = set(hits)
        return fsum([f(env) if j in moved else value
                     for j, (f, value) in enumerate(zip(compiled, base.values, strict=True))])


class _Sum:
    """A sum's terms at the base, and the exact sum of them (``exact``: an integer mantissa and an
    exponent, None where it cannot stand for mpmath's fsum), so that moving a few terms costs a few
    additions and one rounding, not a sum of every term again.

    ``fsum`` (`libmp.mpf_sum`) adds its terms' mantissas exactly and rounds once, except that it drops
    a term, or the sum so far, when their exponents lie more than twice the precision apart. When
    every nonzero term, base and moved alike, has its bits within that span of the others' and below
    2^span (``_within``) it drops nothing, so the moved sum is the exact base sum less the old terms plus the new ones,
    rounded once: fsum's result bit for bit. Anything else (a span that wide, an infinity or a NaN, a
    value that is not an mpf) is summed by fsum itself."""

    __slots__ = ("exact", "high", "low", "span", "values")

    def __init__(self, values: list):
        self.values = values
        prec = mpmath.mp.prec
        self.span = 2 * prec  # (mpf_sum's max_extra_prec)
        self.exact = None
        if not all(isinstance(v, mpmath.mpf) for v in values):
            return
        raw = [v._mpf_ for v in values]
        regular = [x for x in raw if x[1]]
        if any(not x[1] and x[2] for x in raw):  # an infinity or a NaN
            return
        self.low = min((x[2] for x in regular), default=0)
        self.high = max((x[2] + x[3] for x in regular), default=0)
        if regular and not self._within(self.low, self.high):
            return
        man, exp = 0, self.low
        for sign, mantissa, exponent, _ in regular:
            man += (-mantissa if sign else mantissa) << (exponent - exp)
        self.exact = (man, exp)

    def _within(self, low: int, high: int) -> bool:
        """Whether mpf_sum drops nothing from terms whose bits lie between 2^low and 2^high: their span
        is at most ``span``, and so is their top (mpf_sum's running exponent starts at 0, so a term
        above 2^span could find a sum that cancelled to a few bits that far below it)."""
        return high - low <= self.span and high <= self.span

    def moved(self, hits, new: list):
        """fsum of the terms with those ``hits`` replaced by ``new``, or None where the exact sum does
        not stand for it (the class's note)."""
        assert self.exact is not None  # moved() follows a base that has its exact sum (`exact_fits`)
        man, exp = self.exact
        low, high = self.low, self.high
        updates = []
        for j, value in zip(hits, new, strict=True):
            if not isinstance(value, mpmath.mpf):
                return None
            sign, mantissa, exponent, bits = value._mpf_
            if mantissa:
                low, high = min(low, exponent), max(high, exponent + bits)
                updates.append((-mantissa if sign else mantissa, exponent))
            elif exponent:  # an infinity or a NaN
                return None
            sign, mantissa, exponent, _ = self.values[j]._mpf_
            if mantissa:
                updates.append((mantissa if sign else -mantissa, exponent))
        if not self._within(low, high):
            return None
        for mantissa, exponent in updates:
            if exponent >= exp:
                man += mantissa << (exponent - exp)
            else:
                man, exp = (man << (exp - exponent)) + mantissa, exponent
        prec, rounding = mpmath.mp._prec_rounding
        return mpmath.mp.make_mpf(from_man_exp(man, exp, prec, rounding))


class _Moved(dict):
    """Values after a change: those it holds, and for any other key the base's (read with ``[]``)."""

    __slots__ = ("base",)

    def __init__(self, base: dict):
        super().__init__()
        self.base = base

    def __missing__(self, key):
        return self.base[key]
