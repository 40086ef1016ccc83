"""The document's section on a recurrent layer, step by step: a table per step of every hidden unit
(its name in the network and its step-and-unit name h_{t,j}, its net input, output and delta), and
the gradient of a recurrent weight written out as the sum over the steps it is used at, with numbers."""

from __future__ import annotations

import sympy as sp

from derive.model import layers as kinds
from derive.model import quantities as Q
from derive.render import names
from derive.render.tex.latex_document import SAMPLE_LIMIT, Block, Section
from derive.render.tex.latex_nodes import unit_table
from derive.render.tex.latex_rows import number


def step_name(t: int | str, j: int | str, part: str = "h") -> str:
    """Hidden unit j at step t, as the textbooks write it: h^{<t>}_j (an LSTM's gate f^{<t>}_j; its layer
    is the section's)."""
    return rf"{part}^{{\langle {t} \rangle}}_{{{j}}}"


def _steps(document, k: int, s: int) -> list[Block]:
    """Layer k's units of sample ``s``, a table per step."""
    network = document.network
    typed = network.typed(k)
    steps, first = typed.shape[0], kinds.initial_units(typed)
    per_step = (len(network.layers[k]) - first) // steps  # an LSTM's gates and cell states beside its h
    blocks = []
    spans = [(first + t * per_step, first + (t + 1) * per_step, f"Step $t = {t + 1}$:") for t in range(steps)]
    if first:  # the initial state given: its units, with dE/dh_0 (and dE/dc_0) as their deltas
        spans.insert(0, (0, first, "The initial state, $t = 0$ (its deltas are the gradients with respect to it):"))
    for start, end, title in spans:
        labels = [step_name(*_named(typed, position)) for position in range(start, end)]
        blocks += [Block("text", title), unit_table(document, s, network.layers[k][start:end], labels)]
    return blocks


def _named(typed, position: int) -> tuple[int, int, str]:
    part, t, j = kinds.step_part(typed, position)
    return t, j, part


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


def _function(name: str, network) -> str:
    """An activation's name in LaTeX as the registry entry prints it (\\sigma, \\tanh)."""
    return sp.latex(network.spec.functions.activation(name).out(sp.Symbol("u"))).split(r"\left(")[0]


def _introduction(network, k: int) -> str:
    steps, hidden = network.typed(k).shape
    units, first = network.layers[k], kinds.initial_units(network.typed(k))
    offset = f"{first} + " if first else ""
    initial = (f" (before them, ${names.latex_neuron(units[0])}$ to ${names.latex_neuron(units[first - 1])}$ are "
               f"the initial state given, ${step_name(0, 'j')}$, read at the first step)" if first else "")
    return (f"Layer {k} is recurrent: at each of its {steps} steps its {hidden} hidden units read that step's "
            f"inputs and{'' if first else ', from the second step on,'} the previous step's outputs through "
            "$W_{hh}$; the same "
            f"weights at every step. Its units are numbered step by step: ${names.latex_neuron(units[first])}$ to "
            f"${names.latex_neuron(units[first + hidden - 1])}$ are step 1's, and unit "
            f"${offset}(t-1) \\cdot {hidden} + j$ of the layer is ${step_name('t', 'j')}${initial}. Backward, a "
            "unit's $\\partial E / \\partial \\mathrm{out}$ collects the layer above at its step and the next "
            "step's deltas through $W_{hh}$, so the deltas are computed last step first.")


def sections(document) -> list[Section]:
    """A section per recurrent layer (none for a network without one)."""
    network, out = document.network, []
    for k in range(1, network.depth + 1):
        if not kinds.recurrent(network.typed(k)):
            continue
        steps, hidden = network.typed(k).shape
        units = network.layers[k]
        kind = network.kind(k)
        equations = getattr(kind, "equations", ())
        first = kinds.initial_units(network.typed(k))
        initial = (f" (before them, the initial state given: ${step_name(0, 1)}$, \\ldots, "
                   f"${step_name(0, 1, 'c')}$, \\ldots, read at the first step)" if first else "")
        section = Section(f"Layer {k}, step by step", [Block("text", _introduction(network, k) if not equations else (
            f"Layer {k} ({kind.name}): at each of its {steps} steps its gates $i$, $f$, $g$, $o$ ({hidden} units "
            f"each) read that step's inputs and{'' if first else ', from the second step on,'} the previous step's "
            "hidden state through "
            "$W_{hh}$; the same weights at every step. Its units are numbered step by step, in the order $i$, $f$, "
            f"$g$, $o$, $c$, $h$: ${names.latex_neuron(units[first])}$ is ${step_name(1, 1, 'i')}${initial}. Backward, "
            "$\\partial E / \\partial h$ collects the layer above at its step and the next step's gates' deltas "
            "through $W_{hh}$, and the cell state's the two paths below, so the deltas are computed last step "
            "first:"))])
        if equations:
            functions = {part: _function(name, network) for part, name in kind.activations}
            rows = [(lhs, rhs.replace("{gate}", functions["gate"]).replace("{cell}", functions["cell"]))
                    for lhs, rhs in equations]
            section.blocks.append(Block("align", rows=rows))
        for s in range(min(document.samples, SAMPLE_LIMIT)):
            if document.samples > 1:
                section.blocks.append(Block("text", f"Sample {s + 1}:"))
            section.blocks += _steps(document, k, s)
        section.blocks += _sum_over_steps(document, k)
        out.append(section)
    return out
