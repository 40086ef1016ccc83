"""``type = "lstm"``: `torch.nn.LSTM` (one layer, one bias per gate as the textbooks write it),
unrolled over the steps of a sequence. At step t (from 1), with PyTorch's gate order i, f, g, o:

    i_t = sigma(W_ii x_t + W_hi h_(t-1) + b_i)      input gate
    f_t = sigma(W_if x_t + W_hf h_(t-1) + b_f)      forget gate
    g_t = tanh(W_ig x_t + W_hg h_(t-1) + b_g)       candidate cell state
    o_t = sigma(W_io x_t + W_ho h_(t-1) + b_o)      output gate
    c_t = f_t c_(t-1) + i_t g_t                     cell state
    h_t = o_t tanh(c_t)                             hidden state

with h_0 = c_0 = 0, or ``initial_state`` and ``initial_cell`` (then the layer's first units, h_0 and c_0,
whose net inputs are those numbers). Each gate is a unit as a dense layer's (its net input a weighted sum, its out an
activation of it); c_t and h_t are units whose net inputs are products of other units' outs, each
term with its local partial (dc_t/df_t = c_(t-1), dc_t/dc_(t-1) = f_t, dh_t/do_t = tanh(c_t),
dh_t/dc_t = o_t (1 - tanh^2(c_t)), ...): the backward pass reads them off as it reads a weight, so
dE/dc_t collects dE/dh_t o_t (1 - tanh^2 c_t) and the next step's delta_c(t+1) f_(t+1), the
textbooks' two paths, and dE/dh_t the layers above and the next step's gates through W_hh.

Keys: ``hidden_size``; ``weight_ih`` [4 hidden][input], ``weight_hh`` [4 hidden][hidden] (PyTorch's
``weight_ih_l0``, ``weight_hh_l0``: the rows of i, f, g, o one after the other); ``bias`` [4 hidden]
or "none" (PyTorch's ``bias_ih_l0`` with ``bias_hh_l0`` = 0); ``input_size`` optional.

Units: step by step, each step's i (hidden units), f, g, o, c and h, in that order; the layer above
reads the h's (`exposed`). Its weights are numbered W_ih's entries first, then W_hh's.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from derive.model import program as P
from derive.model import quantities, scalars
from derive.model.entries import activation
from derive.model.layers import PathSlip, Read, Slip, Typed, read_bias, register
from derive.model.layers.sequence import TENSORS, read_sequence, read_tensors
from derive.model.registry import GATE_ACTIVATION, NO_ACTIVATION, RECURRENT_ACTIVATION

GATES = ("i", "f", "g", "o")  # PyTorch's order of the gates' rows in weight_ih, weight_hh and bias
PARTS = (*GATES, "c", "h")  # a step's units, in the order they are computed
INPUT, FORGET, CANDIDATE, OUTPUT, CELL, HIDDEN = range(len(PARTS))
_ACTIVATIONS = (GATE_ACTIVATION, GATE_ACTIVATION, RECURRENT_ACTIVATION, GATE_ACTIVATION, NO_ACTIVATION, NO_ACTIVATION)


def _initial(layer: Typed) -> tuple[tuple, tuple] | None:
    """The initial state and cell (h_0, c_0), where given other than zeros (else None: h_0 = c_0 = 0)."""
    found = dict(layer.settings).get("initial")
    return found  # type: ignore[return-value]


def _position(layer: Typed, step: int, which: int, j: int) -> int:
    """The position of a step's (from 0) unit j of one part among the layer's units; step -1: the initial
    state's (h_0 then c_0, the layer's first units, where given)."""
    hidden = layer.shape[1]
    if step < 0:
        return (0 if which == HIDDEN else hidden) + j
    return initial_units(layer) + (step * len(PARTS) + which) * hidden + j


def initial_units(layer: Typed) -> int:
    """The units before the first step: h_0 and c_0 where an initial state is given, else none."""
    return 2 * layer.shape[1] if _initial(layer) else 0


class LSTM:
    name = "lstm"
    keys: tuple[str, ...] = ("type", "input_size", "hidden_size", *TENSORS, "bias", "initial_state",
                             "initial_cell")
    combination = None
    reads_positions = True  # its lowering reads the layer below through `Layer.reads`
    recurrent = True
    tensor_names = TENSORS
    shared_bias = "gate unit, shared by the steps"
    #: the step's equations as the textbooks write them, for the document's section on the layer: (left
    #: side, right side) in LaTeX, where {gate} and {cell} stand for the registry's LaTeX of the gates' and
    #: the cell's activations (`activations`)
    equations = (
        (r"i^{\langle t \rangle}", r"{gate}(W_{ii} x^{\langle t \rangle} + W_{hi} h^{\langle t-1 \rangle} + b_i)"),
        (r"f^{\langle t \rangle}", r"{gate}(W_{if} x^{\langle t \rangle} + W_{hf} h^{\langle t-1 \rangle} + b_f)"),
        (r"g^{\langle t \rangle}", r"{cell}(W_{ig} x^{\langle t \rangle} + W_{hg} h^{\langle t-1 \rangle} + b_g)"),
        (r"o^{\langle t \rangle}", r"{gate}(W_{io} x^{\langle t \rangle} + W_{ho} h^{\langle t-1 \rangle} + b_o)"),
        (r"c^{\langle t \rangle}", r"f^{\langle t \rangle} c^{\langle t-1 \rangle} + i^{\langle t \rangle} "
         r"g^{\langle t \rangle}"),
        (r"h^{\langle t \rangle}", r"o^{\langle t \rangle} {cell}(c^{\langle t \rangle})"),
        (r"\frac{\partial E}{\partial c^{\langle t \rangle}}", r"\frac{\partial E}{\partial h^{\langle t \rangle}} "
         r"\, o^{\langle t \rangle} \, {cell}'(c^{\langle t \rangle}) + \delta_{c^{\langle t+1 \rangle}} \, "
         r"f^{\langle t+1 \rangle}"),
    )
    activations = (("gate", GATE_ACTIVATION), ("cell", RECURRENT_ACTIVATION))
    #: its units' activations, as every output describes the network's
    activation_words = (f"{GATE_ACTIVATION} gates i, f, o; {RECURRENT_ACTIVATION} for g and in h = o "
                        f"{RECURRENT_ACTIVATION}(c) (lstm)")

    @property
    def lowering(self) -> P.Lowering:
        """Unit by unit (`derive.model.scalars`), from its connections and its units' formulas."""
        return scalars.lowering(self)

    def part(self, layer: Typed, position: int) -> tuple[str, int, int]:
        """(its part, "i" .. "h"; its step, from 1, 0 for the initial state; its unit within the part, from
        1) of the unit at ``position`` among the layer's units: what the outputs label it with (f^<2>_1)."""
        hidden, first = layer.shape[1], initial_units(layer)
        if position < first:
            return ("h", "c")[position // hidden], 0, position % hidden + 1
        step, rest = divmod(position - first, len(PARTS) * hidden)
        which, j = divmod(rest, hidden)
        return PARTS[which], step + 1, j + 1

    initial_units = staticmethod(initial_units)

    #: its products' usual slips (`derive.check.variants`): the cell state's delta without the next step's
    #: delta_c(t+1) f_(t+1) (as if dc_(t+1)/dc_t were 0), the way back through h_t only
    path_slips = (PathSlip("forget_path_left_out", "the forget gate's path left out of the cell state's delta: "
                           "dE/dc_t without the next step's delta_c(t+1) f_(t+1)", (("c", "c"),)),)

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        steps, hidden = read_sequence(self.name, table, key, shape_in, check)
        states = [check.vector(table[name], f"{key}.{name}", hidden, "hidden_size is") if name in table else
                  (0,) * hidden for name in ("initial_state", "initial_cell")]
        settings = (("initial", tuple(states)),) if any(v for state in states for v in state) else ()
        layer = Typed(self.name, tuple(shape_in), (steps, hidden), settings,
                      internal=(len(PARTS) - 1) * hidden * steps + (2 * hidden if settings else 0))
        weight = read_tensors(table, key, self.tensors(layer), "4 hidden_size", check)
        bias = read_bias(table, key, len(GATES) * hidden, "4 hidden_size", check)
        return Read(layer, RECURRENT_ACTIVATION, weight, bias)

    def tensors(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        """W_ih [4 hidden][features], W_hh [4 hidden][hidden]."""
        hidden, features = layer.shape[1], layer.shape_in[1]
        return (len(GATES) * hidden, features), (len(GATES) * hidden, hidden)

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        """A gate unit's weights, W_ih's row and W_hh's side by side (the fan-in a drawn bias is scaled by)."""
        return len(GATES) * layer.shape[1], layer.shape_in[1] + layer.shape[1]

    def exposed(self, layer: Typed) -> tuple[int, ...]:
        """The hidden states h_t, step by step: what the layer above (and the next step) reads."""
        steps, hidden = layer.shape
        return tuple(_position(layer, t, HIDDEN, j) for t in range(steps) for j in range(hidden))

    def unit_activations(self, layer: Typed, activation_name: str) -> tuple[str, ...]:
        """The gates' (sigma, tanh for g), and none for c_t and h_t, nor h_0 and c_0 (their net inputs are
        their values)."""
        steps, hidden = layer.shape
        each = tuple(_ACTIVATIONS[which] for _ in range(steps) for which in range(len(PARTS)) for _ in range(hidden))
        return (NO_ACTIVATION,) * initial_units(layer) + each

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Gate q's unit j at step t reads x_t through row q hidden + j of W_ih and h_(t-1) through the
        same row of W_hh (its own layer's units, numbered after the layer below's); c_t and h_t read
        through no weight (`local_terms`)."""
        (steps, features), hidden = layer.shape_in, layer.shape[1]
        recurrent = len(GATES) * hidden * features  # W_hh's first entry
        units: list[tuple[tuple[int, int], ...]] = [()] * initial_units(layer)
        for t in range(steps):
            for q in range(len(GATES)):
                for j in range(hidden):
                    row = q * hidden + j
                    reads = [(t * features + i, row * features + i) for i in range(features)]
                    if t > 0 or initial_units(layer):
                        reads += [(layer.width_in + _position(layer, t - 1, HIDDEN, m), recurrent + row * hidden + m)
                                  for m in range(hidden)]
                    units.append(tuple(reads))
            units += [()] * (2 * hidden)
        return tuple(units)

    def local_terms(self, layer: Typed, position: int, out: Callable[[int], sp.Expr]):
        """c_t's and h_t's net inputs as formulas of the outs they read (``out`` of an input's index), and
        those inputs: c_t = f_t c_(t-1) + i_t g_t, h_t = o_t tanh(c_t) (`Network` differentiates each in
        each input for its local partials); None for a gate (weighted terms)."""
        which, step, j = self.part(layer, position)
        t, j = step - 1, j - 1
        initial = _initial(layer)
        if t < 0 and initial is not None:  # h_0 or c_0: a number
            return sp.Rational(initial[which == "c"][j]), []

        def own(w: str, step: int = t) -> int:
            return layer.width_in + _position(layer, step, PARTS.index(w), j)

        if which == "c":
            first = t == 0 and initial is None
            inputs = [own("i"), own("g")] if first else [own("f"), own("c", t - 1), own("i"), own("g")]
            pairs = [(own("i"), own("g"))] if first else [(own("f"), own("c", t - 1)), (own("i"), own("g"))]
            return sp.Add(*(sp.Mul(out(a), out(b), evaluate=False) for a, b in pairs), evaluate=False), inputs
        if which == "h":
            squash = activation(RECURRENT_ACTIVATION)
            return sp.Mul(out(own("o")), squash.out(out(own("c"))), evaluate=False), [own("o"), own("c")]
        return None

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        """bias[q hidden + j] is added to gate q's unit j at every step."""
        steps, hidden = layer.shape
        return tuple(tuple(_position(layer, t, q, j) for t in range(steps))
                     for q in range(len(GATES)) for j in range(hidden))

    def table(self, layer: Typed, activation_name: str, weight: tuple) -> dict:
        initial = _initial(layer)
        states = {"initial_state": list(initial[0]), "initial_cell": list(initial[1])} if initial else {}
        return {"hidden_size": layer.shape[1], **dict(zip(TENSORS, weight, strict=True)), **states}

    def slips(self, layer: Typed, parameters: list) -> list[Slip]:
        """Backpropagation through time cut after one step through W_hh (dE/dh_t without the next
        step's gates' deltas), and W_hh's gradients taken with h_t in place of h_(t-1) (the wrong step)."""
        (steps, features), hidden = layer.shape_in, layer.shape[1]
        recurrent = [p for p in parameters if p.kind == quantities.WEIGHT and p.index >= len(GATES) * hidden * features]
        if (steps < 2 and not initial_units(layer)) or not recurrent:
            return []
        number = recurrent[0].layer
        letter, hidden_layer, _ = quantities.neuron_parts(recurrent[0].feeds[0])
        prefix = f"{letter}{hidden_layer}_" if hidden_layer else letter

        def state(t: int, m: int) -> str:  # h_t,m (t from 0; -1: h_0), by its name
            return f"{prefix}{_position(layer, t, HIDDEN, m) + 1}"
        first = -1 if initial_units(layer) else 0
        step_after = tuple((state(t, m), state(t + 1, m)) for t in range(first, steps - 1) for m in range(hidden))
        return [Slip(f"recurrent_term_left_out_{number}", f"layer {number}'s backpropagation through time cut after "
                     "one step: dE/dh_t without the next step's gates' deltas through W_hh",
                     {p.name: 0 for p in recurrent}),
                Slip(f"recurrent_input_wrong_step_{number}", f"layer {number}'s W_hh gradients taken with h_t, the "
                     "step's own hidden state, in place of the step before's h_(t-1)", {}, inputs=step_after)]


LSTM_KIND = register(LSTM())
