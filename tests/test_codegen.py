"""The generated plain-Python module: contract, correctness, safety, determinism, style."""

import ast
import json
import os
import shutil
import subprocess
import sys

import independent
import mpmath
import pytest
from conftest import ROOT, spec_text
from generated_module import floats, load, source
from hypothesis import HealthCheck, assume, given, settings
from networks import EXTREME, ZOO, random_specs

import derive


def close(a: float, b, rtol=1e-9, atol_scale=1e-12) -> bool:
    """|a - b| <= rtol * |b| + atol, atol relative to the gradient's scale (zero gradients exist:
    a shared output bias under softmax has gradient exactly 0)."""
    return abs(a - float(b)) <= rtol * abs(float(b)) + atol_scale


def check_against_engine_and_finite_differences(model, module):
    fd = independent.gradient(model.spec)
    scale = max(1.0, *(abs(float(v)) for v in fd.values()))
    for s, sample in enumerate(model.spec.samples):
        g = module.gradient(module.INITIAL, floats(sample.inputs), floats(sample.targets))
        assert list(g) == model.parameters
        for p in model.parameters:
            assert close(g[p], model.value(f"dE_total/d{p}", s), atol_scale=1e-12 * scale), p
        loss = module.loss(module.INITIAL, floats(sample.inputs), floats(sample.targets))
        assert close(loss, model.value("E_total", s) if len(model.spec.samples) > 1 else model.value("E_total"))
    total = dict.fromkeys(model.parameters, 0.0)
    for sample in model.spec.samples:
        for p, v in module.gradient(module.INITIAL, floats(sample.inputs), floats(sample.targets)).items():
            total[p] += v / (len(model.spec.samples) if model.spec.reduction == "mean" else 1)
    for p in model.parameters:
        assert close(total[p], fd[p], atol_scale=1e-12 * scale), p


def test_the_committed_generated_module_is_fresh(reference):
    committed = ROOT / "generated" / "mazur" / "gradients.py"
    assert committed.read_text() == source(reference), "generated/ is stale: run `derive build`"


def test_public_contract(reference, tmp_path):
    module, _ = load(reference, tmp_path)
    assert module.PARAMETERS == ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "b1", "b2")
    assert module.INITIAL == {"w1": 0.15, "w2": 0.2, "w3": 0.25, "w4": 0.3, "w5": 0.4, "w6": 0.45, "w7": 0.5,
                              "w8": 0.55, "b1": 0.35, "b2": 0.6}
    assert module.LEARNING_RATE == 0.5
    out = module.forward(module.INITIAL, [0.05, 0.10])
    assert [round(o, 9) for o in out] == [0.75136507, 0.772928465]  # the article's (right) outputs
    step = module.train_step(module.INITIAL, [0.05, 0.10], [0.01, 0.99])
    assert round(step["w5"], 8) == 0.35891648 and round(step["w1"], 9) == 0.149780716
    assert module.train(module.INITIAL, [([0.05, 0.10], [0.01, 0.99])], 1, frozen=()) == step
    assert module.FROZEN == module.BIASES == ("b1", "b2")  # the spec freezes the biases, and so does train
    frozen = module.train(module.INITIAL, [([0.05, 0.10], [0.01, 0.99])], 1)
    assert frozen == {**step, "b1": 0.35, "b2": 0.6}


def test_the_reference_module_reads_like_the_article(reference):
    """Exact lines of the 2-2-2 module, written out here by hand: the logistic inline with its
    overflow guard, float literals, the textbook's order, each delta's rule as a comment, and the
    update as one store per parameter."""
    lines = source(reference).splitlines()
    for line in [
        "    net_h1 = w1 * i1 + w2 * i2 + b1",
        "    out_h1 = 1.0 / (1.0 + math.exp(-net_h1)) if net_h1 > -700.0 else math.exp(net_h1)",
        "    # delta_o1 = dE/dout_o1 * out_o1 * (1 - out_o1)",
        "    delta_o1 = (out_o1 - target_o1) * out_o1 * (1.0 - out_o1)",
        "    dE_dout_h1 = delta_o1 * w5 + delta_o2 * w7",
        "    # delta_h1 = dE/dout_h1 * out_h1 * (1 - out_h1)",
        "    delta_h1 = dE_dout_h1 * out_h1 * (1.0 - out_h1)",
        "    E_o1 = 0.5 * (target_o1 - out_o1) ** 2",
        '    gradients["w5"] = delta_o1 * out_h1',
        '    gradients["b1"] = delta_h1 + delta_h2',
        "    step_h1 = learning_rate * delta_h1",
        '    updated["w1"] = w1 - step_h1 * i1',
        '    updated["b2"] = b2 - (step_o1 + step_o2)',
    ]:
        assert line in lines, line
    assert not [line for line in lines if "_logistic" in line]  # each logistic is a statement out = sigma(net)


@pytest.mark.parametrize("name", ["reference", *sorted(ZOO)])
def test_arithmetic_uses_float_literals_only(name, reference):
    """The issue asks for float literals: an int operand (1 - out) would also miss CPython's
    float-float fast path. Integer exponents (x ** 2) and subscripts (inputs[0]) are not arithmetic;
    ``train`` is a fixed loop (``len(samples) == 1``), not printed from expressions, and
    ``epoch_order`` shuffles integers; ``_mapping``, ``_length_error`` and the length checks at the top of
    each function compare lengths (``len(inputs) != 2``), and ``backward is None`` tests identity, which is no
    arithmetic either; nor are annotations (``Mapping[str, float] | None``)."""
    model = reference if name == "reference" else derive.Model(derive.parse(ZOO[name], f"{name}.toml"))
    functions = [n for n in ast.parse(source(model)).body if isinstance(n, ast.FunctionDef)
                 and n.name not in ("train", "epoch_order", "_mapping", "_length_error")]
    for f in functions:  # drop the length checks: ``if len(inputs) != 2 ...:`` and its raise
        f.body = [s for s in f.body if not (isinstance(s, ast.If) and "len(" in ast.unparse(s.test))]
    operands = {ast.BinOp: lambda n: [n.left] + ([] if isinstance(n.op, ast.Pow) else [n.right]),
                ast.UnaryOp: lambda n: [n.operand],
                ast.Compare: lambda n: [] if all(isinstance(o, ast.Is | ast.IsNot) for o in n.ops)
                else [n.left, *n.comparators]}
    for node in (n for f in functions for statement in f.body for n in ast.walk(statement)):  # not annotations
        for operand in operands.get(type(node), lambda n: [])(node):
            if isinstance(operand, ast.Constant):
                assert isinstance(operand.value, float), ast.unparse(node)


@pytest.mark.parametrize("form", ["statement", "inside an expression"])
def test_the_logistic_forms_are_accurate_from_minus_to_plus_1000(form):
    """The printed Python form of the logistic against mpmath, across the -700 switch and into
    subnormal and zero results: within 4 ulp, or for subnormal results within 2 of the smallest
    spacing; as a statement out = sigma(net) and inside a larger expression (2 * sigma(x) / 2)."""
    import math

    import sympy as sp

    from derive.model.registry import Logistic
    from derive.render.code.python import ModuleWriter

    writer = ModuleWriter(derive.load().derivation)
    x = writer.network.symbol(derive.Quantity("net", "h1"))
    expr = Logistic(x) if form == "statement" else sp.Mul(2, Logistic(x), sp.Rational(1, 2), evaluate=False)
    namespace = {"math": math}
    code = writer.printer.inline(expr) if form == "statement" else writer.code(expr)  # a helper call inside
    exec(f"def sigma(net_h1):\n    return {code}\n" + "".join(writer.printer.helper_sources()), namespace)
    sigma = namespace["sigma"]
    points = [-1000.0, -745.2, -745.0, -720.0, -708.5, -700.0001, -700.0, -699.9999, -650.0, -100.0, -36.5,
              -1.0, -1e-9, 0.0, 1e-9, 0.5, 1.0, 20.0, 36.7, 37.5, 709.8, 1000.0]
    for x in points + [k / 7 for k in range(-300, 300)]:
        with mpmath.workdps(50):
            exact = 1 / (1 + mpmath.exp(-mpmath.mpf(x)))
        value = sigma(x)
        assert math.isfinite(value), x
        tolerance = max(4 * math.ulp(float(exact)), 2 * 5e-324)
        assert abs(value - float(exact)) <= tolerance, (x, value, float(exact))


@pytest.mark.parametrize("name", ["reference", *sorted(ZOO)])
def test_gradient_matches_engine_and_finite_differences(name, reference, tmp_path):
    model = reference if name == "reference" else derive.Model(derive.parse(ZOO[name], f"{name}.toml"))
    module, _ = load(model, tmp_path)
    check_against_engine_and_finite_differences(model, module)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(random_specs())
def test_random_networks(tmp_path, text):
    model = derive.Model(derive.parse(text, "random.toml"))
    assume(not any(abs(v) < 1e-9 for values in model.evaluation.samples for k, v in values.items() if k.kind == "net"))
    module, _ = load(model, tmp_path)
    check_against_engine_and_finite_differences(model, module)


def test_train_ten_thousand_steps_against_an_independent_loop(reference, tmp_path):
    module, _ = load(reference, tmp_path)
    params = module.train(module.INITIAL, [([0.05, 0.10], [0.01, 0.99])], 10000, frozen=())
    _, B, _, error = independent.loop_train(reference.spec, 10000)
    assert module.loss(params, [0.05, 0.10], [0.01, 0.99]) == pytest.approx(error, rel=1e-9)
    assert params["b2"] == pytest.approx(B[1][0], rel=1e-9)


def test_train_with_several_samples_and_mean_reduction(tmp_path):
    model = derive.Model(derive.parse(ZOO["bce_mean"], "bce_mean.toml"))
    module, _ = load(model, tmp_path)
    samples = [(floats(s.inputs), floats(s.targets)) for s in model.spec.samples]
    after = module.train(module.INITIAL, samples, 1)
    for p in model.parameters:
        expected = float(module.INITIAL[p]) - float(model.spec.learning_rate) * float(model.value(f"dE_total/d{p}"))
        assert after[p] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_runs_with_the_standard_library_only(reference, tmp_path):
    _, path = load(reference, tmp_path)
    code = (
        "import sys, importlib.util\n"
        "assert 'sympy' not in sys.modules\n"
        f"spec = importlib.util.spec_from_file_location('g', {str(path)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(repr(m.gradient(m.INITIAL, [0.05, 0.1], [0.01, 0.99])['w5']))\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sympy', 'mpmath', 'jinja2', 'derive')))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    value, imported = result.stdout.splitlines()
    assert float(value) == pytest.approx(float(reference.value("dE_total/dw5")), rel=1e-14)
    assert imported == "[]"


@pytest.mark.parametrize("name", sorted(EXTREME))
def test_no_overflow_or_division_by_zero_at_net_1000(name, tmp_path):
    import math

    model = derive.Model(derive.parse(EXTREME[name], f"{name}.toml"))
    module, _ = load(model, tmp_path)
    sample = model.spec.samples[0]
    g = module.gradient(module.INITIAL, floats(sample.inputs), floats(sample.targets))
    loss = module.loss(module.INITIAL, floats(sample.inputs), floats(sample.targets))
    assert all(math.isfinite(v) for v in [*g.values(), loss, *module.forward(module.INITIAL, floats(sample.inputs))])
    with mpmath.workdps(60):  # the exact values (mpmath has no overflow) agree
        assert close(loss, model.value("E_total"), atol_scale=1e-300)
        for p in model.parameters:
            assert close(g[p], model.value(f"dE_total/d{p}"), atol_scale=1e-300), p


def test_hostile_titles_cannot_inject_code(tmp_path):
    title = '"""; import os; os.system("echo pwned") #\\\' \u2028 end'
    model = derive.Model(derive.parse(spec_text(title=json.dumps(title)), "t.toml"))
    assert model.spec.title == title
    module, path = load(model, tmp_path)
    tree = ast.parse(path.read_text())
    top = [type(n).__name__ for n in tree.body]
    assert top.count("Import") == 1 and top.count("ImportFrom") == 1  # only math and collections.abc
    # the title in a comment, its line separator (U+2028) written as an escape: it cannot end the comment
    assert '# Network t: """; import os; os.system("echo pwned") #\\\' \\u2028 end\n' in path.read_text()
    assert module.PARAMETERS[0] == "w1"


def test_deterministic_under_different_hash_seeds(tmp_path):
    outputs = []
    for seed in ["0", "1", "12345"]:
        out = tmp_path / f"g{seed}.py"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        spec = tmp_path / "deep.toml"
        spec.write_text(ZOO["softmax_ce"])
        subprocess.run([sys.executable, "-m", "derive", "codegen", str(spec), "-o", str(out)], env=env, check=True,
                       capture_output=True)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


RUFF = shutil.which("ruff") or (os.path.join(os.path.dirname(sys.executable), "ruff"))


@pytest.mark.skipif(not os.path.exists(RUFF), reason="ruff is not installed (pip install -e '.[test]')")
@pytest.mark.parametrize("name", ["reference", *sorted(ZOO)])
def test_generated_code_passes_ruff_check_and_is_stable_under_ruff_format(name, reference, tmp_path):
    model = reference if name == "reference" else derive.Model(derive.parse(ZOO[name], f"{name}.toml"))
    _, path = load(model, tmp_path)
    check = subprocess.run(
        [RUFF, "check", "--no-cache", "--isolated", str(path)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [RUFF, "format", "--no-cache", "--isolated", "--check", str(path)], capture_output=True, text=True, check=False
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.parametrize("name", ["reference", "softmax_ce"])
def test_the_forward_pass_is_written_once_for_forward_loss_and_gradient(name, reference):
    """_forward holds the forward pass; forward, loss and gradient call it; train_step alone keeps
    its own copy inline (a call costs about a tenth of a step at 2-2-2)."""
    model = reference if name == "reference" else derive.Model(derive.parse(ZOO[name], f"{name}.toml"))
    tree = ast.parse(source(model))
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}

    def net_statements(fn):
        return [n.targets[0].id for n in ast.walk(fn) if isinstance(n, ast.Assign)
                and isinstance(n.targets[0], ast.Name) and n.targets[0].id.startswith("net_")]

    nets = [f"net_{n}" for layer in model.network.layers[1:] for n in layer]
    assert net_statements(functions["_forward"]) == nets
    assert net_statements(functions["train_step"]) == nets
    for public in ("forward", "loss", "gradient"):
        assert net_statements(functions[public]) == []
        calls = [n.func.id for n in ast.walk(functions[public]) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        assert "_forward" in calls, public


def test_a_batch_networks_code_says_its_inputs_are_the_whole_batch(tmp_path):
    """A batchnorm network's one call takes the whole batch (its samples side by side, one pass): the
    Python and NumPy modules' docstrings say so with their own INPUTS and OUTPUTS, loss is the engine's
    E_total of the batch, and a NumPy 2-D array's row is one such batch (two equal rows, twice the loss
    and the gradient). An ordinary network's docstrings say nothing of it."""
    import importlib.util

    import numpy

    from derive.model import quantities as Q

    model = derive.load(ROOT / "derive" / "examples" / "batchnorm.toml")
    modules = {}
    for target in ("python", "numpy"):
        path = tmp_path / f"{target}.py"
        model.codegen(target, path)
        spec = importlib.util.spec_from_file_location(f"batch_{target}", path)
        module = modules[target] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        doc = " ".join(module.__doc__.split())
        assert (f"one call takes the whole batch: inputs are its 3 samples' 2 inputs each, sample by sample "
                f"(INPUTS = {module.INPUTS}), targets likewise (OUTPUTS = {module.OUTPUTS}), and loss is E_total "
                "of the batch.") in doc and (module.INPUTS, module.OUTPUTS) == (6, 6)
    sample = model.spec.samples[0]
    x, t = [float(v) for v in sample.inputs], [float(v) for v in sample.targets]
    params = dict(modules["python"].INITIAL)
    exact = model.evaluation.totals[Q.TOTAL_ERROR]
    assert close(modules["python"].loss(params, x, t), exact)
    numpy_module = modules["numpy"]
    assert close(numpy_module.loss(params, numpy.array([x, x]), numpy.array([t, t])), 2 * exact)
    one, two = numpy_module.gradient(params, x, t), numpy_module.gradient(params, numpy.array([x, x]), numpy.array([t, t]))
    assert all(close(two[p], 2 * one[p]) for p in one)
    ordinary = tmp_path / "mazur.py"
    derive.load().codegen("python", ordinary)
    assert "whole batch" not in ordinary.read_text()
