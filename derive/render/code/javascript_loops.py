"""The web page's script in loop form, above `derive.render.code.loops.LOOP_THRESHOLD` parameters: the
sibling of `derive.render.code.c_loops`, printed from the same lowered program (`derive.derivation.lowered`)
by the one walker, with typed arrays and layer loops instead of one ``const`` per step (the 6,814
parameters of a 1x28x28 convolution, max pooling and linear network: 3.9 MB straight-line).

``values(params, inputs, targets)`` returns what the straight-line script returns: every kernel
step's value, and the display steps in ``shown``, in the order of ``QUANTITIES``. Here that order is
the vectors', layer by layer (each layer's net inputs, outputs, dE/dout and deltas, unit by unit), then
the errors, E_total and the gradients in ``PARAMETERS`` order, then the display steps printed as the
straight-line script prints them (`derive.render.code.javascript`), from the vectors' entries they read.
"""

from __future__ import annotations

import json

from derive.derivation import layers as L
from derive.derivation import lowered as P
from derive.derivation.evaluate import training_settings
from derive.derivation.steps import DISPLAY, Derivation
from derive.model import quantities as Q
from derive.model.modes import BiasMode
from derive.render import names
from derive.render.code import c_family, code_functions, javascript
from derive.render.code.loops import symbol_names
from derive.render.code.walker import Printer, walk

I1, I2, I3 = "  ", "    ", "      "


class _Symbols(javascript._Printer):
    """The page's JavaScript printer, each symbol by the name ``name_of`` gives."""

    def __init__(self, name_of):
        super().__init__(None)
        self.name_of = name_of

    def _print_Symbol(self, expr):
        return self.name_of(expr)


def _code(layer: int, j: str, expr) -> str:
    table = {L.NET: f"z{layer}[{j}]", L.OUT: f"a{layer}[{j}]", L.TARGET: f"t[{j}]", L.BACK: f"back{layer}[{j}]"}
    name_of = symbol_names(table, {"net": f"z{layer}", "out": f"a{layer}", "target": "t"})
    return _Symbols(name_of).doprint(javascript.float_expression(expr))


def _array(name: str, n: int) -> str:
    return f"{name} = new Float64Array({n})"


class _JavaScript(Printer):
    """Typed arrays ``z1``, ``a1``, ``back1``, ``d1``, ``e``, ``g`` over the lowered program; the
    gradients always (the page shows them)."""

    def vector(self, name: str, layer: int, j) -> str:
        return f"{ {'out': 'a', 'error': 'e', 'delta': 'd'}[name]}{layer if name != 'error' else ''}[{j}]"

    def begin(self):
        return [f"{I1}const p = PARAMETERS.map((name) => params[name]);", f"{I1}const a0 = inputs, t = targets;"]

    def _width(self, layer: int) -> int:
        return self.program.layers[layer - 1].width

    def units(self, s: P.Units):
        k, w = s.layer.index, s.layer.width
        lines = [f"{I1}const {_array(f'z{k}', w)}, {_array(f'a{k}', w)};"]
        lines += [line for inner in s.body if isinstance(inner, P.Gather | P.Pool) for line in self.statement(inner)]
        body = [inner for inner in s.body if not isinstance(inner, P.Gather | P.Pool)]
        if not body:
            return lines
        lines.append(f"{I1}for (let j = 0; j < {w}; j++) {{")
        for inner in body:
            if isinstance(inner, P.Affine):
                lines += self.affine(inner)
            elif isinstance(inner, P.Each):
                lines += self._each_unit(inner, I2)
            else:
                value = _code(inner.layer, "j", inner.expr)
                lines.append(f"{I2}{self.vector(inner.vector, inner.layer, 'j')} = {value};")
        return [*lines, f"{I1}}}"]

    def affine(self, s: P.Affine):
        layer, k = s.layer, s.layer.index
        bias = {"per_neuron": f" + p[{layer.biases} + j]", "shared": f" + p[{layer.biases}]"}.get(layer.bias, "")
        return [f"{I2}let s = 0.0;", f"{I2}for (let k = 0; k < {layer.width_in}; k++) {{",
                f"{I3}s += p[{layer.weights} + j * {layer.width_in} + k] * a{k - 1}[k];", f"{I2}}}",
                f"{I2}z{k}[j] = s{bias};"]

    def _each_unit(self, s: P.Each, indent: str) -> list[str]:
        layer, k = s.layer, s.layer.index
        entry = {P.INPUT: f"a{k - 1}[j]", P.NET: f"z{k}[j]", P.OUT: f"a{k}[j]", P.DELTA: f"d{k}[j]",
                 P.WEIGHT: f"p[{layer.weights} + j]", P.BIAS: f"p[{layer.biases} + j]"}
        value = _Symbols(lambda symbol: entry.get(symbol, symbol.name)).doprint(javascript.float_expression(s.expr))
        into = {P.NETS: f"z{k}[j]", P.BACKS: f"back{k - 1}[j]", P.WEIGHT_GRADIENTS: f"g[{layer.weights} + j]",
                P.BIAS_GRADIENTS: f"g[{layer.biases} + j]"}[s.into]
        return [f"{indent}{into} = {value};"]

    def _backs(self, layer) -> list[str]:
        n, k = layer.width_in, layer.index - 1
        return [f"{I1}const {_array(f'back{k}', n)}, {_array(f'd{k}', n)};"]

    def each(self, s: P.Each):
        loop = [f"{I1}for (let j = 0; j < {s.layer.width}; j++) {{", *self._each_unit(s, I2), f"{I1}}}"]
        return [*self._backs(s.layer), *loop] if s.into == P.BACKS else loop

    def gather(self, s: P.Gather):
        """Loops over the layer's connection table (unit, input, weight entry), flat, defined once where
        the forward pass computes the nets; the backward statements reuse it."""
        layer, k = s.layer, s.layer.index
        w, b = layer.weights, layer.biases
        loop = f"for (let t = 0; t < {3 * len(s.table)}; t += 3) {{"
        j, i, e = (f"table{k}[t + {c}]" for c in range(3))
        if s.into == P.NETS:
            flat = ",".join(str(x) for row in s.table for x in row)
            lines = [f"{I1}const table{k} = TABLES[{k}] || (TABLES[{k}] = new Int32Array([{flat}]));"]
            if b >= 0:
                lines += [f"{I1}const bias{k} = [{','.join(map(str, s.biases))}];",
                          f"{I1}for (let j = 0; j < {layer.width}; j++) {{", f"{I2}z{k}[j] = p[{b} + bias{k}[j]];",
                          f"{I1}}}"]
            return [*lines, f"{I1}{loop}", f"{I2}z{k}[{j}] += p[{w} + {e}] * a{k - 1}[{i}];", f"{I1}}}"]
        if s.into == P.BACKS:
            return [*self._backs(layer), f"{I1}{loop}", f"{I2}back{k - 1}[{i}] += p[{w} + {e}] * d{k}[{j}];",
                    f"{I1}}}"]
        if s.into == P.WEIGHT_GRADIENTS:
            return [f"{I1}{loop}", f"{I2}g[{w} + {e}] += d{k}[{j}] * a{k - 1}[{i}];", f"{I1}}}"]
        return [f"{I1}for (let j = 0; j < {layer.width}; j++) {{", f"{I2}g[{b} + bias{k}[j]] += d{k}[j];", f"{I1}}}"]

    def family(self) -> c_family.CFamily:
        """JavaScript as a member of the C family (`c_family`): ``let`` for numbers and indices."""
        return c_family.CFamily(
            "let", "let", False, lambda names, n: "const " + ", ".join(_array(name, n) for name in names) + ";",
            lambda expr, names: _Symbols(lambda symbol: names.get(symbol, symbol.name)).doprint(
                javascript.float_expression(expr)), I1, I1,
            lambda name, values: f"const {name} = [{','.join(map(str, values))}];")

    def recur(self, s: P.Recur):
        """A recurrent layer's loops (`c_family`, shared with the C target)."""
        family = self.family()
        if s.into == P.NETS:
            return c_family.forward(s, family)
        if s.into == P.BACKS:
            return c_family.backward(s, family)
        return c_family.gradients(s, family, lambda e, v: f"g[{e}] += {v};")

    def scalars(self, s: P.Scalars):
        """A layer unit by unit (`c_family.scalars`, shared with the C target)."""
        return c_family.scalars(s, self.family(), self._backs(s.layer), lambda e, v: f"g[{e}] += {v};")

    def pool(self, s: P.Pool):
        """Loops over the layer's windows (`c_family.pool`), defined where the forward pass computes the nets."""
        rows = ",".join("[" + ",".join(map(str, w)) + "]" for w in s.windows)
        return c_family.pool(s, self.family(), f"const windows{s.layer.index} = [{rows}];", self._backs(s.layer))

    def map(self, s: P.Map):
        return [f"{I1}for (let j = 0; j < {self._width(s.layer)}; j++) {{",
                f"{I2}{self.vector(s.vector, s.layer, 'j')} = {_code(s.layer, 'j', s.expr)};", f"{I1}}}"]

    def rows(self, s: P.Rows):
        return [f"{I1}{self.vector(s.vector, s.layer, j)} = {_code(s.layer, '0', e)};" for j, e in enumerate(s.exprs)]

    def let(self, s: P.Let):
        return [f"{I1}const {s.name} = {_code(self.program.top, '0', s.expr)};"]

    def total(self, s: P.Total):
        return [f"{I1}let {s.name} = 0.0;", f"{I1}for (let j = 0; j < {self.program.outputs}; j++) {{",
                f"{I2}{s.name} += {self.vector(s.vector, self.program.top, 'j')};", f"{I1}}}"]

    def outputs_done(self):
        return [f"{I1}const {_array('e', self.program.outputs)};"]

    def error_done(self):
        return [f"{I1}const {_array(f'd{self.program.top}', self.program.outputs)};"]

    def backward_begin(self):
        return [f"{I1}const {_array('g', self.program.parameters)};"]

    def propagate(self, s: P.Propagate):
        """back = W^T delta, a row of W at a time."""
        layer, k, n_in = s.layer, s.layer.index, s.layer.width_in
        return [*self._backs(layer), f"{I1}for (let j = 0; j < {layer.width}; j++) {{",
                f"{I2}const dj = d{k}[j], row = {layer.weights} + j * {n_in};",
                f"{I2}for (let k = 0; k < {n_in}; k++) {{", f"{I3}back{k - 1}[k] += dj * p[row + k];", f"{I2}}}",
                f"{I1}}}"]

    def update(self, s: P.Update):
        layer, k, n_in, b = s.layer, s.layer.index, s.layer.width_in, s.layer.biases
        lines = [f"{I1}for (let j = 0; j < {layer.width}; j++) {{",
                 f"{I2}const dj = d{k}[j], row = {layer.weights} + j * {n_in};",
                 f"{I2}for (let k = 0; k < {n_in}; k++) {{", f"{I3}g[row + k] = dj * a{k - 1}[k];", f"{I2}}}"]
        if layer.bias == BiasMode.PER_NEURON:
            lines.append(f"{I2}g[{b} + j] = dj;")
        lines.append(f"{I1}}}")
        if layer.bias == BiasMode.SHARED:
            lines += [f"{I1}for (let j = 0; j < {layer.width}; j++) {{", f"{I2}g[{b}] += d{k}[j];", f"{I1}}}"]
        return lines


def vectors(derivation: Derivation, program: P.Program) -> list[tuple[str, list[Q.Quantity]]]:
    """The vectors ``values`` returns, in order, each with the quantities of its entries: each layer's
    net inputs, outputs, dE/dout (below the output layer) and deltas, the output layer's temporaries
    (one value each: ``[max_o]``), the errors, E_total, the gradients."""
    network, top = derivation.network, program.top
    listed = []
    for k in range(1, top + 1):
        units = network.layers[k]
        listed += [(f"z{k}", [Q.net(n) for n in units]), (f"a{k}", [Q.out(n) for n in units])]
        if k < top:
            listed.append((f"back{k}", [Q.partial(Q.TOTAL_ERROR, Q.out(n)) for n in units]))
        listed.append((f"d{k}", [Q.delta(n) for n in units]))
    temporaries = {str(s.quantity): s.quantity for s in derivation.kernel if s.quantity.kind == Q.TEMPORARY}
    lets = [s.name for s in (*program.forward, *program.error, *program.deltas) if isinstance(s, P.Let)]
    listed += [(f"[{name}]", [temporaries[name]]) for name in lets if name in temporaries]
    return [*listed, ("e", [Q.error(o) for o in network.outputs]), ("[E_total]", [Q.TOTAL_ERROR]),
            ("g", [Q.gradient(p.name) for p in network.parameters])]


def _places(derivation: Derivation, program: P.Program) -> dict[Q.Quantity, str]:
    """Where the loop form holds each value a display step may read: a vector's entry, a scalar, a
    parameter, an input or a target."""
    network = derivation.network
    places = {q: name.strip("[]") if name.startswith("[") else f"{name}[{j}]"
              for name, quantities in vectors(derivation, program) for j, q in enumerate(quantities)}
    places |= {p.quantity: f"p[{k}]" for k, p in enumerate(network.parameters)}
    places |= {Q.out(i): f"a0[{k}]" for k, i in enumerate(network.inputs)}
    return places | {Q.target(o): f"t[{k}]" for k, o in enumerate(network.outputs)}


def _display(derivation: Derivation, shown) -> list:
    """The display steps the script computes (those of ``shown``), in order."""
    return [s for s in javascript.steps(derivation, shown) if s.phase == DISPLAY]


def quantities(derivation: Derivation, shown=None, program: P.Program | None = None,
               display: list | None = None) -> list[Q.Quantity] | None:
    """The loop form's ``QUANTITIES``, or None when its vectors are not the derivation's kernel;
    ``program``: the network's lowered program and ``display`` its display steps (`_display`), when
    the caller has them (made here otherwise)."""
    program = P.lower(derivation.network) if program is None else program
    listed = [q for _, qs in vectors(derivation, program) for q in qs]
    if len(set(listed)) != len(listed) or set(listed) != {s.quantity for s in derivation.kernel}:
        return None
    return listed + [s.quantity for s in (_display(derivation, shown) if display is None else display)]


def render(derivation: Derivation, shown=None, program: P.Program | None = None) -> str:
    """The script, as `derive.render.code.javascript.render`'s (same names, same contract) in loop form;
    call only when `quantities` is not None. ``program``: the network's lowered program, when the
    caller has it (the page lowers it once for `quantities` and this)."""
    network = derivation.network
    program = P.lower(network) if program is None else program
    display = _display(derivation, shown)
    listed = quantities(derivation, shown, program, display)
    assert listed is not None  # the caller asked `quantities` first
    straight = P.straight(derivation, display)
    printed = walk(straight, javascript._Statements(straight, javascript._Printer(network)))
    defined = {s.quantity for s in display}
    read = sorted({network.quantity_of[x] for s in display for x in s.compute.free_symbols} - defined, key=str)
    lines = [
        "// The derivation as float64 code in loop form (the network's layers over typed arrays), printed",
        "// from the same lowered program as the C and Python modules in loop form; values() returns every",
        "// value in the order of QUANTITIES.",
        '"use strict";',
        f"const PARAMETERS = {json.dumps([p.name for p in network.parameters])};",
        f"const QUANTITIES = {json.dumps([str(q) for q in listed])};",
        "const TABLES = {};",
        "function values(params, inputs, targets) {",
    ]
    lines += walk(program, _JavaScript(program))
    places = _places(derivation, program)
    bound = [(names.python(q), places[q]) for q in read]
    lines += [f"{I1}const {name} = {entry};" for name, entry in bound if name != entry]
    lines += [f"{I1}{statement}" for statement in printed]
    spread = ", ".join(name.strip("[]") if name.startswith("[") else f"...{name}"
                       for name, _ in vectors(derivation, program))
    lines.append(f"{I1}return [{', '.join([spread, *(names.python(s.quantity) for s in display)])}];")
    lines.append("}")
    lines += javascript.first_step(training_settings(network.spec))
    lines += code_functions.helpers("javascript", "\n".join(lines))
    return "\n".join(lines) + "\n"
