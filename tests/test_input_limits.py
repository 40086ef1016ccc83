"""What comes from outside is read within bounds: the wrong type at a key is one line naming it, a
number of thousands of digits is refused with an excerpt (not echoed), only regular files of a sane
size are read (not /dev/zero, not a FIFO), and CI draws the same hypothesis examples every run."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT, spec_text

import derive
from derive import SpecError
from derive.cli import main
from derive.model import reading

LONG = "0." + "1" * 5000
WEIGHTS_WITH = "[[[{}, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]"
EXCERPT = "0.11111111111111111…1111111111111111111 (5002 characters)"


@pytest.mark.parametrize("over,message", [
    ({"activation": "{}"}, "activation must be a name or a list of names, not a table"),
    ({"activation": "[[1], [2]]"}, "activation[0] must be a string, not a list"),
    ({"activation": '["logistic", {a = 1}]'}, "activation[1] must be a string, not a table"),
    ({"activation": '["logistic", "mish"]'}, "activation[1] = 'mish' is unknown; known: logistic, tanh, relu, "
     "softplus, identity, leaky_relu, elu, silu, gelu, gelu_tanh, softmax, sigmoid, linear, swish "
     "(or define your own under [activations])"),
    ({"loss": "{}"}, "loss must be a string, not a table"),
    ({"bias": "[1]"}, "bias must be a string, not a list"),
    ({"layers": "{a = 1}"}, "layers must be a list of neuron counts, not a table"),
    ({"layers": "[2, [2], 2]"}, "layers[1] must be a whole number, not a list"),
    ({"learning_rate": "{}"}, "learning_rate must be a number, not a table"),
    ({"steps": "1979-05-27"}, "steps must be a whole number, not date"),
    ({"weights": WEIGHTS_WITH.format(LONG)}, f"weights[0][0][0] = {EXCERPT} has 5000 significant digits; "
     "at most 50 are used"),
    ({"learning_rate": LONG}, f"learning_rate = {EXCERPT} has 5000 significant digits; at most 50 are used"),
    ({"learning_rate": "1" + "0" * 5000}, "a whole number with thousands of digits; at most 50 are used"),
    ({"learning_rate": "1" + "0" * 4000}, "learning_rate = 1000000000000000000…0000000000000000000 "
     "(4001 characters) is too large: at most 1e+06 in magnitude"),
    ({"biases": "[[1e-999999999], [0.6]]"}, "biases[0][0] = 1E-999999999 is too small: a nonzero number is at "
     "least 1e-50 in magnitude (or write 0)"),
    ({"steps": "1" + "0" * 100}, "steps = 1000000000000000000…0000000000000000000 (101 characters) is out of "
     "range: it must be from 0 to 1000000 (training runs in float64)"),
    ({"name": '"' + "x" * 5000 + '"'}, "name 'xxxxxxxxxxxxxxxxxx…xxxxxxxxxxxxxxxxxx' (5002 characters) is not an "
     "identifier: letters, digits and underscores, starting with a letter, at most 64 characters"),
])
def test_wrong_types_and_long_numbers_are_one_short_line(over, message):
    with pytest.raises(SpecError) as error:
        derive.parse(spec_text(**over), "bad.toml")
    assert str(error.value) == f"bad.toml: {message}"
    assert len(str(error.value)) <= 300


def test_a_number_of_exactly_fifty_digits_and_one_of_1e_minus_50_are_exact():
    fifty = "0." + "1234567890" * 4 + "123456789"
    spec = derive.parse(spec_text(learning_rate=fifty, biases="[[1e-50], [0e-999999999]]"), "ok.toml")
    assert str(spec.learning_rate) == "1234567890" * 4 + "123456789/1" + "0" * 49
    assert spec.biases[0][0] == derive.parse(spec_text(biases="[[1e-50], [0]]"), "t").biases[0][0]
    assert spec.biases[1][0] == 0


def test_a_published_number_with_absurd_digits_is_refused():
    text = spec_text() + '\n[published]\n"E_total" = 1e99999\n'
    with pytest.raises(SpecError, match=r"published.'E_total' = 1E\+99999 is out of range: from 1e-1000 to 1e1000"):
        derive.parse(text, "bad.toml")


@pytest.mark.parametrize("path,why", [
    ("/dev/zero", "not a regular file (a device, a pipe or a socket)"),
    ("/tmp", "is a folder, not a file"),
])
def test_only_regular_files_are_read(path, why, capsys):
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    assert main(["gradients", path]) == 2
    assert capsys.readouterr().err == f"derive: {path}: cannot read: {why}\n"


def test_a_fifo_with_no_writer_does_not_block(tmp_path, capsys):
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-m", "derive", "gradients", str(fifo)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr == f"derive: {fifo}: cannot read: not a regular file (a device, a pipe or a socket)\n"


def test_a_spec_larger_than_the_limit_is_refused_before_it_is_parsed(tmp_path, capsys):
    big = tmp_path / "big.toml"
    with open(big, "wb") as f:
        f.write(spec_text().encode() + b"#" * reading.MAX_SPEC_BYTES)
    assert main(["gradients", str(big)]) == 2
    assert capsys.readouterr().err == f"derive: {big}: is larger than 8 MB; a network description is much smaller\n"


def test_claims_and_sheets_are_read_within_the_same_bounds(capsys):
    assert main(["check", "--claims", "/dev/zero"]) == 2
    assert capsys.readouterr().err == ("derive check: /dev/zero: cannot read: not a regular file (a device, a pipe "
                                       "or a socket)\n")
    assert main(["grade", "/dev/zero"]) == 2
    assert "/dev/zero: cannot read: not a regular file" in capsys.readouterr().err


def test_every_run_draws_the_same_examples_and_exploring_is_an_opt_in(tmp_path):
    """With or without CI set, the README's test command draws the same examples every run; the
    profile "explore" (pytest --hypothesis-profile=explore) draws new ones."""
    probe = tmp_path / "test_probe.py"
    probe.write_text("from hypothesis import settings\n\ndef test_probe():\n"
                     "    print('derandomize', settings.default.derandomize)\n")
    shown = []
    for env, options in (({"CI": "1"}, []), ({}, []), ({}, ["--hypothesis-profile=explore"])):
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "conftest",
                              str(probe), *options], cwd=tmp_path, capture_output=True, text=True,
                             env={**{k: v for k, v in os.environ.items() if k != "CI"}, **env,
                                  "PYTHONPATH": str(ROOT / "tests")})
        shown.append(next((line for line in run.stdout.splitlines() if "derandomize" in line), run.stdout + run.stderr))
    assert shown == ["derandomize True", "derandomize True", "derandomize False"]
