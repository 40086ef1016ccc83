"""``type = "conv2d"``: `torch.nn.Conv2d`, a 2-D convolution (PyTorch's cross-correlation, as every
framework computes it). Output unit (o, y, x) sums, over the input channels c and the kernel's rows
and columns (ky, kx), weight[o][c][ky][kx] times the input at (c, y*sh + ky - ph, x*sw + kx - pw),
where that cell is inside the input (the padding is zeros, so a kernel entry over it adds nothing),
plus bias[o]; out = activation(z). One kernel entry is used at every position: its gradient is the
sum over the positions of delta times the input under it (dK = X ⋆ δ), and an input's dE/dout sums
delta times the kernel entries over it (the full convolution with the flipped kernel).

Keys (PyTorch's): ``out_channels``; ``kernel_size``, ``stride`` (default 1), ``padding`` (default 0),
each a number or [rows, columns]; ``in_channels`` optional (checked against the input);
``activation`` (default the identity); ``weight`` [out_channels][in_channels][kh][kw]; ``bias``
[out_channels] or "none". Output size (PyTorch's floor rule): floor((H + 2 ph - kh) / sh) + 1, so a
stride that does not fit drops the last rows and columns, as PyTorch does.

Units are numbered in PyTorch's flat order (channel, row, column), as are the inputs.
"""

from __future__ import annotations

import itertools
import math

from derive.model import program as P
from derive.model import quantities
from derive.model.layers import Read, Slip, Typed, read_bias, register, tensor
from derive.model.reading import counted
from derive.model.registry import NO_ACTIVATION

PAIRS = ("kernel_size", "stride", "padding")


def pair(table: dict, key: str, name: str, default: int, low: int, check) -> tuple[int, int]:
    """A number or [rows, columns] (``default`` for both when not given)."""
    if name not in table:
        return default, default
    value = table[name]
    if isinstance(value, list):
        if len(value) != 2:
            check.fail(f"{key}.{name} has {counted(value, 'value')}: give a number or [rows, columns]")
        return (check.integer(value[0], f"{key}.{name}[0]", low, check.max_width),
                check.integer(value[1], f"{key}.{name}[1]", low, check.max_width))
    n = check.integer(value, f"{key}.{name}", low, check.max_width)
    return n, n


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """PyTorch's: floor((size + 2 padding - kernel) / stride) + 1 (0 or less: the kernel does not fit)."""
    return (size + 2 * padding - kernel) // stride + 1


def _gathered(layer: P.Layer) -> tuple[P.Gather, list[P.Gather]]:
    typed = layer.typed
    assert isinstance(typed, Typed)  # a layer of the lowered program carries its table's reading
    return P.gathered(layer, CONV2D.connections(typed), CONV2D.bias_units(typed),
                      math.prod(CONV2D.weight_shape(typed)))


def _forward(layer: P.Layer) -> list[P.Statement]:
    body: list[P.Affine | P.Each | P.Gather | P.Map] = [_gathered(layer)[0]]
    if layer.out is not None:
        body.append(P.Map("out", layer.index, layer.out, ("net",)))
    return [P.Units(layer, tuple(body))]


def _backward(layer: P.Layer, below: P.Layer | None) -> list[P.Statement]:
    """What is sent back and the deltas of the layer below first, then the kernels' and biases'
    gradients (a step in place changes the kernels that the vector sent back reads)."""
    back, *gradients = _gathered(layer)[1]
    sent: list[P.Statement] = [back, *P.below_deltas(below)] if below is not None else []
    return [*sent, *gradients]


class Conv2d:
    name = "conv2d"
    keys: tuple[str, ...] = ("type", "in_channels", "out_channels", "kernel_size", "stride", "padding", "activation",
                             "weight", "bias")
    lowering = P.Lowering(_forward, _backward)
    combination = None
    shared_bias = "output channel, shared by its units"  # how `layers.biases` says its bias is laid out

    def read(self, table: dict, key: str, shape_in: tuple[int, ...], check) -> Read:
        if len(shape_in) != 3:
            check.fail(f"{key}: a conv2d layer takes (channels, height, width), but the layer below gives "
                       f"{shape_in[0]} features: put it after the input (input = [channels, height, width]) "
                       "or another conv2d layer")
        channels, height, width = shape_in
        if "in_channels" in table:
            given = check.integer(table["in_channels"], f"{key}.in_channels", 1, check.max_width)
            if given != channels:
                check.fail(f"{key}.in_channels = {given}, but the layer below gives {channels} channels")
        if "out_channels" not in table:
            check.fail(f"{key}: missing key 'out_channels' (its number of filters)")
        out = check.integer(table["out_channels"], f"{key}.out_channels", 1, check.max_width)
        if "kernel_size" not in table:
            check.fail(f"{key}: missing key 'kernel_size' (a number, or [rows, columns])")
        kernel = pair(table, key, "kernel_size", 0, 1, check)
        stride = pair(table, key, "stride", 1, 1, check)
        padding = pair(table, key, "padding", 0, 0, check)
        size = tuple(output_size(n, k, s, p) for n, k, s, p in zip((height, width), kernel, stride, padding,
                                                                     strict=True))
        if min(size) < 1:
            check.fail(f"{key}: the kernel {kernel[0]}x{kernel[1]} is larger than its padded input "
                       f"{height + 2 * padding[0]}x{width + 2 * padding[1]}")
        shape = (out, size[0], size[1])
        weight = None
        if "weight" in table:
            weight = tensor(table["weight"], f"{key}.weight", (out, channels, *kernel),
                            ("out_channels", "in_channels", "kernel_size[0]", "kernel_size[1]"), check)
        settings = (("kernel_size", kernel), ("stride", stride), ("padding", padding))
        return Read(Typed(self.name, tuple(shape_in), shape, settings), table.get("activation", NO_ACTIVATION),
                    weight, read_bias(table, key, out, "out_channels", check))

    def weight_shape(self, layer: Typed) -> tuple[int, ...]:
        return (layer.shape[0], layer.shape_in[0], *layer.setting("kernel_size"))

    def connections(self, layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
        channels, height, width = layer.shape_in
        out, rows, columns = layer.shape
        (kh, kw), (sh, sw), (ph, pw) = (layer.setting(name) for name in PAIRS)
        units = []
        for o, y, x in itertools.product(range(out), range(rows), range(columns)):
            reads = []
            for c, ky, kx in itertools.product(range(channels), range(kh), range(kw)):
                r, q = y * sh + ky - ph, x * sw + kx - pw  # the input cell under kernel entry (ky, kx)
                if 0 <= r < height and 0 <= q < width:
                    reads.append(((c * height + r) * width + q, ((o * channels + c) * kh + ky) * kw + kx))
            units.append(tuple(reads))
        return tuple(units)

    def bias_units(self, layer: Typed) -> tuple[tuple[int, ...], ...]:
        per_channel = layer.shape[1] * layer.shape[2]
        return tuple(tuple(range(o * per_channel, (o + 1) * per_channel)) for o in range(layer.shape[0]))

    def table(self, layer: Typed, activation: str, weight: tuple) -> dict:
        pairs = {name: list(layer.setting(name)) for name in PAIRS}
        return {"out_channels": layer.shape[0], **pairs, "activation": activation, "weight": weight}

    def slips(self, layer: Typed, parameters: list) -> list[Slip]:
        """The kernel flipped (convolution taken for PyTorch's cross-correlation): in the forward pass,
        or only in the backward pass (the input's dE/dout taken with the kernel as it is, not flipped)."""
        weights = [p for p in parameters if p.kind == quantities.WEIGHT]
        kh, kw = layer.setting("kernel_size")
        number = weights[0].layer
        flipped = {}
        for p in weights:
            block, entry = divmod(p.index, kh * kw)
            ky, kx = divmod(entry, kw)
            flipped[p.name] = weights[block * kh * kw + (kh - 1 - ky) * kw + (kw - 1 - kx)].name
        ignored = [self._other(layer, "padding", (0, 0), f"padding_ignored_{number}",
                               f"layer {number}'s padding ignored (its kernels slid over the input without the zeros "
                               "around it)"),
                   self._other(layer, "stride", (1, 1), f"stride_ignored_{number}",
                               f"layer {number}'s stride ignored (its kernels moved one cell at a time)")]
        slips = [s for s in ignored if s is not None]
        if all(a == b for a, b in flipped.items()):
            return slips
        return [*slips,
                Slip(f"kernel_flipped_{number}", f"layer {number}'s kernels flipped (a convolution computed for the "
                     "cross-correlation PyTorch's conv2d is)", flipped, backward=False),
                Slip(f"kernel_flipped_back_{number}", f"layer {number}'s kernels flipped in the backward pass only "
                     "(dE/dout of its input taken with each kernel entry at the mirrored place)", flipped)]

    def _other(self, layer: Typed, name: str, value: tuple[int, int], key: str, description: str) -> Slip | None:
        """The forward pass with setting ``name`` taken as ``value`` (a stride or a padding ignored), the
        layer's units then numbered as that layer's; None where the setting is that already, or where
        the kernel would not fit."""
        if layer.setting(name) == value:
            return None
        settings: dict[str, tuple[int, int]] = {n: layer.setting(n) for n in PAIRS} | {name: value}
        (kh, kw), (sh, sw), (ph, pw) = (settings[n] for n in PAIRS)
        size = (output_size(layer.shape_in[1], kh, sh, ph), output_size(layer.shape_in[2], kw, sw, pw))
        if min(size) < 1:
            return None
        other = Typed(self.name, layer.shape_in, (layer.shape[0], *size), tuple(settings.items()))
        per_channel = size[0] * size[1]
        units = tuple((reads, j // per_channel) for j, reads in enumerate(self.connections(other)))
        return Slip(key, description, {}, backward=False, connections=units)


CONV2D = register(Conv2d())
