"""A fuzz test over the spec grammar: a valid small network with one to three of its keys (top level,
[training], [published], a sample's inputs or targets, one weight or bias) replaced by something
hostile: the wrong type, a table where a scalar belongs, huge, tiny and long numbers, NaN and infinity
written every way TOML allows, values saturating at the limits, odd Unicode. Every case, run through
the command line's own entry point (`derive check`), ends in exit 0 with every gradient agreeing, or
in exit 2 with one line of at most MAX_MESSAGE characters; nothing else, and within TIME_BOUND.

Every run (tests/conftest.py, profile "deterministic") draws the same EXAMPLES cases."""

import contextlib
import itertools
import json
import signal
import tempfile
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.cli import main

EXAMPLES = 120
MAX_MESSAGE = 300  # characters of the one line of a rejected spec
TIME_BOUND = 30  # seconds a case may take (a small network; the largest cases take about 3 s here)

LONG = "0." + "7" * 5000
HOSTILE_NUMBERS = [
    "nan", "+nan", "-nan", "inf", "+inf", "-inf", "1e308", "-1e400", "1e-400", "0e-999999", "1e-999999999",
    "1_000_000", "1e6", "-1e6", "1000000.0000001", "0x7fffffffffffffff", "0o777", "0b101", "-0.0", "+0",
    LONG, "1" + "0" * 5000, "12345678901234567890123456789012345678901234567890123", "5e-51", "1e-50",
]
HOSTILE_OTHERS = [
    '"logistic"', '""', '"😀"', '"\\u202e\\u0000x"', '"a\\nb"', "'''\nmany\nlines'''", "true", "false", "[]",
    "[[]]", "[[1], [2]]", "{}", "{a = 1}", "{a = {b = [1]}}", "1979-05-27T07:32:00Z", "07:32:00", "[1, \"a\"]",
    "[nan, inf]", "[1e6, -1e6]", "[[1e6, -1e6], [1e6, 1e6]]", f'"{"x" * 5000}"',
]
HOSTILE = st.one_of(
    st.sampled_from(HOSTILE_NUMBERS + HOSTILE_OTHERS),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=8).map(lambda s: '"' + s.encode("unicode_escape").decode().replace('"', '\\"') + '"'),
)
ACTIVATIONS = ["logistic", "tanh", "relu", "softplus", "identity", "leaky_relu", "elu", "silu", "gelu", "my_act"]
TOP_KEYS = ["name", "title", "layers", "activation", "loss", "bias", "learning_rate", "steps", "weights", "biases",
            "samples", "reduction", "seed", "freeze_biases", "published", "training", "activations", "losses", "bogus"]
TRAINING_KEYS = ["optimizer", "learning_rate", "momentum", "betas", "eps", "weight_decay", "batch_size", "shuffle",
                 "steps", "freeze_biases", "update_order"]
QUANTITIES = ['"E_total"', '"dE_total/dw1"', '"w1+"', '"E_total@3"', '"out_o1"', '"dE_total/dw99"', '"a"',
              '"😀"', '"E_total@999999999"', '"m_w1@1"']
SATURATING = ["1e6", "-1e6", "999999.99", "0", "0.5", "-0.5"]


def agreed(out: str) -> bool:
    """Every route agrees (where float64 cannot resolve a gradient, saturated or below its range, the
    check says so: a verdict of its own, exit 0, never FAIL)."""
    return ("all gradients agree by every route." in out
            or "  every route agrees, but the generated code's float64 cannot resolve " in out) and "FAIL" not in out


def toml(value) -> str:
    """A nested list of TOML literals as TOML text."""
    return "[" + ", ".join(map(toml, value)) + "]" if isinstance(value, list) else value


@st.composite
def networks(draw):
    """A valid small network, its values drawn from small and saturating numbers, as TOML literals."""
    layers = draw(st.sampled_from([[2, 2, 2], [2, 3, 1], [1, 2]]))
    number = st.one_of(st.integers(-150, 150).map(lambda k: str(k / 100)), st.sampled_from(SATURATING))
    hidden = draw(st.sampled_from(ACTIVATIONS))
    loss, output = draw(st.sampled_from([("half_sse", hidden), ("mse", "tanh"), ("huber", "identity"),
                                         ("binary_cross_entropy", "logistic"), ("cross_entropy", "softmax")]))
    if output == "softmax" and layers[-1] == 1:
        loss, output = "half_sse", "logistic"
    unit = loss in ("binary_cross_entropy", "cross_entropy")
    keys = {"name": '"fuzz"', "layers": str(layers), "activation": f'["{hidden}", "{output}"]'[:None if len(layers) > 2 else 0]
            or f'"{output}"', "loss": f'"{loss}"', "bias": f'"{draw(st.sampled_from(["per_neuron", "shared", "none"]))}"',
            "learning_rate": draw(st.sampled_from(["0.5", "1e-6", "1e6"]))}
    values = {
        "weights": [[[draw(number) for _ in range(m)] for _ in range(n)] for m, n in itertools.pairwise(layers)],
        "biases": [[draw(number) for _ in range(n if keys["bias"] == '"per_neuron"' else 1)] for n in layers[1:]],
        "inputs": [draw(number) for _ in range(layers[0])],
        "targets": [draw(st.sampled_from(["0", "1", "0.25"]) if unit else number) for _ in range(layers[-1])],
    }
    if keys["bias"] == '"none"':
        del values["biases"]
    return keys, values


@st.composite
def hostile_specs(draw):
    keys, values = draw(networks())
    tables = {"training": {}, "published": {}, "activations": {"my_act": '"net / (1 + exp(-net))"'}}
    if draw(st.booleans()):
        tables["training"]["optimizer"] = draw(st.sampled_from(['"sgd"', '"momentum"', '"nesterov"', '"adam"', '"adamw"']))
        tables["published"]['"E_total@2"'] = "0.25"
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["top", "training", "published", "inputs", "targets", "weights", "biases"]))
        value = draw(HOSTILE)
        if where == "top":
            key = draw(st.sampled_from(TOP_KEYS))
            if key in tables and draw(st.booleans()):
                tables[key][draw(st.sampled_from(["x", "my_act", "w", "E_total"]))] = value
            else:
                keys[key] = value
                tables.pop(key, None)
                values.pop(key, None)
        elif where == "training":
            tables["training"][draw(st.sampled_from(TRAINING_KEYS))] = value
        elif where == "published":
            tables["published"][draw(st.sampled_from(QUANTITIES))] = draw(st.one_of(HOSTILE, st.just("0.29")))
        elif where in values:  # one number inside: a whole list, or one of its entries
            entry = values[where]
            while isinstance(entry, list) and entry and isinstance(entry[0], list) and draw(st.integers(0, 3)):
                entry = entry[draw(st.integers(0, len(entry) - 1))]
            if isinstance(entry, list) and entry:
                entry[draw(st.integers(0, len(entry) - 1))] = value
    text = "".join(f"{k} = {v}\n" for k, v in keys.items() if k not in values and k not in tables)
    text += "".join(f"{k} = {toml(values[k])}\n" for k in ("weights", "biases") if k in values)
    if "samples" not in keys:
        text += "\n[[samples]]\n" + "".join(f"{k} = {toml(values[k])}\n" for k in ("inputs", "targets") if k in values)
    for table, entries in tables.items():
        text += f"\n[{table}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
    return text


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(hostile_specs())
def test_every_hostile_spec_passes_its_check_or_is_refused_in_one_line(tmp_path, capsys, text):
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    started = time.monotonic()
    code = main(["check", str(path), "--quiet"])
    took = time.monotonic() - started
    out, err = capsys.readouterr()
    assert took < TIME_BOUND, (took, text)
    if code == 0:
        assert agreed(out) and err == "", text
    else:
        assert code == 2, (err or out[-2000:], text)
        assert err.count("\n") == 1 and err.startswith("derive: fuzz.toml: ") and len(err) <= MAX_MESSAGE, (err, text)


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
