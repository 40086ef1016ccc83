"""The C target's plain SGD on one sample a step, deferred: ``run_deferred`` keeps a step's update (the
deltas of each dense layer and the vector it took in) instead of applying it, and the next step's
forward pass applies it to each weight as it reads it for the nets (`_C.nets` with ``pending``), so a
weight is read once and written once a step instead of read twice (784-32-10: 4.7 to 3.8 µs a step,
measured). ``flush_deferred`` applies a kept step where no next one takes it (the end of ``train``, or a
step of another kind). Each weight's new value is ``w - rate * (delta * input)``, as ``run``'s fused
update computes it, and the nets are summed as ``run`` sums them, so the numbers are ``run``'s.

Printed for networks of dense layers (those `c_batch` batches), in loop form."""

from __future__ import annotations

from derive.derivation import lowered as P
from derive.render.code.c_loops import _C, I1, I2, WIDE, _gradients
from derive.render.code.walker import walk


class _Deferred(_C):
    """``run``'s statements with the update kept: ``pd<k>`` the kept deltas of layer k, ``pa<k-1>`` the
    vector it took in (``pa0``: the sample's inputs, kept as a pointer)."""

    def __init__(self, program: P.Program, real: str):
        super().__init__(program, real)
        self.offsets: dict[str, int] = {}
        for layer in program.layers:
            self.offsets[f"pd{layer.index}"] = sum(self.size(n) for n in self.offsets)
            if layer.index > 1:
                self.offsets[f"pa{layer.index - 1}"] = sum(self.size(n) for n in self.offsets)

    def size(self, name: str) -> int:
        layer = self.program.layers[int(name[2:]) - (1 if name.startswith("pd") else 0)]
        return layer.width if name.startswith("pd") else layer.width_in

    def kept(self) -> list[str]:
        return [f"{I1}const {self.real} *restrict pa0 = *inputs;",
                *(f"{I1}{self.real} *restrict {name} = state + {offset};" for name, offset in self.offsets.items())]

    def begin(self):
        return [*super().begin(), *self.kept()]

    def units(self, s: P.Units):
        """A wide layer's kept update applied in its nets (`_C.nets`), a narrow one's in a pass of its own
        before them (`_C.nets` groups wide layers only; a narrow layer's weights are few)."""
        layer = s.layer
        if s.body and isinstance(s.body[0], P.Affine) and layer.width_in >= WIDE:
            k, w = layer.index, layer.width
            lines = [f"{I1}{self.real} z{k}[{w}], a{k}[{w}];", *self.biases(layer), *self.nets(s.body[0], True)]
            if s.body[1:]:
                lines += [f"{I1}for (long j = 0; j < {w}; j++) {{",
                          *(line for inner in s.body[1:] for line in self._inner(inner)), f"{I1}}}"]
            return lines
        return [f"{I1}if (pending) {{", *_gradients(layer, False, self.real, "pd", "pa"), f"{I1}}}",
                *super().units(s)]

    def biases(self, layer) -> list[str]:
        """The kept update of a layer's biases, before its nets read them."""
        lines = _gradients(layer, False, self.real, "pd", "pa", weights=False)
        return [f"{I1}if (pending) {{", *lines, f"{I1}}}"] if lines else []

    def _inner(self, inner) -> list[str]:
        if isinstance(inner, P.Each):
            return self._each_unit(inner, I2, "g")
        value = self.printer(inner.layer, "j").doprint(inner.expr)
        return [f"{I2}{self.vector(inner.vector, inner.layer, 'j')} = {value};"]

    def outputs_done(self):
        return [f"{I1}{self.real} e[N_OUTPUTS];"]

    def error_done(self):
        return [f"{I1}(void)E_total;", f"{I1}{self.real} d{self.program.top}[N_OUTPUTS];"]

    def update(self, s: P.Update):
        """Keep the step: the layer's deltas and the vector it took in."""
        k = s.layer.index
        kept = [f"{I1}memcpy(pd{k}, d{k}, sizeof d{k});"]
        return kept + ([f"{I1}*inputs = x;"] if k == 1 else [f"{I1}memcpy(pa{k - 1}, a{k - 1}, sizeof a{k - 1});"])

    def end(self):
        return []


def deferred(program: P.Program, real: str = "double") -> dict | None:
    """``run_deferred``'s and ``flush_deferred``'s bodies and the size of the kept state (see the module), or None
    for a network with a layer not dense. ``run_deferred(p, x, t, rate, pending, inputs, state)``: one
    step on sample (x, t), the kept step applied first if ``pending``, this one kept in ``*inputs`` and
    ``state``; ``flush_deferred(p, rate, inputs, state)``: the kept step applied."""
    printer = _Deferred(program, real)
    kinds = (P.Units, P.Map, P.Rows, P.Let, P.Total, P.Propagate, P.Each, P.Update)
    if any(not isinstance(s, kinds) for s in (*program.forward, *program.backward)):
        return None
    if any(isinstance(i, P.Gather | P.Pool) for s in program.forward if isinstance(s, P.Units) for i in s.body):
        return None
    run = walk(program, printer)
    flush = [*printer.kept(), *(line for layer in program.layers  # a block a layer (each its own sum)
                                for line in [f"{I1}{{", *_gradients(layer, False, real, "pd", "pa"), f"{I1}}}"])]
    size = sum(printer.size(n) for n in printer.offsets)
    return {"run": run, "flush": flush, "size": size, "helpers": printer.helpers}
