"""The network diagram's layout, for every picture of it (the TikZ figure, the web page's SVG):
neurons by layer, weighted edges, biases, and where each weight's label goes.

A label sits on its own edge, turned along it (so each reads as belonging to one edge even where
edges cross), where its box meets no other text, label or neuron: each picture says how large it
draws its texts (`Measure`: a label's box, the values under a neuron, a bias's box, in cm), and each
edge's label goes, edge by edge, at the free point along it that is farthest from every other edge
and label. Where some label finds no free point, the layers are drawn further apart (longer edges
leave more room along them) until every label does: a 2-3-2 network's labels covered each other's
values when they were placed as points, ignoring their size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from derive.model import layers as kinds
from derive.model import quantities as Q

LABEL_LIMIT = 24  # edges that get a weight label; above it the picture shows the structure only
DRAWN_PER_LAYER = 8  # neurons drawn per layer; the rest is elided
INNER_SHIFT = 0.4  # of the layer step: where an elided layer's inner nodes stand, left of its column
UNROLLED_LIMIT = 120  # units of a recurrent network drawn unrolled, all of them; above it, layer by layer
UNROLLED_STEP = 0.5  # an unrolled network's layers, times the distance between layers
X_STEP, Y_STEP = 3.6, 1.6  # cm between layers, between neurons
CANDIDATES = [k / 40 for k in range(6, 35)]  # label positions along an edge, from 0.15 to 0.85
STRETCHES = [1 + k / 5 for k in range(11)]  # the layers' distance, times X_STEP, tried in turn


@dataclass(frozen=True)
class Box:
    """A rectangle centred at (x, y), its width along the direction (ux, uy), in cm."""
    x: float
    y: float
    width: float
    height: float
    ux: float = 1.0
    uy: float = 0.0

    def corners(self) -> list[tuple[float, float]]:
        w, h, (ux, uy), (vx, vy) = self.width / 2, self.height / 2, (self.ux, self.uy), (-self.uy, self.ux)
        return [(self.x + a * w * ux + b * h * vx, self.y + a * w * uy + b * h * vy) for a, b in
                ((-1, -1), (1, -1), (1, 1), (-1, 1))]

    def meets(self, other: Box, gap: float = 0.0) -> bool:
        """Whether the two (turned) rectangles come within ``gap`` of each other (separating axes).
        Most pairs are far apart, and answered at once: along one of this box's two axes their centres
        lie at least 1/√2 of their distance apart, and neither box reaches further along it than this
        one's larger half side and the other's half diagonal, so past √2 times those and the gap the
        axes below would separate them too (the same answer; the layout of the 17 test and example
        networks' TikZ figures took 0.52 s of CPU instead of 0.81)."""
        far = max(self.width, self.height) / 2 + math.hypot(other.width, other.height) / 2 + gap + 1e-9
        if (self.x - other.x) ** 2 + (self.y - other.y) ** 2 > 2 * far * far:
            return False
        for ux, uy in ((self.ux, self.uy), (-self.uy, self.ux), (other.ux, other.uy), (-other.uy, other.ux)):
            reach = sum(b.width / 2 * abs(ux * b.ux + uy * b.uy) + b.height / 2 * abs(-ux * b.uy + uy * b.ux)
                        for b in (self, other))
            if abs((self.x - other.x) * ux + (self.y - other.y) * uy) >= reach + gap:
                return False
        return True


def _none(_: str) -> tuple[float, float]:
    return 0.0, 0.0


@dataclass(frozen=True)
class Measure:
    """How large a picture draws its texts, in cm, for the layout to keep them apart: a weight's
    label (width, height) and its centre's distance from its edge (``lift``, 0: on the edge); the
    texts under a neuron (its value); a shared bias's box; a bias written above its one neuron."""
    radius: float
    label: Callable[[str], tuple[float, float]]
    lift: float = 0.0
    below: Callable[[str], tuple[float, float]] = _none
    bias: Callable[[str], tuple[float, float]] = _none
    above: Callable[[str], tuple[float, float]] = _none
    gap: float = 0.04


@dataclass(frozen=True)
class Node:
    id: str  # letters and digits only (a TikZ node name, an SVG id)
    neuron: str | None  # None: the dots standing for elided neurons
    x: float
    y: float


@dataclass(frozen=True)
class Edge:
    source: Node
    dest: Node
    parameter: str | None  # None: a pooling layer's edge
    pos: float | None  # where its label goes along it, centre to centre (None: no label)
    label: Box | None = None  # the label's box


@dataclass(frozen=True)
class Bias:
    id: str
    parameter: str
    feeds: tuple[Node, ...]
    x: float | None  # None: written above the neuron it feeds
    y: float | None


@dataclass(frozen=True)
class Diagram:
    nodes: list[Node]
    edges: list[Edge]
    biases: list[Bias]
    texts: list[Box] = field(default_factory=list)  # the fixed texts and neurons the labels keep clear of
    clear: bool = True  # every label found a free place


def node_id(neuron: str) -> str:
    return neuron.replace("_", "x")


def _distance(point, a, b) -> float:
    """From a point to the segment a-b."""
    (px, py), (ax, ay), (bx, by) = point, a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy or 1.0)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def _label_box(a, b, pos: float, size: tuple[float, float], lift: float) -> Box:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    return Box(a[0] + pos * dx - uy * lift, a[1] + pos * dy + ux * lift, size[0], size[1], ux, uy)


def _place_labels(segments: list[tuple], count: int, sizes=None, measure: Measure | None = None,
                  fixed: Sequence[Box] = ()) -> list[tuple[float, Box | None] | None]:
    """For the first ``count`` segments (the weighted edges), the position along each whose label box
    meets no fixed text and no label placed before it (with ``measure``), farthest from every other
    segment and label; None where there is no such position."""
    placed: list[Box] = []
    out = []
    for k in range(count):
        a, b = segments[k]
        best: tuple[float, Box | None] | None = None
        best_score = -1.0
        for pos in CANDIDATES:
            box = _label_box(a, b, pos, sizes[k], measure.lift) if measure else None
            if box and measure and any(box.meets(other, measure.gap) for other in [*fixed, *placed]):
                continue
            point = (a[0] + pos * (b[0] - a[0]), a[1] + pos * (b[1] - a[1]))
            score = min([_distance(point, *s) for j, s in enumerate(segments) if j != k]
                        + [math.hypot(point[0] - q.x, point[1] - q.y) for q in placed] + [math.inf])
            if score > best_score + 1e-9 or (best is not None and abs(score - best_score) <= 1e-9
                                             and abs(pos - 0.5) < abs(best[0] - 0.5)):
                best, best_score = (pos, box), score
        out.append(best)
        if best is not None:
            placed.append(best[1] or Box(a[0] + best[0] * (b[0] - a[0]), a[1] + best[0] * (b[1] - a[1]), 0, 0))
    return out


def layout(network, measure: Measure | None = None) -> Diagram:
    """The diagram; with a picture's ``measure``, its labels' boxes meet nothing (the layers drawn
    further apart where they would)."""
    for stretch in STRETCHES if measure else STRETCHES[:1]:
        diagram = _layout(network, X_STEP * stretch, measure)
        if diagram.clear:
            break
    return diagram


def _fixed(nodes: list[Node], biases: list[Bias], measure: Measure) -> list[Box]:
    r, out = measure.radius, []
    for n in nodes:
        out.append(Box(n.x, n.y, 2 * r, 2 * r))
        w, h = measure.below(n.neuron) if n.neuron else (0.0, 0.0)
        if h:
            out.append(Box(n.x, n.y - r - h / 2, w, h))
    for b in biases:
        if b.x is not None and b.y is not None:  # both or neither
            out.append(Box(b.x, b.y, *measure.bias(b.parameter)))
        else:
            w, h = measure.above(b.parameter)
            out.append(Box(b.feeds[0].x, b.feeds[0].y + r + h / 2, w, h))
    return out


def _unrolled(network, x_step: float) -> list[Node] | None:
    """A network with a recurrent layer, unrolled: a block per step, left to right, holding the usual
    picture of the layers at that step (a column per layer), each layer also raised above the one
    below, so that an edge from one step to the next (h_(t-1) to h_t) passes no other neuron (a layer
    reading the last step only is in the last block); None where the network has no recurrent layer or
    too many units to draw them all."""
    steps = kinds.unrolled(network.spec)
    if steps is None or sum(map(len, network.layers)) > UNROLLED_LIMIT:
        return None
    dx = x_step * UNROLLED_STEP
    block, last = dx * (len(steps) + 0.5), max(count for count, _ in steps) - 1
    nodes, base = [], 0.0
    for k, (layer, (count, _)) in enumerate(zip(network.layers, steps, strict=True)):
        first = kinds.initial_units(network.typed(k)) if k else 0  # an initial state: a block before step 1
        per_step = (len(layer) - first) // count  # an LSTM's step has its gates and cell states beside its h
        for u, n in enumerate(layer):
            t, j = divmod(u - first, per_step) if u >= first else (-1, u)
            x = block * (t if count > 1 else last) + dx * k
            nodes.append(Node(node_id(n), n, x, base + Y_STEP * (per_step - 1 - j)))
        base += Y_STEP * (per_step + 0.3)
    return nodes


def _elided(network, k: int) -> list[str]:
    """The units drawn of a layer too wide to draw: its first and its last; of a layer whose inner nodes
    the layer above does not read (an attention head's q, k, v, scores and weights; a batchnorm's means,
    variances and xhat's), the ones the layer above reads (with the edges into it) and inner nodes: first
    those they read through a weight (a batchnorm's xhat through gamma: that weight's edge clickable),
    then its first (with the weights into them)."""
    units = network.layers[k]
    read = network.exposed(k) if 0 < k < network.depth else units
    if len(read) == len(units):
        return units[: DRAWN_PER_LAYER - 2] + units[-1:]
    read = read if len(read) <= DRAWN_PER_LAYER - 2 else read[: DRAWN_PER_LAYER - 4] + read[-1:]
    inner = [u for u in units if u not in set(read)]
    weighted = [t.factor.name for u in read for t in network.net_terms[u]
                if t.parameter is not None and t.factor is not None and t.factor.name in set(inner)]
    inner = list(dict.fromkeys(weighted + inner))
    return sorted(inner[: DRAWN_PER_LAYER - len(read)], key=units.index) + read


def _layout(network, x_step: float, measure: Measure | None) -> Diagram:
    layers = network.layers
    unrolled = _unrolled(network, x_step)
    drawn = [layer if len(layer) <= DRAWN_PER_LAYER or unrolled else _elided(network, k)
             for k, layer in enumerate(layers)]
    nodes, by_neuron = unrolled or [], {n.neuron: n for n in unrolled or []}
    for k, layer in enumerate(drawn if not unrolled else []):
        inner = set(layer) - set(network.exposed(k)) if len(layer) < len(layers[k]) and 0 < k < network.depth else ()
        for j, n in enumerate(layer):  # an elided layer's inner nodes a step to the left: their edges clear the rest
            x = x_step * (k - INNER_SHIFT * (n in inner))
            node = Node(node_id(n), n, x, Y_STEP * ((len(layer) - 1) / 2 - j))
            nodes.append(node)
            by_neuron[n] = node
        if len(layer) < len(layers[k]):
            nodes.append(Node(f"dots{k}", None, x_step * k, Y_STEP * ((len(layer) - 1) / 2 - (len(layer) - 1.5))))
    weighted, pooled, biases = [], [], []  # a pooling layer's edges carry no parameter, no label
    for k in range(1, len(drawn)):
        shown = {Q.out(n): n for n in drawn[k - 1] + (drawn[k] if network.sequential(k) else [])}
        groups: dict[str, list[Node]] = {}
        for dest in drawn[k]:
            for t in network.net_terms[dest]:
                if t.factor is None:
                    groups.setdefault(t.parameter, []).append(by_neuron[dest])
                elif t.factor in shown and t.parameter is None:
                    pooled.append(Edge(by_neuron[shown[t.factor]], by_neuron[dest], None, None))
                elif t.factor in shown:
                    weighted.append((by_neuron[shown[t.factor]], by_neuron[dest], t.parameter))
        top = (len(drawn[k]) - 1) / 2 * Y_STEP + 1.4
        for name, feeds in groups.items():
            if len(groups) == 1 and not unrolled:
                biases.append(Bias(f"bias{name}", name, tuple(feeds), x_step * k - 1.3, top))
            elif len(groups) <= DRAWN_PER_LAYER:
                biases.append(Bias(f"bias{name}", name, tuple(feeds), None, None))
    if unrolled:  # a weight shared by the steps is labelled once, at its first step (its other edges follow)
        firsts = {p: (s, d) for s, d, p in reversed(weighted)}
        weighted.sort(key=lambda e: firsts[e[2]] != (e[0], e[1]))
        later = [Edge(s, d, p, None) for s, d, p in weighted[len(firsts):]]
        weighted = weighted[:len(firsts)]
    labelled = len(weighted) <= LABEL_LIMIT
    segments = [((s.x, s.y), (d.x, d.y)) for s, d, _ in weighted]
    segments += [((b.x, b.y), (n.x, n.y)) for b in biases if b.x is not None and b.y is not None for n in b.feeds]
    fixed = _fixed(nodes, biases, measure) if measure else []
    sizes = [measure.label(p) for _, _, p in weighted] if measure else None
    places: list[tuple[float, Box | None] | None]
    places = _place_labels(segments, len(weighted), sizes, measure, fixed) if labelled else [None] * len(weighted)
    clear = not labelled or all(p is not None for p in places)
    places = [p or (0.5, None) for p in places] if labelled else places
    edges = [Edge(s, d, p, place[0] if place else None, place[1] if place else None)
             for (s, d, p), place in zip(weighted, places, strict=True)]
    return Diagram(nodes, edges + (later if unrolled else []) + pooled, biases, fixed, clear)
