"""An independent route to every number: a forward pass written directly in mpmath from the spec,
and central finite differences of it at 60 digits. It shares no code with the engine (only the
spec parser, which is tested on its own), so agreement with it is evidence, not an echo."""

from __future__ import annotations

import mpmath

DPS = 60
STEP = mpmath.mpf("1e-15")  # central differences: truncation ~1e-30, rounding ~1e-45 at 60 digits


def parameters(spec) -> dict[str, mpmath.mpf]:
    """Weights numbered layer, destination, source; then biases layer by layer (and neuron)."""
    with mpmath.workdps(DPS):
        values, w, b = {}, 0, 0
        for matrix in spec.weights:
            for row in matrix:
                for value in row:
                    w += 1
                    values[f"w{w}"] = _mp(value)
        for layer in spec.biases:
            for value in layer:
                b += 1
                values[f"b{b}"] = _mp(value)
        return values


def _mp(rational):
    return mpmath.mpf(int(rational.p)) / int(rational.q)


def _activate(name, nets, own=None):
    if own and name in own:  # a spec's own activation, written out by the test
        return [own[name](x) for x in nets]
    if name == "softmax":
        exps = [mpmath.exp(x) for x in nets]
        return [e / mpmath.fsum(exps) for e in exps]
    f = {
        "logistic": lambda x: 1 / (1 + mpmath.exp(-x)),
        "tanh": mpmath.tanh,
        "relu": lambda x: x if x > 0 else mpmath.mpf(0),
        "softplus": lambda x: mpmath.log(1 + mpmath.exp(x)),
        "identity": lambda x: x,
        "leaky_relu": lambda x: x if x > 0 else x / 100,
        "elu": lambda x: x if x > 0 else mpmath.exp(x) - 1,
        "silu": lambda x: x / (1 + mpmath.exp(-x)),
        "gelu": lambda x: x * (1 + mpmath.erf(x / mpmath.sqrt(2))) / 2,
        "gelu_tanh": lambda x: x * (1 + mpmath.tanh(mpmath.sqrt(2 / mpmath.pi) * (x + mpmath.mpf("0.044715") * x**3))) / 2,
    }[name]
    return [f(x) for x in nets]


def forward(spec, params, inputs, own=None):
    """Every layer's (nets, outs) for one sample (``own``: the spec's own activations and loss, by
    name, as mpmath functions the test writes out from the formulas)."""
    outs, layers, w, b = [_mp(x) for x in inputs], [], 0, 0
    for k, matrix in enumerate(spec.weights):
        nets = []
        for row in matrix:
            total = mpmath.mpf(0)
            for i in range(len(row)):
                w += 1
                total += params[f"w{w}"] * outs[i]
            nets.append(total)
        if spec.bias == "shared":
            b += 1
            nets = [n + params[f"b{b}"] for n in nets]
        elif spec.bias == "per_neuron":
            nets = [n + params[f"b{b + 1 + j}"] for j, n in enumerate(nets)]
            b += len(nets)
        outs = _activate(spec.activations[k], nets, own)
        layers.append((nets, outs))
    return layers


def sample_error(spec, params, sample, own=None):
    outs = forward(spec, params, sample.inputs, own)[-1][1]
    ts = [_mp(t) for t in sample.targets]
    n = len(outs)
    if own and spec.loss in own:
        return mpmath.fsum(own[spec.loss](t, o) for t, o in zip(ts, outs, strict=True))
    return mpmath.fsum({
        "half_sse": lambda: [(t - o) ** 2 / 2 for t, o in zip(ts, outs, strict=False)],
        "mse": lambda: [(t - o) ** 2 / n for t, o in zip(ts, outs, strict=False)],
        "binary_cross_entropy": lambda: [-(t * mpmath.log(o) + (1 - t) * mpmath.log(1 - o)) for t, o in zip(ts, outs, strict=False)],
        "cross_entropy": lambda: [-t * mpmath.log(o) for t, o in zip(ts, outs, strict=False)],
        "huber": lambda: [(t - o) ** 2 / 2 if abs(t - o) <= 1 else abs(t - o) - mpmath.mpf(1) / 2
                          for t, o in zip(ts, outs, strict=False)],
    }[spec.loss]())


def total_error(spec, params, own=None):
    with mpmath.workdps(DPS):
        total = mpmath.fsum(sample_error(spec, params, s, own) for s in spec.samples)
        return total / len(spec.samples) if spec.reduction == "mean" else total


def gradient(spec, params=None, own=None) -> dict[str, mpmath.mpf]:
    """dE_total/d<parameter> for every parameter, by central differences at 60 digits."""
    params = parameters(spec) if params is None else params
    out = {}
    with mpmath.workdps(DPS):
        for name in params:
            up, down = dict(params), dict(params)
            up[name] += STEP
            down[name] -= STEP
            out[name] = (total_error(spec, up, own) - total_error(spec, down, own)) / (2 * STEP)
    return out


def train(spec, steps, freeze_biases=False, dps=30):
    """Gradient descent with finite-difference gradients (for a few steps only: it is slow)."""
    params = parameters(spec)
    rate = _mp(spec.learning_rate)
    for _ in range(steps):
        g = gradient(spec, params)
        params = {n: v if (freeze_biases and n.startswith("b")) else v - rate * g[n] for n, v in params.items()}
    return params


def loop_train(spec, steps, freeze_biases=False):
    """Textbook backpropagation with lists and loops in float64, written for the tests (elementwise
    activations, half_sse/mse): the second derivation path for long training runs, where finite
    differences are too slow. Returns (params, error after the first step, error after all steps)."""
    import math

    f = {"logistic": lambda x: 1 / (1 + math.exp(-x)), "tanh": math.tanh, "identity": lambda x: x}
    df = {"logistic": lambda o: o * (1 - o), "tanh": lambda o: 1 - o * o, "identity": lambda o: 1.0}
    W = [[[float(v) for v in row] for row in m] for m in spec.weights]
    B = [[float(v) for v in layer] for layer in spec.biases]
    shared = spec.bias == "shared"
    n_out = spec.layers[-1]
    scale = 2 / n_out if spec.loss == "mse" else 1.0

    def run(x):
        outs = [list(map(float, x))]
        for k, m in enumerate(W):
            nets = [sum(w * o for w, o in zip(row, outs[-1], strict=False)) + (B[k][0 if shared else j] if B[k] else 0.0)
                    for j, row in enumerate(m)]
            outs.append([f[spec.activations[k]](n) for n in nets])
        return outs

    def error():
        e = 0.0
        for s in spec.samples:
            o = run(s.inputs)[-1]
            e += sum((float(t) - y) ** 2 for t, y in zip(s.targets, o, strict=False)) * (
                0.5 if spec.loss == "half_sse" else 1 / n_out
            )
        return e / len(spec.samples) if spec.reduction == "mean" else e

    rate = float(spec.learning_rate) / (len(spec.samples) if spec.reduction == "mean" else 1)
    first = None
    for step in range(steps):
        gW = [[[0.0] * len(row) for row in m] for m in W]
        gB = [[0.0] * len(layer) for layer in B]
        for s in spec.samples:
            outs = run(s.inputs)
            deltas = [scale * (y - float(t)) * df[spec.activations[-1]](y) for t, y in zip(s.targets, outs[-1], strict=False)]
            for k in range(len(W) - 1, -1, -1):
                for j, d in enumerate(deltas):
                    for i, o in enumerate(outs[k]):
                        gW[k][j][i] += d * o
                    if B[k]:
                        gB[k][0 if shared else j] += d
                if k:
                    deltas = [
                        sum(deltas[j] * W[k][j][i] for j in range(len(deltas)))
                        * df[spec.activations[k - 1]](outs[k][i])
                        for i in range(len(outs[k]))
                    ]
        for k in range(len(W)):
            for j, row in enumerate(W[k]):
                for i in range(len(row)):
                    row[i] -= rate * gW[k][j][i]
            if not freeze_biases:
                for j in range(len(B[k])):
                    B[k][j] -= rate * gB[k][j]
        if step == 0:
            first = error()
    return W, B, first, error()
