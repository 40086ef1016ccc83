"""Exact values: a quantity whose inputs are all exact rationals (the spec's decimals) and whose value
is rational is computed as a rational, then rounded once.

This is how signs and kinks are decided: a net of 0.0075 + 0.02 - 0.0275 is 0, not the -2e-63 a sum
at 60 binary digits gives, so relu's convention at 0 applies to it and not the slope of one side. The
scalar derivation (`evaluate`) and the matrix form (`matrix`) both take their nets and outs from here.
"""

from __future__ import annotations

import sympy as sp

from derive.model.functions import Registered


def rational_value(expr: sp.Expr, values: dict) -> sp.Rational | None:
    """``expr``'s exact value when every symbol in it has one in ``values`` (symbol -> Rational) and
    that value is rational: a sum of products of decimals, a registry function whose elementary form
    is rational there (relu(1/4) = 1/4, leaky_relu(-1) = -1/100; the logistic never is), a formula's
    max, min or abs of them. None otherwise."""
    if not expr.free_symbols <= values.keys():
        return None
    value = expr.xreplace(values)
    if not value.is_Rational and value.has(Registered):
        value = value.replace(lambda e: isinstance(e, Registered), lambda e: e.elementary(*e.args))
    return value if value.is_Rational else None
