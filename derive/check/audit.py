"""Audit of published numbers and of a learner's claims: each number is compared with the correct
value to the digits it shows, and a wrong one is explained by the variants of the computation that
reproduce it (`derive.variants`), or said to be unexplained."""

from __future__ import annotations

import time
from collections.abc import Container
from dataclasses import dataclass, field
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Decimal,
    InvalidOperation,
    localcontext,
)
from functools import cached_property

import mpmath

from derive.check.pairs import pairs, rounding_keys
from derive.check.resolve import Resolver, checked
from derive.check.variants import SKIP, variants
from derive.escape import excerpt, quoted
from derive.model import quantities as Q
from derive.model.decimals import digits_shown, fmt, round_sig, to_decimal
from derive.model.proven import Undecided
from derive.model.reading import place, published_problem
from derive.render.check_text import mistake_value

NEAREST = 3  # mistakes listed for a wrong claim that no variant reproduces exactly
# Each variant of a number after N training steps is a training run of its own (float64, the generated
# code): past this much work (steps x parameters x samples, about 1 s a run here) the variants are not
# searched, and the finding says so; the correct value is still computed (see README, Limits).
SEARCH_BUDGET = 2_000_000


def _quantized(d: Decimal, exponent: int, rounding) -> Decimal | None:
    """``d`` rounded to the digit 10^exponent, or None when that takes more than 1000 digits (a
    saturated value of 10^(10^12) has no last digit anyone printed)."""
    needed = d.adjusted() - exponent + 3
    if needed > 1000:
        return None
    with localcontext() as ctx:
        ctx.prec, ctx.Emax, ctx.Emin = max(28, needed), MAX_EMAX, MIN_EMIN
        return d.quantize(Decimal(1).scaleb(exponent), rounding=rounding)


def agrees(value, printed: Decimal) -> bool:
    """True when ``value`` rounds (half to even, or half up) to ``printed`` at its last digit."""
    d = to_decimal(value)
    if not d.is_finite():
        return False
    exponent = place(printed)
    return printed in (_quantized(d, exponent, ROUND_HALF_EVEN), _quantized(d, exponent, ROUND_HALF_UP))


def truncated(value, printed: Decimal) -> Decimal:
    """``value`` cut off (not rounded) at the last digit ``printed`` shows (itself when too large)."""
    d = to_decimal(value)
    cut = _quantized(d, place(printed), ROUND_DOWN) if d.is_finite() else None
    return d if cut is None else cut


@dataclass
class Mistake:
    key: str
    description: str
    value: object
    reproduces: bool  # agrees with the number to the digits it shows

    def difference(self, printed: Decimal):
        with localcontext() as ctx:
            ctx.Emax, ctx.Emin = MAX_EMAX, MIN_EMIN
            return abs(to_decimal(self.value) - printed)


@dataclass
class Finding:
    quantity: Q.Quantity
    printed: Decimal
    correct: object
    agrees: bool
    mistakes: list[Mistake] = field(default_factory=list)  # reproducing ones first, then the nearest
    unsearched: str = ""  # why the variants were not searched (a long training run), or ""
    cut: bool = False  # the search for pairs of slips stopped at its deadline (some pairs untried)

    @property
    def explained(self) -> bool:
        return any(m.reproduces for m in self.mistakes)

    @property
    def reproducing(self) -> list[Mistake]:
        return [m for m in self.mistakes if m.reproduces]

    def as_dict(self, digits: int) -> dict:
        return {
            "quantity": str(self.quantity), "value": str(self.printed), "correct": fmt(self.correct, digits),
            "agrees": self.agrees, "explained": self.explained, "unsearched": self.unsearched,
            "mistakes": [{"variant": m.key, "description": m.description,
                          "value": mistake_value(m, digits),
                          "reproduces": m.reproduces, "difference": fmt(m.difference(self.printed), 3)}
                         for m in self.mistakes],
        }


class Auditor:
    """Resolvers for the correct computation and every variant, each built once, on demand."""

    def __init__(self, model) -> None:
        self.model = model
        self.correct = Resolver(model)
        self._resolvers: dict[str, Resolver] = {}
        self._pairs: dict[tuple, list] = {}

    @cached_property
    def usual(self) -> frozenset[str]:
        """The keys of the layer kinds' usual slips (`Variant.usual`), which rank among the common ones."""
        return frozenset(v.key for v in self.variants if v.usual)

    @cached_property
    def variants(self) -> list:
        """Every usual slip's computation (`derive.check.variants`), made when first asked for: a page
        without published numbers asks for none (a 6,810-parameter network's activation swaps alone
        take seconds)."""
        return variants(self.model)

    def resolver(self, variant) -> Resolver:
        if variant.key not in self._resolvers:
            self._resolvers[variant.key] = variant.build()
        return self._resolvers[variant.key]

    def examine(self, quantity: Q.Quantity | str, printed: Decimal | float | str, nearest: int = 0,
                pairs: bool = False, deadline: float | None = None) -> Finding:
        """Is ``printed`` right to its digits? If not, which slips reproduce it: the correct value
        truncated, rounding to its own digits, then the usual slips, most common first; with
        ``pairs``, when no single slip does, every combination of two, until ``deadline`` (a
        `time.monotonic` time) when given: the pairs not tried by then are not, and ``cut`` says so."""
        q = checked(self.model, quantity)
        printed = printed if isinstance(printed, Decimal) else Decimal(str(printed))  # a float by its shortest form
        correct = self.correct.value(q)
        finding = Finding(q, printed, correct, agrees(correct, printed))
        if finding.agrees:
            return finding
        candidates = []
        if mpmath.isfinite(correct) and truncated(correct, printed) == printed:
            candidates.append(Mistake("truncated", f"the correct value {fmt(correct, 9)} cut off after the "
                                      f"{digits_shown(printed)} you gave instead of rounded", printed, True))
        finding.unsearched = self.unsearched(q)
        if not finding.unsearched:
            candidates += self._candidates(q, correct, printed, self.variants)
        for other, description in confusions(self.model, q):
            try:
                value = self.correct.value(other)
            except (Q.QuantityError, KeyError):
                continue
            if abs(value - correct) > 1e-40:
                candidates.append(Mistake(confusion_key(other), description, value, agrees(value, printed)))
        if pairs and q.after is None and not any(m.reproduces for m in candidates):
            tried = self.alternatives(q, correct, self.pairs(printed), deadline)
            finding.cut = tried.cut
            candidates += [m for m in self._mistakes(tried, printed) if m.reproduces]
        # A slip that reproduces the number outranks one that only comes near; among reproducing
        # ones the simpler and more common kind of slip comes first, and among near ones the closer wins.
        order = {m.key: i for i, m in enumerate(candidates)}
        own = rounding_keys(printed)
        reproducing = sorted((m for m in candidates if m.reproduces),
                             key=lambda m: (rank(m.key, own, self.usual), order[m.key]))
        near = sorted((m for m in candidates if "+" not in m.key), key=lambda m: m.difference(printed))
        finding.mistakes = reproducing or near[:nearest]
        return finding

    def unsearched(self, q: Q.Quantity, share: int = 1) -> str:
        """Why the slips of ``q`` are not searched (each variant would retrain as many steps as
        ``q`` is after, past the budget, or past its ``share``-th for one of several exercises), or ""."""
        work = (q.after or 0) * len(self.model.parameters) * len(self.model.spec.samples)
        if work * share <= SEARCH_BUDGET:
            return ""
        over = f"over the audit's {SEARCH_BUDGET:,}" + (f" shared by {share} variants" if share > 1 else "")
        return (f"the slips were not searched: each would retrain {q.after} steps "
                f"({work:,} parameter-sample-steps, {over})")

    def pairs(self, printed: Decimal):
        """The pairs of slips (built once per digits written, resolved on demand)."""
        key = tuple(sorted(rounding_keys(printed)))
        if key not in self._pairs:
            self._pairs[key] = pairs(self.model, self.variants, printed)
        return self._pairs[key]

    def _candidates(self, q, correct, printed, variants) -> list[Mistake]:
        return self._mistakes(self.alternatives(q, correct, variants), printed)

    @staticmethod
    def _mistakes(alternatives, printed) -> list[Mistake]:
        return [Mistake(v.key, v.description, value, agrees(value, printed)) for v, value in alternatives]

    def alternatives(self, q: Q.Quantity, correct=None, variants=None, deadline: float | None = None) -> Tried:
        """(variant, value) for each variant (all of them by default) that changes ``q``'s value; those
        tried before ``deadline`` (a `time.monotonic` time) when one is given (``cut`` when some were not)."""
        correct = self.correct.value(q) if correct is None else correct
        out = Tried()
        for variant in self.variants if variants is None else variants:
            if deadline is not None and time.monotonic() > deadline:
                out.cut = True
                break
            try:
                value = self.resolver(variant).value(q)
            except (*SKIP, Q.QuantityError, ZeroDivisionError, OverflowError, ValueError, InvalidOperation):
                continue
            if not mpmath.isfinite(value) or agrees(value, _twelve_digits(correct)) or abs(value - correct) < 1e-40:
                continue  # the variant does not change this quantity
            out.append((variant, value))
        return out


class Tried(list):
    """The (variant, value) pairs of `Auditor.alternatives`; ``cut`` when its deadline stopped it."""

    cut = False


def _twelve_digits(correct) -> Decimal:
    """The correct value to 12 digits, to tell a variant that does not change it: proven, or (where no
    precision decides them) its midpoint's."""
    try:
        return round_sig(correct, 12)
    except Undecided:
        return round_sig(mpmath.mpf(correct), 12)


#: Kinds of slip, most common first: how a teaching assistant would guess.
PLAUSIBILITY = (
    "in_place", "one_step_", "biases_toggled", "full_batch_", "no_shuffle", "batch_mean_",
    "adam_", "momentum_", "weight_decay_", "adamw_for_", "nesterov_for_", "confused_", "rounded_", "no_",
    "learning_rate_", "half_dropped", "sign_", "plus_update", "activation_", "one_path_", "swap_backward_",
    "swap_forward_",
)


#: where a layer kind's usual slips stand among the common ones (`Variant.usual`): after a quantity confused
#: with its neighbour's, before rounding and the chain rule's factors
USUAL = PLAUSIBILITY.index("rounded_") - 0.5


def plausibility(key: str, usual: Container[str] = frozenset()) -> float:
    if key in usual:
        return USUAL
    return next((i for i, prefix in enumerate(PLAUSIBILITY) if key.startswith(prefix)), len(PLAUSIBILITY))


def rank(key: str, own_rounding: Container[str] = frozenset(), usual: Container[str] = frozenset()) -> tuple:
    """How simple an explanation is: truncation first, then rounding to the number's own digits,
    then single slips by how common they are (a layer kind's ``usual`` ones among the first), then pairs."""
    parts = key.split("+")
    simplest = 0 if key == "truncated" else 1 if key in own_rounding else 2
    return (len(parts), simplest, sum(plausibility(p, usual) for p in parts))


def confusion_key(other: Q.Quantity) -> str:
    """The slip key of ``other``'s value given for another quantity (without "+", which joins the
    keys of two slips: w1+ is "w1_updated")."""
    return "confused_" + str(other).replace("+", "_updated")


def confusions(model, q: Q.Quantity) -> list[tuple[Q.Quantity, str]]:
    """The same quantity for a neighbouring parameter or neuron of the same layer: the value of
    dE_total/dw5 given for dE_total/dw6, out_h1 for out_h2; and a parameter's updated value given
    under its initial name (w1+ for w1)."""
    network = model.network
    out = []
    if q.is_parameter and not q.updated and q.after is None and q.name in network.parameter:
        out.append((q.with_update(), f"the updated value {q.with_update()} given for {q}: name it {q.with_update()}"))
    for name in q.subjects:
        if name in network.parameter:
            p = network.parameter[name]
            peers = [o.name for o in network.parameters if o.kind == p.kind and o.layer == p.layer and o.name != name]
        elif name in network.layer_of:
            peers = [n for n in network.layers[network.layer_of[name]] if n != name]
        else:
            continue
        for peer in peers:
            other = q.renamed(name, peer)
            out.append(
                (
                    other,
                    f"the value of {other.base}{'+' if q.updated else ''} given for {q.base}{'+' if q.updated else ''}",
                )
            )
    return out


def parse_claim(text: str, model=None) -> tuple[Q.Quantity, Decimal]:
    """``"dE_total/dw6 = 0.0827"`` -> (quantity, number as written); with a ``model``, the quantity is
    checked against its network (an unknown name gets a suggestion)."""
    quantity, sep, number = text.partition("=")
    shown = quoted(text)
    if not sep or not quantity.strip() or not number.strip():
        raise Q.QuantityError(f"cannot read claim {shown}: write quantity=value, e.g. dE_total/dw6=0.0827")
    try:
        value = Decimal(number.strip())
    except InvalidOperation:
        raise Q.QuantityError(f"cannot read claim {shown}: {quoted(number.strip())} is not a number") from None
    if not value.is_finite():
        raise Q.QuantityError(f"cannot read claim {shown}: the value must be finite")
    if problem := published_problem(value):  # the limits of a published number: 1e999999999 is none
        raise Q.QuantityError(f"cannot read claim {shown}: {excerpt(number.strip())} {problem}")
    return (Q.parse(quantity) if model is None else checked(model, quantity.strip())), value


def discordant(auditor: Auditor, findings: list[Finding], digits: int = 9) -> list[str]:
    """A sentence for each number of training steps N whose wrong published numbers (``X@N``) no one
    explanation reproduces together: which explanation reproduces which, and what it gives for the
    others. (The reference article's outputs after 10,000 steps are in-place training's; the E_total
    it prints beside them is not: in-place training gives the error of those outputs.)"""
    by_steps: dict[int, list[Finding]] = {}
    for f in findings:
        if not f.agrees and f.explained and f.quantity.after:
            by_steps.setdefault(f.quantity.after, []).append(f)
    if not by_steps:
        return []
    variants = {v.key: v for v in auditor.variants}
    notes = []
    for steps, group in sorted(by_steps.items()):
        if len(group) < 2 or set.intersection(*({m.key for m in f.reproducing} for f in group)):
            continue
        explanations: dict[str, tuple[str, list[Finding]]] = {}
        for f in group:
            first = f.reproducing[0]
            explanations.setdefault(first.key, (first.description, []))[1].append(f)
        parts = []
        for key, (description, explained) in explanations.items():
            names = " and ".join(str(f.quantity) for f in explained)
            text = f"{names} {'is' if len(explained) == 1 else 'are'} reproduced by {description}"
            gives = []
            for other in (f for f in group if f not in explained and key in variants):
                try:
                    value = auditor.resolver(variants[key]).value(other.quantity)
                except (*SKIP, Q.QuantityError, ZeroDivisionError, OverflowError, ValueError):
                    continue
                gives.append(f"{other.quantity} = {fmt(value, digits)} (published {other.printed})")
            parts.append(text + (", which gives " + " and ".join(gives) if gives else ""))
        notes.append(f"The published numbers after {steps} steps need different explanations (no one variant "
                     f"reproduces them all): {'; '.join(parts)}.")
    return notes
