"""What a registry entry is: an activation or a loss, with its hooks, and the tables that hold them.

`derive.model.registry` registers the built-in entries; a spec's own functions (`derive.model.custom`)
are entries of the same kinds, held by the spec rather than by these tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sympy as sp

from derive.model import quantities as Q
from derive.model.functions import Registered

if TYPE_CHECKING:
    from derive.model.formula import Formula


@dataclass(frozen=True)
class Temporary:
    """A value a stable form computes on the way: its quantity, textbook formula and compute form."""

    quantity: Q.Quantity
    formula: sp.Expr
    compute: sp.Expr | None = None


@dataclass(frozen=True)
class LayerRule:
    """The hooks of an activation that couples a layer's neurons (each out reads every net)."""

    temporaries: Callable[[list[sp.Symbol], Callable], list[Temporary]]  # (nets, symbol) -> forward temporaries
    out: Callable[[list[sp.Symbol], int], sp.Expr]  # (nets, j) -> out_j as an unevaluated function
    compute: Callable[[list[sp.Symbol], int, Callable], sp.Expr]  # (nets, j, symbol) -> out_j's stable form
    textbook: Callable[[list[sp.Symbol], int], sp.Expr]  # (nets, j) -> out_j as a textbook writes it
    jacobian: Callable[[list[sp.Symbol], int, int], sp.Expr]  # (outs, i, j) -> dout_i/dnet_j
    complement: Callable | None = None  # (nets, j, symbol) -> 1 - out_j without cancellation (balls)


@dataclass(frozen=True)
class Activation:
    name: str
    description: str
    function: type[Registered] | None = None  # elementwise: out = function(net)
    aliases: tuple[str, ...] = ()
    layer: LayerRule | None = None  # couples the layer (then output layer only)
    kink: int | None = None  # a net where the derivative is a convention, not a limit
    kink_note: str = ""
    saturated: Callable[[float], bool] | None = None  # out -> True where the derivative all but vanishes
    formula: Formula | None = None  # a spec's own function

    @property
    def couples_layer(self) -> bool:
        return self.layer is not None

    @property
    def output_only(self) -> bool:
        return self.layer is not None

    @property
    def coupling(self) -> LayerRule:
        """``layer``, of an activation that couples the layer."""
        if self.layer is None:
            raise AttributeError(f"{self.name} does not couple the layer")
        return self.layer

    @property
    def elementwise(self) -> type[Registered]:
        """``function``, of an elementwise activation."""
        if self.function is None:
            raise AttributeError(f"{self.name} is not elementwise")
        return self.function

    def out(self, net: sp.Expr) -> sp.Expr:
        return self.elementwise(net)

    def derivative(self, net: sp.Expr, out: sp.Expr) -> sp.Expr:
        """dout/dnet in the textbook's form (in out where a textbook writes it so)."""
        return self.elementwise.derivative(net, out)

    def textbook(self, net: sp.Expr) -> sp.Expr:
        """The definition as a textbook writes it, in elementary functions where it has them."""
        return self.elementwise.textbook(net)


@dataclass(frozen=True)
class Slip:
    """A learner's slip with a loss: its error terms and dE/dout multiplied by ``factor``."""

    key: str
    description: str
    factor: sp.Expr
    convention: str = ""  # with one: the same computation is another textbook's definition of the loss


@dataclass(frozen=True)
class Loss:
    """``term(t, o, n)`` is one output's error term (n = number of outputs) as a textbook writes it,
    ``derivative`` its derivative in o. With ``requires``, the loss is defined with that output
    activation (its log needs outputs in (0, 1)); then ``stable_term`` computes the error from net,
    and ``fused_delta`` gives delta in its simplified, stable form."""

    name: str
    description: str
    term: Callable[[sp.Expr, sp.Expr, int], sp.Expr]
    derivative: Callable[[sp.Expr, sp.Expr, int], sp.Expr]
    requires: str | None = None
    targets_in_unit_interval: bool = False
    stable_term: Callable | None = None  # (t, net, out, n, symbol) -> the error term, stable
    fused_temporaries: Callable | None = None  # (targets) -> [Temporary] the fused delta reads
    fused_delta: Callable | None = None  # (nets, outs, targets, j, symbol) -> delta_j, stable in float64
    slips: tuple[Slip, ...] = field(default_factory=tuple)
    aliases: tuple[str, ...] = ()
    formula: Formula | None = None  # a spec's own loss
    float_note: str = ""  # for a generated module that computes the term, in its docstring

    def compute_term(self, t, net, out, n, symbol) -> sp.Expr:
        return self.stable_term(t, net, out, n, symbol) if self.stable_term else self.term(t, out, n)



ACTIVATIONS: dict[str, Activation] = {}
LOSSES: dict[str, Loss] = {}
ALIASES: dict[str, str] = {}


def register(entry):
    """Add an activation or a loss to the registry (its name and aliases must be new)."""
    table = ACTIVATIONS if isinstance(entry, Activation) else LOSSES
    for name in (entry.name, *getattr(entry, "aliases", ())):
        if name in ACTIVATIONS or name in LOSSES or name in ALIASES:
            raise ValueError(f"{name!r} is registered already")
    table[entry.name] = entry
    for alias in getattr(entry, "aliases", ()):
        ALIASES[alias] = entry.name
    return entry
def activation(name: str) -> Activation:
    return ACTIVATIONS[ALIASES.get(name, name)]


def loss(name: str) -> Loss:
    return LOSSES[name]
