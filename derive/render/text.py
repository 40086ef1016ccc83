"""Plain text for a terminal: the table of every number (``derive gradients``), built as rows (data)
first and printed as text or JSON, and explanation rows (`derive.derivation.explain`) as lines."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp
from sympy.printing.precedence import precedence
from sympy.printing.str import StrPrinter

from derive.derivation.evaluate import training_settings
from derive.derivation.explain import DIFFERENTIATE, NAMES, NUMBERS, VALUE, Explanation
from derive.derivation.steps import ERROR, FORWARD, GRADIENTS
from derive.escape import text_line
from derive.model import quantities as Q
from derive.model.decimals import fmt, json_value, plain
from derive.model.layers import activations, biases, place, shape
from derive.render import sums
from derive.render.tex.latex_rows import negated_product

if TYPE_CHECKING:  # a mixin's super() is, at run time, the SymPy printer class placed after it
    from sympy.printing.printer import Printer as _PrinterBase
else:
    _PrinterBase = object


@dataclass(frozen=True)
class Row:
    section: str
    quantity: Q.Quantity
    value: object  # high-precision value, or the exact number the spec gives
    given: bool = False  # from the spec: printed exactly as given


def _backward_layer(network, q: Q.Quantity) -> int:
    """The layer a backward-pass quantity belongs to: that of the neuron or parameter it is taken
    with respect to (dnet_o1/dout_h1 belongs to h1's layer), or of its own neuron (delta_o1)."""
    subject = q.variable if q.is_partial else q
    if subject.is_parameter:
        return network.parameter[subject.name].layer
    return network.layer_of[subject.name]


def rows(model, trained: Mapping[Q.Quantity, object]) -> list[Row]:
    """Every number of one step: initial values, forward pass, error, the backward pass layer by layer
    with every chain-rule factor the article names, the gradients, the parameters after one step, and
    the errors and outputs after the spec's training steps (``trained``: the values of
    `training_quantities`, computed by the caller)."""
    evaluation, derivation, network = model.evaluation, model.derivation, model.network
    several = len(evaluation.samples) > 1
    out = []
    for s, values in enumerate(evaluation.samples):
        def tag(q, s=s):
            return q.at_sample(s) if several else q

        suffix = f" (sample {s + 1})" if several else ""
        given = network.sample_values(s)  # one dict a sample: it holds every parameter too
        for q in [Q.out(i) for i in network.inputs] + [Q.target(o) for o in network.outputs]:
            out.append(Row(f"inputs and targets{suffix}", tag(q), given[q], given=True))
        for phase in (FORWARD, ERROR):
            out += [Row(f"{phase.description}{suffix}", tag(st.quantity), values[st.quantity])
                    for st in derivation.steps if st.phase == phase and st.quantity.kind != Q.TEMPORARY]
        backward = [
            st
            for st in derivation.steps
            if st.phase not in (FORWARD, ERROR, GRADIENTS) and st.quantity.kind != Q.TEMPORARY
        ]
        for k in range(network.depth, 0, -1):
            role = "output layer" if k == network.depth else f"hidden layer {k}"
            out += [Row(f"backward pass: {role}{suffix}", tag(st.quantity), values[st.quantity]) for st in backward
                    if _backward_layer(network, st.quantity) == k]
    totals = evaluation.totals
    reduction = f" ({network.spec.reduction} over {len(evaluation.samples)} samples)" if several else ""
    if several:
        out.append(Row(f"total error{reduction}", Q.TOTAL_ERROR, totals[Q.TOTAL_ERROR]))
    out += [Row(f"gradients{reduction}", Q.gradient(p.name), totals[Q.gradient(p.name)]) for p in network.parameters]
    settings = training_settings(network.spec)
    out += [Row(f"after one step: {settings.describe()}", p.quantity.with_update(), totals[p.quantity.with_update()])
            for p in network.parameters if not (settings.freeze_biases and p.kind == Q.BIAS)]
    return out + training_rows(model, trained)


def training_quantities(spec, network) -> list[Q.Quantity]:
    """What the table prints after the spec's training steps: E_total after the first and the last,
    and the outputs then (the article's last numbers); none without steps."""
    steps = spec.steps
    if not steps:
        return []
    several = len(spec.samples) > 1
    wanted = [Q.TOTAL_ERROR.after_steps(1), Q.TOTAL_ERROR.after_steps(steps)]
    wanted += [Q.out(o).at_sample(s if several else None).after_steps(steps)
               for s in range(len(spec.samples)) for o in network.outputs]
    return list(dict.fromkeys(wanted))


def training_rows(model, trained: Mapping[Q.Quantity, object]) -> list[Row]:
    """The rows of `training_quantities`, with their values in ``trained`` (float64, as the generated
    module trains)."""
    wanted = training_quantities(model.spec, model.network)
    if not wanted:
        return []
    biases = any(p.kind == Q.BIAS for p in model.network.parameters)
    frozen = ", biases frozen" if training_settings(model.spec).freeze_biases and biases else ""
    section = f"after training (float64{frozen})"
    return [Row(section, q, trained[q]) for q in wanted]


def initial_rows(model) -> list[Row]:
    network = model.network
    return [Row("initial values", p.quantity, p.value, given=True) for p in network.parameters] + [
        Row("initial values", Q.LEARNING_RATE, network.spec.learning_rate, given=True)]


def shown(r: Row, digits: int) -> str:
    """A row's value as text: exactly as the spec gives it, else to ``digits`` significant digits."""
    return plain(r.value, digits) if r.given else fmt(r.value, digits)


def _table(table: list[Row], digits: int) -> list[str]:
    width = max(len(str(r.quantity)) for r in table) + 2
    lines, section = [], None
    for r in table:
        if r.section != section:
            section = r.section
            lines += ["", section]
        lines.append(f"  {r.quantity!s:<{width}}{shown(r, digits)}")
    return lines


def text(model, digits: int, trained: Mapping[Q.Quantity, object]) -> str:
    """The table of every number (``derive gradients``); ``trained``: as for `rows`."""
    spec = model.spec
    lines = [
        f"{spec.name}: {text_line(spec.title)}",
        (f"layers {shape(spec)}; activations {activations(spec)}; loss {spec.loss}; {biases(spec)}; "
         f"values to {digits} significant digits"),
    ]
    lines += _table(initial_rows(model) + rows(model, trained), digits)
    return "\n".join(lines) + "\n"


def as_json(model, digits: int, trained: Mapping[Q.Quantity, object]) -> str:
    spec = model.spec
    return (
        json.dumps(
            {
                "network": spec.name,
                "title": spec.title,
                "digits": digits,
                "parameters": [{"name": p.name, **place(spec, p)} for p in model.network.parameters],
                "quantities": [
                    {
                        "section": r.section,
                        "quantity": str(r.quantity),
                        **json_value(r.value),
                        "text": shown(r, digits),
                    }
                    for r in initial_rows(model) + rows(model, trained)
                ],
            },
            indent=2,
        )
        + "\n"
    )


def chosen(values: list[tuple[Q.Quantity, object]], digits: int, as_json_output: bool) -> str:
    """Just the quantities asked for (``derive gradients --quantity``)."""
    if as_json_output:
        return (
            json.dumps([{"quantity": str(q), **json_value(v), "text": fmt(v, digits)} for q, v in values], indent=2)
            + "\n"
        )
    width = max(len(str(q)) for q, _ in values) + 2
    return "".join(f"{q!s:<{width}}{fmt(v, digits)}\n" for q, v in values)


# -- math as text ---------------------------------------------------------------------------------------
def positive_first(expr: sp.Add) -> list[sp.Expr]:
    """An Add's terms as a textbook writes them: the positive ones first (target - out, 1 - out)."""
    terms = list(expr.args)
    return [t for t in terms if not t.could_extract_minus_sign()] + [t for t in terms if t.could_extract_minus_sign()]


class TextbookOrder(_PrinterBase):
    """For a SymPy printer: sums in the textbook's order (`positive_first`). Put before the printer's
    class, so that ``super()`` is the printer."""

    def _print_Add(self, expr, order=None):
        return super()._print_Add(sp.Add(*positive_first(expr), evaluate=False), order="none")


class FloatLiterals:
    """For a code printer: every integer and rational as a float literal (``1.0 - out_h1``: float-float
    arithmetic, and no integer division in any target language)."""

    def _print_Rational(self, expr):
        return repr(float(expr))

    def _print_Integer(self, expr):
        return repr(float(expr))


class TextPrinter(TextbookOrder, StrPrinter):
    """Math as a learner types it: ``a * b``, terms in the textbook's order, each symbol by its
    quantity's name (``name``: full, or `derive.render.names.short`) or, with ``numbers``, by its
    value to ``digits`` digits."""

    def __init__(self, network, name=str, numbers=None, digits: int = 9, short: bool = False, keep=frozenset()):
        super().__init__({"order": "none"})
        self.network, self.name, self.numbers_of, self.digits = network, name, numbers, digits
        self.terms: set = set()  # the terms of the sum being printed
        self.short, self.keep = short, keep  # long sums as `derive.render.sums` writes them, keeping ``keep``'s

    def _print_Add(self, expr, order=None):
        """A sum; its own terms' minus signs are the sum's (0.4 - 0.5 * 0.08, not 0.4 - (0.5 * 0.08));
        with ``short``, a long one as its first terms, ..., its last (the terms holding ``keep`` kept)."""
        outer, self.terms = self.terms, set(expr.args)
        try:
            terms = positive_first(expr)
            if not self.short or len(terms) <= sums.LIMIT:
                return super()._print_Add(expr, order)
            positions = sums.shown(len(terms), [k for k, t in enumerate(terms) if t.free_symbols & self.keep])
            text = ""
            for i, k in enumerate(positions):
                term = terms[k] if k is not None else None
                if term is None:
                    text += " + ..."
                elif i and term.could_extract_minus_sign() and self.numbers_of is None:
                    text += " - " + self.parenthesize(-term, precedence(expr), strict=False)
                else:
                    text += (" + " if i else "") + self.parenthesize(term, precedence(expr), strict=False)
            return text
        finally:
            self.terms = outer

    def _print_Mul(self, expr):
        if self.numbers_of is not None and expr not in self.terms and (rest := negated_product(expr)) is not None:
            text = self._print(rest)
            if text[:1].isdigit():
                return f"-({text})"
        factors = sp.Mul.make_args(expr)
        sign = ""
        if factors[0] == -1:
            sign, factors = "-", factors[1:]
        over = [f.base for f in factors if f.is_Pow and f.exp == -1]  # a / b, not a * 1/b
        factors = [f for f in factors if not (f.is_Pow and f.exp == -1)] or [sp.S.One]
        text = " * ".join(self.parenthesize(f, precedence(expr), strict=False) for f in factors)
        return sign + text + "".join(f" / {self.parenthesize(b, precedence(expr), strict=True)}" for b in over)

    def _print_Function(self, expr):
        name = getattr(expr, "text_name", "") or expr.func.__name__
        args = (self._print_Symbol(a, bare=True) if a.is_Symbol else self._print(a) for a in expr.args)
        return f"{name}({', '.join(args)})"

    def _print_Piecewise(self, expr):
        """``(1 if a > b and a >= c else 0)``: a kink's or a max pooling window's convention, as Python
        writes a choice (the last branch's condition is true)."""
        text = self._print(expr.args[-1][0])
        for value, condition in reversed(expr.args[:-1]):
            parts = condition.args if isinstance(condition, sp.And) else (condition,)
            text = f"{self._print(value)} if {' and '.join(self._print(c) for c in parts)} else {text}"
        return f"({text})"

    def _print_Symbol(self, expr, bare: bool = False):
        """A name, or a number: a negative one in parentheses, except as a function's argument."""
        if self.numbers_of is None:
            return self.name(self.network.quantity_of[expr])
        text = plain(self.numbers_of[expr], self.digits)
        return f"({text})" if text.startswith("-") and not bare else text


def explanation_lines(network, explanation: Explanation, digits: int) -> list[str]:
    """``q = formula``, ``    = numbers``, ``    = value``: the rows of an explanation as text."""
    names = TextPrinter(network, short=True)
    lines = []
    for row in explanation.rows:
        if row.kind == NAMES:
            rhs = names.doprint(row.expr)
        elif row.kind == NUMBERS:
            rhs = TextPrinter(network, numbers=row.numbers, digits=digits, short=True).doprint(row.expr)
        elif row.kind == VALUE:
            rhs = plain(row.value, digits)
        elif row.kind == DIFFERENTIATE:
            picked = TextPrinter(network, short=True, keep=frozenset({network.symbol(row.wrt)}))
            rhs = f"d/d{row.wrt} ({picked.doprint(row.expr)})"
        else:
            raise ValueError(row.kind)
        if row.note:
            rhs += f"   ({row.note})"
        lines.append(f"{row.lhs} = {rhs}" if row.lhs is not None else f"    = {rhs}")
    return lines
