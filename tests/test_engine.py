"""The chain-rule derivation against independent routes, on many networks."""

import random

import independent
import mpmath
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from networks import TODAY, ZOO, random_specs
from sympy.printing.pycode import MpmathPrinter

import derive
from derive.check import diff_once

TOLERANCE = mpmath.mpf("1e-24")  # |engine - finite differences| <= TOLERANCE * (1 + |scale|)


def assert_matches_finite_differences(model):
    fd = independent.gradient(model.spec)
    scale = 1 + max(abs(v) for v in fd.values())
    for name, value in model.gradients().items():
        assert abs(value - fd[name]) <= TOLERANCE * scale, (name, value, fd[name])


@pytest.mark.parametrize("name", sorted(ZOO))
def test_gradients_of_every_weight_and_bias_match_finite_differences(name):
    assert_matches_finite_differences(derive.Model(derive.parse(ZOO[name], f"{name}.toml")))


@pytest.mark.parametrize("name", sorted(ZOO))
def test_error_and_outputs_match_an_independent_forward_pass(name):
    model = derive.Model(derive.parse(ZOO[name], f"{name}.toml"))
    params = independent.parameters(model.spec)
    with mpmath.workdps(60):
        assert abs(model.value("E_total") - independent.total_error(model.spec, params)) < mpmath.mpf("1e-50")
        for s, sample in enumerate(model.spec.samples):
            outs = independent.forward(model.spec, params, sample.inputs)[-1][1]
            for o, value in zip(model.network.outputs, outs, strict=False):
                assert abs(model.value(f"out_{o}", s) - value) < mpmath.mpf("1e-50")


def test_a_shared_bias_sums_over_every_neuron_it_feeds(reference):
    v = reference.value
    with mpmath.workdps(60):
        assert abs(v("dE_total/db2") - (v("delta_o1") + v("delta_o2"))) < mpmath.mpf("1e-55")
    assert reference.gradient("b1") == sp.Symbol("delta_h1", real=True) + sp.Symbol("delta_h2", real=True)


def _random_point(model, rng):
    values = {model.symbol(p): sp.Rational(rng.randint(-90, 90), 100) for p in model.parameters}
    for i in model.network.inputs:
        values[model.symbol(i)] = sp.Rational(rng.randint(-100, 100), 50)
    for o in model.network.outputs:
        values[model.symbol(f"target_{o}")] = sp.Rational(rng.randint(1, 99), 100)
    return values


def _compiled(symbols, expr):
    """``expr`` (or a list of them) as an mpmath function of ``symbols``, its terms printed in SymPy's own order (the
    default sorts every sum again for reading: most of the time on these trees), each common subexpression
    computed once (``cse``, in the order met: the nested error repeats every layer's outputs in each later
    term; the same operations at the same precision, printed and run in a third of the time)."""
    printer = MpmathPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                             "user_functions": {}, "order": "none"})
    return sp.lambdify(symbols, expr, modules="mpmath", printer=printer,
                       cse=lambda e: sp.cse(e, order="none", list=False))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["reference", "softmax_ce", "bce_mean", "deep_tanh_relu", "softmax_sse_shared"])
def test_chain_rule_equals_sympy_diff_of_the_fully_nested_error(name, reference):
    """The nested E_total is rewritten in elementary functions, so sympy.diff uses none of the
    registry's derivative rules (SymPy's diff, each subexpression once: `diff_once`, which
    tests/test_diff_once.py holds to sympy.diff's own expressions); both sides are compiled to mpmath once (SymPy's evalf of the
    substituted tree is several times slower), each side's every parameter in one function (its common
    subexpressions, the layers' outputs, computed once for all), and compared at random points at 60
    digits, to 30, parameter by parameter."""
    model = reference if name == "reference" else derive.Model(derive.parse(ZOO[name], f"{name}.toml"))
    nested = model.network.nested_total()
    rng = random.Random(1)
    points = [_random_point(model, rng) for _ in range(2)]
    symbols = sorted(points[0], key=str)
    assert nested.free_symbols <= set(symbols)
    by_diff = _compiled(symbols, [diff_once.derivative(nested, model.symbol(p)) for p in model.parameters])
    by_chain = _compiled(symbols, [model.expanded_gradient(p).rewrite(sp.exp) for p in model.parameters])
    for point in points:
        with mpmath.workdps(60):
            at = [mpmath.mpf(point[s].p) / point[s].q for s in symbols]
            diffs, chains = by_diff(*at), by_chain(*at)
            assert len(diffs) == len(chains) == len(model.parameters)
            for p, d, c in zip(model.parameters, diffs, chains, strict=True):
                assert abs(d - c) <= mpmath.mpf("1e-30") * (1 + abs(d)), (name, p, d, c)


def test_expanded_gradient_of_w5_is_the_articles_formula(reference):
    s = {q: sp.Symbol(q, real=True) for q in ["w5", "w6", "b2", "i1", "i2", "target_o1"]}
    expanded = reference.expanded_gradient("w5")
    assert expanded.free_symbols >= {s["w5"], s["w6"], s["b2"], s["i1"], s["i2"], s["target_o1"]}
    assert reference.gradient("w5") == sp.Symbol("delta_o1", real=True) * sp.Symbol("out_h1", real=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs())
def test_random_networks_match_finite_differences(text):
    model = derive.Model(derive.parse(text, "random.toml"))
    # relu at an exact kink has no derivative: those draws are not this test's
    assume(not any(abs(v) < 1e-9 for values in model.evaluation.samples for k, v in values.items() if k.kind == "net"))
    assert_matches_finite_differences(model)


@pytest.mark.parametrize("name", ["bce_mean", "softmax_ce", "relu_family_huber"])
def test_building_a_networks_model_again_keeps_sympys_cache(name, monkeypatch):
    """SymPy empties its whole cache each time its evaluation is turned off or on again; a loss's term
    and softmax's textbook forms are built with it off (`registry._unevaluated`), kept for each argument:
    a second model of a spec, derived, checked and evaluated, empties it no more."""
    import sympy.core.parameters as parameters

    from derive.check import report

    def build():
        model = derive.Model(derive.parse({**ZOO, **TODAY}[name], f"{name}.toml"))
        report.build(model, [], 9)
        return model.value("E_total")

    first = build()
    emptied = []
    monkeypatch.setattr(parameters, "clear_cache", lambda: emptied.append(1))
    assert build() == first
    assert emptied == []
