"""The value of any quantity of the grammar (`derive.quantities`), for one way of computing it.

A `Resolver` holds an evaluation (values of every step, possibly of a variant of the derivation) and
a trainer (how training steps are taken, possibly a variant); the audit builds one per variant.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import mpmath
import sympy as sp

from derive.model import naming
from derive.derivation.evaluate import PRECISION, Evaluation, evaluate, mp_value
from derive.model.quantities import Quantity, QuantityError, parse

Trainer = Callable[[int], dict[str, float]]  # steps -> parameters after them


def default_trainer(model, freeze_biases: bool | None = None) -> Trainer:
    """Parameters after N float64 steps (each N trained once); biases as the spec says unless given."""

    @cache
    def trained(steps: int) -> dict[str, float]:
        return model.train(steps, freeze_biases=freeze_biases).parameters

    return trained


class Resolver:
    def __init__(self, model, evaluation: Evaluation | None = None, trainer: Trainer | None = None):
        self.model = model
        self.evaluation = evaluation or model.evaluation
        self.trainer = trainer or default_trainer(model)
        self._at: dict[int, Evaluation] = {}

    def value(self, quantity: Quantity | str):
        q = parse(quantity) if isinstance(quantity, str) else quantity
        samples = len(self.model.spec.samples)
        if q.sample is not None and q.sample >= samples:
            raise QuantityError(f"{q.text!r}: there are {samples} samples")
        if q.after is not None:
            return self._after(q)
        return self._value(self.evaluation, q)

    def _value(self, evaluation: Evaluation, q: Quantity):
        network = self.model.network
        base, sample = q.base, q.sample
        if q.updated:
            if base not in network.parameter:
                raise QuantityError(f"{q.text!r}: only a parameter has a value after one step (like w5+)")
            return evaluation.totals[naming.updated(base)]
        if sample is None and base in evaluation.totals:
            return evaluation.totals[base]
        if sample is None and len(evaluation.samples) > 1:
            raise QuantityError(f"{q.text!r} has one value per sample: write {base}[1] .. {base}[{len(evaluation.samples)}]")
        values = evaluation.samples[sample or 0]
        if base in values:
            return values[base]
        if q.is_partial:
            return self._graph_partial(evaluation, base, sample or 0)
        raise QuantityError(f"unknown quantity {q.text!r}")

    def _after(self, q: Quantity):
        """A value after N training steps: train (float64), then evaluate at those parameters."""
        steps = q.after
        params = self.trainer(steps)
        base = Quantity(q.text, q.base, q.sample, None, q.updated)
        if q.base in params and not q.updated:
            return mpmath.mpf(params[q.base])
        if steps not in self._at:  # the correct forward pass at the trained parameters
            self._at[steps] = evaluate(self.model.derivation, parameters=params)
        return self._value(self._at[steps], base)

    def _graph_partial(self, evaluation: Evaluation, base: str, sample: int):
        """dA/dB for forward quantities: A written in terms of B (expanding every definition that
        comes after B), differentiated by SymPy, evaluated at this sample's values."""
        network = self.model.network
        of, wrt = base.split("/")
        of, wrt = of[1:], wrt[1:]
        defs = network.definitions()
        order = list(defs)
        known = {str(s) for s in order} | set(network.parameter) | set(network.inputs)
        if of not in known or wrt not in known:
            raise QuantityError(f"unknown quantity 'd{of}/d{wrt}': both sides must be values such as net_h1, "
                                "out_o1, E_o1, E_total, w5")
        sym_of, sym_wrt = network.symbol(of), network.symbol(wrt)
        start = order.index(sym_wrt) + 1 if sym_wrt in defs else 0
        expr = sym_of
        for sym in reversed(order[start:]):
            if expr.has(sym):
                expr = expr.xreplace({sym: defs[sym]})
        derivative = sp.diff(expr, sym_wrt)
        env = {network.symbol(k): v for k, v in evaluation.samples[sample].items()}
        with mpmath.workdps(PRECISION):
            return mp_value(derivative, env)
