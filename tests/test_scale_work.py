"""Work that grows with the network's size (issue #25's "Scale", `benchmarks/cnn_scale.py`): each
piece of a command's work is done once, not once per neuron or parameter, so a 1x28x28
convolutional network's commands take seconds, not minutes."""

import sys

import mpmath
import pytest
from conftest import ROOT
from networks import ZOO
from test_conv import DEEP

import derive
from derive.check import audit, routes
from derive.check.forward import Forward
from derive.derivation import mp_compiled
from derive.derivation.evaluate import mp_value
from derive.model import quantities as Q
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


def _old_values(forward, symbol, value) -> dict:
    """The finite-difference route's forward pass as it was: a copy of every base value, and each step
    that the change reaches evaluated whole with `mp_value` (the reference the faster one must equal)."""
    env = dict(forward.base)
    env[symbol] = value
    changed = {symbol}
    for step, uses in zip(forward.steps, forward.uses, strict=True):
        if uses & changed:
            env[step.symbol] = mp_value(step.compute, env)
            changed.add(step.symbol)
    return env


SPECS = {"conv_two_samples": TWO_SAMPLES, "conv_deep": DEEP, **ZOO}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_finite_difference_forward_pass_is_the_whole_evaluation_bit_for_bit(name):
    """`forward.Forward.values` keeps each sum's unchanged terms from the base and reads the unchanged
    values from it: every forward value, for every parameter moved either way, at the route's 50
    digits and at 60 (its kept terms are per precision), is the whole evaluation's, bit for bit."""
    model = derive.Model(derive.parse(SPECS[name]))
    network = model.network
    nets = [network.symbol(Q.net(n)) for layer in network.layers[1:] for n in layer]
    for s in range(len(model.spec.samples)):
        forward = Forward(model, s)
        for digits, step in ((50, "1e-20"), (60, "1e-30"), (50, "2e-20")):
            with mpmath.workdps(digits):
                for p in model.parameters:
                    q = network.symbol(Q.parameter(p))
                    up, down = forward.base[q] + mpmath.mpf(step), forward.base[q] - mpmath.mpf(step)
                    for moved in (up, down):
                        new, old = forward.values(q, moved), _old_values(forward, q, moved)
                        assert all(new[k] == v for k, v in old.items()), (p, digits)
                        assert forward.error(q, moved) == old[forward.total]
                    # the float64 step reads only the nets the move reached (the others have no slope)
                    hh = mpmath.mpf(step)
                    assert (routes._float_step(forward.base[q], forward.values(q, up), forward.values(q, down), nets,
                                               hh)
                            == routes._float_step(forward.base[q], _old_values(forward, q, up),
                                                  _old_values(forward, q, down), nets, hh))


def _products(spec: str, monkeypatch) -> int:
    """How many products the forward pass computes when the last weight moves (the second move: the
    first keeps the base's terms)."""
    model = derive.Model(derive.parse(spec))
    forward = Forward(model, 0)
    q = model.network.symbol(Q.parameter(model.parameters[-2]))  # the last weight (the last is a bias)
    with mpmath.workdps(50):
        forward.values(q, forward.base[q] + mpmath.mpf("1e-20"))
        count = [0]
        fprod = mp_compiled.fprod  # (the compiled forms' product: mpmath.fprod on raw mantissas)

        def counted(factors):
            count[0] += 1
            return fprod(factors)

        monkeypatch.setattr(mp_compiled, "fprod", counted)
        forward.values(q, forward.base[q] - mpmath.mpf("1e-20"))
        monkeypatch.setattr(mp_compiled, "fprod", fprod)
    return count[0]


def test_moving_one_weight_computes_its_product_not_its_nets_every_term(monkeypatch):
    """Finite differences of a 1x28x28 network's 400 chosen parameters took 1,600 forward passes of a
    677-term net each (20 of `derive check`'s 30 s): a weight into the output layer now costs the same
    few products whatever the layer's fan-in (8 or 50 here)."""
    narrow = _products(TWO_SAMPLES, monkeypatch)
    rows = ", ".join(["[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]"] * 6)
    wide = (TWO_SAMPLES.replace("input = [1, 3, 3]", "input = [1, 6, 6]")
            .replace("[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]]", f"[{rows}]")
            .replace("[[0.9, -0.2, 0.3], [0.4, 0.0, 0.6], [-0.7, 0.8, 0.1]]", f"[{rows}]"))
    assert _products(wide, monkeypatch) == narrow
    assert narrow <= 4


def test_a_page_without_published_numbers_makes_no_variants(monkeypatch):
    """The page asks the audit for its notes across the published numbers; with none, it made every
    usual slip's computation anyway (6 of a 1x28x28 network's `derive html` seconds). Not now; with
    published numbers, the audit still finds its slips."""
    made = []
    original = audit.variants
    monkeypatch.setattr(audit, "variants", lambda model: made.append(model) or original(model))
    model = derive.Model(derive.parse(TWO_SAMPLES))
    assert model.published_notes() == [] and "<html" in model.html(check=False)
    assert made == []
    reference = derive.load()  # the article's network and its published numbers
    assert reference.published_findings and made == [reference]
    assert any(f.explained for f in reference.published_findings if not f.agrees)


def test_the_cnn_benchmarks_networks_are_the_issues(tmp_path):
    """`benchmarks/cnn_scale.py`'s networks both read with 6,810 parameters (conv 4x(3x3) + 4 biases,
    linear 676x10 + 10; pooling has none), under the spec's limit, which counts their own tensors."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import cnn_scale

    for pool in (False, True):
        path = tmp_path / f"{pool}.toml"
        path.write_text(cnn_scale.spec_text(pool))
        assert cnn_scale.readable(path) == (None, 4 * 9 + 4 + 676 * 10 + 10)
