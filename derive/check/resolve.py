"""The value of any quantity of the grammar (`derive.model.quantities`), for one way of computing it.

A `Resolver` holds an evaluation (values of every step, possibly of a variant of the derivation) and
a trainer (how training steps are taken, possibly a variant); the audit builds one per variant. A
trainer gives a `Snapshot` after N steps: at 60 digits for the first `EXACT_STEPS` steps
(`derive.derivation.exact_training`), from the generated module's float64 ``train`` beyond.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import mpmath
import sympy as sp

from derive.derivation.evaluate import PRECISION, Evaluation, derived, evaluate, mp_value
from derive.derivation.exact_training import EXACT_STEPS, ExactTraining, Snapshot
from derive.derivation.training import TrainingRun, train
from derive.escape import quoted
from derive.model import layers, optimizers
from derive.model import quantities as Q

Trainer = Callable[[int], Snapshot]  # steps -> parameters and optimizer state after them


def default_trainer(model, settings: optimizers.Settings | None = None,
                    optimizer: optimizers.Optimizer | None = None, reduction: str | None = None,
                    module=None) -> Trainer:
    """Snapshots after N steps (each N computed once) with the spec's settings unless given;
    ``optimizer`` replaces their optimizer's rules and ``reduction`` the spec's (the audit's slips),
    ``module`` the generated module (one compiled with those rules)."""
    settings = settings or model.spec.training
    same = settings == model.spec.training and optimizer is None and reduction is None
    exact = model.exact_training if same else ExactTraining(
        model.derivation, settings, optimizer, reduction, initial=model.evaluation)
    entry = optimizer or settings.entry
    runs: dict[int, TrainingRun] = {}  # float64 runs by their steps: a later N continues the nearest earlier one

    @cache
    def trained(steps: int) -> Snapshot:
        if steps <= EXACT_STEPS:
            return exact.snapshot(steps)
        start = runs.get(max((n for n in runs if n <= steps), default=-1))
        run = runs[steps] = train(module or model.module, model.spec, steps, settings, history=False,
                                  reduction=reduction, start=start)
        return float_snapshot(run, entry, steps)

    return trained


def float_snapshot(run, optimizer: optimizers.Optimizer, steps: int) -> Snapshot:
    """A snapshot from a float64 run: its state, and the slots computed within a step (mhat, vhat,
    update) recomputed from it by the rules."""
    state = {slot: dict(run.state[slot]) for slot in (optimizers.GRADIENT.name, *optimizer.state) if slot in run.state}
    for name in state.get(optimizers.GRADIENT.name, {}):
        kept = {s: state[s][name] for s in optimizer.state}
        for slot, value in derived(optimizer, run.settings, kept, steps).items():
            state.setdefault(slot, {})[name] = value
    return Snapshot(steps, run.parameters, state)


def known_names(model) -> list[str]:
    """Every quantity of one sample a user can ask for, for suggestions."""
    network = model.network
    names = [str(s.quantity) for s in model.derivation.steps if s.quantity.kind != Q.TEMPORARY]
    return names + [p.name for p in network.parameters] + network.inputs + [str(Q.target(o)) for o in network.outputs]


def checked(model, quantity: Q.Quantity | str) -> Q.Quantity:
    """The quantity, parsed, and known to name things this network has (else a QuantityError with a
    suggestion)."""
    try:
        q = Q.parse(quantity) if isinstance(quantity, str) else quantity
    except Q.QuantityError as exc:  # not of the grammar: perhaps a name of this network written another way (dW1)
        grammar = str(exc).startswith("cannot read quantity")  # (not a readable one past a limit: E_total@10**7)
        names = known_names(model) + [str(Q.gradient(p)) for p in model.parameters]
        hint = grammar and Q.suggestion(str(quantity), names)
        if not hint:
            raise
        raise Q.QuantityError(f"cannot read quantity {quoted(str(quantity))}{hint}") from None
    if not model.network.knows(q):
        raise Q.QuantityError(f"unknown quantity {quoted(quantity)} in network {model.spec.name}"
                              f"{Q.suggestion(str(q.base), known_names(model))}")
    samples = len(model.spec.samples)
    batch = layers.batch_size(model.spec.kinds)
    if q.sample is not None and q.sample >= samples and batch:
        raise Q.QuantityError(f"{quoted(quantity)}: the batch's {batch} samples are one pass, whose quantities take "
                              "no [k]: its units are numbered sample by sample (derive gradients lists them)")
    if q.sample is not None and q.sample >= samples:
        raise Q.QuantityError(f"{quoted(quantity)}: there {'is' if samples == 1 else 'are'} {samples} "
                              f"sample{'s' if samples > 1 else ''}")
    return q


def _mp(value) -> mpmath.mpf:
    """A float or a 60-digit value as an mpf, with all its digits."""
    with mpmath.workdps(PRECISION):
        return mpmath.mpf(value)


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
        raise Q.QuantityError(f"unknown quantity {quoted(q.text)}{Q.suggestion(str(base), known_names(self.model))}")

    def _after(self, q: Q.Quantity):
        """A value after N training steps: train, then evaluate at those parameters."""
        steps = q.after
        assert steps is not None  # asked only of a value after N steps
        snapshot = self.trainer(steps)
        base = q.after_steps(None)
        if base.kind == Q.STATE:
            return self._state(q, snapshot)
        if base.is_parameter and not q.updated:
            return _mp(snapshot.parameters[base.name])
        if steps not in self._at:  # the correct forward pass at the trained parameters
            self._at[steps] = evaluate(self.model.derivation, parameters=snapshot.parameters)
        return self._value(self._at[steps], base)

    def _state(self, q: Q.Quantity, snapshot: Snapshot):
        """Optimizer state after N steps (``m_w5@2``), with a clear error for state there is not."""
        settings = self.model.spec.training
        slot, name = q.name, q.subject.name
        if slot not in (optimizers.GRADIENT.name, *settings.entry.slots):
            raise Q.QuantityError(f"{q}: optimizer {settings.optimizer!r} has no {slot} "
                                  f"(its state: {', '.join(('g', *settings.entry.slots))})")
        trained = name in snapshot.state.get(optimizers.GRADIENT.name, {}) if snapshot.state else not (
            settings.freeze_biases and q.subject.kind == Q.BIAS)
        if not trained:
            raise Q.QuantityError(f"{q}: {name} is frozen (freeze_biases), so it has no optimizer state")
        if q.after == 0:
            if slot in settings.entry.state:
                return _mp(0)
            raise Q.QuantityError(f"{q}: {slot} is computed within a step; write {q.after_steps(1)} or later")
        if slot not in snapshot.state:
            raise Q.QuantityError(f"{q}: this way of computing has no optimizer state")
        return _mp(snapshot.state[slot][name])

    def _graph_partial(self, evaluation: Evaluation, base: Q.Quantity, sample: int):
        """dA/dB for forward quantities: A written in terms of B (expanding every definition that
        comes after B), differentiated by SymPy, evaluated at this sample's values."""
        network = self.model.network
        forward = {Q.NET, Q.OUT, Q.ERROR, Q.TOTAL, Q.INPUT, Q.WEIGHT, Q.BIAS}
        if base.subject.kind not in forward or base.variable.kind not in forward:
            raise Q.QuantityError(f"unknown quantity {quoted(base.text)}: both sides of dA/dB must be values such as "
                                  "net_h1, out_o1, E_o1, E_total, w5")
        sym_of, sym_wrt = network.symbol(base.of), network.symbol(base.wrt)
        derivative = sp.diff(network.expand(sym_of, after=sym_wrt), sym_wrt)
        env = {network.symbol(k): v for k, v in evaluation.samples[sample].items()}
        with mpmath.workdps(PRECISION):
            return mp_value(derivative, env)
