"""The matrix form of a recurrent layer, a route of its own as `derive.derivation.matrix` is: the layer
unrolled, its units step by step, with U the matrix of its reads of its own units (W_hh at each step,
strictly below the diagonal blocks, so that each unit reads only units computed before it):

    Z^l = W^l A^(l-1) + U^l A^l + b^l 1ᵀ,  A^l = f(Z^l)        (row by row, the first step's first)
    Δ^l = ((W^(l+1))ᵀ Δ^(l+1) + (U^l)ᵀ Δ^l) ⊙ f'(Z^l)           (row by row, the last step's last first)
    ∂E/∂U^l = s · Δ^l (A^l)ᵀ                                    (at U's entries that are weights)

A net of exact inputs and exact earlier outs is computed exactly first, as `matrix` does for a layer.
A unit whose net input is a formula of earlier units' outs (an LSTM's c_t and h_t, a normalization's
mean, variance and xhat) has a row of local partials instead, P^l (its entries evaluated at the
sample's outs): its net is its formula, and it sends back (P^l)ᵀ Δ^l beside (U^l)ᵀ Δ^l, and to the
layer below (Q^l)ᵀ Δ^l beside (W^l)ᵀ Δ^l, Q^l its local partials in the layer below's outs; each unit
applies its own activation.
"""

from __future__ import annotations

import mpmath
import sympy as sp

from derive.derivation.evaluate import mp_value
from derive.derivation.exact import rational_value
from derive.model import quantities as Q


def _mp(value) -> mpmath.mpf:
    return mpmath.mpf(int(value.p)) / int(value.q)


def forward(network, k: int, below: mpmath.matrix, exact_below: list[list], biases: list):
    """(Z, A, f'(Z), the exact outs or None) of recurrent layer k, each sample a column."""
    W, U = network.weight_matrix(k), network.weight_matrix(k, own=True)
    x, y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)
    units = network.layers[k]
    n, S = len(W), below.cols
    z, a, slopes = mpmath.matrix(n, S), mpmath.matrix(n, S), mpmath.matrix(n, S)
    exact: list[list] = [[None] * S for _ in range(n)]
    for j in range(n):
        bias = biases[j] if biases else sp.S.Zero
        act = network.activation(units[j])
        f, slope = act.out(x), act.derivative(x, y)
        for s in range(S):
            if not network.weighted(units[j]):
                env = _outs(network, k, a, s, below)
                z[j, s] = mp_value(network.formulas[units[j]], env)
                a[j, s] = mp_value(f, {x: z[j, s]})
                slopes[j, s] = mp_value(slope, {x: z[j, s], y: a[j, s]})
                continue
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


def backward(network, k: int, back: mpmath.matrix, slopes: mpmath.matrix, outs: mpmath.matrix,
             below: mpmath.matrix):
    """(dE/dA with the later steps' deltas added, Δ) of recurrent layer k, from ``back``, (W^(l+1))ᵀ Δ^(l+1),
    and the layer's outs A^l and the layer below's (at which P^l's local partials are evaluated)."""
    U = network.weight_matrix(k, own=True)
    n, S = back.rows, back.cols
    full, deltas = back.copy(), mpmath.matrix(n, S)
    partials = [local_partials(network, k, outs, s, below)[0] for s in range(S)]
    for j in reversed(range(n)):
        for s in range(S):
            full[j, s] = back[j, s] + mpmath.fsum([_mp(U[i][j]) * deltas[i, s] for i in range(j + 1, n) if U[i][j]]
                                                  + [p * deltas[i, s] for i, p in partials[s].get(j, ())])
            deltas[j, s] = full[j, s] * slopes[j, s]
    return full, deltas


def _outs(network, k: int, a: mpmath.matrix, s: int, below: mpmath.matrix) -> dict:
    """Sample s's outs of layer k's units (those computed so far) and of the layer below's, by symbol."""
    own = {network.symbol(Q.out(n)): a[m, s] for m, n in enumerate(network.layers[k])}
    return own | {network.symbol(Q.out(n)): below[m, s] for m, n in enumerate(network.layers[k - 1])}


Partials = dict[int, list[tuple[int, mpmath.mpf]]]


def local_partials(network, k: int, a: mpmath.matrix, s: int, below: mpmath.matrix) -> tuple[Partials, Partials]:
    """P^l and Q^l of sample s, by column: for unit j of the layer (P) or of the layer below (Q), the
    (unit i, dnet_i/dout_j) of the units whose net inputs are formulas that read it (an LSTM's c_t reads
    f_t, i_t, g_t and c_(t-1); a normalization's mean reads every x)."""
    units = network.layers[k]
    own, under = {n: m for m, n in enumerate(units)}, {n: m for m, n in enumerate(network.layers[k - 1])}
    env = _outs(network, k, a, s, below)
    found: tuple[Partials, Partials] = ({}, {})
    for i, unit in enumerate(units):
        if network.weighted(unit):
            continue
        for t in network.net_terms[unit]:
            inside = t.factor.name in own
            column = (own if inside else under)[t.factor.name]
            found[0 if inside else 1].setdefault(column, []).append((i, mp_value(t.coefficient, env)))
    return found


def sent_below(network, k: int, deltas: mpmath.matrix, outs: mpmath.matrix, below: mpmath.matrix) -> mpmath.matrix:
    """(Q^l)ᵀ Δ^l: what layer k's formula units send the layer below, beside (W^l)ᵀ Δ^l."""
    rows, S = len(network.layers[k - 1]), deltas.cols
    sent = mpmath.matrix(rows, S)
    for s in range(S):
        for j, reads in local_partials(network, k, outs, s, below)[1].items():
            sent[j, s] = mpmath.fsum([p * deltas[i, s] for i, p in reads])
    return sent


def recurrence(network, k: int) -> mpmath.matrix:
    """U^l, as mpmath numbers."""
    return mpmath.matrix([[_mp(v) for v in row] for row in network.weight_matrix(k, own=True)])
