"""The C target's batched kernel, ``run_batch``: the summed gradient of a batch of samples, printed from
the lowered program (`derive.derivation.lowered`) for networks of dense layers, which ``train`` calls
for a batch of more than one sample instead of ``run`` once a sample.

The batch is taken in blocks of `BLOCK` samples. In each block the forward pass is a matrix product,
each weight row read once for `GROUP` samples (their dot products are reductions of one ``omp simd``
loop); the error and the deltas are the per-sample statements of ``run`` (the same printer), over the
block's vectors; the weight gradients are a blocked product too, a tile of `ROWS` weight rows by
`COLS` inputs held in registers while the block's samples are added into it one after another, so that
each gradient is the sum over the batch in the samples' order, the sum ``run`` once a sample and
``acc += sample`` gave: the same additions in the same order (only the forward dot products may be
summed in another order, as the vectorized ``run``'s are).
"""

from __future__ import annotations

from derive.derivation import lowered as P
from derive.model.modes import BiasMode
from derive.render.code.c_loops import _C, I1, I2, I3

BLOCK, GROUP, ROWS, COLS = 32, 4, 4, 8
#: inputs a chunk of the forward products (a chunk of 125 rows of doubles: 256 KB, half this machine's L2)
CHUNK = 256
L2_HALF = 256 * 1024
SIZE = {"double": 8, "float": 4}
I4, I5 = I3 + "    ", I3 + "        "


class NotBatched(Exception):
    """The program has a statement the batched kernel does not print (a layer not dense)."""


class _Batch(_C):
    """``run``'s per-sample statements over a block's vectors: ``z1`` is row b of ``Z1``, and so on."""

    def __init__(self, program: P.Program, real: str):
        super().__init__(program, real)
        self.dense: list[P.Layer] = []

    def each(self, s: P.Each):
        if s.into in (P.WEIGHT_GRADIENTS, P.BIAS_GRADIENTS):
            raise NotBatched
        return super().each(s)

    def gather(self, s):
        raise NotBatched

    def pool(self, s):
        raise NotBatched

    def update(self, s: P.Update):
        """Record the layer's deltas for the blocked product after the block."""
        self.dense.append(s.layer)
        k = s.layer.index
        return [f"{I1}memcpy(D{k}[b], d{k}, sizeof d{k});"]


def _input(layer: int, b: str) -> str:
    return f"X[{b}]" if layer == 0 else f"A{layer}[{b}]"


def _forward(s: P.Units, printer: _Batch, simd: bool) -> list[str]:
    """A dense layer's nets for the block, GROUP samples a pass over each weight row, then the rest of
    each unit's statements (its activation) sample by sample."""
    layer, k, real = s.layer, s.layer.index, printer.real
    n_in = layer.width_in
    if not s.body or not isinstance(s.body[0], P.Affine) or any(isinstance(i, P.Gather | P.Pool) for i in s.body):
        raise NotBatched
    bias = {"per_neuron": f" + p[{layer.biases} + j]", "shared": f" + p[{layer.biases}]"}.get(layer.bias, "")
    sums = [f"s{r}{g}" for r in range(2) for g in range(GROUP)]
    # the inputs in chunks when the weights outgrow half of L2, so that a chunk of every row stays in
    # L2 for the block (784-125-10, batch 32: 757 against 879 µs a step; 784-32-10 is faster unchunked)
    chunked = n_in > CHUNK and layer.width * n_in * SIZE[printer.real] > L2_HALF
    first, end = ("i0", "i1") if chunked else ("0", str(n_in))
    if chunked:
        store = [*(f"{I3}Z{k}[b + {g}][j] = i0 ? Z{k}[b + {g}][j] + s0{g} : s0{g};" for g in range(GROUP)),
                 f"{I3}if (j1 != j) {{",  # not the last row again, for an odd number of rows
                 *(f"{I4}Z{k}[b + {g}][j1] = i0 ? Z{k}[b + {g}][j1] + s1{g} : s1{g};" for g in range(GROUP)),
                 f"{I3}}}"]
    else:
        store = [*(f"{I3}Z{k}[b + {g}][j] = s0{g}{bias};" for g in range(GROUP)),
                 *(f"{I3}Z{k}[b + {g}][j1] = s1{g}{bias.replace('+ j]', '+ j1]')};" for g in range(GROUP))]
    lines = [f"{I1}for (long b = 0; b < m; b += {GROUP}) {{",
             *(f"{I2}const {real} *restrict x{g} = {_input(k - 1, f'b + {g} < m ? b + {g} : b')};"
               for g in range(GROUP)),
             f"{I2}for (long j = 0; j < {layer.width}; j += 2) {{",
             f"{I3}const long j1 = j + 1 < {layer.width} ? j + 1 : j;",
             f"{I3}const {real} *restrict w0 = p + {layer.weights} + j * {n_in};",
             f"{I3}const {real} *restrict w1 = p + {layer.weights} + j1 * {n_in};",
             f"{I3}{real} {', '.join(f'{n} = 0' for n in sums)};",
             *([f"{I3}#pragma omp simd reduction(+:{','.join(sums)})"] if simd else []),
             f"{I3}for (long i = {first}; i < {end}; i++) {{",
             *(f"{I4}s{r}{g} += w{r}[i] * x{g}[i];" for r in range(2) for g in range(GROUP)), f"{I3}}}",
             *store, f"{I2}}}", f"{I1}}}"]
    if chunked:
        lines = [f"for (long i0 = 0; i0 < {n_in}; i0 += {CHUNK}) {{", f"{I1}const long i1 = i0 + {CHUNK} < {n_in} ? "
                 f"i0 + {CHUNK} : {n_in};", *lines]
        lines = [f"{I1}{line}" for line in lines] + [f"{I1}}}"]
        if bias:
            lines += [f"{I1}for (long b = 0; b < m; b++) {{", f"{I2}for (long j = 0; j < {layer.width}; j++) {{",
                      f"{I3}Z{k}[b][j] = Z{k}[b][j]{bias};", f"{I2}}}", f"{I1}}}"]
    if s.body[1:]:
        lines += [f"{I1}for (long b = 0; b < m; b++) {{", *_aliases(printer.program, k, real),
                  f"{I2}for (long j = 0; j < {layer.width}; j++) {{"]
        for inner in s.body[1:]:  # as `_C.units` prints them
            if isinstance(inner, P.Each):
                lines += printer._each_unit(inner, I3, "g")
            else:
                assert isinstance(inner, P.Map)  # after the net: the layer's own maps (its outs)
                value = printer.printer(inner.layer, "j").doprint(inner.expr)
                lines.append(f"{I3}{printer.vector(inner.vector, inner.layer, 'j')} = {value};")
        lines += [f"{I2}}}", f"{I1}}}"]
    return lines


def _aliases(program: P.Program, upto: int, real: str) -> list[str]:
    """Sample b's vectors as ``run`` names them: rows of the block's arrays."""
    lines = [f"{I2}const {real} *restrict a0 = X[b];", f"{I2}(void)a0;"]
    for k in range(1, upto + 1):
        lines += [f"{I2}{real} *restrict z{k} = Z{k}[b], *restrict a{k} = A{k}[b];", f"{I2}(void)z{k}, (void)a{k};"]
    return lines


def _tile(k: int, n_in: int, cols: int, real: str) -> list[str]:
    """A tile as one 2-D array, its loops unrolled and packed into vectors by gcc (the faster form for
    double, measured: 166 against 216 µs a step at 784-32-10, batch 32)."""
    tile = f"for (long r = 0; r < {ROWS}; r++) for (long c = 0; c < {cols}; c++)"
    return [f"{I4}{real} tile[{ROWS}][{cols}];", f"{I4}{tile} tile[r][c] = g0[r * {n_in} + c];",
            f"{I4}for (long b = 0; b < m; b++) {{", f"{I5}const {real} *restrict x = {_input(k - 1, 'b')} + i0;",
            f"{I5}const {real} *restrict d = D{k}[b] + j0;", f"{I5}{tile} tile[r][c] += d[r] * x[c];", f"{I4}}}",
            f"{I4}{tile} g0[r * {n_in} + c] = tile[r][c];"]


def _rows(k: int, n_in: int, cols: int, real: str) -> list[str]:
    """A tile as one array a row and a loop over its inputs a sample (the faster form for float,
    measured: 81 against 377 µs a step at 784-32-10, batch 32, where gcc shuffled the 2-D form)."""
    return [
        f"{I4}{real} {', '.join(f't{r}[{cols}]' for r in range(ROWS))};",
        f"{I4}for (long c = 0; c < {cols}; c++) {{",
        f"{I5}{', '.join(f't{r}[c] = g0[{r * n_in} + c]' for r in range(ROWS))};", f"{I4}}}",
        f"{I4}for (long b = 0; b < m; b++) {{",
        f"{I5}const {real} *restrict x = {_input(k - 1, 'b')} + i0;",
        f"{I5}const {real} {', '.join(f'd{r} = D{k}[b][j0 + {r}]' for r in range(ROWS))};",
        f"{I5}for (long c = 0; c < {cols}; c++) {{",
        f"{I5}    {', '.join(f't{r}[c] += d{r} * x[c]' for r in range(ROWS))};", f"{I5}}}",
        f"{I4}}}",
        f"{I4}for (long c = 0; c < {cols}; c++) {{",
        f"{I5}{', '.join(f'g0[{r * n_in} + c] = t{r}[c]' for r in range(ROWS))};", f"{I4}}}"]


def _gradients(layer, real: str) -> list[str]:
    """acc += the block's weight gradients of a dense layer: tiles of ROWS x COLS in registers, the
    samples added one after another (the order of the batch); biases likewise. In float, COLS x 2 inputs."""
    k, n_in, w = layer.index, layer.width_in, layer.width
    cols = min(COLS * 8 // SIZE[real], n_in)  # two vectors of 32 bytes (AVX2) either way, or every input
    lines = [f"{I1}for (long i0 = 0; i0 < {n_in}; i0 += {cols}) {{",
             f"{I2}for (long j0 = 0; j0 < {w}; j0 += {ROWS}) {{",
             f"{I3}const long rows = j0 + {ROWS} <= {w} ? {ROWS} : {w} - j0;",
             f"{I3}{real} *restrict g0 = acc + {layer.weights} + j0 * {n_in} + i0;",
             f"{I3}if (rows == {ROWS} && i0 + {cols} <= {n_in}) {{",
             *(_tile if real == "double" else _rows)(k, n_in, cols, real),
             f"{I3}}} else {{",
             f"{I4}const long cols = i0 + {cols} <= {n_in} ? {cols} : {n_in} - i0;",
             f"{I4}for (long r = 0; r < rows; r++) for (long c = 0; c < cols; c++) {{",
             f"{I5}{real} v = g0[r * {n_in} + c];",
             f"{I5}for (long b = 0; b < m; b++) v += D{k}[b][j0 + r] * {_input(k - 1, 'b')}[i0 + c];",
             f"{I5}g0[r * {n_in} + c] = v;", f"{I4}}}", f"{I3}}}", f"{I2}}}", f"{I1}}}"]
    if layer.bias == BiasMode.PER_NEURON:
        lines += [f"{I1}for (long j = 0; j < {w}; j++) {{", f"{I2}{real} v = acc[{layer.biases} + j];",
                  f"{I2}for (long b = 0; b < m; b++) v += D{k}[b][j];", f"{I2}acc[{layer.biases} + j] = v;", f"{I1}}}"]
    elif layer.bias == BiasMode.SHARED:
        lines += [f"{I1}for (long b = 0; b < m; b++) {{", f"{I2}{real} sum = 0.0;",
                  f"{I2}for (long j = 0; j < {w}; j++) sum += D{k}[b][j];", f"{I2}acc[{layer.biases}] += sum;",
                  f"{I1}}}"]
    return lines


def batch_body(network, simd: bool, real: str = "double") -> tuple[list[str], set] | None:
    """The body of ``run_batch(p, xs, ts, order, m, acc)`` (acc += the summed gradient of the m <= BLOCK
    samples xs[order[b]]) and the helpers it calls, or None when the network has a layer that is
    not dense. ``simd``: the forward products as ``omp simd`` reductions (the loop form's source,
    compiled with -fopenmp-simd; straight-line source is C99 that no compiler warns about)."""
    printer = _Batch(P.lower(network), real)
    program = printer.program
    try:
        units = [k for k, s in enumerate(program.forward) if isinstance(s, P.Units)]
        tail = program.forward[units[-1] + 1:] if units else program.forward
        forward, last = [], 0
        for s in program.forward[:len(program.forward) - len(tail)]:
            if isinstance(s, P.Units):
                forward += _forward(s, printer, simd)
                last = s.layer.index
            elif isinstance(s, P.Let | P.Total):  # a scalar of the sample, needed later
                raise NotBatched
            else:
                forward += [f"{I1}for (long b = 0; b < m; b++) {{", *_aliases(program, last, real),
                            *(f"    {line}" for line in printer.statement(s)), f"{I1}}}"]
        top = program.top
        sample = [f"{I1}for (long b = 0; b < m; b++) {{", *_aliases(program, top, real),
                  *(f"    {line}" for line in printer.statements(tail)),
                  f"{I2}const {real} *restrict t = T[b];", f"{I2}{real} e[N_OUTPUTS];",
                  *(f"    {line}" for line in printer.statements(program.error)),
                  f"{I2}{real} d{top}[N_OUTPUTS];",
                  *(f"    {line}" for line in printer.statements(program.deltas)),
                  *(f"    {line}" for line in printer.statements(program.backward)), f"{I1}}}"]
    except NotBatched:
        return None
    arrays = [f"{I1}{real} Z{layer.index}[{BLOCK}][{layer.width}], A{layer.index}[{BLOCK}][{layer.width}];"
              for layer in program.layers]
    arrays += [f"{I1}{real} D{layer.index}[{BLOCK}][{layer.width}];" for layer in printer.dense]
    gradients = [line for layer in printer.dense for line in _gradients(layer, real)]
    head = [f"{I1}const {real} *X[{BLOCK}], *T[{BLOCK}];",
            f"{I1}for (long b = 0; b < m; b++) {{", f"{I2}X[b] = xs + order[b] * N_INPUTS;",
            f"{I2}T[b] = ts + order[b] * N_OUTPUTS;", f"{I1}}}"]
    return [*arrays, *head, *forward, *sample, *gradients], printer.helpers
