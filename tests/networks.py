"""A zoo of small networks covering every activation, loss, bias mode, depth and several samples."""

from conftest import spec_text

ZOO = {
    "deep_tanh_relu": spec_text(
        layers="[3, 3, 2, 2]", activation='["tanh", "relu", "identity"]', loss='"mse"', bias='"per_neuron"',
        weights=None, biases=None, seed="7",
        samples="[[samples]]\ninputs = [0.3, -0.2, 0.9]\ntargets = [0.5, -0.25]\n"
        "[[samples]]\ninputs = [1.5, 0.25, -0.75]\ntargets = [0.1, 0.2]\n",
    ),
    "wide_softplus": spec_text(
        layers="[4, 6, 3]", activation='["softplus", "logistic"]', weights=None, biases=None, seed="3",
        samples="[[samples]]\ninputs = [0.1, 0.2, 0.3, 0.4]\ntargets = [0.9, 0.1, 0.5]\n",
    ),
    "softmax_ce": spec_text(
        layers="[2, 3, 3]", activation='["tanh", "softmax"]', loss='"cross_entropy"', weights=None, biases=None,
        seed="11", bias='"per_neuron"',
        samples="[[samples]]\ninputs = [0.5, -1.0]\ntargets = [0, 1, 0]\n"
        "[[samples]]\ninputs = [2.0, 0.5]\ntargets = [0.2, 0.3, 0.5]\n",
    ),
    "softmax_sse_shared": spec_text(
        layers="[2, 2, 3]", activation='["logistic", "softmax"]', weights=None, biases=None, seed="5",
        samples="[[samples]]\ninputs = [0.5, -1.0]\ntargets = [0.1, 0.7, 0.2]\n",
    ),
    "bce_mean": spec_text(
        layers="[2, 3, 2]", activation='["relu", "logistic"]', loss='"binary_cross_entropy"', weights=None,
        biases=None, seed="2", reduction='"mean"',
        samples="[[samples]]\ninputs = [0.5, 1.0]\ntargets = [1, 0]\n[[samples]]\ninputs = [-0.5, 2.0]\ntargets = [0.3, 1]\n",
    ),
    "no_hidden_identity": spec_text(
        layers="[3, 2]", activation='"linear"', weights="[[[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]]", biases="[[0.01]]",
        samples="[[samples]]\ninputs = [1, 2, 3]\ntargets = [0.5, -0.5]\n",
    ),
    "deeper_sigmoid": spec_text(
        layers="[2, 3, 3, 3, 2]", activation='"sigmoid"', weights=None, biases=None, seed="9",
        samples="[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n",
    ),
}
