"""An object-oriented implementation of the kind the reference article's script uses, written for the
benchmark: Neuron and NeuronLayer classes, loops over neurons and weights, a method call per partial
derivative (calculate_pd_*), and every delta computed before any weight is updated. Generalised to
any number of layers; biases are updated too (the article's script leaves them), so that every
implementation does the same work. Like the article's script, each neuron holds its own copy of its
bias, so a shared bias moves by the sum of its copies' steps (tests/test_benchmarks.py checks both)."""

import math


class Neuron:
    def __init__(self, weights, bias):
        self.weights = list(weights)
        self.bias = bias

    def calculate_output(self, inputs):
        self.inputs = inputs
        self.output = self.squash(self.calculate_total_net_input())
        return self.output

    def calculate_total_net_input(self):
        total = 0
        for i in range(len(self.inputs)):
            total += self.inputs[i] * self.weights[i]
        return total + self.bias

    def squash(self, total_net_input):
        return 1 / (1 + math.exp(-total_net_input))

    def calculate_pd_error_wrt_total_net_input(self, target_output):
        return self.calculate_pd_error_wrt_output(target_output) * self.calculate_pd_total_net_input_wrt_input()

    def calculate_pd_error_wrt_output(self, target_output):
        return -(target_output - self.output)

    def calculate_pd_total_net_input_wrt_input(self):
        return self.output * (1 - self.output)

    def calculate_pd_total_net_input_wrt_weight(self, index):
        return self.inputs[index]


class NeuronLayer:
    def __init__(self, weights, biases):
        self.neurons = [Neuron(w, b) for w, b in zip(weights, biases)]

    def feed_forward(self, inputs):
        outputs = []
        for neuron in self.neurons:
            outputs.append(neuron.calculate_output(inputs))
        return outputs


class NeuralNetwork:
    def __init__(self, weights, biases, learning_rate=0.5):
        self.layers = [NeuronLayer(w, b) for w, b in zip(weights, biases)]
        self.LEARNING_RATE = learning_rate

    def feed_forward(self, inputs):
        for layer in self.layers:
            inputs = layer.feed_forward(inputs)
        return inputs

    def train(self, training_inputs, training_outputs):
        self.feed_forward(training_inputs)
        last = len(self.layers) - 1
        # 1. Output neuron deltas
        pd_errors = [None] * len(self.layers)
        pd_errors[last] = [0] * len(self.layers[last].neurons)
        for o in range(len(self.layers[last].neurons)):
            pd_errors[last][o] = (
                self.layers[last].neurons[o].calculate_pd_error_wrt_total_net_input(training_outputs[o])
            )
        # 2. Hidden neuron deltas, layer by layer
        for k in range(last - 1, -1, -1):
            pd_errors[k] = [0] * len(self.layers[k].neurons)
            for h in range(len(self.layers[k].neurons)):
                d_error_wrt_hidden_neuron_output = 0
                for o in range(len(self.layers[k + 1].neurons)):
                    d_error_wrt_hidden_neuron_output += pd_errors[k + 1][o] * self.layers[k + 1].neurons[o].weights[h]
                pd_errors[k][h] = (
                    d_error_wrt_hidden_neuron_output
                    * self.layers[k].neurons[h].calculate_pd_total_net_input_wrt_input()
                )
        # 3. Update every weight (and bias)
        for k in range(len(self.layers)):
            for n in range(len(self.layers[k].neurons)):
                for w in range(len(self.layers[k].neurons[n].weights)):
                    pd_error_wrt_weight = pd_errors[k][n] * self.layers[k].neurons[
                        n
                    ].calculate_pd_total_net_input_wrt_weight(w)
                    self.layers[k].neurons[n].weights[w] -= self.LEARNING_RATE * pd_error_wrt_weight
                self.layers[k].neurons[n].bias -= self.LEARNING_RATE * pd_errors[k][n]
