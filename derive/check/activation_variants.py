"""A hidden layer computed with another activation than the network's: the learner's forward pass
through that layer uses the other function, and their deltas its derivative (tanh's layer worked with
the logistic, out(1 - out) for 1 - out^2). One slip for each registered elementwise activation, in
each hidden layer; `derive.check.variants` makes each a variant of the evaluation."""

from __future__ import annotations

from collections.abc import Callable

from derive.model import layers as kinds
from derive.model import quantities as Q
from derive.model.registry import ACTIVATIONS


def activation_swaps(model) -> list[tuple[str, str, Callable]]:
    """(key, description, rewrite) for each hidden layer and each other elementwise activation:
    ``rewrite(step, expr)`` gives the step's expression as the learner computes it (``expr`` the
    usual one), the layer's outs with the other function and their dout/dnet with its derivative."""
    network = model.network
    sym = network.symbol
    out = []
    for k in range(1, len(network.layers) - 1):
        own = network.layer_activation(k)
        if own.couples_layer or kinds.unit_activations(network.typed(k), own.name) is not None:
            continue  # a layer of several activations (an LSTM's gates and states): no one function to swap
        for other in ACTIVATIONS.values():
            if other.couples_layer or other.name == own.name:
                continue
            rewritten = {}
            for n in network.layers[k]:
                net, value = sym(Q.net(n)), sym(Q.out(n))
                rewritten[Q.out(n)] = other.out(net)
                rewritten[Q.partial(Q.out(n), Q.net(n))] = other.derivative(net, value)

            def rewrite(step, expr, rewritten=rewritten):
                return rewritten.get(step.quantity, expr)

            out.append((f"activation_{k}_{other.name}", f"the {other.name} used in place of {own.name} in layer {k}",
                        rewrite))
    return out
