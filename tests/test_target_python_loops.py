"""The plain-Python target in loop form (above the size threshold): against the straight-line module
and the engine on the zoo and random networks, and 784-32-10 end to end from the command line."""

import importlib.util
import subprocess
import sys
import time

import pytest
from generated_module import floats, load
from hypothesis import HealthCheck, given, settings
from in_process import derive_cli
from networks import EXTREME, TODAY, ZOO, random_specs
from targets import TRAINING, near, same_as_python

import derive
from derive.render.code import loops, python_loops


def load_loops(model, tmp_path):
    path = tmp_path / f"loops_{model.spec.name}_{time.monotonic_ns()}.py"
    path.write_text(python_loops.render(model.network, derive.__version__))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


@pytest.mark.parametrize("name", ["reference", *sorted(ZOO), *sorted(EXTREME), *sorted(TODAY)])
def test_zoo_against_python_and_engine(name, reference, tmp_path):
    text = {**ZOO, **EXTREME, **TODAY}.get(name)
    model = reference if text is None else derive.Model(derive.parse(text, f"{name}.toml"))
    module, path = load_loops(model, tmp_path)
    same_as_python(model, module, load(model, tmp_path)[0])
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length", "120",
                          str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(random_specs())
def test_random_networks(tmp_path, text):
    model = derive.Model(derive.parse(text, "random.toml"))
    same_as_python(model, load_loops(model, tmp_path)[0], load(model, tmp_path)[0])


@pytest.mark.parametrize("options", TRAINING[:4], ids=lambda o: "-".join(map(str, o.values())))
def test_train_is_the_template_loop(options, tmp_path):
    model = derive.Model(derive.parse(ZOO["deep_tanh_relu"], "deep.toml"))
    lmod, pmod = load_loops(model, tmp_path)[0], load(model, tmp_path)[0]
    samples = [(floats(s.inputs), floats(s.targets)) for s in model.spec.samples]
    got, want = lmod.train(lmod.INITIAL, samples, 9, 0.05, **options), pmod.train(pmod.INITIAL, samples, 9, 0.05, **options)
    assert all(near(got[p], want[p], 1e-3) for p in want)


def test_bad_input_is_one_clear_error(reference, tmp_path):
    module = load_loops(reference, tmp_path)[0]
    with pytest.raises(ValueError, match=r"^inputs: expected 2 values, got 3$"):
        module.forward(module.INITIAL, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"^params: expected 10 values in PARAMETERS order, got 2$"):
        module.loss([0.1, 0.2], [0.1, 0.2], [0.1, 0.2])


def test_784_32_10_from_the_command_line(tmp_path):
    """Loop form above the threshold: a short module that imports at once, agreeing with NumPy."""
    spec = tmp_path / "n784.toml"
    spec.write_text('name = "n784"\nlayers = [784, 32, 10]\nactivation = "logistic"\nloss = "half_sse"\n'
                    'bias = "per_neuron"\nlearning_rate = 0.1\nseed = 1\n\n[[samples]]\n'
                    f"inputs = [{', '.join(['0.5'] * 784)}]\ntargets = [{', '.join(['0.1'] * 10)}]\n")
    for target, name in (("python", "gradients.py"), ("numpy", "gradients_numpy.py")):
        run = derive_cli("codegen", str(spec), "--target", target, "-o", str(tmp_path / name), "--quiet")
        assert run.returncode == 0, run.stderr
    text = (tmp_path / "gradients.py").read_text()
    assert "loop form" in text.splitlines()[4] and text.count("\n") < 6000  # the packed tables, and code
    modules = []
    for name in ("gradients.py", "gradients_numpy.py"):
        spec_ = importlib.util.spec_from_file_location(name[:-3], tmp_path / name)
        modules.append(importlib.util.module_from_spec(spec_))
        spec_.loader.exec_module(modules[-1])
    python, numpy_module = modules
    assert len(python.PARAMETERS) == 25450 > loops.LOOP_THRESHOLD
    x, t = [0.5] * 784, [0.1] * 10
    g, gn = python.gradient(python.INITIAL, x, t), numpy_module.gradient(numpy_module.INITIAL, x, t)
    assert all(near(g[p], gn[p], 1.0) for p in python.PARAMETERS)


def test_the_straight_line_module_takes_a_flat_sequence_and_checks_lengths(reference, tmp_path):
    module = load(reference, tmp_path)[0]
    flat = [module.INITIAL[p] for p in module.PARAMETERS]
    assert module.train_step(flat, [0.05, 0.10], [0.01, 0.99]) == module.train_step(module.INITIAL, [0.05, 0.10],
                                                                                      [0.01, 0.99])
    assert module.train(flat, [([0.05, 0.10], [0.01, 0.99])], 3) == module.train(module.INITIAL,
                                                                                [([0.05, 0.10], [0.01, 0.99])], 3)
    for call, message in [
        (lambda: module.forward(module.INITIAL, [0.05, 0.1, 0.2]), "inputs: expected 2 values, got 3"),
        (lambda: module.gradient(module.INITIAL, [0.05, 0.1], [0.5]), "targets: expected 2 values, got 1"),
        (lambda: module.loss(flat[:-1], [0.05, 0.1], [0.5, 0.5]), "params: expected 10 values in PARAMETERS order, got 9"),
    ]:
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == message
