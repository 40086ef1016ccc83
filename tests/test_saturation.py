"""Float64 at saturation: the generated code's gradients against an independent route that resolves
them (central differences of the spec's own forward pass at 1200 digits, step 1e-400), relative to
the exact value, however small; and the check's verdict where float64 cannot resolve a gradient."""

import json
import subprocess

import independent
import mpmath
import pytest
from conftest import spec_text
from generated_module import floats, load
from targets import load_c, load_numpy, needs_cc
from test_target_python_loops import load_loops

import derive
from derive.check import routes as check
from derive.cli import main
from derive.model.registry import LOSSES
from derive.render.code import javascript

RTOL = 1e-12  # measured: 5e-14 at worst (exp(net - lse) at net 228 magnifies net's rounding 228 times)


def _truth(model) -> dict[str, mpmath.mpf]:
    """Every gradient of the spec's one sample, by the independent route at 1200 digits: its rounding
    (1e-1200 |E| / 1e-400) and truncation (1e-800 |E'''|) are far below 1e-12 of a gradient of 1e-200."""
    saved = independent.DPS, independent.STEP
    independent.DPS, independent.STEP = 1200, mpmath.mpf("1e-400")
    try:
        return independent.gradient(model.spec)
    finally:
        independent.DPS, independent.STEP = saved


def _agree(gradient, truth, where):
    for p, exact in truth.items():
        assert exact != 0, p  # the networks below have no gradient that is exactly 0
        error = abs(mpmath.mpf(gradient[p]) - exact) / abs(exact)
        assert error <= RTOL, f"{where}: dE_total/d{p} = {gradient[p]!r}, exact {mpmath.nstr(exact, 12)}, off by {error}"


# -- the two defects, as reported ------------------------------------------------------------------
# net_o1 = 300 tanh(1) = 228.5: out_o1 = 1 - 1e-99 rounds to 1 in float64, where out - target was 0.
SATURATED = {"layers": "[1, 2, 3]", "bias": '"per_neuron"', "biases": "[[0, 0], [0, 0, 0]]",
             "weights": "[[[0.5], [0.3]], [[300, 0], [-300, 0], [0, 1]]]"}


def _network(loss: str, activation: str, targets: str) -> derive.Model:
    return derive.Model(derive.parse(spec_text(
        **SATURATED, activation=f'["tanh", "{activation}"]', loss=f'"{loss}"',
        samples=f"[[samples]]\ninputs = [2]\ntargets = {targets}\n"), "saturated.toml"))


def test_saturated_softmax_with_cross_entropy_gives_its_1e_97_gradients_in_float64(tmp_path):
    """Before: delta_o1 = out_o1 * target_sum - target_o1 = 1.0 - 1.0 = 0 (exact: -1.0e-99), so
    dE/dw1 came out -8.9e-197 (exact -2.6e-97, 100% off) and dE/dw3 0 (exact -7.7e-100)."""
    model = _network("cross_entropy", "softmax", "[1, 0, 0]")
    module, _ = load(model, tmp_path)
    truth = _truth(model)
    assert -2.6e-97 < truth["w1"] < -2.5e-97 and -7.8e-100 < truth["w3"] < -7.7e-100
    _agree(module.gradient(module.INITIAL, [2.0], [1.0, 0.0, 0.0]), truth, "python")


def test_logistic_with_binary_cross_entropy_where_1_minus_out_rounds_to_0(tmp_path):
    """Before: delta_o1 = out_o1 - target_o1 = 1.0 - 1.0 = 0 (exact -5.9e-100): every gradient that
    reads it was 0."""
    model = _network("binary_cross_entropy", "logistic", "[1, 0, 0]")
    module, _ = load(model, tmp_path)
    truth = _truth(model)
    assert -6.0e-100 < truth["b3"] < -5.9e-100  # delta_o1 = -sigma(-228.5)
    _agree(module.gradient(module.INITIAL, [2.0], [1.0, 0.0, 0.0]), truth, "python")


# -- the class: every fused pair in the registry, saturated, in every target -----------------------
FUSED = sorted(name for name, loss in LOSSES.items() if loss.fused_delta is not None)
TARGETS = ["[1, 0, 0]", "[0.75, 0.25, 0]"]  # one-hot: deltas of 1e-99; soft: a delta of 1e-99 beside 0.25


def test_every_fused_pair_is_here():
    assert FUSED == ["binary_cross_entropy", "cross_entropy"]  # a new one joins the class test below
    assert all(LOSSES[name].requires for name in FUSED)


def _javascript(model, x, t) -> dict[str, float]:
    """The page's values() run by node: its gradients by name."""
    script = javascript.render(model.derivation) + (
        f"\nconst v = values({json.dumps(dict(model.module.INITIAL))}, {json.dumps(x)}, {json.dumps(t)});"
        "\nconsole.log(JSON.stringify([QUANTITIES, v.map(String)]));")
    run = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    names, values = json.loads(run.stdout)
    return {name[len("dE_total/d"):]: float(v) for name, v in zip(names, values, strict=True)
            if name.startswith("dE_total/d")}


@pytest.mark.parametrize("targets", TARGETS)
@pytest.mark.parametrize("loss", FUSED)
def test_every_fused_pair_saturated_in_every_target(loss, targets, tmp_path):
    model = _network(loss, LOSSES[loss].requires, targets)
    truth = _truth(model)
    sample = model.spec.samples[0]
    x, t = floats(sample.inputs), floats(sample.targets)
    modules = {"python": load(model, tmp_path)[0], "python loops": load_loops(model, tmp_path)[0],
               "numpy": load_numpy(model, tmp_path)}
    for where, module in modules.items():
        _agree(module.gradient(module.INITIAL, x, t), truth, where)
    _agree(_javascript(model, x, t), truth, "javascript")
    # the exact engine reads the same hook: its values agree too
    _agree({p: model.value(f"dE_total/d{p}", 0) for p in truth}, truth, "engine")


@needs_cc
@pytest.mark.parametrize("loss", FUSED)
def test_every_fused_pair_saturated_in_c(loss, tmp_path):
    model = _network(loss, LOSSES[loss].requires, TARGETS[0])
    truth = _truth(model)
    x, t = floats(model.spec.samples[0].inputs), floats(model.spec.samples[0].targets)
    for loops in (False, True):
        module = load_c(model, tmp_path, loops=loops)
        _agree(module.gradient(module.INITIAL, x, t), truth, f"c (loops: {loops})")


# -- the check: a gradient float64 cannot resolve is said to be, not passed ---------------------------
# sigma(40) rounds to 1 in float64: the generated delta -(t - out) out (1 - out) is 0, the exact
# gradient -(1 - sigma(40))^2 sigma(40) = -1.80485139e-35 (no fused form: half_sse has none).
UNRESOLVABLE = spec_text(layers="[1, 1]", weights="[[[40]]]", biases="[[0]]",
                         samples="[[samples]]\ninputs = [1]\ntargets = [1]\n")


def test_the_check_says_when_float64_cannot_resolve_a_gradient(tmp_path, capsys):
    path = tmp_path / "t.toml"
    path.write_text(UNRESOLVABLE)
    with mpmath.workdps(40):  # sigma(-40)^2 sigma(40), the exact gradient, written out
        assert mpmath.nstr(-(1 / (1 + mpmath.exp(40))) ** 2 / (1 + mpmath.exp(-40)), 9) == "-1.80485139e-35"
    assert main(["check", str(path), "--quiet"]) == 0  # not a failure: the derivation and the code are right
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["w1", "-1.80485139e-35", "ok", "ok", "ok", "unresolved", lines[2].split()[6],
                                "unresolved"]
    assert lines[3].split()[:6] == ["b1", "-1.80485139e-35", "ok", "ok", "ok", "unresolved"]
    assert lines[3].split()[-1] == "unresolved"
    assert lines[-2] == ("  unresolved: the generated gradient is within its float64 error bound, but the bound passes "
                         "10% of the exact value: float64 cannot resolve it with these steps (1 - out where out rounds "
                         "to 1, or terms that cancel)")
    assert lines[-1] == ("  every route agrees, but the generated code's float64 cannot resolve 2 gradient(s): w1, b1 "
                         "(unresolved, not passed).")
    assert main(["check", str(path), "--claim", "w1=40"]) == 0  # a right claim: the short summary
    assert capsys.readouterr().out.splitlines()[-2] == ("Checks: every gradient agrees by every route; the generated "
                                                        "code's float64 cannot resolve w1, b1 (2 of 2 parameters).")
    assert main(["check", str(path), "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert checks["passed"] is True and checks["unresolved"] == 2
    why = checks["rows"][0]["unresolved"]
    assert why.startswith("float64 cannot resolve it: the generated code's error bound there is ")
    assert why.endswith(", the exact value -1.8e-35")
    bound = float(why.split(" is ")[1].split(",")[0])
    assert 1e-33 < bound < 1e-29  # about u^2: 1 - out is only known to within u = 1.1e-16


def test_a_wrong_tiny_gradient_fails_the_check(monkeypatch):
    """The defect the check let through: the generated dE/dw3 of the saturated softmax was 0 where it
    is -7.7e-100, 100% off, and an absolute tolerance of 1e-12 passed it. Held to its float64 error
    bound (1e-111 here), the same number fails."""
    model = _network("cross_entropy", "softmax", "[1, 0, 0]")
    right = model.module.gradient
    monkeypatch.setattr(model.module, "gradient", lambda *a: {**right(*a), "w3": 0.0})
    failed = {(r.parameter, tuple(r.failures)) for r in check.run(model).rows if r.failures}
    assert failed == {("w3", ("generated",))}


def test_resolved_gradients_pass_and_are_not_called_unresolved():
    for loss in FUSED:
        for targets in TARGETS:
            report = check.run(_network(loss, LOSSES[loss].requires, targets))
            assert report.passed and not report.unresolved, (loss, targets)
