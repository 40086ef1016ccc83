"""``type = "layernorm"``: `torch.nn.LayerNorm` over the features of one sample, written as the
textbooks write its computational graph, one unit per node:

    mu      = (x_1 + ... + x_n) / n                       the mean
    var     = ((x_1 - mu)^2 + ... + (x_n - mu)^2) / n      the biased variance
    xhat_j  = (x_j - mu) / sqrt(var + eps)                 each feature normalized
    y_j     = gamma_j xhat_j + beta_j                      the affine map (``elementwise_affine``)

Its units, their three-path backward pass and its keys but ``normalized_shape`` and
``elementwise_affine`` are every normalization's (`derive.model.layers.normalization`): one mean and
one variance, over the sample's features.

Keys: ``normalized_shape`` (optional, checked against the features of the layer below), ``eps``
(default 1e-5), ``elementwise_affine`` (default true), ``weight`` (gamma) and ``bias`` (beta)
[features], PyTorch's defaults ones and zeros, or ``bias = "none"``.

Units: mu, var, xhat_1 .. xhat_n, then y_1 .. y_n (with the affine map); the layer above reads
the y's (or the xhat's).
"""

from __future__ import annotations

from derive.model.layers import Read, Typed, register
from derive.model.layers.normalization import Normalization


class LayerNorm(Normalization):
    name = "layernorm"
    keys: tuple[str, ...] = ("type", "normalized_shape", "eps", "elementwise_affine", "weight", "bias")
    affine_key = "elementwise_affine"
    over = ""  # its mean and variance are the sample's
    EQUATIONS = (
        (r"\mu", r"\frac{1}{n} \sum_{i=1}^{n} x_i"),
        (r"\sigma^2", r"\frac{1}{n} \sum_{i=1}^{n} (x_i - \mu)^2"),
        (r"\hat{x}_j", r"\frac{x_j - \mu}{\sqrt{\sigma^2 + \epsilon}}"),
        (r"y_j", r"\gamma_j \hat{x}_j + \beta_j"),
        # the three paths summed, the textbooks' compact form (delta of xhat = dE/dxhat: its out is its net)
        (r"\frac{\partial E}{\partial x_i}", r"\frac{1}{n \sqrt{\sigma^2 + \epsilon}} \Big(n \, \delta_{\hat{x}_i} - "
         r"\sum_j \delta_{\hat{x}_j} - \hat{x}_i \sum_j \delta_{\hat{x}_j} \hat{x}_j\Big)"),
    )
    AFFINE_ROW = r"y_j"

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
        return self.read_normalization(table, key, (n,), 1, check)

    def statistics(self, layer: Typed) -> int:
        """One mean and one variance, over the sample's features."""
        return 1

    def node_indices(self, layer: Typed, t: int, j: int) -> tuple[str, str]:
        """\\mu, \\sigma^2, \\hat{x}_j, y_j."""
        return "", f"{j}"


LAYERNORM = register(LayerNorm())
