"""``type = "attention"``: one head of scaled dot-product self-attention over the steps of a sequence,
written as the textbooks write it, one unit per quantity:

    q_t = W_q x_t (+ b_q),  k_t = W_k x_t (+ b_k),  v_t = W_v x_t (+ b_v)     projections [d]
    s_ts = (q_t . k_s) / sqrt(d)                                              scores
    a_ts = the registry's normalized exponential of s_t1 .. s_tT, at s         attention weights
    y_t = sum over s of a_ts v_s                                              outputs [d]

with s running over every step, or the steps up to t (``causal = true``). The projections are weighted
units as a dense layer's; s, a and y are units whose net inputs are formulas of the outs they read
(`local_terms`), so the backward pass reads each local partial off its formula: ds_ts/dq_ti = k_si /
sqrt(d) (the scale shown), da_ts/ds_tr = a_ts (1 - a_ts) or -a_ts a_tr (the registry entry's Jacobian),
dy_tj/da_ts = v_sj and dy_tj/dv_sj = a_ts.

Keys: ``d``; ``weight_q``, ``weight_k``, ``weight_v`` [d][features] (given together or drawn from the
seed); ``bias_q``, ``bias_k``, ``bias_v`` [d] (all three or none: then the layer has no biases);
``causal`` (default false); ``input_size`` optional. Its output is a sequence [steps, d], read by the
layers above as a recurrent layer's (``sequence_output``).

Units: every step's q, then k, then v (step by step, d each), the scores and the weights (row t: s
over its steps), then y step by step; the layer above reads the y's.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from derive.model import program as P
from derive.model import quantities, scalars
from derive.model.entries import activation
from derive.model.layers import PathSlip, Read, Typed, register, tensor
from derive.model.registry import ATTENTION_WEIGHTS, NO_ACTIVATION

TENSORS = ("weight_q", "weight_k", "weight_v")
BIASES = ("bias_q", "bias_k", "bias_v")
QUERY, KEY, VALUE, SCORE, WEIGHT, OUTPUT = "q", "k", "v", "s", "a", "y"


def pairs(layer: Typed) -> list[tuple[int, int]]:
    """The (t, s) of every score, row by row: every s, or s up to t (causal)."""
    steps = layer.shape[0]
    causal = layer.setting("causal")
    return [(t, s) for t in range(steps) for s in range(steps) if s <= t or not causal]


def _layout(layer: Typed) -> dict[str, int]:
    """Where each part's units start among the layer's units."""
    steps, d = layer.shape
    n = len(pairs(layer))
    return {QUERY: 0, KEY: steps * d, VALUE: 2 * steps * d, SCORE: 3 * steps * d, WEIGHT: 3 * steps * d + n,
            OUTPUT: 3 * steps * d + 2 * n}


class Attention:
    name = "attention"
    keys: tuple[str, ...] = ("type", "input_size", "d", *TENSORS, *BIASES, "causal")
    combination = None
    reads_positions = True  # its lowering reads the layer below through `Layer.reads`
    sequential = True  # s reads q and k, a reads s, y reads a and v: computed in order
    sequence = True  # its outputs are a sequence: the layers above read it as a recurrent layer's
    tensor_names = TENSORS
    activation_words = "none (attention: y_t = sum over s of a_ts v_s, a_t the weights of q_t . k_s / sqrt(d))"
    equations = ((r"s_{ts}", r"\frac{q_t \cdot k_s}{\sqrt{d}}"),
                 (r"a_{ts}", r"\frac{e^{s_{ts}}}{\sum_{r} e^{s_{tr}}} \quad (s, r \le t \text{ when causal})"),
                 (r"y_t", r"\sum_s a_{ts} v_s"))

    @property
    def lowering(self) -> P.Lowering:
        return scalars.lowering(self)

    @property
    def path_slips(self) -> tuple[PathSlip, ...]:
        """Its usual slips (`derive.check.variants`): the weights' Jacobian taken as its diagonal (da_ts/ds_tr
        as 0 for r other than s), and the scale 1/sqrt(d) left out of the scores' partials backward."""
        return (PathSlip("attention_jacobian_diagonal", "the attention weights' Jacobian replaced by its diagonal: "
                         "da_ts/ds_tr taken as 0 for r other than s", ((WEIGHT, SCORE),),
                         where=lambda layer, unit, read: self.part(layer, unit)[2] != self.part(layer, read)[2]),
                PathSlip("attention_scale_left_out", "the scale 1/sqrt(d) left out of the scores' partials: "
                         "ds_ts/dq_t = k_s and ds_ts/dk_s = q_t", ((SCORE, QUERY), (SCORE, KEY)),
                         factor=lambda layer: sp.sqrt(layer.shape[1])))

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        if len(shape_in) != 2:
            given = f"{shape_in[0]} features" if len(shape_in) == 1 else f"a shape {list(shape_in)}"
            check.fail(f"{key}: an {self.name} layer reads a sequence [steps, features], but the layer below gives "
                       f"{given}: put it first (input = [steps, features]) or right after a recurrent layer")
        steps, features = shape_in
        if "input_size" in table and check.integer(table["input_size"], f"{key}.input_size", 1,
                                                   check.max_width) != features:
            check.fail(f"{key}.input_size = {table['input_size']}, but the layer below gives {features} features "
                       "per step")
        if "d" not in table:
            check.fail(f"{key}: missing key 'd' (the size of its queries, keys and values)")
        d = check.integer(table["d"], f"{key}.d", 1, check.max_width)
        causal = table.get("causal", False)
        if not isinstance(causal, bool):
            check.fail(f"{key}.causal must be true or false, not {check.kind(causal)}")
        biases = [name for name in BIASES if name in table]
        settings = (("causal", causal), ("biased", bool(biases)))
        probe = Typed(self.name, shape_in, (steps, d), settings)
        layer = Typed(self.name, shape_in, (steps, d), settings, internal=3 * steps * d + 2 * len(pairs(probe)))
        named = [name for name in TENSORS if name in table]
        if named and len(named) != len(TENSORS):
            check.fail(f"{key}: {named[0]} is given but not {next(n for n in TENSORS if n not in table)}: give all "
                       "three, or none (drawn from the seed)")
        weight = tuple(tensor(table[n], f"{key}.{n}", (d, features), ("d", "input_size"), check)
                       for n in TENSORS) if named else None
        if biases and len(biases) != len(BIASES):
            check.fail(f"{key}: {biases[0]} is given but not {next(n for n in BIASES if n not in table)}: give all "
                       "three, or none (no biases)")
        bias = tuple(v for n in BIASES for v in check.vector(table[n], f"{key}.{n}", d, "d is")) if biases else ()
        return Read(layer, NO_ACTIVATION, weight, bias)

    def tensors(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        return ((layer.shape[1], layer.shape_in[1]),) * len(TENSORS)

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        return 3 * layer.shape[1], layer.shape_in[1]

    def exposed(self, layer: Typed) -> tuple[int, ...]:
        first = _layout(layer)[OUTPUT]
        return tuple(range(first, first + layer.width))

    def part(self, layer: Typed, position: int) -> tuple[str, int, int]:
        """(q, k, v, s, a or y; its step t, from 1; its unit j, or the step s it attends to, from 1)."""
        at, d = _layout(layer), layer.shape[1]
        for which in (OUTPUT, WEIGHT, SCORE, VALUE, KEY, QUERY):
            if position >= at[which]:
                offset = position - at[which]
                if which in (SCORE, WEIGHT):
                    t, s = pairs(layer)[offset]
                    return which, t + 1, s + 1
                return which, offset // d + 1, offset % d + 1
        raise AssertionError(position)

    def latex_node(self, layer: Typed, position: int) -> str:
        which, t, j = self.part(layer, position)
        return f"{which}_{{{t},{j}}}"

    def unit_activations(self, layer: Typed, activation_name: str) -> tuple[str, ...]:
        return (NO_ACTIVATION,) * layer.units

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        """q_t,i (k, v alike) reads x_t through row i of W_q (W_k, W_v: their entries after W_q's)."""
        (steps, features), d = layer.shape_in, layer.shape[1]
        units: list[tuple[tuple[int, int], ...]] = []
        for n in range(len(TENSORS)):
            for t in range(steps):
                units += [tuple((t * features + f, n * d * features + i * features + f) for f in range(features))
                          for i in range(d)]
        return (*units, *((),) * (layer.units - len(units)))

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        steps, d = layer.shape
        if not layer.setting("biased"):
            return ()
        return tuple(tuple(n * steps * d + t * d + i for t in range(steps)) for n in range(len(TENSORS))
                     for i in range(d))

    def local_terms(self, layer: Typed, position: int, out: Callable[[int], sp.Expr]):
        """s_ts, a_ts and y_tj as formulas of the outs they read, and those inputs; None for q, k, v."""
        at, d, base = _layout(layer), layer.shape[1], layer.width_in
        which, t, j = self.part(layer, position)
        t -= 1
        if which == SCORE:
            s = j - 1
            q = [base + at[QUERY] + t * d + i for i in range(d)]
            k = [base + at[KEY] + s * d + i for i in range(d)]
            dot = sp.Add(*(sp.Mul(out(a), out(b), evaluate=False) for a, b in zip(q, k, strict=True)), evaluate=False)
            return sp.Mul(dot, sp.Pow(sp.sqrt(d), -1, evaluate=False), evaluate=False), q + k  # dot / sqrt(d), shown
        row = [(n, s) for n, (r, s) in enumerate(pairs(layer)) if r == t]
        if which == WEIGHT:
            scores = [base + at[SCORE] + n for n, _ in row]
            index = [s for _, s in row].index(j - 1)
            return activation(ATTENTION_WEIGHTS).coupling.out([out(i) for i in scores], index), scores
        if which == OUTPUT:
            weights = [base + at[WEIGHT] + n for n, _ in row]
            values = [base + at[VALUE] + s * d + j - 1 for _, s in row]
            terms = (sp.Mul(out(a), out(v), evaluate=False) for a, v in zip(weights, values, strict=True))
            return sp.Add(*terms, evaluate=False), [i for pair in zip(weights, values, strict=True) for i in pair]
        return None

    def place(self, layer: Typed, weight: bool, index: int) -> tuple[list[int], str, list[int]]:
        """(no block layer; weight_q .. or bias_q ..; the index in it) of weight or bias ``index``."""
        d, features = layer.shape[1], layer.shape_in[1]
        if weight:
            n, rest = divmod(index, d * features)
            return [], TENSORS[n], list(divmod(rest, features))
        return [], BIASES[index // d], [index % d]

    def zero_gradients(self, network, k: int) -> set[str]:
        """The key biases: b_k adds q_t . b_k / sqrt(d) to every score of row t, a shift of all the arguments of
        the row's softmax, which it does not see, so dE/db_k = 0 exactly. Ball arithmetic cannot decide a 0
        reached through the softmax (it doubled the precision until its cap, seconds each time): this is its
        proof (`layers.exact_zeros`)."""
        d = network.typed(k).shape[1]
        return {p.name for p in network.parameters
                if p.layer == k and p.kind == quantities.BIAS and BIASES[p.index // d] == "bias_k"}

    def table(self, layer: Typed, activation_name: str, weight: tuple) -> dict:
        return {"d": layer.shape[1], **dict(zip(TENSORS, weight, strict=True)), "causal": layer.setting("causal")}

    def slips(self, layer: Typed, parameters: list) -> list:
        return []


ATTENTION = register(Attention())
