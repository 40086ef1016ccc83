"""Hostile input on every surface besides the spec's own numbers (issue 22): formulas, flags, quantities,
claims, sheets. Each case ends in exit 2 with one line of at most MAX_MESSAGE characters naming the
problem, quoting an excerpt of what was given (never all of it), within TIME_BOUND seconds; run in
process through the command line's own entry point."""

import signal

import pytest
from conftest import spec_text

from derive.cli import main

MAX_MESSAGE = 300
TIME_BOUND = 20  # seconds; each case takes about a second here (the hangs it guards against never end)
NINES = "9" * 5000


class Hung(BaseException):  # not an Exception: the command line's catch-all must not swallow it
    pass


def bounded(argv, capsys, seconds=TIME_BOUND):
    """``derive argv`` in process, stopped by SIGALRM after ``seconds``: (exit code, stderr, stdout)."""
    def stop(*_):
        raise Hung(f"derive {' '.join(a[:60] for a in argv)} took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        code = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    return code, err, out


def assert_refused(code, err, *parts):
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n") and len(err) <= MAX_MESSAGE, err
    for part in parts:
        assert part in err, (part, err)


def own(formula: str) -> str:
    """A 2-2-2 spec whose hidden layer is a user's activation ``formula``."""
    return spec_text(activation='["mine", "logistic"]') + f'\n[activations]\nmine = "{formula}"\n'


SMALL = "is too small: a nonzero number is at least 1e-50 in magnitude (or write 0)"
RANGE = "is out of range: from 1e-1000 to 1e1000 in magnitude, or 0"
LONG_QUANTITY = "(5010 characters): a quantity is at most 100 characters"


# -- class 1: numbers bound by their digits and exponent before anything converts them ---------------
@pytest.mark.parametrize("spec,argv,parts", [
    (own("net*1e-999999999"), ["check"], ["the number 1e-999999999 " + SMALL]),  # never finished
    (own("net*1e-99999"), ["check"], ["the number 1e-99999 " + SMALL]),  # Python's 4,300-digit error
    (own("net*0.1234567890123456789012345678901234567890123456789012"), ["check"],
     ["has 52 significant digits; at most 50 are used"]),
    (None, ["train", "--learning-rate", "1e-999999999"], ["argument --learning-rate: '1e-999999999' " + SMALL]),
    (None, ["train", "--optimizer", "adam", "--eps", "1e-999999999"], ["argument --eps: '1e-999999999' " + SMALL]),
    (None, ["train", "--optimizer", "adam", "--eps", "0e-999999999"], ["--eps = 0 must be positive"]),
    (None, ["train", "--learning-rate", "1e999"], ["argument --learning-rate: '1e999' is too large: at most 1e+06"]),
    (None, ["train", "--learning-rate", "1e-999"], ["argument --learning-rate: '1e-999' " + SMALL]),
    (None, ["train", "--momentum", NINES], [f"argument --momentum: '{'9' * 18}…{'9' * 18}' (5002 "
                                            "characters) is too large: at most 1e+06 in magnitude"]),
    (None, ["train", "--weight-decay", "nan"], ["argument --weight-decay: not a number: 'nan'"]),
    (None, ["train", "--weight-decay=-inf"], ["argument --weight-decay: not a number: '-inf'"]),
    (None, ["gradients", "--quantity", "E_total@" + NINES], [LONG_QUANTITY]),
    (None, ["gradients", "--quantity", "net_h1[" + NINES + "]"], [LONG_QUANTITY]),
    (None, ["gradients", "--quantity", "E_total@1000001"], ["'E_total@1000001': at most 1000000 training steps"]),
    (spec_text() + f'\n[published]\n"E_total@{NINES}" = 0.3\n', ["check"], [LONG_QUANTITY]),
    (spec_text() + f'\n[published]\n"net_h1[{NINES}]" = 0.3\n', ["check"], [LONG_QUANTITY]),
    (None, ["check", "--claim", "E_total=1e999999999"], ["'E_total=1e999999999': 1e999999999 " + RANGE]),
    (None, ["check", "--claim", "E_total=1e-999999999"], ["'E_total=1e-999999999': 1e-999999999 " + RANGE]),
    (None, ["check", "--claim", "E_total=" + NINES], ["has 5000 significant digits; at most 50 are used"]),
    (None, ["check", "--claim", f"E_total@{NINES}=1"], [LONG_QUANTITY]),
])
def test_numbers_past_the_limits_are_refused_at_once_in_one_line(spec, argv, parts, tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(spec or spec_text())
    code, err, _ = bounded([argv[0], str(path), *argv[1:], *(["--quiet"] if argv[0] == "check" else [])], capsys)
    assert_refused(code, err, *parts)


@pytest.mark.parametrize("sheet,part", [
    ("E_total = 1e999999999\n", "s.txt:1: 1e999999999 " + RANGE),  # decimal.InvalidOperation
    ("E_total = 1e-999999999\n", "s.txt:1: 1e-999999999 " + RANGE),
    (f"E_total = {NINES}\n", "s.txt:1: 9999999999999999999…9999999999999999999 (5000 characters) has 5000 "
     "significant digits"),
    (f"E_total@{NINES} = 1\n", "s.txt:1: cannot read quantity 'E_total@9999999999…999999999999999999' " + LONG_QUANTITY),
    ('{"E_total": 1e999999999}', "s.txt:1: 1E+999999999 " + RANGE),
    ('{"E_total": ' + NINES + "}", "s.txt:1: 1.00000000000E+5000 " + RANGE),
])
def test_sheet_values_past_the_limits_are_refused_in_one_line(sheet, part, tmp_path, capsys):
    (tmp_path / "s.toml").write_text(spec_text())
    (tmp_path / "s.txt").write_text(sheet)
    code, err, _ = bounded(["grade", str(tmp_path / "s.toml"), str(tmp_path / "s.txt")], capsys)
    assert_refused(code, err, part)


def test_flags_and_spec_hold_the_same_number_limits(tmp_path, capsys):
    """A flag is read as the spec reads its [training] table: the same message after the name."""
    for value, shown, why in (("1e999", "1E+999", "is too large: at most 1e+06 in magnitude"),
                              ("1e-999", "1E-999", SMALL)):
        path = tmp_path / "t.toml"
        path.write_text(spec_text(learning_rate=value))
        code, err, _ = bounded(["train", str(path)], capsys)
        assert_refused(code, err, f"learning_rate = {shown} {why}")
        path.write_text(spec_text())
        code, err, _ = bounded(["train", str(path), "--learning-rate", value], capsys)
        assert_refused(code, err, f"'{value}' {why}")


def test_a_number_in_a_formula_at_the_limits_is_exact(tmp_path, capsys):
    """1e-50 and 50 digits are kept exactly, as in a spec; the formula's value at net checks."""
    import sympy as sp

    import derive

    fifty = "0." + "1234567890" * 5
    text = own(f"net*1e-50 + net*{fifty}")
    mine, = derive.parse(text, "t.toml").functions.activations
    net, = mine.formula.expr.free_symbols
    assert mine.formula.expr == net * (sp.Rational(1, 10**50) + sp.Rational(int("1234567890" * 5), 10**50))
    path = tmp_path / "t.toml"
    path.write_text(text)
    assert bounded(["check", str(path), "--quiet"], capsys)[0] == 0


# -- class 6: a message quotes an excerpt of what was given (derive.escape.quoted), on one line ---------
HUGE = "x" * 100_000
EXCERPT = f"'{'x' * 18}…{'x' * 18}' (100002 characters)"
OWN = spec_text(activation='["mine", "logistic"]')


@pytest.mark.parametrize("spec,argv,files,part", [
    (spec_text() + f'\n[training]\noptimizer = "{HUGE}"\n', ["train"], {}, f"training.optimizer = {EXCERPT} is unknown"),
    (spec_text() + f"\n[training]\n{HUGE} = 1\n", ["train"], {}, "unknown key 'training.xxxxxxxxxxxxxxxxxxx…"),
    (spec_text() + f'\n[published]\n"{HUGE}" = 1\n', ["check"], {}, f"published.{EXCERPT}: cannot read quantity"),
    (OWN + f'\n[activations]\nmine = "net+{"y" * 400}"\n', ["check"], {}, "(406 characters): unknown name 'yyyy"),
    (OWN + f'\n[activations]\n{HUGE} = "net"\n', ["check"], {}, "activations.xxxxxxxxxxxxxxxxxxx…"),
    (None, ["check", "--claim", HUGE + "=1"], {}, f"cannot read quantity {EXCERPT}"),
    (None, ["check", "--claim", "w5=" + HUGE], {}, f"{EXCERPT} is not a number"),
    (None, ["check", "--claim", HUGE], {}, "(100002 characters): write quantity=value"),
    (None, ["gradients", "--quantity", HUGE], {}, f"cannot read quantity {EXCERPT}: a quantity is at most 100"),
    (None, ["grade", "{dir}/s.txt"], {"s.txt": HUGE + " = 1\n"}, f"s.txt:1: cannot read quantity {EXCERPT}"),
    (None, ["grade", "{dir}/s.txt"], {"s.txt": "w5 = " + HUGE + "\n"}, f"s.txt:1: {EXCERPT} is not a number"),
    (None, ["grade", "{dir}/s.json"], {"s.json": '{"' + HUGE + '": 1}'}, f"s.json:1: cannot read quantity {EXCERPT}"),
    (None, ["exercise", "--ask", HUGE, "--variants", "1", "--no-pdf", "-o", "{dir}/ex"], {},
     f"cannot read quantity {EXCERPT}"),
    (None, ["exercise", "--seed", HUGE], {}, f"argument --seed: not a whole number: {EXCERPT}"),
    (None, ["train", "--optimizer", HUGE], {}, f"--optimizer = {EXCERPT} is unknown"),
    (None, ["train", "--update-order", HUGE], {}, f"argument --update-order: invalid choice: {EXCERPT} (choose"),
    (None, ["codegen", "--target", HUGE], {}, f"argument --target: invalid choice: {EXCERPT}"),
    (None, ["gradients", "--digits", HUGE], {}, f"argument --digits: not a whole number: {EXCERPT}"),
    # exit 1 with the whole path before
    (None, ["html", "-o", "{dir}/" + "y" * 300 + ".html"], {}, "yyy.html (3"),
    (None, ["build", "-o", "{dir}/" + "y" * 300, "--quiet"], {}, "yyy/gradients.txt (3"),
    (None, ["codegen", "-o", "{dir}/" + "y" * 300 + ".py"], {}, "yyy.py (3"),
    (None, ["latex", "-o", "{dir}/" + "y" * 300 + ".tex"], {}, "yyy.tex (3"),
    (None, ["check", "--claims", "{dir}/" + "y" * 300], {}, "cannot read: File name too long"),
    (None, ["grade", "{dir}/" + "y" * 300], {}, "cannot read: File name too long"),
])
def test_a_message_quotes_an_excerpt_of_a_long_input(spec, argv, files, part, tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(spec or spec_text())
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    argv = [a.replace("{dir}", str(tmp_path)) for a in argv]
    code, err, _ = bounded([argv[0], str(path), *argv[1:]], capsys)
    assert_refused(code, err, part)


@pytest.mark.parametrize("argv", [["init", "{long}.toml"], ["html", "s.toml", "-o", "{long}/a.html"],
                                  ["gradients", "{long}.toml"]])
def test_a_path_too_long_for_the_system_is_bad_input_not_a_failure(argv, tmp_path, capsys):
    (tmp_path / "s.toml").write_text(spec_text())
    long = str(tmp_path / ("z" * 300))
    code, err, _ = bounded([a.replace("{long}", long).replace("s.toml", str(tmp_path / "s.toml")) for a in argv],
                           capsys)
    assert_refused(code, err, "File name too long", "characters)")


# -- class 3: deep nesting is one line, not a RecursionError -------------------------------------------
NESTED = "lists or tables nested too deeply; a network description nests at most four levels"


@pytest.mark.parametrize("name,text,part", [
    ("arrays.toml", spec_text() + "\nx = " + "[" * 500 + "]" * 500 + "\n", NESTED),
    ("tables.toml", spec_text() + "\nx = " + "{a=" * 3000 + "1" + "}" * 3000 + "\n", NESTED),
    ("inputs.toml", spec_text(samples="[[samples]]\ninputs = " + "[" * 100_000 + "]" * 100_000 + "\ntargets = [0, 1]\n"),
     NESTED),
    ("s.json", '{"w5": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "s.json: lists or objects nested too deeply; a sheet is one object of numbers"),
])
def test_deep_nesting_is_one_line(name, text, part, tmp_path, capsys):
    (tmp_path / name).write_text(text)
    spec = tmp_path / ("s.toml" if name.endswith(".json") else name)
    if name.endswith(".json"):
        spec.write_text(spec_text())
        argv = ["grade", str(spec), str(tmp_path / name)]
    else:
        argv = ["check", str(spec), "--quiet"]
    code, err, _ = bounded(argv, capsys)
    assert_refused(code, err, f"{name}: {part}" if name.endswith(".toml") else part)


# -- class 2: a spec's own formula past float64's range, or training leaving a function's domain -------
AT_A_MILLION = {"weights": "[[[1e6, -1e6], [1e6, 1e6]], [[-1e6, 1e6], [1e6, -1e6]]]",
                "samples": "[[samples]]\ninputs = [1e6, -1e6]\ntargets = [0.01, 0.99]\n"}
FLOAT64 = "past float64's range (training and the checks run in float64)"


def own_everywhere(formula: str, **over) -> str:
    return spec_text(activation='"mine"', **over) + f'\n[activations]\nmine = "{formula}"\n'


@pytest.mark.parametrize("text,parts", [
    (spec_text(activation='["mine", "logistic"]', **AT_A_MILLION) + '\n[activations]\nmine = "cosh(net)"\n',
     ["activations.mine = 'cosh(net)': its value at net_h1 = 2.00000000e+12 is 2.26e+868588963806, " + FLOAT64]),
    (spec_text(activation='["mine", "logistic"]', **AT_A_MILLION) + '\n[activations]\nmine = "exp(net)"\n',
     ["its value at net_h1 = 2.00000000e+12 is 4.53e+868588963806"]),  # was a MemoryError
    (spec_text(activation='["mine", "logistic"]', **AT_A_MILLION) + '\n[activations]\nmine = "net**1000 + net"\n',
     ["its value at net_h1 = 2.00000000e+12 is 1.07e+12301"]),
    (spec_text(activation='"identity"', loss='"mine"') + '\n[losses]\nmine = "exp(out*1000)"\n',
     ["losses.mine = 'exp(out*1000)': its value at out_o1 = 0.927625000 is 7.28e+402, " + FLOAT64]),
    (spec_text(activation='["mine", "logistic"]') + '\n[activations]\nmine = "exp(690)*net*exp(690)"\n',
     ["activations.mine = 'exp(690)*net*exp(690)': the constant exp(1380) is too large"]),
    (spec_text(activation='["mine", "logistic"]') + '\n[activations]\nmine = "2*exp(690)*net*exp(690) + 1"\n',
     ["the constant 2*exp(1380) is too large"]),
])
def test_a_formula_past_float64_is_one_clear_line(text, parts, tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(text)
    code, err, _ = bounded(["check", str(path), "--quiet"], capsys)
    assert_refused(code, err, *parts)


@pytest.mark.parametrize("text,argv,parts", [
    (own_everywhere("sqrt(net)"), ["--learning-rate", "100", "--steps", "10"],
     ["training left float64's range or a function's domain between steps 0 and 10 (math domain error); a "
      "smaller learning rate may help"]),
    (own_everywhere("net**3"), ["--learning-rate", "1e6", "--steps", "10"],  # was an OverflowError
     ["training left float64's range or a function's domain between steps 0 and 10 (Numerical result out of range)"]),
    (spec_text(), ["--optimizer", "adam", "--betas", "0." + "9" * 47, "0.999"],
     ["--betas = [1.0, 0.999] must each be below 1 in float64 too"]),  # was a ZeroDivisionError
])
def test_training_that_leaves_a_domain_is_one_clear_line(text, argv, parts, tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(text)
    code, err, _ = bounded(["train", str(path), *argv], capsys)
    assert_refused(code, err, *parts)


# -- class 7: a title no XML, HTML or C comment breaks, through every output -----------------------------
SINK_TITLE = "a\\u0001b\\uffffc\\u0008 */ x /* <&> -- \\u007f\\u0085 d"  # TOML escapes: the characters themselves
XML_FORBIDDEN = {*map(chr, [*range(9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF])}


def test_a_title_of_control_characters_and_comment_marks_breaks_no_output(tmp_path, capsys):
    import shutil
    import subprocess
    import xml.dom.minidom

    path = tmp_path / "s.toml"
    path.write_text(spec_text(title=f'"{SINK_TITLE}"'))
    assert bounded(["build", str(path), "-o", str(tmp_path / "build"), "--quiet"], capsys, 120)[0] == 0
    assert bounded(["exercise", str(path), "--variants", "1", "--no-pdf", "-o", str(tmp_path / "ex"), "--quiet"],
                   capsys, 120)[0] == 0
    assert bounded(["codegen", str(path), "--target", "c", "-o", str(tmp_path / "c")], capsys)[0] == 0
    xml.dom.minidom.parse(str(tmp_path / "ex" / "quiz.xml"))  # Moodle refused it: not well-formed
    markup = [*tmp_path.glob("*/*.html"), *tmp_path.glob("*/*.xml"), *tmp_path.glob("*/*.svg")]
    assert len(markup) >= 2
    for file in markup:
        text = file.read_text(encoding="utf-8", errors="surrogatepass")
        assert not XML_FORBIDDEN & set(text), (file.name, sorted(XML_FORBIDDEN & set(text)))
    source = (tmp_path / "c" / "gradients.c").read_text()
    assert "x / *" in source and "/* Network t: a<U+0001>" in source
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler:  # the README's strict compile: a '/*' inside a comment is an error there
        run = subprocess.run([compiler, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-trigraphs", "-c",
                              str(tmp_path / "c" / "gradients.c"), "-o", str(tmp_path / "g.o")],
                             capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stderr


# -- class 4: wrong results ---------------------------------------------------------------------------------
def test_a_formulas_kink_where_the_net_lies_gets_the_kink_columns(tmp_path, capsys):
    """net_h1 is exactly 0.3775: max(net, 0.3775) is on its kink there, as relu at 0 (the convention;
    the finite differences do not apply to the parameters before it), not a FAIL of w1, w2 and b1."""
    path = tmp_path / "k.toml"
    path.write_text(spec_text(activation='["mine", "logistic"]') + '\n[activations]\nmine = "max(net, 0.3775)"\n')
    code, _err, out = bounded(["check", str(path), "--quiet"], capsys)
    assert code == 0, out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("  w", "  b"))}
    for before in ("w1", "w2", "b1"):
        assert rows[before][2:5] == ["ok", "kink", "kink"] and rows[before][-1] == "pass", rows[before]
    assert rows["w5"][2:5] == ["ok", "ok", "ok"]
    assert "  note: net_h1 = 0.377500000 lies on a kink of mine: mine is the spec's max(net, 0.3775)" in out


CLASHING = ["gamma", "int", "float", "Symbol", "Mul", "Function", "Max", "math", "beta", "print", "loss", "np"]


@pytest.mark.parametrize("name", CLASHING)
def test_a_users_function_name_never_meets_a_target_languages_names(name, tmp_path):
    """`gamma` was printed by the NumPy target as math.gamma (then a NameError), `int` and `Mul` sent
    the C and NumPy printers into RecursionError: every target computes the spec's own function."""
    from targets import load_c, load_numpy, same_as_python

    import derive

    text = spec_text(activation=f'["{name}", "logistic"]') + f'\n[activations]\n{name} = "net / (1 + exp(-net))"\n'
    model = derive.Model(derive.parse(text, "t.toml"))
    same_as_python(model, load_numpy(model, tmp_path), model.module)
    same_as_python(model, load_c(model, tmp_path), model.module)
    silu = derive.Model(derive.parse(spec_text(activation='["silu", "logistic"]'), "t.toml"))
    assert model.module.loss(model.module.INITIAL, [0.05, 0.1], [0.01, 0.99]) == pytest.approx(
        float(silu.value("E_total")), rel=1e-14)  # the independent route: the built-in silu is the same function


def test_an_exercise_of_a_spec_with_its_own_function_is_made(tmp_path, capsys):
    """Its worker processes could not receive the spec (PicklingError), and each variant's spec
    was written without its [activations] table."""
    path = tmp_path / "k.toml"
    path.write_text(spec_text(activation='["mine", "logistic"]') + '\n[activations]\nmine = "net / (1 + exp(-net))"\n')
    code, err, _out = bounded(["exercise", str(path), "--variants", "2", "--no-pdf", "-o", str(tmp_path / "ex"),
                              "--quiet"], capsys, 120)
    assert code == 0, err
    import derive

    variant = derive.load_spec(tmp_path / "ex" / "variant-02.toml")
    assert variant.activations == ("mine", "logistic") and variant.functions.activations[0].description == (
        "net / (1 + exp(-net))")
