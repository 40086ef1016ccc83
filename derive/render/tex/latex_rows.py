"""LaTeX primitives: explanation rows (`derive.derivation.explain`) as ``align`` lines, numbers, quantity
names in math, a loss's definition, and the diagram's layout as the TikZ template's data.

Every formula is printed by SymPy's LaTeX printer twice from the same expression, once with each
symbol's name and once with its value, so the two lines can never disagree.
"""

from __future__ import annotations

from math import atan2, degrees

import sympy as sp
from sympy.printing.latex import LatexPrinter

from derive.derivation.explain import DIFFERENTIATE, NAMES, NUMBERS, VALUE, Row
from derive.escape import latex_text
from derive.model import quantities as Q
from derive.model.decimals import UNDECIDED, plain, round_sig
from derive.model.proven import DECIMAL_EXPONENT
from derive.render import names, sums
from derive.render.diagram import Measure, layout
from derive.render.tex.latex_lines import broken

_STYLE = {"order": "none", "mul_symbol": "dot", "ln_notation": True}


def number(value, digits: int) -> str:
    """A value as LaTeX: exact when it is a short decimal, else to ``digits`` significant digits."""
    text = plain(value, digits)
    if text in ("inf", "-inf", "nan", UNDECIDED):
        return {"inf": r"\infty", "-inf": r"-\infty", "nan": r"\text{NaN}", UNDECIDED: rf"\text{{{UNDECIDED}}}"}[text]
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def column(values, digits: int) -> list[str]:
    """A table column's numbers in one format (0.0000351 above 4.36 × 10⁻⁶ reads as two kinds of
    number): every one in fixed notation when each nonzero magnitude is from 10⁻⁸ to 10⁹, else every
    one in scientific notation; a column with nothing to align keeps `number`'s forms."""
    texts = [number(v, digits) for v in values]
    unaligned = (r"\infty", r"-\infty", r"\text{NaN}", rf"\text{{{UNDECIDED}}}")
    if not any(r"\times" in t for t in texts) or any(t in unaligned for t in texts):
        return texts
    rounded = [None if _past_decimal(t) else round_sig(v, digits) for v, t in zip(values, texts, strict=True)]
    if any(d is None for d in rounded):  # a value past a Decimal's exponent (e^-(10^23)): `number` wrote it
        return [t if d is None else _scientific(d, digits) for d, t in zip(rounded, texts, strict=True)]
    fixed = all(not d or -8 <= d.adjusted() < 9 for d in rounded)
    return [_fixed(d, digits) if fixed else _scientific(d, digits) for d in rounded]


def _past_decimal(text: str) -> bool:
    return r"\times 10^{" in text and abs(int(text.rsplit("{", 1)[1].rstrip("}"))) > DECIMAL_EXPONENT


def _fixed(d, digits: int) -> str:
    return f"{d:.{max(digits - 1 - d.adjusted(), 0)}f}" if d else "0"


def _scientific(d, digits: int) -> str:
    if not d:
        return "0"
    exponent = d.adjusted()
    return rf"{d.scaleb(-exponent):.{digits - 1}f} \times 10^{{{exponent}}}"


def negated_product(expr: sp.Expr) -> sp.Expr | None:
    """For −x·y (written −1·x·y, or (−x)·y as the registry writes a loss's term), the product x·y, its
    factors in their order; else None. Printed with numbers, −0·ln(0.515) misreads as minus zero: the
    printers write −(0·ln(0.515))."""
    if not expr.is_Mul:
        return None

    def flat(e):
        return [f for a in sp.Mul.make_args(e) for f in (flat(a) if a.is_Mul else [a])]

    factors = flat(expr)
    if factors.count(sp.S.NegativeOne) != 1 or len(factors) < 3:
        return None
    rest = [f for f in factors if f != sp.S.NegativeOne]
    return sp.Mul(*rest, evaluate=False) if rest[0].is_Symbol else None


class _ShortSums(LatexPrinter):
    """SymPy's LaTeX printer with a long sum written as `derive.render.sums` says (its first terms,
    \\cdots, its last), keeping the terms that hold a symbol of ``keep`` (the variable a derivative
    picks out)."""

    def __init__(self, settings=None, keep=frozenset()):
        super().__init__(settings)
        self.keep = keep

    def _print_Add(self, expr, order=None):
        terms = self._as_ordered_terms(expr, order=order)
        positions = sums.shown(len(terms), [k for k, t in enumerate(terms) if t.free_symbols & self.keep])
        tex = ""
        for i, k in enumerate(positions):
            if k is None:
                tex += r" + \cdots"
                continue
            term = terms[k]
            if i and term.could_extract_minus_sign():
                tex += " - "
                term = -term
            elif i:
                tex += " + "
            term_tex = self._print(term)
            tex += rf"\left({term_tex}\right)" if self._needs_add_brackets(term) else term_tex
        return tex


class _NumberPrinter(_ShortSums):
    """A formula with every symbol as its number (``texts``): a negative number in parentheses, except
    as a function's whole argument (tanh(−0.4582), not tanh((−0.4582))); after a leading minus, a
    product that starts with a number in parentheses (−(0 · ln 0.515), which −0 · ln 0.515 misreads)."""

    def __init__(self, texts: dict):
        super().__init__(_STYLE)
        self.texts, self.bare = texts, False

    def _print_Symbol(self, expr, style="plain"):
        text = self.texts[expr]
        return rf"\left({text}\right)" if text.startswith("-") and not self.bare else text

    def _print_Function(self, expr, exp=None):
        previous, self.bare = self.bare, len(expr.args) == 1 and expr.args[0].is_Symbol
        try:
            return super()._print_Function(expr, exp)
        finally:
            self.bare = previous

    def _print_Mul(self, expr):
        if (rest := negated_product(expr)) is not None and (text := self._print(rest))[:1].isdigit():
            return rf"- \left({text}\right)"
        return super()._print_Mul(expr)


def powered_fractions(expr: sp.Expr, network, superscript_steps: bool) -> set:
    """The symbols printed as a fraction (a partial derivative) that are the base of a power, which
    needs parentheses to read as the fraction squared (X^(N) of a partial has them already)."""
    return {p.base for p in expr.atoms(sp.Pow) if p.base.is_Symbol and network.quantity_of[p.base].is_partial
            and not (superscript_steps and network.quantity_of[p.base].after is not None)}


class RowPrinter:
    def __init__(self, network, digits: int, superscript_steps: bool = False):
        self.network = network
        self.digits = digits
        self.superscript_steps = superscript_steps  # X@N as X^{(N)}: see `names.latex`

    def name(self, q: Q.Quantity) -> str:
        return names.latex(q, superscript_steps=self.superscript_steps)

    def names(self, expr: sp.Expr, keep=frozenset()) -> str:
        """``expr`` with each symbol's name; a long sum shortened, keeping the terms holding ``keep``'s symbols."""
        mapping = {s: self.name(self.network.quantity_of[s]) for s in expr.free_symbols}
        for s in powered_fractions(expr, self.network, self.superscript_steps):  # (∂E/∂w5)², not ∂E/∂w5²
            mapping[s] = rf"\left({mapping[s]}\right)"
        return _ShortSums({**_STYLE, "symbol_names": mapping}, keep).doprint(expr)

    def numbers(self, expr: sp.Expr, numbers) -> str:
        return _NumberPrinter({s: number(numbers[s], self.digits) for s in expr.free_symbols}).doprint(expr)

    def row(self, row: Row) -> tuple[str, str]:
        lhs = self.name(row.lhs) if row.lhs is not None else ""
        if row.kind == NAMES:
            rhs = self.names(row.expr)
        elif row.kind == NUMBERS:
            rhs = self.numbers(row.expr, row.numbers)
        elif row.kind == VALUE:
            rhs = number(row.value, self.digits)
        elif row.kind == DIFFERENTIATE:
            assert row.wrt is not None  # a DIFFERENTIATE row names its variable
            inner = self.names(row.expr, keep=frozenset({self.network.symbol(row.wrt)}))
            rhs = rf"\frac{{\partial}}{{\partial {names.latex(row.wrt)}}} \left({inner}\right)"
        else:
            raise ValueError(row.kind)
        if row.note:
            rhs += rf" \quad\text{{({row.note})}}"
        return lhs, rhs

    def rows(self, rows) -> list[tuple[str, str]]:
        return [self.row(r) for r in rows]


def align(rows: list[tuple[str, str]]) -> str:
    """An align block from (lhs, rhs) rows: the one printer of align blocks (the template uses it too). A
    right side wider than the page is broken into lines (`latex_lines.broken`), each further line indented."""
    lines = []
    for lhs, rhs in rows:
        first, *rest = broken(rhs) if rhs else [""]
        lines.append(rf"{lhs} &= {first}" if rhs else rf"{lhs} &")
        lines += [rf"&\quad {more}" for more in rest]
    return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n"


PT = 2.54 / 72.27  # cm
#: Advance widths in em of Computer Modern's math (digits, signs) and italic letters, at least.
_TEX_WIDTHS = {**dict.fromkeys("0123456789", 0.5), ".": 0.28, "-": 0.78, "=": 0.78, " ": 0.28, "w": 0.72, "b": 0.43}


def _tex_width(text: str, em: float) -> float:
    """A parameter's name or value as the figure sets it (a name's index a subscript, at 0.7)."""
    index = text.lstrip("wb") != text and text[1:].isdigit()
    return em * sum(_TEX_WIDTHS.get(c, 0.6) * (0.7 if index and k else 1) for k, c in enumerate(text))


def figure_measure(network, values: bool) -> Measure:
    """The TikZ figure's sizes (document.tex.j2): neurons 9 mm wide; weight labels in \\scriptsize
    (7 pt), their value under their name; bias boxes in the body size (10 pt); 1 pt of room around."""
    small, body, sep = 7 * PT, 10 * PT, 1 * PT

    def value(name: str) -> str:
        return plain(network.parameter[name].value, 9)

    def label(name: str) -> tuple[float, float]:
        width = max(_tex_width(name, small), _tex_width(value(name), small) if values else 0)
        return width + 2 * sep + 2 * PT, (2.4 if values else 1.3) * small + 2 * sep

    def bias(name: str) -> tuple[float, float]:
        text = f"{name} = {value(name)}" if values else name
        return _tex_width(text, body) + 4 * sep + 2 * PT, 0.6

    def above(name: str) -> tuple[float, float]:
        text = f"{name} = {value(name)}" if values else name
        return _tex_width(text, small) + 2 * PT, 1.4 * small + sep

    return Measure(radius=0.45 + 0.4 * PT, label=label, bias=bias, above=above, gap=PT)


def figure(network, values: bool = False) -> dict:
    """The diagram's layout as the TikZ template's data: coordinates and LaTeX labels (with each
    parameter's value, ``w_1 = 0.15``, when ``values``), each weight's label at its box's centre,
    turned along its edge."""
    d = layout(network, figure_measure(network, values))
    biased = {b.parameter for b in d.biases}

    def label(name: str) -> str:
        text = names.latex(Q.parameter(name))
        if not values:
            return text
        value = number(network.parameter[name].value, 9)
        if name in biased:
            return f"{text} = {value}"
        return rf"\genfrac{{}}{{}}{{0pt}}{{}}{{{text}}}{{{value}}}"  # stacked: crossing edges' labels stay apart

    return {
        "nodes": [
            {"id": n.id, "x": n.x, "y": n.y, "label": names.latex_neuron(n.neuron) if n.neuron else None}
            for n in d.nodes
        ],
        "edges": [
            {
                "from": e.source.id,
                "to": e.dest.id,
                "label": label(e.parameter) if e.label is not None and e.parameter is not None else None,
                "x": e.label.x if e.label else None,
                "y": e.label.y if e.label else None,
                "angle": f"{degrees(atan2(e.label.uy, e.label.ux)):.1f}" if e.label else None,
            }
            for e in d.edges
        ],
        "biases": [
            {
                "id": b.id,
                "x": b.x,
                "y": b.y,
                "label": label(b.parameter),
                "feeds": [n.id for n in b.feeds],
            }
            for b in d.biases
        ],
    }


def math(q: Q.Quantity, inline: bool = True) -> str:
    return f"${names.latex(q, inline=inline)}$"


def loss_definition(loss) -> str:
    """E per sample as LaTeX, printed from the registry entry's own error term."""
    t, o, n = sp.symbols("t o n")
    term = sp.latex(loss.term(t, o, n), symbol_names={t: r"\mathrm{target}_j", o: r"\mathrm{out}_j", n: "n"},
                    order="none", ln_notation=True)
    return rf"$E = \sum_j {term}$"


def function_notes(network) -> list[str]:
    """Paragraphs: for each of the network's activations that is the spec's own formula, its definition
    and its derivative (by SymPy); for each that has a kink, the convention at it; and the spec's own
    loss. Printed from the entries' expressions, never from the spec's text."""
    net, out = sp.symbols("net out")
    symbols = {net: r"\mathrm{net}", out: r"\mathrm{out}"}

    def tex(expr):
        return sp.latex(expr, symbol_names=symbols, **_STYLE)

    paragraphs, seen = [], set()
    for k in range(1, network.depth + 1):
        act = network.layer_activation(k)
        if act.name in seen or act.couples_layer:
            continue
        seen.add(act.name)
        if act.formula is not None:
            f = act.out(net)
            paragraphs.append(
                rf"The activation \texttt{{{latex_text(act.name)}}} is the spec's own formula; SymPy differentiates it:"
                rf"\[ {tex(f)} = {tex(act.textbook(net))}, \qquad "
                rf"\frac{{d\,\mathrm{{out}}}}{{d\,\mathrm{{net}}}} = {tex(act.derivative(net, out))}. \]"
            )
        if act.kink_note:
            paragraphs.append(latex_text(act.kink_note[0].upper() + act.kink_note[1:]) + ".")
    if network.loss.formula is not None:
        paragraphs.append(rf"The error term is the spec's own loss \texttt{{{latex_text(network.loss.name)}}}, "
                          "differentiated by SymPy.")
    return paragraphs
