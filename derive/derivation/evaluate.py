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
from sympy.codegen.cfunctions import expm1, log1p

from derive.model.proven import HAVE_FLINT

if HAVE_FLINT:
    from derive.derivation import decided
from derive.derivation.exact import rational_value
from derive.derivation.steps import BACKWARD_PHASES, DISPLAY, Derivation
from derive.model import optimizers
from derive.model import quantities as Q
from derive.model.functions import CONSTANTS, DERIVED, ELEMENTARY, Registered

#: SymPy's own functions that compute forms contain, with their mpmath forms (the registry's own
#: functions carry theirs).
MPMATH_FUNCTIONS = {sp.exp: mpmath.exp, sp.log: mpmath.log, sp.Max: max, sp.Min: min, sp.Abs: abs,
                   **dict(ELEMENTARY.values()), **DERIVED, expm1: mpmath.expm1, log1p: mpmath.log1p}
MPMATH_CONSTANTS = dict(CONSTANTS.values())

_EXACT_KINDS = (Q.NET, Q.OUT)
PRECISION = 60  # decimal digits; printed values need 9 to 17, so rounding is exact well past those
SATURATED_PRECISION = 1000  # for a sample whose display factors overflow at 60 digits (|net| up to ~2000)


_RATIONALS: dict[tuple, mpmath.mpf] = {}  # (number, precision) -> its mpf, rounded once (to nearest: mp's only mode)
_ELEMENTARY: dict[sp.Expr, sp.Expr] = {}  # a registered call -> its elementary form


def _kept(kept: dict, key, make):
    """``kept[key]``, made by ``make()`` the first time (past 4,096 entries, ``kept`` starts again)."""
    value = kept.get(key)
    if value is None:
        if len(kept) > 4096:
            kept.clear()
        value = kept[key] = make()
    return value


def _rational(expr: sp.Rational) -> mpmath.mpf:
    """p/q at the current precision, as ``mpf(p) / q`` rounds it; kept (the grader's search evaluates the
    same constants of a derivation a million times)."""
    return _kept(_RATIONALS, (expr, mpmath.mp.prec), lambda: mpmath.mpf(int(expr.p)) / int(expr.q))


def _elementary(expr) -> sp.Expr:
    """A registered function's call without an mpmath form (the logistic's) in elementary functions, built
    once (SymPy takes about a millisecond to build 1/(1 + exp(-net)); the audit's variants evaluate the
    same calls again and again)."""
    return _kept(_ELEMENTARY, expr, lambda: expr.elementary(*expr.args))


def _product(factors: list) -> mpmath.mpf:
    """``mpmath.fprod``, step for step (1 times each factor in turn at the current precision, then
    rounded), without its call overhead: most of the nodes evaluated are products."""
    v = mpmath.mp.one
    for factor in factors:
        v *= factor
    return +v


def mp_value(expr: sp.Expr, env: dict[sp.Symbol, mpmath.mpf]) -> mpmath.mpf:
    """Evaluate a SymPy expression at the current mpmath precision."""
    if expr.is_Symbol:
        return env[expr]
    if expr.is_Rational:
        return _rational(expr)
    if expr.is_Float:
        return mpmath.mpf(expr)
    if expr.is_NumberSymbol:
        return MPMATH_CONSTANTS[expr]()
    if isinstance(expr, sp.Piecewise):
        for value, condition in expr.args:
            if condition is sp.true or bool(_mp_condition(condition, env)):
                return mp_value(value, env)
        raise ValueError(f"no branch of {expr} holds")
    args = [mp_value(a, env) for a in expr.args]
    if expr.is_Add:
        return mpmath.fsum(args)
    if expr.is_Mul:
        return _product(args)
    if expr.is_Pow:
        base, exponent = args
        return base ** int(exponent) if expr.exp.is_Integer else base**exponent
    if isinstance(expr, Registered):
        if expr.mp is not None:
            return expr.mp(*args)
        return mp_value(_elementary(expr), env)
    function = MPMATH_FUNCTIONS.get(type(expr))
    if function is None:
        raise TypeError(f"no numeric rule for {type(expr).__name__}")
    return function(*args)


def exact_value(step, expr: sp.Expr, rational: dict) -> sp.Rational | None:
    """A net's (or an out's) exact value, when every symbol in it has one (``rational``) and it is
    rational (`exact.rational_value`: relu's out of an exact net too, so the next layer's nets are exact)."""
    if rational and step.quantity.kind in _EXACT_KINDS:
        return rational_value(expr, rational)
    return None


def _mp_condition(condition, env) -> bool:
    """A Piecewise condition: a comparison, or And, Or, Not and ITE of them (SymPy writes a condition
    that compares with a Piecewise, as a formula's nested max does, as an ITE)."""
    if condition in (sp.true, sp.false):
        return bool(condition)
    if isinstance(condition, sp.And | sp.Or):
        test = all if isinstance(condition, sp.And) else any
        return test(_mp_condition(c, env) for c in condition.args)
    if isinstance(condition, sp.Not):
        return not _mp_condition(condition.args[0], env)
    if isinstance(condition, sp.ITE):
        test, then, otherwise = condition.args
        return _mp_condition(then if _mp_condition(test, env) else otherwise, env)
    left, right = (mp_value(a, env) for a in condition.args)
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[condition.rel_op]


@dataclass
class Evaluation:
    """``samples[s]`` maps every quantity of sample s (inputs, parameters, steps) to its value;
    ``totals`` holds E_total, every dE_total/d<parameter>, every parameter and every parameter after
    one step (``w5+``: the spec's optimizer on the first step's batch, every gradient taken before
    the update; a frozen bias keeps its value)."""

    derivation: Derivation
    samples: list[dict[Q.Quantity, mpmath.mpf]]
    totals: dict[Q.Quantity, mpmath.mpf]


def evaluate(
    derivation: Derivation, display: bool = True, parameters=None, transform=None, round_to=None, backward=None
) -> Evaluation:
    """Values of every step for every sample; display steps too unless ``display`` is False.

    ``parameters`` overrides parameter values (name -> number). ``backward`` (name -> number): the
    weights the backward pass reads, when they are not the forward pass's (`optimizers.IN_PLACE`:
    the layers above already updated); the forward values, and the parameters' own values in the
    result, stay those of ``parameters``. For the audit's variants of the computation:
    ``transform(step)`` gives the expression to evaluate instead of ``step.compute``, and
    ``round_to(value)`` rounds every step's value as a hand calculation would.
    """
    network = derivation.network
    steps = derivation.steps if display else [s for s in derivation.steps if s.phase != DISPLAY]
    backward_env = {network.symbol(Q.parameter(n)): v for n, v in (backward or {}).items()}

    def sample_values(s: int) -> tuple[dict, bool]:
        exact = network.sample_values(s)
        env = {network.symbol(q): mp_value(v, {}) for q, v in exact.items()}
        for name, value in (parameters or {}).items():
            env[network.symbol(Q.parameter(name))] = mpmath.mpf(value)
        finite = True
        # Nets (and identity outs) of exact numbers are computed exactly, then rounded once: a net that
        # is 0 (0.0075 + 0.02 - 0.0275) is then 0, not -2e-63, so a kink's convention applies at it.
        rational = {network.symbol(q): v for q, v in exact.items()} if parameters is None and transform is None else {}
        forward_env, switched = dict(env), not backward_env
        for step in steps:
            if not switched and step.phase in BACKWARD_PHASES:
                env |= {symbol: mpmath.mpf(value) for symbol, value in backward_env.items()}
                switched = True
            expr = step.compute if transform is None else transform(step)
            value = exact_value(step, expr, rational)
            if value is not None:
                rational[step.symbol] = value
                env[step.symbol] = mp_value(value, {})
                continue
            try:
                value = mp_value(expr, env)
            except ZeroDivisionError:  # a display factor at a saturated neuron: 1/(1 - out) with out = 1
                value = mpmath.inf
            finite = finite and mpmath.isfinite(value)
            env[step.symbol] = value if round_to is None or not mpmath.isfinite(value) else round_to(value)
        env |= {symbol: forward_env[symbol] for symbol in backward_env}  # the parameters' own values
        return {network.quantity_of[sym]: v for sym, v in env.items()}, finite

    if HAVE_FLINT and parameters is None and transform is None and round_to is None and not backward:
        return _decided(derivation, steps)
    with mpmath.workdps(PRECISION):
        per_sample = []
        for s in range(len(network.spec.samples)):
            values, finite = sample_values(s)
            if not finite:  # 1 - σ(1000) is e^-1000, not 0: redo this sample with the digits it needs
                with mpmath.workdps(SATURATED_PRECISION):
                    values, _ = sample_values(s)
            per_sample.append(values)
        scale = mpmath.mpf(1) / len(per_sample) if network.spec.reduction == "mean" else mpmath.mpf(1)
        totals = {Q.TOTAL_ERROR: scale * mpmath.fsum(v[Q.TOTAL_ERROR] for v in per_sample)}
        settings = training_settings(network.spec)
        first = optimizers.batch(settings, 1, len(per_sample))
        mean = network.spec.reduction == "mean"
        for p in network.parameters:
            g, q = Q.gradient(p.name), p.quantity
            totals[g] = scale * mpmath.fsum(v[g] for v in per_sample)
            totals[q] = per_sample[0][q]
            if not settings.trains(p):
                totals[q.with_update()] = totals[q]
                continue
            step = totals[g] if len(first) == len(per_sample) else batch_gradient(per_sample, first, p.name, mean)
            totals[q.with_update()] = update(settings.entry, settings, totals[q], step, {}, 1)[optimizers.PARAMETER]
    return Evaluation(derivation, per_sample, totals)


def _decided(derivation: Derivation, steps) -> Evaluation:
    """The values as `decided.Decided` computes them: balls, each printed digit proven."""
    settings = training_settings(derivation.network.spec)
    count = len(derivation.network.spec.samples)
    values = decided.Decided(derivation, steps, settings, optimizers.batch(settings, 1, count))
    with mpmath.workdps(PRECISION):
        return Evaluation(derivation, values.proven_samples(), values.proven_totals())


def training_settings(spec) -> optimizers.Settings:
    """The spec's training settings (a spec built by hand may have none: plain gradient descent)."""
    return spec.training or optimizers.Settings(spec.learning_rate, freeze_biases=spec.freeze_biases)


def batch_gradient(samples: list[dict], indices: list[int], parameter: str, mean: bool) -> mpmath.mpf:
    """The gradient of a batch's loss (the samples ``indices`` of per-sample values) at 60 digits."""
    g = Q.gradient(parameter)
    with mpmath.workdps(PRECISION):
        total = mpmath.fsum(samples[s][g] for s in indices)
        return total / len(indices) if mean else total


def update(optimizer: optimizers.Optimizer, settings: optimizers.Settings, value, gradient, state: dict,
           step: int) -> dict[str, mpmath.mpf]:
    """One step of the optimizer's rules for one parameter, at the current precision: every value the
    rules assign (slot name, or `optimizers.PARAMETER` for the new value), from the parameter's value,
    its batch gradient and its state before step ``step`` (an absent slot is 0)."""
    with mpmath.workdps(PRECISION):
        env = {symbol: mp_value(v, {}) for symbol, v in settings.numbers().items()}
        env |= {optimizers.P: mpmath.mpf(value), optimizers.G: gradient, optimizers.T: mpmath.mpf(step)}
        env |= {optimizers.SLOT[s]: state.get(s, mpmath.mpf(0)) for s in optimizer.state}
        out = {}
        for target, expr in optimizer.rules:
            symbol = optimizers.P if target == optimizers.PARAMETER else optimizers.SLOT[target]
            env[symbol] = out[target] = mp_value(expr, env)
        return out


def derived(optimizer: optimizers.Optimizer, settings: optimizers.Settings, kept: dict, step: int) -> dict:
    """The slots a step computes but does not keep (Adam's mhat, vhat and update), from the kept
    slots' values after step ``step``."""
    with mpmath.workdps(PRECISION):
        env = {symbol: mp_value(v, {}) for symbol, v in settings.numbers().items()}
        env |= {optimizers.T: mpmath.mpf(step)} | {optimizers.SLOT[s]: mpmath.mpf(kept[s]) for s in optimizer.state}
        out = {}
        for target, expr in optimizer.rules:
            if target != optimizers.PARAMETER and target not in optimizer.state:
                env[optimizers.SLOT[target]] = out[target] = mp_value(expr, env)
        return out
