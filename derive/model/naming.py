"""Every naming convention of the project, in one place.

Neurons: inputs ``i1..``, outputs ``o1..``; with one hidden layer its neurons are ``h1..`` (the
article's names); with several, hidden layer ``l`` (counted from 1) holds ``h{l}_1, h{l}_2, ..``.

Quantities (one grammar for tables, the ``[published]`` table, ``--claim`` and ``--quantity``):
``net_h1``, ``out_o2``, ``target_o1``, ``E_o1``, ``E_total``, ``delta_o1``, a parameter ``w5``/``b1``,
a partial derivative ``dA/dB`` (``dE_total/dw5``), a parameter after one step ``w5+``, anything after
N training steps ``X@N``, and, with several samples, a per-sample value ``X[s]`` (s from 1).
"""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
TOTAL = "E_total"
TARGET_SUM = "target_sum"  # Σ targets, used by the softmax + cross-entropy delta
LOGSUMEXP = "lse_o"  # ln Σ e^net over a softmax output layer: a temporary of the stable forms


def neuron_names(layers: list[int]) -> list[list[str]]:
    """Names of the neurons of every layer, input layer first."""
    hidden = len(layers) - 2
    names = [[f"i{j}" for j in range(1, layers[0] + 1)]]
    for h in range(1, hidden + 1):
        prefix = "h" if hidden == 1 else f"h{h}_"
        names.append([f"{prefix}{j}" for j in range(1, layers[h] + 1)])
    names.append([f"o{j}" for j in range(1, layers[-1] + 1)])
    return names


def net(neuron: str) -> str:
    return f"net_{neuron}"


def out(neuron: str) -> str:
    """The value a neuron passes on; an input neuron's output is the input itself."""
    return neuron if neuron.startswith("i") else f"out_{neuron}"


def target(output: str) -> str:
    return f"target_{output}"


def error(output: str) -> str:
    return f"E_{output}"


def delta(neuron: str) -> str:
    return f"delta_{neuron}"


def partial(of: str, wrt: str) -> str:
    return f"d{of}/d{wrt}"


def updated(parameter: str) -> str:
    return f"{parameter}+"


def per_sample(quantity: str, sample: int) -> str:
    return f"{quantity}[{sample}]"


def python_name(quantity: str) -> str:
    """A Python identifier for a kernel quantity: ``dE_total/dw5`` -> ``grad_w5``."""
    if quantity.startswith(f"d{TOTAL}/d"):
        wrt = quantity[len(TOTAL) + 3 :]
        return f"grad_{wrt}" if not wrt.startswith(("out_", "net_")) else f"dE_d{wrt}"
    if "/" in quantity:
        of, wrt = quantity.split("/")
        return f"{of}_{wrt}"
    return quantity


_NEURON = re.compile(r"(?P<kind>[ioh])(?P<layer>\d+_)?(?P<index>\d+)\Z")


def latex_neuron(neuron: str) -> str:
    m = _NEURON.match(neuron)
    if not m:
        return neuron
    if m["layer"]:
        return f"{m['kind']}_{{{m['layer'][:-1]},{m['index']}}}"
    return f"{m['kind']}_{{{m['index']}}}"


def latex(quantity: str, inline: bool = False) -> str:
    """LaTeX for a quantity name, in the article's style: ``net_h1`` -> ``net_{h_{1}}``; partial
    derivatives as fractions, or ``inline`` as ∂A/∂B (for tables and running text); ``X@N`` as the
    value after N training steps."""
    if "@" in quantity:
        base, steps = quantity.split("@")
        return rf"{latex(base, inline)}\text{{ after {steps} step{'s' if steps != '1' else ''}}}"
    if "/" in quantity:
        of, wrt = quantity.split("/")
        if inline:
            return rf"\partial {latex(of[1:])} / \partial {latex(wrt[1:])}"
        return rf"\frac{{\partial {latex(of[1:])}}}{{\partial {latex(wrt[1:])}}}"
    if quantity.endswith("+"):
        return latex(quantity[:-1]) + "^{+}"
    if quantity == TOTAL:
        return "E_{total}"
    head, sep, tail = quantity.partition("_")
    if sep and _NEURON.match(tail):
        name = r"\delta" if head == "delta" else head
        return f"{name}_{{{latex_neuron(tail)}}}"
    m = re.fullmatch(r"([wb])(\d+)", quantity)
    if m:
        return f"{m[1]}_{{{m[2]}}}"
    if _NEURON.match(quantity):
        return latex_neuron(quantity)
    return {LOGSUMEXP: r"\operatorname{lse}", TARGET_SUM: r"\textstyle\sum_k target_{o_k}"}.get(quantity, quantity)
