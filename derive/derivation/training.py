"""Training in float64, through the one training loop there is: the generated module's ``train``.

The loop is written once, in the generated module (``templates/gradients.py.j2``), where a user of
the module gets it too; the engine, the audit's variants (in-place updates, frozen or trained biases,
a step count off by one) and the CLI all drive it, so an option added there reaches all of them. Here
it runs in chunks, to record the error on the way for plots.
"""

from __future__ import annotations

from dataclasses import dataclass

SIMULTANEOUS, IN_PLACE = "simultaneous", "in_place"
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
    history: list[tuple[int, float]]  # (step, E_total) at about 100 steps from 0 to the last, for plots


def float_samples(spec) -> list[tuple[list[float], list[float]]]:
    return [([float(v) for v in s.inputs], [float(v) for v in s.targets]) for s in spec.samples]


def total_error(module, params, samples, mean: bool) -> float:
    total = sum(module.loss(params, x, t) for x, t in samples)
    return total / len(samples) if mean else total


def train(module, spec, steps: int, frozen: tuple[str, ...] = (), update_order: str = SIMULTANEOUS,
          history: bool = True) -> TrainingRun:
    """``steps`` steps of the module's ``train`` from its initial parameters; ``frozen`` parameters
    keep their values. With ``history``, E_total is recorded at about 100 steps on the way."""
    samples = float_samples(spec)
    mean = spec.reduction == "mean"
    marks = (
        sorted({round(steps * k / HISTORY_POINTS) for k in range(HISTORY_POINTS + 1)} | {min(1, steps)})
        if history
        else [0, steps]
    )
    params = dict(module.INITIAL)
    points = [(0, total_error(module, params, samples, mean))]
    done = 0
    for mark in marks[1:]:
        params = module.train(params, samples, mark - done, frozen=frozen, update_order=update_order)
        done = mark
        points.append((mark, total_error(module, params, samples, mean)))
    after_first = next((e for s, e in points if s == 1), None)
    return TrainingRun(
        steps, bool(frozen), points[0][1], after_first, points[-1][1], params,
        [module.forward(params, x) for x, _ in samples], points if history else [],
    )
