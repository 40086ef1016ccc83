"""A fuzz test over the spec grammar: a valid small network with one to three of its keys (top level,
[training], [published], a sample's inputs or targets, one weight or bias) replaced by something
hostile: the wrong type, a table where a scalar belongs, huge, tiny and long numbers, NaN and infinity
written every way TOML allows, values saturating at the limits, odd Unicode. Every case, run through
the command line's own entry point (`derive check`), ends in exit 0 with every gradient agreeing, or
in exit 2 with one line of at most MAX_MESSAGE characters; nothing else, and within TIME_BOUND.

Every run (tests/conftest.py, profile "deterministic") draws the same EXAMPLES cases."""

import itertools
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.cli import main

pytestmark = pytest.mark.slow  # a system test: `-m "not slow"` leaves it out (docs/programmers.md)

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
