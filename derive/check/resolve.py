"""The value of any quantity of the grammar (`derive.model.quantities`), for one way of computing it.

A `Resolver` holds an evaluation (values of every step, possibly of a variant of the derivation) and
a trainer (how training steps are taken, possibly a variant); the audit builds one per variant.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import mpmath
import sympy as sp

from derive.derivation.evaluate import PRECISION, Evaluation, evaluate, mp_value
from derive.model import quantities as Q

Trainer = Callable[[int], dict[str, float]]  # steps -> parameters after them


def default_trainer(model, freeze_biases: bool | None = None, update_order: str = "simultaneous") -> Trainer:
    """Parameters after N float64 steps (each N trained once); biases as the spec says unless given."""

    @cache
    def trained(steps: int) -> dict[str, float]:
        return model.train(steps, freeze_biases=freeze_biases, update_order=update_order, history=False).parameters

    return trained


def known_names(model) -> list[str]:
    """Every quantity of one sample a user can ask for, for suggestions."""
    network = model.network
    names = [str(s.quantity) for s in model.derivation.steps if s.quantity.kind != Q.TEMPORARY]
    return names + [p.name for p in network.parameters] + network.inputs + [str(Q.target(o)) for o in network.outputs]


def checked(model, quantity: Q.Quantity | str) -> Q.Quantity:
    """The quantity, parsed, and known to name things this network has (else a QuantityError with a
    suggestion)."""
    q = Q.parse(quantity) if isinstance(quantity, str) else quantity
    if not model.network.knows(q):
        raise Q.QuantityError(f"unknown quantity {str(quantity)!r} in network {model.spec.name}"
                              f"{Q.suggestion(str(q.base), known_names(model))}")
    samples = len(model.spec.samples)
    if q.sample is not None and q.sample >= samples:
        raise Q.QuantityError(f"{str(quantity)!r}: there {'is' if samples == 1 else 'are'} {samples} "
                              f"sample{'s' if samples > 1 else ''}")
    return q


class Resolver:
    def __init__(self, model, evaluation: Evaluation | None = None, trainer: Trainer | None = None):
        self.model = model
        self.evaluation = evaluation or model.evaluation
        self.trainer = trainer or default_trainer(model)
        self._at: dict[int, Evaluation] = {}

    def value(self, quantity: Q.Quantity | str):
        q = checked(self.model, quantity)
        if q.after is not None:
            return self._after(q)
        return self._value(self.evaluation, q)

    def _value(self, evaluation: Evaluation, q: Q.Quantity):
        base, sample = q.base, q.sample
        if q.updated:
            return evaluation.totals[base.with_update()]
        if sample is None and base in evaluation.totals:
            return evaluation.totals[base]
        if sample is None and len(evaluation.samples) > 1:
            raise Q.QuantityError(
                f"{q.text!r} has one value per sample: write {base}[1] .. {base}[{len(evaluation.samples)}]"
            )
        values = evaluation.samples[sample or 0]
        if base in values:
            return values[base]
        if base.is_partial:
            return self._graph_partial(evaluation, base, sample or 0)
        raise Q.QuantityError(f"unknown quantity {q.text!r}{Q.suggestion(str(base), known_names(self.model))}")

    def _after(self, q: Q.Quantity):
        """A value after N training steps: train (float64), then evaluate at those parameters."""
        steps = q.after
        params = self.trainer(steps)
        base = q.after_steps(None)
        if base.is_parameter and not q.updated:
            return mpmath.mpf(params[base.name])
        if steps not in self._at:  # the correct forward pass at the trained parameters
            self._at[steps] = evaluate(self.model.derivation, parameters=params)
        return self._value(self._at[steps], base)

    def _graph_partial(self, evaluation: Evaluation, base: Q.Quantity, sample: int):
        """dA/dB for forward quantities: A written in terms of B (expanding every definition that
        comes after B), differentiated by SymPy, evaluated at this sample's values."""
        network = self.model.network
        forward = {Q.NET, Q.OUT, Q.ERROR, Q.TOTAL, Q.INPUT, Q.WEIGHT, Q.BIAS}
        if base.of.kind not in forward or base.wrt.kind not in forward:
            raise Q.QuantityError(f"unknown quantity {base.text!r}: both sides of dA/dB must be values such as net_h1, "
                                  "out_o1, E_o1, E_total, w5")
        sym_of, sym_wrt = network.symbol(base.of), network.symbol(base.wrt)
        derivative = sp.diff(network.expand(sym_of, after=sym_wrt), sym_wrt)
        env = {network.symbol(k): v for k, v in evaluation.samples[sample].items()}
        with mpmath.workdps(PRECISION):
            return mp_value(derivative, env)
