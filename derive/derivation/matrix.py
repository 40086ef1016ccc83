"""The matrix form: the same gradients computed layer by layer with matrices, as a route of its own.

Computed from the spec's weight matrices, biases and samples and the registry entries' rules only,
never from the scalar derivation's steps: with the samples as the columns of A^0,

    Z^l = W^l A^(l-1) + b^l 1ᵀ,   A^l = f(Z^l)                          (forward)
    Δ^L = ∇_A E ⊙ f'(Z^L)   (a coupled f, softmax: J_f(z^L)ᵀ ∇_a E, per sample)
    Δ^l = ((W^(l+1))ᵀ Δ^(l+1)) ⊙ f'(Z^l)                               (backward)
    ∂E/∂W^l = s · Δ^l (A^(l-1))ᵀ,   ∂E/∂b^l = s · Δ^l 1  (per neuron) or s · 1ᵀ Δ^l 1 (shared)

with s = 1, or 1/S for a mean; column k of each matrix is sample k's vector (a^l, z^l, δ^l), and one
sample's own gradient is δ^l (a^(l-1))ᵀ. A net (or an out) of exact inputs is computed exactly first,
as the scalar derivation computes it (`exact`): a net on a kink is 0, not ±1e-63, and the kink's
convention applies there. Values are mpmath numbers at 60 digits (1000 where a
saturated output needs them, as in `evaluate`); `Matrix` holds them as plain tuples, for any printer.
`entries` maps each scalar name to its matrix entry (w5 = W^(2)_{1,1}). The tests check every
number against the scalar derivation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from derive.derivation import matrix_steps
from derive.derivation.evaluate import PRECISION, SATURATED_PRECISION, mp_value
from derive.derivation.exact import rational_value
from derive.model import quantities as Q
from derive.model.modes import BiasMode

WEIGHTS, BIASES, NETS, OUTS, DELTAS, RECURRENT = "W", "b", "z", "a", "delta", "U"


@dataclass(frozen=True)
class Matrix:
    """Rows of mpmath numbers."""

    rows: tuple[tuple[mpmath.mpf, ...], ...]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.rows[0]) if self.rows else 0

    def __getitem__(self, index: tuple[int, int]) -> mpmath.mpf:
        return self.rows[index[0]][index[1]]

    def column(self, k: int) -> Matrix:
        return Matrix(tuple((row[k],) for row in self.rows))

    @classmethod
    def of(cls, m: mpmath.matrix) -> Matrix:
        return cls(tuple(tuple(m[i, j] for j in range(m.cols)) for i in range(m.rows)))


@dataclass(frozen=True)
class Layer:
    """Layer l (1 = first non-input layer), every sample a column: Z, A, f'(Z) (None where the
    activation couples the layer), the backward factor (∇_A E for the output layer, (W^(l+1))ᵀ Δ^(l+1)
    below it), Δ, and the gradients summed over the samples (b: None without biases)."""

    index: int
    nets: Matrix
    outs: Matrix
    slopes: Matrix | None
    back: Matrix
    deltas: Matrix
    weight_gradient: Matrix
    bias_gradient: Matrix | None
    sample_gradients: tuple[Matrix, ...]  # δ^l (a^(l-1))ᵀ of each sample
    recurrent_gradient: Matrix | None = None  # a recurrent layer's ∂E/∂U^l (`matrix_steps`)


@dataclass(frozen=True)
class Entry:
    """A scalar quantity and its matrix entry: w5 = W^(2)_{1,1} (row and column from 1; column None for
    a vector's entry, row None for a shared bias, which is one number for the layer)."""

    quantity: Q.Quantity
    matrix: str  # WEIGHTS, RECURRENT, BIASES, NETS, OUTS, DELTAS
    layer: int
    row: int | None
    column: int | None = None
    others: int = 0  # a parameter used at several entries (a kernel entry, a channel's bias): how many more


@dataclass(frozen=True)
class MatrixForm:
    weights: tuple[Matrix, ...]  # W^1 .. W^L (rows: destination neurons, columns: sources)
    biases: tuple[Matrix | None, ...]  # b^l as a column (per neuron), 1x1 (shared), None (no biases)
    inputs: Matrix  # A^0: one column per sample
    targets: Matrix  # T: one column per sample
    layers: tuple[Layer, ...]
    scale: mpmath.mpf  # 1, or 1/S for a mean over the samples
    entries: tuple[Entry, ...]
    gradients: dict[str, mpmath.mpf]  # dE_total/d<parameter>, read off the gradient matrices
    recurrences: tuple[Matrix | None, ...] = ()  # U^1 .. U^L: a recurrent layer's reads of its own units

    @property
    def samples(self) -> int:
        return self.inputs.shape[1]


def _mp(value) -> mpmath.mpf:
    return mpmath.mpf(int(value.p)) / int(value.q)


def _map(m: mpmath.matrix, f) -> mpmath.matrix:
    return mpmath.matrix([[f(m[i, j], i, j) for j in range(m.cols)] for i in range(m.rows)])


def _finite(*matrices) -> bool:
    return all(mpmath.isfinite(m[i, j]) for m in matrices for i in range(m.rows) for j in range(m.cols))


def entries(network) -> tuple[Entry, ...]:
    """Every parameter and every neuron's net, out and delta, with its matrix entry (a parameter used
    at several entries: its first, and how many more)."""
    out = []
    for p in network.parameters:
        where = _places(network, p)
        if p.kind == Q.WEIGHT:
            row, column, own = where[0] if where else (0, 0, False)
            out.append(Entry(p.quantity, RECURRENT if own else WEIGHTS, p.layer, row + 1, column + 1,
                             max(len(where) - 1, 0)))
        elif network.spec.bias == BiasMode.SHARED:
            out.append(Entry(p.quantity, BIASES, p.layer, None))
        else:
            out.append(Entry(p.quantity, BIASES, p.layer, where[0][0] + 1, None, len(where) - 1))
    for j, i in enumerate(network.inputs):
        out.append(Entry(Q.out(i), OUTS, 0, j + 1))
    for k, layer in enumerate(network.layers[1:], start=1):
        for make, kind in ((Q.net, NETS), (Q.out, OUTS), (Q.delta, DELTAS)):
            out += [Entry(make(n), kind, k, j + 1) for j, n in enumerate(layer)]
    return tuple(out)


def _places(network, p) -> list[tuple[int, int, bool]]:
    """The (row, column, in U) entries of W^l, or of a recurrent layer's U^l (a bias: (row, 0) of b^l)
    where parameter ``p`` is used."""
    rows = {n: j for j, n in enumerate(network.layers[p.layer])}
    columns = {n: i for i, n in enumerate(network.layers[p.layer - 1])}
    return [(rows[n], columns[s] if s in columns else rows[s] if s else 0, s in rows)
            for n, s in zip(p.feeds, p.sources, strict=True)]


def _bias_vector(network, k: int) -> list:
    """b^l: one number for the layer (a shared bias), else each unit's bias (a channel's bias at each
    of its units); empty without biases."""
    biases = [p for p in network.parameters if p.layer == k and p.kind == Q.BIAS]
    if network.spec.bias == BiasMode.SHARED:
        return [b.value for b in biases]
    per_unit = {n: b.value for b in biases for n in b.feeds}
    return [per_unit.get(n, sp.S.Zero) for n in network.layers[k]] if biases else []  # an LSTM's c, h: none


def compute(network) -> MatrixForm:
    """The matrix form of one step, at 60 digits (1000 where a saturated neuron needs them)."""
    with mpmath.workdps(PRECISION):
        form = _compute(network)
    if form is None:
        with mpmath.workdps(SATURATED_PRECISION):
            form = _compute(network, fallback=True)
    assert form is not None  # the fallback always gives one
    return form


def _compute(network, fallback: bool = False) -> MatrixForm | None:
    spec = network.spec
    S, L = len(spec.samples), network.depth
    W = [mpmath.matrix([[_mp(v) for v in row] for row in network.weight_matrix(k)]) for k in range(1, L + 1)]
    b = [mpmath.matrix([[_mp(v)] for v in layer]) if layer else None
         for layer in (_bias_vector(network, k) for k in range(1, L + 1))]
    A0 = mpmath.matrix([[_mp(s.inputs[i]) for s in spec.samples] for i in range(spec.layers[0])])
    T = mpmath.matrix([[_mp(s.targets[j]) for s in spec.samples] for j in range(spec.layers[-1])])
    x, y = sp.Symbol("x", real=True), sp.Symbol("y", real=True)
    A, Z, F = [A0], [None], [None]
    exact = [[[s.inputs[i] for s in spec.samples] for i in range(spec.layers[0])]]  # None: not known exactly
    routes: list[list | None] = [None] * (L + 1)  # a pooling layer's P^l of each sample
    for k in range(1, L + 1):
        if network.sequential(k):  # unit by unit (`matrix_steps`)
            z, a, slopes, outs = matrix_steps.forward(network, k, A[-1], exact[-1], _bias_vector(network, k))
            Z.append(z)
            A.append(a)
            F.append(slopes)
            exact.append(outs)
            continue
        route = _routes(network, k, A[-1]) if network.kind(k).combination is not None else None
        if route is not None:
            routes[k], W[k - 1] = route, route[0]
        z = _per_sample(route, A[-1]) if route is not None else W[k - 1] * A[-1]
        if b[k - 1] is not None:  # b^l 1ᵀ: a shared bias is one number added to every entry
            z = _map(z, lambda v, i, j, bk=b[k - 1]: v + bk[0 if spec.bias == BiasMode.SHARED else i, 0])
        nets = _exact_nets(network, k, exact[-1]) if route is None else [[None] * S for _ in range(z.rows)]
        z = _map(z, lambda v, i, j, nets=nets: v if nets[i][j] is None else _mp(nets[i][j]))
        act = network.layer_activation(k)
        if act.couples_layer:
            a = _coupled(act, z)
            slopes = None
            exact.append([[None] * S for _ in nets])
        else:  # f and f' as the registry entry defines them, in x = net and y = out
            f, slope = act.out(x), act.derivative(x, y)
            exact.append([[None if v is None else rational_value(f, {x: v}) for v in row] for row in nets])
            a = _map(z, lambda v, i, j, f=f, e=exact[-1]: mp_value(f, {x: v}) if e[i][j] is None else _mp(e[i][j]))
            slopes = _map(z, lambda v, i, j, a=a, slope=slope: mp_value(slope, {x: v, y: a[i, j]}))
        Z.append(z)
        A.append(a)
        F.append(slopes)
    loss, n = network.loss, spec.layers[-1]
    d_out = loss.derivative(x, y, n).doit()  # dE/dout in x = target and y = out
    try:
        grad = _map(A[L], lambda v, i, j: mp_value(d_out, {x: T[i, j], y: v}))
    except ZeroDivisionError:  # a saturated output (out = 1 to these digits) under a log loss
        grad = _map(A[L], lambda v, i, j: mpmath.nan)
    deltas: list[Any] = [None] * (L + 1)  # mpmath matrices (untyped), filled from layer L down
    backs: list[Any] = [None] * (L + 1)
    backs[L] = grad
    if F[L] is not None:
        deltas[L] = _map(grad, lambda v, i, j: v * F[L][i, j])
    else:
        deltas[L] = _jacobian_product(network.layer_activation(L), A[L], grad)
    if not _finite(deltas[L]):
        if not fallback:
            return None
        deltas[L] = _fused(loss, Z[L], A[L], T)  # the loss's simplified delta with its activation (a - t)
    for k in range(L - 1, 0, -1):
        above = routes[k + 1]
        backs[k] = _per_sample([r.T for r in above], deltas[k + 1]) if above else W[k].T * deltas[k + 1]
        if network.sequential(k + 1):
            backs[k] += matrix_steps.sent_below(network, k + 1, deltas[k + 1], A[k + 1], A[k])
        if network.sequential(k):
            backs[k], deltas[k] = matrix_steps.backward(network, k, backs[k], F[k], A[k], A[k - 1])
        else:
            deltas[k] = _map(backs[k], lambda v, i, j, f=F[k]: v * f[i, j])
    if not fallback and not all(_finite(m) for m in (*A, *Z[1:], *deltas[1:])):
        return None
    scale = mpmath.mpf(1) / S if spec.reduction == "mean" else mpmath.mpf(1)
    layers, gradients = [], {}
    ones = mpmath.matrix([[1] for _ in range(S)])
    for k in range(1, L + 1):
        gW = scale * (deltas[k] * A[k - 1].T)
        gb = None
        if b[k - 1] is not None:
            per_neuron = scale * (deltas[k] * ones)
            total = mpmath.matrix([[mpmath.fsum(per_neuron[i, 0] for i in range(per_neuron.rows))]])
            gb = total if spec.bias == BiasMode.SHARED else per_neuron  # a shared bias: 1ᵀ Δ 1
        own = tuple(Matrix.of(deltas[k][:, s] * A[k - 1][:, s].T) for s in range(S))
        gU = Matrix.of(scale * (deltas[k] * A[k].T)) if network.sequential(k) else None
        layers.append(Layer(k, Matrix.of(Z[k]), Matrix.of(A[k]), Matrix.of(F[k]) if F[k] is not None else None,
                            Matrix.of(backs[k]), Matrix.of(deltas[k]), Matrix.of(gW),
                            Matrix.of(gb) if gb is not None else None, own, gU))
    table = entries(network)
    for p in network.parameters:  # a parameter used at several entries: the sum of theirs
        if p.kind == Q.WEIGHT:
            layer = layers[p.layer - 1]
            found = [(layer.recurrent_gradient if own and layer.recurrent_gradient else layer.weight_gradient)[r, c]
                     for r, c, own in _places(network, p)]
        else:
            bias_gradient = layers[p.layer - 1].bias_gradient
            assert bias_gradient is not None  # a bias's layer has biases
            rows = [0] if spec.bias == BiasMode.SHARED else [r for r, _, _ in _places(network, p)]
            found = [bias_gradient[r, 0] for r in rows]
        gradients[p.name] = mpmath.fsum(found) if len(found) != 1 else found[0]
    recurrences = tuple(Matrix.of(matrix_steps.recurrence(network, k)) if network.sequential(k) else None
                        for k in range(1, L + 1))
    return MatrixForm(tuple(Matrix.of(w) for w in W), tuple(Matrix.of(v) if v is not None else None for v in b),
                      Matrix.of(A0), Matrix.of(T), tuple(layers), scale, table, gradients, recurrences)


def _routes(network, k: int, a: mpmath.matrix) -> list[mpmath.matrix]:
    """A layer without parameters (pooling), for each sample: its matrix P of local partials dnet/dout
    (row j: unit j's window, 1 at its first maximum or 1/n at each input), evaluated at that sample's
    outs below; z = P a and back = Pᵀ δ, as a weight matrix's are (a max pooling's P is the sample's)."""
    below = {n: i for i, n in enumerate(network.layers[k - 1])}
    symbols = [network.symbol(Q.out(n)) for n in network.layers[k - 1]]
    out = []
    for s in range(a.cols):
        env = {symbol: a[i, s] for i, symbol in enumerate(symbols)}
        P = mpmath.matrix(len(network.layers[k]), len(below))
        for j, unit in enumerate(network.layers[k]):
            for t in network.net_terms[unit]:
                P[j, below[t.factor.name]] = mp_value(t.coefficient, env)
        out.append(P)
    return out


def _per_sample(matrices: list, m: mpmath.matrix) -> mpmath.matrix:
    """Column s of the result is matrices[s] times column s of ``m``."""
    columns = [matrices[s] * m[:, s] for s in range(m.cols)]
    return mpmath.matrix([[columns[s][i, 0] for s in range(m.cols)] for i in range(columns[0].rows)])


def _exact_nets(network, k: int, outs: list[list]) -> list[list]:
    """Layer k's nets, neuron by sample, as exact rationals where every out below is one (else None)."""
    spec = network.spec
    weights, biases = network.weight_matrix(k), _bias_vector(network, k)
    nets = []
    for i, row in enumerate(weights):
        bias = (biases[0] if spec.bias == BiasMode.SHARED else biases[i]) if biases else 0
        nets.append([None if any(a[s] is None for a in outs)
                     else sum((w * a[s] for w, a in zip(row, outs, strict=True)), sp.S.Zero) + bias
                     for s in range(len(spec.samples))])
    return nets


def _coupled(act, z: mpmath.matrix) -> mpmath.matrix:
    """A coupled activation (softmax) of each column: out_j = the layer hook's out_j of the nets."""
    nets = [sp.Symbol(f"z{i}", real=True) for i in range(z.rows)]
    outs = [act.layer.out(nets, i) for i in range(z.rows)]
    return _map(z, lambda v, i, j: mp_value(outs[i], {s: z[r, j] for r, s in enumerate(nets)}))


def _jacobian_product(act, a: mpmath.matrix, grad: mpmath.matrix) -> mpmath.matrix:
    """δ = J_f(z)ᵀ ∇_a E per sample, J from the activation's Jacobian hook (dout_i/dnet_j)."""
    outs = [sp.Symbol(f"a{i}", real=True) for i in range(a.rows)]
    J = [[act.layer.jacobian(outs, i, j) for j in range(a.rows)] for i in range(a.rows)]

    def delta(_, j, s):
        env = {o: a[r, s] for r, o in enumerate(outs)}
        return mpmath.fsum(mp_value(J[i][j], env) * grad[i, s] for i in range(a.rows))

    return _map(a, lambda v, j, s: delta(v, j, s))


def _fused(loss, z: mpmath.matrix, a: mpmath.matrix, T: mpmath.matrix) -> mpmath.matrix:
    """The loss's fused delta hook, where the product of its factors is inf * 0 (a saturated output)."""
    nets = [sp.Symbol(f"z{i}", real=True) for i in range(a.rows)]
    outs = [sp.Symbol(f"a{i}", real=True) for i in range(a.rows)]
    targets = [sp.Symbol(f"t{i}", real=True) for i in range(a.rows)]
    temporaries = {t.quantity: sp.Symbol(f"temporary{k}", real=True)
                   for k, t in enumerate(loss.fused_temporaries(targets) if loss.fused_temporaries else [])}
    formulas = {temporaries[t.quantity]: t.formula for t in (loss.fused_temporaries(targets) if temporaries else [])}

    def delta(_, i, s):
        env = {o: a[r, s] for r, o in enumerate(outs)} | {t: T[r, s] for r, t in enumerate(targets)}
        env |= {n: z[r, s] for r, n in enumerate(nets)}
        env |= {sym: mp_value(formula, env) for sym, formula in formulas.items()}
        return mp_value(loss.fused_delta(nets, outs, targets, i, temporaries.get), env)

    return _map(a, delta)
