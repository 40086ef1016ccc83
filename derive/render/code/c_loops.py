"""The C target's loop form: ``run`` printed from the lowered program (`derive.derivation.lowered`),
with arrays and layer loops following the matrix form, for networks where straight-line code would
take minutes to compile (gcc needed 404 s and 5.5 GB for 784-32-10 straight-line).

Layout and loops are chosen for the compiler: weights row by row as PARAMETERS has them, the forward
dot products as ``omp simd`` reductions (``-fopenmp-simd``: vectorized, no OpenMP runtime), and the
backward pass as contiguous axpy loops over a weight row, which vectorize as they are.
"""

from __future__ import annotations

import sympy as sp

from derive.derivation import layers as L
from derive.derivation import lowered as P
from derive.model.modes import BiasMode
from derive.render.code import c_family
from derive.render.code.c_printer import CPrinter
from derive.render.code.walker import Printer, walk

I1, I2, I3 = "    ", "        ", "            "
#: weight rows a pass of a layer's nets (`_C.nets`), for layers of at least WIDE inputs (a shorter row's
#: reduction gcc may unroll whole, and with four rows it reassociated it otherwise: other last bits)
ROWS, WIDE = 4, 256


def _names(layer: int, j: str = "j"):
    """How each symbol of the program prints: vectors of layer ``layer`` at index ``j``."""
    vector = {L.NET: f"z{layer}[{j}]", L.OUT: f"a{layer}[{j}]", L.TARGET: f"t[{j}]", L.BACK: f"back{layer}[{j}]"}

    def name_of(symbol: sp.Symbol) -> str:
        if symbol in vector:
            return vector[symbol]
        entry = L.index_of(symbol)
        if entry:
            kind, k = entry
            return {"net": f"z{layer}[{k}]", "out": f"a{layer}[{k}]", "target": f"t[{k}]"}[kind]
        return symbol.name
    return name_of


def _gradients(layer, into_g: bool, real: str, deltas: str = "d", inputs: str = "a",
               weights: bool = True) -> list[str]:
    """Layer ``layer``'s gradients into g, or (``into_g`` False) the SGD update p -= rate * gradient
    in place, fused: each weight is read and written once, and g is never stored (``train_step`` and
    plain SGD on one sample; the layer's weights are no longer read once its gradients are known).
    ``deltas``, ``inputs``: the names of the vectors it reads (`c_deferred`: a step kept for later);
    ``weights`` False: the biases' only (`c_deferred` updates the weights as the nets read them)."""
    k, n_in, b = layer.index, layer.width_in, layer.biases
    array = "g" if into_g else "p"

    def store(target: str, value: str) -> str:
        return f"{target} = {value};" if into_g else f"{target} -= rate * ({value});"

    row = [f"{I3}{real} *restrict gw = {array} + {layer.weights} + j * {n_in};",
           f"{I3}for (long k = 0; k < {n_in}; k++) {{", f"{I3}    {store('gw[k]', f'dj * {inputs}{k - 1}[k]')}",
           f"{I3}}}"]
    lines = [f"{I2}for (long j = 0; j < {layer.width}; j++) {{", f"{I3}const {real} dj = {deltas}{k}[j];",
             *(row if weights else [])]
    if not weights and layer.bias != BiasMode.PER_NEURON:
        lines = []
    elif layer.bias == BiasMode.PER_NEURON:
        lines.append(f"{I3}{store(f'{array}[{b} + j]', 'dj')}")
    if lines:
        lines.append(f"{I2}}}")
    if layer.bias == BiasMode.SHARED:
        lines += [f"{I2}{real} sum = 0.0;", f"{I2}for (long j = 0; j < {layer.width}; j++) {{",
                  f"{I3}sum += {deltas}{k}[j];", f"{I2}}}", f"{I2}{store(f'{array}[{b}]', 'sum')}"]
    return lines


_VECTORS = {"out": "a{layer}", "error": "e", "delta": "d{layer}"}


class _C(Printer):
    """C99 over the lowered program: arrays ``z1``, ``a1``, ``e``, ``d2``, ``back1`` on the stack."""

    def __init__(self, program: P.Program, real: str = "double"):
        super().__init__(program)
        self.helpers: set = set()
        self.real = real

    def printer(self, layer: int, j: str) -> CPrinter:
        return CPrinter(_names(layer, j), self.helpers, self.real)

    def vector(self, name: str, layer: int, j) -> str:
        return f"{_VECTORS[name].format(layer=layer)}[{j}]"

    def begin(self):
        return [f"{I1}const {self.real} *restrict a0 = x;"]

    def units(self, s: P.Units):
        k, w = s.layer.index, s.layer.width
        lines = [f"{I1}{self.real} z{k}[{w}], a{k}[{w}];"]
        lines += [line for inner in s.body if isinstance(inner, P.Gather | P.Pool) for line in self.statement(inner)]
        body = [inner for inner in s.body if not isinstance(inner, P.Gather | P.Pool)]
        if not body:
            return lines
        if isinstance(body[0], P.Affine) and s.layer.width_in >= WIDE:  # the nets first, then the rest
            lines += self.nets(body[0])
            body = body[1:]
            if not body:
                return lines
        lines.append(f"{I1}for (long j = 0; j < {w}; j++) {{")
        for inner in body:  # one unit's statements inside the loop
            if isinstance(inner, P.Affine):
                lines += self.affine(inner)
            elif isinstance(inner, P.Each):
                lines += self._each_unit(inner, I2, "g")
            else:
                value = self.printer(inner.layer, "j").doprint(inner.expr)
                lines.append(f"{I2}{self.vector(inner.vector, inner.layer, 'j')} = {value};")
        return [*lines, f"{I1}}}"]

    def nets(self, s: P.Affine, pending: bool = False) -> list[str]:
        """A dense layer's nets, ROWS weight rows a pass over the inputs (the rows' sums independent, so
        the loop is not held up by one sum's chain of adds: 5.3 to 4.7 µs a step at 784-32-10), each row's
        sum the ``omp simd`` reduction it was alone (the same vectorized order, the same numbers), then
        the last rows one at a time; the logistic's calls come after, unit by unit (`units`).
        ``pending`` (`c_deferred`): the SGD step of the sample before applied to each weight as it is
        read, ``w -= rate * (delta * input)`` as ``update`` takes it, so the weights are read once a step."""
        layer, k, n_in = s.layer, s.layer.index, s.layer.width_in
        bias = {"per_neuron": f"p[{layer.biases} + j + {{r}}]", "shared": f"p[{layer.biases}]"}.get(layer.bias)
        const = "" if pending else "const "
        lines, whole = [], layer.width - layer.width % ROWS
        for rows, first, last in ((ROWS, 0, whole), (1, whole, layer.width)):
            if first == last:
                continue
            r_ = range(rows)
            sums = ", ".join(f"s{r}" for r in r_)
            pointers = ", ".join(f"*restrict w{r} = p + {layer.weights} + (j + {r}) * {n_in}" for r in r_)
            plain = [f"{I3}s{r} += w{r}[k] * a{k - 1}[k];" for r in r_]
            loop = [f"{I2}#pragma omp simd reduction(+:{sums})", f"{I2}for (long k = 0; k < {n_in}; k++) {{"]
            if pending:
                step = [f"{I3}const {self.real} u{r} = w{r}[k] - rate * (f{r} * pa{k - 1}[k]);" for r in r_]
                step += [f"{I3}w{r}[k] = u{r};" for r in r_] + [f"{I3}s{r} += u{r} * a{k - 1}[k];" for r in r_]
                deltas = ", ".join(f"f{r} = pd{k}[j + {r}]" for r in r_)
                body = [f"{I2}if (pending) {{", f"{I2}    const {self.real} {deltas};",
                        *(f"    {line}" for line in [*loop, *step, f"{I2}}}"]), f"{I2}}} else {{",
                        *(f"    {line}" for line in [*loop, *plain, f"{I2}}}"]), f"{I2}}}"]
            else:
                body = [*loop, *plain, f"{I2}}}"]
            lines += [f"{I1}for (long j = {first}; j < {last}; j += {rows}) {{", f"{I2}{const}{self.real} {pointers};",
                      f"{I2}{self.real} {' = 0.0, '.join(sums.split(', '))} = 0.0;", *body,
                      *(f"{I2}z{k}[j + {r}] = s{r}{' + ' + bias.format(r=r) if bias else ''};" for r in r_),
                      f"{I1}}}"]
        return lines

    def affine(self, s: P.Affine):
        layer, k = s.layer, s.layer.index
        bias = {"per_neuron": f" + p[{layer.biases} + j]", "shared": f" + p[{layer.biases}]"}.get(layer.bias, "")
        return [f"{I2}const {self.real} *restrict w = p + {layer.weights} + j * {layer.width_in};",
                f"{I2}{self.real} s = 0.0;", f"{I2}#pragma omp simd reduction(+:s)",
                f"{I2}for (long k = 0; k < {layer.width_in}; k++) {{", f"{I3}s += w[k] * a{k - 1}[k];", f"{I2}}}",
                f"{I2}z{k}[j] = s{bias};"]

    def _each_unit(self, s: P.Each, indent: str, array: str) -> list[str]:
        """Unit j's line of an `Each`: into ``array`` (g, or p updated in place) for a gradient."""
        layer, k = s.layer, s.layer.index
        entry = {P.INPUT: f"a{k - 1}[j]", P.NET: f"z{k}[j]", P.OUT: f"a{k}[j]", P.DELTA: f"d{k}[j]",
                 P.WEIGHT: f"p[{layer.weights} + j]", P.BIAS: f"p[{layer.biases} + j]"}
        value = CPrinter(lambda symbol: entry.get(symbol, symbol.name), self.helpers, self.real).doprint(s.expr)
        into = {P.NETS: f"z{k}[j]", P.BACKS: f"back{k - 1}[j]", P.WEIGHT_GRADIENTS: f"{array}[{layer.weights} + j]",
                P.BIAS_GRADIENTS: f"{array}[{layer.biases} + j]"}[s.into]
        if array == "p":
            return [f"{indent}{into} -= rate * ({value});"]
        return [f"{indent}{into} = {value};"]

    def each(self, s: P.Each):
        """The vector sent back (declared with the deltas of the layer below, as `propagate` does), or
        a tensor's gradients, stored or (no g) applied as an SGD step in place, as `update` does."""
        loop = [f"{I1}for (long j = 0; j < {s.layer.width}; j++) {{", *self._each_unit(s, I2, "g"), f"{I1}}}"]
        if s.into == P.BACKS:
            n = s.layer.width_in
            return [f"{I1}{self.real} back{s.layer.index - 1}[{n}], d{s.layer.index - 1}[{n}];", *loop]
        step = [f"{I2}for (long j = 0; j < {s.layer.width}; j++) {{", *self._each_unit(s, I3, "p"), f"{I2}}}"]
        return [f"{I1}if (g) {{", *(f"    {line}" for line in loop), f"{I1}}} else {{", *step, f"{I1}}}"]

    def gather(self, s: P.Gather):
        """Loops over the layer's connection table (unit, input, weight entry), a static array declared
        once, where the forward pass computes the nets; the backward statements reuse it."""
        layer, k = s.layer, s.layer.index
        w, b = layer.weights, layer.biases
        loop = f"for (long t = 0; t < {len(s.table)}; t++) {{"
        j, i, e = (f"table{k}[t][{c}]" for c in range(3))
        if s.into == P.NETS:
            rows = ", ".join(f"{{{j}, {i}, {e}}}" for j, i, e in s.table)
            tables = [f"{I1}static const long table{k}[{len(s.table)}][3] = {{{rows}}};"]
            if b >= 0:
                tables.append(f"{I1}static const long bias{k}[{layer.width}] = {{{', '.join(map(str, s.biases))}}};")
            start = [f"{I1}for (long j = 0; j < {layer.width}; j++) {{", f"{I2}z{k}[j] = p[{b} + bias{k}[j]];",
                     f"{I1}}}"] if b >= 0 else [f"{I1}memset(z{k}, 0, sizeof z{k});"]
            return [*tables, *start, f"{I1}{loop}", f"{I2}z{k}[{j}] += p[{w} + {e}] * a{k - 1}[{i}];", f"{I1}}}"]
        if s.into == P.BACKS:
            return [*self._backs(layer), f"{I1}{loop}",
                    f"{I2}back{k - 1}[{i}] += p[{w} + {e}] * d{k}[{j}];", f"{I1}}}"]
        if s.into == P.WEIGHT_GRADIENTS:
            body = [f"{I2}{loop}", f"{I3}g[{w} + {e}] += d{k}[{j}] * a{k - 1}[{i}];", f"{I2}}}"]
            step = [f"{I2}{loop}", f"{I3}p[{w} + {e}] -= rate * (d{k}[{j}] * a{k - 1}[{i}]);", f"{I2}}}"]
            return [f"{I1}if (g) {{", f"{I2}memset(g + {w}, 0, {s.weights} * sizeof *g);", *body,
                    f"{I1}}} else {{", *step, f"{I1}}}"]
        count = 1 + max(s.biases)
        return [f"{I1}if (g) {{", f"{I2}memset(g + {b}, 0, {count} * sizeof *g);",
                f"{I2}for (long j = 0; j < {layer.width}; j++) {{", f"{I3}g[{b} + bias{k}[j]] += d{k}[j];", f"{I2}}}",
                f"{I1}}} else {{", f"{I2}for (long j = 0; j < {layer.width}; j++) {{",
                f"{I3}p[{b} + bias{k}[j]] -= rate * d{k}[j];", f"{I2}}}", f"{I1}}}"]

    def _backs(self, layer) -> list[str]:
        """The vector layer ``layer`` sends back and the deltas of the layer below, declared; the vector zeroed."""
        n, k = layer.width_in, layer.index - 1
        return [f"{I1}{self.real} back{k}[{n}], d{k}[{n}];", f"{I1}memset(back{k}, 0, sizeof back{k});"]

    def family(self, base: str = I1) -> c_family.CFamily:
        """C as a member of the C family (`c_family`): this source's number type, ``long`` indices, its
        lines indented from ``base``."""
        return c_family.CFamily(
            self.real, "long", True, lambda names, n: f"{self.real} " + ", ".join(f"{name}[{n}]" for name in names)
            + ";" + "".join(f" memset({name}, 0, sizeof {name});" for name in names),
            lambda expr, names: CPrinter(lambda symbol: names.get(symbol, symbol.name), self.helpers,
                                         self.real).doprint(expr), I1, base,
            lambda name, values: f"static const long {name}[{len(values)}] = {{{', '.join(map(str, values))}}};")

    def pool(self, s: P.Pool):
        """Loops over the layer's windows (`c_family.pool`), a static array declared once where the
        forward pass computes the nets."""
        layer, k, n = s.layer, s.layer.index, len(s.windows[0])
        rows = ", ".join("{" + ", ".join(map(str, w)) + "}" for w in s.windows)
        windows = f"static const long windows{k}[{layer.width}][{n}] = {{{rows}}};"
        return c_family.pool(s, self.family(), windows, self._backs(layer))

    def recur(self, s: P.Recur):
        """A recurrent layer's loops (`c_family`, shared with the page's JavaScript); its gradients
        stored in g, or applied as an SGD step in place."""
        family = self.family()
        if s.into == P.NETS:
            return c_family.forward(s, family)
        if s.into == P.BACKS:
            return c_family.backward(s, family)
        inner = self.family(I2)
        stored = c_family.gradients(s, inner, lambda e, v: f"g[{e}] += {v};")
        stepped = c_family.gradients(s, inner, lambda e, v: f"p[{e}] -= rate * ({v});")
        layer = s.layer
        zero = [f"{I2}memset(g + {layer.weights}, 0, {s.hidden * (s.features + s.hidden)} * sizeof *g);"]
        if layer.biases >= 0:
            zero.append(f"{I2}memset(g + {layer.biases}, 0, {s.hidden} * sizeof *g);")
        return [f"{I1}if (g) {{", *zero, *stored, f"{I1}}} else {{", *stepped, f"{I1}}}"]

    def scalars(self, s: P.Scalars):
        """A layer unit by unit (`c_family.scalars`); its gradients stored in g (each entry zeroed first),
        or applied as an SGD step in place."""
        if s.into != P.WEIGHT_GRADIENTS:
            return c_family.scalars(s, self.family(), self._backs(s.layer), lambda e, v: "")
        inner = self.family(I2)
        zeroed = [t.name.removeprefix("g") for t, _, add in s.lines if not add]  # every entry (`scalars._zeros`)
        stored = c_family.scalars(s, inner, [], lambda e, v: f"g[{e}] += {v};")
        stepped = c_family.scalars(s, inner, [], lambda e, v: f"p[{e}] -= rate * ({v});")
        return [f"{I1}if (g) {{", *(f"{I2}g{e} = 0.0;" for e in zeroed), *stored, f"{I1}}} else {{", *stepped,
                f"{I1}}}"]

    def map(self, s: P.Map):
        bound = "N_OUTPUTS" if s.layer == self.program.top else self.program.layers[s.layer - 1].width
        return [f"{I1}for (long j = 0; j < {bound}; j++) {{",
                f"{I2}{self.vector(s.vector, s.layer, 'j')} = {self.printer(s.layer, 'j').doprint(s.expr)};",
                f"{I1}}}"]

    def rows(self, s: P.Rows):
        return [f"{I1}{self.vector(s.vector, s.layer, j)} = {self.printer(s.layer, '0').doprint(e)};"
                for j, e in enumerate(s.exprs)]

    def let(self, s: P.Let):
        return [f"{I1}const {self.real} {s.name} = {self.printer(self.program.top, '0').doprint(s.expr)};"]

    def total(self, s: P.Total):
        return [f"{I1}{self.real} {s.name} = 0.0;", f"{I1}for (long j = 0; j < N_OUTPUTS; j++) {{",
                f"{I2}{s.name} += {self.vector(s.vector, self.program.top, 'j')};", f"{I1}}}"]

    def outputs_done(self):
        top = self.program.top
        return [f"{I1}if (out) {{", f"{I2}memcpy(out, a{top}, sizeof a{top});", f"{I1}}}",
                f"{I1}if (!t) {{", f"{I2}return 0.0;", f"{I1}}}", f"{I1}{self.real} e[N_OUTPUTS];"]

    def error_done(self):
        return [f"{I1}if (!g && rate == 0) {{", f"{I2}return E_total;", f"{I1}}}",
                f"{I1}{self.real} d{self.program.top}[N_OUTPUTS];"]

    def propagate(self, s: P.Propagate):
        """back = W^T delta, a row of W at a time (contiguous, vectorized)."""
        layer, k, n_in = s.layer, s.layer.index, s.layer.width_in
        return [*self._backs(layer), f"{I1}for (long j = 0; j < {layer.width}; j++) {{",
                f"{I2}const {self.real} *restrict w = p + {layer.weights} + j * {n_in};",
                f"{I2}const {self.real} dj = d{k}[j];",
                f"{I2}for (long k = 0; k < {n_in}; k++) {{",
                f"{I3}back{k - 1}[k] += dj * w[k];", f"{I2}}}", f"{I1}}}"]

    def update(self, s: P.Update):
        return [f"{I1}if (g) {{", *_gradients(s.layer, True, self.real), f"{I1}}} else {{",
                *_gradients(s.layer, False, self.real), f"{I1}}}"]

    def end(self):
        return [f"{I1}return E_total;"]


def run_body(program: P.Program, helpers: set | frozenset = frozenset(),
             real: str = "double") -> tuple[list[str], list[str]]:
    """The body of ``run`` in loop form in type ``real``, and the helpers it calls (with ``helpers``,
    those of other functions of the source)."""
    printer = _C(program, real)
    lines = walk(program, printer)
    return lines, CPrinter(str, printer.helpers | set(helpers), real).helper_sources()
