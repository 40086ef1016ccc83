"""The NumPy target: against the plain-Python module and the engine on the zoo and random networks
(1e-12 relative), batches as matrix products, every training option, bad input."""

import subprocess
import sys

import numpy
import pytest
from conftest import spec_text
from generated_module import floats, load
from hypothesis import HealthCheck, given, settings
from in_process import derive_cli
from networks import EXTREME, TODAY, ZOO, random_specs
from targets import TRAINING, load_numpy, near, same_as_python

import derive


@pytest.mark.parametrize("name", ["reference", *sorted(ZOO), *sorted(EXTREME), *sorted(TODAY)])
def test_zoo_against_python_and_engine(name, reference, tmp_path):
    text = {**ZOO, **EXTREME, **TODAY}.get(name)
    model = reference if text is None else derive.Model(derive.parse(text, f"{name}.toml"))
    same_as_python(model, load_numpy(model, tmp_path), load(model, tmp_path)[0])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(random_specs(max_samples=3))
def test_random_networks_one_sample_and_the_batch(tmp_path, text):
    model = derive.Model(derive.parse(text, "random.toml"))
    nmod, pmod = load_numpy(model, tmp_path), load(model, tmp_path)[0]
    same_as_python(model, nmod, pmod)
    xs = numpy.array([floats(s.inputs) for s in model.spec.samples])
    ts = numpy.array([floats(s.targets) for s in model.spec.samples])
    for reduction in ("sum", "mean"):
        want = dict.fromkeys(pmod.PARAMETERS, 0.0)
        for x, t in zip(xs, ts, strict=True):
            for p, v in pmod.gradient(pmod.INITIAL, list(x), list(t)).items():
                want[p] += v / (len(xs) if reduction == "mean" else 1)
        got = nmod.gradient(nmod.INITIAL, xs, ts, reduction=reduction)
        scale = max(1.0, *(abs(v) for v in want.values()))
        assert all(near(got[p], want[p], scale) for p in want)
        losses = [pmod.loss(pmod.INITIAL, list(x), list(t)) for x, t in zip(xs, ts, strict=True)]
        assert near(nmod.loss(nmod.INITIAL, xs, ts, reduction=reduction),
                    sum(losses) / (len(xs) if reduction == "mean" else 1))
    outs = nmod.forward(nmod.INITIAL, xs)
    assert outs.shape == (len(xs), len(model.network.outputs))
    assert all(near(a, b) for row, x in zip(outs, xs, strict=True) for a, b in zip(row, pmod.forward(pmod.INITIAL, list(x)),
                                                                                 strict=True))


@pytest.mark.parametrize("options", TRAINING, ids=lambda o: "-".join(map(str, o.values())))
def test_train_matches_the_python_module(options, tmp_path):
    model = derive.Model(derive.parse(ZOO["deep_tanh_relu"], "deep.toml"))
    nmod, pmod = load_numpy(model, tmp_path), load(model, tmp_path)[0]
    samples = [(floats(s.inputs), floats(s.targets)) for s in model.spec.samples] * 2
    state_n, state_p = {}, {}
    got = nmod.train(nmod.INITIAL, samples, 7, 0.05, state=state_n, **options)
    want = pmod.train(pmod.INITIAL, samples, 7, 0.05, state=state_p, **options)
    got = nmod.train(got, samples, 5, 0.05, state=state_n, **options)
    want = pmod.train(want, samples, 5, 0.05, state=state_p, **options)
    assert all(near(got[p], want[p], 1e-3) for p in want)
    assert state_n["step"] == state_p["step"] == 12 and set(state_n) == set(state_p)
    for key in state_p:
        if key != "step":
            assert all(near(state_n[key][p], state_p[key][p], 1e-3) for p in state_p[key]), key


def test_parameters_as_a_flat_array(reference, tmp_path):
    nmod = load_numpy(reference, tmp_path)
    flat = numpy.array([nmod.INITIAL[p] for p in nmod.PARAMETERS])
    step = nmod.train_step(flat, [0.05, 0.10], [0.01, 0.99])
    assert step.tolist() == list(nmod.train_step(nmod.INITIAL, [0.05, 0.10], [0.01, 0.99]).values())
    assert round(step[4], 8) == 0.35891648  # the article's w5 after one step


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: m.forward(m.INITIAL, [0.05, 0.1, 0.2]), "inputs: expected 2 values, got 3"),
    (lambda m: m.loss(m.INITIAL, [0.05, 0.1], [0.5]), "targets: expected 2 values, got 1"),
    (lambda m: m.gradient([0.1] * 9, [0.05, 0.1], [0.5, 0.5]), "params: expected 10 values in PARAMETERS order, got 9"),
    (lambda m: m.gradient(m.INITIAL, numpy.zeros((3, 2)), numpy.zeros((2, 2))), "inputs and targets: 3 and 2 samples"),
    (lambda m: m.gradient(m.INITIAL, numpy.zeros((3, 3)), numpy.zeros((3, 2))),
     "inputs: expected one sample of 2 values or a batch of rows of 2, got shape (3, 3)"),
    (lambda m: m.train(m.INITIAL, [([0.05, 0.1], [0.5, 0.5])], 1, update_order="in_place"),
     "update_order 'in_place': the NumPy target updates simultaneously only (use the plain-Python module for 'in_place')"),
])
def test_bad_input_is_one_clear_error(call, message, reference, tmp_path):
    with pytest.raises(ValueError) as info:
        call(load_numpy(reference, tmp_path))
    assert str(info.value) == message


def test_the_command_line(tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text(spec_text())
    out = tmp_path / "g.py"
    run = derive_cli("codegen", str(spec), "--target", "numpy", "-o", str(out))
    assert (run.returncode, run.stdout, run.stderr) == (0, f"wrote {out}\n", "")
    assert out.read_text().startswith("# Generated by backprop-derive") and "import numpy" in out.read_text()
    bad = derive_cli("codegen", str(spec), "--target", "numpy", "--build")
    assert (bad.returncode, bad.stdout, bad.stderr) == (2, "", "derive codegen: --build is for --target c\n")
    unknown = derive_cli("codegen", str(spec), "--target", "fortran")
    assert unknown.returncode == 2 and len(unknown.stderr.splitlines()) == 1 and "invalid choice" in unknown.stderr


def test_the_module_needs_numpy_only_when_imported(tmp_path):
    """derive itself never imports numpy: rendering the NumPy target is text."""
    run = subprocess.run([sys.executable, "-c", "import sys, derive\nfrom derive.render.code import numpy_target\n"
                          "numpy_target.render(derive.load().network, '0')\nprint('numpy' in sys.modules)"],
                         capture_output=True, text=True)
    assert run.stdout == "False\n", run.stderr


def test_deterministic_and_headed(reference):
    from derive.render.code import numpy_target

    text = numpy_target.render(reference.network, derive.__version__)
    assert text == numpy_target.render(derive.load().network, derive.__version__)
    assert text.splitlines()[1] == "# Do not edit: run `derive codegen --target numpy` on the spec to regenerate."
