"""A user's formula (a spec's own activation or loss), parsed safely into SymPy.

Python's `ast` only parses the text into a tree (nothing in it runs), and a whitelist turns the tree
into SymPy: numbers, the formula's variables, ``+ - * / **``, unary minus, the functions of
`functions.ELEMENTARY` with ``abs``, ``max`` and ``min``, and the constants ``pi`` and ``E``.
Anything else is a `FormulaError` naming the formula and the problem. SymPy's ``sympify`` and
``parse_expr`` are never used: they evaluate Python.

``max``, ``min`` and ``abs`` have kinks, where the derivative is a convention: the working form
writes them as Piecewise with that convention built in (at a tie, max and min take the branch of
their first argument, so ``max(0, net)`` has derivative 0 at 0, as relu; abs'(0) = 0), and the
display form keeps them as written.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NoReturn

import mpmath
import sympy as sp

from derive.escape import excerpt, quoted
from derive.model.functions import CONSTANTS, ELEMENTARY
from derive.model.reading import number_problem, rational

MAX_LENGTH = 500  # characters
MAX_NODES = 200  # syntax-tree nodes: the derivative and the printed code grow with them
MAX_EXPONENT = 1000  # a number as an exponent (10**10**10 would make SymPy compute a huge number)
MAX_MAGNITUDE = mpmath.mpf(10) ** 300  # a constant part of the formula, once computed
KINKED = ("abs", "max", "min")
KINK_CONVENTION = (
    "at a kink derive takes, by convention, the derivative of the branch that holds there: at a tie, "
    "max and min take that of their first argument (max(0, net) has derivative 0 at 0), "
    "and abs'(0) = 0"
)
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_OTHER_OPERATORS = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|",
                    ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.Not: "not", ast.Invert: "~"}
_FORBIDDEN = {
    ast.Attribute: "attribute access (a dot) is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.Compare: "comparisons are not allowed (use max, min or abs)",
    ast.IfExp: "if-expressions are not allowed (use max, min or abs)",
    ast.BoolOp: "'and' and 'or' are not allowed",
    ast.NamedExpr: "assignments are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.Starred: "starred arguments are not allowed",
}


class FormulaError(ValueError):
    """A formula that is not one of the allowed forms: one line naming it and the problem."""


@dataclass(frozen=True)
class Formula:
    text: str
    display: sp.Expr  # as written, with max, min and abs
    expr: sp.Expr  # the working form: max, min and abs as Piecewise, their kink convention built in
    kinked: bool  # uses max, min or abs


def parse(text: str, variables: dict[str, sp.Symbol], where: str) -> Formula:
    """The formula ``text`` in the given variables (name -> symbol); ``where`` names it in errors."""
    if not isinstance(text, str):
        raise FormulaError(f"{where} must be a formula in a string")
    shown = quoted(text)

    def fail(problem: str) -> NoReturn:
        raise FormulaError(f"{where} = {shown}: {problem}")

    if len(text) > MAX_LENGTH:
        fail(f"the formula has {len(text)} characters; at most {MAX_LENGTH}")
    if not text.strip():
        fail("the formula is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL character
        fail(f"not a formula ({getattr(exc, 'msg', None) or exc})")
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        fail(f"the formula has {nodes} parts; at most {MAX_NODES}")
    builder = _Builder(text.strip(), variables, fail)
    try:
        display, expr = builder.build(tree.body)
    except RecursionError:
        fail("the formula is nested too deeply")
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        fail("the formula is infinite or undefined (a division by zero?)")
    return Formula(text, display, expr, builder.kinked)


class _Builder:
    """Turns an allowed syntax tree into (display, working) SymPy expressions."""

    def __init__(self, text, variables, fail: Callable[[str], NoReturn]):
        self.text, self.variables, self.fail = text, variables, fail
        self.kinked = False
        self.names = ", ".join([*variables, *ELEMENTARY, *KINKED, *CONSTANTS])

    def build(self, node) -> tuple[sp.Expr, sp.Expr]:
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd):
                self.fail(f"the operator '{_OTHER_OPERATORS.get(type(node.op), '?')}' is not allowed")
            display, expr = self.build(node.operand)
            return (-display, -expr) if isinstance(node.op, ast.USub) else (display, expr)
        if isinstance(node, ast.BinOp):
            return self.operation(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        self.fail(_FORBIDDEN.get(type(node), f"{type(node).__name__} is not allowed"))

    def number(self, node: ast.Constant):
        value = node.value
        if isinstance(value, str | bytes):
            self.fail("strings are not allowed")
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"{value!r} is not a number")  # 1j, True, None: short
        written = ast.get_source_segment(self.text, node) or repr(value)
        try:
            exact = Decimal(written.replace("_", ""))
        except InvalidOperation:
            exact = Decimal(repr(value))
        if not exact.is_finite() or abs(exact) > Decimal(10) ** 15:
            self.fail(f"the number {excerpt(written)} is too large (at most 1e15)")
        if problem := number_problem(exact):  # 1e-999999999 as a fraction: a billion-digit denominator
            self.fail(f"the number {excerpt(written)} {problem}")
        number = rational(exact)  # exactly as written, like every number of a spec
        return number, number

    def name(self, name: str):
        if name in self.variables:
            return self.variables[name], self.variables[name]
        if name in CONSTANTS:
            constant = CONSTANTS[name][0]
            return constant, constant
        if name in ELEMENTARY or name in KINKED:
            self.fail(f"{name} is a function: call it, {name}(...)")
        self.fail(f"unknown name {quoted(name)}; a formula may use {self.names}")

    def operation(self, node: ast.BinOp):
        op = type(node.op)
        if op not in _OPERATORS:
            hint = " (a power is **)" if op is ast.BitXor else ""
            self.fail(f"the operator '{_OTHER_OPERATORS.get(op, '?')}' is not allowed{hint}; use + - * / **")
        (ld, le), (rd, re) = self.build(node.left), self.build(node.right)
        if op is ast.Pow:
            self.check_power(le, re)
        combine = {ast.Add: sp.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sp.Mul, ast.Div: lambda a, b: a / b,
                   ast.Pow: sp.Pow}[op]
        expr = combine(le, re)
        if expr.is_Pow and expr.exp.is_number:
            self.check_power(expr.base, expr.exp)  # (net**50)**50 is net**2500
        return combine(ld, rd), self.constant(expr)

    def check_power(self, base, exponent):
        """Before SymPy computes it: a numeric exponent of at most MAX_EXPONENT, and a numeric power
        within MAX_MAGNITUDE (((10**15)**1000)**1000 would have 15 billion digits)."""
        if not exponent.is_number:
            return
        e = _value(exponent)
        if abs(e) > MAX_EXPONENT:
            self.fail(f"an exponent of {sp.sstr(exponent)[:20]} is too large (at most {MAX_EXPONENT} in magnitude)")
        if base.is_number:
            b = abs(_value(base))
            if b != 0 and abs(e * mpmath.log10(b)) > 300:
                self.fail(f"the power {sp.sstr(base)[:20]}**{sp.sstr(exponent)[:20]} is too large")

    def constant(self, expr: sp.Expr) -> sp.Expr:
        """A part without variables must be a modest finite number (exp(exp(1000)) is not), also where
        SymPy gathers it from factors or terms apart (exp(690)*net*exp(690) is exp(1380)*net)."""
        if (expr.is_Mul or expr.is_Add) and not expr.is_number:
            self.constant(expr.as_independent(*expr.free_symbols, as_Add=expr.is_Add)[0])
        if expr.is_number:
            if expr.has(sp.zoo, sp.nan) or expr.is_infinite:
                self.fail("the formula divides by zero (or takes the log of 0)")
            value = _value(expr)
            if not mpmath.isfinite(value) or abs(value) > MAX_MAGNITUDE:
                self.fail(f"the constant {sp.sstr(expr)[:30]} is too large")
        return expr

    def call(self, node: ast.Call):
        if not isinstance(node.func, ast.Name):
            self.fail("only the allowed functions may be called, by name: " + ", ".join([*ELEMENTARY, *KINKED]))
        name = node.func.id
        if name not in ELEMENTARY and name not in KINKED:
            self.fail(f"unknown function {quoted(name)}; the functions are {', '.join([*ELEMENTARY, *KINKED])}")
        if node.keywords:
            self.fail(f"{name}() takes no keyword arguments")
        args = [self.build(a) for a in node.args]
        if name in ELEMENTARY:
            if len(args) != 1:
                self.fail(f"{name}() takes one argument, not {len(args)}")
            function = ELEMENTARY[name][0]
            (display, expr), = args
            if function is sp.exp and expr.is_number and _value(expr) > 690:
                self.fail(f"exp({sp.sstr(expr)[:20]}) is too large")
            return function(display), self.constant(function(expr))
        self.kinked = True
        if name == "abs":
            if len(args) != 1:
                self.fail(f"abs() takes one argument, not {len(args)}")
            (display, a), = args
            return sp.Abs(display), sp.Piecewise((a, a > 0), (-a, a < 0), (0, True))
        if len(args) < 2:
            self.fail(f"{name}() takes two or more arguments")
        display = (sp.Max if name == "max" else sp.Min)(*(d for d, _ in args), evaluate=False)
        expr = args[0][1]
        for _, other in args[1:]:  # a tie goes to the earlier argument
            expr = sp.Piecewise((expr, expr >= other if name == "max" else expr <= other), (other, True))
        return display, expr


def _value(expr: sp.Expr) -> mpmath.mpf:
    """A constant's value at 30 digits (inf when it does not fit a float's range)."""
    try:
        value = sp.N(expr, 30)
        return mpmath.mpf(value) if value.is_real else mpmath.inf
    except (TypeError, ValueError, OverflowError):
        return mpmath.inf



def evaluate(expr: sp.Expr, values: dict) -> mpmath.mpf:
    """``expr`` at the given values (symbol -> mpf) to 50 digits by SymPy's evalf (no code is
    generated or run); ValueError when the value is not a finite real number."""
    value = sp.N(expr.xreplace({s: sp.Float(mpmath.nstr(v, 60), 60) for s, v in values.items()}), 50)
    if not (value.is_number and value.is_real and value.is_finite):
        raise ValueError(f"{expr} is not a finite real number there")
    return mpmath.mpf(str(value))
