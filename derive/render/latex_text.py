"""Small LaTeX text helpers: escaping free text, and numbers as LaTeX."""

from __future__ import annotations

from derive.model.decimals import plain

_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
}


def escape(text: str) -> str:
    """Free text (a title, a name) as LaTeX that typesets literally and can run no command.
    Characters pdfLaTeX's fonts do not have become '?'."""
    return "".join(_SPECIAL.get(c, c if 32 <= ord(c) < 127 or 160 <= ord(c) < 256 else "?") for c in text)


def number(value, digits: int) -> str:
    """A value as LaTeX: exact when it is a short decimal, else to ``digits`` significant digits."""
    text = plain(value, digits)
    if text in ("inf", "-inf", "nan"):
        return {"inf": r"\infty", "-inf": r"-\infty", "nan": r"\text{NaN}"}[text]
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text
