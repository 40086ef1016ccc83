"""The document's section on a recurrent layer, step by step: a table per step of every hidden unit
(its name in the network and its step-and-unit name h_{t,j}, its net input, output and delta), and
the gradient of a recurrent weight written out as the sum over the steps it is used at, with numbers."""

from __future__ import annotations

import sympy as sp

from derive.model import quantities as Q
from derive.render import names
from derive.render.tex.latex_document import SAMPLE_LIMIT, Block, Section
from derive.render.tex.latex_rows import number


def step_name(t: int | str, j: int | str) -> str:
    """Hidden unit j at step t, as the textbooks write it: h^{<t>}_j (its layer is the section's)."""
    return rf"h^{{\langle {t} \rangle}}_{{{j}}}"


def _steps(document, k: int, s: int) -> list[Block]:
    """Layer k's units of sample ``s``, a table per step."""
    network, digits = document.network, document.digits
    values = document.model.evaluation.samples[s]
    steps, hidden = network.typed(k).shape
    blocks = []
    for t in range(steps):
        units = network.layers[k][t * hidden:(t + 1) * hidden]
        rows = [[f"${names.latex_neuron(n)} = {step_name(t + 1, j + 1)}$", f"${number(values[Q.net(n)], digits)}$",
                 f"${number(values[Q.out(n)], digits)}$", f"${number(values[Q.delta(n)], digits)}$"]
                for j, n in enumerate(units)]
        blocks += [Block("text", f"Step $t = {t + 1}$:"),
                   Block("table", rows=rows, header=["unit", r"$\mathrm{net}$", r"$\mathrm{out}$", r"$\delta$"],
                         columns="lrrr")]
    return blocks


def _sum_over_steps(document, k: int) -> list[Block]:
    """The first recurrent weight's gradient (sample 1) as the sum over the steps, in names and in numbers."""
    network, printer = document.network, document.printer
    recurrent = [p for p in network.parameters if p.layer == k and p.kind == Q.WEIGHT and p.sources
                 and all(network.layer_of.get(str(src)) == k for src in p.sources)]
    if not recurrent:
        return []
    p = recurrent[0]
    step = document.derivation.step[Q.gradient(p.name)]
    values = document.model.evaluation.samples[0]
    numbers = {sym: values[network.quantity_of[sym]] for sym in step.formula.free_symbols}
    gradient = names.latex(Q.gradient(p.name))
    share = (" Here is sample 1's share (the gradient sums every sample's share: the summary gives the total)."
             if document.samples > 1 else "")
    return [Block("text", (f"The recurrent weight ${names.latex(p.quantity)}$ is used at every step after the first, "
                           "so its gradient is the sum over those steps of the delta of the unit it feeds times "
                           f"the previous step's output it multiplies.{share}")),
            Block("align", rows=[(gradient, printer.names(step.formula)), ("", printer.numbers(step.formula, numbers)),
                                 ("", number(sp.Float(values[Q.gradient(p.name)], 30), document.digits))])]


def sections(document) -> list[Section]:
    """A section per recurrent layer (none for a network without one)."""
    network, out = document.network, []
    for k in range(1, network.depth + 1):
        if not network.recurrent(k):
            continue
        steps, hidden = network.typed(k).shape
        units = network.layers[k]
        section = Section(f"Layer {k}, step by step", [Block("text", (
            f"Layer {k} is recurrent: at each of its {steps} steps its {hidden} hidden units read that step's "
            f"inputs and, from the second step on, the previous step's outputs through $W_{{hh}}$; the same "
            f"weights at every step. Its units are numbered step by step: ${names.latex_neuron(units[0])}$ to "
            f"${names.latex_neuron(units[hidden - 1])}$ are step 1's, and unit $(t-1) \\cdot {hidden} + j$ of the "
            f"layer is ${step_name('t', 'j')}$. Backward, a unit's $\\partial E / \\partial \\mathrm{{out}}$ "
            "collects the layer above at its step and the next step's deltas through $W_{hh}$, so the deltas are "
            "computed last step first.")
            )])
        for s in range(min(document.samples, SAMPLE_LIMIT)):
            if document.samples > 1:
                section.blocks.append(Block("text", f"Sample {s + 1}:"))
            section.blocks += _steps(document, k, s)
        section.blocks += _sum_over_steps(document, k)
        out.append(section)
    return out
