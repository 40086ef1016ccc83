"""The document's section of feature maps and kernels, as grids with numbers (`derive.render.grids`):
the input, each map layer's net input, output and delta per channel, each kernel with its entries'
names and values and its gradient, and for each filter the sum over the positions of one kernel
entry's gradient (and its bias's), as the explanation rows print it, long sums shortened."""

from __future__ import annotations

from derive.escape import latex_text
from derive.model import quantities as Q
from derive.render import grids, names
from derive.render.tex.latex_document import SAMPLE_LIMIT, Block, Section
from derive.render.tex.latex_rows import number

MAX_SIDE = 8  # rows or columns of a map drawn as a grid; a larger map is in the table of every neuron


def _grid(caption: str, rows) -> dict:
    return {"caption": caption, "rows": [[f"${cell}$" for cell in row] for row in rows]}


def _maps_block(document, maps: grids.Maps, s: int) -> list[Block]:
    values = document.model.evaluation.samples[s]
    digits = document.digits
    labels = {"net": r"\mathrm{net}", "out": r"\mathrm{out}", "delta": r"\delta"}
    kinds = [("" if maps.layer == 0 else labels[name], quantity) for name, quantity in grids.shown(maps, values)]
    blocks = []
    for c, channel in enumerate(maps.channels):
        shown = []
        for label, quantity in kinds:
            caption = rf"${label}$, channel {c + 1}" if label else f"channel {c + 1}"
            shown.append(_grid(caption,
                               [[number(values[quantity(n)], digits) for n in row] for row in channel]))
        blocks.append(Block("grids", data={"grids": shown}))
    return blocks


def _kernel_blocks(document, k: int) -> list[Block]:
    network, digits = document.network, document.digits
    totals = document.model.evaluation.totals
    shown = []
    for kernel in grids.kernels(network, k):
        where = "".join(f"[{i}]" for i in kernel.index)
        shown.append(_grid(rf"\texttt{{weight{where}}}", [[f"{names.latex(Q.parameter(n))} = "
                                                  f"{number(network.parameter[n].value, digits)}" for n in row]
                                                 for row in kernel.rows]))
        shown.append(_grid(rf"$\partial E_{{\mathrm{{total}}}} / \partial$\,\texttt{{weight{where}}}",
                           [[number(totals[Q.gradient(n)], digits) for n in row] for row in kernel.rows]))
    return [Block("grids", data={"grids": shown})] if shown else []


def sections(document) -> list[Section]:
    """The section of grids, or none when no layer's shape has 3 axes."""
    network = document.network
    layers = grids.maps(network)
    if not layers:
        return []
    samples = min(document.samples, SAMPLE_LIMIT)
    section = Section("Feature maps and kernels", [Block("text", (
        "Each map is a grid, row by row, as PyTorch lays it out (channel, row, column); a unit's net input "
        "sums the kernel entries times the inputs under them, plus its channel's bias. Each kernel entry is "
        "used at many positions, so its gradient is a sum over them: the delta of each unit it feeds times "
        "the input under the entry there. In a long sum, $\\cdots$ stands for the terms left out; each delta "
        "and input is in the grids.")
        + (f" Maps of sample 1 to {samples}." if document.samples > 1 else ""))])
    for maps in layers:
        k = maps.layer
        what = latex_text(grids.title(document.network, k))
        channels, rows, columns = maps.shape
        units = document.network.layers[k]
        text = (f"{what}: {channels} channel{'s' if channels > 1 else ''} of {rows} $\\times$ {columns}, units "
                f"${names.latex_neuron(units[0])}$ to ${names.latex_neuron(units[-1])}$ channel by channel, "
                "row by row")
        if maps.side > MAX_SIDE:
            section.blocks.append(Block("text", text + ", too large to draw here (the table of every neuron and "
                                        r"\texttt{gradients.txt} list each value)."))
        else:
            section.blocks.append(Block("text", text + (" (net input, output and delta):" if k else ":")))
            for s in range(samples):
                if document.samples > 1:
                    section.blocks.append(Block("text", f"Sample {s + 1}:"))
                section.blocks += _maps_block(document, maps, s)
        if k:
            section.blocks += _kernel_blocks(document, k)
            section.blocks += _sums(document, k)
    return [section]


def _sums(document, k: int) -> list[Block]:
    """For each filter of layer k, one kernel entry's gradient (and its bias's) written out."""
    filters = grids.filters(document.network, k)
    if not filters:
        return []
    several = document.samples > 1
    blocks = [Block("text", "For each filter, the gradient of its first kernel entry and of its bias, summed over "
                    "the positions where it is used" + (" (per sample; the total sums the samples):" if several
                                                        else ":"))]
    for names_ in filters:
        for name in names_:
            for s in range(min(document.samples, SAMPLE_LIMIT)):
                if several:
                    blocks.append(Block("text", f"Sample {s + 1}:"))
                blocks.append(document.align(document.delta_rule(name, s, update=False)))
    return blocks

