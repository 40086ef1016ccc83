"""A network's definitions (each intermediate symbol's expression in earlier symbols, `Network.definitions`)
expanded into one expression: for display, and for the check's independent sympy.diff route."""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from derive.model.functions import Registered


def expanded(expr: sp.Expr, definitions: tuple) -> sp.Expr:
    """``expr`` with each symbol of ``definitions`` ((symbol, expression) pairs in forward order: later
    symbols are defined in terms of earlier ones) replaced by its expression, the last first."""
    for symbol, definition in reversed(definitions):
        if expr.has(symbol):
            expr = expr.xreplace({symbol: definition})
    return expr


@lru_cache(maxsize=32)
def nested_total(definitions: tuple, total: sp.Symbol) -> sp.Expr:
    """`Network.nested_total` for the network of these definitions. Only the registry's functions are
    rewritten: a plain ``rewrite(exp)`` would also write a power x**2 as exp(2 log x), complex at a
    negative x (an mpc for the check to print). The definitions hold symbols, not values, so a
    network's variants (an exercise's, each checked) and every model of one spec share it (the built-in
    LSTM's took 2.7 s each time); not a spec with functions of its own, whose every parse makes its own
    classes, and so its own expression."""
    expr = expanded(total, definitions)
    while expr.has(Registered):
        expr = expr.rewrite(Registered, sp.exp)
    return expr
