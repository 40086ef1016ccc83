"""Today's built-ins (leaky_relu, elu, silu, gelu, gelu_tanh, huber), networks without biases and a
spec's own activations and losses, on whole networks: values and gradients against the independent
mpmath route (which writes every function out by hand), every route of `derive check`, and the
generated module (ruff-clean, and its numbers)."""

import os
import shutil
import subprocess
import sys

import independent
import mpmath
import pytest
from generated_module import floats, load
from networks import OWN, TODAY

import derive
from derive.check import routes
from derive.derivation.exact_training import trained_groups
from derive.model import quantities as Q

RUFF = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")


@pytest.fixture(scope="module")
def models():
    return {name: derive.Model(derive.parse(text, f"{name}.toml")) for name, text in TODAY.items()}


@pytest.mark.parametrize("name", sorted(TODAY))
def test_values_and_gradients_match_the_independent_route(name, models):
    model = models[name]
    params = independent.parameters(model.spec)
    with mpmath.workdps(60):
        assert abs(model.value("E_total") - independent.total_error(model.spec, params, OWN)) < mpmath.mpf("1e-50")
        for s, sample in enumerate(model.spec.samples):
            outs = independent.forward(model.spec, params, sample.inputs, OWN)[-1][1]
            for o, value in zip(model.network.outputs, outs, strict=True):
                assert abs(model.value(f"out_{o}", s) - value) < mpmath.mpf("1e-50"), (name, o, s)
    fd = independent.gradient(model.spec, own=OWN)
    assert set(fd) == set(model.parameters)
    scale = 1 + max(abs(v) for v in fd.values())
    for p, value in model.gradients().items():
        assert abs(value - fd[p]) <= mpmath.mpf("1e-24") * scale, (name, p, value, fd[p])


@pytest.mark.parametrize("name", sorted(TODAY))
def test_every_route_of_derive_check_agrees(name, models):
    report = routes.run(models[name])
    assert report.passed, [(r.parameter, r.failures) for r in report.rows if r.failures]
    used = {route for row in report.rows for route in row.routes}
    if name == "relu_family_huber":  # leaky_relu, elu and huber: three piecewise levels
        assert report.skipped["sympy_diff"].startswith("skipped: 3 levels are defined piecewise (leaky_relu, elu, huber)")
        assert used == set(routes.ROUTES) - {"sympy_diff"}
    else:
        assert used == set(routes.ROUTES) and not report.skipped


@pytest.mark.parametrize("name", sorted(TODAY))
def test_the_generated_module_is_clean_and_takes_the_same_step(name, models, tmp_path):
    model = models[name]
    module, path = load(model, tmp_path)
    if os.path.exists(RUFF):
        for command in (["check"], ["format", "--check"]):
            run = subprocess.run([RUFF, *command, "--no-cache", "--isolated", str(path)], capture_output=True,
                                 text=True, check=False)
            assert run.returncode == 0, run.stdout + run.stderr
    sample = model.spec.samples[0]
    grads = module.gradient(dict(module.INITIAL), floats(sample.inputs), floats(sample.targets))
    for p in model.parameters:
        exact = model.value(Q.gradient(p), 0)
        assert abs(grads[p] - float(exact)) <= 1e-12 * (1 + abs(float(exact))), (name, p)


def test_a_network_without_biases_has_no_bias_parameter_anywhere(models, tmp_path):
    model = models["no_bias"]
    assert model.parameters == [f"w{k}" for k in range(1, 9)]
    assert all(t.factor is not None for terms in model.network.net_terms.values() for t in terms)
    module, _ = load(model, tmp_path)
    assert tuple(model.parameters) == module.PARAMETERS
    tex = model.latex()
    assert "no biases" in tex and "plus its bias" not in tex and r"\section{Biases" not in tex
    assert "b_{1}" not in tex and "b_j" not in tex
    assert derive.Model(derive.parse(TODAY["no_bias"].replace('bias = "none"', 'bias = "none"\nfreeze_biases = true'),
                                     "t.toml")).train(3).parameters == model.train(3).parameters


def test_freezing_biases_of_a_network_without_biases_changes_nothing(models):
    """Every parameter is a weight, so freezing the biases trains every one of them all the same."""
    model = models["no_bias"]
    every = [p.name for p in model.network.parameters]
    assert all(p.kind == Q.WEIGHT for p in model.network.parameters)
    assert trained_groups(model.network, model.settings(freeze_biases=True)) == [every]
    assert model.train(3, freeze_biases=True).parameters == model.train(3, freeze_biases=False).parameters


def test_huber_takes_each_branch_in_the_network(models):
    """Sample 1 of relu_family_huber has |target - out| > 1 at o1 (|d| - 1/2) and < 1 at o2 (d^2 / 2)."""
    model = models["relu_family_huber"]
    with mpmath.workdps(60):
        d1 = model.value("target_o1", 0) - model.value("out_o1", 0)
        d2 = model.value("target_o2", 0) - model.value("out_o2", 0)
        assert abs(d1) > 1 > abs(d2)
        assert abs(model.value("E_o1", 0) - (abs(d1) - mpmath.mpf(1) / 2)) < mpmath.mpf("1e-50")
        assert abs(model.value("E_o2", 0) - d2**2 / 2) < mpmath.mpf("1e-50")
        assert abs(model.value("dE_total/dout_o1", 0) - (-1 if d1 > 0 else 1)) < mpmath.mpf("1e-50")
