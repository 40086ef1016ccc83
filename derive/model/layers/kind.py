"""What a layer kind is (`Kind`), what it reads a ``[[layer]]`` table into (`Read`, `Typed`), and the
helpers every kind shares: the tensors' layout (row-major, PyTorch's), a bias's reading, unknown keys.

A kind's weights are one tensor (PyTorch's ``weight``), its biases one vector (``bias``); each
parameter is one entry of them. The kind says which entries each of its units reads, and from which
input (`Kind.connections`): a linear layer's unit reads a row of its matrix; a convolution's unit
reads the whole kernel, each entry from another input (the same weight at many positions); a
per-feature layer's unit reads one entry. Everything else (the derivation and its backward pass in
the textbook's form, the diagram, the matrix form, the checks, the grader's usual slips) follows
from these connections.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import sympy as sp

from derive.escape import excerpt, quoted
from derive.model import quantities
from derive.model.modes import BiasMode
from derive.model.program import Lowering
from derive.model.reading import counted


@dataclass(frozen=True)
class Typed:
    """One layer as its ``[[layer]]`` table gives it: its kind, the shape it takes and the shape it
    gives (``(features,)``, or ``(channels, height, width)``), and its kind's settings (kernel
    size, stride, ...) as name-value pairs."""

    kind: str
    shape_in: tuple[int, ...]
    shape: tuple[int, ...]
    settings: tuple[tuple[str, object], ...] = ()
    #: after a recurrent layer: applied at each of ``steps`` steps of the sequence below (its shapes are
    #: one step's, its weights shared by the steps), or reading that sequence's last step only (``offset``:
    #: where that step starts in the layer below)
    steps: int = 0
    offset: int = 0
    #: units past the ones the layer gives (an LSTM's gates and cell states, beside its hidden states)
    internal: int = 0

    @property
    def width_in(self) -> int:
        return math.prod(self.shape_in)

    @property
    def width(self) -> int:
        return math.prod(self.shape)

    @property
    def units(self) -> int:
        """Its number of units: one step's, times the steps it is applied at."""
        return self.width * max(self.steps, 1) + self.internal

    def setting(self, name: str):
        return dict(self.settings)[name]


@dataclass(frozen=True)
class Read:
    """One ``[[layer]]`` table, read: the layer, its activation, and the tensors it gives (None: not
    given, drawn from the seed): ``weight`` nested as its kind's tensor, ``bias`` a vector."""

    layer: Typed
    activation: str
    weight: tuple | None
    bias: tuple | BiasMode | None  # BiasMode.NONE for none


@dataclass(frozen=True)
class Slip:
    """A slip learners make with a layer kind, for the grader and the audit to try: the layer's
    parameters ``replace``d by values (name -> value) in its backward pass (or its forward pass)."""

    key: str
    description: str
    replace: dict[str, int | str]  # a number, or another parameter's name (a kernel flipped)
    backward: bool = True
    #: the forward pass as the slip takes it (a stride or a padding ignored): per unit in its own order,
    #: the (input, weight entry) pairs its net input sums and the entry of its bias (-1: none); units
    #: past the layer's own count are not named, so not compared
    connections: tuple[tuple[tuple[tuple[int, int], ...], int], ...] = ()
    #: in the layer's own weight gradients, the out of one unit read in place of another's (name -> name):
    #: a recurrent layer's h_t taken for h_(t-1)
    inputs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LocalSlip:
    """A slip learners make with a layer without parameters: its local partials taken as ``partial``
    gives them (the window's symbols, the input's place in it), not as they are."""

    key: str  # the layer's number is appended: max_pool_to_every_cell_2
    description: str
    partial: Callable[[list, int], sp.Expr]


BELOW = "x"  # a `PathSlip` path's part of an input from the layer below (not one of the layer's own units)


@dataclass(frozen=True)
class PathSlip:
    """A slip learners make with a kind whose units multiply other units' outs (an LSTM's cell state):
    the local partials along some paths left out (taken as 0), each path a (part of the unit, part of
    the input it reads) pair as `step_part` names them: ("c", "c") is the forget gate's path from
    c_t back to c_(t-1); ("y", `BELOW`) a residual's sum's path back to the block's input, the skip."""

    key: str  # the layer's number is appended: forget_path_left_out_1
    description: str
    paths: tuple[tuple[str, str], ...]
    #: where given, the paths only between the units at these positions of the layer (the input's -1 when
    #: it is the layer below's): an attention row's weights off the diagonal, a_ts from s_tr, r not s
    where: Callable[[Typed, int, int], bool] | None = None
    #: where given, the local partials multiplied by this number (a scale left out), not taken as 0
    factor: Callable[[Typed], sp.Expr] | None = None


@dataclass(frozen=True)
class Combination:
    """How a kind without parameters (pooling) combines the inputs of each unit's window. Its net
    input is written out as its terms, sum of ``partial(window, i) * window[i]``, which is its value
    (the first maximum's indicator times each input, for max pooling; 1/n each, for the average):
    the backward pass reads each local partial off those terms as it reads a weight off a linear
    layer's, the convention at a tie built in. ``shown`` is the net input as a textbook writes it
    (``max(...)``, the mean), ``compute`` the form the evaluators and the code compute."""

    windows: Callable[[Typed], tuple[tuple[int, ...], ...]]  # per unit, its inputs (in the layer below)
    partial: Callable[[list, int], sp.Expr]  # d net / d window[i], in the window's symbols
    shown: Callable[[list], sp.Expr]
    compute: Callable[[list], sp.Expr]
    rule: str  # how it sends its deltas back, in words: "to the first maximum of its window"
    slips: tuple[LocalSlip, ...] = ()  # its usual slips, for the grader and the audit


class Kind(Protocol):
    name: str
    keys: tuple[str, ...]

    @property
    def lowering(self) -> Lowering | None:
        """Its statements for the code targets in loop form (None: not written yet, straight-line only)."""
        ...

    @property
    def combination(self) -> Combination | None:
        """A kind without parameters (pooling): how its units combine their inputs (else None)."""
        ...

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read: ...

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        """Its weight tensor's shape, PyTorch's (the first axis its outputs, the rest one output's
        fan-in: what a seed's draw is scaled by)."""
        ...

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        """For each unit (PyTorch's flat order), the (input, weight entry) pairs its net input sums:
        the input's index in the layer below, the weight's flat index in its tensor."""
        ...

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        """For each entry of its bias vector, the units it is added to."""
        ...

    def table(self, layer: Typed, activation: str, weight: tuple) -> dict:
        """The keys of its ``[[layer]]`` table that give this layer (but ``type`` and ``bias``)."""
        ...

    def slips(self, layer: Typed, parameters: list) -> list[Slip]:
        """Its usual slips, given the layer and its parameters (`Network.parameters`); the slips of every
        layer (a weight used for another, a factor left out) are `derive.check.variants`'s."""
        ...


def flat(tensor) -> tuple:
    """A nested tensor's entries in row-major order (PyTorch's): the order its weights are numbered."""
    if isinstance(tensor, tuple | list):
        return tuple(x for item in tensor for x in flat(item))
    return (tensor,)


def shape_of(tensor) -> tuple[int, ...]:
    """The shape of a nested (rectangular) tensor."""
    if isinstance(tensor, tuple | list):
        return (len(tensor), *(shape_of(tensor[0]) if tensor else ()))
    return ()


def unravel(index: int, shape: tuple[int, ...]) -> list[int]:
    """The tensor index of flat entry ``index`` of a tensor of ``shape`` (row-major)."""
    out = []
    for size in reversed(shape):
        index, r = divmod(index, size)
        out.append(r)
    return out[::-1]


def nest(values: tuple, shape: tuple[int, ...]) -> tuple:
    """Flat ``values`` as a nested tensor of ``shape``."""
    if len(shape) == 1:
        return tuple(values)
    step = math.prod(shape[1:])
    return tuple(nest(values[k * step:(k + 1) * step], shape[1:]) for k in range(shape[0]))


def like(tensor, values) -> tuple:
    """Flat ``values`` nested as ``tensor`` is (row-major), whatever its shape: a kind's several tensors
    of different shapes (a residual block's matrices) too."""
    found = iter(values)

    def fill(t):
        return tuple(fill(x) for x in t) if isinstance(t, tuple | list) else next(found)
    return fill(tensor)


def tensor(value, key: str, shape: tuple[int, ...], what: tuple[str, ...], check) -> tuple:
    """A nested list of numbers of ``shape`` (``what`` names each axis), checked, as nested tuples."""
    if len(shape) == 1:
        return check.vector(value, key, shape[0], f"{what[0]} is")
    if not isinstance(value, list):
        check.fail(f"{key} must be a list of {len(shape)}-level nested lists, not {check.kind(value)}")
    if len(value) != shape[0]:
        check.fail(f"{key} has {counted(value, 'row') if len(shape) == 2 else counted(value, 'entry', 'entries')}, "
                   f"{what[0]} is {shape[0]}")
    return tuple(tensor(v, f"{key}[{j}]", shape[1:], what[1:], check) for j, v in enumerate(value))


def unknown_keys(table: dict, key: str, keys: tuple[str, ...], check) -> None:
    for k in table:
        if k not in keys:
            hint = quantities.suggestion(k, list(keys)) or f"; {table.get('type')} layers have {', '.join(keys)}"
            check.fail(f"{key}: unknown key '{excerpt(k)}'{hint}")


def read_bias(table: dict, key: str, width: int, what: str, check) -> tuple | BiasMode | None:
    """A layer's ``bias``: a list of ``width`` numbers (``what`` names that width), "none", or not
    given (None: drawn from the seed)."""
    if table.get("bias") == "none":
        return BiasMode.NONE
    if "bias" not in table:
        return None
    if isinstance(table["bias"], str):
        check.fail(f"{key}.bias = {quoted(table['bias'])} is unknown: give a list of {what} numbers, or \"none\"")
    return check.vector(table["bias"], f"{key}.bias", width, f"{what} is")
