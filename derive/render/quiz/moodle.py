"""The exercises as a Moodle XML quiz and as a CSV table of answers.

Moodle XML (docs.moodle.org, "Moodle XML format"): a ``<quiz>`` of ``<question>`` elements, the XML
declaration on the first line; a ``category`` question puts the ones after it in a category. Each
variant is one ``cloze`` question (Embedded Answers): its HTML text carries one numerical
sub-question per asked value, ``{1:NUMERICAL:=VALUE:TOLERANCE}``, accepting VALUE ± TOLERANCE. The
HTML goes in a CDATA section, as the format's documentation recommends; every outside text in it is
escaped for HTML and for the Cloze syntax (`escape.cloze_html`), and the CDATA is split where it
would end. ``exercises`` are `derive.teaching.exercise.Exercise`-like: ``number``, ``spec``,
``questions`` (each ``quantity``, ``value``, ``decimals``, ``answer``, ``tolerance``, ``key``).
"""

from __future__ import annotations

import csv
import io

from derive.escape import cloze_html, csv_text, xml_comment, xml_text
from derive.model.decimals import fmt
from derive.model.layers import shape
from derive.render.quiz.quiz_values import fixed, given_rows


def numerical(q) -> str:
    """The value an answer is compared with (``q.key``: the exact value to six decimals past the ones
    asked; Moodle reads plain decimals), and the tolerance: half a unit of the last asked decimal."""
    return f"{{1:NUMERICAL:={fixed(q.key)}:{fixed(q.tolerance)}}}"


def question_html(exercise) -> str:
    spec = exercise.spec
    rows = given_rows(spec)
    table = "".join(f"<tr><td><code>{cloze_html(a)}</code></td><td>{cloze_html(b)}</td></tr>" for a, b in rows)
    activations = ", ".join(spec.activations)
    asked = "".join(
        f"<li><code>{cloze_html(str(q.quantity))}</code> to {q.decimals} decimals: {numerical(q)}</li>"
        for q in exercise.questions
    )
    return (
        f"<p>{cloze_html(spec.title)}: layers {cloze_html(shape(spec))}, activations "
        f"{cloze_html(activations)}, loss {cloze_html(spec.loss)}, bias {cloze_html(spec.bias)}; "
        "net = sum of w times out, plus the bias; delta = dE_total/dnet; w+ = w - eta dE_total/dw.</p>"
        f"<table>{table}</table>"
        "<p>Compute one step of backpropagation and give each value correctly rounded to the decimals asked.</p>"
        f"<ol>{asked}</ol>"
    )


def _cdata(html: str) -> str:
    return "<![CDATA[" + html.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def quiz(exercises, name: str, header_line: str) -> str:
    """The quiz: a category named after the network, then one Cloze question per variant."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f"<!-- {xml_comment(header_line)} -->", "<quiz>",
           '  <question type="category">',
           f"    <category><text>$course$/top/{xml_text(name)} exercises</text></category>",
           "  </question>"]
    for e in exercises:
        feedback = "".join(f"<li><code>{cloze_html(str(q.quantity))}</code> = {fixed(q.answer)}</li>"
                           for q in e.questions)
        out += [
            '  <question type="cloze">',
            f"    <name><text>{xml_text(name)} variant {e.number:02d}</text></name>",
            f'    <questiontext format="html"><text>{_cdata(question_html(e))}</text></questiontext>',
            f'    <generalfeedback format="html"><text>{_cdata(f"<ul>{feedback}</ul>")}</text></generalfeedback>',
            "    <penalty>0.3333333</penalty>",
            "    <hidden>0</hidden>",
            f"    <idnumber>{xml_text(name)}-v{e.number:02d}</idnumber>",
            "  </question>",
        ]
    return "\n".join([*out, "</quiz>"]) + "\n"


def answers_csv(exercises, header: str) -> str:
    """One row per variant and asked value: the answer to its decimals, the tolerance, the exact value
    to 30 significant digits. The header's comment lines come first (they say it is generated)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variant", "quantity", "answer", "decimals", "tolerance", "full_precision"])
    for e in exercises:
        for q in e.questions:
            writer.writerow([e.number, csv_text(str(q.quantity)), fixed(q.answer), q.decimals, fixed(q.tolerance),
                             fmt(q.value, 30)])
    return header + buffer.getvalue()
