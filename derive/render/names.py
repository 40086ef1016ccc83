"""A quantity's name in each output language, from its structure (never by taking text apart).

LaTeX sets multi-letter names upright, as textbooks do (``\\mathrm{net}_{h_{1}}``, ``E_{\\mathrm{total}}``);
Python gets an identifier for every kernel quantity (``dE_total/dw5`` -> ``grad_w5``); text gets the
short form a learner writes (``dE/dout_o1``).
"""

from __future__ import annotations

from derive.model import quantities as Q
from derive.model.optimizers import SLOTS

_WORDS = {Q.NET: r"\mathrm{net}", Q.OUT: r"\mathrm{out}", Q.TARGET: r"\mathrm{target}", Q.ERROR: "E",
          Q.DELTA: r"\delta"}


#: edges of a shared weight listed where it is described; the rest counted
EDGES_LISTED = 2


def edges(parameter) -> tuple[list[tuple[str, str]], int]:
    """A weight's edges (source, destination) as a description lists them: the first
    `EDGES_LISTED` (all of them when there is one more), and how many more it has."""
    pairs = list(zip(parameter.sources, parameter.feeds, strict=True))
    shown = pairs if len(pairs) <= EDGES_LISTED + 1 else pairs[:EDGES_LISTED]
    return shown, len(pairs) - len(shown)


def latex_neuron(neuron: str) -> str:
    letter, layer, index = Q.neuron_parts(neuron)
    return f"{letter}_{{{layer},{index}}}" if layer is not None else f"{letter}_{{{index}}}"


def latex(q: Q.Quantity, inline: bool = False, superscript_steps: bool = False) -> str:
    """LaTeX for a quantity: partial derivatives as fractions, or ``inline`` as ∂A/∂B (for tables and
    running text); ``X@N`` as the value after N training steps, or with ``superscript_steps`` as
    X^{(N)} (in the derivation of training steps, which says so)."""
    if q.after is not None and superscript_steps:
        inner = latex(q.after_steps(None), inline)
        if q.is_partial:
            inner = rf"\left({inner}\right)"
        return f"{inner}^{{({q.after})}}"
    if q.after is not None:
        return rf"{latex(q.after_steps(None), inline)}\text{{ {Q.after(q.after)}}}"
    if q.kind == Q.STATE:
        return f"{SLOTS[q.name].latex}_{{{latex(q.subject)}}}"
    if q.updated:
        return latex(q.base) + "^{+}"
    if q.kind == Q.PARTIAL:
        if inline:
            return rf"\partial {latex(q.subject)} / \partial {latex(q.variable)}"
        return rf"\frac{{\partial {latex(q.subject)}}}{{\partial {latex(q.variable)}}}"
    if q.kind == Q.TOTAL:
        return r"E_{\mathrm{total}}"
    if q.kind in _WORDS:
        return f"{_WORDS[q.kind]}_{{{latex_neuron(q.name)}}}"
    if q.kind == Q.INPUT:
        return latex_neuron(q.name)
    if q.is_parameter:
        letter, index = Q.parameter_parts(q.name)
        return f"{letter}_{{{index}}}"
    if q.kind == Q.RATE:
        return r"\eta"
    return q.latex_label or rf"\mathrm{{{q.name}}}"


def python(q: Q.Quantity) -> str:
    """A Python identifier for a kernel quantity."""
    if q.kind == Q.PARTIAL:
        if q.of == Q.TOTAL_ERROR:
            return f"grad_{q.variable.name}" if q.variable.is_parameter else f"dE_d{python(q.variable)}"
        return f"d{python(q.subject)}_d{python(q.variable)}"
    return str(q)


def short(q: Q.Quantity) -> str:
    """The text a learner writes: ``dE/dout_o1`` for dE_total/dout_o1."""
    if q.kind == Q.PARTIAL:
        return f"d{'E' if q.of == Q.TOTAL_ERROR else short(q.subject)}/d{short(q.variable)}"
    return str(q)


def net_terms(network, quantity: Q.Quantity) -> list[str]:
    """A net input's terms as code (every target's identifiers are these): ``w1 * i1``, the bias alone."""
    terms = network.net_terms[quantity.name]
    return [f"{t.parameter} * {python(t.factor)}" if t.factor else t.parameter for t in terms]
