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
from sympy.core.basic import _cmp_name
from sympy.core.parameters import global_parameters

_SYMBOL_FIRST = _cmp_name(sp.Symbol, sp.Mul) < 0  # how Basic.compare orders the two classes


def _symbol_key(s: sp.Symbol) -> tuple:
    """``Basic.compare``'s order of two plain ``Symbol``s as a key: their hashable contents (the name,
    then the assumptions' pairs) by length, then item by item (a string, then (name, bool) pairs, as
    compare compares them: ``(l > r) - (l < r)``)."""
    content = s._hashable_content()
    return len(content), content


def _key(term: sp.Expr) -> tuple:
    """``_args_sortkey`` for a plain ``Symbol`` or a ``Mul`` of them: the class (compare's order of the
    two), then the hashable content (a Mul's: its arguments) by length and item by item."""
    if type(term) is sp.Symbol:
        return (not _SYMBOL_FIRST, 1, _symbol_key(term))
    return (_SYMBOL_FIRST, len(term.args), tuple(_symbol_key(a) for a in term.args))


def _keyed(term: sp.Expr) -> bool:
    """Whether `_key` stands for compare's order: a ``Symbol`` itself or a Mul of such (a subclass,
    Dummy, may order otherwise)."""
    return type(term) is sp.Symbol or (type(term) is sp.Mul and all(type(a) is sp.Symbol for a in term.args))


def product(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """``a * b``."""
    if a.is_Symbol and b.is_Symbol and a != b and a.is_commutative and b.is_commutative:
        if type(a) is sp.Symbol and type(b) is sp.Symbol:
            return sp.Mul._from_args((a, b) if _symbol_key(a) < _symbol_key(b) else (b, a), True)
        return sp.Mul._from_args(tuple(sorted((a, b), key=_args_sortkey)), True)
    return a * b


def _plain(term: sp.Expr) -> bool:
    """A commutative symbol, or a product of such symbols (no coefficient for Add to collect)."""
    if term.is_Symbol:
        return term.is_commutative
    return term.is_Mul and all(a.is_Symbol and a.is_commutative for a in term.args)


def total(terms: list[sp.Expr]) -> sp.Expr:
    """``sympy.Add(*terms)``."""
    if len(terms) == 1 and isinstance(terms[0], sp.Expr) and global_parameters.evaluate:
        return terms[0]  # (what Add of one expression returns: a parameter feeding one neuron's gradient)
    if len(terms) > 1 and all(_plain(t) for t in terms) and len(set(terms)) == len(terms):
        key = _key if all(_keyed(t) for t in terms) else _args_sortkey
        return sp.Add._from_args(tuple(sorted(terms, key=key)), True)
    return sp.Add(*terms)
