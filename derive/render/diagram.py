"""The network diagram's layout, for every picture of it (the TikZ figure, the web page's SVG):
neurons by layer, weighted edges, biases, and where each weight's label goes.

A label sits on its own edge where no other edge, bias line or label is near: each edge's label
position is chosen, edge by edge, from points along it, as the one farthest from everything else
drawn. Labels are turned along their edge (``sloped``), so each reads as belonging to one edge even
where edges cross (on a 3-3-2 network labels in fixed places sat on crossings and could belong to
either edge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from derive.model import quantities as Q

LABEL_LIMIT = 24  # edges that get a weight label; above it the picture shows the structure only
DRAWN_PER_LAYER = 8  # neurons drawn per layer; the rest is elided
X_STEP, Y_STEP = 3.6, 1.6  # cm between layers, between neurons
CANDIDATES = [k / 20 for k in range(5, 16)]  # label positions along an edge, from 0.25 to 0.75


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
    parameter: str
    pos: float | None  # where its label goes along it (None: no label)


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


def node_id(neuron: str) -> str:
    return neuron.replace("_", "x")


def _distance(point, a, b) -> float:
    """From a point to the segment a-b."""
    (px, py), (ax, ay), (bx, by) = point, a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy or 1.0)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def _place_labels(segments: list[tuple], count: int) -> list[float]:
    """For the first ``count`` segments (the weighted edges), the position along each that is farthest
    from every other segment and from the labels placed before it."""
    placed, positions = [], []
    for k in range(count):
        a, b = segments[k]
        best, best_score = 0.5, -1.0
        for pos in CANDIDATES:
            point = (a[0] + pos * (b[0] - a[0]), a[1] + pos * (b[1] - a[1]))
            score = min([_distance(point, *s) for j, s in enumerate(segments) if j != k]
                        + [math.hypot(point[0] - q[0], point[1] - q[1]) for q in placed] + [math.inf])
            if score > best_score + 1e-9:
                best, best_score = pos, score
        positions.append(best)
        placed.append((a[0] + best * (b[0] - a[0]), a[1] + best * (b[1] - a[1])))
    return positions


def layout(network) -> Diagram:
    layers = network.layers
    drawn = [layer if len(layer) <= DRAWN_PER_LAYER else layer[: DRAWN_PER_LAYER - 2] + layer[-1:] for layer in layers]
    nodes, by_neuron = [], {}
    for k, layer in enumerate(drawn):
        for j, n in enumerate(layer):
            node = Node(node_id(n), n, X_STEP * k, Y_STEP * ((len(layer) - 1) / 2 - j))
            nodes.append(node)
            by_neuron[n] = node
        if len(layer) < len(layers[k]):
            nodes.append(Node(f"dots{k}", None, X_STEP * k, Y_STEP * ((len(layer) - 1) / 2 - (len(layer) - 1.5))))
    weighted, biases = [], []
    for k in range(1, len(drawn)):
        shown = {Q.out(n): n for n in drawn[k - 1]}
        groups: dict[str, list[Node]] = {}
        for dest in drawn[k]:
            for t in network.net_terms[dest]:
                if t.factor is None:
                    groups.setdefault(t.parameter, []).append(by_neuron[dest])
                elif t.factor in shown:
                    weighted.append((by_neuron[shown[t.factor]], by_neuron[dest], t.parameter))
        top = (len(drawn[k]) - 1) / 2 * Y_STEP + 1.4
        for name, feeds in groups.items():
            if len(groups) == 1:
                biases.append(Bias(f"bias{name}", name, tuple(feeds), X_STEP * k - 1.3, top))
            elif len(groups) <= DRAWN_PER_LAYER:
                biases.append(Bias(f"bias{name}", name, tuple(feeds), None, None))
    labelled = len(weighted) <= LABEL_LIMIT
    segments = [((s.x, s.y), (d.x, d.y)) for s, d, _ in weighted]
    segments += [((b.x, b.y), (n.x, n.y)) for b in biases if b.x is not None for n in b.feeds]
    positions = _place_labels(segments, len(weighted)) if labelled else [None] * len(weighted)
    edges = [Edge(s, d, p, pos) for (s, d, p), pos in zip(weighted, positions, strict=True)]
    return Diagram(nodes, edges, biases)
