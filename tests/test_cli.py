"""The command line: exact output contracts, JSON, exit codes."""

import json
import subprocess
import sys
from decimal import Decimal

import independent
import pytest
from in_process import derive_cli

from derive.cli import main
from derive.model.decimals import fmt

run = derive_cli  # main in this process (test_help_is_clear runs `python -m derive` itself)


def test_fmt_rounds_correctly_and_keeps_significant_zeros():
    assert fmt(Decimal("0.3775")) == "0.377500000"
    assert fmt(Decimal("0.0000351085"), 6) == "0.0000351085"
    assert fmt(Decimal("-0.01904911825"), 9) == "-0.0190491182"  # half to even
    assert fmt(Decimal("1.23456789012e-7"), 3) == "1.23e-7"
    assert fmt(Decimal("123456789012.5"), 9) == "1.23456789e+11"
    assert fmt(Decimal(0)) == "0"


def test_gradients_table_for_the_reference(reference):
    result = run("gradients")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "mazur: A 2-2-2 network, step by step"
    fd = independent.gradient(reference.spec)
    for name in ["w1", "w5", "w8", "b1", "b2"]:  # names padded to the longest, dE_total/dout_o1, and 2
        assert f"  {'dE_total/d' + name:<18}{fmt(fd[name])}" in lines
    assert "  out_o1            0.751365070" in lines  # the article: 0.75136507
    assert "  w5+               0.358916480" in lines  # the article: 0.35891648
    assert "after one step: sgd (learning rate 0.5), full batch, biases frozen" in lines
    assert not any(line.startswith(("  b1+", "  b2+")) for line in lines)  # frozen: not updated


def test_gradients_prints_every_number_the_article_prints(reference):
    """The article's intermediate partials and the initial values are in the table, each once, in
    the article's order within its layer; spec-given numbers exactly as written."""
    lines = run("gradients").stdout.splitlines()
    for line in [
        "  w1                0.15",
        "  eta               0.5",
        "  i1                0.05",
        "  target_o2         0.99",
        "  dE_total/dout_o1  0.741365070",
        "  dout_o1/dnet_o1   0.186815602",
        "  dnet_o1/dw5       0.593269992",
        "  dE_o1/dnet_o1     0.138498562",
        "  dnet_o1/dout_h1   0.400000000",
        "  dE_o1/dout_h1     0.0553994247",
        "  dE_o2/dout_h1     -0.0190491183",
        "  dE_total/dout_h1  0.0363503064",
        "  dout_h1/dnet_h1   0.241300709",
        "  dnet_h1/dw1       0.0500000000",
    ]:
        assert lines.count(line) == 1, line
    _, _, first, error = independent.loop_train(reference.spec, 10000, freeze_biases=True)
    assert lines[-5:] == ["after training (float64, biases frozen)", f"  E_total@1         {fmt(first)}",
                          f"  E_total@10000     {fmt(error)}", "  out_o1@10000      0.0159136204",
                          "  out_o2@10000      0.984064274"]  # the article: 0.015912196 and 0.984065734
    hidden = lines.index("backward pass: hidden layer 1")
    assert lines.index("  dE_o1/dout_h1     0.0553994247") > hidden
    assert lines.index("  dE_o2/dout_h1     -0.0190491183") < lines.index("  dE_total/dout_h1  0.0363503064")


def test_gradients_of_chosen_quantities(reference):
    result = run("gradients", "--quantity", "dE_total/dw5", "--quantity", "E_total@10000", "--quantity", "out_h1")
    assert result.returncode == 0
    _, _, _, error = independent.loop_train(reference.spec, 10000, freeze_biases=True)
    fd = independent.gradient(reference.spec)
    lines = result.stdout.splitlines()
    assert lines[0] == f"dE_total/dw5   {fmt(fd['w5'])}" and lines[2] == "out_h1         0.593269992"
    assert lines[1].startswith("E_total@10000  ") and float(lines[1].split()[1]) == pytest.approx(error, rel=1e-8)
    data = json.loads(run("gradients", "--quantity", "w5+", "--json").stdout)
    assert data == [{"quantity": "w5+", "value": pytest.approx(0.35891648, abs=1e-8), "text": "0.358916480"}]
    bad = run("gradients", "--quantity", "dE_total/dw55")
    assert bad.returncode == 2 and bad.stderr.startswith("derive: unknown quantity 'dE_total/dw55' in network mazur")


def test_gradients_json_carries_every_quantity(reference):
    result = run("gradients", "--json", "--digits", "12")
    data = json.loads(result.stdout)
    assert data["network"] == "mazur" and data["digits"] == 12
    by_name = {q["quantity"]: q for q in data["quantities"]}
    assert set(by_name) >= {f"dE_total/d{p}" for p in reference.parameters} | {
        "E_total",
        "net_h1",
        "out_o2",
        "w1+",
        "w8+",
    }
    assert "b2+" not in by_name  # the spec freezes the biases
    fd = independent.gradient(reference.spec)
    assert by_name["dE_total/dw1"]["text"] == fmt(fd["w1"], 12)
    assert by_name["dE_total/dw1"]["value"] == pytest.approx(float(fd["w1"]), rel=1e-15)


def test_train_prints_the_error_after_the_first_and_the_last_step():
    result = run("train", "--freeze-biases", "--steps", "1")
    assert result.returncode == 0
    assert "  E_total after the first step  0.291027774" in result.stdout.splitlines()


def test_train_json():
    data = json.loads(run("train", "--steps", "3", "--json").stdout)
    assert data["steps"] == 3 and set(data) >= {"E_total@1", "E_total@3", "outputs", "parameters"}


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["gradients", "--digits", "0"],
            "derive gradients: argument --digits: must be from 1 to 30, not 0 (see derive gradients --help)",
        ),
        (
            ["gradients", "--digits", "x"],
            "derive gradients: argument --digits: not a whole number: 'x' (see derive gradients --help)",
        ),
        (
            ["train", "--steps", "-2"],
            "derive train: argument --steps: must be from 0 to 1000000, not -2 (see derive train --help)",
        ),
        (["frobnicate"], None),
        ([], "derive: the following arguments are required: COMMAND (see derive --help)"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    if message:
        assert err == message + "\n"


def test_help_is_clear():
    result = subprocess.run([sys.executable, "-m", "derive", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "gradients" in result.stdout and "Exit status" in result.stdout
    for command in ["gradients", "train"]:
        assert run(command, "--help").returncode == 0


def test_twenty_digits_are_real_digits(reference):
    """Regression: values were once converted at mpmath's default 15 digits before printing."""
    fd = independent.gradient(reference.spec)
    lines = run("gradients", "--digits", "20").stdout.splitlines()
    assert f"  dE_total/dw5      {fmt(fd['w5'], 20)}" in lines
    assert "  net_h1            0.37750000000000000000" in lines
