"""The readout of a recurrent layer that is the network's last (an LSTM's h_t as its output, as the
numerical examples take it): no ``[[layer]]`` table gives it, `derive.model.layers` adds it after a
last recurrent layer. Its unit o_t,j copies h_t,j (net = out_h, out = net: no parameters, no
activation), at every step (``sequence_output = "all"``, a row of targets per step) or at the last
("last"), so that the loss reads each output unit as it does after any layer, and dE/dh_t collects
the loss at step t (delta_o = dE/dout_o, times 1) beside the next step's deltas through W_hh.
"""

from __future__ import annotations

import sympy as sp

from derive.model import program as P
from derive.model.layers import Combination, Read, Typed, register
from derive.model.registry import NO_ACTIVATION


def _windows(layer: Typed) -> tuple[tuple[int, ...], ...]:
    """Unit (t, j) reads hidden state j of step t (of the last step: ``offset``), one input each."""
    return tuple((t * layer.width_in + layer.offset + j,) for t in range(max(layer.steps, 1))
                 for j in range(layer.width))


COPY = Combination(_windows, lambda window, i: sp.S.One, lambda window: window[0], lambda window: window[0],
                   "to the hidden state it copies, unchanged")


class Readout:
    name = "readout"
    keys: tuple[str, ...] = ()
    combination = COPY
    implicit = True  # added by derive after a last recurrent layer, never given by a [[layer]] table
    reads_positions = True  # its lowering reads the layer below through `Layer.reads`

    @property
    def lowering(self) -> P.Lowering:
        return P.Lowering(self._forward, self._backward)

    def _copy(self, into: str, layer: P.Layer) -> P.Pool:
        """A pooling of windows of one input each (the mean of one value is that value), through the
        positions of the hidden states among the layer below's units."""
        assert isinstance(layer.typed, Typed)  # a layer of the lowered program carries its table's reading
        position = layer.reads or range(layer.width_in)
        return P.Pool(into, layer, tuple((position[i],) for (i,) in _windows(layer.typed)), P.MEAN)

    def _forward(self, layer: P.Layer) -> list[P.Statement]:
        body: list[P.Affine | P.Each | P.Gather | P.Pool | P.Map] = [self._copy(P.NETS, layer)]
        if layer.out is not None:
            body.append(P.Map("out", layer.index, layer.out, ("net",)))
        return [P.Units(layer, tuple(body))]

    def _backward(self, layer: P.Layer, below: P.Layer | None) -> list[P.Statement]:
        return [self._copy(P.BACKS, layer), *P.below_deltas(below)] if below is not None else []

    def after(self, recurrent: Typed, mode: str) -> Read:
        """The readout of a last recurrent layer whose sequence is read as ``mode`` says ("all", "last"),
        or of a last layer whose outputs are some of its units (a normalization's y, beside its mean)."""
        if len(recurrent.shape) == 1:
            return Read(Typed(self.name, recurrent.shape, recurrent.shape), NO_ACTIVATION, (), ())
        steps, hidden = recurrent.shape
        if mode == "all":
            return Read(Typed(self.name, (hidden,), (hidden,), steps=steps), NO_ACTIVATION, (), ())
        return Read(Typed(self.name, (hidden,), (hidden,), offset=(steps - 1) * hidden), NO_ACTIVATION, (), ())

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check):
        check.fail(f"{key}.type = \"readout\" is derive's own: a last recurrent layer's hidden states are the outputs")

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        return (0,)

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        return tuple(() for _ in range(layer.width))  # one step's (`layers.connections` repeats them)

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        return ()

    def table(self, layer: Typed, activation: str, weight: tuple) -> dict:
        return {}

    def slips(self, layer: Typed, parameters: list) -> list:
        return []


READOUT = register(Readout())
