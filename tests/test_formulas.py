"""A spec's own activations and losses: the safe parser (hostile formulas included: none executes
anything), the name rules, the scope (one spec's function never changes another model), the
derivative in terms of out, the places where a formula is undefined, kinks, and what a learner
sees (LaTeX, the generated module's note)."""

import ast
import builtins
import json

import mpmath
import pytest
import sympy as sp
from conftest import spec_text
from generated_module import load
from in_process import derive_cli
from networks import TODAY

import derive
from derive.derivation import domain
from derive.model.custom import NET, OUT
from derive.model.registry import ACTIVATIONS, ALIASES, LOSSES


def own(formula: str, loss: str | None = None, **over) -> str:
    """A 2-2-2 spec whose hidden layer uses the spec's own activation f = formula (and whose loss is
    the spec's own ``q`` when given)."""
    tables = f"[activations]\nf = {json.dumps(formula)}\n"
    if loss is not None:
        tables += f"[losses]\nq = {json.dumps(loss)}\n"
    over.setdefault("activation", '["f", "logistic"]')
    if loss is not None:
        over.setdefault("loss", '"q"')
    return spec_text(samples=tables + "\n[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n", **over)


def error(text: str) -> str:
    with pytest.raises(derive.SpecError) as info:
        derive.Model(derive.parse(text, "bad.toml"))
    return str(info.value)


HOSTILE = [
    ('__import__("os").system("touch PWNED")', "only the allowed functions may be called, by name: exp, log, sqrt, "
     "tanh, sinh, cosh, sin, cos, atan, erf, abs, max, min"),
    ('open("PWNED", "w")', "unknown function 'open'; the functions are exp, log, sqrt, tanh, sinh, cosh, sin, cos, "
     "atan, erf, abs, max, min"),
    ("net.__class__.__bases__", "attribute access (a dot) is not allowed"),
    ("exp.__globals__", "attribute access (a dot) is not allowed"),
    ("net[0]", "subscripts are not allowed"),
    ("(lambda: 0)()", "only the allowed functions may be called, by name: exp, log, sqrt, tanh, sinh, cosh, sin, "
     "cos, atan, erf, abs, max, min"),
    ("lambda: net", "lambda is not allowed"),
    ('"net"', "strings are not allowed"),
    ('f"{net}"', "strings are not allowed"),
    ("[net for net in ()]", "ListComp is not allowed"),
    ("10**10**10", "an exponent of 10000000000 is too large (at most 1000 in magnitude)"),
    ("((10**15)**100)**100", "the power 1000000000000000**100 is too large"),
    ("net**(10**4)", "an exponent of 10000 is too large (at most 1000 in magnitude)"),
    ("(net**50)**50", "an exponent of 2500 is too large (at most 1000 in magnitude)"),
    ("exp(exp(1000))", "exp(1000) is too large"),
    ("1e999", "the number 1e999 is too large (at most 1e15)"),
    ("net if net > 0 else 0", "if-expressions are not allowed (use max, min or abs)"),
    ("net > 0", "comparisons are not allowed (use max, min or abs)"),
    ("net and 1", "'and' and 'or' are not allowed"),
    ("(x := 1)", "assignments are not allowed"),
    ("net ^ 2", "the operator '^' is not allowed (a power is **); use + - * / **"),
    ("net // 2", "the operator '//' is not allowed; use + - * / **"),
    ("~net", "the operator '~' is not allowed"),
    ("out", "unknown name 'out'; a formula may use net, exp, log, sqrt, tanh, sinh, cosh, sin, cos, atan, erf, "
     "abs, max, min, pi, E"),
    ("exp", "exp is a function: call it, exp(...)"),
    ("exp(net, 2)", "exp() takes one argument, not 2"),
    ("exp(x=net)", "exp() takes no keyword arguments"),
    ("max(net)", "max() takes two or more arguments"),
    ("1/0", "the formula divides by zero (or takes the log of 0)"),
    ("1j * net", "1j is not a number"),
    ("True", "True is not a number"),
    ("net; import os", "not a formula (invalid syntax)"),
    ("import os", "not a formula (invalid syntax)"),
    ("", "the formula is empty"),
    ("\x00", "not a formula (source code string cannot contain null bytes)"),
    ("1+" * 250 + "1", "the formula has 501 characters; at most 500"),
]


@pytest.mark.parametrize("formula,problem", HOSTILE, ids=[h[1][:40] for h in HOSTILE])
def test_a_hostile_or_wrong_formula_is_one_clear_line(formula, problem):
    shown = repr(formula) if len(repr(formula)) <= 40 else f"{repr(formula)[:19]}…{repr(formula)[-19:]} ({len(repr(formula))} characters)"
    assert error(own(formula)) == f"bad.toml: activations.f = {shown}: {problem}"


def test_no_formula_runs_anything(monkeypatch, tmp_path):
    """Every hostile formula and every accepted one is parsed, built and derived with eval, exec,
    compile and __import__ made to fail: nothing on the path runs code; no file appears."""
    monkeypatch.chdir(tmp_path)
    accepted = [derive.parse(own("net / (1 + exp(-net))", "(target - out)**4 / 4"), "ok.toml"),
                derive.parse(TODAY["own_kinks"], "k.toml")]
    real_import = builtins.__import__

    real_compile = builtins.compile

    def forbidden(*args, **kwargs):
        raise AssertionError(f"code ran: {args[:1]}")

    def parse_only(source, filename, mode, flags=0, *args, **kwargs):  # ast.parse compiles to a tree only
        if flags & ast.PyCF_ONLY_AST:
            return real_compile(source, filename, mode, flags, *args, **kwargs)
        raise AssertionError(f"compiled: {source!r}")

    def guarded_import(name, *args, **kwargs):
        if name in ("os", "subprocess", "shutil"):
            raise AssertionError(f"imported {name}")
        return real_import(name, *args, **kwargs)

    outcomes = []
    for name in ("eval", "exec"):
        monkeypatch.setattr(builtins, name, forbidden)
    monkeypatch.setattr(builtins, "compile", parse_only)
    monkeypatch.setattr(builtins, "__import__", guarded_import)
    try:
        for formula, _ in HOSTILE:
            try:
                derive.parse(own(formula), "bad.toml")
                outcomes.append((formula, "accepted"))
            except derive.SpecError:
                pass
            except BaseException as exc:  # an AssertionError above: something ran
                outcomes.append((formula, repr(exc)))
        for spec in accepted:
            try:
                derive.Model(spec).evaluation  # noqa: B018
            except BaseException as exc:
                outcomes.append((spec.name, repr(exc)))
    finally:
        monkeypatch.undo()
    assert outcomes == []
    assert list(tmp_path.iterdir()) == []


def test_the_cli_rejects_a_hostile_formula_with_exit_2(tmp_path, monkeypatch):
    (tmp_path / "bad.toml").write_text(own('__import__("os").system("touch PWNED")'))
    monkeypatch.chdir(tmp_path)  # where an injected command would leave its file
    for command in ("gradients", "check", "build"):
        result = derive_cli(command, "bad.toml")
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("derive: bad.toml: activations.f = ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


@pytest.mark.parametrize("text,message", [
    (own("net / (1 + exp(-net))").replace("f = ", "swish = ").replace('"f"', '"swish"'),
     "bad.toml: activations.swish: 'swish' is a built-in function (another name of silu); use it without a "
     "formula, or give yours another name"),
    (own("net").replace("f = ", "relu = "), "bad.toml: activations.relu: 'relu' is a built-in function; use it "
     "without a formula, or give yours another name"),
    (own("net").replace("f = ", "sigma = "), "bad.toml: activations.sigma: 'sigma' is a reserved word here; give "
     "the function another name"),
    (own("net").replace("f = ", "exp = "), "bad.toml: activations.exp: 'exp' is a reserved word here; give the "
     "function another name"),
    (own("net").replace("f = ", '"2f" = '), "bad.toml: activations.2f: '2f' is not a name: letters, digits and "
     "underscores, starting with a letter, at most 32 characters"),
    (own("net", "(target - out)**2").replace("q = ", "f = ").replace('loss = "q"', 'loss = "f"'),
     "bad.toml: activations.f: 'f' names an activation and a loss; one name, one function"),
    (own("2 * pi"), "bad.toml: activations.f = '2 * pi': the formula does not depend on net"),
    (own("net", "target**2"), "bad.toml: losses.q = 'target**2': the formula does not depend on out"),
    (own("net", "(target - net)**2"), "bad.toml: losses.q = '(target - net)**2': unknown name 'net'; a formula may "
     "use out, target, exp, log, sqrt, tanh, sinh, cosh, sin, cos, atan, erf, abs, max, min, pi, E"),
    (own("net").replace('f = "net"', "f = 3"), "bad.toml: activations.f must be a formula in a string, not a whole "
     "number"),
    (own("net").replace('[activations]\nf = "net"', 'activations = "net"'), "bad.toml: activations must be a table of "
     'name = "formula", not a string'),
    (own("net", activation='["g", "logistic"]'), "bad.toml: activation[0] = 'g' is unknown; known: logistic, tanh, relu, "
     "softplus, identity, leaky_relu, elu, silu, gelu, gelu_tanh, softmax, f, sigmoid, linear, swish (or define your "
     "own under [activations])"),
])
def test_name_rules_and_formulas_that_do_not_depend_on_their_variable(text, message):
    assert error(text) == message


def test_undefined_places_are_reported_with_the_place(tmp_path, monkeypatch):
    inputs = "[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n"
    negative = own("sqrt(net)", weights="[[[-0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]",
                   biases="[[-0.35], [0.60]]")
    assert error(negative) == ("bad.toml: activations.f = 'sqrt(net)' has no finite real value at net_h1 = "
                               "-0.337500000")  # -0.15 * 0.05 + 0.2 * 0.1 - 0.35
    at_zero = own("sqrt(net)", biases="[[-0.0275], [0.60]]")  # net_h1 = 0.0075 + 0.02 - 0.0275 = 0
    assert error(at_zero) == "bad.toml: activations.f = 'sqrt(net)' has no finite real derivative at net_h1 = 0"
    log_loss = own("net", "-log(out - target)", activation='["logistic", "identity"]')
    assert error(log_loss.replace(inputs, inputs.replace("0.01, 0.99", "0.01, 2"))).startswith(
        "bad.toml: losses.q = '-log(out - target)' has no finite real value at out_o2 = ")
    (tmp_path / "bad.toml").write_text(negative)
    monkeypatch.chdir(tmp_path)
    result = derive_cli("gradients", "bad.toml")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_the_derivative_is_written_in_out_where_it_is_a_polynomial_in_out():
    def slope(formula):
        model = derive.Model(derive.parse(own(formula), "t.toml"))
        return model.network.layer_activation(1).derivative(NET, OUT)

    assert sp.expand(slope("1 / (1 + exp(-net))") - OUT * (1 - OUT)) == 0
    assert sp.expand(slope("tanh(net)") - (1 - OUT**2)) == 0
    assert slope("exp(net)") == OUT
    assert sp.expand(slope("1.7159 * tanh(2/3 * net)") - (sp.Rational(17159, 15000) - sp.Rational(20000, 51477) * OUT**2)) == 0
    swish = slope("net / (1 + exp(-net))")  # no polynomial in out: stays in net, SymPy's own derivative
    assert OUT not in swish.free_symbols and sp.simplify(swish - sp.diff(NET / (1 + sp.exp(-NET)), NET)) == 0
    assert slope("2 * net + 1") == 2


def test_a_kink_follows_the_stated_convention():
    """max(0, net) has derivative 0 at 0 (the first argument's), max(net, 0) 1; abs'(0) = 0; both sides
    of a kink elsewhere are the one-sided derivatives."""
    def at(formula, value):
        model = derive.Model(derive.parse(own(formula), "t.toml"))
        act = model.network.layer_activation(1)
        return act.derivative(NET, OUT).xreplace({NET: sp.Rational(value)}).doit(), act.kink_note

    assert at("max(0, net)", 0)[0] == 0 and at("max(net, 0)", 0)[0] == 1
    assert at("abs(net)", 0)[0] == 0 and at("abs(net)", "0.5")[0] == 1 and at("abs(net)", "-0.5")[0] == -1
    assert at("min(net, 1, 2 * net)", "0.75")[0] == 1 and at("min(net, 1, 2 * net)", "-1")[0] == 2
    assert "abs'(0) = 0" in at("abs(net)", 1)[1] and at("tanh(net)", 1)[1] == ""


def test_a_net_on_a_kink_is_noted_with_the_convention():
    on_kink = own("max(net, 0.1 * net)", biases="[[-0.0275], [0.60]]")  # net_h1 = 0
    model = derive.Model(derive.parse(on_kink, "t.toml"))
    notes = domain.kinks(model.derivation, model.evaluation)
    assert len(notes) == 1 and notes[0].startswith("net_h1 = 0 lies on a kink of f: f is the spec's max(net, 0.1 * net)")
    builtin = derive.Model(derive.parse(spec_text(activation='["relu", "logistic"]', biases="[[-0.0275], [0.60]]"),
                                        "t.toml"))
    assert domain.kinks(builtin.derivation, builtin.evaluation) == [
        "net_h1 = 0 lies on a kink of relu: relu has no derivative at net = 0; derive uses relu'(0) = 0 by convention; "
        "finite differences average both sides there and do not apply to the parameters before it"]


def test_one_specs_function_never_changes_another_model():
    first = derive.Model(derive.parse(own("net / (1 + exp(-net))"), "a.toml"))
    value = first.value("out_h1")
    second = derive.Model(derive.parse(own("net**3"), "b.toml"))
    with mpmath.workdps(60):
        assert abs(second.value("out_h1") - mpmath.mpf("0.3775") ** 3) < mpmath.mpf("1e-55")  # net_h1 = 0.3775
        assert first.value("out_h1") == value
        fresh = derive.Model(derive.parse(own("net / (1 + exp(-net))"), "a.toml"))
        assert abs(fresh.value("dE_total/dw1") - first.value("dE_total/dw1")) < mpmath.mpf("1e-55")
    assert "f" not in ACTIVATIONS and "f" not in ALIASES and "q" not in LOSSES
    assert error(spec_text(activation='["f", "logistic"]')).startswith("bad.toml: activation[0] = 'f' is unknown")


def test_models_of_one_shape_share_their_nested_error_and_no_other_model_does():
    """The sympy.diff route's nested error is made once a process for each network's definitions
    (`expansion.nested_total`): a second model of one spec, and a variant of it with other numbers, find
    it made; another activation, and a spec's own f (a function of its own at each parse, whatever its
    formula), are made anew, never given another model's."""
    from derive.model import expansion

    def made(text):
        """The nested error, and whether it was made for it (a miss of the memory) or found."""
        misses = expansion.nested_total.cache_info().misses
        nested = derive.Model(derive.parse(text, "n.toml")).network.nested_total()
        return nested, expansion.nested_total.cache_info().misses > misses

    expansion.nested_total.cache_clear()
    logistic, fresh = made(spec_text())
    assert fresh
    assert made(spec_text()) == (logistic, False)
    assert made(spec_text(weights="[[[0.1, 0.2], [0.3, 0.4]], [[0.5, 0.6], [0.7, 0.8]]]")) == (logistic, False)
    tanh, fresh = made(spec_text(activation='"tanh"'))
    assert fresh and tanh != logistic
    (swish, fresh), (cube, fresh_too) = made(own("net / (1 + exp(-net))")), made(own("net**3"))

    def cubed(expr):
        return any(power.exp == 3 for power in expr.atoms(sp.Pow))

    assert fresh and fresh_too and made(own("net**3"))[1]  # its own f again: made again
    assert swish != logistic and swish != cube and cubed(cube) and not cubed(swish)


def test_the_generated_module_guards_what_it_can_and_notes_what_it_cannot(tmp_path):
    model = derive.Model(derive.parse(TODAY["own_functions"], "own.toml"))
    module, path = load(model, tmp_path)
    source = path.read_text()
    assert "out_h1 = net_h1 * _sigma(net_h1)" in source  # 1 / (1 + e^-net) took the logistic's guard
    assert ("myswish and its derivative are computed from the spec's formula as written (in net):\n"
            "exp(-net) has no overflow guard, and past about 709 raises OverflowError.") in source
    far = dict(module.INITIAL, w1=-1000.0, w2=0.0)  # net_h1 = -1000: out_h1 = -1000 / (1 + e^1000), no overflow
    with mpmath.workdps(30):
        out_h2 = 0.25 / (1 + mpmath.exp(-0.25))
        expected = [float(1.7159 * mpmath.tanh(2 * (w * out_h2) / 3)) for w in (0.45, 0.55)]
    assert module.forward(far, [1.0, 0.0]) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(OverflowError):  # as the note says: the derivative's exp(-net) at net = -1000
        module.gradient(far, [1.0, 0.0], [0.01, 0.99])


def test_the_document_shows_the_formula_and_its_derivative():
    text = own("max(0, net) + 0.5 * tanh(net)").replace("f = ", "my_act = ").replace('"f"', '"my_act"')
    tex = derive.Model(derive.parse(text, "t.toml")).latex()
    assert r"The activation \texttt{my\_act} is the spec's own formula; SymPy differentiates it:" in tex
    assert r"\operatorname{my\_act}\left(\mathrm{net}\right) = " in tex
    assert "at a kink derive takes, by convention, the derivative of the branch that holds there" in tex


def test_a_comment_in_a_formula_reaches_no_output_unescaped(tmp_path):
    """Python's parser drops a comment, so "max(net, 0) # ..." is accepted; the text still reaches only
    the kink note, which every printer escapes, and never the generated code."""
    payload = "max(net, 0)  # \\input{/etc/passwd} {{ x }} </script> \"\"\" open('PWNED', 'w')"
    model = derive.Model(derive.parse(own(payload), "t.toml"))
    _, path = load(model, tmp_path)
    assert "passwd" not in path.read_text() and "PWNED" not in path.read_text()
    tex = model.latex()
    assert r"\input{" not in tex and r"\textbackslash{}input\{/etc/passwd\}" in tex
    assert not (tmp_path / "PWNED").exists()


def test_a_loss_with_a_softplus_pattern_is_computed_without_overflow(tmp_path):
    text = own("net", "log(1 + exp(out - target))", activation='["logistic", "identity"]',
               weights="[[[0.15, 0.20], [0.25, 0.30]], [[900, 0.45], [0.50, 0.55]]]")
    model = derive.Model(derive.parse(text, "t.toml"))
    module, path = load(model, tmp_path)
    assert "_softplus(" in path.read_text()
    sample = model.spec.samples[0]
    value = module.loss(dict(module.INITIAL), [float(v) for v in sample.inputs], [float(v) for v in sample.targets])
    assert value == pytest.approx(float(model.value("E_total")), rel=1e-12)
