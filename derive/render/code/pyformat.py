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
    return _spaced(source, ast.parse(source, mode="eval").body)


def _spaced(source: str, node: ast.expr) -> str:
    """`expression` of ``source``, whose syntax tree is ``node`` (which may be changed). Without a
    power (``**``, which only an operator can spell) nothing is lifted nor hugged: ``ast.unparse``."""
    if "**" not in source:
        return ast.unparse(node)
    return _HUG.sub(r"\1**\2", _unparse(node))


def _unparse(node: ast.expr) -> str:
    """``ast.unparse``, except that a power under a unary operator keeps its parentheses, as ruff
    writes it: ``-((t - o) ** 3)``, not ``-(t - o) ** 3``."""
    pieces: list[str] = []

    class Lift(ast.NodeTransformer):
        def visit_BinOp(self, binop):
            self.generic_visit(binop)
            if isinstance(binop.op, ast.Pow) and isinstance(binop.left, ast.Name) and binop.left.id in lifted:
                binop.left = ast.Name(f"({binop.left.id})")  # (-(x**2)) ** 2 keeps its meaning
            return binop

        def visit_UnaryOp(self, unary):
            self.generic_visit(unary)
            if not (isinstance(unary.operand, ast.BinOp) and isinstance(unary.operand.op, ast.Pow)):
                return unary
            sign = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~", ast.Not: "not "}[type(unary.op)]
            pieces.append(f"{sign}({ast.unparse(unary.operand)})")
            lifted.add(f"_lifted_{len(pieces) - 1}_")
            return ast.Name(f"_lifted_{len(pieces) - 1}_")

    lifted: set[str] = set()
    text = ast.unparse(Lift().visit(node))
    for k in range(len(pieces) - 1, -1, -1):  # a piece may hold earlier ones
        text = text.replace(f"_lifted_{k}_", pieces[k])
    return text


def assignment(indent: str, target: str, source: str) -> list[str]:
    """``target = source`` as lines, split as ruff would when too long."""
    node = ast.parse(source, mode="eval").body
    text = _spaced(source, node) if "**" not in source else expression(source)  # `_unparse` changes its tree
    line = f"{indent}{target} = {text}"
    if len(line) <= LINE_LENGTH:
        return [line]
    inner = indent + "    "
    split = _right_hand_split(indent, target, node, text) or _left_hand_split(indent, target, node, text)
    if split:
        return split
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub)) or isinstance(node, ast.IfExp):
        if len(inner + text) <= LINE_LENGTH:
            body = [inner + text]
        elif isinstance(node, ast.IfExp):
            body = _conditional_lines(inner, node)
        else:
            body = _sum_lines(inner, node)
        return [f"{indent}{target} = (", *body, f"{indent})"]
    if isinstance(node, ast.Call):
        args = [_text(a) for a in node.args]
        head = f"{indent}{target} = {ast.unparse(node.func)}("
        if len(inner + ", ".join(args)) <= LINE_LENGTH:
            return [head, inner + ", ".join(args), f"{indent})"]
        return [head, *(f"{inner}{a}," for a in args), f"{indent})"]
    return [line]


def _right_hand_split(indent: str, target: str, node: ast.expr, text: str) -> list[str] | None:
    """Ruff's split at the last bracket (``x = a + f(\n    ...\n)``), which it prefers to wrapping
    the whole right-hand side in parentheses when the side has one operator at its top level and
    ends in a bracket whose opening fits on the first line."""
    if not (isinstance(node, ast.BinOp) and text.endswith(")") and _top_operators(node) == 1):
        return None
    opening = _matching_open(text)
    head, body = text[: opening + 1], text[opening + 1 : -1]
    if len(f"{indent}{target} = {head}") > LINE_LENGTH:
        return None
    inner = indent + "    "
    if len(inner + body) <= LINE_LENGTH:
        lines = [inner + body]
    else:
        body_node = ast.parse(body, mode="eval").body
        if not (isinstance(body_node, ast.BinOp) and isinstance(body_node.op, ast.Add | ast.Sub)):
            return None
        lines = _sum_lines(inner, body_node)
    return [f"{indent}{target} = {head}", *lines, f"{indent})"]


def _left_hand_split(indent: str, target: str, node: ast.expr, text: str) -> list[str] | None:
    """Ruff's split of ``(a if c else b) * x``: a parenthesized left operand times a name or number,
    the operand's content on its own lines, the closing bracket with the rest after it."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.right, ast.Name | ast.Constant)
            and isinstance(node.left, ast.IfExp | ast.BinOp) and text.startswith("(")):
        return None
    close = _matching_close(text)
    tail = text[close + 1:]
    if "(" in tail or ")" in tail:
        return None
    inner, body_node = indent + "    ", node.left
    body = text[1:close]
    if len(inner + body) <= LINE_LENGTH:
        lines = [inner + body]
    elif isinstance(body_node, ast.IfExp):
        lines = _conditional_lines(inner, body_node)
    else:
        return None
    return [f"{indent}{target} = (", *lines, f"{indent}){tail}"]


def _conditional_lines(inner: str, node: ast.IfExp) -> list[str]:
    return [inner + _text(node.body), f"{inner}if {_text(node.test)}", f"{inner}else {_text(node.orelse)}"]


def _matching_close(text: str) -> int:
    """The index of the bracket that closes the text's first character."""
    depth = 0
    for i, c in enumerate(text):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth == 0:
            return i
    raise ValueError(text)


def _top_operators(top: ast.BinOp) -> int:
    """How many operators of the top operator's precedence chain the expression: a + b * c has one."""
    group = (ast.Add, ast.Sub) if isinstance(top.op, ast.Add | ast.Sub) else (ast.Mult, ast.Div)
    count = 0
    node: ast.expr = top  # down the left operands
    while isinstance(node, ast.BinOp) and isinstance(node.op, group):
        count += 1
        node = node.left
    return count


def _sum_lines(inner: str, node: ast.BinOp) -> list[str]:
    first, rest = _terms(node)
    return [inner + _term(first), *(f"{inner}{op} {_term(term)}" for op, term in rest)]


def _term(node: ast.expr) -> str:
    """A term of a sum on its own line: a conditional (or anything else that binds looser than +)
    keeps its parentheses, which ``ast.unparse`` of the bare node drops."""
    text = _text(node)
    return f"({text})" if isinstance(node, ast.IfExp | ast.BoolOp | ast.Compare | ast.Lambda) else text


SUM_CHUNK = 1000  # terms in one expression: CPython's compiler recurses once per + (about 3000 is too deep)


def sum_assignment(indent: str, target: str, terms: list[str]) -> list[str]:
    """``target = t1 + t2 + ...`` for terms already in ruff's spacing, without parsing: the fast path
    for long net inputs and sums of deltas (each term a product of names). Past SUM_CHUNK terms (a
    layer of 4096 neurons) the sum continues as ``target = target + ...``, which adds in the same
    order, so the float64 result is the same bit for bit."""
    if len(terms) > SUM_CHUNK:
        lines = sum_assignment(indent, target, terms[:SUM_CHUNK])
        for start in range(SUM_CHUNK, len(terms), SUM_CHUNK):
            lines += sum_assignment(indent, target, [target, *terms[start:start + SUM_CHUNK]])
        return lines
    text = " + ".join(terms) or "0.0"  # an empty sum: a weight no unit reads (W_hh over one step)
    line = f"{indent}{target} = {text}"
    if len(line) <= LINE_LENGTH:
        return [line]
    inner = indent + "    "
    body = (
        [inner + text]
        if len(inner + text) <= LINE_LENGTH
        else [inner + terms[0], *(f"{inner}+ {t}" for t in terms[1:])]
    )
    return [f"{indent}{target} = (", *body, f"{indent})"]


def _matching_open(text: str) -> int:
    """The index of the bracket that the text's last character closes."""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError(text)


_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _text(node: ast.expr) -> str:
    """A subexpression's text in ruff's spacing; a name, or two names and an operator (a sum's term
    ``delta_o1 * w5``), written directly: what ``ast.unparse`` writes for them."""
    if isinstance(node, ast.Name):
        return node.id
    if (isinstance(node, ast.BinOp) and isinstance(node.left, ast.Name) and isinstance(node.right, ast.Name)
            and type(node.op) in _OPERATORS):
        return f"{node.left.id} {_OPERATORS[type(node.op)]} {node.right.id}"
    return expression(_unparse(node))


def _terms(node: ast.expr):
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
