"""A PrairieLearn question's texts: ``question.html`` (a Mustache template over ``data["params"]``, one
``pl-number-input`` per asked value) and the parts of a variant that go in its params: the network
as a diagram (the values to compute shown as "?"), the given values as a table (for screen readers
too), and the question's opening line.

PrairieLearn renders ``question.html`` with Mustache first and then its elements, so an input's
``digits`` can come from the variant's params: each value is asked to the decimals its variant
needs (`derive.teaching.exercise.questions`), and ``comparison="decdig"`` with those digits makes the
element's own verdict (shown before ``server.py``'s ``grade`` runs, and in the correct answer's
format) the exercise's tolerance, not the default 1% that accepts the update taken with +. The
question's ``grade`` decides every part's score afterwards (`derive.teaching.prairielearn`).
"""

from __future__ import annotations

import re

from derive.escape import html_text
from derive.model import quantities as Q
from derive.model.layers import shape
from derive.render.quiz.quiz_values import given_rows
from derive.render.web.svg import NetworkPicture

UNKNOWN = "?"


def answer_name(quantity) -> str:
    """A PrairieLearn answers-name for a quantity (letters, digits and _): dE_total/dw1 ->
    dE_total_dw1, w1+ -> w1_updated, out_o1[2] -> out_o1_s2."""
    text = str(quantity).replace("+", "_updated").replace("[", "_s").replace("]", "").replace("@", "_after")
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def answer_names(quantities) -> list[str]:
    names = [answer_name(q) for q in quantities]
    if len(set(names)) != len(names):  # two quantities whose names differ only in punctuation
        names = [f"q{i:02d}_{n}" for i, n in enumerate(names, start=1)]
    return names


class _QuestionPicture(NetworkPicture):
    """The network's diagram with every computed value (outs past the inputs, E_total) a "?"."""

    def number(self, q: Q.Quantity, css: str = "v") -> str:
        if q == Q.TOTAL_ERROR or q.kind == Q.OUT:
            return f'<tspan class="{css}">{UNKNOWN}</tspan>'
        return super().number(q, css)


def diagram(model) -> str:
    values = model.evaluation.samples[0]
    picture = _QuestionPicture(model.network, key=str, value=lambda q: values[q], digits=6)
    return picture.render(f"the network {model.spec.name}: its inputs, weights, biases and targets")


def given_table(spec) -> str:
    rows = given_rows(spec)
    body = "".join(f"<tr><td><code>{html_text(a)}</code></td><td>{html_text(b)}</td></tr>" for a, b in rows)
    return f'<table class="table table-sm w-auto"><caption>The given values</caption>{body}</table>'


def intro(spec) -> str:
    return (f"{html_text(spec.title)}: layers {html_text(shape(spec))}, activations "
            f"{html_text(', '.join(spec.activations))}, loss {html_text(spec.loss)}, bias {html_text(spec.bias)}; "
            "net = sum of w times out, plus the bias; delta = dE_total/dnet; w+ = w - eta dE_total/dw.")


def question_html(quantities, header: str) -> str:
    """The template: the variant's text from its params, then one input per asked value, each with its
    label and its decimals (the input shows its own feedback: ``partial_scores[name]["feedback"]``);
    the grade's summary in the submission panel."""
    inputs = []
    for q, name in zip(quantities, answer_names(quantities), strict=True):
        inputs.append(
            f'<pl-number-input answers-name="{name}" label="{html_text(str(q))} =" comparison="decdig" '
            f'digits="{{{{params.decimals.{name}}}}}" allow-fractions="false" '
            f'suffix="({{{{params.decimals.{name}}}}} decimals)"></pl-number-input>')
    return (
        f"<!-- {header} -->\n"
        "<pl-question-panel>\n"
        "<p>{{{params.intro}}}</p>\n"
        "<div>{{{params.diagram}}}</div>\n"
        "{{{params.given}}}\n"
        "<p>Compute one step of backpropagation and give each value correctly rounded to the decimals asked.</p>\n"
        "</pl-question-panel>\n"
        + "\n".join(inputs) + "\n"
        "<pl-submission-panel>\n"
        "{{#feedback.summary}}<p>{{feedback.summary}}</p>{{/feedback.summary}}\n"
        "</pl-submission-panel>\n"
    )
