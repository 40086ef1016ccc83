"""Training in float64, through the one training loop there is: the generated module's ``train``.

The loop is written once, in the generated module (``templates/gradients.py.j2``), where a user of
the module gets it too; the engine, the audit's variants (in-place updates, frozen or trained biases,
a step count off by one, the optimizers' slips) and the CLI all drive it, so an option added there
reaches all of them. Here it runs in chunks, carrying the optimizer's state from chunk to chunk, to
record the error on the way for plots. (The first steps at 60 digits: `exact_training`.)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from derive.derivation.evaluate import training_settings
from derive.escape import path_text
from derive.model import optimizers
from derive.model.spec import SpecError

HISTORY_POINTS = 100


@dataclass(frozen=True)
class TrainingRun:
    steps: int
    freeze_biases: bool
    error_before: float
    error_after_first: float | None  # None when steps == 0
    error: float  # after all steps
    parameters: dict[str, float]  # after all steps
    outputs: list[list[float]]  # per sample, after all steps
    history: list[tuple[int, float]]  # (step, E_total) at about 100 steps from 0 to the last, or every N
    settings: optimizers.Settings | None = None
    state: dict = field(default_factory=dict)  # the module's train state: "step", "g", the optimizer's slots


def float_samples(spec) -> list[tuple[list[float], list[float]]]:
    return [([float(v) for v in s.inputs], [float(v) for v in s.targets]) for s in spec.samples]


def total_error(module, params, samples, mean: bool) -> float:
    total = sum(module.loss(params, x, t) for x, t in samples)
    return total / len(samples) if mean else total


def marks(steps: int, history: bool, every: int | None) -> list[int]:
    """The steps after which E_total is recorded: 0, every N-th and the last; or about 100 (and the
    first) with ``history``; else 0 and the last."""
    if every:
        return sorted({*range(0, steps, every), steps})
    if history:
        return sorted({round(steps * k / HISTORY_POINTS) for k in range(HISTORY_POINTS + 1)} | {min(1, steps)})
    return [0, steps]


def module_options(module, spec, settings: optimizers.Settings, reduction: str | None = None) -> dict:
    """The keyword arguments of the module's ``train`` for these settings."""
    frozen = module.BIASES if settings.freeze_biases else ()
    return {**settings.module_options(), "frozen": frozen, "reduction": reduction or spec.reduction}


# steps x parameters x samples of one training run: float64 in the generated code takes about
# 0.3 µs for each here (README, Limits), so this is about a minute.
MAX_TRAINING_WORK = 200_000_000


def train(module, spec, steps: int, settings: optimizers.Settings | None = None, history: bool = True,
          every: int | None = None, reduction: str | None = None, start: TrainingRun | None = None) -> TrainingRun:
    """``steps`` steps of the module's ``train`` from its initial parameters, with the spec's
    settings unless given (``reduction`` replaces the spec's for the batch loss). E_total is recorded
    at the steps of `marks`.

    With ``start`` (an earlier run of the same settings, without history), the run continues from
    its parameters and state instead of from step 0: the module's ``train`` carries its whole state
    (step count, optimizer slots, the epoch's order), so N steps continued from M are the same
    floats as N steps from the start, at the cost of N - M. The audit asks for many N at once."""
    settings = settings or training_settings(spec)
    samples = float_samples(spec)
    work = steps * len(module.INITIAL) * len(samples)
    if work > MAX_TRAINING_WORK:  # a typo's hour-long run: one clear line instead (exit status 2)
        raise SpecError(f"{spec.source}: {steps} training steps x {len(module.INITIAL)} parameters x "
                        f"{len(samples)} samples = {work:,}; the limit is {MAX_TRAINING_WORK:,} (about a minute)")
    mean = spec.reduction == "mean"
    options = module_options(module, spec, settings, reduction)
    if start is not None and (history or every or start.steps > steps):
        raise ValueError("a continued run records no history and goes forward")
    params = dict(module.INITIAL) if start is None else dict(start.parameters)
    state: dict = {} if start is None else copy.deepcopy(start.state)
    done = 0 if start is None else start.steps
    points = [(0, total_error(module, module.INITIAL, samples, mean) if start is None else start.error_before)]
    for mark in [m for m in marks(steps, history, every) if m > done]:
        try:
            params = module.train(params, samples, mark - done, state=state, **options)
            points.append((mark, total_error(module, params, samples, mean)))
        except (OverflowError, ValueError, ZeroDivisionError) as exc:  # sqrt(net) of a net gone negative
            why = exc.args[-1] if exc.args else exc  # (34, 'Numerical result out of range')
            raise SpecError(f"{path_text(spec.source)}: training left float64's range or a function's domain "
                            f"between steps {done} and {mark} ({why}); a smaller learning rate may help") from None
        done = mark
    after_first = next((e for s, e in points if s == 1), None if start is None else start.error_after_first)
    if after_first is None and steps:
        after_first = total_error(module, module.train(module.INITIAL, samples, 1, **options), samples, mean)
    return TrainingRun(
        steps, settings.freeze_biases, points[0][1], after_first, points[-1][1], params,
        [module.forward(params, x) for x, _ in samples], points if (history or every) else [], settings, state,
    )
