"""An independent float implementation of the training semantics of issue 15, written from the
formulas (PyTorch's torch.optim algorithms, in its order of operations) and from the documented
shuffle (SplitMix64 + Fisher-Yates), sharing no code with derive. It takes the per-sample gradient as
a function (the generated module's, which the routes check on their own), so what it checks is the
loop: batches, shuffling, reduction, frozen parameters, the update order and each optimizer.

Slips, for the audit's tests: ``bias_correction=False``, ``eps_inside=True``, ``dampening=True``,
``decay_after=True`` (weight decay applied to the new value instead of the gradient).
"""

from __future__ import annotations

import math

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix64(state: int) -> tuple[int, int]:
    """(new state, output), as in Vigna's reference C code."""
    state = (state + GOLDEN) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def shuffled(seed: int, epoch: int, n: int) -> list[int]:
    state = (seed ^ ((epoch * GOLDEN) & MASK)) & MASK
    order = list(range(n))
    i = n - 1
    while i > 0:
        state, r = splitmix64(state)
        j = r % (i + 1)
        order[i], order[j] = order[j], order[i]
        i -= 1
    return order


def batches_of_step(step, n, batch_size, shuffle, seed):
    k = n if batch_size == 0 else min(batch_size, n)
    per_epoch = math.ceil(n / k)
    epoch = (step - 1) // per_epoch
    index = (step - 1) % per_epoch
    order = shuffled(seed, epoch, n) if shuffle else list(range(n))
    return order[index * k:index * k + k]


def run(gradient, params, samples, steps, *, optimizer="sgd", lr=0.1, momentum=0.9, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=0.0, batch_size=0, shuffle=False, seed=0, frozen=(), reduction="sum", layer_of=None,
        in_place=False, bias_correction=True, eps_inside=False, dampening=False, decay_after=False):
    """``steps`` steps; returns (params, state) with state[name] = {"buf"} or {"m", "v"}. ``in_place``:
    the layers updated from the top, each with the gradient ``gradient(start, x, y, backward=params)``
    (the step's forward pass, the deltas through the weights updated so far; tests/test_in_place.py
    holds that function to a hand-written rule)."""
    params = dict(params)
    names = [p for p in params if p not in frozen]
    state = {p: {} for p in names}
    b1, b2 = betas
    if in_place:
        top = max(layer_of.values())
        groups = [[p for p in names if layer_of[p] == k] for k in range(top, 0, -1)]
    else:
        groups = [names]
    for t in range(1, steps + 1):
        batch = [samples[i] for i in batches_of_step(t, len(samples), batch_size, shuffle, seed)]
        start = dict(params)
        for group in groups:
            grads = dict.fromkeys(group, 0.0)
            for x, y in batch:
                # in place: the forward pass at the step's start, the deltas through the weights as updated
                g = gradient(start, x, y, backward=params) if in_place else gradient(params, x, y)
                for p in group:
                    grads[p] += g[p]
            if reduction == "mean":
                grads = {p: v / len(batch) for p, v in grads.items()}
            for p in group:
                params[p] = _step(optimizer, params[p], grads[p], state[p], t, lr, momentum, b1, b2, eps,
                                  weight_decay, bias_correction, eps_inside, dampening, decay_after)
    return params, state


def _step(optimizer, p, g, s, t, lr, mu, b1, b2, eps, wd, bias_correction, eps_inside, dampening, decay_after):
    coupled = optimizer != "adamw" and not decay_after
    if optimizer == "adamw" and not decay_after:
        p = p * (1 - lr * wd)
    d_p = g + wd * p if coupled else g
    if optimizer == "sgd":
        new = p - lr * d_p
    elif optimizer in ("momentum", "nesterov"):
        if dampening:
            s["buf"] = mu * s.get("buf", 0.0) + (1 - mu) * d_p
        elif "buf" not in s:
            s["buf"] = d_p  # torch: the first buffer is the gradient itself
        else:
            s["buf"] = mu * s["buf"] + d_p
        new = p - lr * (d_p + mu * s["buf"] if optimizer == "nesterov" else s["buf"])
    else:
        s["m"] = s.get("m", 0.0) * b1 + (1 - b1) * d_p
        s["v"] = s.get("v", 0.0) * b2 + (1 - b2) * d_p * d_p
        c1 = 1 - b1**t if bias_correction else 1.0
        c2 = 1 - b2**t if bias_correction else 1.0
        denom = math.sqrt(s["v"] / c2 + eps) if eps_inside else math.sqrt(s["v"]) / math.sqrt(c2) + eps
        new = p - (lr / c1) * s["m"] / denom
    if decay_after:
        new = new * (1 - lr * wd)
    return new
