"""Every function a network can use, printed in every target and run: each registry activation and
loss, and each function and constant a spec's own formula may use (in an activation and in a loss),
on a network whose hidden nets and targets are negative and whose output is tanh (a rational
activation followed by tanh with a rational loss once ended `derive check` in an mpc).

For each: sympy.diff of the nested error (the check's independent route) is real and agrees with
the engine; every target of `derive.render.code.targets` prints it in every form it has, and where a runtime is
here it runs: the plain-Python module (straight-line and loop form), the NumPy module, the C module
(straight-line and loop form, C99 as the binding builds it, and once more with -std=c99 -pedantic
-Wall -Wextra -Werror) and the JavaScript (by node), whose gradients agree with the engine."""

import json
import os
import shutil
import subprocess
import sys

import mpmath
import pytest
import sympy as sp
from conftest import spec_text
from generated_module import floats, load
from sympy.printing.pycode import MpmathPrinter
from targets import _import, c_files, load_c, load_numpy, needs_cc

import derive
from derive.check import diff_once
from derive.model import formula
from derive.model import quantities as Q
from derive.model.functions import CONSTANTS, ELEMENTARY
from derive.model.registry import ACTIVATIONS, LOSSES
from derive.render.code import targets

pytestmark = pytest.mark.slow  # a system test: `-m "not slow"` leaves it out (docs/programmers.md)

#: Each name a formula may use: an activation defined at every net, and a loss defined at every out.
OWN = {
    "exp": ("exp(net) / 2", "(exp(out) - exp(target))**2"),
    "log": ("log(1 + net**2)", "(log(1 + out**2) - log(1 + target**2))**2"),
    "sqrt": ("sqrt(1 + net**2)", "(sqrt(1 + out**2) - sqrt(1 + target**2))**2"),
    "tanh": ("tanh(net) / (1 + net**2)", "(tanh(out) - tanh(target))**2"),
    "sinh": ("sinh(net)", "(sinh(out) - sinh(target))**2"),
    "cosh": ("cosh(net)", "(cosh(out) - cosh(target))**2"),
    "sin": ("sin(net)", "(sin(out) - sin(target))**2"),
    "cos": ("cos(net)", "(cos(out) - cos(target))**2"),
    "atan": ("atan(net)", "(atan(out) - atan(target))**2"),
    "erf": ("erf(net)", "(erf(out) - erf(target))**2"),
    "abs": ("abs(net)", "abs(out - target)"),
    "max": ("max(net, 0.1 * net)", "max(out - target, target - out)"),
    "min": ("min(net, 1 - net)", "-min(out - target, target - out)"),
    "pi": ("net / pi", "pi * (out - target)**2"),
    "E": ("E * net", "(out - target)**2 / E"),
    "rational": ("net / (1 + net**2)", "(target - out)**2 / (1 + target**2)"),
}
NEGATIVE = {"biases": "[[-0.35], [0.60]]",  # nets -0.3225 and -0.3075
            "samples": "[[samples]]\ninputs = [0.05, 0.10]\ntargets = [-0.5, 0.25]\n"}
ELEMENTWISE = sorted(name for name, a in ACTIVATIONS.items() if not a.couples_layer)


def _own(name: str) -> str:
    act, loss = OWN[name]
    tables = f"[activations]\nf = {json.dumps(act)}\n[losses]\nq = {json.dumps(loss)}\n\n"
    return spec_text(activation='["f", "tanh"]', loss='"q"', biases=NEGATIVE["biases"],
                     samples=tables + NEGATIVE["samples"])


def _loss(name: str) -> str:
    output = LOSSES[name].requires or "tanh"
    samples = NEGATIVE["samples"] if output == "tanh" else None
    return spec_text(activation=json.dumps(["tanh", output]), loss=json.dumps(name), biases=NEGATIVE["biases"],
                     **({"samples": samples} if samples else {}))


CASES = {
    **{f"own {name}": _own(name) for name in OWN},
    **{f"activation {name}": spec_text(activation=json.dumps([name, "tanh"]), **NEGATIVE) for name in ELEMENTWISE},
    "activation softmax": spec_text(activation='["tanh", "softmax"]', loss='"cross_entropy"', biases="[[-0.35], [0.6]]"),
    **{f"loss {name}": _loss(name) for name in sorted(LOSSES)},
}


def test_every_function_a_formula_may_use_and_every_registry_entry_is_here():
    assert set(OWN) - {"rational"} == {*ELEMENTARY, *formula.KINKED, *CONSTANTS}
    assert {f"activation {a}" for a in ACTIVATIONS} | {f"loss {x}" for x in LOSSES} <= set(CASES)


@pytest.fixture(scope="module", params=sorted(CASES))
def model(request):
    return derive.Model(derive.parse(CASES[request.param], "t.toml"))


def _gradients(model) -> dict[str, float]:
    return {p: float(model.evaluation.totals[Q.gradient(p)]) for p in model.parameters}


def _close(got: dict, want: dict, rtol=1e-10):
    scale = max(1.0, *(abs(v) for v in want.values()))
    for p, v in want.items():
        assert abs(got[p] - v) <= rtol * scale, (p, got[p], v)


def test_the_nested_error_is_real_and_its_sympy_diff_agrees(model):
    """The check's sympy.diff route: the nested E_total keeps x**2 a power (a rewrite to exp(2 log x)
    is complex at a negative x), so its value and its derivative (the route's: `diff_once`) are real, and equal
    the engine's."""
    network = model.network
    nested = network.nested_total()
    values = network.sample_values(0)
    env = {network.symbol(q): v for q, v in values.items()}
    w1 = network.symbol(Q.parameter("w1"))
    with mpmath.workdps(60):
        for expr, want in ((nested, model.evaluation.totals[Q.TOTAL_ERROR]),
                           (diff_once.derivative(nested, w1), model.evaluation.totals[Q.gradient("w1")])):
            symbols = sorted(expr.free_symbols, key=str)
            printer = MpmathPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                                     "user_functions": {}, "order": "none"})  # not sorted again for reading: faster
            got = sp.lambdify(symbols, expr, modules="mpmath", printer=printer,  # each repeated subexpression once
                              cse=lambda e: sp.cse(e, order="none", list=False))(
                *(mpmath.mpf(env[s].p) / env[s].q for s in symbols))
            assert isinstance(got, mpmath.mpf), got
            assert abs(got - want) <= mpmath.mpf("1e-40") * (1 + abs(want))


def test_the_python_and_numpy_modules_run_and_agree_with_the_engine(model, tmp_path):
    sample = model.spec.samples[0]
    x, t = floats(sample.inputs), floats(sample.targets)
    want = _gradients(model)
    python = load(model, tmp_path)[0]
    _close(python.gradient(python.INITIAL, x, t), want)
    numpy_module = load_numpy(model, tmp_path)
    _close(numpy_module.gradient(numpy_module.INITIAL, x, t), want)


FORMS = [(name, form) for name, target in targets.TARGETS.items() for form in target.forms]


@pytest.mark.parametrize(("name", "form"), FORMS, ids=[f"{n}-{f}" for n, f in FORMS])
def test_every_target_prints_it_in_every_form(model, name, form):
    loops = form == targets.LOOPS
    files = targets.render(name, None if loops else model.derivation, model.network, derive.__version__, loops)
    assert list(files) == list(targets.TARGETS[name].files) and all(files.values())


def test_the_python_loop_form_runs_and_agrees_with_the_engine(model, tmp_path):
    (text,) = targets.render("python", None, model.network, derive.__version__, True).values()
    (tmp_path / "loops.py").write_text(text)
    module = _import(tmp_path / "loops.py")
    sample = model.spec.samples[0]
    _close(module.gradient(module.INITIAL, floats(sample.inputs), floats(sample.targets)), _gradients(model))


@pytest.mark.skipif(not shutil.which("node"), reason="no node here")
def test_the_javascript_runs_under_node_and_agrees_with_the_engine(model):
    (text,) = targets.render("javascript", model.derivation, model.network, derive.__version__).values()
    sample = model.spec.samples[0]
    params = {p.name: float(p.value) for p in model.network.parameters}
    script = text + (f"\nconst v = values({json.dumps(params)}, {json.dumps(floats(sample.inputs))}, "
                     f"{json.dumps(floats(sample.targets))});\nconsole.log(JSON.stringify([QUANTITIES, v.map(String)]));")
    run = subprocess.run(["node", "-e", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    names, values = json.loads(run.stdout)
    got = {n[len("dE_total/d"):]: float(v) for n, v in zip(names, values, strict=True) if n.startswith("dE_total/d")}
    _close(got, _gradients(model))


@needs_cc
@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_the_c_module_compiles_as_c99_runs_and_agrees_with_the_engine(model, loops, tmp_path):
    files = c_files(model, loops)  # rendered once: the syntax check and the binding compile the same files
    (tmp_path / "gradients.c").write_text(files["gradients.c"])
    (tmp_path / "gradients.h").write_text(files["gradients.h"])
    strict = subprocess.run(["cc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fopenmp-simd", "-fsyntax-only",
                             str(tmp_path / "gradients.c")], capture_output=True, text=True)
    assert strict.returncode == 0, strict.stderr
    sample = model.spec.samples[0]
    cmod = load_c(model, tmp_path, loops, files)
    _close(cmod.gradient(cmod.INITIAL, floats(sample.inputs), floats(sample.targets)), _gradients(model))


@needs_cc
def test_a_failed_compile_shows_the_compilers_first_error_not_a_note(tmp_path):
    """A compiler that fails (here gcc on the source with the declaration of i1 taken out: an error,
    then gcc's note that each undeclared identifier is reported once) ends `derive codegen --build`
    in one line with its first error, not the note."""
    real = shutil.which("gcc") or shutil.which("cc")
    broken = tmp_path / "out" / "broken.c"  # beside gradients.h, which it includes
    wrapper = tmp_path / "badcc"
    wrapper.write_text(f"#!{sys.executable}\nimport os, sys\nargs = sys.argv[1:]\n"
                       "k = next(i for i, a in enumerate(args) if a.endswith('.c'))\n"
                       "text = open(args[k]).read().replace('const double i1 = x[0];', '')\n"
                       f"open({str(broken)!r}, 'w').write(text)\nargs[k] = {str(broken)!r}\n"
                       f"os.execv({real!r}, [{real!r}, *args])\n")
    wrapper.chmod(0o755)
    (tmp_path / "net.toml").write_text(spec_text())
    env = {**os.environ, "CC": str(wrapper), "LC_ALL": "C"}
    run = subprocess.run([sys.executable, "-m", "derive", "codegen", "net.toml", "--target", "c", "-o", "out",
                          "--build", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(f"derive codegen: {wrapper} failed on {tmp_path / 'out' / 'gradients.c'}: "
                                 f"{broken}:"), run.stderr
    assert ": error: 'i1' undeclared (first use in this function)" in run.stderr and "note:" not in run.stderr


@pytest.mark.skipif(not shutil.which("node"), reason="no node here")
def test_the_javascript_erf_and_erfc_are_within_2e13_of_the_exact_values():
    """JavaScript lacks both: the script's own (`code_functions.ERROR_FUNCTIONS`), against mpmath."""
    from derive.render.code.code_functions import ERROR_FUNCTIONS

    points = [k / 50 for k in range(-300, 1300)] + [1.999999, 2.0, 2.000001, 1e-300, 1e-10, -1e-10, 0.0]
    script = ERROR_FUNCTIONS + f"\nconst x = {json.dumps(points)};\nconsole.log(JSON.stringify([x.map(_erf), x.map(_erfc)]));"
    run = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    erf, erfc = json.loads(run.stdout)
    with mpmath.workdps(40):
        for x, e, c in zip(points, erf, erfc, strict=True):
            assert abs(e - float(mpmath.erf(x))) <= 2e-13 * abs(float(mpmath.erf(x))), (x, e)
            assert abs(c - float(mpmath.erfc(x))) <= 2e-13 * float(mpmath.erfc(x)), (x, c)
