"""The benchmark's baselines take the same training step as the generated code (a speed comparison
between different computations would mean nothing), and its operation count is the one counted here
by hand."""

import sys

import pytest
from conftest import ROOT
from generated_module import source

import derive

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_train_step
import handwritten
import oo_network


def oo_parameters(net) -> tuple[list[float], list[float]]:
    weights = [w for layer in net.layers for neuron in layer.neurons for w in neuron.weights]
    return weights, [neuron.bias for layer in net.layers for neuron in layer.neurons]


def test_the_2_2_2_baselines_take_the_generated_step(reference):
    module, x, t = reference.module, [0.05, 0.10], [0.01, 0.99]
    expected = module.train_step(module.INITIAL, x, t)
    assert handwritten.train_step_222(module.INITIAL, x, t) == pytest.approx(expected, rel=1e-15)
    net = oo_network.NeuralNetwork([[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
                                   [[0.35, 0.35], [0.6, 0.6]], 0.5)
    net.train(x, t)
    weights, biases = oo_parameters(net)
    assert weights == pytest.approx([expected[f"w{k}"] for k in range(1, 9)], rel=1e-15)
    # The object-oriented network keeps a copy of a shared bias per neuron, each moved by its own
    # neuron's delta: together the copies move as far as the shared bias does.
    assert biases[0] + biases[1] - 0.7 == pytest.approx(expected["b1"] - 0.35, rel=1e-12)
    assert biases[2] + biases[3] - 1.2 == pytest.approx(expected["b2"] - 0.6, rel=1e-12)


def test_the_4_16_16_3_baselines_take_the_generated_step():
    model = derive.load(ROOT / "benchmarks" / "net_4_16_16_3.toml")
    module, sample = model.module, model.spec.samples[0]
    x, t = [float(v) for v in sample.inputs], [float(v) for v in sample.targets]
    expected = module.train_step(module.INITIAL, x, t)
    want_w = [expected[f"w{k}"] for k in range(1, 369)]
    want_b = [expected[f"b{k}"] for k in range(1, 36)]
    W, B = handwritten.layers_from(module.INITIAL, model.spec.layers)
    new_w, new_b = handwritten.train_step_layers(W, B, x, t, 0.5)
    assert [w for m in new_w for row in m for w in row] == pytest.approx(want_w, rel=1e-12)
    assert [b for layer in new_b for b in layer] == pytest.approx(want_b, rel=1e-12)
    net = oo_network.NeuralNetwork(W, B, 0.5)
    net.train(x, t)
    weights, biases = oo_parameters(net)
    assert weights == pytest.approx(want_w, rel=1e-12) and biases == pytest.approx(want_b, rel=1e-12)


def test_operation_count_of_the_reference_forward_pass(reference):
    """Per neuron: two products and two sums for net, then -, exp, + and / for the logistic; the
    overflow guard's other branch is not run, so not counted."""
    assert bench_train_step.count_ops(source(reference), "forward") == 4 * (4 + 4)
