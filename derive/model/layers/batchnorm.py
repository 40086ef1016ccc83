"""``type = "batchnorm"``: `torch.nn.BatchNorm1d` in training mode, over the batch's samples, written as
the textbooks write its computational graph (the nine-step walkthrough's), one unit per node:

    mu_j      = (x_1j + ... + x_Nj) / N                         each feature's mean over the batch
    var_j     = ((x_1j - mu_j)^2 + ... + (x_Nj - mu_j)^2) / N    its biased variance (PyTorch's in training)
    xhat_tj   = (x_tj - mu_j) / sqrt(var_j + eps)                sample t's feature j normalized
    y_tj      = gamma_j xhat_tj + beta_j                         the affine map (``affine``)

The samples of a batchnorm network are one batch (`derive.model.layers.batch`): sample t is step t of
one sequence, each other layer applied at every step with its weights shared, and this layer reads
the whole sequence, as an attention head does. Its units, their three-path backward pass and
its keys but ``num_features`` and ``affine`` are every normalization's (`derive.model.layers.normalization`):
dE/dx_tj collects the paths through xhat_tj directly (1 / sqrt(var_j + eps)), through the mean (1/N)
and through the variance (2 (x_tj - mu_j) / N). gamma_j is the weight of every y_tj on xhat_tj, beta_j
their bias.

Keys: ``num_features`` (optional, checked), ``eps`` (default 1e-5), ``affine`` (default true),
``weight`` (gamma) and ``bias`` (beta) [features], PyTorch's defaults ones and zeros, or
``bias = "none"`` (PyTorch's ``bias=False``). Running statistics play no part in training mode.

Units: mu_1 .. mu_F, var_1 .. var_F, then xhat sample by sample (F each), then y sample by sample;
the layer above reads the y's (or the xhat's), sample by sample.
"""

from __future__ import annotations

import sympy as sp

from derive.model.layers import Read, Typed, batch, register
from derive.model.layers.normalization import Normalization


class BatchNorm(Normalization):
    name = "batchnorm"
    keys: tuple[str, ...] = ("type", "num_features", "eps", "affine", "weight", "bias")
    affine_key = "affine"
    over = "batch "  # its mean and variance are the batch's
    sequence = True  # its outputs are the batch's samples, one step each: the layers above apply at every step
    batch = True  # it reads the whole batch: the spec's samples are one pass (`derive.model.layers.batch`)
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
    AFFINE_ROW = r"y_{tj}"
    #: besides the paths left out (`path_slips`), the forward pass taken otherwise (`derive.check.variants`):
    #: the variance unbiased, eps dropped
    setting_slips = (
        ("unbiased_variance", "the batch variance taken unbiased, over N - 1 (PyTorch's running estimate's, not "
         "training mode's 1/N)", (("unbiased", True),)),
        ("eps_dropped", "eps dropped: xhat = (x - mu) / sqrt(var)", (("eps", sp.S.Zero),)),
    )

    def zero_gradients(self, network, k: int) -> set[str]:
        """The biases just below it, shifted away by its mean (`batch.shifted_away`)."""
        return batch.shifted_away(network, k)

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        """``shape_in`` is the batch's: (samples, features of each)."""
        if len(shape_in) != 2:
            check.fail(f"{key}: a {self.name} layer normalizes a vector of features, but the layer below gives a "
                       f"shape {list(shape_in[1:])}: put it after a linear layer")
        n = shape_in[1]
        if "num_features" in table and check.integer(table["num_features"], f"{key}.num_features", 1,
                                                     check.max_width) != n:
            check.fail(f"{key}.num_features = {table['num_features']}, but the layer below gives {n} features")
        return self.read_normalization(table, key, shape_in, n, check, (("unbiased", False),))

    def statistics(self, layer: Typed) -> int:
        """One mean and one variance per feature, over the batch's samples."""
        return layer.shape[1]

    def divisor(self, layer: Typed, count: int) -> int:
        """N, or N - 1 where a slip takes the variance unbiased (`setting_slips`)."""
        return count - 1 if layer.setting("unbiased") else count

    def node_words(self, layer: Typed) -> str:
        """What its indices count, in LaTeX, for the document's section on the layer: the batch's samples."""
        samples, n = layer.shape
        return (f". Here $t$ counts the batch's samples ($N = {samples}$: the spec's samples, one pass, every other "
                rf"layer applied to each sample) and $j$ their {n} features; $\mu_j$ and $\sigma^2_j$ are taken "
                r"over the batch. A shift of every sample's $x_{tj}$ by the same amount moves $\mu_j$ with it and "
                r"changes nothing else, so $\sum_t \partial E / \partial x_{tj} = 0$: a bias added just below the "
                "layer, through no activation, has a gradient of exactly 0")

    def node_indices(self, layer: Typed, t: int, j: int) -> tuple[str, str]:
        """\\mu_j, \\sigma^2_j, \\hat{x}_{t,j}, y_{t,j}."""
        return f"_{{{j}}}", f"{t},{j}"


BATCHNORM = register(BatchNorm())
