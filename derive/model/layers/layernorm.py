"""``type = "layernorm"``: `torch.nn.LayerNorm` over the features of one sample, written as the
textbooks write its computational graph, one unit per node:

    mu      = (x_1 + ... + x_n) / n                       the mean
    var     = ((x_1 - mu)^2 + ... + (x_n - mu)^2) / n      the biased variance
    xhat_j  = (x_j - mu) / sqrt(var + eps)                 each feature normalized
    y_j     = gamma_j xhat_j + beta_j                      the affine map (``elementwise_affine``)

Each of mu, var and xhat_j is a unit whose net input is a formula of the outs it reads
(`local_terms`), so the backward pass reads its local partials off as it reads a weight: dE/dx_i
collects the three paths of the textbook (Ioffe and Szegedy's): through xhat_i directly
(1 / sqrt(var + eps)), through the mean (1/n), and through the variance (2 (x_i - mu) / n); dE/dmu
collects the xhat's (-1 / sqrt(var + eps) each). var reads the x's only, its mu the mean's out: its
partial in mu, -2/n times the sum of (x_i - mu), is exactly 0 (the paper's term that vanishes), so
leaving it out changes no number and prints no 0 that ball arithmetic could only call undecided.
y_j is a weighted unit as a dense layer's: gamma_j its weight on xhat_j, beta_j its bias.

Keys: ``normalized_shape`` (optional, checked against the features of the layer below), ``eps``
(default 1e-5), ``elementwise_affine`` (default true), ``weight`` (gamma) and ``bias`` (beta)
[features], PyTorch's defaults ones and zeros, or ``bias = "none"``.

Units: mu, var, xhat_1 .. xhat_n, then y_1 .. y_n (with the affine map); the layer above reads
the y's (or the xhat's).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import sympy as sp

from derive.model import program as P
from derive.model import scalars
from derive.model.layers import PathSlip, Read, Typed, read_bias, register
from derive.model.registry import NO_ACTIVATION

MEAN, VARIANCE, NORMALIZED, AFFINE = "mu", "var", "xhat", "y"
AFFINE_ROW = r"y_j"  # the equations' row of the affine map
EPS = Decimal("1e-5")  # torch.nn.LayerNorm's default


def affine(layer: Typed) -> bool:
    return bool(layer.setting("affine"))


class LayerNorm:
    name = "layernorm"
    keys: tuple[str, ...] = ("type", "normalized_shape", "eps", "elementwise_affine", "weight", "bias")
    combination = None
    reads_positions = True  # its lowering reads the layer below through `Layer.reads`
    sequential = True  # its units read its own earlier ones (xhat reads mu and var): computed in order
    shared_bias = "feature"
    activation_words = "none (layernorm: (x - mean) / sqrt(var + eps), times gamma plus beta)"
    #: the textbook's equations, for the document's section on the layer (left side, right side)
    EQUATIONS = (
        (r"\mu", r"\frac{1}{n} \sum_{i=1}^{n} x_i"),
        (r"\sigma^2", r"\frac{1}{n} \sum_{i=1}^{n} (x_i - \mu)^2"),
        (r"\hat{x}_j", r"\frac{x_j - \mu}{\sqrt{\sigma^2 + \epsilon}}"),
        (r"y_j", r"\gamma_j \hat{x}_j + \beta_j"),
        # the three paths summed, the textbooks' compact form (delta of xhat = dE/dxhat: its out is its net)
        (r"\frac{\partial E}{\partial x_i}", r"\frac{1}{n \sqrt{\sigma^2 + \epsilon}} \Big(n \, \delta_{\hat{x}_i} - "
         r"\sum_j \delta_{\hat{x}_j} - \hat{x}_i \sum_j \delta_{\hat{x}_j} \hat{x}_j\Big)"),
    )

    def equations(self, layer: Typed) -> tuple[tuple[str, str], ...]:
        """Its equations as this layer computes them: without the affine map, no y (its outputs are the xhat's)."""
        return self.EQUATIONS if affine(layer) else tuple(row for row in self.EQUATIONS if row[0] != AFFINE_ROW)

    #: its usual slips (`derive.check.variants`): dE/dx without the path through the mean, or through
    #: the variance (their local partials in xhat taken as 0)
    path_slips = (
        PathSlip("mean_path_left_out", "the gradient through the mean left out: dE/dx without the terms "
                 "through mu (as if mu did not depend on x)", ((NORMALIZED, MEAN),)),
        PathSlip("variance_path_left_out", "the gradient through the variance left out: dE/dx without the "
                 "terms through var (as if var did not depend on x)", ((NORMALIZED, VARIANCE),)),
    )

    @property
    def lowering(self) -> P.Lowering:
        """Unit by unit (`derive.model.scalars`), from its connections and its units' formulas."""
        return scalars.lowering(self)

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        if len(shape_in) != 1:
            check.fail(f"{key}: a {self.name} layer normalizes a vector of features, but the layer below gives a "
                       f"shape {list(shape_in)}: put it after a linear layer")
        n = shape_in[0]
        if "normalized_shape" in table:
            given = table["normalized_shape"]
            given = given[0] if isinstance(given, list) and len(given) == 1 else given
            if check.integer(given, f"{key}.normalized_shape", 1, check.max_width) != n:
                check.fail(f"{key}.normalized_shape = {given}, but the layer below gives {n} features")
        eps = check.number(table.get("eps", EPS), f"{key}.eps")
        if eps <= 0:
            check.fail(f"{key}.eps = {table['eps']} must be positive (it keeps sqrt(var + eps) above 0)")
        scaled = table.get("elementwise_affine", True)
        if not isinstance(scaled, bool):
            check.fail(f"{key}.elementwise_affine must be true or false, not {check.kind(scaled)}")
        layer = Typed(self.name, (n,), (n,), (("eps", eps), ("affine", scaled)), internal=n + 2 if scaled else 2)
        if not scaled:
            for name in ("weight", "bias"):
                if name in table:
                    check.fail(f"{key}.{name} is given, but elementwise_affine = false has no {name}")
            return Read(layer, NO_ACTIVATION, (), ())
        weight = check.vector(table["weight"], f"{key}.weight", n, "features are") if "weight" in table else None
        bias = read_bias(table, key, n, "features", check)
        return Read(layer, NO_ACTIVATION, weight or (sp.S.One,) * n, (sp.S.Zero,) * n if bias is None else bias)

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        return (layer.width,) if affine(layer) else (0,)

    def exposed(self, layer: Typed) -> tuple[int, ...]:
        """The y's (or, without the affine map, the xhat's): what the layer above reads."""
        n = layer.width
        return tuple(range(n + 2, 2 * n + 2)) if affine(layer) else tuple(range(2, n + 2))

    def part(self, layer: Typed, position: int) -> tuple[str, int, int]:
        """(mu, var, xhat or y; 1; its feature, from 1) of the unit at ``position``: what the outputs and
        the slips name it by."""
        n = layer.width
        if position < 2:
            return (MEAN, VARIANCE)[position], 1, 1
        which, j = divmod(position - 2, n)
        return (NORMALIZED, AFFINE)[which], 1, j + 1

    def latex_node(self, layer: Typed, position: int) -> str:
        """The unit at ``position`` as the textbooks write the node: \\mu, \\sigma^2, \\hat{x}_j, y_j."""
        which, _, j = self.part(layer, position)
        return {MEAN: r"\mu", VARIANCE: r"\sigma^2", NORMALIZED: rf"\hat{{x}}_{{{j}}}", AFFINE: f"y_{{{j}}}"}[which]

    def unit_activations(self, layer: Typed, activation_name: str) -> tuple[str, ...]:
        return (NO_ACTIVATION,) * layer.units

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        """y_j reads xhat_j (its own unit, numbered after the layer below's) through gamma_j; mu, var and
        xhat read through no weight (`local_terms`)."""
        n = layer.width
        scaled = tuple(((n + 2 + j, j),) for j in range(n)) if affine(layer) else ()
        return ((),) * (n + 2) + scaled

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        return tuple((layer.width + 2 + j,) for j in range(layer.width)) if affine(layer) else ()

    def local_terms(self, layer: Typed, position: int, out: Callable[[int], sp.Expr]):
        """mu's, var's and xhat_j's net inputs as formulas of the outs they read, and those inputs;
        None for y_j (weighted)."""
        n = layer.width
        mu, var = out(n), out(n + 1)
        xs = [out(i) for i in range(n)]
        which, _, j = self.part(layer, position)
        if which == MEAN:
            return sp.Mul(sp.Rational(1, n), sp.Add(*xs, evaluate=False), evaluate=False), list(range(n))
        if which == VARIANCE:
            squares = sp.Add(*((x - mu) ** 2 for x in xs), evaluate=False)
            return sp.Mul(sp.Rational(1, n), squares, evaluate=False), list(range(n))
        if which == NORMALIZED:
            eps = layer.setting("eps")
            return (xs[j - 1] - mu) / sp.sqrt(var + eps), [j - 1, n, n + 1]
        return None

    def table(self, layer: Typed, activation_name: str, weight: tuple) -> dict:
        given = {"eps": layer.setting("eps")}
        return {**given, "elementwise_affine": False} if not affine(layer) else {**given, "weight": weight}

    def slips(self, layer: Typed, parameters: list) -> list:
        return []  # its slips are paths left out (`path_slips`)


LAYERNORM = register(LayerNorm())
