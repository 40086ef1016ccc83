"""Loss curves of training runs as inline SVG: E_total against the step, on a log scale when every
value is positive (the error falls by orders of magnitude), one polyline a run, with axes and a
legend. The points are the runs' recorded histories (`derive.derivation.training.TrainingRun`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from derive.escape import html_text
from derive.model.decimals import fmt
from derive.render.look import LOOK, backdrop

if TYPE_CHECKING:
    from derive.derivation.training import TrainingRun

WIDTH, HEIGHT = 640.0, 300.0
LEFT, RIGHT, TOP, BOTTOM = 72.0, 30.0, 16.0, 44.0
COLOURS = ("#1f5fa8", "#c2410c", "#15803d", "#7e22ce")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = (high - low) / (count - 1) if high > low else 1.0
    return [low + k * step for k in range(count)]


def loss_curves(runs: list[tuple[str, TrainingRun]], caption: str) -> str:
    """``runs``: (label, TrainingRun) pairs, each with a history of (step, E_total) points."""
    points = [(s, e) for _, run in runs for s, e in run.history]
    if not points:
        return ""
    log = all(e > 0 for _, e in points)
    scale = (lambda e: math.log10(e)) if log else (lambda e: e)
    steps = max(s for s, _ in points) or 1
    low, high = min(scale(e) for _, e in points), max(scale(e) for _, e in points)
    if log:
        low, high = math.floor(low), math.ceil(high)
    if high == low:
        high = low + 1

    def x(step):
        return LEFT + (WIDTH - LEFT - RIGHT) * step / steps

    def y(e):
        return TOP + (HEIGHT - TOP - BOTTOM) * (high - scale(e)) / (high - low)

    axis = LOOK["axis"]
    parts = [backdrop(0, 0, WIDTH, HEIGHT),
             f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
             f"{axis}/>",
             f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" {axis}/>']
    for t in _ticks(0, steps):
        parts.append(f'<text class="tick" x="{x(t):.1f}" y="{HEIGHT - BOTTOM + 16}" {LOOK["tick"]}>{round(t)}</text>')
    levels = range(int(low), int(high) + 1) if log else _ticks(low, high)
    for level in levels:
        value = 10.0**level if log else level
        ty = TOP + (HEIGHT - TOP - BOTTOM) * (high - level) / (high - low)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{ty:.1f}" x2="{WIDTH - RIGHT}" y2="{ty:.1f}" {LOOK["grid"]}/>'
                     f'<text class="tick y" x="{LEFT - 6}" y="{ty + 4:.1f}" {LOOK["tick-y"]}>'
                     f'{fmt(value, 2) if not log else f"1e{level}"}</text>')
    parts.append(f'<text class="axis-label" x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{HEIGHT - 6}" '
                 f'{LOOK["axis-label"]}>step</text>')
    parts.append(f'<text class="axis-label" transform="translate(14 {(TOP + HEIGHT - BOTTOM) / 2:.1f}) rotate(-90)" '
                 f'{LOOK["axis-label"]}>'
                 f"E_total{' (log scale)' if log else ''}</text>")
    for k, (label, run) in enumerate(runs):
        colour = COLOURS[k % len(COLOURS)]
        line = " ".join(f"{x(s):.1f},{y(e):.1f}" for s, e in run.history)
        parts.append(f'<polyline class="curve" stroke="{colour}" {LOOK["curve"]} points="{line}">'
                     f"<title>{html_text(label)}</title></polyline>")
        ly = TOP + 14 + 18 * k
        parts.append(f'<line x1="{WIDTH - 340}" y1="{ly - 4}" x2="{WIDTH - 316}" y2="{ly - 4}" stroke="{colour}" '
                     f'stroke-width="3"/><text class="legend" x="{WIDTH - 310}" y="{ly}" {LOOK["legend"]}>'
                     f"{html_text(label)}</text>")
    return (f'<svg class="plot" viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}" role="img" aria-label="{html_text(caption)}">'
            + "".join(parts) + "</svg>")
