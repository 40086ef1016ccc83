"""The network diagram's texts never overlap: on every test network (the ZOO, the reference network
and a 2-3-2 network) the boxes of the SVG's texts (weight labels, bias labels, neuron names, values,
targets), measured with the real font's metrics from the SVG markup alone, do not intersect, labels
bold as when selected; the layout's own boxes (for the SVG and for the PDF's TikZ figure) meet nothing;
and the layout's width estimate is never below the font's real width. The browser measures the drawn
boxes too (tests/test_browser_layout.py)."""

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import spec_text
from hypothesis import given, settings
from hypothesis import strategies as st
from networks import ZOO

import derive
from derive.render.diagram import Box
from derive.render.look import SIZE, text_width
from derive.render.tex.latex_rows import figure_measure
from derive.render.web.html import Page

FONTS = Path("/usr/share/fonts/truetype/dejavu")
NETWORKS = {**ZOO, "two_three_two": spec_text(layers="[2, 3, 2]", weights=None, biases=None, seed="1"),
            "reference": None}
SVG = ""  # inline in HTML: no namespace


def _model(name):
    return derive.load() if NETWORKS[name] is None else derive.Model(derive.parse(NETWORKS[name], f"{name}.toml"))


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def model(request):
    return _model(request.param)


def font(size: float, bold: bool):
    pil = pytest.importorskip("PIL.ImageFont")
    path = FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    if not path.exists():
        pytest.skip(f"no {path} (apt-get install fonts-dejavu-core)")
    return pil.truetype(str(path), size=round(size * 16)), 16  # measured at 16 times the size, then scaled


def text_boxes(svg: str) -> list[tuple[str, Box]]:
    """Every text of the SVG as a box in the SVG's coordinates, from its markup: its x, y, anchor,
    transform (translate, rotate), font size and weight, measured with DejaVu Sans (labels bold)."""
    root = ET.fromstring(svg.replace("&", "&amp;").replace("&amp;#", "&#"))
    boxes = []
    for text in root.iter(f"{SVG}text"):
        content = "".join(text.itertext())
        size = float(text.get("font-size"))
        bold = text.get("class") == "label" or text.get("font-weight") in ("600", "700")
        f, k = font(size, bold)
        width = f.getlength(content) / k
        ascent, descent = (m / k for m in f.getmetrics())
        x, y = float(text.get("x", 0)), float(text.get("y", 0))
        tx, ty, angle = 0.0, 0.0, 0.0
        transform = text.get("transform", "")
        if m := re.search(r"translate\(([-\d.]+) ([-\d.]+)\)", transform):
            tx, ty = float(m[1]), float(m[2])
        if m := re.search(r"rotate\(([-\d.]+)\)", transform):
            angle = math.radians(float(m[1]))
        assert text.get("text-anchor") == "middle"
        cx, cy = x, y + (descent - ascent) / 2  # the box's centre before the transform
        ux, uy = math.cos(angle), math.sin(angle)
        boxes.append((content, Box(tx + cx * ux - cy * uy, ty + cx * uy + cy * ux, width, ascent + descent, ux, uy)))
    return boxes


def test_the_svg_texts_do_not_overlap(model):
    picture = Page(model, "test").picture
    assert picture.diagram.clear
    boxes = text_boxes(picture.render("caption"))
    assert len(boxes) >= 2 * min(sum(map(len, model.network.layers)), 8 * len(model.network.layers))
    for k, (a, box) in enumerate(boxes):
        for b, other in boxes[k + 1:]:
            assert not box.meets(other), f"{a!r} overlaps {b!r}"


@pytest.mark.parametrize("values", [True, False])
def test_the_layouts_boxes_meet_nothing_in_the_svg_and_in_the_tikz_figure(model, values):
    """The layout's own boxes: each label's clear of every other label, neuron and fixed text."""
    from derive.render.diagram import layout

    diagrams = [layout(model.network, figure_measure(model.network, values))]
    if values:
        diagrams.append(Page(model, "test").picture.diagram)
    for d in diagrams:
        assert d.clear
        labels = [e.label for e in d.edges if e.label]
        assert len(labels) == len(d.edges) or len(d.edges) > 24
        for k, box in enumerate(labels):
            assert not any(box.meets(other) for other in labels[k + 1:] + d.texts)


def test_the_width_estimate_is_never_below_the_fonts_width(model):
    picture = Page(model, "test").picture
    texts = [picture._label(p.name) for p in model.network.parameters] + ["target 0.123456789", "\u22120.5"]
    for text in texts:
        for bold in (False, True):
            f, k = font(SIZE["label"], bold)
            assert f.getlength(text) / k <= text_width(text, SIZE["label"]), (text, bold)


def _separated_on_an_axis(a: Box, b: Box, gap: float) -> bool:
    """The separating-axes test by the boxes' corners: along one of the four sides' directions, the
    two boxes' projections lie at least ``gap`` apart."""
    for ux, uy in ((a.ux, a.uy), (-a.uy, a.ux), (b.ux, b.uy), (-b.uy, b.ux)):
        pa = [x * ux + y * uy for x, y in a.corners()]
        pb = [x * ux + y * uy for x, y in b.corners()]
        if min(pb) - max(pa) >= gap or min(pa) - max(pb) >= gap:
            return True
    return False


_side = st.floats(0.0, 3.0, allow_nan=False)
_angle = st.floats(0, 2 * math.pi, allow_nan=False)


@settings(max_examples=600)
@given(_side, _side, _angle, _side, _side, _angle, st.floats(0, 0.5, allow_nan=False), _angle,
       st.floats(0.2, 1.3, allow_nan=False))
def test_two_boxes_meet_exactly_when_no_side_separates_them(w1, h1, t1, w2, h2, t2, gap, direction, apart):
    """`Box.meets`, with its shortcut for boxes far apart, is the separating-axes test by corners; the
    second box stands ``apart`` times the shortcut's distance away, around where it takes over."""
    a = Box(0.3, -0.2, w1, h1, math.cos(t1), math.sin(t1))
    reach = math.sqrt(2) * (max(w1, h1) / 2 + math.hypot(w2, h2) / 2 + gap)
    b = Box(0.3 + apart * reach * math.cos(direction), -0.2 + apart * reach * math.sin(direction), w2, h2,
            math.cos(t2), math.sin(t2))
    assert a.meets(b, gap) == (not _separated_on_an_axis(a, b, gap))
