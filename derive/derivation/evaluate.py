"""Numbers for the derivation: every step evaluated in mpmath at high precision, from exact inputs.

The evaluator walks SymPy trees directly (Add, Mul, Pow, numbers, symbols, the registry's functions),
which is linear in the size of the program and needs no code generation, so it is an independent route
from the generated float code. Values are per sample; E_total and the gradients are then summed (or
averaged) over the samples, and one gradient-descent step is taken from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp

from derive.model import naming
from derive.derivation.steps import Derivation
from derive.model.registry import MPMATH_FUNCTIONS

PRECISION = 60  # decimal digits; printed values need 9 to 17, so rounding is exact well past those
SATURATED_PRECISION = 1000  # for a sample whose display factors overflow at 60 digits (|net| up to ~2000)


def mp_value(expr: sp.Expr, env: dict[sp.Symbol, mpmath.mpf]) -> mpmath.mpf:
    """Evaluate a SymPy expression at the current mpmath precision."""
    if expr.is_Symbol:
        return env[expr]
    if expr.is_Rational:
        return mpmath.mpf(int(expr.p)) / int(expr.q)
    if expr.is_Float:
        return mpmath.mpf(expr)
    args = [mp_value(a, env) for a in expr.args]
    if expr.is_Add:
        return mpmath.fsum(args)
    if expr.is_Mul:
        return mpmath.fprod(args)
    if expr.is_Pow:
        base, exponent = args
        return base ** int(exponent) if expr.exp.is_Integer else base**exponent
    function = MPMATH_FUNCTIONS.get(type(expr))
    if function is None:
        raise TypeError(f"no numeric rule for {type(expr).__name__}")
    return function(*args)


@dataclass
class Evaluation:
    """``samples[s]`` maps every quantity of sample s (inputs, parameters, steps) to its value;
    ``totals`` holds E_total, every dE_total/d<parameter> and every parameter after one step."""

    derivation: Derivation
    samples: list[dict[str, mpmath.mpf]]
    totals: dict[str, mpmath.mpf]

    def value(self, quantity: str, sample: int | None = None) -> mpmath.mpf:
        """A total, or a per-sample quantity (sample from 0; may be omitted with one sample)."""
        if sample is None and quantity in self.totals:
            return self.totals[quantity]
        if sample is None:
            if len(self.samples) != 1:
                raise KeyError(f"{quantity} has one value per sample; name one, e.g. {quantity}[1]")
            sample = 0
        return self.samples[sample][quantity]


def evaluate(derivation: Derivation, display: bool = True, parameters=None, transform=None, round_to=None) -> Evaluation:
    """Values of every step for every sample; display steps too unless ``display`` is False.

    For the audit's variants of the computation: ``parameters`` overrides parameter values (name ->
    number), ``transform(step)`` gives the expression to evaluate instead of ``step.compute``, and
    ``round_to(value)`` rounds every step's value as a hand calculation would.
    """
    network = derivation.network
    steps = derivation.steps if display else derivation.kernel

    def sample_values(s: int) -> tuple[dict, bool]:
        exact = network.sample_values(s)
        env = {network.symbol(q): mp_value(v, {}) for q, v in exact.items()}
        for name, value in (parameters or {}).items():
            env[network.symbol(name)] = mpmath.mpf(value)
        finite = True
        for step in steps:
            expr = step.compute if transform is None else transform(step)
            try:
                value = mp_value(expr, env)
            except ZeroDivisionError:  # a display factor at a saturated neuron: 1/(1 - out) with out = 1
                value = mpmath.inf
            finite = finite and mpmath.isfinite(value)
            env[step.symbol] = value if round_to is None or not mpmath.isfinite(value) else round_to(value)
        return {str(sym): v for sym, v in env.items()}, finite

    with mpmath.workdps(PRECISION):
        per_sample = []
        for s in range(len(network.spec.samples)):
            values, finite = sample_values(s)
            if not finite:  # 1 - σ(1000) is e^-1000, not 0: redo this sample with the digits it needs
                with mpmath.workdps(SATURATED_PRECISION):
                    values, _ = sample_values(s)
            per_sample.append(values)
        scale = mpmath.mpf(1) / len(per_sample) if network.spec.reduction == "mean" else mpmath.mpf(1)
        totals = {naming.TOTAL: scale * mpmath.fsum(v[naming.TOTAL] for v in per_sample)}
        rate = mp_value(network.spec.learning_rate, {})
        for p in network.parameters:
            g = naming.partial(naming.TOTAL, p.name)
            totals[g] = scale * mpmath.fsum(v[g] for v in per_sample)
            totals[p.name] = per_sample[0][p.name]
            totals[naming.updated(p.name)] = totals[p.name] - rate * totals[g]
    return Evaluation(derivation, per_sample, totals)
