"""The network diagram as inline SVG, from the one layout (`derive.render.diagram.layout`), the same
picture as the PDF's TikZ figure: neurons by layer with their names and values, every weight and bias
with its name and value (on networks too large to label, in its tooltip and accessible name only).

Each weight and bias is a focusable button (``<g class="param" data-parameter="w5" tabindex="0"
role="button" aria-label=...>``) for the page's script; each value is a ``<tspan data-value=...>``
the page redraws. `path` gives the elements on a parameter's chain-rule path, for highlighting.
"""

from __future__ import annotations

import math
from functools import cached_property

from derive.escape import html_text
from derive.model import quantities as Q
from derive.model.decimals import plain
from derive.render.diagram import Diagram, Measure, layout
from derive.render.look import DESCENT, LOOK, SIZE, backdrop, text_height, text_width

SCALE = 62.0  # pixels per centimetre of the layout
RADIUS = 21.0
MARGIN = 70.0
HALO = 3.0  # px: the white stroke behind each text, and the least room between two texts
VALUE_BASELINES = (15.0, 30.0)  # px below a neuron's circle: its value's baseline, its target's


def _xy(x: float, y: float) -> tuple[float, float]:
    return x * SCALE, -y * SCALE


def _f(v: float) -> str:
    return f"{v:.1f}"


def node_id(node) -> str:
    return f"n-{node.id}"


def parameter_id(name: str) -> str:
    return f"p-{name}"


class NetworkPicture:
    """The SVG of one network; ``key(q)`` names a value on the page, ``value(q)`` gives it."""

    def __init__(self, network, key, value, digits: int):
        self.network = network
        self.key = key
        self.value = value
        self.digits = digits
        self.diagram: Diagram = layout(network, self.measure())

    # -- the texts' sizes, for the layout -----------------------------------------------------------
    def _label(self, parameter: str) -> str:
        return f"{parameter} = {plain(self.value(Q.parameter(parameter)), self.digits)}"

    def _label_size(self, parameter: str) -> tuple[float, float]:
        size = SIZE["label"]
        return text_width(self._label(parameter), size) + HALO, text_height(size) + HALO

    def _below(self, neuron: str) -> tuple[float, float]:
        """The box of the texts under a neuron (px): from the circle to below its last line."""
        size, lines = SIZE["value"], [plain(self.value(Q.out(neuron)), self.digits)]
        if neuron in self.network.outputs:
            lines.append(f"target {plain(self.value(Q.target(neuron)), self.digits)}")
        baseline = VALUE_BASELINES[len(lines) - 1]
        return max(text_width(t, size) for t in lines) + HALO, baseline + DESCENT * size + HALO

    def measure(self) -> Measure:
        cm = 1 / SCALE
        label = self._label_size

        def scaled(f):
            return lambda name: tuple(v * cm for v in f(name))

        return Measure(radius=RADIUS * cm, label=scaled(label), lift=(label("w1")[1] / 2 + 1) * cm,
                       below=scaled(self._below), bias=scaled(lambda p: (label(p)[0] + 12, 24.0)),
                       above=scaled(lambda p: (label(p)[0] + 10, 24.0)), gap=HALO * cm)

    def number(self, q: Q.Quantity, css: str = "v") -> str:
        return f'<tspan class="{css}" data-value="{html_text(self.key(q))}">{plain(self.value(q), self.digits)}</tspan>'

    def _parameter_open(self, name: str, description: str, element: str | None = None) -> str:
        """A parameter's button, with the id ``element`` (default the parameter's own); every one has
        its data-parameter, which selects all the edges of a shared weight."""
        label = html_text(f"{name}, {description}")
        return (f'<g class="param" id="{element or parameter_id(name)}" data-parameter="{name}" tabindex="0" '
                f'role="button" aria-label="{label}"><title>{label}</title>')

    @cached_property
    def edge_ids(self) -> dict[tuple[str, str], str]:
        """Each weighted edge's element id: its parameter's own on the parameter's first edge, ``e-`` and
        its two neurons on the others (a shared weight's, at another position or step): ids are unique."""
        ids, seen = {}, set()
        for e in self.diagram.edges:
            if e.parameter is not None and e.source.neuron and e.dest.neuron:
                first = e.parameter not in seen
                seen.add(e.parameter)
                ids[e.source.neuron, e.dest.neuron] = (parameter_id(e.parameter) if first
                                                       else f"e-{e.source.neuron}-{e.dest.neuron}")
        return ids

    def edges(self) -> list[str]:
        out = []
        for e in self.diagram.edges:
            (x1, y1), (x2, y2) = _xy(e.source.x, e.source.y), _xy(e.dest.x, e.dest.y)
            length = math.hypot(x2 - x1, y2 - y1)
            ux, uy = (x2 - x1) / length, (y2 - y1) / length
            a = (x1 + ux * RADIUS, y1 + uy * RADIUS)
            b = (x2 - ux * (RADIUS + 4), y2 - uy * (RADIUS + 4))
            line = f'x1="{_f(a[0])}" y1="{_f(a[1])}" x2="{_f(b[0])}" y2="{_f(b[1])}"'
            opened = (self._parameter_open(e.parameter, f"weight from {e.source.neuron} to {e.dest.neuron}",
                                           self.edge_ids.get((str(e.source.neuron), str(e.dest.neuron))))
                      if e.parameter is not None else "<g>")
            parts = [opened, f'<line class="hit" {line} {LOOK["hit"]}/>'
                     f'<line class="edge" {line} {LOOK["edge"]} marker-end="url(#arrow)"/>']
            if e.pos is not None and e.parameter is not None:
                box = e.label
                px, py = _xy(box.x, box.y) if box else (x1 + e.pos * (x2 - x1), y1 + e.pos * (y2 - y1))
                angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
                baseline = (text_height(SIZE["label"]) / 2 - DESCENT * SIZE["label"]) if box else -5
                parts.append(f'<text class="label" transform="translate({_f(px)} {_f(py)}) rotate({angle:.1f})" '
                             f'y="{_f(baseline)}" {LOOK["label"]}>{e.parameter} = '
                             f"{self.number(Q.parameter(e.parameter))}</text>")
            out.append("".join(parts) + "</g>")
        return out

    def biases(self) -> list[str]:
        out = []
        for b in self.diagram.biases:
            feeds = ", ".join(str(n.neuron) for n in b.feeds)  # a bias feeds neurons, never the dots
            parts = [self._parameter_open(b.parameter, f"bias of {feeds}")]
            label = f"{b.parameter} = {self.number(Q.parameter(b.parameter))}"
            if b.x is not None and b.y is not None:  # both or neither
                bx, by = _xy(b.x, b.y)
                for n in b.feeds:
                    nx, ny = _xy(n.x, n.y)
                    length = math.hypot(nx - bx, ny - by)
                    ex, ey = nx - (nx - bx) / length * (RADIUS + 4), ny - (ny - by) / length * (RADIUS + 4)
                    parts.append(f'<line class="edge bias-line" x1="{_f(bx)}" y1="{_f(by)}" x2="{_f(ex)}" '
                                 f'y2="{_f(ey)}" {LOOK["edge"]} stroke-dasharray="5 4" marker-end="url(#arrow)"/>')
                width = self._label_size(b.parameter)[0] + 12
                parts.append(f'<rect class="bias" x="{_f(bx - width / 2)}" y="{_f(by - 12)}" width="{_f(width)}" '
                             f'height="24" rx="6" '
                             f'{LOOK["box"]}/><text class="label" x="{_f(bx)}" y="{_f(by + 4)}" {LOOK["label"]}>'
                             f"{label}</text>")
            else:
                nx, ny = _xy(b.feeds[0].x, b.feeds[0].y)
                width = self._label_size(b.parameter)[0] + 10
                parts.append(f'<rect class="bias hit-box" x="{_f(nx - width / 2)}" y="{_f(ny - RADIUS - 24)}" '
                             f'width="{_f(width)}" height="18" rx="5" {LOOK["box"]}/><text class="label" x="{_f(nx)}" '
                             f'y="{_f(ny - RADIUS - 10)}" {LOOK["label"]}>{label}</text>')
            out.append("".join(parts) + "</g>")
        return out

    def neurons(self) -> list[str]:
        out = []
        for n in self.diagram.nodes:
            x, y = _xy(n.x, n.y)
            if n.neuron is None:
                out.append(f'<g class="neuron dots" id="{node_id(n)}"><text x="{_f(x)}" y="{_f(y + 6)}" {LOOK["dots"]}>'
                           "\u22ee</text></g>")
                continue
            q = Q.out(n.neuron)
            first, second = (y + RADIUS + b for b in VALUE_BASELINES)
            shown = f'<text class="value" x="{_f(x)}" y="{_f(first)}" {LOOK["value"]}>{self.number(q)}</text>'
            if n.neuron in self.network.outputs:
                shown += (f'<text class="value target" x="{_f(x)}" y="{_f(second)}" {LOOK["value"]}>target '
                          f"{self.number(Q.target(n.neuron))}</text>")
            out.append(f'<g class="neuron" id="{node_id(n)}" data-neuron="{n.neuron}"><title>{n.neuron}</title>'
                       f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{RADIUS:.0f}" {LOOK["neuron"]}/>'
                       f'<text class="name" x="{_f(x)}" y="{_f(y + 5)}" {LOOK["name"]}>{n.neuron}</text>{shown}</g>')
        return out

    def error(self) -> tuple[str, tuple[float, float]]:
        outputs = [n for n in self.diagram.nodes if n.neuron in self.network.outputs]
        x = max(n.x for n in self.diagram.nodes) * SCALE + 120
        y = sum(-n.y * SCALE for n in outputs) / len(outputs)
        ends = [(n.x * SCALE + RADIUS, -n.y * SCALE, x - 52, y) for n in outputs]
        if len(outputs) > 1 and len({n.y for n in outputs}) == 1:  # in a row (each step's): the box above it
            x, y = sum(n.x * SCALE for n in outputs) / len(outputs), y - 110
            ends = [(n.x * SCALE, -n.y * SCALE - RADIUS, x, y + 20) for n in outputs]
        lines = "".join(f'<line class="edge" x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" {LOOK["edge"]}/>'
                        for x1, y1, x2, y2 in ends)
        box = (f'<g class="neuron error" id="n-error">{lines}<rect x="{_f(x - 52)}" y="{_f(y - 20)}" width="104" '
               f'height="40" rx="8" {LOOK["box"]}/><text class="name" x="{_f(x)}" y="{_f(y - 3)}" {LOOK["name"]}>'
               f'E_total</text><text class="value" x="{_f(x)}" y="{_f(y + 13)}" {LOOK["value"]}>'
               f"{self.number(Q.TOTAL_ERROR)}</text></g>")
        return box, (x + 52, y - 20)

    def render(self, caption: str) -> str:
        error, (right, box_top) = self.error()
        xs = [n.x * SCALE for n in self.diagram.nodes] + [b.x * SCALE for b in self.diagram.biases if b.x is not None]
        ys = [-n.y * SCALE for n in self.diagram.nodes] + [-b.y * SCALE for b in self.diagram.biases if b.y is not None]
        left, top = min(xs) - MARGIN, min(min(ys) - MARGIN, box_top - 10)
        width, height = max(max(xs), right) + MARGIN / 2 - left, max(ys) + MARGIN + 10 - top
        body = "".join(self.edges() + self.biases() + self.neurons()) + error
        return (f'<svg class="network" viewBox="{_f(left)} {_f(top)} {_f(width)} {_f(height)}" '
                f'width="{_f(width)}" role="group" aria-label="{html_text(caption)}">'
                '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
                'markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
                f'<path d="M0 0L10 5L0 10z" {LOOK["arrow"]}/></marker></defs>'
                f"{backdrop(left, top, width, height)}{body}</svg>")

    def path(self, parameter: str) -> list[str]:
        """The SVG ids on the parameter's chain-rule path: the parameter, the neuron its weight starts
        at, the neurons it feeds and every neuron and weight downstream of them, and the error
        (an elided neuron as its layer's dots)."""
        network, drawn = self.network, {n.neuron: n for n in self.diagram.nodes if n.neuron}
        dots = {int(n.id[4:]): n for n in self.diagram.nodes if n.neuron is None}
        p = network.parameter[parameter]
        ids, edges = [parameter_id(parameter)], set()
        todo, seen = list(p.feeds), set()
        sources = {s for s in p.sources if s} - set(p.feeds)  # a recurrent weight's feeds are sources too
        todo += sorted(sources)
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            if n in sources or n in network.outputs:
                continue
            for dest, _ in network.reads(n):  # through a weight, a pooling window or an LSTM's product
                edges.add((n, dest))
                todo.append(dest)
        for n in sorted(seen, key=lambda n: (network.layer_of[n], n)):
            node = drawn.get(n) or dots.get(network.layer_of[n])
            if node is not None and node_id(node) not in ids:
                ids.append(node_id(node))
        ids += [element for edge, element in self.edge_ids.items() if edge in edges]
        return [*dict.fromkeys(ids), "n-error"]
