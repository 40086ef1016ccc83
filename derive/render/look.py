"""The pictures' look, written once: the palette the page's stylesheet names (``--ink`` …) and the
presentation attributes every SVG element carries itself.

A picture shown outside the page (a notebook's output, trusted or sanitized, in a light or a dark
theme; an SVG saved on its own) has none of the page's stylesheet, so each element says its own fill,
stroke and font, and each picture draws its own light backdrop: black neurons, invisible edges and a
black filled loss curve were what a notebook showed before. The page's stylesheet only adds what
moves (hover, focus, the highlighted path), and reads its colours from the same palette.
"""

from __future__ import annotations

PALETTE = {"ink": "#1b1f24", "muted": "#57606a", "line": "#8c959f", "accent": "#0b62c4", "path": "#d9480f",
           "panel": "#f6f8fa", "bad": "#b42318", "grid": "#e5e7eb", "paper": "#ffffff"}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
_TEXT = (f'font-family="{FONT}" text-anchor="middle" fill="{PALETTE["ink"]}" paint-order="stroke" '
         f'stroke="{PALETTE["paper"]}" stroke-width="3" stroke-linejoin="round"')

#: Font sizes (user units: CSS px at the picture's own scale). The page keeps its pictures at least at
#: that scale, so that no text of a picture reads below 11 px on a phone.
SIZE = {"label": 12.5, "name": 14.0, "value": 11.5, "tick": 12.0}
ASCENT, DESCENT = 0.93, 0.24  # of the font's em (DejaVu Sans, the widest usual system-ui): a glyph box's height
#: Advance widths in em, each at least the bold DejaVu Sans glyph's (a selected label is bold), so a
#: text's estimated width is never less than drawn; other characters count as the default.
_WIDTHS = {**dict.fromkeys("0123456789", 0.70), **dict.fromkeys(". ,:", 0.38), **dict.fromkeys("=+\u2212\u00d7", 0.84),
           "-": 0.42, "w": 0.93, "m": 1.05, "W": 1.11, "M": 1.0, "i": 0.35, "l": 0.35, "t": 0.49, "_": 0.5}
_DEFAULT_WIDTH = 0.78


def text_width(text: str, size: float) -> float:
    """At least the width of ``text`` drawn at ``size`` in the pictures' font (regular or bold)."""
    return size * sum(_WIDTHS.get(c, _DEFAULT_WIDTH) for c in text)


def text_height(size: float) -> float:
    return size * (ASCENT + DESCENT)


#: Presentation attributes by the element's part in a picture (CSS, where there is any, overrides them).
LOOK = {
    "edge": f'stroke="{PALETTE["line"]}" stroke-width="1.4" fill="none"',
    "hit": 'stroke="transparent" stroke-width="14"',
    "arrow": f'fill="{PALETTE["line"]}"',
    "neuron": f'fill="{PALETTE["paper"]}" stroke="{PALETTE["ink"]}" stroke-width="2"',
    "box": f'fill="{PALETTE["panel"]}" stroke="{PALETTE["ink"]}" stroke-width="1.3"',
    "label": f'{_TEXT} font-size="{SIZE["label"]}"',
    "name": f'{_TEXT} font-size="{SIZE["name"]:g}" font-weight="600"',
    "value": f'{_TEXT.replace(PALETTE["ink"], PALETTE["muted"])} font-size="{SIZE["value"]}"',
    "dots": f'{_TEXT} font-size="26"',
    "axis": f'stroke="{PALETTE["ink"]}"',
    "grid": f'stroke="{PALETTE["grid"]}"',
    "curve": 'fill="none" stroke-width="2.2"',
    "tick": f'font-family="{FONT}" font-size="12" fill="{PALETTE["ink"]}" text-anchor="middle"',
    "tick-y": f'font-family="{FONT}" font-size="12" fill="{PALETTE["ink"]}" text-anchor="end"',
    "axis-label": f'font-family="{FONT}" font-size="12" fill="{PALETTE["muted"]}" text-anchor="middle"',
    "legend": f'font-family="{FONT}" font-size="12" fill="{PALETTE["ink"]}"',
}


def backdrop(x: float, y: float, width: float, height: float) -> str:
    """The picture's own light ground (readable on a dark notebook theme too)."""
    return (f'<rect class="backdrop" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" rx="8" '
            f'fill="{PALETTE["paper"]}"/>')


def css_variables() -> str:
    """The palette as the page's custom properties (``--ink: #1b1f24; …``)."""
    return " ".join(f"--{name}: {colour};" for name, colour in PALETTE.items())
