"""Unevaluated expressions in the textbook's order, and their substitution that keeps that order:
what the optimizers' update rules (`derive.model.optimizers`) are written in."""

from __future__ import annotations

import sympy as sp


def add(*terms):
    return sp.Add(*terms, evaluate=False)


def mul(*factors):
    return sp.Mul(*factors, evaluate=False)


def minus(x):
    return mul(sp.S.NegativeOne, x)


def over(x, y):
    return mul(x, sp.Pow(y, -1, evaluate=False))


def substituted(expr: sp.Expr, mapping: dict) -> sp.Expr:
    """``expr`` with symbols replaced, keeping its order; zero terms and factors of one dropped, so
    that a rule at weight decay 0 or with zero state reads as a textbook writes it."""
    if expr.is_Symbol:
        return mapping.get(expr, expr)
    if expr.is_Atom:
        return expr
    args = [substituted(a, mapping) for a in expr.args]
    if expr.is_Add:
        args = [a for a in args if a != 0]
        return sp.S.Zero if not args else args[0] if len(args) == 1 else add(*args)
    if expr.is_Mul:
        if any(a == 0 for a in args):
            return sp.S.Zero
        kept = [a for a in args if a != 1]
        if kept[:1] == [sp.S.NegativeOne] and len(kept) == 2 and kept[1].is_Number:
            return -kept[1]
        return sp.S.One if not kept else kept[0] if len(kept) == 1 else mul(*kept)
    if expr.is_Pow and args[1] == 1:
        return args[0]
    if expr.is_Pow:
        return sp.Pow(*args, evaluate=False)
    return expr.func(*args)
