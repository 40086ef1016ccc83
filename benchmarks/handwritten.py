"""Hand-written baselines, written for the benchmark (not generated).

``train_step_222`` is the 2-2-2 reference network by hand as straight-line code: what a careful
person writes for speed (logistic inline, ``exp`` bound once, the learning rate folded into each delta,
and no overflow guard, so it does a little less than the generated code). ``train_step_layers`` is a
hand-written version for any logistic/half-SSE network with per-neuron biases, with list
comprehensions per layer: straight-line code by hand for 387 parameters is not something anyone
writes, so this is the fastest honest hand-written form.
"""

import math
from math import exp


def _s(x):
    return 1.0 / (1.0 + math.exp(-x))


def train_step_222(p, x, t, lr=0.5):
    w1, w2, w3, w4, w5, w6, w7, w8, b1, b2 = (
        p["w1"], p["w2"], p["w3"], p["w4"], p["w5"], p["w6"], p["w7"], p["w8"], p["b1"], p["b2"]
    )
    i1, i2 = x
    t1, t2 = t
    h1 = 1.0 / (1.0 + exp(-(w1 * i1 + w2 * i2 + b1)))
    h2 = 1.0 / (1.0 + exp(-(w3 * i1 + w4 * i2 + b1)))
    o1 = 1.0 / (1.0 + exp(-(w5 * h1 + w6 * h2 + b2)))
    o2 = 1.0 / (1.0 + exp(-(w7 * h1 + w8 * h2 + b2)))
    d1 = (o1 - t1) * o1 * (1.0 - o1)
    d2 = (o2 - t2) * o2 * (1.0 - o2)
    e1 = lr * (d1 * w5 + d2 * w7) * h1 * (1.0 - h1)
    e2 = lr * (d1 * w6 + d2 * w8) * h2 * (1.0 - h2)
    d1 *= lr
    d2 *= lr
    return {
        "w1": w1 - e1 * i1, "w2": w2 - e1 * i2, "w3": w3 - e2 * i1, "w4": w4 - e2 * i2,
        "w5": w5 - d1 * h1, "w6": w6 - d1 * h2, "w7": w7 - d2 * h1,
        "w8": w8 - d2 * h2, "b1": b1 - (e1 + e2), "b2": b2 - (d1 + d2),
    }


def layers_from(params, sizes):
    """Weight matrices and bias vectors from the spec's parameter names (per-neuron biases)."""
    W, B, w, b = [], [], 0, 0
    for k in range(1, len(sizes)):
        W.append([[params[f"w{w + j * sizes[k - 1] + i + 1}"] for i in range(sizes[k - 1])] for j in range(sizes[k])])
        w += sizes[k] * sizes[k - 1]
        B.append([params[f"b{b + j + 1}"] for j in range(sizes[k])])
        b += sizes[k]
    return W, B


def train_step_layers(W, B, x, t, lr=0.5):
    """One step on weight matrices W[k][dest][src] and biases B[k][dest]; returns new (W, B)."""
    outs = [x]
    for Wk, Bk in zip(W, B):
        prev = outs[-1]
        outs.append([_s(sum([w * o for w, o in zip(row, prev)]) + b) for row, b in zip(Wk, Bk)])
    deltas = [(o - y) * o * (1.0 - o) for o, y in zip(outs[-1], t)]
    newW, newB = [None] * len(W), [None] * len(B)
    for k in range(len(W) - 1, -1, -1):
        prev = outs[k]
        newW[k] = [[w - lr * d * o for w, o in zip(row, prev)] for row, d in zip(W[k], deltas)]
        newB[k] = [b - lr * d for b, d in zip(B[k], deltas)]
        if k:
            Wk = W[k]
            deltas = [
                sum([Wk[j][i] * deltas[j] for j in range(len(deltas))]) * o * (1.0 - o) for i, o in enumerate(prev)
            ]
    return newW, newB
