"""The matrix form of a recurrent layer, a route of its own as `derive.derivation.matrix` is: the layer
unrolled, its units step by step, with U the matrix of its reads of its own units (W_hh at each step,
strictly below the diagonal blocks, so that each unit reads only units computed before it):

    Z^l = W^l A^(l-1) + U^l A^l + b^l 1ᵀ,  A^l = f(Z^l)        (row by row, the first step's first)
    Δ^l = ((W^(l+1))ᵀ Δ^(l+1) + (U^l)ᵀ Δ^l) ⊙ f'(Z^l)           (row by row, the last step's last first)
    ∂E/∂U^l = s · Δ^l (A^l)ᵀ                                    (at U's entries that are weights)

A net of exact inputs and exact earlier outs is computed exactly first, as `matrix` does for a layer.
"""

from __future__ import annotations

import mpmath
import sympy as sp

from derive.derivation.evaluate import mp_value
from derive.derivation.exact import rational_value


def _mp(value) -> mpmath.mpf:
    return mpmath.mpf(int(value.p)) / int(value.q)


def forward(network, k: int, below: mpmath.matrix, exact_below: list[list], biases: list):
    """(Z, A, f'(Z), the exact outs or None) of recurrent layer k, each sample a column."""
    W, U = network.weight_matrix(k), network.weight_matrix(k, own=True)
    x, y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)
    act = network.layer_activation(k)
    f, slope = act.out(x), act.derivative(x, y)
    n, S = len(W), below.cols
    z, a, slopes = mpmath.matrix(n, S), mpmath.matrix(n, S), mpmath.matrix(n, S)
    exact: list[list] = [[None] * S for _ in range(n)]
    for j in range(n):
        bias = biases[j] if biases else sp.S.Zero
        for s in range(S):
            reads = [(w, exact_below[i][s]) for i, w in enumerate(W[j]) if w] + [
                (u, exact[m][s]) for m, u in enumerate(U[j]) if u]
            if all(v is not None for _, v in reads):
                net = sum((w * v for w, v in reads), sp.S.Zero) + bias
                z[j, s] = _mp(net)
                exact[j][s] = rational_value(f, {x: net})
            else:
                z[j, s] = mpmath.fsum([_mp(w) * below[i, s] for i, w in enumerate(W[j]) if w]
                                      + [_mp(u) * a[m, s] for m, u in enumerate(U[j]) if u]) + _mp(bias)
            a[j, s] = _mp(exact[j][s]) if exact[j][s] is not None else mp_value(f, {x: z[j, s]})
            slopes[j, s] = mp_value(slope, {x: z[j, s], y: a[j, s]})
    return z, a, slopes, exact


def backward(network, k: int, back: mpmath.matrix, slopes: mpmath.matrix):
    """(dE/dA with the later steps' deltas added, Δ) of recurrent layer k, from ``back``, (W^(l+1))ᵀ Δ^(l+1)."""
    U = network.weight_matrix(k, own=True)
    n, S = back.rows, back.cols
    full, deltas = back.copy(), mpmath.matrix(n, S)
    for j in reversed(range(n)):
        for s in range(S):
            full[j, s] = back[j, s] + mpmath.fsum(_mp(U[i][j]) * deltas[i, s] for i in range(j + 1, n) if U[i][j])
            deltas[j, s] = full[j, s] * slopes[j, s]
    return full, deltas


def recurrence(network, k: int) -> mpmath.matrix:
    """U^l, as mpmath numbers."""
    return mpmath.matrix([[_mp(v) for v in row] for row in network.weight_matrix(k, own=True)])
