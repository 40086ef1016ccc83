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
import re
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


# The characters XML 1.0 does not allow at all: control characters but tab, newline and carriage
# return; lone surrogates; U+FFFE and U+FFFF. With HTML's, also U+007F to U+009F (parse errors there).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_HTML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _markup_characters(text: str, controls: bool = False) -> str:
    """The text with the characters XML 1.0 does not allow at all (control characters but tab, newline
    and carriage return; lone surrogates; U+FFFE, U+FFFF) replaced by U+FFFD; with ``controls``
    also U+007F to U+009F, which HTML counts as parse errors. One regular expression (the page
    escapes some 50,000 short strings: character by character this took 0.3 s of a 64-64-64 page)."""
    return (_NOT_HTML if controls else _NOT_XML).sub("\ufffd", text)


_HTML_UNSAFE = re.compile(f"[&<>\"'{_NOT_HTML.pattern[1:-1]}]")  # what html_text changes


def html_text(text: str) -> str:
    """Text for HTML element content or a quoted attribute value: escaped, and the characters that
    XML forbids (and HTML's control characters) replaced by U+FFFD, so that an XHTML or XML reader
    of the page (a quiz importer) parses it too. (Most texts need neither: one search finds that.)"""
    if not _HTML_UNSAFE.search(text):
        return text
    return html.escape(_markup_characters(text, controls=True), quote=True)


def html_comment(text: str) -> str:
    """Text for an HTML comment, one line, which must not contain ``--`` nor end in ``-``."""
    return html.escape(python_comment(text), quote=True).replace("-", "&#45;")


def script_json(value) -> str:
    """JSON for inside a ``<script>`` element: no ``</script>``, ``<!--`` or line separator can end it."""
    text = json.dumps(value, ensure_ascii=True, sort_keys=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def c_comment(text: str) -> str:
    """Text for a C ``/* */`` comment: printable ASCII only (others as <U+XXXX>), no ``*/``, no ``/*``
    (a warning, an error in the README's strict compile), no backslash (a line splice) and no ``??``
    (a trigraph)."""
    out = "".join(c if 32 <= ord(c) < 127 and c != "\\" else f"<U+{ord(c):04X}>" for c in text)
    while "*/" in out or "/*" in out or "??" in out:
        out = out.replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?")
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


_C_KEYWORDS = frozenset({
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
    "volatile", "while", "_Bool", "_Complex", "_Imaginary",
})


def c_identifier(text: str) -> str:
    """A C identifier made from the text: ASCII letters, digits and _ kept, any other character as
    ``_xHH_`` (its UTF-8 bytes), a leading digit or a keyword prefixed with ``_`` -- never a macro
    or a string, so nothing can be injected."""
    out = "".join(c if (c.isascii() and (c.isalnum() or c == "_")) else "".join(f"_x{b:02X}_" for b in c.encode())
                  for c in text) or "_"
    return "_" + out if out[0].isdigit() or out in _C_KEYWORDS else out


MAX_QUOTED = 40  # characters of a user's text quoted in one message
MAX_PATH = 120  # characters of a file's path quoted in one message


def excerpt(text: object, limit: int = MAX_QUOTED) -> str:
    """``text`` if short, else its start and end around an ellipsis and its length."""
    text = str(text)
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return f"{text[:half]}…{text[-half:]} ({len(text)} characters)"


def quoted(text) -> str:
    """``text`` as Python quotes it, or an excerpt of that: the one way a message quotes a user's name,
    line, path or value (a 100 KB optimizer name is not a message)."""
    return excerpt(repr(str(text)))


def path_text(path) -> str:
    """A file's path or name as a message quotes it: one line, an excerpt of a long one."""
    return excerpt(text_line(str(path)), MAX_PATH)


def text_line(text: str) -> str:
    """Text for one line of a plain-text report: control characters shown as escapes."""
    return python_comment(text)


def toml_string(text: str) -> str:
    """A TOML basic string of the text, in double quotes: quote and backslash escaped, and every
    control character (which TOML does not allow raw, a newline among them) as a \\uXXXX escape."""
    def one(c: str) -> str:
        if c in '"\\':
            return "\\" + c
        if 0xD800 <= ord(c) < 0xE000:  # a lone surrogate is no character: UTF-8 cannot hold it
            return "\\uFFFD"
        return f"\\u{ord(c):04X}" if ord(c) < 32 or ord(c) == 127 else c
    return '"' + "".join(one(c) for c in text) + '"'


def xml_text(text: str) -> str:
    """Text for XML element content or a double-quoted attribute value: & < > " escaped, and the
    characters XML 1.0 does not allow at all (control characters but tab, newline and carriage
    return; lone surrogates; U+FFFE, U+FFFF) replaced by U+FFFD."""
    clean = _markup_characters(text)
    return clean.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def xml_comment(text: str) -> str:
    """Text for an XML comment, one line, which must not contain ``--`` nor end in ``-``."""
    out = xml_text(python_comment(text))
    while "--" in out:
        out = out.replace("--", "- -")
    return out + " " if out.endswith("-") else out


def cloze_html(text: str) -> str:
    """Text for the HTML of a Moodle Cloze question: HTML-escaped, and the braces written as
    character references, so that no text can open an embedded answer ``{1:NUMERICAL:...}``."""
    return html_text(text).replace("{", "&#123;").replace("}", "&#125;")


def csv_text(text: str) -> str:
    """A CSV cell of outside text that a spreadsheet shows as text, never runs as a formula (a cell
    starting with = + - @ or a tab gets a leading apostrophe); the csv module does the quoting."""
    text = python_comment(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
