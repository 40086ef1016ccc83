"""The Python target's loop form, above `derive.render.code.loops.LOOP_THRESHOLD` parameters: lists and
layer loops printed from the lowered program (`derive.derivation.lowered`), so that 784-32-10 is a module of
about 2,300 lines (most of them the packed tables) that imports in 0.1 s (straight-line it is
310,000 lines, 1.2 s and 600 MB to import). The network is one function, ``_run``, written once;
the four functions call it."""

from __future__ import annotations

from derive.derivation import layers as L
from derive.derivation import lowered as P
from derive.model.modes import BiasMode
from derive.model.scalars import parts as scalar_parts
from derive.render.code import pyformat, python
from derive.render.code.loops import symbol_names
from derive.render.code.walker import Printer, walk

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


_VECTORS = {"out": "a{layer}", "error": "e", "delta": "d{layer}"}
_READ = {"net": ("z", "z{layer}"), "out": ("a", "a{layer}"), "target": ("t", "targets"), "back": ("b", "back")}


class _Python(Printer):
    """Lists and comprehensions over the lowered program."""

    def __init__(self, program: P.Program, helpers: set):
        super().__init__(program)
        self.helpers = helpers

    def code(self, layer: int, scalar: bool, expr) -> str:
        return _Printer(_names(layer, scalar), self.helpers).doprint(expr)

    def vector(self, s) -> str:
        return _VECTORS[s.vector].format(layer=s.layer)

    def begin(self):
        return ["def _run(params, inputs, targets, with_gradient, backward=None):",
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

    def units(self, s: P.Units):
        return self.statements(s.body)

    def affine(self, s: P.Affine):
        layer, k, n, w = s.layer, s.layer.index, s.layer.width_in, s.layer.weights
        bias = {"per_neuron": f" + p[{layer.biases} + j]", "shared": f" + p[{layer.biases}]"}.get(layer.bias, "")
        return [f"{I1}z{k} = [sum(map(mul, p[{w} + j * {n} : {w} + (j + 1) * {n}], a{k - 1})){bias}"
                f" for j in range({layer.width})]"]

    def each(self, s: P.Each):
        """One list comprehension over the unit entries the statement reads (a parameter tensor is a
        slice of ``p``, or of ``q`` when the backward pass propagates through other weights)."""
        layer, k, n = s.layer, s.layer.index, s.layer.width
        weights = "q" if s.into == P.BACKS else "p"
        source = {P.INPUT: f"a{k - 1}", P.NET: f"z{k}", P.OUT: f"a{k}", P.DELTA: f"d{k}",
                  P.WEIGHT: f"{weights}[{layer.weights} : {layer.weights + n}]",
                  P.BIAS: f"p[{layer.biases} : {layer.biases + n}]"}
        short = {P.INPUT: "x", P.NET: "z", P.OUT: "a", P.DELTA: "d", P.WEIGHT: "w", P.BIAS: "c"}
        into = {P.NETS: f"z{k}", P.BACKS: "back", P.WEIGHT_GRADIENTS: f"g[{layer.weights} : {layer.weights + n}]",
                P.BIAS_GRADIENTS: f"g[{layer.biases} : {layer.biases + n}]"}[s.into]
        read = P.entries(s.expr)
        value = _Printer(symbol_names({e: short[e] for e in read}, {}), self.helpers).doprint(s.expr)
        loop = (f"for {short[read[0]]} in {source[read[0]]}" if len(read) == 1 else
                f"for {', '.join(short[e] for e in read)} in zip({', '.join(source[e] for e in read)})")
        return pyformat.assignment(I1, into, f"[{value} {loop}]")

    def gather(self, s: P.Gather):
        """Loops over the layer's connection table, a tuple constant (folded when the module compiles)
        defined once, where the forward pass computes the nets; the backward statements reuse it."""
        layer, k = s.layer, s.layer.index
        w, b, n = layer.weights, layer.biases, layer.width
        if s.into == P.NETS:
            tables = [f"{I1}table{k} = {s.table!r}", *([f"{I1}bias{k} = {s.biases!r}"] if b >= 0 else [])]
            start = f"[p[{b} + e] for e in bias{k}]" if b >= 0 else f"[0.0] * {n}"
            return [*tables, f"{I1}z{k} = {start}", f"{I1}for j, i, e in table{k}:",
                    f"{I2}z{k}[j] += p[{w} + e] * a{k - 1}[i]"]
        if s.into == P.BACKS:
            return [f"{I1}back = [0.0] * {layer.width_in}", f"{I1}for j, i, e in table{k}:",
                    f"{I2}back[i] += q[{w} + e] * d{k}[j]"]
        if s.into == P.WEIGHT_GRADIENTS:
            return [f"{I1}for j, i, e in table{k}:", f"{I2}g[{w} + e] += d{k}[j] * a{k - 1}[i]"]
        return [f"{I1}for j, e in enumerate(bias{k}):", f"{I2}g[{b} + e] += d{k}[j]"]

    def pool(self, s: P.Pool):
        """Loops over the layer's windows, a tuple constant defined once where the forward pass computes
        the nets; the vector sent back goes to each window's first largest input (``max`` with a key
        returns the first), or is spread over the window."""
        k, n = s.layer.index, len(s.windows[0])
        if s.into == P.NETS:
            value = f"max(a{k - 1}[i] for i in w)" if s.mode == P.MAX else f"sum(a{k - 1}[i] for i in w) / {n}"
            return [f"{I1}windows{k} = {s.windows!r}", f"{I1}z{k} = [{value} for w in windows{k}]"]
        send = ([f"{I2}back[max(w, key=a{k - 1}.__getitem__)] += d{k}[j]"] if s.mode == P.MAX
                else [f"{I2}for i in w:", f"{I3}back[i] += d{k}[j] / {n}"])
        return [f"{I1}back = [0.0] * {s.layer.width_in}", f"{I1}for j, w in enumerate(windows{k}):", *send]

    def scalars(self, s: P.Scalars):
        """A layer unit by unit (`derive.model.scalars`), each line one entry; the vector sent back to its
        own units is ``back`` (the layer above's), the one to the layer below ``below`` until it is done."""
        layer, k = s.layer, s.layer.index

        def name(symbol):
            found = scalar_parts(symbol)
            if found is not None and found[0] == "back":
                return f"back[{found[2]}]" if found[1] == k else f"below[{found[2]}]"
            return symbol.name
        printer = _Printer(name, self.helpers)
        head, tail = [], []
        if s.into == P.NETS:
            head = [f"{I1}z{k}, a{k} = [0.0] * {layer.width}, [0.0] * {layer.width}"]
        elif s.into == P.BACKS:
            head = [f"{I1}d{k} = [0.0] * {layer.width}"]
            head += [f"{I1}below = [0.0] * {layer.width_in}"] if s.below else []
            tail = [f"{I1}back = below"] if s.below else []
        def line(target, value, add: bool, indent: str) -> str:
            return f"{indent}{printer.doprint(target)} {'+=' if add else '='} {printer.doprint(value)}"
        lines = [line(*x, I1) for x in s.lines]
        steps = f"reversed(range(1, {s.steps}))" if s.into == P.BACKS else f"range(1, {s.steps})"
        loop = [f"{I1}for step in {steps}:", *(line(*x, I2) for x in s.template)] if s.steps else []
        return head + s.ordered(lines, loop) + tail

    def recur(self, s: P.Recur):
        """A recurrent layer, step by step: its units' nets and outs (``step`` from 0), its deltas last
        step first (``r``, W_hh^T delta of the step after), its gradients summed over the steps."""
        layer, k, H, F = s.layer, s.layer.index, s.hidden, s.features
        w, b, hh = layer.weights, layer.biases, layer.weights + s.hidden * s.features
        code = self.code
        if s.into == P.NETS:
            start = f"p[{b} + j]" if b >= 0 else "0.0"
            x = (f"a{k - 1}[step * {F} : (step + 1) * {F}]" if s.positions is None else
                 f"[a{k - 1}[i] for i in positions{k}[step * {F} : (step + 1) * {F}]]")
            table = [f"{I1}positions{k} = {s.positions!r}"] if s.positions is not None else []
            return [*table, f"{I1}z{k}, a{k} = [0.0] * {s.steps * H}, [0.0] * {s.steps * H}",
                    f"{I1}for step in range({s.steps}):", f"{I2}x = {x}",
                    f"{I2}h = a{k}[(step - 1) * {H} : step * {H}]", f"{I2}for j in range({H}):",
                    f"{I3}z = {start} + sum(map(mul, p[{w} + j * {F} : {w} + (j + 1) * {F}], x))",
                    f"{I3}if step:", f"{I3}    z += sum(map(mul, p[{hh} + j * {H} : {hh} + (j + 1) * {H}], h))",
                    f"{I3}z{k}[step * {H} + j], a{k}[step * {H} + j] = z, {code(k, True, layer.out)}"]
        if s.into == P.BACKS:
            assert layer.delta is not None  # a recurrent layer is hidden
            lines = [f"{I1}d{k}, r = [0.0] * {s.steps * H}, [0.0] * {H}",
                     f"{I1}for step in reversed(range({s.steps})):", f"{I2}for j in range({H}):",
                     f"{I3}u = step * {H} + j", f"{I3}b, z, a = back[u] + r[j], z{k}[u], a{k}[u]", f"{I3}back[u] = b",
                     f"{I3}d{k}[u] = {code(k, True, layer.delta)}",
                     f"{I2}r = [sum(q[{hh} + m * {H} + j] * d{k}[step * {H} + m] for m in range({H}))",
                     f"{I2}     for j in range({H})]"]
            if s.below:
                lines += [f"{I1}sent = [sum(q[{w} + j * {F} + i] * d{k}[step * {H} + j] for j in range({H}))",
                          f"{I1}        for step in range({s.steps}) for i in range({F})]"]
                if s.positions is None:
                    lines.append(f"{I1}back = sent")
                else:  # to the hidden states' places among the layer below's units
                    lines += [f"{I1}back = [0.0] * {layer.width_in}", f"{I1}for i, v in zip(positions{k}, sent):",
                              f"{I2}back[i] = v"]
            return lines
        xi = f"step * {F} + i" if s.positions is None else f"positions{k}[step * {F} + i]"
        lines = [f"{I1}for step in range({s.steps}):", f"{I2}for j in range({H}):",
                 f"{I3}dj = d{k}[step * {H} + j]", f"{I3}for i in range({F}):",
                 f"{I3}    g[{w} + j * {F} + i] += dj * a{k - 1}[{xi}]", f"{I3}if step:",
                 f"{I3}    for m in range({H}):",
                 f"{I3}        g[{hh} + j * {H} + m] += dj * a{k}[(step - 1) * {H} + m]"]
        return [*lines, *([f"{I3}g[{b} + j] += dj"] if b >= 0 else [])]

    def map(self, s: P.Map):
        names = [_READ[r][0] for r in s.reads]
        sources = [_READ[r][1].format(layer=s.layer) for r in s.reads]
        loop = (f"for {names[0]} in {sources[0]}" if len(names) == 1
                else f"for {', '.join(names)} in zip({', '.join(sources)})")
        return pyformat.assignment(I1, self.vector(s), f"[{self.code(s.layer, True, s.expr)} {loop}]")

    def rows(self, s: P.Rows):
        target = self.vector(s)
        return [f"{I1}{target} = [0.0] * {len(s.exprs)}",
                *(line for j, e in enumerate(s.exprs)
                  for line in pyformat.assignment(I1, f"{target}[{j}]", self.code(s.layer, False, e)))]

    def let(self, s: P.Let):
        return pyformat.assignment(I1, s.name, self.code(self.program.top, False, s.expr))

    def total(self, s: P.Total):
        return [f"{I1}{s.name} = sum({_VECTORS[s.vector]})"]

    def outputs_done(self):
        return [f"{I1}if targets is None:", f"{I2}return a{self.program.top}, None, None, p"]

    def error_done(self):
        return [f"{I1}if not with_gradient:", f"{I2}return a{self.program.top}, E_total, None, p"]

    def backward_begin(self):
        lines = [f"{I1}q = p if backward is None else [_mapping(backward)[name] for name in PARAMETERS]"]
        return [*(lines if self.program.top > 1 else []), f"{I1}g = [0.0] * {self.program.parameters}"]

    def propagate(self, s: P.Propagate):
        k, n, w = s.layer.index, s.layer.width_in, s.layer.weights
        return [f"{I1}back = [0.0] * {n}", f"{I1}for j, dj in enumerate(d{k}):",
                f"{I2}back = [b + dj * x for b, x in zip(back, q[{w} + j * {n} : {w} + (j + 1) * {n}])]"]

    def update(self, s: P.Update):
        layer, k, n, w = s.layer, s.layer.index, s.layer.width_in, s.layer.weights
        lines = [f"{I1}for j, dj in enumerate(d{k}):",
                 f"{I2}g[{w} + j * {n} : {w} + (j + 1) * {n}] = [dj * x for x in a{k - 1}]"]
        if layer.bias == BiasMode.PER_NEURON:
            lines.append(f"{I2}g[{layer.biases} + j] = dj")
        elif layer.bias == BiasMode.SHARED:
            lines.append(f"{I1}g[{layer.biases}] = sum(d{k})")
        return lines

    def end(self):
        return [f"{I1}return a{self.program.top}, E_total, g, p"]


def render(network, version: str) -> str:
    program = P.lower(network)
    helpers: set = set()
    run = walk(program, _Python(program, helpers))
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
