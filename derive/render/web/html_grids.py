"""The page's feature maps and kernels, as grids of cells with numbers (`derive.render.grids`): the
input (each cell editable), each map layer's net input, output and delta per channel, each kernel
(each entry a button that selects it, and its value editable) and its gradient.

Every number is the page's own (`Page.number`, `Page.total`: a ``data-value`` the page's script
redraws after an edit; an ``input[data-edit]`` it reads), so the grids are recomputed as every other
number is, by the script printed from the derivation. Selecting a parameter highlights the cells its
gradient sums over: the input under it at each position (its `Parameter.sources`) and the delta of
each unit it feeds (its `Parameter.feeds`), through the page's paths (`Grids.path`).
"""

from __future__ import annotations

from derive.escape import html_text
from derive.model import quantities as Q
from derive.render import grids
from derive.render.web.html_tables import edit_box

MAX_SIDE = 32  # rows or columns of a map drawn as a grid; a larger one is in the table of every neuron
SAMPLES = 3  # samples whose maps the page draws


def cell_id(sample: int, what: str, neuron: str) -> str:
    """The id of the grid cell of ``neuron``'s ``what`` (out, net, delta) in one sample's maps."""
    return f"cell-{sample}-{what}-{neuron}"


def entry_id(parameter: str) -> str:
    """The id of a parameter's cell in its kernel's grid (or the biases' row)."""
    return f"entry-{parameter}"


class Grids:
    def __init__(self, page):
        self.page = page
        self.network = page.network
        self.maps = [m for m in grids.maps(self.network) if m.side <= MAX_SIDE]
        self.drawn = {m.layer for m in self.maps}
        self.samples = min(len(page.spec.samples), SAMPLES)
        self.kernels = {m.layer for m in grids.maps(self.network) if m.layer and grids.kernels(self.network, m.layer)}

    def path(self, parameter: str) -> list[str]:
        """The cells a parameter's gradient sums over, in every sample drawn: the output of each unit
        under it (the layer below's grid) and the delta of each unit it feeds; and its own cell in its
        kernel's grid."""
        p = self.network.parameter[parameter]
        ids = [entry_id(parameter)] if p.layer in self.kernels else []
        for s in range(self.samples):
            if p.layer - 1 in self.drawn:
                ids += [cell_id(s, "out", n) for n in p.sources if n is not None]
            if p.layer in self.drawn:
                ids += [cell_id(s, "delta", n) for n in p.feeds]
        return ids

    # -- markup ----------------------------------------------------------------------------------
    @staticmethod
    def _table(rows: list[list[tuple[str, str]]]) -> str:
        """A grid of (id, content) cells."""
        body = "".join("<tr>" + "".join(f'<td id="{i}">{c}</td>' if i else f"<td>{c}</td>" for i, c in row)
                       + "</tr>" for row in rows)
        return f'<table class="grid"><tbody>{body}</tbody></table>'

    @staticmethod
    def _figure(caption: str, table: str) -> str:
        return f'<figure class="map"><figcaption>{html_text(caption)}</figcaption>{table}</figure>'

    @staticmethod
    def _row(figures: list[str]) -> str:
        return f'<div class="scroll"><div class="maps">{"".join(figures)}</div></div>'

    def _channel(self, maps: grids.Maps, c: int, s: int) -> str:
        page, values = self.page, self.page.model.evaluation.samples[s]
        channel = maps.channels[c]
        if maps.layer == 0:
            inputs = self.page.spec.samples[s].inputs
            position = {n: j for j, n in enumerate(self.network.inputs)}
            rows = [[(cell_id(s, "out", n), edit_box(page.key(Q.out(n), s), inputs[position[n]])) for n in row]
                    for row in channel]
            return self._figure(f"channel {c + 1}", self._table(rows))
        figures = []
        for what, quantity in grids.shown(maps, values):
            label = {"delta": "δ"}.get(what, what)
            rows = [[(cell_id(s, what, n), page.number(quantity(n), values[quantity(n)], s)) for n in row]
                    for row in channel]
            figures.append(self._figure(f"{label}, channel {c + 1}", self._table(rows)))
        return "".join(figures)

    def _pick(self, name: str) -> str:
        if name in self.page.derivable:
            return f'<button type="button" class="pick" data-parameter="{name}">{name}</button>'
        return html_text(name)

    def _kernels(self, k: int) -> str:
        figures = []
        for kernel in grids.kernels(self.network, k):
            where = "".join(f"[{i}]" for i in kernel.index)
            entries = [[(entry_id(n), f"{self._pick(n)} {edit_box(n, self.network.parameter[n].value)}") for n in row]
                       for row in kernel.rows]
            gradients = [[("", self.page.total(Q.gradient(n))) for n in row] for row in kernel.rows]
            figures += [self._figure(f"weight{where}", self._table(entries)),
                        self._figure(f"∂E_total/∂weight{where}", self._table(gradients))]
        biases = [p for p in self.network.parameters if p.layer == k and p.kind == Q.BIAS]
        if biases:
            cells = [[(entry_id(p.name), f"{self._pick(p.name)} {edit_box(p.name, p.value)}") for p in biases],
                     [("", self.page.total(Q.gradient(p.name))) for p in biases]]
            figures.append(self._figure("biases and their gradients", self._table(cells)))
        return self._row(figures) if figures else ""

    def render(self) -> str:
        """The section's body, or "" when no layer's shape has 3 axes."""
        everything = grids.maps(self.network)
        if not everything:
            return ""
        several = len(self.page.spec.samples) > 1
        parts = ['<p class="hint">Each map is a grid, row by row, as PyTorch lays it out (channel, row, column). '
                 "Click a kernel entry to see its derivation: the inputs under it and the deltas of the units it "
                 "feeds, the cells its gradient sums over, are highlighted. Edit a kernel entry or an input and "
                 "every number is recomputed.</p>"]
        for maps in everything:
            k = maps.layer
            channels, rows, columns = maps.shape
            what = grids.title(self.network, k)
            heading = f"{what}: {channels} channel{'s' if channels > 1 else ''} of {rows} × {columns}"
            units = self.network.layers[k]
            parts.append(f"<h3>{html_text(heading)}</h3><p>Units {html_text(units[0])} to "
                         f"{html_text(units[-1])}, channel by channel, row by row.</p>")
            if k not in self.drawn:
                parts.append(f"<p>Too large to draw (more than {MAX_SIDE} rows or columns): each value is in "
                             "the table of every neuron.</p>")
            else:
                for s in range(self.samples):
                    if several:
                        parts.append(f"<h4>Sample {s + 1}</h4>")
                    parts += [self._row([self._channel(maps, c, s)]) for c in range(channels)]
            if k:
                parts.append(self._kernels(k))
        if several and len(self.page.spec.samples) > self.samples:
            parts.append(f"<p>The maps of samples {self.samples + 1} and after are in the table of every neuron.</p>")
        return "".join(parts)
