"""What the normalizations share (``batchnorm``, `torch.nn.BatchNorm1d` in training mode; ``layernorm``,
`torch.nn.LayerNorm`): each written as the textbooks write its computational graph, one unit per node,
its statistics taken over a group of the inputs (`Normalization.statistics`: a batchnorm's one per
feature, over the batch's samples; a layernorm's one, over the sample's features):

    mu      = (x_1 + ... + x_n) / n                       the group's mean
    var     = ((x_1 - mu)^2 + ... + (x_n - mu)^2) / n      its biased variance
    xhat_i  = (x_i - mu) / sqrt(var + eps)                 each input normalized by its group's
    y_i     = gamma_j xhat_i + beta_j                      the affine map (j: input i's feature)

Each of mu, var and xhat_i is a unit whose net input is a formula of the outs it reads
(`local_terms`), so the backward pass reads its local partials off as it reads a weight: dE/dx_i
collects the three paths of the textbook (Ioffe and Szegedy's): through xhat_i directly
(1 / sqrt(var + eps)), through the mean (1/n), and through the variance (2 (x_i - mu) / n); dE/dmu
collects the xhat's (-1 / sqrt(var + eps) each). var reads the x's only, its mu the mean's out: its
partial in mu, -2/n times the sum of (x_i - mu), is exactly 0 (the paper's term that vanishes), so
leaving it out changes no number and prints no 0 that ball arithmetic could only call undecided.
y_i is a weighted unit as a dense layer's: gamma_j its weight on xhat_i, beta_j its bias.

Keys (each kind's names for the size and the affine map aside): ``eps`` (default 1e-5, PyTorch's),
the affine map's switch (default true), ``weight`` (gamma) and ``bias`` (beta) [features],
PyTorch's defaults ones and zeros, or ``bias = "none"``.

Units: the means (one per group), the variances, then the xhat's in the layer below's order, then
(with the affine map) the y's; the layer above reads the y's (or the xhat's).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

import sympy as sp

from derive.model import program as P
from derive.model import scalars
from derive.model.layers.kind import PathSlip, Read, Typed, read_bias
from derive.model.registry import NO_ACTIVATION

MEAN, VARIANCE, NORMALIZED, AFFINE = "mu", "var", "xhat", "y"
EPS = Decimal("1e-5")  # torch.nn.BatchNorm1d's and torch.nn.LayerNorm's default


def affine(layer: Typed) -> bool:
    return bool(layer.setting("affine"))


class Normalization:
    """A normalization kind's rules; a kind says over what its statistics are taken (`statistics`,
    `read`), its keys' names, its equations and what is its own."""

    name: str
    keys: tuple[str, ...]
    affine_key: str  # the key of its affine map's switch (PyTorch's)
    over: str  # what its statistics are, in words before "mean" and "var" ("batch ", or nothing)
    #: the textbook's equations, for the document's section on the layer (left side, right side), and
    #: the left side of the affine map's row
    EQUATIONS: tuple[tuple[str, str], ...]
    AFFINE_ROW: str
    combination = None
    reads_positions = True  # its lowering reads the layer below through `Layer.reads`
    sequential = True  # its units read its own earlier ones (xhat reads mu and var): computed in order
    shared_bias = "feature"

    @property
    def activation_words(self) -> str:
        return f"none ({self.name}: (x - {self.over}mean) / sqrt({self.over}var + eps), times gamma plus beta)"

    @property
    def path_slips(self) -> tuple[PathSlip, ...]:
        """Its usual slips (`derive.check.variants`): dE/dx without the path through the mean, or through
        the variance (their local partials in xhat taken as 0)."""
        return tuple(PathSlip(f"{part}_path_left_out", f"the gradient through the {self.over}{part} left out: dE/dx "
                              f"without the terms through {node} (as if {node} did not depend on x)",
                              ((NORMALIZED, node),)) for part, node in (("mean", MEAN), ("variance", VARIANCE)))

    def statistics(self, layer: Typed) -> int:
        """How many means (and variances) it takes: input i is in group i % statistics."""
        raise NotImplementedError

    def divisor(self, layer: Typed, count: int) -> int:
        """What the sum of squares is divided by, over ``count`` inputs: their count (the biased variance)."""
        return count

    def equations(self, layer: Typed) -> tuple[tuple[str, str], ...]:
        """Its equations as this layer computes them: without the affine map, no y (its outputs are the xhat's)."""
        return self.EQUATIONS if affine(layer) else tuple(row for row in self.EQUATIONS if row[0] != self.AFFINE_ROW)

    @property
    def lowering(self) -> P.Lowering:
        """Unit by unit (`derive.model.scalars`), from its connections and its units' formulas."""
        return scalars.lowering(self)

    def read_normalization(self, table: dict, key: str, shape: tuple[int, ...], statistics: int, check,
                           settings: tuple = ()) -> Read:
        """The keys it shares with every normalization (``eps``, the affine map's, ``weight``, ``bias``),
        its shape (the layer below's) checked by the kind; ``settings`` its own past eps and affine."""
        n = shape[-1]
        eps = check.number(table.get("eps", EPS), f"{key}.eps")
        if eps <= 0:
            check.fail(f"{key}.eps = {table['eps']} must be positive (it keeps sqrt(var + eps) above 0)")
        scaled = table.get(self.affine_key, True)
        if not isinstance(scaled, bool):
            check.fail(f"{key}.{self.affine_key} must be true or false, not {check.kind(scaled)}")
        layer = Typed(self.name, shape, shape, (("eps", eps), ("affine", scaled), *settings),
                      internal=2 * statistics + (math.prod(shape) if scaled else 0))
        if not scaled:
            for name in ("weight", "bias"):
                if name in table:
                    check.fail(f"{key}.{name} is given, but {self.affine_key} = false has no {name}")
            return Read(layer, NO_ACTIVATION, (), ())
        weight = check.vector(table["weight"], f"{key}.weight", n, "features are") if "weight" in table else None
        bias = read_bias(table, key, n, "features", check)
        return Read(layer, NO_ACTIVATION, weight or (sp.S.One,) * n, (sp.S.Zero,) * n if bias is None else bias)

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        return (layer.shape[-1],) if affine(layer) else (0,)

    def _first(self, which: str, layer: Typed) -> int:
        groups = self.statistics(layer)
        return {MEAN: 0, VARIANCE: groups, NORMALIZED: 2 * groups, AFFINE: 2 * groups + layer.width}[which]

    def exposed(self, layer: Typed) -> tuple[int, ...]:
        """The y's (or, without the affine map, the xhat's), in the layer below's order: what the layer
        above reads."""
        first = self._first(AFFINE if affine(layer) else NORMALIZED, layer)
        return tuple(range(first, first + layer.width))

    def part(self, layer: Typed, position: int) -> tuple[str, int, int]:
        """(mu, var, xhat or y; its sample, from 1 (1 for mu and var, and in a layer of one sample); its
        feature (a statistic's group), from 1) of the unit at ``position``: what the outputs and the slips
        name it by."""
        groups, n = self.statistics(layer), layer.shape[-1]
        if position < 2 * groups:
            return (MEAN, VARIANCE)[position // groups], 1, position % groups + 1
        which, rest = divmod(position - 2 * groups, layer.width)
        t, j = divmod(rest, n)
        return (NORMALIZED, AFFINE)[which], t + 1, j + 1

    def node_indices(self, layer: Typed, t: int, j: int) -> tuple[str, str]:
        """A statistic's subscript (with its ``_``) and a node's (inside its braces), in LaTeX."""
        raise NotImplementedError

    def latex_node(self, layer: Typed, position: int) -> str:
        """The unit at ``position`` as the textbooks write the node (\\mu, \\sigma^2, \\hat{x}, y, with
        their kind's subscripts)."""
        which, t, j = self.part(layer, position)
        statistic, node = self.node_indices(layer, t, j)
        return {MEAN: rf"\mu{statistic}", VARIANCE: rf"\sigma^2{statistic}", NORMALIZED: rf"\hat{{x}}_{{{node}}}",
                AFFINE: f"y_{{{node}}}"}[which]

    def unit_activations(self, layer: Typed, activation_name: str) -> tuple[str, ...]:
        return (NO_ACTIVATION,) * layer.units

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        """y_i reads xhat_i (its own unit, numbered after the layer below's) through gamma of its feature;
        mu, var and xhat read through no weight (`local_terms`)."""
        n, first = layer.shape[-1], layer.width_in + self._first(NORMALIZED, layer)
        scaled = tuple(((first + i, i % n),) for i in range(layer.width)) if affine(layer) else ()
        return ((),) * self._first(AFFINE, layer) + scaled

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        """beta_j: added to every y of feature j."""
        n, first = layer.shape[-1], self._first(AFFINE, layer)
        samples = layer.width // n
        return tuple(tuple(first + t * n + j for t in range(samples)) for j in range(n)) if affine(layer) else ()

    def local_terms(self, layer: Typed, position: int, out: Callable[[int], sp.Expr]):
        """mu's, var's and xhat_i's net inputs as formulas of the outs they read, and those inputs; None
        for y_i (weighted)."""
        groups, base = self.statistics(layer), layer.width_in
        which, t, j = self.part(layer, position)
        if which in (MEAN, VARIANCE):
            group = j - 1
        else:
            x = (t - 1) * layer.shape[-1] + j - 1  # its input, in the layer below
            group = x % groups
        members = list(range(group, layer.width, groups))  # the inputs its statistics are taken over
        mu, var = out(base + group), out(base + groups + group)
        if which == MEAN:
            return sp.Mul(sp.Rational(1, len(members)), sp.Add(*map(out, members), evaluate=False),
                          evaluate=False), members
        if which == VARIANCE:
            squares = sp.Add(*((out(i) - mu) ** 2 for i in members), evaluate=False)
            return sp.Mul(sp.Rational(1, self.divisor(layer, len(members))), squares, evaluate=False), members
        if which == NORMALIZED:
            return (out(x) - mu) / sp.sqrt(var + layer.setting("eps")), [x, base + group, base + groups + group]
        return None

    def table(self, layer: Typed, activation_name: str, weight: tuple) -> dict:
        given = {"eps": layer.setting("eps")}
        return {**given, self.affine_key: False} if not affine(layer) else {**given, "weight": weight}

    def slips(self, layer: Typed, parameters: list) -> list:
        return []  # its slips are paths left out (`path_slips`), a batchnorm's settings taken otherwise too
