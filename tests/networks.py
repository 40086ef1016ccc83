"""Networks for the tests: a zoo covering every activation, loss, bias mode, depth and several samples;
numerically extreme ones; and a hypothesis strategy of random small networks."""

import mpmath
from conftest import spec_text
from hypothesis import strategies as st

ZOO = {
    "deep_tanh_relu": spec_text(
        layers="[3, 3, 2, 2]",
        activation='["tanh", "relu", "identity"]',
        loss='"mse"',
        bias='"per_neuron"',
        weights=None,
        biases=None,
        seed="7",
        samples="[[samples]]\ninputs = [0.3, -0.2, 0.9]\ntargets = [0.5, -0.25]\n"
        "[[samples]]\ninputs = [1.5, 0.25, -0.75]\ntargets = [0.1, 0.2]\n",
    ),
    "wide_softplus": spec_text(
        layers="[4, 6, 3]",
        activation='["softplus", "logistic"]',
        weights=None,
        biases=None,
        seed="3",
        samples="[[samples]]\ninputs = [0.1, 0.2, 0.3, 0.4]\ntargets = [0.9, 0.1, 0.5]\n",
    ),
    "softmax_ce": spec_text(
        layers="[2, 3, 3]",
        activation='["tanh", "softmax"]',
        loss='"cross_entropy"',
        weights=None,
        biases=None,
        seed="11",
        bias='"per_neuron"',
        samples="[[samples]]\ninputs = [0.5, -1.0]\ntargets = [0, 1, 0]\n"
        "[[samples]]\ninputs = [2.0, 0.5]\ntargets = [0.2, 0.3, 0.5]\n",
    ),
    "softmax_sse_shared": spec_text(
        layers="[2, 2, 3]",
        activation='["logistic", "softmax"]',
        weights=None,
        biases=None,
        seed="5",
        samples="[[samples]]\ninputs = [0.5, -1.0]\ntargets = [0.1, 0.7, 0.2]\n",
    ),
    "bce_mean": spec_text(
        layers="[2, 3, 2]",
        activation='["relu", "logistic"]',
        loss='"binary_cross_entropy"',
        weights=None,
        biases=None,
        seed="2",
        reduction='"mean"',
        samples="[[samples]]\ninputs = [0.5, 1.0]\ntargets = [1, 0]\n[[samples]]\ninputs = [-0.5, 2.0]\ntargets = [0.3, 1]\n",
    ),
    "no_hidden_identity": spec_text(
        layers="[3, 2]",
        activation='"linear"',
        weights="[[[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]]",
        biases="[[0.01]]",
        samples="[[samples]]\ninputs = [1, 2, 3]\ntargets = [0.5, -0.5]\n",
    ),
    "deeper_sigmoid": spec_text(
        layers="[2, 3, 3, 3, 2]",
        activation='"sigmoid"',
        weights=None,
        biases=None,
        seed="9",
        samples="[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n",
    ),
}


EXTREME = {
    "logistic_bce": spec_text(
        layers="[1, 1, 2]", loss='"binary_cross_entropy"', weights="[[[1000]], [[1000], [-1000]]]",
        biases="[[0], [0]]", samples="[[samples]]\ninputs = [1]\ntargets = [0, 1]\n",
    ),
    "softplus_saturated": spec_text(
        layers="[1, 2, 1]", activation='["softplus", "identity"]', weights="[[[1000], [-1000]], [[1, 1]]]",
        biases="[[0], [0]]", samples="[[samples]]\ninputs = [1]\ntargets = [0.5]\n",
    ),
    "softmax_ce_huge": spec_text(
        layers="[1, 3]", activation='"softmax"', loss='"cross_entropy"', weights="[[[1000], [-1000], [0]]]",
        biases="[[0]]", samples="[[samples]]\ninputs = [1]\ntargets = [0, 1, 0]\n",
    ),
    "exact_zero_and_one_outputs": spec_text(
        layers="[1, 1, 1]", loss='"binary_cross_entropy"', weights="[[[1000]], [[1000]]]",
        biases="[[0], [0]]", samples="[[samples]]\ninputs = [1]\ntargets = [1]\n",
    ),
}


@st.composite
def random_specs(draw, max_samples=2):
    depth = draw(st.integers(2, 4))
    layers = [draw(st.integers(1, 3)) for _ in range(depth)]
    loss = draw(st.sampled_from(["half_sse", "mse", "binary_cross_entropy", "cross_entropy"]))
    hidden = [draw(st.sampled_from(["logistic", "tanh", "softplus", "identity", "relu"])) for _ in layers[2:]]
    last = {"binary_cross_entropy": "logistic", "cross_entropy": "softmax"}.get(
        loss, draw(st.sampled_from(["logistic", "tanh", "identity", "softmax", "softplus"]))
    )
    n_samples = draw(st.integers(1, max_samples))
    number = st.integers(-150, 150).map(lambda k: f"{k / 100}")
    unit = st.integers(0, 100).map(lambda k: f"{k / 100}")
    samples = ""
    for _ in range(n_samples):
        inputs = ", ".join(draw(number) for _ in range(layers[0]))
        targets = ", ".join(draw(unit) for _ in range(layers[-1]))
        samples += f"[[samples]]\ninputs = [{inputs}]\ntargets = [{targets}]\n"
    text = (
        f'name = "h"\nlayers = {layers}\nactivation = {[*hidden, last]}\nloss = "{loss}"\n'
        f'bias = "{draw(st.sampled_from(["shared", "per_neuron"]))}"\nlearning_rate = 0.1\n'
        f'seed = {draw(st.integers(0, 10**6))}\nreduction = "{draw(st.sampled_from(["sum", "mean"]))}"\n'
    ).replace("'", '"')
    return text + samples


#: Today's built-ins, networks without biases and a spec's own functions (kept out of ZOO, whose
#: every test would then run on them too): each used by test_today.py and test_formulas.py.
TODAY = {
    "relu_family_huber": spec_text(
        layers="[2, 2, 2, 2]",
        activation='["leaky_relu", "elu", "silu"]',
        loss='"huber"',
        bias='"per_neuron"',
        weights=None,
        biases=None,
        seed="21",
        samples="[[samples]]\ninputs = [0.5, -1.5]\ntargets = [2.5, -0.3]\n"
        "[[samples]]\ninputs = [-2.0, 0.75]\ntargets = [0.1, 0.2]\n",
    ),
    "gelus": spec_text(
        layers="[2, 2, 1]",
        activation='["gelu", "gelu_tanh"]',
        loss='"half_sse"',
        weights=None,
        biases=None,
        seed="8",
        samples="[[samples]]\ninputs = [1.5, -0.5]\ntargets = [0.3]\n",
    ),
    "no_bias": spec_text(
        layers="[2, 2, 2]",
        activation='["tanh", "swish"]',
        loss='"mse"',
        bias='"none"',
        biases=None,
        weights="[[[0.15, -0.2], [0.25, 0.3]], [[0.4, -0.45], [0.5, 0.55]]]",
        samples="[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n"
        "[[samples]]\ninputs = [1.0, -0.5]\ntargets = [0.5, 0.25]\n",
    ),
    "own_functions": spec_text(
        layers="[2, 2, 2]",
        activation='["myswish", "scaled_tanh"]',
        loss='"quartic"',
        bias='"none"',
        biases=None,
        samples="[activations]\nmyswish = \"net / (1 + exp(-net))\"\nscaled_tanh = \"1.7159 * tanh(2/3 * net)\"\n"
        "[losses]\nquartic = \"(target - out)**4 / 4\"\n\n"
        "[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n",
    ),
    "own_kinks": spec_text(
        layers="[2, 2, 1]",
        activation='["leaky", "identity"]',
        loss='"absolute"',
        bias='"shared"',
        samples="[activations]\nleaky = \"max(net, 0.1 * net)\"\n[losses]\nabsolute = \"abs(target - out)\"\n\n"
        "[[samples]]\ninputs = [0.05, -0.10]\ntargets = [0.7]\n",
        weights="[[[0.15, 0.20], [-0.25, 0.30]], [[0.40, 0.45]]]",
        biases="[[0.35], [0.60]]",
    ),
}

#: The spec's own functions above, written out in mpmath by hand for the independent route.
OWN = {
    "myswish": lambda x: x / (1 + mpmath.exp(-x)),
    "scaled_tanh": lambda x: mpmath.mpf("1.7159") * mpmath.tanh(2 * x / 3),
    "quartic": lambda t, o: (t - o) ** 4 / 4,
    "leaky": lambda x: x if x > 0 else x / 10,
    "absolute": lambda t, o: abs(t - o),
}
