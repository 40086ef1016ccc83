"""A layer's loops in the C family's syntax, written once for the C target and the page's JavaScript,
which differ only in how they declare a number, an index and an array, and in how they print an
expression (`CFamily`): a pooling layer's (`derive.model.program.Pool`) and a recurrent layer's
(`derive.model.program.Recur`), and a layer lowered unit by unit (`derive.model.program.Scalars`).

A recurrent layer's unit t * hidden + j is h_t,j (t from 0 here); W_ih's entry [j][i] is at
weights + j * features + i, W_hh's [j][m] after W_ih, at weights + hidden * features + j * hidden + m.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from derive.model import program as P
from derive.model.scalars import parts as scalar_parts


@dataclass(frozen=True)
class CFamily:
    number: str  # how a number variable is declared: "double", "let"
    index: str  # how an index variable is declared: "long", "let"
    typed: bool  # whether a declaration names its type (C's ``const long u``; JavaScript's ``const u``)
    arrays: Callable[[list[str], int], str]  # the declaration of arrays of n numbers, zeroed
    code: Callable[[object, dict], str]  # an expression with its symbols named by the table given
    step: str  # one level of indentation
    base: str  # the indentation of the function's body
    table: Callable[[str, tuple[int, ...]], str] = lambda name, values: ""  # a constant table of indices, declared


def _constant(f: CFamily, kind: str) -> str:
    """The start of a constant's declaration: ``const double `` (``kind`` is f.number or f.index)."""
    return f"const {kind} " if f.typed else "const "


def _levels(f: CFamily) -> tuple[str, str, str]:
    return f.step, f.step * 2, f.step * 3


def _indented(f: CFamily, lines: list[str]) -> list[str]:
    return [f.base + line for line in lines]


def _input(s: P.Recur, index: str) -> str:
    """x_t,i's place among the layer below's units: ``index`` (t * features + i), or through the table
    of positions where the layer below gives only some of its units."""
    return index if s.positions is None else f"positions{s.layer.index}[{index}]"


def forward(s: P.Recur, f: CFamily) -> list[str]:
    """Step by step: z_t = W_ih x_t + W_hh h_(t-1) + b, h_t = out(z_t)."""
    I1, I2, I3 = _levels(f)
    layer, k, H, F = s.layer, s.layer.index, s.hidden, s.features
    w, b, hh = layer.weights, layer.biases, layer.weights + H * F
    out = f.code(layer.out, {P.NET: "s"})
    table = [f.table(f"positions{k}", s.positions)] if s.positions is not None else []
    lines = [*table, f.arrays([f"z{k}", f"a{k}"], s.steps * H),
             f"for ({f.index} t = 0; t < {s.steps}; t++) {{",
             f"{I1}for ({f.index} j = 0; j < {H}; j++) {{",
             f"{I2}{f.number} s = {f'p[{b} + j]' if b >= 0 else '0.0'};",
             f"{I2}for ({f.index} i = 0; i < {F}; i++) {{",
             f"{I3}s += p[{w} + j * {F} + i] * a{k - 1}[{_input(s, f't * {F} + i')}];",
             f"{I2}}}",
             f"{I2}for ({f.index} m = 0; t > 0 && m < {H}; m++) {{",
             f"{I3}s += p[{hh} + j * {H} + m] * a{k}[(t - 1) * {H} + m];", f"{I2}}}",
             f"{I2}z{k}[t * {H} + j] = s;", f"{I2}a{k}[t * {H} + j] = {out};", f"{I1}}}", "}"]
    return _indented(f, lines)


def backward(s: P.Recur, f: CFamily) -> list[str]:
    """Last step first: dE/dh_t = back_t + W_hh^T delta_(t+1) (back{k} holds it after), and delta_t into
    d{k} (both declared by the layer above); then back_x_t = W_ih^T delta_t, for the layer below."""
    I1, I2, I3 = _levels(f)
    layer, k, H, F = s.layer, s.layer.index, s.hidden, s.features
    w, hh = layer.weights, layer.weights + H * F
    assert layer.delta is not None  # a recurrent layer is hidden
    delta = f.code(layer.delta, {P.BACK: "r", P.NET: f"z{k}[u]", P.OUT: f"a{k}[u]"})
    lines = [f"for ({f.index} t = {s.steps - 1}; t >= 0; t--) {{",  # d{k}: declared by the layer above
             f"{I1}for ({f.index} j = 0; j < {H}; j++) {{",
             f"{I2}{_constant(f, f.index)}u = t * {H} + j;", f"{I2}{f.number} r = back{k}[u];",
             f"{I2}for ({f.index} m = 0; t < {s.steps - 1} && m < {H}; m++) {{",
             f"{I3}r += p[{hh} + m * {H} + j] * d{k}[(t + 1) * {H} + m];", f"{I2}}}",
             f"{I2}back{k}[u] = r;", f"{I2}d{k}[u] = {delta};", f"{I1}}}", "}"]
    if s.below:
        lines += [f.arrays([f"back{k - 1}", f"d{k - 1}"], layer.width_in),
                  f"for ({f.index} t = 0; t < {s.steps}; t++) {{", f"{I1}for ({f.index} i = 0; i < {F}; i++) {{",
                  f"{I2}for ({f.index} j = 0; j < {H}; j++) {{",
                  f"{I3}back{k - 1}[{_input(s, f't * {F} + i')}] += p[{w} + j * {F} + i] * d{k}[t * {H} + j];",
                  f"{I2}}}", f"{I1}}}", "}"]
    return _indented(f, lines)


def gradients(s: P.Recur, f: CFamily, accumulate: Callable[[str, str], str]) -> list[str]:
    """Every tensor's gradient summed over the steps, each term given to ``accumulate`` (the target's
    ``g[e] += v``, or its step in place)."""
    I1, I2, I3 = _levels(f)
    layer, k, H, F = s.layer, s.layer.index, s.hidden, s.features
    w, b, hh = layer.weights, layer.biases, layer.weights + H * F
    x = _input(s, f"t * {F} + i")
    lines = [f"for ({f.index} t = 0; t < {s.steps}; t++) {{", f"{I1}for ({f.index} j = 0; j < {H}; j++) {{",
             f"{I2}{_constant(f, f.number)}dj = d{k}[t * {H} + j];",
             f"{I2}for ({f.index} i = 0; i < {F}; i++) {{",
             f"{I3}{accumulate(f'{w} + j * {F} + i', f'dj * a{k - 1}[{x}]')}", f"{I2}}}",
             f"{I2}for ({f.index} m = 0; t > 0 && m < {H}; m++) {{",
             f"{I3}{accumulate(f'{hh} + j * {H} + m', f'dj * a{k}[(t - 1) * {H} + m]')}", f"{I2}}}"]
    if b >= 0:
        lines.append(f"{I2}{accumulate(f'{b} + j', 'dj')}")
    return _indented(f, [*lines, f"{I1}}}", "}"])


def pool(s: P.Pool, f: CFamily, windows: str, backs: list[str]) -> list[str]:
    """A pooling layer's loops over its windows (``windows``: the target's declaration of the table of
    them, made where the forward pass computes the nets; ``backs``: its declaration of the vector sent
    back and the deltas below, zeroed). The vector sent back goes to each window's first largest input
    (a later input must be larger to take its place), or is spread over the window."""
    I1, I2, I3 = (f.base + level for level in ("", f.step, f.step * 2))
    layer, k, n = s.layer, s.layer.index, len(s.windows[0])
    a = f"a{k - 1}"
    window = f"{_constant(f, f.index)}*w" if f.typed else "const w"
    loop = [f"{I1}for ({f.index} j = 0; j < {layer.width}; j++) {{", f"{I2}{window} = windows{k}[j];"]
    if s.into == P.NETS:
        if s.mode == P.MAX:
            body = [f"{I2}{f.number} m = {a}[w[0]];", f"{I2}for ({f.index} t = 1; t < {n}; t++) {{",
                    f"{I3}m = {a}[w[t]] > m ? {a}[w[t]] : m;", f"{I2}}}", f"{I2}z{k}[j] = m;"]
        else:
            body = [f"{I2}{f.number} s = 0.0;", f"{I2}for ({f.index} t = 0; t < {n}; t++) {{", f"{I3}s += {a}[w[t]];",
                    f"{I2}}}", f"{I2}z{k}[j] = s / {n};"]
        return [f"{I1}{windows}", *loop, *body, f"{I1}}}"]
    if s.mode == P.MAX:
        body = [f"{I2}{f.index} best = w[0];", f"{I2}for ({f.index} t = 1; t < {n}; t++) {{",
                f"{I3}best = {a}[w[t]] > {a}[best] ? w[t] : best;", f"{I2}}}", f"{I2}back{k - 1}[best] += d{k}[j];"]
    else:
        body = [f"{I2}for ({f.index} t = 0; t < {n}; t++) {{", f"{I3}back{k - 1}[w[t]] += d{k}[j] / {n};", f"{I2}}}"]
    return [*backs, *loop, *body, f"{I1}}}"]


def scalars(s: P.Scalars, f: CFamily, backs: list[str], accumulate: Callable[[str, str], str]) -> list[str]:
    """A layer unit by unit (`derive.model.scalars`), each line one entry: its nets and outs declared with
    the forward pass; ``backs`` declares the vectors of the layer below (with ``s.below``); a gradient's
    line given to ``accumulate`` (the target's ``g[e] += v``, or its step in place). The backward pass
    reads the parameters as p (q in the statement's symbols)."""
    layer, k = s.layer, s.layer.index
    names = {}
    for target, value, _ in (*s.lines, *s.template):
        for symbol in (target, *value.free_symbols):
            found = scalar_parts(symbol)
            if found is not None and found[0] == "q":
                names[symbol] = f"p[{found[2]}]"

    def line(target, value, add: bool, base: str) -> str:
        if s.into == P.WEIGHT_GRADIENTS:
            return base + accumulate(target.name.removeprefix("g[").removesuffix("]"), f.code(value, names))
        return f"{base}{target.name} {'+=' if add else '='} {f.code(value, names)};"
    steps = (f"for ({f.index} step = {s.steps - 1}; step >= 1; step--) {{" if s.into == P.BACKS
             else f"for ({f.index} step = 1; step < {s.steps}; step++) {{")
    loop = [f.base + steps, *(line(*x, f.base + f.step) for x in s.template), f.base + "}"] if s.steps else []
    head = [f.base + f.arrays([f"z{k}", f"a{k}"], layer.width)] if s.into == P.NETS else (backs if s.below else [])
    lines = s.lines
    if s.into == P.WEIGHT_GRADIENTS:  # its entries set to 0 are the target's to zero (``g``), not to add
        head, lines = [], tuple(x for x in s.lines if x[2])
    return head + s.ordered([line(*x, f.base) for x in lines], loop)
