"""The C target and its ctypes binding: against the plain-Python module and the engine on the zoo and
random networks (1e-12 relative), every training option, bad input, hostile names, no compiler."""

import math
import os
import subprocess
import sys

import pytest
from conftest import spec_text
from generated_module import floats, load
from hypothesis import HealthCheck, given, settings
from in_process import derive_cli
from networks import EXTREME, TODAY, ZOO, random_specs
from targets import TRAINING, c_files, load_c, near, needs_cc, same_as_python, same_bits

import derive
from derive.escape import toml_string

pytestmark = needs_cc
@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
@pytest.mark.parametrize("name", ["reference", *sorted(ZOO), *sorted(EXTREME), *sorted(TODAY)])
def test_zoo_against_python_and_engine(name, loops, reference, tmp_path):
    text = {**ZOO, **EXTREME, **TODAY}.get(name)
    model = reference if text is None else derive.Model(derive.parse(text, f"{name}.toml"))
    files = c_files(model, loops)  # rendered once: both builds compile the same files
    shipped = load_c(model, tmp_path, loops, files, shipped=True)  # the binding's own flags, as a user builds it
    same_as_python(model, shipped, load(model, tmp_path)[0])
    same_bits(model, shipped, load_c(model, tmp_path, loops, files))  # the other tests' build (targets.flags_for)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(random_specs())
def test_random_networks(tmp_path, text):
    model = derive.Model(derive.parse(text, "random.toml"))
    python = load(model, tmp_path)[0]
    same_as_python(model, load_c(model, tmp_path, loops=False), python)
    same_as_python(model, load_c(model, tmp_path, loops=True), python)


@pytest.mark.parametrize("options", TRAINING, ids=lambda o: "-".join(map(str, o.values())))
def test_train_matches_the_python_module(options, tmp_path):
    model = derive.Model(derive.parse(ZOO["deep_tanh_relu"], "deep.toml"))
    cmod, pmod = load_c(model, tmp_path, loops=options.get("batch_size") == 1), load(model, tmp_path)[0]
    samples = [(floats(s.inputs), floats(s.targets)) for s in model.spec.samples] * 2  # 4 samples, 2 batches
    state_c, state_p = {}, {}
    got = cmod.train(cmod.INITIAL, samples, 7, 0.05, state=state_c, **options)
    want = pmod.train(pmod.INITIAL, samples, 7, 0.05, state=state_p, **options)
    got = cmod.train(got, samples, 5, 0.05, state=state_c, **options)  # continued from the state
    want = pmod.train(want, samples, 5, 0.05, state=state_p, **options)
    assert all(near(got[p], want[p], 1e-3) for p in want)
    assert state_c["step"] == state_p["step"] == 12
    assert set(state_c) == set(state_p)
    for key in state_p:
        if key != "step":
            assert all(near(state_c[key][p], state_p[key][p], 1e-3) for p in state_p[key]), key


@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops (sgd fused into the backward pass)"])
def test_ten_thousand_steps_and_the_three_parameter_forms(loops, reference, tmp_path):
    cmod, pmod = load_c(reference, tmp_path, loops), load(reference, tmp_path)[0]
    sample = [([0.05, 0.10], [0.01, 0.99])]
    want = pmod.train(pmod.INITIAL, sample, 10000, frozen=())
    got = cmod.train(cmod.INITIAL, sample, 10000, frozen=())
    assert all(near(got[p], want[p], 1.0) for p in want)
    flat = cmod.train([cmod.INITIAL[p] for p in cmod.PARAMETERS], sample, 10000, frozen=())
    assert flat == [got[p] for p in cmod.PARAMETERS]
    vector = cmod.vector(cmod.INITIAL)
    assert cmod.train(vector, sample, 10000, frozen=()) is vector and vector[:] == flat
    assert cmod.train(cmod.INITIAL, sample, 1) == {**cmod.train_step(cmod.INITIAL, *sample[0]), "b1": 0.35, "b2": 0.6}
    state_c, state_p = {}, {}
    got = cmod.train(cmod.INITIAL, sample, 50, frozen=(), state=state_c)
    want = pmod.train(pmod.INITIAL, sample, 50, frozen=(), state=state_p)
    assert all(near(got[p], want[p]) and near(state_c["g"][p], state_p["g"][p], 1e-3) for p in want)


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: m.forward(m.INITIAL, [0.05, 0.1, 0.2]), "inputs: expected 2 values, got 3"),
    (lambda m: m.loss(m.INITIAL, [0.05, 0.1], [0.5]), "targets: expected 2 values, got 1"),
    (lambda m: m.gradient([0.1] * 9, [0.05, 0.1], [0.5, 0.5]), "params: expected 10 values in PARAMETERS order, got 9"),
    (lambda m: m.gradient({"w1": 0.1}, [0.05, 0.1], [0.5, 0.5]), "params: missing w2, w3, w4, w5, w6 ..."),
    (lambda m: m.train(m.INITIAL, [([0.05, 0.1], [0.5])], 1), "targets of sample 1: expected 2 values, got 1"),
    (lambda m: m.train(m.INITIAL, [([0.05, 0.1], [0.5, 0.5])], 1, update_order="in_place"),
     "update_order 'in_place': the C target updates simultaneously only (use the plain-Python module for 'in_place')"),
    (lambda m: m.train(m.INITIAL, [([0.05, 0.1], [0.5, 0.5])], 1, optimizer="rmsprop"),
     "optimizer 'rmsprop': one of sgd, momentum, nesterov, adam, adamw"),
])
def test_bad_input_is_one_clear_error(call, message, reference, tmp_path):
    with pytest.raises(ValueError) as info:
        call(load_c(reference, tmp_path))
    assert str(info.value) == message


def test_no_compiler_is_one_clear_line(reference, tmp_path):
    cmod = load_c(reference, tmp_path)
    env = {**os.environ, "PATH": str(tmp_path / "nothing")}
    env.pop("CC", None)
    script = (f"import sys; sys.path.insert(0, {str(cmod.library_path().parent)!r}); import gradients_c as m\n"
              "try:\n    m.forward(m.INITIAL, [0.0, 0.0])\nexcept m.CompilerNotFound as e:\n    print(e)\n")
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert run.stdout == "no C compiler found (cc, gcc, clang; or set CC): install one, e.g. apt-get install gcc\n"
    spec = tmp_path / "net.toml"
    spec.write_text(spec_text())
    cli = subprocess.run([sys.executable, "-m", "derive", "codegen", str(spec), "--target", "c", "-o",
                          str(tmp_path / "out"), "--build", "--quiet"], env=env, capture_output=True, text=True)
    assert cli.returncode == 2
    assert cli.stderr == ("derive codegen: no C compiler found (cc, gcc, clang; or set CC): install one, "
                          "e.g. apt-get install gcc\n")
    assert not list((tmp_path / "out").glob("*.so"))
    missing = subprocess.run([sys.executable, "-c", script], env={**env, "CC": "no-such-cc"}, capture_output=True,
                             text=True)
    assert missing.stdout == "no C compiler found (no-such-cc; or set CC): install one, e.g. apt-get install gcc\n"


def test_cli_build_compiles_once_keyed_by_the_source(tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text(spec_text())
    run = derive_cli("codegen", str(spec), "--target", "c", "-o", str(tmp_path), "--build")
    assert run.returncode == 0, run.stderr
    libraries = list(tmp_path.glob("_gradients_*.so"))
    assert len(libraries) == 1 and run.stdout.splitlines()[-1] == f"built {libraries[0]}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["net.toml", "gradients.c", "gradients.h", "gradients_c.py", libraries[0].name])


HOSTILE = 'evil */ #include <stdio.h>\n"quote" \\ back ??/ trigraph ??= \u2028 done'


@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_hostile_titles_and_file_names_cannot_break_or_inject(loops, tmp_path):
    path = tmp_path / 'n* "q" \\ ??= ??(.toml'  # the header names the file
    path.write_text(spec_text(title=toml_string(HOSTILE)))
    model = derive.load(str(path))
    files = c_files(model, loops)
    for name in ("gradients.c", "gradients.h"):
        text = files[name]
        assert "#include <stdio.h>" not in text.splitlines() and "??" not in text
        comments = [line for line in text.splitlines() if line.startswith(("/*", " *"))]
        assert comments and not [line for line in comments if "\\" in line or "*/" in line[:-2]]
        (tmp_path / name).write_text(text)
    run = subprocess.run(["cc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-trigraphs", "-fopenmp-simd",
                          "-c", str(tmp_path / "gradients.c"), "-o", str(tmp_path / "g.o")], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    cmod = load_c(model, tmp_path, loops, files)
    assert math.isclose(cmod.forward(cmod.INITIAL, [0.05, 0.10])[0], 0.75136507, rel_tol=1e-8)


def test_deterministic(reference):
    assert c_files(reference) == c_files(reference)
    assert c_files(reference)["gradients.c"].startswith("/* Generated by backprop-derive")


def test_c_identifiers_are_plain_ascii_and_no_keyword():
    from derive.escape import c_identifier

    assert c_identifier("mazur") == "mazur"
    assert c_identifier("int") == "_int" and c_identifier("9lives") == "_9lives"
    assert c_identifier("réseau") == "r_xC3__xA9_seau"
    assert c_identifier('a"*/\\\n') == "a_x22__x2A__x2F__x5C__x0A_"
