"""The fuzz of tests/test_fuzz.py over every other surface (issue 22): formulas, flags, quantities, claims,
sheets, exercises, output paths. A file of its own so that pytest-xdist can run it beside the spec
fuzz (together they were the longest file of the suite).

Every run (tests/conftest.py, profile "deterministic") draws the same cases."""

import contextlib
import json
import signal
import tempfile
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import HOSTILE_NUMBERS, MAX_MESSAGE, TIME_BOUND, agreed

from derive.cli import main

pytestmark = pytest.mark.slow  # a system test: `-m "not slow"` leaves it out (docs/programmers.md)

# -- every other surface (issue 22): formulas, flags, quantities, claims, sheets, exercises, output paths ----
# The same contract: exit 0 (a check that passes; for grade and claims, 1 = a wrong answer, a report on
# stdout), or exit 2 with one line of at most MAX_MESSAGE characters on stderr; within TIME_BOUND.
SURFACE_EXAMPLES = {"formulas": 40, "flags": 40, "quantities": 40, "exercises": 4, "paths": 20}  # 144 cases
SPEC = ('name = "fuzz"\nlayers = [2, 2, 2]\nactivation = ["mine", "logistic"]\nloss = "half_sse"\nbias = "shared"\n'
        "learning_rate = 0.5\nweights = [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]\n"
        'biases = [[0.35], [0.60]]\n\n[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n\n[activations]\n')
NUMBER_TEXT = st.one_of(st.sampled_from([*HOSTILE_NUMBERS, "1e999", "1e-999", "0e-999999999", "9" * 5000,
                                          "0." + "9" * 47, "1/3", "", " ", "0x10", "1e6", "-0", "abc", "\x00",
                                          "x" * 100_000]),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr))
NAME_TEXT = st.one_of(st.sampled_from(["E_total", "E_total@999999999", "E_total@1000001", "E_total@3", "w5+",
                                       "net_h1[0]", "net_h1[2]", "net_h1[" + "9" * 5000 + "]", "dE/dw5",
                                       "dE_total/dw99", "m_w5@1", "😀", "x" * 100_000, "", "a\nb", "out_o1"]),
                      st.text(max_size=12))
ATOMS = ["net", "net", "1e-999999999", "1e-99999", "9**9**9", "1e15", "1e16", "0.3775", "pi", "E", "-net",
         "__import__('os')", "net.real", "x", "1j", "'s'", "(" * 60 + "net" + ")" * 60, "1" * 60, "0"]
FUNCTIONS = ["exp", "log", "sqrt", "tanh", "cosh", "sin", "abs", "max", "min", "erf", "gamma", "print"]


@st.composite
def formulas(draw):
    def term(depth):
        if depth == 0 or draw(st.booleans()):
            return draw(st.sampled_from(ATOMS))
        f = draw(st.sampled_from([*FUNCTIONS, "op", "op"]))
        if f == "op":
            return f"({term(depth - 1)} {draw(st.sampled_from(['+', '-', '*', '/', '**', '//', '^']))} {term(depth - 1)})"
        args = [term(depth - 1) for _ in range(2 if f in ("max", "min") else 1)]
        return f"{f}({', '.join(args)})"
    return term(3)


def contract(argv, capsys, report=(0,)):
    """``derive argv`` ends in one of ``report`` with nothing on stderr, or 2 with one short line."""
    def hung(*_):  # a BaseException: the command line's catch-all must not swallow it
        raise KeyboardInterrupt(f"more than {TIME_BOUND} s: {[a[:100] for a in argv]}")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(TIME_BOUND)
    try:
        with contextlib.chdir(tempfile.mkdtemp(prefix="fuzz-cwd-")):  # a default output folder lands there
            code = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    took = time.monotonic() - started
    out, err = capsys.readouterr()
    assert took < TIME_BOUND, (took, argv)
    if code in report:
        assert err == "" or (argv[0] == "exercise" and code == 0), (err, argv)
        return code, out
    assert code == 2, (code, err or out[-2000:], [a[:200] for a in argv])
    assert err.count("\n") == 1 and len(err) <= MAX_MESSAGE, (err[:2000], [a[:200] for a in argv])
    return code, out


SURFACE_SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.data_too_large]}


@settings(max_examples=SURFACE_EXAMPLES["formulas"], **SURFACE_SETTINGS)
@given(formulas())
def test_every_hostile_formula_checks_or_is_refused_in_one_line(tmp_path, capsys, formula):
    path = tmp_path / "f.toml"
    path.write_text(SPEC + f"mine = {json.dumps(formula)}\n", encoding="utf-8")
    code, out = contract(["check", str(path), "--quiet"], capsys)
    assert code == 2 or agreed(out)


FLAGS = ["--learning-rate", "--momentum", "--eps", "--weight-decay", "--seed", "--steps", "--batch-size", "--every",
         "--digits", "--betas"]


@settings(max_examples=SURFACE_EXAMPLES["flags"], **SURFACE_SETTINGS)
@given(st.lists(st.tuples(st.sampled_from(FLAGS), NUMBER_TEXT), min_size=1, max_size=3),
       st.sampled_from(["sgd", "momentum", "nesterov", "adam", "adamw", "x" * 1000]))
def test_every_hostile_flag_trains_or_is_refused_in_one_line(tmp_path, capsys, flags, optimizer):
    path = tmp_path / "f.toml"
    path.write_text(SPEC + 'mine = "tanh(net)"\n')
    argv = ["train", str(path), "--optimizer", optimizer, "--steps", "3"]
    for flag, value in flags:
        argv += [f"{flag}={value}"] + (["0.9"] if flag == "--betas" else [])
    code, out = contract(argv, capsys)
    assert code == 2 or "E_total after 3 steps" in out or "--steps" in " ".join(argv)


@settings(max_examples=SURFACE_EXAMPLES["quantities"], **SURFACE_SETTINGS)
@given(st.sampled_from(["quantity", "claim", "sheet", "json"]), NAME_TEXT, NUMBER_TEXT)
def test_every_hostile_quantity_claim_and_sheet_is_answered_or_refused_in_one_line(tmp_path, capsys, where, name,
                                                                                     value):
    path = tmp_path / "f.toml"
    path.write_text(SPEC + 'mine = "tanh(net)"\n')
    if where == "quantity":
        contract(["gradients", str(path), "--quantity", name], capsys)
    elif where == "claim":
        contract(["check", str(path), "--quiet", "--claim", f"{name}={value}"], capsys, report=(0, 1))
    else:
        sheet = tmp_path / "sheet.txt"
        sheet.write_text(json.dumps({name: value}) if where == "json" else f"{name} = {value}\n",
                         encoding="utf-8", errors="surrogatepass")
        contract(["grade", str(path), str(sheet)], capsys, report=(0, 1))


@settings(max_examples=SURFACE_EXAMPLES["exercises"], **SURFACE_SETTINGS)
@given(NAME_TEXT, st.sampled_from(["1", "0", "-1", "9" * 5000, "x" * 100_000, "2**64"]))
def test_every_hostile_exercise_request_is_made_or_refused_in_one_line(tmp_path, capsys, ask, seed):
    path = tmp_path / "f.toml"
    path.write_text(SPEC + 'mine = "tanh(net)"\n')
    contract(["exercise", str(path), "--variants", "1", "--no-pdf", "--quiet", "--ask", ask, "--seed", seed,
              "-o", str(tmp_path / "ex")], capsys)


PATHS = ["x" * 300 + ".html", "a\nb.html", "sub/../p.html", "f.toml/p.html", "", ".", "..", "-", "p.html\x00",
         "😀/\u202e.html", "d/" * 2100 + "p.html", "/proc/self/p.html", "/dev/null/p.html", " ", "p" * 255 + ".h"]


@settings(max_examples=SURFACE_EXAMPLES["paths"], **SURFACE_SETTINGS)
@given(st.sampled_from(PATHS), st.sampled_from(["html", "latex", "codegen", "build"]))
def test_every_hostile_output_path_is_written_or_refused_in_one_line(tmp_path, capsys, output, command):
    path = tmp_path / "f.toml"
    path.write_text(SPEC + 'mine = "tanh(net)"\n')
    target = output if output.startswith("/") else str(tmp_path / output) if output else output
    contract([command, str(path), "-o", target, *(["--quiet"] if command == "build" else [])], capsys)
