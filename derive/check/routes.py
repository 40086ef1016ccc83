"""Symbolic against numeric: every parameter's gradient, for every sample, by five routes.

1. the chain-rule derivation, evaluated at 60 digits (the value under test);
2. ``sympy.diff`` of the fully nested E_total, in elementary functions only (small networks);
3. central finite differences in float64 of the generated module's ``loss``;
4. central finite differences at 50 digits of the forward pass (mpmath);
5. the generated module's ``gradient`` (float64).

Tolerances, |route − chain rule| ≤ atol + rtol·|chain rule|, with ``scale`` the largest |gradient|:
- sympy.diff, 40 digits: atol = 1e-30·scale, rtol = 1e-30;
- float64 differences, step h = 1e-6·max(1, |p|): atol = 1e-8·max(1, scale), rtol = 1e-5 (stricter than
  torch.autograd.gradcheck's defaults, atol = 1e-5, rtol = 1e-3), plus the difference quotient's own
  error, which no fixed tolerance covers: its rounding, 4·(ε·|E| + |E_float64 − E|)/h (a large E, or a
  float64 forward pass that cancels, at 10^6), and its truncation, 2·|D(h) − D(h/2)| (Richardson's
  estimate of h²·|E‴|/6: a saturated unit whose net moves by 10^6 when p moves by h);
- mpmath differences, step 1e-20 at 50 digits: atol = 1e-25·max(1, scale), rtol = 1e-25, plus the
  rounding 10·10^-50·max(1, |E|)/h (a target of 10^6 makes E 5·10^11) and the truncation,
  2·|D(2h) − D(h)| (a weight on an input of 10^6 makes E‴ of the order of 10^40);
- generated code: rtol = 1e-9, plus twice the bound of its float64 error at this point
  (`float_bound`: from the magnitudes of the terms each step sums, so a gradient of 1e-97 is held to
  its own size, not to the largest gradient's), plus 4 times how much its gradient moves when every
  parameter and input moves by 4 units in its last place. Where that bound passes 10% of the exact
  value, float64 cannot resolve the gradient with these steps (1 - out where out rounds to 1; terms
  that cancel): the row says so (``Row.unresolved``), a verdict of its own, not a pass. Where the
  bound has no rule (a function it does not know), atol = 1e-12·max(1, scale) instead.

Where a net lies exactly on a kink (relu at 0), the derivative there is derive's stated convention and
finite differences, which average both sides, do not apply: they are left out for every parameter
that moves that net (``Row.inapplicable``), and the report says why.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from sympy.printing.pycode import MpmathPrinter

from derive import workers
from derive.check import budget, diff_once, float_bound
from derive.check.forward import EPSILON, Forward
from derive.derivation import domain
from derive.model import quantities as Q

NESTED_LIMIT = 40  # parameters; above it sympy.diff of the nested error is skipped (it blows up)
PIECEWISE_LIMIT = 1  # levels defined piecewise; above it, too (see _piecewise_levels)
FD_SAMPLES = 100  # samples checked by finite differences (every parameter chosen); above it, an even spread
ROUTES = ("sympy_diff", "fd_float64", "fd_mpmath", "generated")
TOLERANCE = {  # route: (atol per unit of scale, rtol)
    "sympy_diff": (mpmath.mpf("1e-30"), mpmath.mpf("1e-30")),
    "fd_float64": (mpmath.mpf("1e-8"), mpmath.mpf("1e-5")),
    "fd_mpmath": (mpmath.mpf("1e-25"), mpmath.mpf("1e-25")),
    "generated": (mpmath.mpf("1e-12"), mpmath.mpf("1e-9")),
}


@dataclass
class Row:
    parameter: str
    sample: int
    chain: object
    routes: dict = field(default_factory=dict)  # route -> value (absent: skipped)
    failures: list = field(default_factory=list)  # routes outside tolerance
    inapplicable: dict = field(default_factory=dict)  # route -> why it does not apply here (a kink)
    worst: mpmath.mpf | int = 0  # largest |route - chain| / tolerance
    unresolved: str = ""  # why float64 cannot resolve this gradient in the generated code (empty: it can)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class Report:
    rows: list[Row]
    skipped: dict[str, str]  # route -> why
    checked: int  # parameters checked (of all)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def unresolved(self) -> list[Row]:
        return [r for r in self.rows if r.passed and r.unresolved]


_HALF = mpmath.mpf(1) / 2


def _heaviside(x, at_zero=_HALF):
    """SymPy's Heaviside(x, H0) at mpmath numbers, as its rewrite to a Piecewise reads: 0 below 0,
    H0 at 0, else 1 (NaN included)."""
    return mpmath.mpf(0) if x < 0 else at_zero if x == 0 else mpmath.mpf(1)


@functools.lru_cache(maxsize=256)
def _sympy_derivative(nested, symbol, symbols):
    """sympy.diff of the nested error compiled to mpmath: once per parameter, for every sample (its
    inputs and targets are arguments), not once per parameter and sample. Printed with its terms in
    SymPy's own (canonical) order, not sorted again for reading, and Heaviside (the derivative of
    max, min and relu) called as a function, not rewritten to a Piecewise that SymPy folds into the
    rest: the same numbers, compiled several times faster. Its common subexpressions are computed
    once (``cse``: the nested error repeats each layer's outputs in every later term, so the printed
    tree is several times the size of the expression), found in the order met, not sorted into SymPy's
    canonical order (the same subexpressions, each computed once before its use: a fifth of the time of
    the sorted search). No docstring: lambdify's prints the whole derivative into it (two thirds of
    lambdify's time on the reference network's). Given in a list, without implemented functions
    (``use_imps``): lambdify walks an expression's tree, not its graph, for its symbols and for those, and
    a recurrent network's derivative repeats each step's subexpressions in every later one (the built-in
    RNN's 13 took 1.7 and 2.0 s of walks); so the function returns the derivative's value in a list of
    one. The derivative is SymPy's, each distinct subexpression's taken once (`diff_once`: the
    built-in RNN's 13 in 0.4 s instead of 5). A pure function of a SymPy expression (equal
    expressions, equal derivatives): a process that checks the same network again (a build after a
    check, an exercise's variants of one shape) compiles each derivative once."""
    printer = MpmathPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                             "user_functions": {"Heaviside": "heaviside"}, "order": "none"})
    return sp.lambdify(symbols, [diff_once.derivative(nested, symbol)], modules=[{"heaviside": _heaviside}, "mpmath"],
                       printer=printer, cse=_common_subexpressions, docstring_limit=0, use_imps=False)


def _common_subexpressions(expr):
    """`sympy.cse` in the order the subexpressions are met (``_sympy_derivative``)."""
    return sp.cse(expr, order="none", list=False)


def _sympy_route(function, symbols, values: dict, chain):
    """sympy.diff of the nested error, evaluated at 60 digits, and again at 1000 when that fails or
    disagrees: at a saturated neuron 1 - σ(1000) ≈ e^-1000 needs hundreds of digits (SymPy's own
    evalf misses that cancellation, so it is not used)."""
    result = mpmath.nan
    for digits in (60, 1000):
        with mpmath.workdps(digits):
            try:
                result = function(*(mpmath.mpf(int(values[s].p)) / int(values[s].q) for s in symbols))[0]
            except (ZeroDivisionError, ValueError):
                continue
            if abs(result - chain) <= mpmath.mpf("1e-40") * (1 + abs(chain)):
                break
    return +result


def _piecewise_levels(network) -> list[str]:
    """The layers (by activation) and the loss whose elementary forms are piecewise (relu's family,
    huber, a formula with max, min or abs): past one such level, SymPy's Piecewise folds the
    conditions of the nested error into each other, exponentially."""
    x, t, o = sp.symbols("x t o", real=True)
    levels = []
    for k in range(1, network.depth + 1):
        act = network.layer_activation(k)
        if not act.couples_layer and act.out(x).rewrite(sp.exp).has(sp.Piecewise):
            levels.append(act.name)
    if network.loss.term(t, o, len(network.outputs)).doit().rewrite(sp.exp).has(sp.Piecewise):
        levels.append(network.loss.name)
    return levels


RESOLVED = 0.1  # a float64 quotient whose own error estimate passes 10% of its value checks nothing


def _float_quotient(module, params, x, t, p, h):
    """The central difference quotient in float64, the larger |E| of its two ends, the actual h.
    ``params`` is a copy the route owns: p moves in it and is put back (copying 8,320 parameters
    twice for each of 1,600 quotients cost a tenth of the route)."""
    at = params[p]
    up, down = at + h, at - h
    params[p] = up
    try:
        e_up = module.loss(params, x, t)
        params[p] = down
        e_down = module.loss(params, x, t)
    finally:
        params[p] = at
    if up == down:  # h below p's last digit in float64
        return 0.0, max(abs(e_up), abs(e_down)), 0.0
    return (e_up - e_down) / (up - down), max(abs(e_up), abs(e_down)), (up - down) / 2


def _fd_float64(module, params, x, t, p, forward_error, h, atol):
    """The float64 route's value and the error of its difference quotient: rounding, and truncation
    by Richardson's estimate (the quotient at h against h/2). When that estimate is large (the loss
    bends on a scale smaller than h: a softmax of nets 10^12 apart by 10^4), steps down to h·10^-6 are
    tried and the one with the smallest estimate taken; the choice never looks at the chain rule."""
    best = None
    for k in range(7):
        step_h = h * 10.0**-k
        value, size, step = _float_quotient(module, params, x, t, p, step_h)
        half, _, _ = _float_quotient(module, params, x, t, p, step_h / 2)
        if step == 0:
            break
        truncation = 2 * abs(value - half)
        error = 4 * (EPSILON * size + forward_error) / step + truncation
        if best is None or error < best[1]:
            best = (value, error)
        if truncation <= 1e-6 * abs(value) + atol:
            break
    return (mpmath.mpf(0), mpmath.inf) if best is None else (mpmath.mpf(best[0]), mpmath.mpf(best[1]))


def _float_step(p_value, up: dict, down: dict, nets, hh) -> float:
    """h = 1e-6·max(1, |p|), made smaller when p moves some net by more than 1e-6·max(1, |net|) (a
    weight on an input of 10^6 moves its net by 10^6 per unit): the nets' slopes come from the
    50-digit differences, so the quotient stays where the function is smooth on its own scale."""
    h = 1e-6 * max(1.0, abs(float(p_value)))
    for n in (n for n in nets if n in up or n in down):  # a net neither holds is the base's in both: no slope
        slope = abs(up[n] - down[n]) / (2 * hh)
        if slope:
            h = min(h, float(1e-6 * max(1, abs(up[n])) / slope))
    return h


def _float_noise(module, params, x, t, generated) -> dict:
    """How much the generated gradient moves when every parameter and input moves by a few units in
    its last place (alternating signs, then the opposite): float64's own rounding at this point, which
    is large where nets of 10^12 cancel in a softmax, and tiny elsewhere."""
    noise = dict.fromkeys(generated, 0.0)
    for sign in (1, -1):
        nudged = {p: v * (1 + sign * (-1) ** k * 4 * EPSILON) for k, (p, v) in enumerate(params.items())}
        xs = [v * (1 - sign * (-1) ** k * 4 * EPSILON) for k, v in enumerate(x)]
        moved = module.gradient(nudged, xs, t)
        for p in noise:
            noise[p] = max(noise[p], abs(moved[p] - generated[p]))
    return noise


def _nested(model, skipped: dict):
    """The nested error the sympy.diff route differentiates, or None with the reason in ``skipped``."""
    network = model.network
    piecewise = _piecewise_levels(network)
    if len(model.parameters) > NESTED_LIMIT:
        skipped["sympy_diff"] = (
            f"skipped: {len(model.parameters)} parameters (> {NESTED_LIMIT}); the nested expression blows up"
        )
    elif budget.depth(network) > budget.DEPTH_LIMIT:
        skipped["sympy_diff"] = (f"skipped: its units are nested {budget.depth(network)} levels deep (> "
                                 f"{budget.DEPTH_LIMIT}); the nested expression's derivative doubles with each level")
    elif len(piecewise) > PIECEWISE_LIMIT:
        skipped["sympy_diff"] = (
            f"skipped: {len(piecewise)} levels are defined piecewise ({', '.join(piecewise)}); SymPy folds "
            "their nested conditions into an expression that blows up"
        )
    else:
        return network.nested_total()
    return None


def prepare(model) -> None:
    """The sympy.diff route's derivatives for ``model``'s shape, compiled ahead and kept
    (`_sympy_derivative`): the processes of a pool forked after this (`derive exercise`, whose
    variants of one shape share them) find them made, where each would make them again."""
    nested = _nested(model, {})
    if nested is not None:
        network = model.network
        symbols = tuple(sorted((network.symbol(k) for k in network.sample_values(0)), key=str))  # as `run` has them
        for p in budget.chosen(model):
            _sympy_derivative(nested, network.symbol(Q.parameter(p)), symbols)


def run(model, progress=None) -> Report:
    chosen = budget.chosen(model)
    skipped: dict[str, str] = {}
    if len(chosen) < len(model.parameters):
        skipped["fd"] = f"finite differences on {len(chosen)} of {len(model.parameters)} parameters (an even spread)"
    nested = _nested(model, skipped)
    count = len(model.spec.samples)
    fd_samples = _differenced(count)
    if len(fd_samples) < count:
        skipped["fd_samples"] = (f"finite differences and sympy.diff on {len(fd_samples)} of {count} samples (an even "
                                 "spread); the generated code on every one")
    kinked = domain.kinked(model.derivation, model.evaluation)
    processes = _processes(model, chosen, fd_samples)
    order = {p: k for k, p in enumerate(chosen)}
    rows = []
    with mpmath.workdps(60):
        for s in range(count):
            sample = _Sample(model, s, chosen, kinked, nested, s in fd_samples, warm=processes > 1)
            parts = [chosen[k::processes] for k in range(processes)] if s in fd_samples else [chosen]
            shown = _Share(progress, len(parts), len(chosen)) if progress and len(parts) > 1 else progress
            shares = workers.split(functools.partial(sample.rows, progress=shown, first=parts[0]), parts)
            rows += sorted((row for share in shares for row in share), key=lambda row: order[row.parameter])
    return adopted(model, Report(rows, skipped, len(chosen)))


def adopted(model, report: Report) -> Report:
    """A report computed in another process with each row's exact value this process's own: a copy
    carries its ball without the means to compute it again, so its digits could be undecided where
    this one's are decided."""
    for row in report.rows:
        row.chain = model.evaluation.samples[row.sample][Q.gradient(row.parameter)]
    return report


def _differenced(count: int) -> set[int]:
    """The samples the finite differences and sympy.diff take: all, or an even spread of `FD_SAMPLES`."""
    return set(range(count)) if count <= FD_SAMPLES else {int(i * count / FD_SAMPLES) for i in range(FD_SAMPLES)}


def processes(model) -> int:
    """How many processes `run` shares the check of ``model`` out to (`_processes`)."""
    return _processes(model, budget.chosen(model), _differenced(len(model.spec.samples)))


PARALLEL_WORK = 5_000  # units the finite differences recompute (`budget.reach`); from here on, a process a core
PARALLEL_PARAMETERS = 5_000  # or parameters, each float64 difference running the whole loss
PROCESSES = 4  # at most


def _processes(model, chosen: list[str], fd_samples: set[int]) -> int:
    """How many processes the check's parameters are shared out to: one per core (up to `PROCESSES`)
    where the differences' forward passes are long (64-64-64's 50-digit ones take 3 of its 5 s;
    784-32-10's float64 ones, through a loss of 25,450 parameters, 5 of 8), else one (a small
    network's take milliseconds, less than a fork)."""
    moved = budget.reach(model.network)
    units = sum(moved[p] for p in chosen)
    if max(units / PARALLEL_WORK, len(model.parameters) / PARALLEL_PARAMETERS) * len(fd_samples) < 1:
        return 1
    return max(1, min(workers.cores(), PROCESSES, len(chosen)))


class _Share:
    """The progress of this process's share of the parameters (one in ``count``), shown as the whole's
    (the other shares run at the same time in other processes)."""

    def __init__(self, progress, count: int, total: int):
        self.progress, self.processes, self.total = progress, count, total

    def count(self, label: str, done: int, _: int) -> None:
        self.progress.count(label, min(self.processes * done, self.total), self.total)


class _Sample:
    """One sample's check: what every parameter's row reads (the generated gradient and its noise, the
    bounds, the 50-digit forward pass), made first, so that processes forked after it share it."""

    def __init__(self, model, s: int, chosen: list[str], kinked, nested, differences: bool, warm: bool):
        network, module = model.network, model.module
        self.model, self.s, self.nested, self.differences = model, s, nested, differences
        sample = model.spec.samples[s]
        self.values = values = model.evaluation.samples[s]
        self.x = x = [float(v) for v in sample.inputs]
        self.t = t = [float(v) for v in sample.targets]
        params = dict(module.INITIAL)
        self.moving = dict(params)  # the float64 differences' own copy, each parameter moved and put back
        self.generated = module.gradient(params, x, t)
        self.noise = _float_noise(module, params, x, t, self.generated)
        self.exact_error = values[Q.TOTAL_ERROR]
        self.forward = Forward(model, s)
        self.forward_error = max(self.forward.rounding,
                                 float(abs(mpmath.mpf(module.loss(params, x, t)) - self.exact_error)))
        self.scale = max([abs(values[Q.gradient(p)]) for p in model.parameters] + [mpmath.mpf(1)])
        self.subs = {network.symbol(k): v for k, v in network.sample_values(s).items()}
        self.kinks = {network.symbol(Q.net(n)) for k, n in kinked if k == s}
        self.nets = [network.symbol(Q.net(n)) for layer in network.layers[1:] for n in layer]

        def bounds() -> dict | None:
            with contextlib.suppress(float_bound.Unbounded):
                return float_bound.gradient_bounds(model.derivation, values, chosen)
            return None

        def prepare() -> None:
            with mpmath.workdps(50):
                self.forward.prepare([network.symbol(Q.parameter(p)) for p in chosen])

        if warm and differences:  # (the bounds in a child meanwhile: processes forked later take both)
            _, self.bounds = workers.split(lambda task: task(), [prepare, bounds])
        else:
            self.bounds = bounds()

    def rows(self, chosen: list[str], progress, first: list[str]) -> list[Row]:
        """The rows of ``chosen``, its progress shown where it is the ``first`` share (this process's)."""
        out = []
        for k, p in enumerate(chosen):
            if progress and chosen is first:
                progress.count(f"checking gradients, sample {self.s + 1}:", k + 1, len(chosen))
            out.append(self.row(p))
        return out

    def row(self, p: str) -> Row:
        network, module, s, values = self.model.network, self.model.module, self.s, self.values
        forward, bounds, scale = self.forward, self.bounds, self.scale
        chain = values[Q.gradient(p)]
        row = Row(p, s, chain)
        if self.nested is not None and self.differences:
            symbols = tuple(sorted(self.subs, key=str))
            function = _sympy_derivative(self.nested, network.symbol(Q.parameter(p)), symbols)
            row.routes["sympy_diff"] = _sympy_route(function, symbols, self.subs, chain)
        extra = {"sympy_diff": 0, "generated": 4 * mpmath.mpf(self.noise[p])}
        if bounds is not None:
            extra["generated"] += 2 * bounds[p]
            if float_bound.unresolved(chain, bounds[p]) and self.generated[p] != chain:  # exactly right: resolved
                row.unresolved = (f"float64 cannot resolve it: the generated code's error bound there is "
                                  f"{mpmath.nstr(bounds[p], 2)}, the exact value {mpmath.nstr(chain, 2)}")
        if self.differences:
            with mpmath.workdps(50):
                hh, q, at = mpmath.mpf("1e-20"), network.symbol(Q.parameter(p)), values[Q.parameter(p)]
                up, down = forward.values(q, at + hh), forward.values(q, at - hh)
                row.routes["fd_mpmath"] = (up[forward.total] - down[forward.total]) / (2 * hh)
                wide = (forward.error(q, at + 2 * hh) - forward.error(q, at - 2 * hh)) / (4 * hh)
                extra["fd_mpmath"] = (10 * mpmath.mpf(10) ** -50 * max(abs(self.exact_error), 1) / hh
                                      + 2 * abs(wide - row.routes["fd_mpmath"]))  # rounding, truncation
                h = _float_step(at, up, down, self.nets, hh)
            atol = float(TOLERANCE["fd_float64"][0] * scale)
            value, extra["fd_float64"] = _fd_float64(module, self.moving, self.x, self.t, p, self.forward_error, h,
                                                     atol)
            row.routes["fd_float64"] = value
            if extra["fd_float64"] > RESOLVED * abs(value) + atol:
                error = mpmath.nstr(extra["fd_float64"], 2)
                row.inapplicable["fd_float64"] = (f"too coarse: float64 cannot resolve it here (the difference "
                                                  f"quotient's own error is about {error})")
                del row.routes["fd_float64"]
            moved = sorted(str(n) for n in self.kinks if up[n] != down[n])
            for route in ("fd_float64", "fd_mpmath") if moved else ():
                row.inapplicable[route] = f"{', '.join(moved)} on a kink"
                row.routes.pop(route, None)
        row.routes["generated"] = mpmath.mpf(self.generated[p])
        for route, value in row.routes.items():
            atol, rtol = TOLERANCE[route]
            if route == "generated" and bounds is not None:
                atol = 0  # its bound, relative to the terms it sums, takes the place of an absolute floor
            tolerance = (atol * (scale if route in ("sympy_diff",) else max(1, scale)) + rtol * abs(chain)
                         + extra[route])
            # (a tolerance of 0: exact in float64, a gradient of 0 from exact zeros, which must be exact)
            ratio = abs(value - chain) / tolerance if tolerance else mpmath.mpf(0) if value == chain else mpmath.inf
            row.worst = max(row.worst, ratio)
            if ratio > 1:
                row.failures.append(route)
        return row
