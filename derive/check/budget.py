"""What the check's costly routes take on, by how much work they would do: the nested expression's
depth for ``sympy.diff`` (its derivative doubles with each level of nesting: a recurrent layer over
4 steps took minutes at 11 parameters), and, for the 50-digit finite differences, the units each
checked parameter's two passes recompute (a recurrent weight moves every step: an even spread of the
parameters, fewer of them where each moves more)."""

from __future__ import annotations

DEPTH_LIMIT = 4  # levels of units from an input to an output; deeper, sympy.diff of the nested error is skipped
FD_LIMIT = 400  # parameters checked by finite differences at most
FD_WORK = 40_000  # units recomputed over the checked parameters' passes; above it, fewer parameters


def depth(network) -> int:
    """The most units on a path from an input to an output (a dense network's: its layers; a recurrent
    layer's units add a level at each step)."""
    levels: dict[str, int] = {}
    for layer in network.layers[1:]:
        for n in layer:
            levels[n] = 1 + max((levels.get(t.factor.name, 0) for t in network.net_terms[n] if t.factor), default=0)
    return max(levels[o] for o in network.outputs)


def reach(network) -> dict[str, int]:
    """For each parameter, how many units a change of it moves (those it feeds and every one after)."""
    below: dict[str, int] = {}  # a unit's bit set of itself and every unit that reads it, directly or not
    bit = {n: 1 << k for k, n in enumerate(n for layer in network.layers[1:] for n in layer)}
    for layer in reversed(network.layers[1:]):
        for n in reversed(layer):
            mask = bit[n]
            for dest, _ in network.reads(n):
                mask |= below[dest]
            below[n] = mask
    out = {}
    for p in network.parameters:
        mask = 0
        for n in p.feeds:
            mask |= below[n]
        out[p.name] = mask.bit_count()
    return out


def chosen(model) -> list[str]:
    """The parameters checked by finite differences: all, or an even spread of FD_LIMIT of them, fewer
    where their passes would recompute more than FD_WORK units."""
    names = model.parameters
    moved = reach(model.network)
    count = min(FD_LIMIT, len(names))
    while count > 1 and sum(moved[names[int(i * len(names) / count)]] for i in range(count)) > FD_WORK:
        count = max(1, count * 3 // 4)
    if count == len(names):
        return names
    step = len(names) / count
    return [names[int(i * step)] for i in range(count)]
