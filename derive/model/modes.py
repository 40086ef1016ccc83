"""The spec's named modes, each with the one description every output prints."""

#: bias = "...": how a layer's neurons get their biases, in words.
BIAS_MODES = {"shared": "one bias per layer, shared by its neurons", "per_neuron": "one bias per neuron",
              "none": "no biases"}
