"""SymPy's sums and products of plain symbols, built in its canonical form without its general machinery.

A 784-32-10 network's net inputs are sums of 25,450 products ``w·out``, and its gradients 25,450
products ``delta·out``: ``sympy.Mul`` and ``sympy.Add`` look at every operand for numbers, powers
and like terms to collect, which for distinct symbols finds nothing and costs most of building the
derivation. For exactly that case (distinct commutative symbols; distinct terms, each a symbol or a
product of symbols, no number) the result is SymPy's own: its operands sorted by SymPy's canonical
key (`_args_sortkey`, what ``Mul.flatten`` and ``Add.flatten`` sort by), the same expression, equal,
with the same arguments in the same order (tests/test_canonical.py compares them with SymPy's). Any
other operands go to SymPy.
"""

from __future__ import annotations

import sympy as sp
from sympy.core.add import _args_sortkey


def product(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """``a * b``."""
    if a.is_Symbol and b.is_Symbol and a != b and a.is_commutative and b.is_commutative:
        return sp.Mul._from_args(tuple(sorted((a, b), key=_args_sortkey)), True)
    return a * b


def _plain(term: sp.Expr) -> bool:
    """A commutative symbol, or a product of such symbols (no coefficient for Add to collect)."""
    if term.is_Symbol:
        return term.is_commutative
    return term.is_Mul and all(a.is_Symbol and a.is_commutative for a in term.args)


def total(terms: list[sp.Expr]) -> sp.Expr:
    """``sympy.Add(*terms)``."""
    if len(terms) > 1 and all(_plain(t) for t in terms) and len(set(terms)) == len(terms):
        return sp.Add._from_args(tuple(sorted(terms, key=_args_sortkey)), True)
    return sp.Add(*terms)
