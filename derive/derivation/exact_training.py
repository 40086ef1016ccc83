"""The first training steps at 60 digits, for any optimizer and batch mode (`derive.model.optimizers`).

Float64 training is the generated module's ``train`` (`derive.derivation.training`), the one loop
anyone runs. Its numbers are right to about 15 digits, which a table of 9 digits can trust but an
exact document cannot; so for the first `EXACT_STEPS` steps the engine takes the same steps at 60
digits: the gradients of every sample from `evaluate` at the current parameters, the batch's
gradient, then the optimizer's rules evaluated in mpmath (`evaluate.update`). The tests hold the two
against each other and against an independent float implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath

from derive.derivation.evaluate import PRECISION, Evaluation, batch_gradient, evaluate, update
from derive.derivation.explain import Row, step_rows
from derive.derivation.steps import Derivation
from derive.model import optimizers
from derive.model import quantities as Q

EXACT_STEPS = 10  # steps taken at 60 digits; X@N for larger N comes from float64 training


@dataclass(frozen=True)
class Snapshot:
    """The parameters after ``step`` steps and the optimizer's state after that step: ``state[slot]
    [parameter]`` for "g" (the step's batch gradient) and every slot the rules assign (frozen
    parameters have none)."""

    step: int
    parameters: dict[str, object]
    state: dict[str, dict[str, object]]


def trained_groups(network, settings: optimizers.Settings) -> list[list[str]]:
    """The parameters training updates, in the groups it updates together: all at once, or (in
    place, `optimizers.IN_PLACE`) layer by layer from the top."""
    trained = [p for p in network.parameters if settings.trains(p)]
    if settings.update_order == optimizers.SIMULTANEOUS:
        return [[p.name for p in trained]]
    return [[p.name for p in trained if p.layer == k] for k in range(network.depth, 0, -1)]


class ExactTraining:
    """Snapshots after 0, 1, 2, ... steps, each computed once, on demand. ``optimizer`` replaces the
    settings' own entry (the audit's slips) and ``reduction`` the spec's (a batch mean taken as a sum)."""

    limit = EXACT_STEPS

    def __init__(self, derivation: Derivation, settings: optimizers.Settings, optimizer=None,
                 reduction: str | None = None, initial: Evaluation | None = None):
        self.derivation = derivation
        self.network = derivation.network
        self.settings = settings
        self.optimizer = optimizer or settings.entry
        self.mean = (reduction or self.network.spec.reduction) == "mean"
        self.count = len(self.network.spec.samples)
        self.groups = trained_groups(self.network, settings)
        self._evaluations: dict[int, Evaluation] = {0: initial} if initial is not None else {}
        self._snapshots: list[Snapshot] = []  # (the first made when asked: a page that asks none makes none)

    @property
    def full_batch(self) -> bool:
        return optimizers.batch_size_of(self.settings, self.count) == self.count

    def evaluation(self, steps: int) -> Evaluation:
        """Every value (display steps aside) at the parameters after ``steps`` steps."""
        if steps not in self._evaluations:
            self._evaluations[steps] = evaluate(self.derivation, display=False,
                                                parameters=self.snapshot(steps).parameters)
        return self._evaluations[steps]

    def snapshot(self, steps: int) -> Snapshot:
        if not self._snapshots:
            with mpmath.workdps(PRECISION):
                start = {p.name: mpmath.mpf(int(p.value.p)) / int(p.value.q) for p in self.network.parameters}
            self._snapshots.append(Snapshot(0, start, {}))
        while len(self._snapshots) <= steps:
            self._snapshots.append(self._step(len(self._snapshots)))
        return self._snapshots[steps]

    def _step(self, t: int) -> Snapshot:
        before = self._snapshots[t - 1]
        params = dict(before.parameters)
        samples = optimizers.batch(self.settings, t, self.count)
        state: dict[str, dict] = {slot: {} for slot in (optimizers.GRADIENT.name, *self.optimizer.slots)}
        for k, group in enumerate(self.groups):  # in place: the deltas through the layers above as updated
            values = self.evaluation(t - 1) if k == 0 else evaluate(
                self.derivation, display=False, parameters=before.parameters, backward=params)
            for name in group:
                g = batch_gradient(values.samples, samples, name, self.mean)
                own = {slot: before.state[slot][name] for slot in self.optimizer.state if slot in before.state}
                assigned = update(self.optimizer, self.settings, params[name], g, own, t)
                params[name] = assigned[optimizers.PARAMETER]
                state[optimizers.GRADIENT.name][name] = g
                for slot in self.optimizer.slots:
                    state[slot][name] = assigned[slot]
        return Snapshot(t, params, state)

    def rows(self, parameter: str, steps: int) -> list[Row]:
        """Step ``steps`` of one parameter as explanation rows (the optimizer's rules with numbers)."""
        before, after = self.snapshot(steps - 1), self.snapshot(steps)
        own = {slot: before.state[slot][parameter] for slot in self.optimizer.state
               if parameter in before.state.get(slot, {})}
        value = self.network.parameter[parameter].value if steps == 1 else before.parameters[parameter]
        trained = parameter in after.state[optimizers.GRADIENT.name]
        assigned = {**{s: after.state[s][parameter] for s in self.optimizer.slots},
                    optimizers.PARAMETER: after.parameters[parameter]} if trained else {}
        gradient = after.state[optimizers.GRADIENT.name].get(parameter)
        return step_rows(self.network, self.settings, self.optimizer, parameter, steps, self.full_batch,
                         (value, own, gradient), assigned)


def example_parameter(network) -> str:
    """The parameter whose update the documents derive step by step: the first weight into the output
    layer (the article's w5)."""
    return next(p.name for p in network.parameters if p.kind == Q.WEIGHT and p.layer == network.depth)


@dataclass(frozen=True)
class StateTable:
    """The optimizer's state over the first steps, for every trained parameter, as data every printer
    prints: ``slots`` are "g" (the step's batch gradient) and the optimizer's slots ("update" left out:
    it is the difference of the values); each row is (parameter, step, the slots' values, the
    parameter's value after that step). ``frozen``: the parameters that keep their values."""

    slots: tuple[str, ...]
    rows: list[tuple[str, int, tuple, object]]
    frozen: list[str]


def state_table(exact: ExactTraining, steps: int) -> StateTable:
    network = exact.network
    trained = {n for group in exact.groups for n in group}
    slots = (optimizers.GRADIENT.name, *(s for s in exact.optimizer.slots if optimizers.SLOTS[s].tabulated))
    rows = []
    for p in network.parameters:
        if p.name in trained:
            for t in range(1, steps + 1):
                snapshot = exact.snapshot(t)
                rows.append((p.name, t, tuple(snapshot.state[s][p.name] for s in slots), snapshot.parameters[p.name]))
    return StateTable(slots, rows, [p.name for p in network.parameters if p.name not in trained])
