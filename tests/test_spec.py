"""Bad input of every kind: one clear line naming the file, the key and the problem; exit status 2."""


import pytest
from conftest import spec_text
from in_process import derive_cli

import derive
from derive import SpecError

BAD = [
    (
        spec_text(weights="[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55], [1, 2]]]"),
        "bad.toml: weights[1] has 3 rows, layer 2 has 2 neurons",
    ),
    (
        spec_text(weights="[[[0.15, 0.20, 0.1], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]"),
        "bad.toml: weights[0][0] has 3 values, layer 0 has 2",
    ),
    (
        spec_text(weights="[[[0.15, 0.20], [0.25, 0.30]]]"),
        "bad.toml: weights has 1 matrix, the network has 2 non-input layers",
    ),
    (
        spec_text(weights="[[[0.15, nan], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]"),
        "bad.toml: weights[0][0][1] is NaN: every number must be finite",
    ),
    (spec_text(learning_rate="inf"), "bad.toml: learning_rate is Infinity: every number must be finite"),
    (spec_text(learning_rate="-0.5"), "bad.toml: learning_rate must be positive"),
    (spec_text(learning_rate='"fast"'), "bad.toml: learning_rate must be a number, not a string"),
    (
        spec_text(activation='"mish"'),
        "bad.toml: activation = 'mish' is unknown (did you mean 'swish'?); known: logistic, tanh, relu, softplus, identity, leaky_relu, elu, silu, "
        "gelu, gelu_tanh, softmax, sigmoid, linear, swish (or define your own under [activations])",
    ),
    (
        spec_text(loss='"hinge"'),
        "bad.toml: loss = 'hinge' is unknown; known: half_sse, mse, binary_cross_entropy, cross_entropy, huber "
        "(or define your own under [losses])",
    ),
    (
        spec_text(activation='["softmax", "logistic"]'),
        "bad.toml: activation 'softmax' is for the output layer only, not layer 1",
    ),
    (spec_text(activation='["logistic"]'), "bad.toml: activation has 1 name, the network has 2 non-input layers"),
    (
        spec_text(layers="[2, 0, 2]"),
        "bad.toml: layers[1] = 0 is out of range: it must be from 1 to 4096 neurons (a wider layer is almost always a typo)",
    ),
    (spec_text(layers="[2]"), "bad.toml: layers has 1 entry: a network has from 2 to 16 layers"),
    (spec_text(weights="[[[0.15, 0.20]], [[0.40, 0.45], [0.50, 0.55]]]"),
     "bad.toml: weights[0] has 1 row, layer 1 has 2 neurons"),
    (spec_text(biases="[[0.35]]"), "bad.toml: biases has 1 entry, the network has 2 non-input layers"),
    (
        spec_text(layers="[2, -3, 2]"),
        "bad.toml: layers[1] = -3 is out of range: it must be from 1 to 4096 neurons (a wider layer is almost always a typo)",
    ),
    (
        spec_text(layers="[1000, 1000, 1000]", weights=None, biases=None, seed="1"),
        "bad.toml: layers [1000, 1000, 1000] give 2002000 parameters; the limit is 100000 (symbolic derivation of more takes minutes and gigabytes)",
    ),
    (spec_text(layers="[2, 2.5, 2]"), "bad.toml: layers[1] must be a whole number, not a number"),
    (spec_text(bias='"some"'), "bad.toml: bias = 'some' is unknown; known: shared, per_neuron, none"),
    (spec_text(bias='"none"'), "bad.toml: biases is given, but bias = 'none' means the network has no biases (remove the key)"),
    (spec_text(biases="[[0.35, 0.1], [0.60]]"), "bad.toml: biases[0] has 2 values, bias = 'shared' takes 1"),
    (spec_text(bias='"per_neuron"'), "bad.toml: biases[0] has 1 value, bias = 'per_neuron': layer 1 has 2"),
    (
        spec_text(weights=None),
        "bad.toml: missing key 'weights' (give the weights, or a seed = N to fill them reproducibly)",
    ),
    (spec_text(name=None), "bad.toml: missing key 'name'"),
    (
        spec_text(name='"my net"'),
        "bad.toml: name 'my net' is not an identifier: letters, digits and underscores, starting with a letter, at most 64 characters",
    ),
    (
        spec_text(name='"x\\"); import os; os.system(\\"rm -rf /\\")#"'),
        'bad.toml: name \'x"); import os; os.system("rm -rf /")#\' is not an identifier: letters, digits and underscores, starting with a letter, at most 64 characters',
    ),
    (spec_text(title='"' + "x" * 201 + '"'), "bad.toml: title must be at most 200 characters"),
    (spec_text(learning_rat="0.5"), "bad.toml: unknown key 'learning_rat' (did you mean 'learning_rate'?)"),
    (spec_text(samples=""), "bad.toml: missing key 'samples'"),
    (
        spec_text(samples="[[samples]]\ninputs = [0.05]\ntargets = [0.01, 0.99]\n"),
        "bad.toml: samples[0].inputs has 1 value, the input layer has 2",
    ),
    (spec_text(samples="[[samples]]\ninputs = [0.05, 0.1]\n"), "bad.toml: samples[0]: missing key 'targets'"),
    (
        spec_text(samples="[[samples]]\ninputs = [0.05, 0.1]\ntargets = [0.01, 0.99]\nweight = 2\n"),
        "bad.toml: samples[0]: unknown key 'weight' (a sample has inputs and targets)",
    ),
    (
        spec_text(loss='"binary_cross_entropy"', samples="[[samples]]\ninputs = [0.05, 0.1]\ntargets = [1.5, 0.99]\n"),
        "bad.toml: samples[0].targets[0] = 3/2 is outside [0, 1], which binary_cross_entropy needs",
    ),
    (
        spec_text(loss='"cross_entropy"'),
        "bad.toml: loss = 'cross_entropy' needs softmax outputs, but the output layer's activation is 'logistic'",
    ),
    (
        spec_text(steps="-1"),
        "bad.toml: steps = -1 is out of range: it must be from 0 to 1000000 (training runs in float64)",
    ),
    (spec_text(steps="true"), "bad.toml: steps must be a whole number, not true/false"),
    (spec_text(learning_rate="1e300"), "bad.toml: learning_rate = 1E+300 is too large: at most 1e+06 in magnitude"),
    (
        "name = 'x'\nlayers = [2, 2]\nactivation = = 3\n",
        "bad.toml: TOML syntax error: Invalid value (at line 3, column 14); line 3: 'activation = = 3'",
    ),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m.split(": ", 1)[1][:40] for _, m in BAD])
def test_bad_specs_give_one_clear_line(text, message):
    with pytest.raises(SpecError) as info:
        derive.parse(text, "bad.toml")
    assert str(info.value) == message


def test_not_utf8():
    with pytest.raises(SpecError, match=r"^bad.toml: not UTF-8 text$"):
        derive.parse(b"name = '\xff'", "bad.toml")


@pytest.mark.parametrize("text,message", BAD[:3] + BAD[-1:])
def test_cli_exits_2_with_the_message_and_no_traceback(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = derive_cli("gradients", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"derive: {message}\n"


def test_seed_fills_missing_values_reproducibly():
    a = derive.parse(spec_text(weights=None, biases=None, seed="42"), "a.toml")
    b = derive.parse(spec_text(weights=None, biases=None, seed="42"), "b.toml")
    c = derive.parse(spec_text(weights=None, biases=None, seed="43"), "c.toml")
    assert a.weights == b.weights and a.biases == b.biases
    assert a.weights != c.weights
    # 4-decimal values within ±1/sqrt(fan_in)
    for matrix in a.weights:
        for row in matrix:
            for v in row:
                assert abs(v) <= 1 / 2**0.5 and (v * 10000).is_integer


def test_decimals_are_exact_rationals():
    spec = derive.parse(spec_text(), "t.toml")
    assert str(spec.weights[0][0][0]) == "3/20" and str(spec.samples[0].inputs[0]) == "1/20"


TABLES = {  # every key that holds a table (or an array of tables), as a full spec uses them all at once
    "activations": '{ my_act = "net / (1 + exp(-net))" }',
    "losses": '{ quartic = "(target - out)**4 / 4" }',
    "training": '{ optimizer = "momentum", momentum = 0.5 }',
    "published": '{ "E_total" = 0.3 }',
    "samples": "[{ inputs = [0.05, 0.10], targets = [0.01, 0.99] }]",
}
SCALARS = ["nan", "-inf", "1", "0.5", '"x"', "true", "1979-05-27", "[1]", "[]"]


@pytest.mark.parametrize("scalar", SCALARS)
@pytest.mark.parametrize("key", sorted(TABLES))
def test_every_table_key_given_something_else_is_one_line(tmp_path, capsys, key, scalar):
    """Whatever the other tables hold (and the order they are read in), a table key holding a number, a
    string, a date or a list of non-tables is refused in one line naming that key, exit 2."""
    from derive.cli import main

    if key == "samples" and scalar == "[]":
        pytest.skip("an empty list of samples is its own message (tested with the samples)")
    tables = dict(TABLES) | {key: scalar}
    text = spec_text(activation='["my_act", "logistic"]', loss='"quartic"', samples="") + "".join(
        f"{k} = {v}\n" for k, v in tables.items())
    spec = tmp_path / "s.toml"
    spec.write_text(text)
    assert main(["check", str(spec), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"derive: s.toml: {key}"), err
    assert "must be" in err, err
