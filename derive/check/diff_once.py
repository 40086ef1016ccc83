"""``sympy.diff(expr, x)``, the same expression, with each distinct subexpression differentiated once.

The check's sympy.diff route differentiates the nested error, in which a recurrent network's earlier
steps (and any network's hidden outs) recur in every later term. SymPy differentiates a tree, not a
graph: each occurrence again, and at every node ``Derivative.__new__`` walks the whole subexpression
twice more (its free symbols, and a ``replace`` that puts any unevaluated derivative in canonical
order), so the work grows with the size of the tree (the built-in RNN's 13 derivatives took 5 s).

`derivative` runs SymPy's own rule of each node (``_eval_derivative_n_times(x, 1)``, what
``Derivative.__new__`` hands one symbol to) once per distinct subexpression, remembered for the call:
while it runs, ``Expr.diff`` (which every node's rule calls on its arguments) answers from that memory,
a subexpression without ``x`` is 0 (its free symbols remembered too), and a derivative of order 0 is
the expression. A node SymPy cannot differentiate, or a result that holds an unevaluated derivative,
is left to SymPy's own ``diff``. The same expressions result (tests/test_diff_once.py compares them
with ``sympy.diff``'s, each computed with SymPy's cache cleared, for the first and the last parameter of
the reference, RNN and attention examples and of two test networks with relu and softmax; `derive
check`'s reports on five examples were byte-identical before and after). ``Expr.diff`` is SymPy's again after
the call, whatever happens in it; derive's computations are single-threaded in each process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sympy as sp
from sympy.core.expr import Expr

_UNIONS = (sp.Add, sp.Mul, sp.Pow, sp.Function)  # their free symbols: those of their arguments


def derivative(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """``sympy.diff(expr, x)``, each distinct subexpression's derivative taken once."""
    with _remembered():
        result = sp.diff(expr, x)
    if result.has(sp.Derivative):  # unevaluated: SymPy's own diff puts it in its canonical form
        return sp.diff(expr, x)
    return result


@contextmanager
def _remembered() -> Iterator[None]:
    """``Expr.diff`` answering once for each (subexpression, symbol), for the block."""
    original = Expr.diff
    derivatives: dict[tuple, sp.Expr] = {}
    free: dict[sp.Basic, set] = {}

    def free_symbols(expr: sp.Basic) -> set:
        symbols = free.get(expr)
        if symbols is None:
            if isinstance(expr, _UNIONS) and not expr.is_Atom:
                symbols = set().union(*(free_symbols(a) for a in expr.args))
            else:
                symbols = expr.free_symbols
            free[expr] = symbols
        return symbols

    def diff(self, *symbols, **assumptions):
        if assumptions or len(symbols) != 1:
            return original(self, *symbols, **assumptions)
        (x,) = symbols
        if isinstance(x, tuple) and len(x) == 2 and x[1] in (0, 1):  # (x, n), as a product's rule asks
            if x[1] == 0:
                return self
            x = x[0]
        if not isinstance(x, sp.Symbol):
            return original(self, *symbols)
        value = derivatives.get((self, x))
        if value is None:
            value = self._eval_derivative_n_times(x, 1) if x in free_symbols(self) else sp.S.Zero
            if value is None:  # no rule: SymPy's unevaluated derivative
                value = original(self, x)
            derivatives[(self, x)] = value
        return value

    Expr.diff = diff
    try:
        yield
    finally:
        Expr.diff = original
