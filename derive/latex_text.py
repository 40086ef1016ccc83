"""Small LaTeX text helpers: escaping free text, and numbers as LaTeX."""

from __future__ import annotations

import sympy as sp

from .numbers import fmt, round_sig

_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
}


def escape(text: str) -> str:
    """Free text (a title, a name) as LaTeX that typesets literally and can run no command.
    Characters pdfLaTeX's fonts do not have become '?'."""
    return "".join(_SPECIAL.get(c, c if 32 <= ord(c) < 127 or 160 <= ord(c) < 256 else "?") for c in text)


def exact_decimal(value, digits: int) -> str | None:
    """A rational with a short terminating decimal expansion, written exactly (0.15, not 0.150000000)."""
    if not isinstance(value, sp.Rational):
        return None
    q = int(value.q)
    twos = fives = 0
    while q % 2 == 0:
        q //= 2
        twos += 1
    while q % 5 == 0:
        q //= 5
        fives += 1
    places = max(twos, fives)
    if q != 1 or places > digits:
        return None
    text = f"{int(value.p) * 10**places // int(value.q):d}"
    negative = text.startswith("-")
    text = text.lstrip("-").rjust(places + 1, "0")
    body = f"{text[:-places]}.{text[-places:]}" if places else text
    return ("-" if negative else "") + body


def short_decimal(value, digits: int) -> str | None:
    """A high-precision value that is a short decimal to 30 significant digits (0.3775 computed as
    0.05 * 0.15 + ...), written as that decimal."""
    d = round_sig(value, 30)
    if not d.is_finite() or d == 0:
        return None
    d = d.normalize()
    if len(d.as_tuple().digits) > digits or not -6 <= d.adjusted() < digits:
        return None
    return f"{d:f}"


def number(value, digits: int) -> str:
    """A value as LaTeX: exact when it is a short decimal, else to ``digits`` significant digits."""
    text = exact_decimal(value, digits) or short_decimal(value, digits) or fmt(value, digits)
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text
