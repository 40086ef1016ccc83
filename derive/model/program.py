"""The vocabulary of the lowered program: what a layer is to the code targets, and the few statement
kinds every target prints (`derive.render.code.walker`).

It sits in the model so that a layer kind's module (`derive.model.layers`) can hold its own lowering,
statements built from this vocabulary, beside its keys, its tensors and its forward pass. The program
itself is built in `derive.derivation.lowered`.

Statement kinds, over vectors named by their kind and layer (``out`` of layer 1 is a^1; ``error`` and
``delta`` of the output layer; ``back`` of layer l is dE/da^l, the deltas of layer l + 1 sent back):

- `Units`: a loop over a layer's units, whose body holds the unit-level statements `Affine`, `Each`
  and `Map` (a target may print it as one loop, or each body statement as a vector operation);
- `Affine`: the net input, a sum over the layer's inputs, z_j = sum_k W_jk a_k (+ the bias);
- `Each`: one value per unit j of a layer, from that unit's entries only (its input, net, out, delta,
  and its own weight and bias): a layer whose unit j reads input j only (a per-feature scale) is
  lowered to these, into its nets, the vector sent back, or its parameters' gradients;
- `Gather`: a layer whose units sum weight × input over a table of connections, one weight used at
  many of them (a convolution): its nets, the vector sent back, its gradients;
- `Recur`: a recurrent layer unrolled over a sequence's steps: its nets and outs step by step, its
  deltas through time (last step first), its gradients summed over the steps;
- `Pool`: a layer without parameters whose units take the largest or the mean of their windows
  (pooling): its nets, and the vector sent back (to each window's first largest input, or spread);
- `Scalars`: a layer unit by unit, each line one entry's value (an LSTM's gates and states);
- `Map`: an elementwise map, vector_j = expr for every unit j, reading the vectors ``reads``;
- `Rows`: vector_j = expr_j unit by unit (a coupled layer such as softmax);
- `Let`: one scalar assignment for the layer (a temporary);
- `Total`: the sum of a vector (E_total, the sum of the error terms);
- `Propagate`: back = W^T delta, the sum over a layer's units sent to the layer below;
- `Update`: a layer's gradients delta a^T (and its biases'), stored or applied as a step in place.

Straight-line code is the other lowering of the same program: `Sum` (one net input, a sum of
weight * input terms, the bias last), `Let` (one step's quantity) and `Store` (one parameter's
gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from derive.model.modes import BiasMode

#: A layer's vectors, for "this unit's" entry: its net input, out, target (the output layer), dE/dout
#: sent back from above (BACK), its delta, its input (the out of the layer below), and the unit's own
#: weight and bias (a layer whose unit j has one of each: `Each`).
NET, OUT, TARGET, BACK, DELTA, INPUT, WEIGHT, BIAS = (
    sp.Symbol(n, real=True) for n in ("NET", "OUT", "TARGET", "BACK", "DELTA", "INPUT", "WEIGHT", "BIAS"))


#: the entries an `Each` statement may read, in the order a target lists them
ENTRIES = (INPUT, NET, OUT, DELTA, WEIGHT, BIAS)


def entries(expr: sp.Expr) -> list[sp.Symbol]:
    """The unit entries ``expr`` reads (of `ENTRIES`, in that order)."""
    return [e for e in ENTRIES if e in expr.free_symbols]


def indexed(kind: str, j: int) -> sp.Symbol:
    """Entry j (from 0) of the output layer's vector ``kind`` ("net", "out", "target")."""
    return sp.Symbol(f"{kind}_{j}", real=True)


def index_of(symbol: sp.Symbol) -> tuple[str, int] | None:
    kind, _, j = symbol.name.rpartition("_")
    return (kind, int(j)) if kind in ("net", "out", "target") and j.isdigit() else None


@dataclass(frozen=True)
class Layer:
    index: int
    width_in: int
    width: int
    weights: int  # index of the layer's first weight in PARAMETERS
    bias: BiasMode
    biases: int  # index of the layer's first bias in PARAMETERS (-1: none)
    out: sp.Expr | None  # hidden (elementwise) layers: out in NET
    delta: sp.Expr | None  # hidden layers: delta in BACK, NET, OUT
    kind: str  # its layer kind (`derive.model.layers.KINDS`), which holds its lowering
    typed: object = None  # the layer as given (`derive.model.layers.Typed`), for its kind's lowering
    recurrent: bool = False  # its units read its own earlier ones (`Recur`)
    #: the positions, among the layer below's units, of the inputs it reads in order (None: every unit;
    #: an LSTM below gives its hidden states only, `derive.model.layers.exposed`)
    reads: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Affine:
    layer: Layer


#: What `Each` writes: the layer's nets, the vector sent to the layer below, its weights' or biases' gradients
NETS, BACKS, WEIGHT_GRADIENTS, BIAS_GRADIENTS = "net", "back", "weight_gradient", "bias_gradient"


@dataclass(frozen=True)
class Each:
    """``into``[j] = expr for every unit j of ``layer``, expr in the unit's entries `INPUT`, `NET`,
    `OUT`, `DELTA`, `WEIGHT`, `BIAS` (the weight read in the backward pass is the one it propagates
    through). Gradients are stored, or applied as a step in place, as `Update`'s are."""

    into: str  # NETS | BACKS | WEIGHT_GRADIENTS | BIAS_GRADIENTS
    layer: Layer
    expr: sp.Expr


@dataclass(frozen=True)
class Gather:
    """A layer whose units sum weight × input over a table of connections (a convolution: one kernel
    entry at many positions): ``into`` NETS, z_j = sum of w_e a_i over its (j, i, e) (+ its bias);
    BACKS, back_i = sum of w_e delta_j; WEIGHT_GRADIENTS, g_e = sum of delta_j a_i; BIAS_GRADIENTS,
    g_b = sum of delta_j over the units of bias b. Gradients are stored, or applied as a step in
    place, as `Update`'s are. The NETS statement comes first (the forward pass): a target defines the
    layer's tables there, once, and the backward statements reuse them."""

    into: str
    layer: Layer
    table: tuple[tuple[int, int, int], ...]  # (unit j, input i, weight entry e), in the layer's order
    biases: tuple[int, ...]  # per unit, the entry of its bias (-1: none)
    weights: int  # the number of entries of the layer's weight tensor


@dataclass(frozen=True)
class Pool:
    """A layer without parameters whose unit j combines the inputs of its window (pooling): ``into``
    NETS, z_j = the largest (``mode`` MAX) or the mean (MEAN) of a_i over window j; BACKS, back_i =
    the sum over the windows holding input i of delta_j, at the window's first largest input only
    (MAX: PyTorch's rule at a tie) or divided by the window's size (MEAN). The NETS statement comes
    first: a target defines the layer's windows there, once, and its BACKS statement reuses them."""

    into: str  # NETS | BACKS
    layer: Layer
    windows: tuple[tuple[int, ...], ...]  # per unit, its inputs in row-major order (all of one size)
    mode: str  # MAX | MEAN


MAX, MEAN = "max", "mean"


@dataclass(frozen=True)
class Scalars:
    """A layer lowered unit by unit (`derive.model.scalars`: a kind whose units are formulas of other
    units' outs, an LSTM's): ``into`` NETS, each unit's net and out; BACKS, last unit first, its delta
    and what it sends back to each input (its own earlier units, and the layer below, whose vectors it
    declares when ``below``); WEIGHT_GRADIENTS, its parameters' gradients, stored, or applied as a step
    in place, as `Update`'s are. Each line is (entry, value, whether added), in `scalars.entry` symbols.
    A layer unrolled over ``steps`` steps alike has step 0's ``lines`` and the ``template`` of any other
    step, its entries' indices in the loop variable ``step``: a target runs it for step = 1 .. steps - 1
    after step 0's lines (BACKS: for step = steps - 1 down to 1, before them)."""

    into: str  # NETS | BACKS | WEIGHT_GRADIENTS
    layer: Layer
    lines: tuple[tuple[sp.Symbol, sp.Expr, bool], ...]
    below: bool = False
    template: tuple[tuple[sp.Symbol, sp.Expr, bool], ...] = ()
    steps: int = 0

    def ordered(self, lines: list[str], loop: list[str]) -> list[str]:
        """Step 0's lines and the loop over the other steps, in the order the statement runs them."""
        return loop + lines if self.into == BACKS else lines + loop


@dataclass(frozen=True)
class Recur:
    """A recurrent layer unrolled over ``steps`` steps of ``features`` inputs and ``hidden`` units (its
    weights W_ih [hidden][features] then W_hh [hidden][hidden], its bias [hidden]; unit t * hidden + j is
    h_t,j). ``into`` NETS: step by step, z_t = W_ih x_t + W_hh h_(t-1) + b (no W_hh term at the first
    step), h_t = the layer's ``out``; BACKS: last step first, delta_t = the layer's ``delta`` with BACK
    the sum of back_t (from the layer above) and W_hh^T delta_(t+1), then (with a layer below) the
    vector sent to it, back_x_t = W_ih^T delta_t; WEIGHT_GRADIENTS: every tensor's gradient summed over
    the steps (W_ih: delta_t x_t^T; W_hh: delta_t h_(t-1)^T from the second step; b: delta_t), stored,
    or applied as a step in place, as `Update`'s are."""

    into: str  # NETS | BACKS | WEIGHT_GRADIENTS
    layer: Layer
    steps: int
    features: int
    hidden: int
    below: bool = False  # BACKS: whether a layer below takes the vector sent back
    #: where x_t,i (input t * features + i) sits among the layer below's units, where not there (an lstm's
    #: hidden states, an rnn's after its initial state): a table the targets index through
    positions: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Map:
    vector: str  # "out", "error", "delta"
    layer: int
    expr: sp.Expr  # in the vector symbols `NET`, `OUT`, `TARGET`, `BACK`
    reads: tuple[str, ...]  # the vectors the map reads, of "net", "out", "target", "back"


@dataclass(frozen=True)
class Units:
    layer: Layer
    body: tuple[Affine | Each | Gather | Pool | Map, ...]


@dataclass(frozen=True)
class Rows:
    vector: str
    layer: int
    exprs: tuple[sp.Expr, ...]  # unit j's value, in the per-unit symbols `indexed`


@dataclass(frozen=True)
class Let:
    name: str
    expr: sp.Expr


@dataclass(frozen=True)
class Total:
    name: str
    vector: str


@dataclass(frozen=True)
class Propagate:
    layer: Layer  # back of the layer below = this layer's W^T delta


@dataclass(frozen=True)
class Update:
    layer: Layer


@dataclass(frozen=True)
class Sum:
    """A net input as the sum of its terms (`Network.net_terms`: weight * what it multiplies, the bias
    alone), in the spec's order."""

    quantity: object
    terms: tuple


@dataclass(frozen=True)
class Store:
    """One parameter's gradient (``quantity``, dE_total/dp) at ``index`` in PARAMETERS order."""

    quantity: object
    index: int
    expr: sp.Expr


LOOP_KINDS = (Units, Affine, Each, Gather, Pool, Recur, Scalars, Map, Rows, Let, Total, Propagate, Update)
STRAIGHT_KINDS = (Sum, Let, Store)
Statement = (Units | Affine | Each | Gather | Pool | Recur | Scalars | Map | Rows | Let | Total | Propagate | Update
             | Sum | Store)


@dataclass(frozen=True)
class Lowering:
    """A layer kind's statements: its forward pass, and its backward pass given the layer below it
    (None for the first layer). The backward pass computes the vector sent back and the deltas of
    the layer below before its own gradients: a step applied in place changes the weights it reads."""

    forward: Callable[[Layer], list[Statement]]
    backward: Callable[[Layer, Layer | None], list[Statement]]


def gathered(layer: Layer, connections, bias_units, weights: int) -> tuple[Gather, list[Gather]]:
    """A layer of connections (`Kind.connections`, `Kind.bias_units`; ``weights`` entries in its weight
    tensor) lowered: its net input, and its backward statements (the vector sent back first)."""
    position = layer.reads or range(layer.width_in)  # input i is the layer below's unit position[i]
    table = tuple((j, position[i], e) for j, reads in enumerate(connections) for i, e in reads)
    biases = [-1] * layer.width
    if layer.biases >= 0:
        for b, units in enumerate(bias_units):
            for j in units:
                biases[j] = b

    def make(into: str) -> Gather:
        return Gather(into, layer, table, tuple(biases), weights)

    backward = [make(WEIGHT_GRADIENTS), *([make(BIAS_GRADIENTS)] if layer.biases >= 0 else [])]
    return make(NETS), [make(BACKS), *backward]


def below_deltas(below: Layer) -> list[Statement]:
    """The deltas of the layer below from the vector sent back: BACK * f'(z) (its registry entry's);
    none for a recurrent layer, whose deltas also collect its next step's (`Recur`)."""
    assert below.delta is not None  # a layer below another is hidden
    if below.recurrent:
        return []
    return [Map("delta", below.index, below.delta, ("back", "net", "out"))]
