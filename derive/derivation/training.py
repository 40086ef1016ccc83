"""Plain gradient descent in float64, driven by the generated module's ``gradient``.

Every gradient of a step is taken at the parameters before that step (the article's rule), summed or
averaged over the samples as the spec says; biases can be frozen, as the article leaves them.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

from derive.derivation.steps import Derivation
from derive.render.python import render


def compile_module(derivation: Derivation, version: str) -> types.ModuleType:
    """The generated module, rendered and executed in memory."""
    module = types.ModuleType(f"derive_generated_{derivation.network.spec.name}")
    exec(compile(render(derivation, version), f"<generated {derivation.network.spec.name}>", "exec"), module.__dict__)
    return module


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


def total_error(module, params, samples, mean: bool) -> float:
    total = sum(module.loss(params, x, t) for x, t in samples)
    return total / len(samples) if mean else total


def train(module, spec, steps: int, freeze_biases: bool = False) -> TrainingRun:
    samples = [([float(v) for v in s.inputs], [float(v) for v in s.targets]) for s in spec.samples]
    mean = spec.reduction == "mean"
    rate = float(spec.learning_rate) / (len(samples) if mean else 1)
    trained = [n for n in module.PARAMETERS if not (freeze_biases and n.startswith("b"))]
    params = dict(module.INITIAL)
    before = total_error(module, params, samples, mean)
    after_first = None
    marks = {round(steps * k / 100) for k in range(101)} | {1}
    history = [(0, before)]
    for step in range(steps):
        grads = [module.gradient(params, x, t) for x, t in samples]
        params = dict(params)
        for name in trained:
            params[name] -= rate * sum(g[name] for g in grads)
        if step + 1 in marks:
            history.append((step + 1, total_error(module, params, samples, mean)))
            if step == 0:
                after_first = history[-1][1]
    return TrainingRun(
        steps, freeze_biases, before, after_first, history[-1][1], params,
        [module.forward(params, x) for x, _ in samples], history,
    )
