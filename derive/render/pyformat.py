"""Black/ruff-compatible layout for the few statement shapes the generated code uses.

SymPy prints compact code (``a*b``); generated modules must be stable under ``ruff format`` without
ruff being a dependency, so each right-hand side is re-printed from its syntax tree with ruff's
spacing (``a * b``, ``x**2`` for simple operands) and, past 88 columns, split the way ruff splits a
sum (one term a line, in parentheses), a conditional (``if`` and ``else`` on lines of their own) or a
call (arguments on one line, else one a line).
"""

from __future__ import annotations

import ast
import re

LINE_LENGTH = 88
_HUG = re.compile(r"(?<![\w.)\]])(-?[\w.]+) \*\* (-?[\w.]+)(?![\w.(\[])")


def expression(source: str) -> str:
    """One expression in ruff's spacing."""
    return _HUG.sub(r"\1**\2", ast.unparse(ast.parse(source, mode="eval").body))


def assignment(indent: str, target: str, source: str) -> list[str]:
    """``target = source`` as lines, split as ruff would when too long."""
    node = ast.parse(source, mode="eval").body
    text = expression(source)
    line = f"{indent}{target} = {text}"
    if len(line) <= LINE_LENGTH:
        return [line]
    inner = indent + "    "
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub) or isinstance(node, ast.IfExp):
        if len(inner + text) <= LINE_LENGTH:
            body = [inner + text]
        elif isinstance(node, ast.IfExp):
            body = [inner + _text(node.body), f"{inner}if {_text(node.test)}", f"{inner}else {_text(node.orelse)}"]
        else:
            first, rest = _terms(node)
            body = [inner + _text(first), *(f"{inner}{op} {_text(term)}" for op, term in rest)]
        return [f"{indent}{target} = (", *body, f"{indent})"]
    if isinstance(node, ast.Call):
        args = [_text(a) for a in node.args]
        head = f"{indent}{target} = {ast.unparse(node.func)}("
        if len(inner + ", ".join(args)) <= LINE_LENGTH:
            return [head, inner + ", ".join(args), f"{indent})"]
        return [head, *(f"{inner}{a}," for a in args), f"{indent})"]
    return [line]


def sum_assignment(indent: str, target: str, terms: list[str]) -> list[str]:
    """``target = t1 + t2 + ...`` for terms already in ruff's spacing, without parsing: the fast path
    for long net inputs and sums of deltas (each term a product of names)."""
    text = " + ".join(terms)
    line = f"{indent}{target} = {text}"
    if len(line) <= LINE_LENGTH:
        return [line]
    inner = indent + "    "
    body = [inner + text] if len(inner + text) <= LINE_LENGTH else [inner + terms[0], *(f"{inner}+ {t}" for t in terms[1:])]
    return [f"{indent}{target} = (", *body, f"{indent})"]


def _text(node: ast.expr) -> str:
    return expression(ast.unparse(node))


def _terms(node: ast.BinOp):
    """A left-associated chain of + and - as (first term, [(operator, term), ...])."""
    rest = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        rest.append(("+" if isinstance(node.op, ast.Add) else "-", node.right))
        node = node.left
    return node, rest[::-1]


def collection(indent: str, opener: str, items: list[str], closer: str) -> list[str]:
    """A literal (tuple, dict, list) on one line, or exploded one item a line with a trailing comma."""
    one_line = f"{indent}{opener}{', '.join(items)}{closer}"
    if len(one_line) <= LINE_LENGTH and not (opener.endswith("(") and len(items) == 1):
        return [one_line]
    inner = indent + "    "
    return [f"{indent}{opener}", *(f"{inner}{item}," for item in items), f"{indent}{closer}"]
