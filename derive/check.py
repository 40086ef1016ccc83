"""Symbolic against numeric: every parameter's gradient, for every sample, by five routes.

1. the chain-rule derivation, evaluated at 60 digits (the value under test);
2. ``sympy.diff`` of the fully nested E_total, in elementary functions only (small networks);
3. central finite differences in float64 of the generated module's ``loss``;
4. central finite differences at 50 digits of the forward pass (mpmath);
5. the generated module's ``gradient`` (float64).

Tolerances, |route − chain rule| ≤ atol + rtol·|chain rule|, with ``scale`` the largest |gradient|:
- sympy.diff, 40 digits: atol = 1e-30·scale, rtol = 1e-30;
- float64 differences, step h = 1e-6·max(1, |p|): atol = 1e-8·max(1, scale), rtol = 1e-5 (stricter than
  torch.autograd.gradcheck's defaults, atol = 1e-5, rtol = 1e-3);
- mpmath differences, step 1e-20 at 50 digits: atol = 1e-30·max(1, scale), rtol = 1e-30;
- generated code: atol = 1e-12·max(1, scale), rtol = 1e-9.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import sympy as sp

from . import naming
from .evaluate import evaluate

NESTED_LIMIT = 40  # parameters; above it sympy.diff of the nested error is skipped (it blows up)
FD_LIMIT = 400  # parameters checked by finite differences; above it, an even spread of them
ROUTES = ("sympy_diff", "fd_float64", "fd_mpmath", "generated")
TOLERANCE = {  # route: (atol per unit of scale, rtol)
    "sympy_diff": (mpmath.mpf("1e-30"), mpmath.mpf("1e-30")),
    "fd_float64": (mpmath.mpf("1e-8"), mpmath.mpf("1e-5")),
    "fd_mpmath": (mpmath.mpf("1e-30"), mpmath.mpf("1e-30")),
    "generated": (mpmath.mpf("1e-12"), mpmath.mpf("1e-9")),
}


@dataclass
class Row:
    parameter: str
    sample: int
    chain: object
    routes: dict = field(default_factory=dict)  # route -> value (absent: skipped)
    failures: list = field(default_factory=list)  # routes outside tolerance
    worst: object = 0  # largest |route - chain| / tolerance

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


def _mp_error(model, sample: int, overrides: dict) -> mpmath.mpf:
    """E_total of one sample at 50+ digits, from the forward and error steps only."""
    derivation = model.derivation
    forward = [s for s in derivation.kernel if s.phase in ("forward", "error")]
    network = model.network
    from .evaluate import mp_value

    exact = network.sample_values(sample)
    env = {network.symbol(q): mp_value(v, {}) for q, v in exact.items()}
    for name, value in overrides.items():
        env[network.symbol(name)] = value
    for step in forward:
        env[step.symbol] = mp_value(step.compute, env)
    return env[network.symbol(naming.TOTAL)]


def chosen_parameters(model) -> list[str]:
    names = model.parameters
    if len(names) <= FD_LIMIT:
        return names
    step = len(names) / FD_LIMIT
    return [names[int(i * step)] for i in range(FD_LIMIT)]


def run(model) -> Report:
    network = model.network
    chosen = chosen_parameters(model)
    skipped = {}
    if len(chosen) < len(model.parameters):
        skipped["fd"] = f"finite differences on {len(chosen)} of {len(model.parameters)} parameters (an even spread)"
    nested = None
    if len(model.parameters) <= NESTED_LIMIT:
        nested = network.nested_total()
    else:
        skipped["sympy_diff"] = f"skipped: {len(model.parameters)} parameters (> {NESTED_LIMIT}); the nested expression blows up"
    module = model.module
    rows = []
    with mpmath.workdps(60):
        for s, sample in enumerate(model.spec.samples):
            values = model.evaluation.samples[s]
            x = [float(v) for v in sample.inputs]
            t = [float(v) for v in sample.targets]
            params = dict(module.INITIAL)
            generated = module.gradient(params, x, t)
            scale = max([abs(values[naming.partial(naming.TOTAL, p)]) for p in model.parameters] + [mpmath.mpf(1)])
            exact = network.sample_values(s)
            subs = {network.symbol(k): v for k, v in exact.items()}
            for p in chosen:
                chain = values[naming.partial(naming.TOTAL, p)]
                row = Row(p, s, chain)
                if nested is not None:
                    row.routes["sympy_diff"] = mpmath.mpf(str(sp.diff(nested, network.symbol(p)).xreplace(subs).evalf(40)))
                h = 1e-6 * max(1.0, abs(params[p]))
                up, down = dict(params), dict(params)
                up[p] += h
                down[p] -= h
                row.routes["fd_float64"] = mpmath.mpf((module.loss(up, x, t) - module.loss(down, x, t)) / (up[p] - down[p]))
                with mpmath.workdps(50):
                    hh = mpmath.mpf("1e-20")
                    base = values[p]
                    row.routes["fd_mpmath"] = (_mp_error(model, s, {p: base + hh}) - _mp_error(model, s, {p: base - hh})) / (2 * hh)
                row.routes["generated"] = mpmath.mpf(generated[p])
                for route, value in row.routes.items():
                    atol, rtol = TOLERANCE[route]
                    tolerance = atol * (scale if route in ("sympy_diff",) else max(1, scale)) + rtol * abs(chain)
                    ratio = abs(value - chain) / tolerance
                    row.worst = max(row.worst, ratio)
                    if ratio > 1:
                        row.failures.append(route)
                rows.append(row)
    return Report(rows, skipped, len(chosen))
