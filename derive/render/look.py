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

#: Presentation attributes by the element's part in a picture (CSS, where there is any, overrides them).
LOOK = {
    "edge": f'stroke="{PALETTE["line"]}" stroke-width="1.4" fill="none"',
    "hit": 'stroke="transparent" stroke-width="14"',
    "arrow": f'fill="{PALETTE["line"]}"',
    "neuron": f'fill="{PALETTE["paper"]}" stroke="{PALETTE["ink"]}" stroke-width="2"',
    "box": f'fill="{PALETTE["panel"]}" stroke="{PALETTE["ink"]}" stroke-width="1.3"',
    "label": f'{_TEXT} font-size="12.5"',
    "name": f'{_TEXT} font-size="14" font-weight="600"',
    "value": f'{_TEXT.replace(PALETTE["ink"], PALETTE["muted"])} font-size="11.5"',
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
