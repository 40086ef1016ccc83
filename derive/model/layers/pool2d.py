"""``type = "maxpool2d"`` and ``type = "avgpool2d"``: `torch.nn.MaxPool2d` and `torch.nn.AvgPool2d`,
2-D pooling without parameters. Output unit (c, y, x) reads the window of channel c at rows
y*sh .. y*sh + kh - 1 and columns x*sw .. x*sw + kw - 1 of its input; max pooling's net input is the
window's largest value, average pooling's their mean; out = net (no activation).

Backward: max pooling sends each unit's delta to the largest input of its window, to the first in
row-major order at a tie (PyTorch's rule), nothing to the others; average pooling spreads it evenly,
delta / (kh kw) to each. An input in several windows (stride below the kernel) collects from each.
The derivation writes this as the net input's terms, each window input times its local partial
(the indicator of the first maximum; 1/n), so the backward pass reads them off as it reads a weight.

Keys (PyTorch's): ``kernel_size``, ``stride`` (default the kernel size), each a number or [rows,
columns]. Output size (PyTorch's floor rule): floor((H - kh) / sh) + 1, so a stride that does not fit
drops the last rows and columns, as PyTorch does.
"""

from __future__ import annotations

import itertools

import sympy as sp

from derive.model import program as P
from derive.model.layers import Combination, LocalSlip, Read, Typed, register
from derive.model.layers.conv2d import output_size, pair
from derive.model.registry import NO_ACTIVATION


def _windows(layer: Typed) -> tuple[tuple[int, ...], ...]:
    channels, height, width = layer.shape_in
    _, rows, columns = layer.shape
    (kh, kw), (sh, sw) = layer.setting("kernel_size"), layer.setting("stride")
    cells = list(itertools.product(range(kh), range(kw)))
    return tuple(tuple((c * height + y * sh + ky) * width + x * sw + kx for ky, kx in cells)
                 for c, y, x in itertools.product(range(channels), range(rows), range(columns)))


def _first_maximum(window: list, i: int) -> sp.Expr:
    """1 where window[i] is the window's first largest value (larger than those before it, at least as
    large as those after), else 0: max pooling's local partial, PyTorch's rule at a tie built in."""
    return _indicator([sp.StrictGreaterThan(window[i], w, evaluate=False) for w in window[:i]]
                      + [sp.GreaterThan(window[i], w, evaluate=False) for w in window[i + 1:]])


def _indicator(conditions: list) -> sp.Expr:
    """1 where every condition holds, else 0; built unevaluated (SymPy would ask its assumptions of
    every comparison of two symbols, seconds for a 28 x 28 map's windows)."""
    if not conditions:
        return sp.S.One
    condition = sp.And(*conditions, evaluate=False) if len(conditions) > 1 else conditions[0]
    return sp.Piecewise((sp.S.One, condition), (sp.S.Zero, True), evaluate=False)


def _last_maximum(window: list, i: int) -> sp.Expr:
    """1 where window[i] is the window's last largest value: the slip of the other rule at a tie."""
    return _indicator([sp.GreaterThan(window[i], w, evaluate=False) for w in window[:i]]
                      + [sp.StrictGreaterThan(window[i], w, evaluate=False) for w in window[i + 1:]])


def _mean(window: list) -> sp.Expr:
    return sp.Mul(sp.Rational(1, len(window)), sp.Add(*window, evaluate=False), evaluate=False)


MAXIMUM = Combination(
    _windows, _first_maximum, lambda w: sp.Max(*w, evaluate=False), lambda w: sp.Max(*w, evaluate=False),
    "to the first largest input of its window (PyTorch's rule at a tie), 0 to the others",
    (LocalSlip("max_pool_to_every_cell", "max pooling's delta sent to every cell of its window, not only to "
               "its largest", lambda w, i: sp.S.One),
     LocalSlip("max_pool_to_first_cell", "max pooling's delta sent to the first (top-left) cell of its window, "
               "whatever its value", lambda w, i: sp.S.One if i == 0 else sp.S.Zero),
     LocalSlip("max_pool_to_last_maximum", "max pooling's delta sent to the last largest cell of its window at "
               "a tie (PyTorch sends it to the first)", _last_maximum),
     LocalSlip("max_pool_spread", "max pooling's delta spread evenly over its window (as average pooling "
               "does)", lambda w, i: sp.Rational(1, len(w)))))
AVERAGE = Combination(
    _windows, lambda w, i: sp.Rational(1, len(w)), _mean, _mean,
    "spread evenly over its window, delta / n to each of its n inputs",
    (LocalSlip("avg_pool_not_divided", "average pooling's delta sent to every cell of its window undivided "
               "(the 1/n left out)", lambda w, i: sp.S.One),))


class Pool2d:
    keys: tuple[str, ...] = ("type", "kernel_size", "stride")

    def __init__(self, name: str, combination: Combination, mode: str):
        self.name, self.combination, self.mode = name, combination, mode
        self.lowering = P.Lowering(self._forward, self._backward)

    def _pool(self, into: str, layer: P.Layer) -> P.Pool:
        assert isinstance(layer.typed, Typed)  # a layer of the lowered program carries its table's reading
        return P.Pool(into, layer, _windows(layer.typed), self.mode)

    def _forward(self, layer: P.Layer) -> list[P.Statement]:
        body: list[P.Affine | P.Each | P.Gather | P.Pool | P.Map] = [self._pool(P.NETS, layer)]
        if layer.out is not None:
            body.append(P.Map("out", layer.index, layer.out, ("net",)))
        return [P.Units(layer, tuple(body))]

    def _backward(self, layer: P.Layer, below: P.Layer | None) -> list[P.Statement]:
        return [self._pool(P.BACKS, layer), *P.below_deltas(below)] if below is not None else []

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        if len(shape_in) != 3:
            check.fail(f"{key}: a {self.name} layer takes (channels, height, width), but the layer below gives "
                       f"{shape_in[0]} features: put it after the input (input = [channels, height, width]) "
                       "or a conv2d layer")
        if "kernel_size" not in table:
            check.fail(f"{key}: missing key 'kernel_size' (a number, or [rows, columns])")
        kernel = pair(table, key, "kernel_size", 0, 1, check)
        stride = pair(table, key, "stride", 0, 1, check)
        stride = stride if "stride" in table else kernel
        channels, height, width = shape_in
        size = tuple(output_size(n, k, s, 0) for n, k, s in zip((height, width), kernel, stride, strict=True))
        if min(size) < 1:
            check.fail(f"{key}: the kernel {kernel[0]}x{kernel[1]} is larger than its input {height}x{width}")
        settings = (("kernel_size", kernel), ("stride", stride))
        return Read(Typed(self.name, tuple(shape_in), (channels, *size), settings), NO_ACTIVATION, (), ())

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        return (0,)

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        return tuple(() for _ in range(layer.width))

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        return ()

    def table(self, layer: Typed, activation: str, weight: tuple) -> dict:
        return {name: list(layer.setting(name)) for name in ("kernel_size", "stride")}

    def slips(self, layer: Typed, parameters: list) -> list:
        return []


MAXPOOL2D = register(Pool2d("maxpool2d", MAXIMUM, P.MAX))
AVGPOOL2D = register(Pool2d("avgpool2d", AVERAGE, P.MEAN))
