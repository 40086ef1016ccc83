"""The Python target's loop form, above `derive.render.loops.LOOP_THRESHOLD` parameters: lists and
layer loops from the layer program (`derive.derivation.layers`), so that 784-32-10 is a module of
about 2,300 lines (most of them the packed tables) that imports in 0.1 s (straight-line it is
310,000 lines, 1.2 s and 600 MB to import). The network is one function, ``_run``, written once;
the four functions call it."""

from __future__ import annotations

from derive.derivation import layers as L
from derive.model.modes import BiasMode
from derive.render import pyformat, python
from derive.render.loops import symbol_names

I1, I2, I3 = "    ", "        ", "            "


class _Printer(python._Printer):
    def __init__(self, name_of, helpers: set):
        super().__init__(None)
        self.name_of, self.helpers = name_of, helpers

    def _print_Symbol(self, expr):
        return self.name_of(expr)


def _names(layer: int, scalar: bool):
    """Uniform statements read one neuron's z, a, t, b in a comprehension; others index the lists."""
    table = {L.NET: "z", L.OUT: "a", L.TARGET: "t", L.BACK: "b"} if scalar else {}
    return symbol_names(table, {"net": f"z{layer}", "out": f"a{layer}", "target": "targets"})


def _statements(statements, layer: int, target: str, helpers: set, width: int) -> list[str]:
    lines, rows = [], False
    loop = f"for z, a, t in zip(z{layer}, a{layer}, targets)" if target != f"a{layer}" else f"for z in z{layer}"
    for s in statements:
        if s.uniform:
            value = _Printer(_names(layer, True), helpers).doprint(s.expr)
            lines += pyformat.assignment(I1, target, f"[{value} {loop}]")
        elif s.neuron is None:
            lines += pyformat.assignment(I1, s.name, _Printer(_names(layer, False), helpers).doprint(s.expr))
        else:
            if not rows:
                lines.append(f"{I1}{target} = [0.0] * {width}")
                rows = True
            lines += pyformat.assignment(I1, f"{target}[{s.neuron}]",
                                         _Printer(_names(layer, False), helpers).doprint(s.expr))
    return lines


def _run(program, helpers: set) -> list[str]:
    top = len(program.layers)
    lines = ["def _run(params, inputs, targets, with_gradient, backward=None):",
             '    """The network, written once: (outputs, E_total given targets, the gradient, the parameters);',
             "    the deltas propagated through the weights of ``backward`` when given (update_order in_place).",
             '    """',
             f"{I1}p = [params[name] for name in PARAMETERS] if isinstance(params, Mapping) else list(params)",
             f"{I1}if len(p) != len(PARAMETERS):",
             f'{I2}raise ValueError(f"params: expected {{len(PARAMETERS)}} values in PARAMETERS order, "',
             f'{I2}                 f"got {{len(p)}}")',
             f"{I1}if len(inputs) != INPUTS or (targets is not None and len(targets) != OUTPUTS):",
             f"{I2}raise _length_error(inputs, targets)",
             f"{I1}a0 = list(inputs)"]
    for layer in program.layers:
        k, n, w = layer.index, layer.width_in, layer.weights
        bias = {"per_neuron": f" + p[{layer.biases} + j]", "shared": f" + p[{layer.biases}]"}.get(layer.bias, "")
        lines.append(f"{I1}z{k} = [sum(map(mul, p[{w} + j * {n} : {w} + (j + 1) * {n}], a{k - 1})){bias}"
                     f" for j in range({layer.width})]")
        if layer.out is not None:
            value = _Printer(_names(k, True), helpers).doprint(layer.out)
            lines += pyformat.assignment(I1, f"a{k}", f"[{value} for z in z{k}]")
    lines += _statements(program.forward, top, f"a{top}", helpers, program.sizes[-1])
    lines += [f"{I1}if targets is None:", f"{I2}return a{top}, None, None, p"]
    lines += _statements(program.error, top, "e", helpers, program.sizes[-1])
    lines += [f"{I1}E_total = sum(e)", f"{I1}if not with_gradient:", f"{I2}return a{top}, E_total, None, p"]
    lines += _statements(program.deltas, top, f"d{top}", helpers, program.sizes[-1])
    if len(program.layers) > 1:
        lines += [f"{I1}q = p if backward is None else [_mapping(backward)[name] for name in PARAMETERS]"]
    lines.append(f"{I1}g = [0.0] * {program.parameters}")
    for layer in reversed(program.layers):
        k, n, w = layer.index, layer.width_in, layer.weights
        lines += [f"{I1}for j, dj in enumerate(d{k}):",
                  f"{I2}g[{w} + j * {n} : {w} + (j + 1) * {n}] = [dj * x for x in a{k - 1}]"]
        if layer.bias == BiasMode.PER_NEURON:
            lines.append(f"{I2}g[{layer.biases} + j] = dj")
        elif layer.bias == BiasMode.SHARED:
            lines.append(f"{I1}g[{layer.biases}] = sum(d{k})")
        if k > 1:
            below = program.layers[k - 2]
            lines += [f"{I1}back = [0.0] * {n}", f"{I1}for j, dj in enumerate(d{k}):",
                      f"{I2}back = [b + dj * x for b, x in zip(back, q[{w} + j * {n} : {w} + (j + 1) * {n}])]"]
            value = _Printer(_names(k - 1, True), helpers).doprint(below.delta)
            lines += pyformat.assignment(I1, f"d{k - 1}", f"[{value} for b, z, a in zip(back, z{k - 1}, a{k - 1})]")
    return [*lines, f"{I1}return a{top}, E_total, g, p"]


def render(network, version: str) -> str:
    program = L.program(network)
    helpers: set = set()
    run = _run(program, helpers)
    bodies = {
        "forward": [f"{I1}return _run(params, inputs, None, False)[0]"],
        "loss": [f"{I1}return _run(params, inputs, targets, False)[1]"],
        "gradient": [f"{I1}g = _run(params, inputs, targets, True, backward)[2]",
                     f"{I1}return dict(zip(PARAMETERS, g, strict=True))"],
        "train_step": [f"{I1}_, _, g, values = _run(params, inputs, targets, True)",
                       f"{I1}steps = [v - learning_rate * gk for v, gk in zip(values, g, strict=True)]",
                       f"{I1}return dict(zip(PARAMETERS, steps, strict=True))"],
    }
    sources = python._Printer(None)
    sources.helpers = helpers
    extra = ["\n".join(run) + "\n"]
    return python.module(network, version, bodies, [*sources.helper_sources(), *extra], [], form="Python in loop form",
                         compact=True)
