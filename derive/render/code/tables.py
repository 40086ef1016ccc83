"""A generated module's tables (PARAMETERS, INITIAL, PARAMETER_LAYER) for a large network, compact:
the names as ranges, the initial values packed a line at a time, the layers as runs. One name a
line would be 76,000 lines for 784-32-10; these are about 5,000 and import at once."""

from __future__ import annotations

import itertools

from derive.escape import python_string
from derive.model import quantities as Q

WIDTH = 116


def _packed(indent: str, items: list[str]) -> list[str]:
    lines, line = [], indent
    for item in items:
        if len(line) + len(item) + 2 > WIDTH and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += item + ", "
    return [*lines, line.rstrip()] if line.strip() else lines


def _names(network) -> list[str]:
    weights = sum(p.kind == Q.WEIGHT for p in network.parameters)
    biases = len(network.parameters) - weights
    ranged = [Q.weight_name(k) for k in range(1, weights + 1)] + [Q.bias_name(k) for k in range(1, biases + 1)]
    if [p.name for p in network.parameters] != ranged:  # not the usual numbering: one name a line
        return ["PARAMETERS = (", *_packed("    ", [python_string(p.name) for p in network.parameters]), ")"]
    lines = ["PARAMETERS = (", f'    *(f"w{{k}}" for k in range(1, {weights + 1})),']
    if biases:
        lines.append(f'    *(f"b{{k}}" for k in range(1, {biases + 1})),')
    return [*lines, ")"]


def tables(network) -> dict[str, list[str]]:
    """The template variables ``parameters``, ``initial`` and ``layer_of``."""
    values = _packed("    ", [repr(float(p.value)) for p in network.parameters])
    layers = itertools.groupby(p.layer for p in network.parameters)
    runs = [f"*[{layer}] * {len(list(group))}" for layer, group in layers]
    return {
        "parameters": _names(network),
        "initial": ["INITIAL = dict(", "    zip(", "        PARAMETERS,", "        (",
                    *("    " * 2 + line for line in values), "        ),", "        strict=True,", "    )", ")"],
        "layer_of": [f"PARAMETER_LAYER = dict(zip(PARAMETERS, [{', '.join(runs)}], strict=True))"],
    }
