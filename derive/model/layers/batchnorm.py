"""``type = "batchnorm"``: `torch.nn.BatchNorm1d` in training mode, over the batch's samples, written as
the textbooks write its computational graph (the nine-step walkthrough's), one unit per node:

    mu_j      = (x_1j + ... + x_Nj) / N                         each feature's mean over the batch
    var_j     = ((x_1j - mu_j)^2 + ... + (x_Nj - mu_j)^2) / N    its biased variance (PyTorch's in training)
    xhat_tj   = (x_tj - mu_j) / sqrt(var_j + eps)                sample t's feature j normalized
    y_tj      = gamma_j xhat_tj + beta_j                         the affine map (``affine``)

The samples of a batchnorm network are one batch (`derive.model.layers.batch`): sample t is step t of
one sequence, each other layer applied at every step with its weights shared, and this layer reads
the whole sequence, as an attention head does. mu_j, var_j and xhat_tj are units whose net inputs are
formulas of the outs they read (`local_terms`), so dE/dx_tj collects the three paths of the textbook
(Ioffe and Szegedy's): through xhat_tj directly (1 / sqrt(var_j + eps)), through the mean (1/N) and
through the variance (2 (x_tj - mu_j) / N); var_j's partial in mu_j is exactly 0 and left out, as the
layernorm's is. gamma_j is the weight of every y_tj on xhat_tj, beta_j their bias.

Keys: ``num_features`` (optional, checked), ``eps`` (default 1e-5), ``affine`` (default true),
``weight`` (gamma) and ``bias`` (beta) [features], PyTorch's defaults ones and zeros, or
``bias = "none"`` (PyTorch's ``bias=False``). Running statistics play no part in training mode.

Units: mu_1 .. mu_F, var_1 .. var_F, then xhat sample by sample (F each), then y sample by sample;
the layer above reads the y's (or the xhat's), sample by sample.
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
AFFINE_ROW = r"y_{tj}"  # the equations' row of the affine map
EPS = Decimal("1e-5")  # torch.nn.BatchNorm1d's default


def affine(layer: Typed) -> bool:
    return bool(layer.setting("affine"))


class BatchNorm:
    name = "batchnorm"
    keys: tuple[str, ...] = ("type", "num_features", "eps", "affine", "weight", "bias")
    combination = None
    reads_positions = True  # its lowering reads the layer below through `Layer.reads`
    sequential = True  # xhat reads mu and var: computed in order
    sequence = True  # its outputs are the batch's samples, one step each: the layers above apply at every step
    batch = True  # it reads the whole batch: the spec's samples are one pass (`derive.model.layers.batch`)
    shared_bias = "feature"
    activation_words = "none (batchnorm: (x - batch mean) / sqrt(batch var + eps), times gamma plus beta)"
    #: the textbook's equations, for the document's section on the layer (left side, right side)
    EQUATIONS = (
        (r"\mu_j", r"\frac{1}{N} \sum_{t=1}^{N} x_{tj}"),
        (r"\sigma^2_j", r"\frac{1}{N} \sum_{t=1}^{N} (x_{tj} - \mu_j)^2"),
        (r"\hat{x}_{tj}", r"\frac{x_{tj} - \mu_j}{\sqrt{\sigma^2_j + \epsilon}}"),
        (r"y_{tj}", r"\gamma_j \hat{x}_{tj} + \beta_j"),
        # the three paths summed, the textbooks' compact form (delta of xhat = dE/dxhat: its out is its net)
        (r"\frac{\partial E}{\partial x_{tj}}", r"\frac{1}{N \sqrt{\sigma^2_j + \epsilon}} \Big(N \, "
         r"\delta_{\hat{x}_{tj}} - \sum_s \delta_{\hat{x}_{sj}} - \hat{x}_{tj} \sum_s \delta_{\hat{x}_{sj}} "
         r"\hat{x}_{sj}\Big)"),
    )

    def equations(self, layer: Typed) -> tuple[tuple[str, str], ...]:
        """Its equations as this layer computes them: without the affine map, no y (its outputs are the xhat's)."""
        return self.EQUATIONS if affine(layer) else tuple(row for row in self.EQUATIONS if row[0] != AFFINE_ROW)

    #: its usual slips (`derive.check.variants`): dE/dx without the path through the mean, or through the
    #: variance; and the forward pass taken otherwise (`setting_slips`): the variance unbiased, eps dropped
    path_slips = (
        PathSlip("mean_path_left_out", "the gradient through the batch mean left out: dE/dx without the terms "
                 "through mu (as if mu did not depend on x)", ((NORMALIZED, MEAN),)),
        PathSlip("variance_path_left_out", "the gradient through the batch variance left out: dE/dx without the "
                 "terms through var (as if var did not depend on x)", ((NORMALIZED, VARIANCE),)),
    )
    setting_slips = (
        ("unbiased_variance", "the batch variance taken unbiased, over N - 1 (PyTorch's running estimate's, not "
         "training mode's 1/N)", (("unbiased", True),)),
        ("eps_dropped", "eps dropped: xhat = (x - mu) / sqrt(var)", (("eps", sp.S.Zero),)),
    )

    @property
    def lowering(self) -> P.Lowering:
        """Unit by unit (`derive.model.scalars`), from its connections and its units' formulas."""
        return scalars.lowering(self)

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        """``shape_in`` is the batch's: (samples, features of each)."""
        if len(shape_in) != 2:
            check.fail(f"{key}: a {self.name} layer normalizes a vector of features, but the layer below gives a "
                       f"shape {list(shape_in[1:])}: put it after a linear layer")
        samples, n = shape_in
        if "num_features" in table and check.integer(table["num_features"], f"{key}.num_features", 1,
                                                     check.max_width) != n:
            check.fail(f"{key}.num_features = {table['num_features']}, but the layer below gives {n} features")
        eps = check.number(table.get("eps", EPS), f"{key}.eps")
        if eps <= 0:
            check.fail(f"{key}.eps = {table['eps']} must be positive (it keeps sqrt(var + eps) above 0)")
        scaled = table.get("affine", True)
        if not isinstance(scaled, bool):
            check.fail(f"{key}.affine must be true or false, not {check.kind(scaled)}")
        settings = (("eps", eps), ("affine", scaled), ("unbiased", False))
        layer = Typed(self.name, shape_in, shape_in, settings, internal=2 * n + (samples * n if scaled else 0))
        if not scaled:
            for name in ("weight", "bias"):
                if name in table:
                    check.fail(f"{key}.{name} is given, but affine = false has no {name}")
            return Read(layer, NO_ACTIVATION, (), ())
        weight = check.vector(table["weight"], f"{key}.weight", n, "features are") if "weight" in table else None
        bias = read_bias(table, key, n, "features", check)
        return Read(layer, NO_ACTIVATION, weight or (sp.S.One,) * n, (sp.S.Zero,) * n if bias is None else bias)

    def node_words(self, layer: Typed) -> str:
        """What its indices count, in LaTeX, for the document's section on the layer: the batch's samples."""
        samples, n = layer.shape
        return (f". Here $t$ counts the batch's samples ($N = {samples}$: the spec's samples, one pass, every other "
                rf"layer applied to each sample) and $j$ their {n} features; $\mu_j$ and $\sigma^2_j$ are taken "
                r"over the batch. A shift of every sample's $x_{tj}$ by the same amount moves $\mu_j$ with it and "
                r"changes nothing else, so $\sum_t \partial E / \partial x_{tj} = 0$: a bias added just below the "
                "layer, through no activation, has a gradient of exactly 0")

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        return (layer.shape[1],) if affine(layer) else (0,)

    def _first(self, which: str, layer: Typed) -> int:
        samples, n = layer.shape
        return {MEAN: 0, VARIANCE: n, NORMALIZED: 2 * n, AFFINE: 2 * n + samples * n}[which]

    def exposed(self, layer: Typed) -> tuple[int, ...]:
        """The y's (or, without the affine map, the xhat's), sample by sample: what the layer above reads."""
        first = self._first(AFFINE if affine(layer) else NORMALIZED, layer)
        return tuple(range(first, first + layer.width))

    def part(self, layer: Typed, position: int) -> tuple[str, int, int]:
        """(mu, var, xhat or y; its sample, from 1 (1 for mu and var); its feature, from 1)."""
        n = layer.shape[1]
        if position < 2 * n:
            return (MEAN, VARIANCE)[position // n], 1, position % n + 1
        which, rest = divmod(position - 2 * n, layer.width)
        t, j = divmod(rest, n)
        return (NORMALIZED, AFFINE)[which], t + 1, j + 1

    def latex_node(self, layer: Typed, position: int) -> str:
        """The unit at ``position`` as the textbooks write the node: \\mu_j, \\sigma^2_j, \\hat{x}_{t,j}, y_{t,j}."""
        which, t, j = self.part(layer, position)
        return {MEAN: rf"\mu_{{{j}}}", VARIANCE: rf"\sigma^2_{{{j}}}", NORMALIZED: rf"\hat{{x}}_{{{t},{j}}}",
                AFFINE: f"y_{{{t},{j}}}"}[which]

    def unit_activations(self, layer: Typed, activation_name: str) -> tuple[str, ...]:
        return (NO_ACTIVATION,) * layer.units

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        """y_tj reads xhat_tj (its own unit, numbered after the layer below's) through gamma_j; mu, var and
        xhat read through no weight (`local_terms`)."""
        n, first = layer.shape[1], layer.width_in + self._first(NORMALIZED, layer)
        scaled = tuple(((first + i, i % n),) for i in range(layer.width)) if affine(layer) else ()
        return ((),) * self._first(AFFINE, layer) + scaled

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        samples, n = layer.shape
        first = self._first(AFFINE, layer)
        return tuple(tuple(first + t * n + j for t in range(samples)) for j in range(n)) if affine(layer) else ()

    def local_terms(self, layer: Typed, position: int, out: Callable[[int], sp.Expr]):
        """mu_j's, var_j's and xhat_tj's net inputs as formulas of the outs they read, and those inputs;
        None for y_tj (weighted)."""
        samples, n = layer.shape
        base = layer.width_in
        which, t, j = self.part(layer, position)
        column = [s * n + j - 1 for s in range(samples)]  # feature j of every sample, in the layer below
        mu, var = out(base + j - 1), out(base + n + j - 1)
        if which == MEAN:
            return sp.Mul(sp.Rational(1, samples), sp.Add(*map(out, column), evaluate=False), evaluate=False), column
        if which == VARIANCE:
            squares = sp.Add(*((out(i) - mu) ** 2 for i in column), evaluate=False)
            divisor = samples - 1 if layer.setting("unbiased") else samples
            return sp.Mul(sp.Rational(1, divisor), squares, evaluate=False), column
        if which == NORMALIZED:
            x = column[t - 1]
            return (out(x) - mu) / sp.sqrt(var + layer.setting("eps")), [x, base + j - 1, base + n + j - 1]
        return None

    def table(self, layer: Typed, activation_name: str, weight: tuple) -> dict:
        given = {"eps": layer.setting("eps")}
        return {**given, "affine": False} if not affine(layer) else {**given, "weight": weight}

    def slips(self, layer: Typed, parameters: list) -> list:
        return []  # its slips are paths left out (`path_slips`) and settings taken otherwise (`setting_slips`)


BATCHNORM = register(BatchNorm())
