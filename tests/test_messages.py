"""What a newcomer's mistakes get: a message that says what is wrong and what was meant."""

from pathlib import Path

import pytest
from conftest import ROOT, spec_text

from derive.cli import main
from derive.model import quantities as Q

KNOWN = ("logistic, tanh, relu, softplus, identity, leaky_relu, elu, silu, gelu, gelu_tanh, softmax, sigmoid, "
         "linear, swish (or define your own under [activations])")


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_grade_with_its_arguments_swapped(capsys, tmp_path, monkeypatch):
    (tmp_path / "sheet.txt").write_text((ROOT / "examples" / "sheets" / "one_slip.txt").read_text())
    (tmp_path / "mazur.toml").write_text((ROOT / "derive" / "examples" / "mazur.toml").read_text())
    monkeypatch.chdir(tmp_path)  # short names: a long path is quoted as an excerpt
    sheet, spec = "sheet.txt", "mazur.toml"
    code, _, err = run(capsys, "grade", sheet, spec)
    assert code == 2
    assert err == (f"derive grade: the arguments look swapped: {spec} is a network spec and {sheet} is not; the "
                   "spec comes first: derive grade SPEC ANSWERS\n")
    assert run(capsys, "grade", spec, sheet)[0] == 1  # the right way round: marked (two wrong lines)


def test_grade_with_a_broken_spec_is_still_the_specs_error(capsys, tmp_path):
    broken = tmp_path / "b.toml"
    broken.write_text("name = \n")
    code, _, err = run(capsys, "grade", str(broken), str(ROOT / "examples" / "sheets" / "one_slip.txt"))
    assert code == 2 and err.startswith("derive: b.toml: TOML syntax error: ")


@pytest.mark.parametrize(("key", "given", "hint"), [
    ("activation", "sigmoidd", " (did you mean 'sigmoid'?)"),
    ("activation", "ReLU", " (did you mean 'relu'? names are case-sensitive)"),
    ("activation", "tahn", " (did you mean 'tanh'?)"),
    ("activation", "xyzzy", ""),
])
def test_an_unknown_activation_gets_a_suggestion(capsys, tmp_path, key, given, hint):
    spec = tmp_path / "s.toml"
    spec.write_text(spec_text(**{key: f'"{given}"'}))
    code, _, err = run(capsys, "gradients", str(spec))
    assert code == 2
    assert err == f"derive: s.toml: {key} = {given!r} is unknown{hint}; known: {KNOWN}\n"


def test_an_unknown_loss_gets_a_case_hint(capsys, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(spec_text(loss='"Half_SSE"'))
    assert run(capsys, "gradients", str(spec))[2] == (
        "derive: s.toml: loss = 'Half_SSE' is unknown (did you mean 'half_sse'? names are case-sensitive); known: "
        "half_sse, mse, binary_cross_entropy, cross_entropy, huber (or define your own under [losses])\n")


@pytest.mark.parametrize("args", [("gradients", "--quantity", "dE_total/dW1"), ("check", "--claim", "dE_total/dW1=1")])
def test_a_quantity_in_the_wrong_case(capsys, args):
    code, _, err = run(capsys, *args)
    assert code == 2
    assert err == "derive: cannot read quantity 'dE_total/dW1' (did you mean 'dE_total/dw1'? names are case-sensitive)\n"


@pytest.mark.parametrize(("text", "message"), [
    (spec_text(learning_rate="0.5,"), "Expected newline or end of document after a statement (at line 6, column 20); "
                                      "line 6: 'learning_rate = 0.5,'"),
    # the parser finds an open bracket only where the next line starts: the line before is quoted too
    (spec_text(biases="[[0.35], [0.60]", learning_rate=None, weights=None),
     "Unclosed array (at line 8, column 1); line 6: 'biases = [[0.35], [0.60]'; line 8: '[[samples]]'"),
    ('name = "x\n', "Illegal character '\\n' (at line 1, column 10); line 1: 'name = \"x'"),
])
def test_a_toml_syntax_error_quotes_the_line(capsys, tmp_path, text, message):
    spec = tmp_path / "s.toml"
    spec.write_text(text)
    code, _, err = run(capsys, "gradients", str(spec))
    assert code == 2
    assert err == f"derive: s.toml: TOML syntax error: {message}\n"
    assert err.count("\n") == 1 and len(err) <= 300


def test_one_step_is_singular_everywhere(capsys):
    out = run(capsys, "train", "--steps", "1")[1]
    assert "E_total after 1 step  " in out and "after 1 steps" not in out
    assert Q.after(1) == "after 1 step" and Q.after(2) == "after 2 steps" and Q.after(0) == "after 0 steps"
    from derive.render import names

    assert names.latex(Q.parse("E_total@1")).endswith(r"\text{ after 1 step}")
    assert names.latex(Q.parse("E_total@2")).endswith(r"\text{ after 2 steps}")


def test_the_spec_text_helper_order_is_what_the_line_numbers_assume():
    assert spec_text(learning_rate="0.5,").splitlines()[5] == "learning_rate = 0.5,"
    assert Path(__file__).exists()
