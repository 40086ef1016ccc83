"""Other textbooks' conventions: the same backpropagation written another way, which a teacher
marks right when a whole sheet follows it.

- Sign: δ defined as −∂E/∂net, so that an output's Err = out(1 − out)(target − out) and the update
  is w ← w + η·Err·input (T. Mitchell, Machine Learning, 1997, §4.5, Table 4.2; J. Han, M. Kamber
  and J. Pei, Data Mining: Concepts and Techniques, 3rd ed., §9.2.3, Example 9.1). Every number of
  the backward pass (dE/d·, δ, the gradients) has the opposite sign; the updated weights are equal.
- The bias written as a threshold θ subtracted from the net input, net = Σ w·x − θ (M. Negnevitsky,
  Artificial Intelligence: A Guide to Intelligent Systems, 2nd ed., §6.4): either the network's
  bias b written as θ = −b (θ, ∂E/∂θ and θ⁺ change sign), or the bias given on the sheet used as θ
  and subtracted (a different forward pass).
- The loss's own conventions, from its registry entry (half squared error written without the ½).

A `World` is one combination of conventions: the network (or its variant) that the learner's
numbers are then right for, how their numbers read in its terms, and its correct values. A
convention is the whole sheet's: a world is judged by the numbers it explains (`World.explains`),
each right in it directly or computed from the learner's numbers that are themselves right in it,
never by numbers carried forward from one it makes wrong.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from itertools import product
from typing import Protocol

from derive.check.audit import agrees
from derive.check.carried import CarriedForward, Program
from derive.check.variants import _evaluation_variant, variants
from derive.model import quantities as Q
from derive.model.spec import Spec

OWN_NUMBERS = ", from your own earlier numbers"
SIGN = ("delta_sign", "δ defined as −∂E/∂net: Err = out(1 − out)(target − out), w ← w + η·Err·input "
        "(Mitchell, Machine Learning, §4.5; Han, Kamber & Pei, Data Mining, §9.2.3)")
THRESHOLD = ("bias_threshold", "the bias written as a threshold θ = −b subtracted from the net input "
             "(net = Σ w·x − θ, as in Negnevitsky, Artificial Intelligence, §6.4)")
SUBTRACTED = ("bias_subtracted", "the bias given used as a threshold θ and subtracted from the net input "
              "(net = Σ w·x − θ, as in Negnevitsky, Artificial Intelligence, §6.4)")


def backward(key: Q.Quantity) -> bool:
    """A number of the backward pass: a delta, or a derivative of an error."""
    return key.kind == Q.DELTA or (key.is_partial and key.subject.kind in (Q.TOTAL, Q.ERROR))


def of_bias(key: Q.Quantity) -> bool:
    return key.kind == Q.BIAS or (key.is_partial and key.variable.kind == Q.BIAS)


class WorldModel(Protocol):
    """What is read of a world's model here (a `derive.Model`, a layer above this one): its spec, and
    its class, which makes the model of another spec."""

    spec: Spec

    def __init__(self, spec: Spec) -> None: ...


@dataclass
class World:
    """One combination of conventions (each a (key, description) pair), for one model."""

    model: WorldModel
    conventions: tuple[tuple[str, str], ...]
    loss_slip: str | None = None  # the key of the loss slip that this world's loss definition is

    @property
    def name(self) -> str:
        """The conventions' descriptions ("" for the network's own, the world of no other convention)."""
        return "; and ".join(d for _, d in self.conventions)

    @property
    def keys(self) -> set[str]:
        return {k for k, _ in self.conventions}

    @cached_property
    def network_model(self):
        """The network the learner computed: the same, or with each bias subtracted (negated)."""
        if SUBTRACTED[0] not in self.keys:
            return self.model
        spec = self.model.spec
        negated = tuple(tuple(-b for b in layer) for layer in spec.biases)
        return type(self.model)(dataclasses.replace(spec, biases=negated))

    @cached_property
    def transform(self):
        if self.loss_slip is None:
            return None
        return next(v.transform for v in variants(self.network_model) if v.key == self.loss_slip)

    @cached_property
    def program(self) -> Program:
        return Program(self.network_model)

    @cached_property
    def truth(self):
        model = self.network_model
        return _evaluation_variant(model, self.transform) if self.transform else model.resolver

    def sign(self, key: Q.Quantity) -> int:
        """How a learner's number for ``key`` reads in this world's terms: as it is, or negated."""
        flips = (SIGN[0] in self.keys and backward(key)) + (self.keys & {THRESHOLD[0], SUBTRACTED[0]} != set()
                                                            and of_bias(key))
        return -1 if flips % 2 else 1

    def explains(self, answers: list[tuple]) -> dict[int, str]:
        """The answers (index -> how) that are right in this world: directly (""), or computed from the
        learner's numbers that are themselves right in it (`OWN_NUMBERS`: their rounding carried
        forward). A number computed from one this world makes wrong is no evidence for it: Mitchell's
        w + eta Err x, with Err written in the other sign, is the update taken with +.

        ``answers``: (key, quantity, given) for each of the sheet's numbers that has a hand formula."""
        mapped = [given * self.sign(key) for key, _, given in answers]
        right = {}
        for i, (_, quantity, _) in enumerate(answers):
            try:
                truth = self.truth.value(quantity)
            except Q.QuantityError:
                continue
            if agrees(truth, mapped[i]):
                right[i] = ""
        while True:
            cf = CarriedForward(self.program, {answers[i][0]: mapped[i] for i in right}, self.transform)
            new = {i: OWN_NUMBERS for i, (key, _, _) in enumerate(answers)
                   if i not in right and cf.carries(key, mapped[i])}
            if not new:
                return right
            right.update(new)

    def carried(self, answers: list[tuple]) -> set[int]:
        """The answers that this world's computation gives from all the learner's numbers, right or
        wrong in it (error carried forward, under its conventions)."""
        mapped = {key: given * self.sign(key) for key, _, given in answers}
        cf = CarriedForward(self.program, mapped, self.transform)
        return {i for i, (key, _, _) in enumerate(answers) if cf.carries(key, mapped[key])}


def own_world(model) -> World:
    """The network's own conventions: no other."""
    return World(model, ())


def worlds(model) -> list[World]:
    """Every combination of conventions that applies to the model's network, fewest first."""
    losses = [(s.key, s.convention) for s in model.network.loss.slips if s.convention]
    out = []
    for sign, loss, bias in product((None, SIGN), (None, *losses), (None, THRESHOLD, SUBTRACTED)):
        chosen = tuple(c for c in (sign, loss, bias) if c is not None)
        if chosen:
            out.append(World(model, chosen, loss[0] if loss else None))
    return sorted(out, key=lambda w: len(w.conventions))
