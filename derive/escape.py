"""Making text from outside (file names, titles, names, claims) safe where it lands: one function per
output language, and the only place that knows that language's special characters. A utility: it
imports nothing of derive, so every layer can use it (the spec's messages name a file, too).

Every renderer passes outside text through these before it reaches a template or a file; templates
never receive raw input. Each function's result, placed where its name says, can only ever read as
the literal text: it ends no comment, closes no string, runs no command.
"""

from __future__ import annotations

import html
import json
import unicodedata

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
}


def _printable(c: str) -> bool:
    return c == " " or not unicodedata.category(c).startswith(("C", "Z"))


def python_comment(text: str) -> str:
    """Text for a ``#`` comment: one line, every non-printable character (a newline, U+2028) written
    as its escape, as ``repr`` writes it."""
    return "".join(c if _printable(c) else repr(c)[1:-1] for c in text)


def python_string(text: str) -> str:
    """A Python string literal of the text, in double quotes (ruff's style)."""
    body = repr(text)[1:-1]
    if repr(text).startswith("'"):
        body = body.replace('"', '\\"')
    return f'"{body}"'


def latex_text(text: str) -> str:
    """Text that typesets literally in LaTeX and can run no command. Characters pdfLaTeX's fonts do
    not have become '?'; control characters (a newline) become spaces."""
    def one(c: str) -> str:
        if c in _LATEX_SPECIAL:
            return _LATEX_SPECIAL[c]
        if ord(c) < 32 or 127 <= ord(c) < 160:
            return " "
        return c if ord(c) < 256 else "?"
    return "".join(one(c) for c in text)


def latex_comment(text: str) -> str:
    """Text for a ``%`` comment: one line."""
    return "".join(c if 32 <= ord(c) != 127 else " " for c in text)


def html_text(text: str) -> str:
    """Text for HTML element content or a quoted attribute value."""
    return html.escape(text, quote=True)


def html_comment(text: str) -> str:
    """Text for an HTML comment, one line, which must not contain ``--`` nor end in ``-``."""
    return html.escape(python_comment(text), quote=True).replace("-", "&#45;")


def script_json(value) -> str:
    """JSON for inside a ``<script>`` element: no ``</script>``, ``<!--`` or line separator can end it."""
    text = json.dumps(value, ensure_ascii=True, sort_keys=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def c_comment(text: str) -> str:
    """Text for a C ``/* */`` comment: printable ASCII only (others as <U+XXXX>), no ``*/``, no
    backslash (a line splice) and no ``??`` (a trigraph)."""
    out = "".join(c if 32 <= ord(c) < 127 and c != "\\" else f"<U+{ord(c):04X}>" for c in text)
    while "*/" in out or "??" in out:
        out = out.replace("*/", "* /").replace("??", "? ?")
    return out


def c_string(text: str) -> str:
    """A C string literal of the text's UTF-8 bytes: octal escapes (hex ones are greedy in C) for
    anything but printable ASCII, and ``?`` escaped so that no trigraph forms."""
    parts = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c in '"\\?':
            parts.append("\\" + c)
        elif 32 <= b < 127:
            parts.append(c)
        else:
            parts.append(f"\\{b:03o}")
    return '"' + "".join(parts) + '"'


def text_line(text: str) -> str:
    """Text for one line of a plain-text report: control characters shown as escapes."""
    return python_comment(text)
