"""The usual slips of the optimizers and batch modes (`derive.model.optimizers`), as training variants.

Each slip is a change of the rules (Adam without bias correction, eps inside the square root,
momentum with dampening, weight decay applied after the step), of the settings (one optimizer taken
for its sibling, the full batch for mini-batches, the shuffle forgotten) or of the batch loss (its
mean taken as a sum). A slip is offered only where it changes something: weight decay slips need a
weight decay, the batch mean needs batches of more than one sample. Each variant trains with it, at
60 digits for the first steps and in a generated module compiled with the changed rules beyond, so
the parameters, the optimizer state and every value after N steps follow the slip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import sympy as sp

from derive.check.resolve import Resolver, default_trainer
from derive.model import optimizers as O
from derive.model import quantities as Q
from derive.render.code.python import compile_module
from derive.version import __version__


class TrainedResolver(Resolver):
    """A training variant in which a parameter after one step (``w5+``) is the slip's first step too."""

    def _value(self, evaluation, q: Q.Quantity):
        if q.updated and q.after is None:
            return self._after(q.base.after_steps(1))
        return super()._value(evaluation, q)


def _without_decay(entry: O.Optimizer) -> O.Optimizer:
    """The rules with weight decay taken out, then applied to the new value: p <- p_new (1 - eta lambda)."""
    rules = []
    for target, expr in entry.rules:
        plain = O.substituted(expr, {O.LAMBDA: sp.S.Zero})
        if target == O.PARAMETER:
            plain = sp.Mul(plain, sp.Add(1, sp.Mul(-1, O.ETA, O.LAMBDA, evaluate=False), evaluate=False),
                           evaluate=False)
        rules.append((target, plain))
    return replace(entry, rules=tuple(rules))


def _rule_slips(entry: O.Optimizer, settings: O.Settings) -> list[tuple[str, str, O.Optimizer]]:
    slips = entry.slipped()
    if settings.weight_decay:
        slips.append(("weight_decay_after_step", "weight decay applied after the step: p = (p - step) (1 - eta lambda)",
                      _without_decay(entry)))
    return slips


def _settings_slips(model, settings: O.Settings) -> list[tuple[str, str, dict, str | None]]:
    """(key, description, changed options, reduction) of the slips that change the settings."""
    count = len(model.spec.samples)
    slips: list[tuple[str, str, dict, str | None]] = []
    sibling = settings.entry.sibling
    if sibling and (settings.weight_decay or "momentum" in settings.entry.options):
        slips.append((f"{sibling}_for_{settings.optimizer}", f"{sibling} used for {settings.optimizer}",
                      {"optimizer": sibling}, None))
    size = O.batch_size_of(settings, count)
    if size < count:
        slips.append(("full_batch_for_minibatches", "every sample in every step (the full batch) for mini-batches",
                      {"batch_size": 0, "shuffle": False}, None))
    if settings.shuffle:
        slips.append(("no_shuffle", "the samples in spec order every epoch (the shuffle left out)",
                      {"shuffle": False}, None))
    if model.spec.reduction == "mean" and size > 1:
        slips.append(("batch_mean_as_sum", "the batch loss summed over its samples where the mean was asked for",
                      {}, "sum"))
    return slips


def optimizer_variants(model) -> list[tuple[str, str, Callable[[], TrainedResolver]]]:
    """(key, description, build a Resolver) for every slip that applies to the spec's settings."""
    settings = model.spec.training
    out: list[tuple[str, str, Callable[[], TrainedResolver]]] = []
    for key, description, entry in _rule_slips(settings.entry, settings):
        def build_rule(entry=entry):
            module = compile_module(model.derivation, __version__, {entry.name: entry})
            return TrainedResolver(model, trainer=default_trainer(model, settings, entry, module=module))
        out.append((key, description, build_rule))
    for key, description, given, reduction in _settings_slips(model, settings):
        def build_settings(given=given, reduction=reduction):
            changed = settings.configured(given)
            return TrainedResolver(model, trainer=default_trainer(model, changed, reduction=reduction))
        out.append((key, description, build_settings))
    return out
