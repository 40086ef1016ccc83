"""Render the network as a NumPy module in matrix form (`derive codegen --target numpy`).

The module's arithmetic is one function, ``_run``, printed from the lowered program
(`derive.derivation.lowered`): the samples are the columns of A^0, each layer is Z = W A + b and
A = f(Z), the backward pass Δ = (Wᵀ Δ') ⊙ f'(Z, A), and the gradients Δ Aᵀ, so one call on a batch
takes its gradient as matrix products. Every registered function is printed from its stable array
form (its float form unless the entry gives one for arrays, as the logistic does: a guard written as
``numpy.where`` computes both branches; SymPy's NumPy printer); ``erf`` and ``erfc``, which NumPy
lacks, through ``math.erf`` and ``math.erfc`` element by element (`VECTORIZED`). The optimizers' rules are printed from
`derive.model.optimizers` and applied to all parameters at once (they are elementwise).
"""

from __future__ import annotations

import inspect
import textwrap

from sympy.printing.numpy import NumPyPrinter

from derive.derivation import layers as L
from derive.derivation import lowered as P
from derive.escape import python_string
from derive.model import optimizers
from derive.model.functions import Registered
from derive.model.layers.batch import batch_inputs
from derive.model.scalars import parts as scalar_parts
from derive.render.code import pyformat, python_training, tables
from derive.render.code.code_functions import NAMES, FunctionNames
from derive.render.code.header import header
from derive.render.code.loops import symbol_names
from derive.render.code.walker import Printer, walk
from derive.render.templating import environment
from derive.render.text import FloatLiterals

I1, I2 = "    ", "        "
VECTORIZED = tuple(NAMES["numpy"])  # functions NumPy lacks: the module applies math's element by element


class _Printer(FunctionNames, FloatLiterals, NumPyPrinter):
    """NumPy in the textbook's order, each symbol by ``name_of``; registered functions inline; the
    functions NumPy lacks by `code_functions.NAMES`."""

    language = "numpy"

    def __init__(self, name_of):
        super().__init__({"order": "none", "fully_qualified_modules": True})
        self.name_of = name_of

    def _print_Symbol(self, expr):
        return self.name_of(expr)

    def _print_Pow(self, expr, rational=False):
        if expr.exp == -1:
            return f"(1.0 / ({self._print(expr.base)}))"
        if expr.exp == 2:
            base = self._print(expr.base)
            return f"(({base}) * ({base}))"
        return super()._print_Pow(expr, rational=rational)

    def _print_Piecewise(self, expr):
        *branches, (last, _) = expr.args
        text = self._print(last)
        for value, condition in reversed(branches):
            text = f"numpy.where({self._print(condition)}, {self._print(value)}, {text})"
        return text

    def _nested(self, function, args):
        *rest, last = args
        text = self._print(last)
        for a in reversed(rest):
            text = f"{function}({self._print(a)}, {text})"
        return text

    def _print_Max(self, expr):
        return self._nested("numpy.maximum", expr.args)

    def _print_Min(self, expr):
        return self._nested("numpy.minimum", expr.args)

    def _print_Function(self, expr):
        if isinstance(expr, Registered):  # inline, parenthesized: the form may be a sum
            return f"({self._print(expr.array_form(*expr.args))})"
        return super()._print_Function(expr)


def _names(layer: int):
    """How the program's symbols print: layer ``layer``'s matrices, a row of them for one neuron."""
    return symbol_names({L.NET: f"z{layer}", L.OUT: f"a{layer}", L.TARGET: "t", L.BACK: f"back{layer}"},
                        {"net": f"z{layer}", "out": f"a{layer}", "target": "t"})


_VECTORS = {"out": "a{layer}", "error": "e", "delta": "d{layer}"}


class _NumPy(Printer):
    """NumPy over the lowered program: each layer's units at once, the samples as the columns."""

    def vector(self, s) -> str:
        return _VECTORS[s.vector].format(layer=s.layer)

    def units(self, s: P.Units):
        k, n_in, w = s.layer.index, s.layer.width_in, s.layer.weights
        matrix = [f"{I1}W{k} = p[{w}:{w + s.layer.width * n_in}].reshape({s.layer.width}, {n_in})"]
        return [*(matrix if any(isinstance(x, P.Affine) for x in s.body) else []), *self.statements(s.body)]

    def each(self, s: P.Each):
        """Every unit at once, each sample a column (a tensor is a column of p); a gradient is summed
        over the samples, and stored, or applied as a step in place (``rate``), as `update` does."""
        layer, k, n = s.layer, s.layer.index, s.layer.width
        entry = {P.INPUT: f"a{k - 1}", P.NET: f"z{k}", P.OUT: f"a{k}", P.DELTA: f"d{k}",
                 P.WEIGHT: f"p[{layer.weights}:{layer.weights + n}, None]",
                 P.BIAS: f"p[{layer.biases}:{layer.biases + n}, None]"}
        value = _Printer(lambda symbol: entry.get(symbol, symbol.name)).doprint(s.expr)
        if s.into in (P.NETS, P.BACKS):
            return pyformat.assignment(I1, f"z{k}" if s.into == P.NETS else f"back{k - 1}", value)
        start = layer.weights if s.into == P.WEIGHT_GRADIENTS else layer.biases
        total = f"({value}).sum(axis=1)"
        return [f"{I1}if rate is None:", *pyformat.assignment(I2, f"g[{start}:{start + n}]", total),
                f"{I1}else:", f"{I2}p[{start}:{start + n}] -= rate * {total}"]

    def affine(self, s: P.Affine):
        layer, k = s.layer, s.layer.index
        bias = {"per_neuron": f" + p[{layer.biases}:{layer.biases + layer.width}, None]",
                "shared": f" + p[{layer.biases}]"}.get(layer.bias, "")
        return [f"{I1}z{k} = W{k} @ a{k - 1}{bias}"]

    def gather(self, s: P.Gather):
        """The connection table as index arrays (unit, input, weight entry), made once where the forward
        pass computes the nets; sums by ``numpy.add.at`` and ``numpy.bincount`` over it, every sample (a
        column) at once."""
        layer, k = s.layer, s.layer.index
        w, b, n = layer.weights, layer.biases, layer.width
        units_of, inputs_of, entries_of = f"J{k}", f"I{k}", f"E{k}"
        if s.into == P.NETS:
            units, inputs, entries = (repr(tuple(row[c] for row in s.table)) for c in range(3))
            tables = [f"{I1}{units_of}, {inputs_of}, {entries_of} = numpy.array({units}), numpy.array({inputs}), "
                      f"numpy.array({entries})"]
            if b >= 0:
                tables.append(f"{I1}B{k} = numpy.array({s.biases!r})")
            initial = (f"p[{b} + B{k}, None] + numpy.zeros((1, a{k - 1}.shape[1]), p.dtype)" if b >= 0
                       else f"numpy.zeros(({n}, a{k - 1}.shape[1]), p.dtype)")
            return [*tables, f"{I1}z{k} = {initial}",
                    f"{I1}numpy.add.at(z{k}, {units_of}, p[{w} + {entries_of}, None] * a{k - 1}[{inputs_of}])"]
        if s.into == P.BACKS:
            return [f"{I1}back{k - 1} = numpy.zeros_like(a{k - 1})",
                    f"{I1}numpy.add.at(back{k - 1}, {inputs_of}, p[{w} + {entries_of}, None] * d{k}[{units_of}])"]
        if s.into == P.WEIGHT_GRADIENTS:
            products = f"(d{k}[{units_of}] * a{k - 1}[{inputs_of}]).sum(axis=1)"
            total = f"numpy.bincount({entries_of}, weights={products}, minlength={s.weights})"
            start, end = w, w + s.weights
        else:
            count = 1 + max(s.biases)
            total = f"numpy.bincount(B{k}, weights=d{k}.sum(axis=1), minlength={count})"
            start, end = b, b + count
        return [f"{I1}if rate is None:", f"{I2}g[{start}:{end}] = {total}", f"{I1}else:",
                f"{I2}p[{start}:{end}] -= rate * {total}"]

    def pool(self, s: P.Pool):
        """The windows as an index array (unit, entry), made once where the forward pass computes the
        nets; every sample (a column) at once. The vector sent back goes to each window's first largest
        input (``argmax`` returns the first), or is spread over the window."""
        k, n = s.layer.index, len(s.windows[0])
        window = f"a{k - 1}[windows{k}]"  # (units, window, samples)
        if s.into == P.NETS:
            reduce = "max" if s.mode == P.MAX else "mean"
            return [f"{I1}windows{k} = numpy.array({s.windows!r})", f"{I1}z{k} = {window}.{reduce}(axis=1)"]
        lines = [f"{I1}back{k - 1} = numpy.zeros_like(a{k - 1})"]
        if s.mode == P.MAX:
            first = f"windows{k}[numpy.arange({s.layer.width})[:, None], {window}.argmax(axis=1)]"
            return [*lines, f"{I1}numpy.add.at(back{k - 1}, ({first}, numpy.arange(a{k - 1}.shape[1])), d{k})"]
        return [*lines, f"{I1}numpy.add.at(back{k - 1}, windows{k}.ravel(), numpy.repeat(d{k} / {n}, {n}, axis=0))"]

    def scalars(self, s: P.Scalars):
        """A layer unit by unit (`derive.model.scalars`), each line one entry: a row, every sample (a
        column) at once; its gradients summed over the samples, stored in g (each entry zeroed first) or
        applied as a step in place."""
        layer, k = s.layer, s.layer.index

        def name(symbol):
            found = scalar_parts(symbol)
            return f"p[{found[2]}]" if found is not None and found[0] == "q" else symbol.name
        printer = _Printer(name)
        steps = f"reversed(range(1, {s.steps}))" if s.into == P.BACKS else f"range(1, {s.steps})"

        def run(lines: list[str], loop: list[str], indent: str) -> list[str]:
            return s.ordered(lines, [f"{indent}for step in {steps}:", *loop] if s.steps else [])
        if s.into == P.WEIGHT_GRADIENTS:
            zeroed = [t.name.removeprefix("g") for t, _, add in s.lines if not add]  # every entry, set to 0 first
            values = [(t.name.removeprefix("g"), printer.doprint(v)) for t, v, add in s.lines if add]
            looped = [(t.name.removeprefix("g"), printer.doprint(v)) for t, v, _ in s.template]
            zero = [f"{I2}g{e} = 0.0" for e in zeroed]
            stored = run([f"{I2}g{e} += numpy.sum({v})" for e, v in values],
                         [f"{I2}    g{e} += numpy.sum({v})" for e, v in looped], I2)
            stepped = run([f"{I2}p{e} -= rate * numpy.sum({v})" for e, v in values],
                          [f"{I2}    p{e} -= rate * numpy.sum({v})" for e, v in looped], I2)
            return [f"{I1}if rate is None:", *zero, *stored, f"{I1}else:", *stepped]
        if s.into == P.NETS:
            head = [f"{I1}z{k} = numpy.empty(({layer.width}, a{k - 1}.shape[1]), p.dtype)",
                    f"{I1}a{k} = numpy.empty_like(z{k})"]
        else:
            head = [f"{I1}d{k} = numpy.empty_like(z{k})", *([f"{I1}back{k - 1} = numpy.zeros_like(a{k - 1})"]
                                                             if s.below else [])]
        return head + run([f"{I1}{t.name} {'+=' if add else '='} {printer.doprint(v)}" for t, v, add in s.lines],
                          [f"{I2}{t.name} {'+=' if add else '='} {printer.doprint(v)}" for t, v, add in s.template], I1)

    def recur(self, s: P.Recur):
        """A recurrent layer a step at a time, every sample (a column) at once: W_ih and W_hh are views
        of p made where the forward pass computes the nets; the deltas last step first (``r``, W_hh^T
        delta of the step after); the gradients summed over the steps and the samples."""
        layer, k, T, H, F = s.layer, s.layer.index, s.steps, s.hidden, s.features
        w, b, hh = layer.weights, layer.biases, layer.weights + s.hidden * s.features
        here = f"step * {H}:(step + 1) * {H}"
        # x_t's rows: the layer below's, or those of its units at the positions given (an lstm's hidden states)
        x = f"a{k - 1}" if s.positions is None else f"a{k - 1}[X{k}]"
        if s.into == P.NETS:
            out = _Printer(lambda symbol: {L.NET: "z"}.get(symbol, symbol.name)).doprint(layer.out)
            bias = f" + p[{b}:{b + H}, None]" if b >= 0 else ""
            table = [f"{I1}X{k} = numpy.array({list(s.positions)!r})"] if s.positions is not None else []
            return [*table,
                    f"{I1}Wih{k}, Whh{k} = p[{w}:{hh}].reshape({H}, {F}), p[{hh}:{hh + H * H}].reshape({H}, {H})",
                    f"{I1}z{k} = numpy.empty(({T * H}, a{k - 1}.shape[1]), p.dtype)",
                    f"{I1}a{k} = numpy.empty_like(z{k})",
                    f"{I1}for step in range({T}):",
                    f"{I2}z = Wih{k} @ {x}[step * {F}:(step + 1) * {F}]{bias}", f"{I2}if step:",
                    f"{I2}    z = z + Whh{k} @ a{k}[(step - 1) * {H}:step * {H}]",
                    f"{I2}z{k}[{here}], a{k}[{here}] = z, {out}"]
        if s.into == P.BACKS:
            assert layer.delta is not None  # a recurrent layer is hidden
            names = {L.BACK: "b", L.NET: f"z{k}[{here}]", L.OUT: f"a{k}[{here}]"}
            delta = _Printer(lambda symbol: names.get(symbol, symbol.name)).doprint(layer.delta)
            lines = [f"{I1}d{k}, r = numpy.empty_like(z{k}), numpy.zeros(({H}, z{k}.shape[1]), p.dtype)",
                     f"{I1}for step in reversed(range({T})):", f"{I2}b = back{k}[{here}] = back{k}[{here}] + r",
                     f"{I2}d{k}[{here}] = {delta}", f"{I2}r = Whh{k}.T @ d{k}[{here}]"]
            if s.below:
                sent = f"(Wih{k}.T @ d{k}.reshape({T}, {H}, -1)).reshape({T * F}, -1)"
                if s.positions is None:
                    lines.append(f"{I1}back{k - 1} = {sent}")
                else:
                    lines += [f"{I1}back{k - 1} = numpy.zeros_like(a{k - 1})", f"{I1}back{k - 1}[X{k}] = {sent}"]
            return lines
        D, A = f"d{k}.reshape({T}, {H}, -1)", f"a{k}.reshape({T}, {H}, -1)"
        totals = [(w, f"numpy.einsum('ths,tfs->hf', {D}, {x}.reshape({T}, {F}, -1)).ravel()"),
                  (hh, f"numpy.einsum('ths,tms->hm', {D}[1:], {A}[:-1]).ravel()")]
        if b >= 0:
            totals.append((b, f"{D}.sum(axis=(0, 2))"))
        lines = [f"{I1}if rate is None:"] + [f"{I2}g[{start}:{start + (H * F, H * H, H)[n]}] = {total}"
                                             for n, (start, total) in enumerate(totals)]
        return [*lines, f"{I1}else:"] + [f"{I2}p[{start}:{start + (H * F, H * H, H)[n]}] -= rate * {total}"
                                         for n, (start, total) in enumerate(totals)]

    def map(self, s: P.Map):
        value = _Printer(_names(s.layer)).doprint(s.expr)
        if not s.expr.free_symbols:  # a constant (softmax of one output under cross-entropy: 0)
            value = f"numpy.full_like(z{s.layer}, {value})"
        return pyformat.assignment(I1, self.vector(s), value)

    def rows(self, s: P.Rows):
        printer = _Printer(_names(s.layer))
        return [f"{I1}{self.vector(s)} = numpy.empty_like(z{s.layer})",
                *(line for j, e in enumerate(s.exprs)
                  for line in pyformat.assignment(I1, f"{self.vector(s)}[{j}]", printer.doprint(e)))]

    def let(self, s: P.Let):
        return pyformat.assignment(I1, s.name, _Printer(_names(self.program.top)).doprint(s.expr))

    def total(self, s: P.Total):
        return [f"{I1}E = {_VECTORS[s.vector]}.sum(axis=0)"]

    def outputs_done(self):
        return [f"{I1}if t is None:", f"{I2}return a{self.program.top}, None, None"]

    def error_block(self, lines):
        indented = [f"    {x}" for x in lines]
        return [f"{I1}E = None", f"{I1}if rate is None:  # a training step needs no error", *indented]

    def error_done(self):
        return [f"{I1}if not with_gradient:", f"{I2}return a{self.program.top}, E, None"]

    def backward_begin(self):
        return [f"{I1}g = numpy.empty({self.program.parameters}, p.dtype) if rate is None else None"]

    def propagate(self, s: P.Propagate):
        """Before this layer's weights change (rate: they are updated in place below)."""
        k = s.layer.index
        return [f"{I1}back{k - 1} = W{k}.T @ d{k}"]

    def update(self, s: P.Update):
        layer = s.layer
        k, n_in, w, b, n = layer.index, layer.width_in, layer.weights, layer.biases, layer.width
        bias = {"per_neuron": (f"[{b}:{b + n}]", f"d{k}.sum(axis=1)"), "shared": (f"[{b}]", f"d{k}.sum()")}
        lines = [f"{I1}if rate is None:", f"{I2}g[{w}:{w + n * n_in}] = _outer(d{k}, a{k - 1}).ravel()"]
        if layer.bias in bias:
            lines.append(f"{I2}g{bias[layer.bias][0]} = {bias[layer.bias][1]}")
        lines += [f"{I1}else:", f"{I2}W{k} -= rate * _outer(d{k}, a{k - 1})"]
        if layer.bias in bias:
            lines.append(f"{I2}p{bias[layer.bias][0]} -= rate * {bias[layer.bias][1]}")
        return lines

    def end(self):
        return [f"{I1}return a{self.program.top}, E, g"]


def render(network, version: str, dtype: str = "float64") -> str:
    """The module; ``dtype`` (float64 or float32) the NumPy type of its arrays."""
    spec = network.spec
    program = P.lower(network)
    run = walk(program, _NumPy(program))
    by_name = _Printer(lambda s: {"p": "p_"}.get(s.name, s.name))
    updates = []
    for o in optimizers.OPTIMIZERS.values():
        lines = [f"{I2}{optimizers.SLOT[s]} = state_{s}" for s in o.state]
        for target, expr in o.rules:
            left = "p_" if target == optimizers.PARAMETER else optimizers.SLOT[target].name
            lines += pyformat.assignment(I2, left, by_name.doprint(expr))
        updates.append({"name": python_string(o.name), "state": o.state, "lines": lines})
    training = python_training.context(network, by_name)
    return environment().get_template("gradients_numpy.py.j2").render({
        "header": header("python", spec, version, "codegen --target numpy", about=True),
        "batch_note": textwrap.fill(f"{batch} A row of a 2-D array is one such batch.", 92)
        if (batch := batch_inputs(spec)) else "",
        "name": spec.name,
        "dtype": dtype,
        "vectorized": [name for name in VECTORIZED if f"_{name}(" in "\n".join(run)],
        **tables.tables(network),
        "inputs": len(network.inputs),
        "outputs": len(network.outputs),
        "learning_rate": repr(float(spec.learning_rate)),
        "defaults": training["defaults"],
        "settings": training["settings"],
        "epoch_order": inspect.getsource(optimizers.epoch_order).rstrip("\n"),
        "run": run,
        "updates": updates,
    })

