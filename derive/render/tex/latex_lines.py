"""Rows too wide for the page, broken into lines: a right side's width estimated as TeX sets it (a
fraction its wider part, a matrix its widest row), and where it passes the text width, its sum broken at
its terms, a product at its factors, a single factor's parenthesized sum inside its parentheses. Used by
`derive.render.tex.latex_rows.align`, the one printer of align blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator

#: The most glyphs (`glyphs`) a line's right side holds before its sum is broken: about the text width
#: less the left side's, at 10 pt.
LINE_GLYPHS = 62


def _group(tex: str, k: int) -> int:
    """Where the brace group opening at ``tex[k]`` closes (past its ``}``)."""
    depth = 0
    for j in range(k, len(tex)):
        depth += {"{": 1, "}": -1}.get(tex[j], 0)
        if depth == 0:
            return j + 1
    return len(tex)


def glyphs(tex: str) -> int:
    """About how many glyphs of math ``tex`` sets side by side: a fraction its wider part, a command one glyph
    (``\\left`` and ``\\right`` none), braces, script marks and spaces none."""
    matrix = re.search(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", tex, re.S)
    if matrix:  # its widest row, its cells side by side
        wide = max(sum(glyphs(cell) + 1 for cell in row.split("&")) for row in matrix[1].split(r"\\"))
        return glyphs(tex[:matrix.start()]) + wide + glyphs(tex[matrix.end():])
    at = tex.find(r"\frac{")
    if at >= 0:
        top = _group(tex, at + 5)
        bottom = _group(tex, top)
        wide = max(glyphs(tex[at + 6:top - 1]), glyphs(tex[top + 1:bottom - 1]))
        return glyphs(tex[:at]) + wide + glyphs(tex[bottom:])
    plain = re.sub(r"\\(?:left|right)\b", "", tex)
    plain = re.sub(r"\\mathrm\{([^}]*)\}", r"\1", plain)
    plain = re.sub(r"\\[a-zA-Z]+", "x", plain)
    return len(re.sub(r"[{}_^ ]", "", plain))


OPENS, CLOSES = (r"\left", r"\begin", "{"), (r"\right", r"\end", "}")  # a group's opening and closing


def _depths(tex: str, start: int = 0) -> Iterator[tuple[int, int, int]]:
    """Each position of ``tex`` from ``start``: (the position, the depth of the groups open there, braces,
    \\left ... \\right and \\begin ... \\end, counted from ``start``; +1 where a group opens, -1 where one
    closes, else 0). The one walk of both `_terms` and `_parenthesized`."""
    depth = 0
    for k in range(start, len(tex)):
        step = 1 if tex.startswith(OPENS, k) else -1 if tex.startswith(CLOSES, k) else 0
        depth += step
        yield k, depth, step


def _terms(tex: str, joins: tuple[str, ...] = (" + ", " - ")) -> list[str]:
    """``tex`` cut before each of ``joins`` at its top level (outside braces and \\left ... \\right), each
    piece keeping its operator: a sum's terms (or, with `PRODUCT`, a product's factors)."""
    pieces, start = [], 0
    for k, depth, step in _depths(tex):
        if not step and not depth and tex.startswith(joins, k) and k > start:
            pieces.append(tex[start:k])
            start = k + 1
    return [*pieces, tex[start:]]


PRODUCT = (r" \cdot ",)  # a product's operator as the rows print it


def _filled(terms: list[str], room: int) -> list[str]:
    """``terms`` set one after the other, a new line where the next would pass ``room`` glyphs."""
    lines = [""]
    for term in terms:
        if lines[-1] and glyphs(lines[-1] + term) > room:
            lines.append("")
        lines[-1] = f"{lines[-1]} {term}".strip() if lines[-1] else term
    return lines


def _parenthesized(tex: str) -> tuple[int, int] | None:
    """Where the first ``\\left( ... \\right)`` of ``tex`` opens and closes (the close's start)."""
    start = tex.find(r"\left(")
    if start < 0:
        return None
    return next(((start, k) for k, depth, step in _depths(tex, start) if step < 0 and not depth), None)


def _stacked(rhs: str) -> str | None:
    """A right side that is one fraction whose numerator is a sum too wide (a batch's variance,
    Σ (x − μ)² / N), its numerator's terms set in lines over the denominator, each further line indented as
    the rows' are; None for any other side."""
    if not rhs.startswith(r"\frac{"):
        return None
    top = _group(rhs, len(r"\frac"))
    if _group(rhs, top) != len(rhs):
        return None
    lines = _filled(_terms(rhs[len(r"\frac{"):top - 1]), LINE_GLYPHS)
    if len(lines) < 2:
        return None
    return rf"\frac{{\begin{{array}}{{l}} {lines[0]} \\ " + r" \\ ".join(rf"\quad {line}" for line in lines[1:]) + (
        rf" \end{{array}}}}{rhs[top:]}")


def broken(rhs: str) -> list[str]:
    """A right side too wide for the page, its sum broken into lines (each after the first starting with
    its sign); a product at its factors (each further line starting with its dot); a fraction's numerator
    stacked in lines (`_stacked`); a single factor whose
    parentheses hold a sum (d/dw (...)), inside them, each line's parenthesis closed and opened with
    LaTeX's null delimiter; a side that fits, or of one factor and no sum, as it is."""
    if glyphs(rhs) <= LINE_GLYPHS:
        return [rhs]
    for pieces in (_terms(rhs), _terms(rhs, PRODUCT)):  # a sum's terms, else a product's factors
        if len(pieces) > 1:
            return _filled(pieces, LINE_GLYPHS)
    stacked = _stacked(rhs)
    if stacked is not None:
        return [stacked]
    group = _parenthesized(rhs)
    inner = _terms(rhs[group[0] + len(r"\left("):group[1]]) if group is not None else []
    if group is None or len(inner) < 2:  # one factor, no sum within: as it is
        return [rhs]
    start, end = group
    lines = _filled(inner, LINE_GLYPHS - glyphs(rhs[:start]))
    lines = [rf"\left. {line} \right." for line in lines]
    lines[0] = rhs[:start + len(r"\left(")] + lines[0].removeprefix(r"\left. ")
    lines[-1] = lines[-1].removesuffix(r" \right.") + rhs[end:]
    return lines
