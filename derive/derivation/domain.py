"""Where a spec's own function is evaluated, it must have a real value and a derivative.

A formula may be undefined somewhere (sqrt(net) below 0, log(net) at 0) or have no finite slope
(sqrt(net) at 0). `check` evaluates the forward pass and the error once, at 60 digits, and at every
place the network evaluates a spec's own function (each neuron's net, each output's out and target,
every sample) asks for its value and its derivative; the first that is not a finite real number is
a `SpecError`, one line naming the function, its formula and the place. Kinks (max, min, abs; a
built-in's such as relu's at 0) are allowed: `kinks` lists the values that lie exactly on one, with
the convention derive uses there.
"""

from __future__ import annotations

import sys

import mpmath
import sympy as sp

from derive.derivation.evaluate import PRECISION, exact_value, mp_value
from derive.derivation.steps import ERROR, FORWARD, Derivation
from derive.escape import path_text, quoted
from derive.model import quantities as Q
from derive.model.decimals import fmt
from derive.model.spec import SpecError

FLOAT_MAX = mpmath.mpf(sys.float_info.max)
ON_KINK = mpmath.mpf("1e-45")  # a net this close to a kink is on it: 0.0075 + 0.02 - 0.0275 is 0 only up to rounding


def _own(network) -> bool:
    return network.loss.formula is not None or any(
        network.layer_activation(k).formula is not None for k in range(1, network.depth + 1))


def _places(derivation: Derivation, sample: int):
    """(entry, where, the quantity it is evaluated at, its value and derivative, env) for each use of
    a spec's own function, the forward pass evaluated up to that point."""
    network = derivation.network
    sym = network.symbol
    rational = {sym(q): v for q, v in network.sample_values(sample).items()}
    env = {s: mp_value(v, {}) for s, v in rational.items()}
    for step in derivation.kernel:
        if step.phase not in (FORWARD, ERROR):
            continue
        value = exact_value(step, step.compute, rational)
        if value is not None:
            rational[step.symbol] = value
        env[step.symbol] = _value(value if value is not None else step.compute, env)
        q = step.quantity
        if q.kind == Q.OUT and network.activation(q.name).formula is not None:
            act, net = network.activation(q.name), sym(Q.net(q.name))
            yield act, f"activations.{act.name}", Q.net(q.name), act.out(net), act.derivative(net, step.symbol), env
        if q.kind == Q.ERROR and network.loss.formula is not None:
            loss, n = network.loss, len(network.outputs)
            t, o = sym(Q.target(q.name)), sym(Q.out(q.name))
            yield loss, f"losses.{loss.name}", Q.out(q.name), loss.term(t, o, n).doit(), loss.derivative(t, o, n), env


def _value(expr, env):
    try:
        value = mp_value(expr, env)
    except (ZeroDivisionError, TypeError, ValueError):
        return mpmath.nan
    return value if isinstance(value, mpmath.mpf) else mpmath.nan  # an mpc: log or sqrt of a negative number


def check(derivation: Derivation) -> None:
    """SpecError at the first place where a spec's own function has no real value or derivative, or
    one past float64's range (exp(net) at net = 10^12: training and the checks run in float64, and
    the next layer's e^-(e^(10^12)) would not fit in memory either); then at the first value of the
    forward pass past that range."""
    network = derivation.network
    if not _own(network):
        return
    spec = network.spec
    source = path_text(spec.source)
    with mpmath.workdps(PRECISION):
        for s in range(len(spec.samples)):
            tag = f" (sample {s + 1})" if len(spec.samples) > 1 else ""
            env = {}
            for entry, where, quantity, value, slope, env in _places(derivation, s):
                at = f"{quantity} = {fmt(env[network.symbol(quantity)], 9)}{tag}"
                for what, expr in (("value", value), ("derivative", slope)):
                    v = _value(expr, env)
                    if not mpmath.isfinite(v):
                        raise SpecError(f"{source}: {where} = {quoted(entry.formula.text)} has no finite real {what} "
                                        f"at {at}")
                    if abs(v) > FLOAT_MAX:
                        raise SpecError(f"{source}: {where} = {quoted(entry.formula.text)}: its {what} at {at} is "
                                        f"{fmt(v, 3)}, past float64's range (training and the checks run in float64)")
            for symbol, v in env.items():
                if mpmath.isfinite(v) and abs(v) > FLOAT_MAX:
                    raise SpecError(f"{source}: {symbol} = {fmt(v, 3)}{tag} is past float64's range, made so by the "
                                    "spec's own functions (training and the checks run in float64)")


def kinked(derivation: Derivation, evaluation) -> list[tuple[int, str]]:
    """(sample, neuron) for each net that lies exactly on a kink of its activation."""
    network = derivation.network
    found = []
    for s, values in enumerate(evaluation.samples):
        for layer in network.layers[1:]:
            for n in layer:
                act = network.activation(n)
                if act.couples_layer:
                    continue
                v = values[Q.net(n)]
                if (act.kink is not None and abs(v - act.kink) <= ON_KINK) or (
                        act.formula is not None and act.formula.kinked and _ties(act.formula.expr, v)):
                    found.append((s, n))
    return found


def kinks(derivation: Derivation, evaluation) -> list[str]:
    """A line for each value that lies exactly on a kink, with the convention derive takes there."""
    network = derivation.network
    several = len(evaluation.samples) > 1
    notes = []
    for s, n in kinked(derivation, evaluation):
        act, v = network.activation(n), evaluation.samples[s][Q.net(n)]
        tag = f" (sample {s + 1})" if several else ""
        notes.append(f"net_{n}{tag} = {fmt(v, 9)} lies on a kink of {act.name}: {act.kink_note}; finite "
                     "differences average both sides there and do not apply to the parameters before it")
    return notes


def _ties(expr: sp.Expr, value) -> bool:
    """Whether some comparison of a Piecewise in the formula holds with equality at net = value."""
    (net,) = expr.free_symbols
    env = {net: value}
    with mpmath.workdps(PRECISION):  # at mpmath's default 53 bits, 0.3775 itself is off by 2e-18
        for relation in expr.atoms(sp.Rel):
            try:
                if abs(mp_value(relation.lhs, env) - mp_value(relation.rhs, env)) <= ON_KINK:
                    return True
            except (ZeroDivisionError, TypeError, ValueError):
                continue
    return False
