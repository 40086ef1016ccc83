"""The document's section on a layer computed node by node that is not recurrent (a layer
normalization: its mean, variance, each normalized feature and each output): the kind's equations as
the textbooks write them, and a table per sample of every node, by its name in the network and its
textbook name (h2_1 = mu), with its net input, output and delta."""

from __future__ import annotations

from derive.model import layers as kinds
from derive.model import quantities as Q
from derive.render import names
from derive.render.tex.latex_document import SAMPLE_LIMIT, Block, Section
from derive.render.tex.latex_rows import number


def unit_table(document, s: int, units: list[str], labels: list[str], first: str = "unit") -> Block:
    """A table of ``units`` of sample ``s``: each by its name in the network and its textbook ``label``
    (h_{2,1} = mu, h_9 = c^<1>_1), with its net input, output and delta."""
    values, digits = document.model.evaluation.samples[s], document.digits
    rows = [[f"${names.latex_neuron(n)} = {label}$", f"${number(values[Q.net(n)], digits)}$",
             f"${number(values[Q.out(n)], digits)}$", f"${number(values[Q.delta(n)], digits)}$"]
            for n, label in zip(units, labels, strict=True)]
    return Block("table", rows=rows, header=[first, r"$\mathrm{net}$", r"$\mathrm{out}$", r"$\delta$"],
                 columns="lrrr")


def _table(document, k: int, s: int) -> Block:
    typed, kind, units = document.network.typed(k), document.network.kind(k), document.network.layers[k]
    return unit_table(document, s, units, [kind.latex_node(typed, j) for j in range(len(units))], "node")


def _eps(eps) -> str:
    """A normalization's epsilon, as its section says it (nothing for a layer without one)."""
    return "" if eps is None else rf" ($\epsilon = {number(eps, 9)}$)"


def sections(document, values: bool = True) -> list[Section]:
    """A section per such layer (none for a network without one); without ``values`` (a worksheet's), its
    nodes' names only, what a learner needs to compute them."""
    network, out = document.network, []
    for k in range(1, network.depth + 1):
        typed, kind = network.typed(k), network.kind(k)
        if kinds.recurrent(typed) or not hasattr(kind, "latex_node"):
            continue
        first = names.latex_neuron(network.layers[k][0])
        eps = dict(typed.settings).get("eps")
        section = Section(f"Layer {k}, node by node", [Block("text", (
            f"Layer {k} ({kind.name}) is written as its computational graph, one unit per node, computed in "
            f"order (${first}$ first): a node's net input is a weighted sum, as a dense layer's, or a formula "
            "of the outputs it reads (its output then is its net input); backward, a weight or the formula's "
            "local partial (the formula differentiated in that input) carries each delta, the last node's "
            "first, and the gradient with respect to an input collects every path through the nodes"
            f"{_eps(eps)}{kind.node_words(typed) if hasattr(kind, 'node_words') else ''}:")),
            Block("align", rows=list(kind.equations(typed) if callable(kind.equations) else kind.equations))])
        if not values:
            nodes = ", ".join(f"${names.latex_neuron(n)} = {kind.latex_node(typed, j)}$"
                              for j, n in enumerate(network.layers[k]))
            section.blocks.append(Block("text", f"Its nodes: {nodes}."))
        for s in range(min(document.samples, SAMPLE_LIMIT) if values else 0):
            if document.samples > 1:
                section.blocks.append(Block("text", f"Sample {s + 1}:"))
            section.blocks.append(_table(document, k, s))
        out.append(section)
    return out
