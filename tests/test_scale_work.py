"""Work that grows with the network's size (issue #25's "Scale", `benchmarks/cnn_scale.py`): each
piece of a command's work is done once, not once per neuron or parameter, so a 1x28x28
convolutional network's commands take seconds, not minutes."""

import derive
from derive.model.network import Network
from derive.render import text

TWO_SAMPLES = """name = "two"
input = [1, 3, 3]
loss = "half_sse"
learning_rate = 0.1
seed = 3
[[layer]]
type = "conv2d"
out_channels = 2
kernel_size = 2
activation = "tanh"
[[layer]]
type = "linear"
out_features = 2
activation = "logistic"
[[samples]]
inputs = [[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]]]
targets = [0.0, 1.0]
[[samples]]
inputs = [[[0.9, -0.2, 0.3], [0.4, 0.0, 0.6], [-0.7, 0.8, 0.1]]]
targets = [1.0, 0.0]
"""


def test_the_table_reads_each_samples_given_values_once(monkeypatch):
    """`derive gradients` printed each input and target by building that sample's whole dict of
    given values (every parameter too): 784 inputs x 6,810 parameters for a 1x28x28 network, 50 of its
    60 s. One dict a sample; the rows are the spec's own numbers, input by input."""
    model = derive.Model(derive.parse(TWO_SAMPLES))
    assert model.evaluation.samples  # evaluated before counting: the evaluation reads each sample once too
    calls = []
    original = Network.sample_values

    def counted(self, sample):
        calls.append(sample)
        return original(self, sample)

    monkeypatch.setattr(Network, "sample_values", counted)
    rows = [r for r in text.rows(model, {}) if r.section.startswith("inputs and targets")]
    assert calls == [0, 1]
    spec = model.spec
    expected = [v for s in spec.samples for v in (*s.inputs, *s.targets)]
    assert [r.value for r in rows] == expected and len(rows) == 2 * (9 + 2)
    assert all(r.given for r in rows)
    assert [r.section for r in rows] == ["inputs and targets (sample 1)"] * 11 + ["inputs and targets (sample 2)"] * 11
