"""Exercises: variants of a network with nice numbers, the questions asked about each, and the digits
each answer is asked to, so that a correct answer passes and the usual slips do not.

A variant keeps the network's shape, activations, loss, bias mode and learning rate, and draws new
weights, biases and inputs (at most two decimals, in ranges like the original's) and targets (the
original's, in a new order). A variant is drawn again when it would make a poor exercise: a hidden
unit saturated (its derivative all but vanishes: the registry's ``saturated``), a net input at an
activation's kink (relu at 0), two asked values equal to the digits asked, or an asked derivative
that rounds to zero. Each variant draws from its own generator, seeded by (seed, number), so the
same seed gives the same variants on every machine, and variant 3 is the same whether 5 or 30 are made.

An answer is accepted within half a unit of its last asked digit of the exact value (a correctly
rounded answer always is). When a usual slip would fall inside that tolerance, the answer is asked
to one more decimal, until none does.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

import mpmath
import sympy as sp

from derive.check.audit import confusions
from derive.check.resolve import checked
from derive.derivation.training import MAX_TRAINING_WORK
from derive.escape import quoted
from derive.model import layers
from derive.model import quantities as Q
from derive.model.decimals import to_decimal
from derive.model.spec import MAX_NAME, MAX_TITLE, Spec, parse
from derive.render.spec_toml import spec_toml

DECIMALS = 4  # the default digits asked
MAX_DECIMALS = 10
ZERO = mpmath.mpf(10) ** -40  # below it a 60-digit value is 0 by the network's structure, not by chance
TRIES = 400  # draws of one variant before giving up (each rejected for a reason it names)


class ExerciseError(ValueError):
    """No good variant could be drawn (exit status 2, naming the last reason)."""


class VariantModel(Protocol):
    """What is read of a variant's model here (a `derive.Model`, a layer above this one)."""

    @property
    def spec(self) -> Spec: ...


@dataclass(frozen=True)
class Question:
    quantity: Q.Quantity
    value: object  # exact (60 digits)
    decimals: int
    unsearched: str = ""  # why the slips were not searched (a value after many training steps), or ""

    @property
    def tolerance(self) -> Decimal:
        return Decimal(5).scaleb(-self.decimals - 1)

    @property
    def answer(self) -> Decimal:
        return rounded(self.value, self.decimals)

    @property
    def key(self) -> Decimal:
        """The value an answer is compared with: the exact value to six decimals past the ones asked
        (a plain decimal every quiz reads)."""
        return to_decimal(self.value).quantize(Decimal(1).scaleb(-self.decimals - 6))

    @property
    def bounds(self) -> tuple[Decimal, Decimal]:
        """The answers accepted: ``key`` ± ``tolerance``, both ends included (every quiz's one rule)."""
        return self.key - self.tolerance, self.key + self.tolerance


@dataclass
class Exercise:
    number: int
    text: str  # the variant's spec file
    spec: Spec
    model: VariantModel | None  # a `derive.Model`; None once sent back from a worker process
    questions: list[Question]

    @property
    def stem(self) -> str:
        return f"variant-{self.number:02d}"


def rounded(value, decimals: int) -> Decimal:
    return to_decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


# -- what is asked -------------------------------------------------------------------------------------
def default_asks(model) -> list[Q.Quantity]:
    """The forward pass, E_total, every output delta, one weight and one bias gradient per layer
    (the first of each), and the first weight updated. With several samples, the per-sample ones of
    sample 1."""
    network = model.network
    tag = (lambda q: q.at_sample(0)) if len(model.spec.samples) > 1 else (lambda q: q)
    asks = [tag(f(n)) for layer in network.layers[1:] for f in (Q.net, Q.out) for n in layer]
    asks.append(Q.TOTAL_ERROR)
    asks += [tag(Q.delta(o)) for o in network.outputs]
    for kind in (Q.WEIGHT, Q.BIAS):
        for k in range(1, network.depth + 1):
            first = next((p for p in network.parameters if p.kind == kind and p.layer == k), None)
            if first is not None:
                asks.append(Q.gradient(first.name))
    first_weight = next(p for p in network.parameters if p.kind == Q.WEIGHT)
    asks.append(first_weight.quantity.with_update())
    # A derivative that is 0 in every variant (a shared bias before an output layer whose outputs
    # only depend on differences of nets) is no question.
    return [q for q in asks if not (q.is_partial and abs(model.value(q)) <= ZERO)]


def parse_asks(model, texts: list[str], variants: int = 1) -> list[Q.Quantity]:
    """The quantities a teacher asks for, checked against the network (a QuantityError names any),
    and their training within `MAX_TRAINING_WORK` for all the variants together: each variant trains
    its own network, so 30 variants of ``E_total@1000000`` are 30 runs of a million steps."""
    asks = [checked(model, text) for text in texts]
    if len(set(asks)) != len(asks):
        raise Q.QuantityError("a quantity is asked twice")
    steps = max((q.after or 0 for q in asks), default=0)
    sizes = len(model.parameters), len(model.spec.samples)
    work = variants * steps * sizes[0] * sizes[1]
    if work > MAX_TRAINING_WORK:
        raise Q.QuantityError(
            f"--ask {quoted(next(str(q) for q in asks if q.after == steps))}: {variants} variants x {steps:,} steps "
            f"x {sizes[0]} parameters x {sizes[1]} sample{'s' if sizes[1] > 1 else ''} = {work:,} steps of training; "
            f"the limit is {MAX_TRAINING_WORK:,} (about a minute): ask fewer variants or fewer steps")
    return asks


# -- drawing a variant ---------------------------------------------------------------------------------
def _hundredths(values) -> tuple[int, int]:
    """A range of whole hundredths like the values': theirs, widened by a quarter of its width on
    each side (at least 0.05 or 5% of the largest), keeping the values' sign."""
    lo, hi = float(min(values)), float(max(values))
    pad = max((hi - lo) / 4, 0.05 * max(abs(lo), abs(hi)), 0.05)
    low, high = math.floor(round((lo - pad) * 100, 6)), math.ceil(round((hi + pad) * 100, 6))
    if lo > 0:
        low = max(low, 1)
    if hi < 0:
        high = min(high, -1)
    return low, high


def _nice(rng: random.Random, span: tuple[int, int]) -> sp.Rational:
    while True:
        value = rng.randint(*span)
        if value:  # a zero weight or input makes a trivial step
            return sp.Rational(value, 100)


def draw_spec(spec: Spec, rng: random.Random) -> Spec:
    weights = []
    for tensor in spec.weights:  # each layer's, as its kind lays it out (a matrix, a kernel, a vector)
        values = layers.flat(tensor)
        if not values:  # a layer without parameters (pooling)
            weights.append(tensor)
            continue
        span = _hundredths(values)
        weights.append(layers.like(tensor, [_nice(rng, span) for _ in values]))
    biases = []
    for layer in spec.biases:
        if not layer:  # () without biases (bias = "none"): nothing to draw
            biases.append(())
            continue
        span = _hundredths(layer)
        biases.append(tuple(_nice(rng, span) for _ in layer))
    span = _hundredths([x for s in spec.samples for x in s.inputs])
    samples = []
    for s in spec.samples:
        targets = list(s.targets)
        rng.shuffle(targets)
        samples.append(dataclasses.replace(s, inputs=tuple(_nice(rng, span) for _ in s.inputs),
                                           targets=tuple(targets)))
    return dataclasses.replace(spec, weights=tuple(weights), biases=tuple(biases), samples=tuple(samples),
                               steps=None, seed=None, published=())


def poor(model, asks: list[Q.Quantity], decimals: int) -> str | None:
    """Why a variant makes a poor exercise, or None."""
    network, evaluation = model.network, model.evaluation
    for s, values in enumerate(evaluation.samples):
        for k, layer in enumerate(network.layers[1:], start=1):
            act = network.layer_activation(k)
            for n in layer:
                if k < network.depth and act.saturated and act.saturated(values[Q.out(n)]):
                    return f"hidden unit {n} saturated (out = {mpmath.nstr(values[Q.out(n)], 4)}, sample {s + 1})"
                if act.kink is not None and abs(values[Q.net(n)] - act.kink) < mpmath.mpf(10) ** -40:
                    return f"net_{n} = {act.kink}, at the activation's kink (sample {s + 1})"
    answers: dict[Decimal, list[tuple]] = {}
    for q in asks:
        value = model.value(q)
        answer = rounded(value, decimals)
        for other, exact in answers.get(answer, []):
            if abs(exact - value) > ZERO:  # equal by the network's structure (out = net above a relu's 0) is fine
                return f"{q} and {other} are both {answer} to {decimals} decimals"
        answers.setdefault(answer, []).append((q, value))
        if answer == 0 and (q.kind == Q.DELTA or q.is_partial) and abs(value) > ZERO:
            return f"{q} rounds to 0 at {decimals} decimals"
    return None



def questions(model, asks: list[Q.Quantity], decimals: int, variants: int = 1) -> list[Question] | str:
    """Each asked value, to the fewest decimals (from ``decimals``) at which no usual slip, rounded
    to those decimals, lands within the tolerance of the exact value; or why no such decimals exist
    within `most_decimals` (a slip that barely changes the value: a poor exercise).

    A slip of the whole computation (a weight swapped in the forward pass) must be caught by the
    first asked number it changes; a number further on may take it within its tolerance, which
    marks that number right from the learner's own earlier ones, as a teacher marks. A slip of one
    number (its sign flipped, the update taken with +, a neighbour's value given) must be caught by
    that number itself. A value after training has its slips searched only while ``variants``
    exercises' searches fit in the audit's budget (each slip retrains)."""
    auditor = model.auditor
    values = {q: model.value(q) for q in asks}
    slips: dict[Q.Quantity, list[tuple[str, object]]] = {q: [] for q in asks}
    whole = {}
    unsearched = {q: auditor.unsearched(q, variants) for q in asks}
    for q in asks:
        for variant, v in [] if unsearched[q] else auditor.alternatives(q, values[q]):
            if not is_slip(variant.key) or abs(v - values[q]) <= 1e-30 * max(1, abs(values[q])):
                continue  # no digits tell equal values apart
            if variant.transform is None and variant.round_to is None and not variant.whole:  # of one number
                slips[q].append((variant.description, v))
            elif variant.key not in whole:  # the first asked number this slip changes
                whole[variant.key] = q
                slips[q].append((variant.description, v))
        for other, description in confusions(model, q):
            try:
                v = model.value(other)
            except Q.QuantityError:
                continue
            if abs(v - values[q]) > 1e-30 * max(1, abs(values[q])):
                slips[q].append((description, v))
    out = []
    for q in asks:
        d, limit = decimals, most_decimals(values[q], decimals)
        while (near := [what for what, v in slips[q] if accepted(v, values[q], d)]) and d < limit:
            d += 1
        if near:
            return f"{q}: a slip ({near[0]}) is within {Decimal(5).scaleb(-d - 1)} of it"
        out.append(Question(q, values[q], d, unsearched[q]))
    return out


def most_decimals(value, decimals: int) -> int:
    """The most decimals an answer is asked to: two more than asked, or six significant digits."""
    d = to_decimal(value)
    significant = 6 - d.adjusted() - 1 if d else decimals
    return min(MAX_DECIMALS, max(decimals + 2, significant))


def is_slip(key: str) -> bool:
    """Rounding one's intermediates is no slip; training variants change no one-step value."""
    return not key.startswith("rounded_")


def accepted(number, value, decimals: int) -> bool:
    """Would ``number``, rounded to ``decimals``, be accepted as ``value``?"""
    with mpmath.workdps(60):
        tolerance = mpmath.mpf(str(Decimal(5).scaleb(-decimals - 1)))
        return abs(mpmath.mpf(str(rounded(number, decimals))) - value) <= tolerance


PROBES = 3  # drawings besides the network's own that a value must keep to be fixed by the structure


def fixed_values(model, asks: list[Q.Quantity]) -> dict[Q.Quantity, object]:
    """The asked quantities whose value no drawing changes (the network's structure fixes it: the one
    output of a softmax is 1, so its cross-entropy error and delta are 0), each with that value.
    Every variant would ask the same number, so these are no question: `derive exercise` leaves them
    out of its default questions and refuses them when asked by name. A value is fixed when the
    network's own numbers and `PROBES` drawings (from a generator of their own, so the same every
    time) all give it, to 60 digits; a drawing the network cannot evaluate is skipped."""
    rng = random.Random("backprop-derive exercise fixed values")
    models = [model]
    for _ in range(PROBES):
        try:
            models.append(type(model)(draw_spec(model.spec, rng)))
        except (ValueError, ArithmeticError):  # a SpecError (a function undefined there) is a ValueError
            continue
    fixed = {}
    for q in asks:
        try:
            values = [m.value(q) for m in models]
        except (Q.QuantityError, ValueError, ArithmeticError):
            continue
        if len(models) > 1 and all(abs(v - values[0]) <= ZERO for v in values[1:]):
            fixed[q] = values[0]
    return fixed


def draw(model, number: int, seed: int, asks: list[Q.Quantity] | None, decimals: int, header: str = "",
         leave_out: frozenset = frozenset(), variants: int = 1) -> Exercise:
    """Variant ``number`` (from 1) of ``model``'s network: drawn until it makes a good exercise (one
    of ``variants``, which share the audit's budget for searching slips that retrain). With no
    ``asks``, the default questions but those in ``leave_out`` (`fixed_values`)."""
    rng = random.Random(f"backprop-derive exercise {seed} {number}")
    spec = model.spec
    # PrairieLearn's variant seeds run to 2^32: the name and title keep within the spec's limits
    suffix, tag = f"_v{number:02d}", f" (variant {number})"
    name = f"{spec.name[:min(58, MAX_NAME - len(suffix))]}{suffix}"
    title = f"{spec.title[:min(180, MAX_TITLE - len(tag))]}{tag}"
    reason: str | None = ""
    for _ in range(TRIES):
        drawn = draw_spec(spec, rng)
        text = spec_toml(drawn, header, name=name, title=title)
        variant = parse(text, f"variant-{number:02d}.toml")
        candidate = type(model)(variant)
        chosen = asks or [q for q in default_asks(candidate) if q not in leave_out]
        reason = poor(candidate, chosen, decimals)
        if reason is None:
            asked = questions(candidate, chosen, decimals, variants)
            if not isinstance(asked, str):
                return Exercise(number, text, variant, candidate, asked)
            reason = asked
    raise ExerciseError(f"no good variant {number} in {TRIES} draws (the last: {reason}); "
                        "ask other quantities or widen the network's numbers")
