"""``type = "rnn"``: `torch.nn.RNN` (one layer, one bias vector, as the textbooks write it), unrolled
over the steps of a sequence. At step t (from 1) hidden unit j computes

    z_t,j = sum_i W_ih[j][i] x_t,i + sum_m W_hh[j][m] h_(t-1),m + b_j,    h_t,j = act(z_t,j)

with h_0 = 0 (the term of W_hh is absent at step 1), or ``initial_state`` (then the layer's first units,
h_0, whose net inputs are those numbers). The same W_ih, W_hh and b are used at every
step: a shared weight's gradient is the sum over the steps of delta times what it multiplies there.
Backward through time: dE/dh_t collects the layers above at step t (every step with sequence_output =
"all"; the last only with "last") and the deltas of step t + 1 through W_hh.

Keys: ``hidden_size``; ``activation`` (default PyTorch's, `RECURRENT_ACTIVATION`; any elementwise one of the registry
or the spec's own); ``weight_ih`` [hidden][input], ``weight_hh`` [hidden][hidden] (PyTorch's
``weight_ih_l0`` and ``weight_hh_l0``); ``bias`` [hidden] or "none"; ``input_size`` optional (checked
against the layer below). It reads a sequence, [steps, features] (``input = [steps, features]``, or
another recurrent layer) and gives one, [steps, hidden].

Units are numbered step by step (the layer's unit (t - 1) * hidden + j is h_t,j); its weights are
numbered W_ih's entries first, then W_hh's, each in row-major order.
"""

from __future__ import annotations

import sympy as sp

from derive.model import program as P
from derive.model import quantities, scalars
from derive.model.layers import Read, Slip, Typed, read_bias, register
from derive.model.layers.sequence import TENSORS, read_sequence, read_tensors
from derive.model.registry import NO_ACTIVATION, RECURRENT_ACTIVATION


def _recur(into: str, layer: P.Layer, below: bool = False) -> P.Recur:
    typed = layer.typed
    assert isinstance(typed, Typed)  # a layer of the lowered program carries its table's reading
    (steps, features), hidden = typed.shape_in, typed.shape[1]
    return P.Recur(into, layer, steps, features, hidden, below, layer.reads)


def _initial(layer: Typed) -> tuple | None:
    """h_0 where an initial state other than zeros is given (else None: h_0 = 0)."""
    return dict(layer.settings).get("initial")  # type: ignore[return-value]


def initial_units(layer: Typed) -> int:
    """The units before the first step: h_0 where an initial state is given, else none."""
    return layer.shape[1] if _initial(layer) else 0


def _forward(layer: P.Layer) -> list[P.Statement]:
    if initial_units(layer.typed):  # type: ignore[arg-type]
        return scalars.lowering(RNN_KIND).forward(layer)
    return [_recur(P.NETS, layer)]


def _backward(layer: P.Layer, below: P.Layer | None) -> list[P.Statement]:
    """Its deltas through time and the vector sent below (with the deltas there) first, then its
    gradients: a step applied in place changes the weights they read. With an initial state, unit by
    unit (`derive.model.scalars`): `Recur` starts from h_0 = 0."""
    if initial_units(layer.typed):  # type: ignore[arg-type]
        return scalars.lowering(RNN_KIND).backward(layer, below)
    sent = [_recur(P.BACKS, layer, below is not None), *(P.below_deltas(below) if below is not None else [])]
    return [*sent, _recur(P.WEIGHT_GRADIENTS, layer)]


class RNN:
    name = "rnn"
    keys: tuple[str, ...] = ("type", "input_size", "hidden_size", "activation", *TENSORS, "bias", "initial_state")
    lowering = P.Lowering(_forward, _backward)
    combination = None
    reads_positions = True  # its loops read the layer below through `Recur.positions` (`Layer.reads`)
    recurrent = True
    tensor_names = TENSORS  # its weight tensors' names, PyTorch's (without the layer's _l0)
    initial_units = staticmethod(initial_units)

    def part(self, layer: Typed, position: int) -> tuple[str, int, int]:
        """("h"; its step, from 1, 0 for the initial state h_0; its unit, from 1)."""
        step, j = divmod(position - initial_units(layer), layer.shape[1])
        return ("h", step + 1, j + 1) if position >= initial_units(layer) else ("h", 0, position + 1)

    def exposed(self, layer: Typed) -> tuple[int, ...]:
        """Its hidden states of every step (not h_0): what the layer above reads."""
        return tuple(range(initial_units(layer), layer.units))

    def unit_activations(self, layer: Typed, activation_name: str) -> tuple[str, ...] | None:
        """With an initial state, h_0's none (its net input is its value) and the layer's for the rest."""
        if not initial_units(layer):
            return None
        steps, hidden = layer.shape
        return (NO_ACTIVATION,) * hidden + (str(dict(layer.settings)["activation"]),) * (steps * hidden)

    def local_terms(self, layer: Typed, position: int, out):
        """h_0's net input, a number (given); None for a unit of a step (weighted terms)."""
        initial = _initial(layer)
        if initial is None or position >= layer.shape[1]:
            return None
        return sp.Rational(initial[position]), []

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        steps, hidden = read_sequence(self.name, table, key, shape_in, check)
        state = check.vector(table["initial_state"], f"{key}.initial_state", hidden, "hidden_size is") if (
            "initial_state" in table) else ()
        activation = table.get("activation", RECURRENT_ACTIVATION)
        settings = (("initial", tuple(state)), ("activation", activation)) if any(state) else ()
        layer = Typed(self.name, tuple(shape_in), (steps, hidden), settings, internal=hidden if settings else 0)
        weight = read_tensors(table, key, self.tensors(layer), "hidden_size", check)
        bias = read_bias(table, key, hidden, "hidden_size", check)
        return Read(layer, activation, weight, bias)

    def tensors(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        """Its weight tensors' shapes: W_ih [hidden][features], W_hh [hidden][hidden]."""
        hidden, features = layer.shape[1], layer.shape_in[1]
        return (hidden, features), (hidden, hidden)

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        """A unit's weights, W_ih's row and W_hh's side by side: the fan-in a drawn bias is scaled by
        (each drawn weight tensor is scaled by its own, `tensors`)."""
        return layer.shape[1], layer.shape_in[1] + layer.shape[1]

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        """h_t,j reads x_t through W_ih's row j, and h_(t-1) (its own layer's units, numbered after the
        layer below's) through W_hh's row j."""
        (steps, features), hidden = layer.shape_in, layer.shape[1]
        recurrent, first = hidden * features, initial_units(layer)  # W_hh's first entry; h_0's units
        units: list[tuple[tuple[int, int], ...]] = [()] * first
        for t in range(steps):
            for j in range(hidden):
                reads = [(t * features + i, j * features + i) for i in range(features)]
                if t > 0 or first:
                    own = layer.width_in + first + (t - 1) * hidden  # h_(t-1): h_0's units at step 1
                    reads += [(own + m, recurrent + j * hidden + m) for m in range(hidden)]
                units.append(tuple(reads))
        return tuple(units)

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        steps, hidden = layer.shape
        return tuple(tuple(initial_units(layer) + t * hidden + j for t in range(steps)) for j in range(hidden))

    def table(self, layer: Typed, activation: str, weight: tuple) -> dict:
        initial = _initial(layer)
        return {"hidden_size": layer.shape[1], "activation": activation, **dict(zip(TENSORS, weight, strict=True)),
                **({"initial_state": list(initial)} if initial else {})}

    def slips(self, layer: Typed, parameters: list) -> list[Slip]:
        """Backpropagation through time cut after one step (the recurrent term W_hh^T delta_(t+1) left
        out of dE/dh_t), and W_hh's gradient taken with h_t in place of h_(t-1) (the wrong step)."""
        (steps, features), hidden = layer.shape_in, layer.shape[1]
        recurrent = [p for p in parameters if p.kind == quantities.WEIGHT and p.index >= hidden * features]
        if (steps < 2 and not initial_units(layer)) or not recurrent:
            return []
        number = recurrent[0].layer
        diagonal = [p for p in recurrent if (p.index - hidden * features) % (hidden + 1) == 0]  # W_hh[m][m]
        step_after = tuple((source, feed) for p in diagonal for feed, source in zip(p.feeds, p.sources, strict=True))
        return [Slip(f"recurrent_term_left_out_{number}", f"layer {number}'s backpropagation through time cut after "
                     "one step: dE/dh_t without the next step's W_hh^T delta_(t+1)", {p.name: 0 for p in recurrent}),
                Slip(f"recurrent_input_wrong_step_{number}", f"layer {number}'s W_hh gradients taken with h_t, the "
                     "step's own hidden state, in place of the step before's h_(t-1)", {}, inputs=step_after)]


RNN_KIND = register(RNN())
