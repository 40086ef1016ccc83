"""Error carried forward: each of a learner's numbers recomputed from their own earlier numbers.

A teacher marks a hand calculation step by step: a number that is wrong only because an earlier
number was wrong is not marked wrong again. So each quantity is recomputed from the values the
learner wrote for the quantities it is defined from (the step's formula, as a hand calculation
writes it: dE/dout · dout/dnet, the named terms of a hidden sum, the chain of factors or the delta
rule), at the precision they wrote them. A value the learner did not write is computed from theirs,
further back. A number written to 4 decimals stands for any value within half a unit of its last
digit, and that uncertainty is carried forward too (to first order), so rounding one's intermediates
is never marked as a slip.

`CarriedForward` takes the transform of a variant of the computation (`derive.check.variants`) so
that a slip, or another textbook's convention, can be tried from the learner's own numbers.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import mpmath
import sympy as sp

from derive.derivation.evaluate import PRECISION, mp_value
from derive.derivation.steps import ERROR, FORWARD, HIDDEN_DELTAS
from derive.escape import quoted
from derive.model import quantities as Q
from derive.model.reading import place

ALTERNATIVES_LIMIT = 50_000  # (key, transform) pairs a Program keeps the hand formulas of
LEAVES = (Q.INPUT, Q.TARGET, Q.WEIGHT, Q.BIAS, Q.RATE)


def is_leaf(key: Q.Quantity) -> bool:
    """An input, target, parameter (before its update) or the learning rate: data, not computed."""
    return key.kind in LEAVES and not key.updated


def half_unit(printed: Decimal) -> mpmath.mpf:
    """Half a unit in the last digit a number shows: how far the value it stands for may be."""
    key = (place(printed), mpmath.mp.prec)
    if key not in _HALF_UNITS:
        _HALF_UNITS[key] = mpmath.mpf(str(Decimal(5).scaleb(key[0] - 1)))
    return _HALF_UNITS[key]


# Numbers asked for again and again while a sheet is marked (every variant, every pair of slips
# compares with the same printed numbers), each converted once: mpmath numbers are immutable.
_HALF_UNITS: dict[tuple[int, int], mpmath.mpf] = {}  # (place, precision in bits) -> half a unit there
_DECIMALS: dict[Decimal, mpmath.mpf] = {}  # a finite Decimal -> its value at PRECISION digits
DECIMALS_LIMIT = 100_000  # past it, the conversions start again (a long-running process)


class Program:
    """The formulas of a hand calculation, per key (`key`): a quantity of one sample, a total over
    the samples, a parameter or an updated parameter. Built once per model."""

    def __init__(self, model) -> None:
        self.model = model
        self.network = model.network
        self.derivation = model.derivation
        self.samples = len(model.spec.samples)
        self._symbols: dict[Q.Quantity, sp.Symbol] = {}
        # Pure functions of the (unchanging) model, asked again for every learner's number, every
        # variant and every pair of slips: each answer is computed once.
        self._exact: dict[Q.Quantity, sp.Rational] = {}
        self._alternatives: dict[tuple, tuple[sp.Expr, ...]] = {}
        self.key_of_symbol: dict[sp.Symbol, Q.Quantity] = {}
        self.aliases: dict[Q.Quantity, Q.Quantity] = {}  # a display step that is another step's value
        for step in self.derivation.steps:
            if step.formula.is_Symbol and step.quantity.kind != Q.TEMPORARY:
                target = self.network.quantity_of[step.formula]
                if not is_leaf(target):
                    self.aliases[step.quantity] = target

    # -- keys ------------------------------------------------------------------------------------
    def key(self, q: Q.Quantity) -> Q.Quantity | None:
        """The key of a (checked) quantity; None for one that has no hand formula (a value after
        training, a partial derivative through the forward pass that no step names)."""
        if q.after is not None:
            return None
        if q.updated:
            return Q.parameter(q.name).with_update()
        base = q.base
        if is_leaf(base):
            return base
        if base not in self.derivation.step:
            return None
        if self.samples == 1:
            return base
        if q.sample is None:
            if self.is_total(base):
                return base
            raise Q.QuantityError(f"{quoted(q.text)} has one value per sample: write {base}[1] .. "
                                  f"{base}[{self.samples}]")
        return base.at_sample(q.sample)

    def is_total(self, base: Q.Quantity) -> bool:
        return base == Q.TOTAL_ERROR or (base.is_partial and base.of == Q.TOTAL_ERROR and base.variable.is_parameter)

    def symbol(self, key: Q.Quantity) -> sp.Symbol:
        if key not in self._symbols:
            self._symbols[key] = sp.Symbol(str(key), real=True)
            self.key_of_symbol[self._symbols[key]] = key
        return self._symbols[key]

    def exact(self, key: Q.Quantity):
        """The value the spec gives a leaf (an input, target, parameter or the learning rate)."""
        if key.kind == Q.RATE:
            return self.model.spec.learning_rate
        if key not in self._exact:
            self._exact[key] = self.network.sample_values(key.sample or 0)[key.base]
        return self._exact[key]

    # -- formulas --------------------------------------------------------------------------------
    def alternatives(self, key: Q.Quantity, transform=None) -> tuple[sp.Expr, ...]:
        """The ways a hand calculation computes ``key`` from earlier keys (the first is the usual
        one), after ``transform`` (a variant's rewrite of the step, a function of the step and the
        model only) when given."""
        if (key, transform) not in self._alternatives:
            if len(self._alternatives) >= ALTERNATIVES_LIMIT:  # pairs of slips: a transform each
                self._alternatives.clear()
            self._alternatives[key, transform] = tuple(self._alternatives_of(key, transform))
        return self._alternatives[key, transform]

    def _alternatives_of(self, key: Q.Quantity, transform) -> list[sp.Expr]:
        if is_leaf(key):
            return []
        if key.updated:
            p = Q.parameter(key.name)
            return [self.symbol(p) - self.symbol(Q.LEARNING_RATE) * self.symbol(Q.gradient(key.name))]
        base, sample = key.base, key.sample
        if self.samples > 1 and sample is None:  # a total over the samples
            scale = sp.Rational(1, self.samples) if self.model.spec.reduction == "mean" else 1
            return [scale * sp.Add(*(self.symbol(base.at_sample(s)) for s in range(self.samples)))]
        step = self.derivation.step[base]
        out = []
        for formula in self._hand_formulas(step):
            if transform is not None:
                formula = transform(dataclasses.replace(step, formula=formula, compute=formula), self.model)
            out.append(formula.xreplace({s: self.symbol(self._key(s, sample)) for s in formula.free_symbols}))
        return out

    def _key(self, symbol: sp.Symbol, sample: int | None) -> Q.Quantity:
        q = self.network.quantity_of[symbol]
        if q.kind in (Q.WEIGHT, Q.BIAS, Q.RATE) or self.samples == 1:
            return q
        return q.at_sample(sample)

    def _hand_formulas(self, step) -> list[sp.Expr]:
        sym, network, q = self.network.symbol, self.network, step.quantity
        if step.phase in (FORWARD, ERROR):
            return [step.formula.doit()]
        if step.phase == HIDDEN_DELTAS and q.is_partial and q.of == Q.TOTAL_ERROR:
            named = [Q.partial(Q.error(d), q.wrt) for d, _ in network.feeds(q.wrt.name)]
            if all(n in self.derivation.step for n in named):
                return [sp.Add(*(sym(n) for n in named)), step.formula]
        if q.is_partial and q.of == Q.TOTAL_ERROR and q.wrt.is_parameter:
            chain = self.derivation.chains[q.wrt.name]
            shares = sp.Add(*(sp.Mul(*(sym(f) for f in share)) for share in chain.shares))
            return [step.formula, shares]
        return [step.formula]


class CarriedForward:
    """A learner's numbers (key -> the number as written) and, for each key, the value it has when
    computed from them. ``transform`` (a convention's, or a slip's) rewrites every step recomputed:
    the key's own, and those of the numbers the learner did not write on the way to it, never a
    number they wrote."""

    def __init__(self, program: Program, given: dict[Q.Quantity, Decimal], transform=None):
        self.program = program
        self.given = given
        self.transform = transform
        self.used = dict(given)  # what the learner computes with: an alias's value stands for its target
        for alias, target in program.aliases.items():
            if alias in given and target not in given:
                self.used[target] = given[alias]
        self._current: dict[Q.Quantity, tuple] = {}

    def current(self, key: Q.Quantity) -> tuple:
        """(value, half-width): the number the learner works with for ``key``."""
        if key not in self._current:
            program = self.program
            if key in self.used:
                printed = self.used[key]
                exact = is_leaf(key) and to_mp(program.exact(key)) == to_mp(printed)
                value = (to_mp(printed), mpmath.mpf(0) if exact else half_unit(printed))
            elif is_leaf(key):
                value = (to_mp(program.exact(key)), mpmath.mpf(0))
            else:
                value = self.expected(key)[0]
            self._current[key] = value
        return self._current[key]

    def expected(self, key: Q.Quantity) -> list[tuple]:
        """(value, half-width) of ``key`` by each of its hand formulas, from the learner's numbers."""
        transform = self.transform
        out = []
        for formula in self.program.alternatives(key, transform):
            try:
                out.append(self._evaluate(formula))
            except (ZeroDivisionError, OverflowError, ValueError, TypeError):
                continue
        return out

    def _evaluate(self, formula: sp.Expr) -> tuple:
        with mpmath.workdps(PRECISION):
            env = {}
            widths = {}
            for s in formula.free_symbols:
                env[s], widths[s] = self.current(self.program.key_of_symbol[s])
            value = mp_value(formula, env)
            width = mpmath.mpf(0)
            for s, w in widths.items():
                if w:
                    width += abs(mp_value(formula, {**env, s: env[s] + w}) - value)
            return value, width

    def carries(self, key: Q.Quantity, printed: Decimal) -> bool:
        """Is ``printed`` what the learner's own numbers give for ``key``, to its digits?"""
        return any(within(printed, v, w) for v, w in self.expected(key))


def within(printed: Decimal, value, width) -> bool:
    with mpmath.workdps(PRECISION):
        return abs(to_mp(printed) - value) <= half_unit(printed) + width + mpmath.mpf(10) ** -40


def to_mp(value) -> mpmath.mpf:
    if isinstance(value, Decimal) and value.is_finite():  # equal Decimals (0.10, 0.1) are the same number
        found = _DECIMALS.get(value)
        if found is None:
            if len(_DECIMALS) >= DECIMALS_LIMIT:
                _DECIMALS.clear()
            with mpmath.workdps(PRECISION):
                found = _DECIMALS[value] = mpmath.mpf(str(value))
        return found
    with mpmath.workdps(PRECISION):
        if isinstance(value, sp.Rational):
            return mpmath.mpf(int(value.p)) / int(value.q)
        return mpmath.mpf(str(value)) if isinstance(value, Decimal) else mpmath.mpf(value)


#: A learning rate read off an update (`read_rate`) is named when it is a decimal of at most this many
#: significant digits that the digits given pin down: the rates the update allows span less than a
#: hundredth of the spacing of such decimals, so that a wrong number falls on one by chance once in 100.
RATE_DIGITS = 4


def read_rate(printed: Decimal, start: tuple, gradient: tuple) -> Decimal | None:
    """The learning rate eta with w - eta g = ``printed`` (``start`` w and ``gradient`` g, each a value
    and its half-width, as the learner works with them), exactly: the shortest decimal among the rates
    the digits allow, when it is short and pinned down (`RATE_DIGITS`); else None."""
    with mpmath.workdps(PRECISION):
        (w, w_width), (g, g_width) = start, gradient
        if abs(g) <= g_width:
            return None
        p, h = to_mp(printed), half_unit(printed) + w_width
        corners = [(w - p + s) / (g + t) for s in (-h, h) for t in (-g_width, g_width)]
        lo, hi = min(corners), max(corners)
        middle = (lo + hi) / 2
        if not middle:
            return None
        for digits in range(1, RATE_DIGITS + 1):
            exponent = int(mpmath.floor(mpmath.log10(abs(middle)))) - digits + 1
            spacing = mpmath.mpf(10) ** exponent
            if hi - lo > spacing / 100:
                return None
            n = int(mpmath.ceil(lo / spacing))
            if n * spacing <= hi:
                return Decimal(n).scaleb(exponent)
    return None


def fmt_decimal(d: Decimal) -> str:
    return format(d.normalize(), "f")
