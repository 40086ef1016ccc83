"""MathML primitives for the web page and the notebook: explanation rows (`derive.derivation.explain`)
printed by SymPy's MathML presentation printer, quantity names in MathML, and numbers that the page
can redraw.

The MathML sibling of `derive.render.tex.latex_rows.RowPrinter`: every formula is printed twice from the
same expression, once with each symbol's name and once with its value, so the two lines can never
disagree. Multi-letter names are upright (a multi-letter ``<mi>`` is upright in MathML, as
``\\mathrm`` is in the PDF). Each printed number is an element carrying ``data-value`` (the quantity
it is the value of, in the quantity grammar), so the page can redraw it when a weight is edited.
"""

from __future__ import annotations

from xml.dom.minidom import Document

import sympy as sp
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pretty.pretty_symbology import greek_unicode

from derive.derivation.explain import DIFFERENTIATE, NAMES, NUMBERS, VALUE, Explanation, Row
from derive.escape import html_text
from derive.model import quantities as Q
from derive.model.decimals import UNDECIDED, plain
from derive.model.functions import Registered
from derive.model.optimizers import SLOTS
from derive.render import sums
from derive.render.tex.latex_rows import negated_product, powered_fractions

ELLIPSIS = "\u22ef"
_WORDS = {Q.NET: "net", Q.OUT: "out", Q.TARGET: "target", Q.ERROR: "E", Q.DELTA: "\u03b4"}
PARTIAL_SIGN = "\u2202"


def _element(dom: Document, tag: str, *children, text: str | None = None, **attributes):
    node = dom.createElement(tag)
    if text is not None:
        node.appendChild(dom.createTextNode(text))
    for child in children:
        node.appendChild(child)
    for key, value in attributes.items():
        node.setAttribute(key.replace("_", "-"), value)
    return node


def _neuron(dom: Document, neuron: str):
    letter, layer, index = Q.neuron_parts(neuron)
    if layer is None:
        sub = _element(dom, "mn", text=str(index))
    else:
        sub = _element(dom, "mrow", _element(dom, "mn", text=str(layer)), _element(dom, "mo", text=","),
                       _element(dom, "mn", text=str(index)))
    return _element(dom, "msub", _element(dom, "mi", text=letter), sub)




def name(dom: Document, q: Q.Quantity, inline: bool = False, superscript_steps: bool = False):
    """A quantity's name as a MathML element, from its structure (as `names.latex` writes it); with
    ``superscript_steps`` a value after N training steps as X^(N), as in the PDF's training steps."""
    if q.after is not None and superscript_steps:
        inner = name(dom, q.after_steps(None), inline)
        if q.is_partial:
            inner = _element(dom, "mrow", _element(dom, "mo", text="("), inner, _element(dom, "mo", text=")"))
        step = _element(dom, "mrow", _element(dom, "mo", text="("), _element(dom, "mn", text=str(q.after)),
                        _element(dom, "mo", text=")"))
        return _element(dom, "msup", inner, step)
    if q.kind == Q.STATE:
        letter, accent = SLOTS[q.name].letter, SLOTS[q.name].accent
        symbol = _element(dom, "mi", text=letter, mathvariant="normal" if len(letter) > 1 else "italic")
        if accent:
            symbol = _element(dom, "mover", symbol, _element(dom, "mo", text=accent), accent="true")
        return _element(dom, "msub", symbol, name(dom, q.subject))
    if q.after is not None:
        return _element(dom, "mrow", name(dom, q.after_steps(None), inline),
                        _element(dom, "mtext", text=f"\u00a0{Q.after(q.after)}"))
    if q.updated:
        return _element(dom, "msup", name(dom, q.base), _element(dom, "mo", text="+"))
    if q.kind == Q.PARTIAL:
        top = _element(dom, "mrow", _element(dom, "mo", text=PARTIAL_SIGN), name(dom, q.subject))
        bottom = _element(dom, "mrow", _element(dom, "mo", text=PARTIAL_SIGN), name(dom, q.variable))
        if inline:
            return _element(dom, "mrow", top, _element(dom, "mo", text="/"), bottom)
        return _element(dom, "mfrac", top, bottom)
    if q.kind == Q.TOTAL:
        return _element(dom, "msub", _element(dom, "mi", text="E"), _element(dom, "mi", text="total"))
    if q.kind in _WORDS:
        return _element(dom, "msub", _element(dom, "mi", text=_WORDS[q.kind]), _neuron(dom, q.name))
    if q.kind == Q.INPUT:
        return _neuron(dom, q.name)
    if q.is_parameter:
        letter, index = Q.parameter_parts(q.name)
        return _element(dom, "msub", _element(dom, "mi", text=letter), _element(dom, "mn", text=str(index)))
    if q.kind == Q.RATE:
        return _element(dom, "mi", text="\u03b7")
    if q.kind == Q.HYPERPARAMETER:  # beta1, eps, lambda, mu: the Greek letter, its index a subscript
        letters = q.name.rstrip("0123456789")
        symbol = _element(dom, "mi", text="\u03b5" if letters == "eps" else greek_unicode.get(letters, letters))
        subscript = q.name[len(letters):]
        return _element(dom, "msub", symbol, _element(dom, "mn", text=subscript)) if subscript else symbol
    return _element(dom, "mi", text=q.name, mathvariant="normal")  # a temporary (max_o, lse_o, target_sum)


def function_name(latex_name: str) -> str:
    """A registered function's name for MathML, read off its LaTeX name (``\\sigma`` -> σ,
    ``\\operatorname{relu}`` -> relu, ``\\tanh`` -> tanh)."""
    text = latex_name.strip()
    if text.startswith(r"\operatorname{") and text.endswith("}"):
        return text[len(r"\operatorname{"):-1]
    text = text.lstrip("\\")
    return greek_unicode.get(text, text)


def number_element(dom: Document, value, digits: int, key: str | None, operand: bool = False):
    """A number the page can redraw: ``<mn>`` (or mantissa × 10^exponent) in an ``<mrow data-value>``.
    ``operand``: inside a formula, where a negative number goes in parentheses."""
    children = number_children(dom, plain(value, digits), operand)
    attributes = {"data_value": key} if key else {}
    if operand:
        attributes["class"] = "operand"
    return _element(dom, "mrow", *children, **attributes)


def number_children(dom: Document, text: str, operand: bool) -> list:
    if text in ("inf", "-inf", "nan", UNDECIDED):
        words = {"inf": "\u221e", "-inf": "-\u221e", "nan": "NaN", UNDECIDED: UNDECIDED}
        parts = [_element(dom, "mi", text=words[text])]
    elif "e" in text:
        mantissa, exponent = text.split("e")
        parts = [_element(dom, "mn", text=mantissa), _element(dom, "mo", text="\u00d7"),
                 _element(dom, "msup", _element(dom, "mn", text="10"), _element(dom, "mn", text=str(int(exponent))))]
    else:
        parts = [_element(dom, "mn", text=text)]
    if operand and text.startswith("-"):
        parts = [_element(dom, "mo", text="("), *parts, _element(dom, "mo", text=")")]
    return parts


def _starts_with_number(node) -> bool:
    while node.tagName == "mrow" and node.firstChild is not None:
        node = node.firstChild
    return node.tagName == "mn"


class _Printer(MathMLPresentationPrinter):
    """SymPy's MathML printer with every symbol as its quantity's name or, given ``values``, as its
    value (keyed for the page by ``key``), terms and factors in the order they are written."""

    def __init__(self, network, values=None, key=None, digits: int = 9, keep=frozenset(),
                 superscript_steps: bool = False):
        super().__init__({"order": "none", "mul_symbol": "dot", "ln_notation": True})
        self.network = network
        self.superscript_steps = superscript_steps
        self.values = values
        self.key = key or str
        self.digits = digits
        self.keep = keep
        self.bare = False  # printing a function's whole argument: a number there needs no parentheses

    def _print_Add(self, expr, order=None):
        """A sum, long ones shortened as `derive.render.sums` says (the terms holding ``keep`` kept)."""
        terms = list(expr.args)
        positions = sums.shown(len(terms), [k for k, t in enumerate(terms) if t.free_symbols & self.keep])
        if len(positions) == len(terms):
            return super()._print_Add(expr, order="none")
        mrow = self.dom.createElement("mrow")
        for i, k in enumerate(positions):
            if k is None:
                mrow.appendChild(_element(self.dom, "mo", text="+"))
                mrow.appendChild(_element(self.dom, "mo", text=ELLIPSIS))
                continue
            term = terms[k]
            if i == 0:
                mrow.appendChild(self._print(term))
                continue
            negative = term.could_extract_minus_sign()
            mrow.appendChild(_element(self.dom, "mo", text="-" if negative else "+"))
            mrow.appendChild(self._print(-term if negative else term))
        return mrow

    def _print_Mul(self, expr):
        rest = -expr
        if expr.could_extract_minus_sign() and rest.is_Add:  # -(t - o): SymPy's printer drops the parentheses
            return _element(self.dom, "mrow", _element(self.dom, "mo", text="-"),
                            self.parenthesize(rest, PRECEDENCE["Mul"]))
        if self.values is not None and (product := negated_product(expr)) is not None:
            printed = self._print(product)
            if _starts_with_number(printed):
                return _element(self.dom, "mrow", _element(self.dom, "mo", text="-"),
                                _element(self.dom, "mo", text="("), printed, _element(self.dom, "mo", text=")"))
        order = self._settings["order"]
        self._settings["order"] = "old"  # SymPy's printer keeps a Mul's own order only under "old"
        try:
            return super()._print_Mul(expr)
        finally:
            self._settings["order"] = order

    def _print_Pow(self, expr):
        """A partial derivative squared as (∂E/∂w)², not ∂E/∂w² (as the LaTeX printer does)."""
        if self.values is None and expr.base in powered_fractions(expr, self.network, self.superscript_steps):
            base = _element(self.dom, "mrow", _element(self.dom, "mo", text="("), self._print(expr.base),
                            _element(self.dom, "mo", text=")"))
            return _element(self.dom, "msup", base, self._print(expr.exp))
        return super()._print_Pow(expr)

    def _print_Symbol(self, sym, style="plain"):
        """A name, or a number: a negative one in parentheses (an operand), except as a function's argument."""
        q = self.network.quantity_of[sym]
        if self.values is None:
            return name(self.dom, q, superscript_steps=self.superscript_steps)
        return number_element(self.dom, self.values[sym], self.digits, self.key(q), operand=not self.bare)

    def _print_Function(self, expr):
        previous, self.bare = self.bare, len(expr.args) == 1 and expr.args[0].is_Symbol
        try:
            return self._function(expr)
        finally:
            self.bare = previous

    def _function(self, expr):
        if not isinstance(expr, Registered):
            return super()._print_Function(expr)
        mrow = self.dom.createElement("mrow")
        mrow.appendChild(_element(self.dom, "mi", text=function_name(expr.latex_name)))
        mrow.appendChild(self._paren_comma_separated(*expr.args))
        return mrow

    def element(self, expr):
        return self._print(expr)


MINUS = "\u2212"


def _xml(node) -> str:
    """Markup of a node, the minus sign as U+2212 (SymPy writes a hyphen)."""
    text = node.toxml().replace("<mo>-</mo>", f"<mo>{MINUS}</mo>").replace("<mn>-", f"<mn>{MINUS}")
    return text.encode("ascii", "xmlcharrefreplace").decode()


def math(inner: str, display: bool = False) -> str:
    opening = '<math display="block">' if display else "<math>"
    return f"{opening}{inner}</math>"


class RowPrinter:
    """Explanation rows as HTML: one grid row each, ``lhs = rhs`` in MathML, numbers keyed for the
    page. ``key(q, update)`` is the page's name of a value: the quantity of one sample, or with
    ``update`` (the rows of a parameter's update) of the totals over the samples."""

    def __init__(self, network, digits: int, key=None, superscript_steps: bool = False):
        self.network = network
        self.digits = digits
        self.superscript_steps = superscript_steps  # X@N as X^(N): see `name`
        self.key = key or (lambda q, update: str(q))
        self.dom = Document()

    def quantity(self, q: Q.Quantity, inline: bool = False) -> str:
        """A quantity's name as MathML markup (no ``<math>`` around it)."""
        return _xml(name(self.dom, q, inline, self.superscript_steps))

    def number(self, value, key: str | None, operand: bool = False) -> str:
        return _xml(number_element(self.dom, value, self.digits, key, operand))

    def names(self, expr: sp.Expr, keep=frozenset()) -> str:
        printer = _Printer(self.network, digits=self.digits, keep=keep, superscript_steps=self.superscript_steps)
        return _xml(printer.element(expr))

    def numbers(self, expr: sp.Expr, values, update: bool) -> str:
        printer = _Printer(self.network, values, lambda q: self.key(q, update), self.digits)
        return _xml(printer.element(expr))

    def row(self, row: Row, subject: Q.Quantity) -> str:
        """One row; ``subject`` is the quantity the row's group derives (whose value a VALUE row is)."""
        update = subject.updated or subject.kind == Q.STATE  # the rows of a parameter's update: totals
        lhs = math(self.quantity(row.lhs)) if row.lhs is not None else ""
        if row.kind == NAMES:
            rhs = self.names(row.expr)
        elif row.kind == NUMBERS:
            rhs = self.numbers(row.expr, row.numbers, update)
        elif row.kind == VALUE:
            rhs = self.number(row.value, self.key(subject, update))
        elif row.kind == DIFFERENTIATE:
            assert row.wrt is not None  # a DIFFERENTIATE row names its variable
            operator = (f"<mfrac><mo>{PARTIAL_SIGN}</mo><mrow><mo>{PARTIAL_SIGN}</mo>{self.quantity(row.wrt)}"
                        f"</mrow></mfrac>")
            inner = self.names(row.expr, keep=frozenset({self.network.symbol(row.wrt)}))
            rhs = f"<mrow>{operator}<mrow><mo>(</mo>{inner}<mo>)</mo></mrow></mrow>"
        else:
            raise ValueError(row.kind)
        note = f' <span class="note">({html_text(row.note)})</span>' if row.note else ""
        return (f'<div class="row"><span class="lhs">{lhs}</span><span class="eq">=</span>'
                f'<span class="rhs">{math(rhs)}{note}</span></div>')

    def groups(self, rows) -> list[tuple[Q.Quantity, list[Row]]]:
        """The rows grouped by the quantity each group derives."""
        groups: list[tuple[Q.Quantity, list[Row]]] = []
        for r in rows:
            if r.lhs is not None or not groups:
                groups.append((r.lhs, []))
            groups[-1][1].append(r)
        return groups

    def group(self, subject: Q.Quantity, rows: list[Row]) -> str:
        """One group of rows as a ``<div class="step">``."""
        body = "".join(self.row(r, subject) for r in rows)
        return f'<div class="step" data-derives="{html_text(str(subject))}">{body}</div>'

    def rows(self, rows) -> str:
        return "".join(self.group(subject, group) for subject, group in self.groups(rows))

    def explanation(self, explanation: Explanation) -> str:
        return f'<div class="derivation">{self.rows(explanation.rows)}</div>'
