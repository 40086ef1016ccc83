"""Two slips at once: the variants of `derive.check.variants` combined in pairs.

A wrong number that no single slip reproduces is often two slips on top of each other: a weight
swapped and every intermediate rounded, the 1/2 dropped and the sign of dE/dout flipped. Evaluation
variants carry their transform (or rounding), so two of them compose: the second rewrites what the
first gave. A value slip (the sign of the result flipped) applies on top of any evaluation variant.
Training variants are not paired (they only touch values after training).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from functools import partial

from derive.check.resolve import Resolver
from derive.check.variants import Variant, _evaluation_variant
from derive.model.reading import place

NEGATED = ("sign_flipped", "the sign of the result flipped")


def compose(first, second):
    """A transform doing ``first``, then ``second`` on what ``first`` gave."""

    def transform(step, model):
        expr = first(step, model)
        return second(dataclasses.replace(step, formula=expr, compute=expr), model)

    return transform


def rounding_keys(printed: Decimal) -> set[str]:
    """The rounding variants at the digits a number is written with: rounding to one's own digits is
    the first thing a hand calculation does."""
    places = -place(printed)
    significant = len(printed.normalize().as_tuple().digits) if printed else 0
    return {f"rounded_{places}_decimals", f"rounded_{significant}_significant"}


def _negated(model, transform) -> Resolver:
    return _Negated(_evaluation_variant(model, transform))


class _Negated(Resolver):
    def __init__(self, inner: Resolver):  # a view of another resolver
        self.inner = inner

    def value(self, quantity):
        return -self.inner.value(quantity)


def pairs(model, singles: list[Variant], printed: Decimal | None = None) -> list[Variant]:
    """Every pair of evaluation slips; a rounding variant only at the digits ``printed`` shows (all
    of them without it); each evaluation slip with its result's sign flipped."""
    edits = [v for v in singles if v.transform is not None]
    keys = rounding_keys(printed) if printed is not None else None
    rounders = [v for v in singles if v.round_to is not None and (keys is None or v.key in keys)]
    out = []
    for i, a in enumerate(edits):
        for b in edits[i + 1:]:
            transform = compose(a.transform, b.transform)
            out.append(Variant(f"{a.key}+{b.key}", f"{a.description}; and {b.description}",
                               partial(_evaluation_variant, model, transform), transform))
    for r in rounders:
        for e in edits:
            out.append(Variant(f"{r.key}+{e.key}", f"{e.description}; and {r.description}",
                               partial(_evaluation_variant, model, e.transform, r.round_to),
                               e.transform, r.round_to))
    for e in edits:
        out.append(Variant(f"{e.key}+{NEGATED[0]}", f"{e.description}; and {NEGATED[1]}",
                           partial(_negated, model, e.transform)))
    return out
