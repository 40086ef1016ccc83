"""Explanation rows (`derive.derivation.explain`) as LaTeX ``align`` lines, and numbers as LaTeX.

Every formula is printed by SymPy's LaTeX printer twice from the same expression, once with each
symbol's name and once with its value, so the two lines can never disagree.
"""

from __future__ import annotations

import sympy as sp

from derive.derivation.explain import DIFFERENTIATE, NAMES, NUMBERS, VALUE, Row
from derive.model.decimals import plain
from derive.render import names

_STYLE = {"order": "none", "mul_symbol": "dot", "ln_notation": True}


def number(value, digits: int) -> str:
    """A value as LaTeX: exact when it is a short decimal, else to ``digits`` significant digits."""
    text = plain(value, digits)
    if text in ("inf", "-inf", "nan"):
        return {"inf": r"\infty", "-inf": r"-\infty", "nan": r"\text{NaN}"}[text]
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return text


def operand(value, digits: int) -> str:
    """A number inside a formula: negative ones in parentheses."""
    text = number(value, digits)
    return rf"\left({text}\right)" if text.startswith("-") else text


class RowPrinter:
    def __init__(self, network, digits: int):
        self.network = network
        self.digits = digits

    def names(self, expr: sp.Expr) -> str:
        mapping = {s: names.latex(self.network.quantity_of[s]) for s in expr.free_symbols}
        return sp.latex(expr, symbol_names=mapping, **_STYLE)

    def numbers(self, expr: sp.Expr, numbers) -> str:
        mapping = {s: operand(numbers[s], self.digits) for s in expr.free_symbols}
        return sp.latex(expr, symbol_names=mapping, **_STYLE)

    def row(self, row: Row) -> tuple[str, str]:
        lhs = names.latex(row.lhs) if row.lhs is not None else ""
        if row.kind == NAMES:
            rhs = self.names(row.expr)
        elif row.kind == NUMBERS:
            rhs = self.numbers(row.expr, row.numbers)
        elif row.kind == VALUE:
            rhs = number(row.value, self.digits)
        elif row.kind == DIFFERENTIATE:
            rhs = rf"\frac{{\partial}}{{\partial {names.latex(row.wrt)}}} \left({self.names(row.expr)}\right)"
        else:
            raise ValueError(row.kind)
        if row.note:
            rhs += rf" \quad\text{{({row.note})}}"
        return lhs, rhs

    def rows(self, rows) -> list[tuple[str, str]]:
        return [self.row(r) for r in rows]


def align(rows: list[tuple[str, str]]) -> str:
    """An align block from (lhs, rhs) rows: the one printer of align blocks (the template uses it too)."""
    lines = [rf"{lhs} &= {rhs}" if rhs else rf"{lhs} &" for lhs, rhs in rows]
    return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n"
