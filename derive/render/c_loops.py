"""The C target's loop form: ``run`` written from the layer program (`derive.derivation.layers`),
with arrays and layer loops following the matrix form, for networks where straight-line code would
take minutes to compile (gcc needed 404 s and 5.5 GB for 784-32-10 straight-line).

Layout and loops are chosen for the compiler: weights row by row as PARAMETERS has them, the forward
dot products as ``omp simd`` reductions (``-fopenmp-simd``: vectorized, no OpenMP runtime), and the
backward pass as contiguous axpy loops over a weight row, which vectorize as they are.
"""

from __future__ import annotations

import sympy as sp

from derive.derivation import layers as L
from derive.model.modes import BiasMode
from derive.render.c_printer import CPrinter

I1, I2, I3 = "    ", "        ", "            "


def _names(layer: int, j: str = "j"):
    """How each symbol of the program prints: vectors of layer ``layer`` at index ``j``."""
    vector = {L.NET: f"z{layer}[{j}]", L.OUT: f"a{layer}[{j}]", L.TARGET: f"t[{j}]", L.BACK: f"back[{j}]"}

    def name_of(symbol: sp.Symbol) -> str:
        if symbol in vector:
            return vector[symbol]
        entry = L.index_of(symbol)
        if entry:
            kind, k = entry
            return {"net": f"z{layer}[{k}]", "out": f"a{layer}[{k}]", "target": f"t[{k}]"}[kind]
        return symbol.name
    return name_of


def _statements(statements, printer_of, target: str) -> list[str]:
    """A uniform statement as a loop over the layer; the others one neuron (or the layer) at a time;
    ``target`` is where each statement's value goes ("{name}" formats the name, "{j}" the index)."""
    lines = []
    for s in statements:
        if s.uniform:
            value = printer_of("j").doprint(s.expr)
            lines += [f"{I1}for (long j = 0; j < N_OUTPUTS; j++) {{",
                      f"{I2}{target.format(name=s.name, j='j')} = {value};", f"{I1}}}"]
        elif s.neuron is None:
            lines.append(f"{I1}const double {s.name} = {printer_of('0').doprint(s.expr)};")
        else:
            lines.append(f"{I1}{target.format(name=s.name, j=s.neuron)} = {printer_of('0').doprint(s.expr)};")
    return lines


def _gradients(layer, into_g: bool) -> list[str]:
    """Layer ``layer``'s gradients into g, or (``into_g`` False) the SGD update p -= rate * gradient
    in place, fused: each weight is read and written once, and g is never stored (``train_step`` and
    plain SGD on one sample; the layer's weights are no longer read once its gradients are known)."""
    k, n_in, b = layer.index, layer.width_in, layer.biases
    array = "g" if into_g else "p"

    def store(target: str, value: str) -> str:
        return f"{target} = {value};" if into_g else f"{target} -= rate * ({value});"

    lines = [f"{I2}for (long j = 0; j < {layer.width}; j++) {{",
             f"{I3}double *restrict gw = {array} + {layer.weights} + j * {n_in};",
             f"{I3}const double dj = d{k}[j];",
             f"{I3}for (long k = 0; k < {n_in}; k++) {{",
             f"{I3}    {store('gw[k]', f'dj * a{k - 1}[k]')}", f"{I3}}}"]
    if layer.bias == BiasMode.PER_NEURON:
        lines.append(f"{I3}{store(f'{array}[{b} + j]', 'dj')}")
    lines.append(f"{I2}}}")
    if layer.bias == BiasMode.SHARED:
        lines += [f"{I2}double sum = 0.0;", f"{I2}for (long j = 0; j < {layer.width}; j++) {{",
                  f"{I3}sum += d{k}[j];", f"{I2}}}", f"{I2}{store(f'{array}[{b}]', 'sum')}"]
    return lines


def run_body(network) -> tuple[list[str], list[str]]:
    """The body of ``run`` in loop form, and the helpers it calls."""
    program = L.program(network)
    helpers: set = set()
    top = len(program.layers)

    def printer(layer):
        return lambda j: CPrinter(_names(layer, j), helpers)

    lines = [f"{I1}const double *restrict a0 = x;"]
    for layer in program.layers:
        k, n_in = layer.index, layer.width_in
        lines += [f"{I1}double z{k}[{layer.width}], a{k}[{layer.width}];",
                  f"{I1}for (long j = 0; j < {layer.width}; j++) {{",
                  f"{I2}const double *restrict w = p + {layer.weights} + j * {n_in};",
                  f"{I2}double s = 0.0;",
                  f"{I2}#pragma omp simd reduction(+:s)",
                  f"{I2}for (long k = 0; k < {n_in}; k++) {{",
                  f"{I3}s += w[k] * a{k - 1}[k];",
                  f"{I2}}}"]
        bias = {"per_neuron": f" + p[{layer.biases} + j]", "shared": f" + p[{layer.biases}]"}.get(layer.bias, "")
        lines.append(f"{I2}z{k}[j] = s{bias};")
        if layer.out is not None:
            lines.append(f"{I2}a{k}[j] = {printer(k)('j').doprint(layer.out)};")
        lines.append(f"{I1}}}")
    lines += _statements(program.forward, printer(top), "a" + str(top) + "[{j}]")
    lines += [f"{I1}if (out) {{", f"{I2}memcpy(out, a{top}, sizeof a{top});", f"{I1}}}",
              f"{I1}if (!t) {{", f"{I2}return 0.0;", f"{I1}}}", f"{I1}double e[N_OUTPUTS];"]
    lines += _statements(program.error, printer(top), "e[{j}]")
    lines += [f"{I1}double E_total = 0.0;", f"{I1}for (long j = 0; j < N_OUTPUTS; j++) {{",
              f"{I2}E_total += e[j];", f"{I1}}}", f"{I1}if (!g && rate == 0.0) {{", f"{I2}return E_total;", f"{I1}}}",
              f"{I1}double d{top}[N_OUTPUTS];"]
    lines += _statements(program.deltas, printer(top), "d" + str(top) + "[{j}]")
    for layer in reversed(program.layers):
        k, n_in = layer.index, layer.width_in
        if k > 1:  # back = W^T delta, a row of W at a time (contiguous, vectorized)
            below = program.layers[k - 2]
            delta = printer(k - 1)("j").doprint(below.delta).replace("back[", f"back{k - 1}[")
            lines += [f"{I1}double back{k - 1}[{n_in}], d{k - 1}[{n_in}];",
                      f"{I1}memset(back{k - 1}, 0, sizeof back{k - 1});",
                      f"{I1}for (long j = 0; j < {layer.width}; j++) {{",
                      f"{I2}const double *restrict w = p + {layer.weights} + j * {n_in};",
                      f"{I2}const double dj = d{k}[j];",
                      f"{I2}for (long k = 0; k < {n_in}; k++) {{",
                      f"{I3}back{k - 1}[k] += dj * w[k];", f"{I2}}}", f"{I1}}}",
                      f"{I1}for (long j = 0; j < {n_in}; j++) {{",
                      f"{I2}d{k - 1}[j] = {delta};",
                      f"{I1}}}"]
        lines += [f"{I1}if (g) {{", *_gradients(layer, True), f"{I1}}} else {{", *_gradients(layer, False),
                  f"{I1}}}"]
    lines.append(f"{I1}return E_total;")
    return lines, CPrinter(str, helpers).helper_sources()
