"""The C target's batched kernel, ``run_batch``: the summed gradient of a batch of samples, printed from
the lowered program (`derive.derivation.lowered`) for networks of dense layers, which ``train`` calls
for a batch of more than one sample instead of ``run`` once a sample.

The batch is taken in blocks of `BLOCK` samples, and each of the three products of a dense layer is a
blocked matrix product over the block, in register tiles (`_product`: `ROWS` rows by two 32-byte
vectors, in GCC's vector extensions, or plain loops doing the same operations lane by lane): the nets
(the transposed product, `GROUP` samples a tile in double), the vector sent back to the layer below
(`ROWS` samples by a row of inputs) and the weight gradients (`ROWS` weight rows by a row of inputs);
the error, the deltas and the activations are the per-sample statements of ``run`` (the same printer)
over the block's rows. Every sum is taken in the order ``run``'s straight-line code takes it: a net
from 0 over its inputs in order, then its bias; the vector sent back over the units in order; each
gradient over the batch in the samples' order (the sum ``run`` once a sample and ``acc += sample``
gave). So the straight-line form's ``train`` gives the numbers it gave with ``run`` per sample, bit for
bit, and the loop form's differs from its ``run`` only where that ``run`` sums a net in vectors.
"""

from __future__ import annotations

from derive.derivation import lowered as P
from derive.model.modes import BiasMode
from derive.render.code.c_loops import _C, I1, I2, I3

#: samples a block; samples a tile of the nets (double: two vectors of four); rows a tile (6: 7% faster
#: than 4 at 784-125-10, batch 32, measured; twelve vectors of sums and two of inputs in 16 registers)
BLOCK, GROUP, ROWS = 32, 8, 6
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
        """Record the layer for the blocked product after the block (its deltas are rows of D<k>)."""
        self.dense.append(s.layer)
        return []


def _input(layer: int, b: str) -> str:
    return f"X[{b}]" if layer == 0 else f"A{layer}[{b}]"


def _forward(s: P.Units, printer: _Batch) -> list[str]:
    """A dense layer's nets for the block as the transposed product Z^T = W X^T: the block's inputs
    transposed into XT (an input a row, the samples along it, zero past the m samples), then tiles of
    ROWS units by two vectors of samples summed into ZT (a unit a row), each net from 0 in the order of its
    inputs, and Z = ZT^T with the bias added last, as ``run``'s straight-line sums do; then the rest of
    each unit's statements (its activation) sample by sample. The inputs are taken in chunks of CHUNK
    when the weights outgrow half of L2, each chunk's sums continuing the last (the same order)."""
    layer, k, real = s.layer, s.layer.index, printer.real
    n_in, w = layer.width_in, layer.width
    if not s.body or not isinstance(s.body[0], P.Affine) or any(isinstance(i, P.Gather | P.Pool) for i in s.body):
        raise NotBatched
    bias = {"per_neuron": f" + p[{layer.biases} + j]", "shared": f" + p[{layer.biases}]"}.get(layer.bias, "")
    cols = GROUP * SIZE["double"] // SIZE[real]  # samples a tile (BLOCK a multiple: tiles stay inside ZT)
    chunked = n_in > CHUNK and w * n_in * SIZE[real] > L2_HALF
    first, end = ("i0", "i1") if chunked else ("0", str(n_in))
    tiles = [f"{I1}for (long j0 = 0; j0 < {w}; j0 += {ROWS}) {{",
             f"{I2}for (long b0 = 0; b0 < m; b0 += {cols}) {{"]
    tile = [f"{I4}const {real} *restrict w = p + {layer.weights} + j0 * {n_in};"]

    def product(rows: int) -> list[str]:  # a tile of ``rows`` units by two vectors of samples
        return [*tile, *_product(real, rows, 2, f"for (long i = {first}; i < {end}; i++)", [], f"w[{{r}} * {n_in} + i]",
                                 "(XT[i] + b0)", lambda r: f"(ZT[j0 + {r}] + b0)", lambda r: f"(ZT[j0 + {r}] + b0)")]

    tiles += _chain([(f"j0 + {ROWS} <= {w}", product(ROWS))] if w >= ROWS else [],
                    product(w % ROWS) if w % ROWS else None,
                    "the last rows, a tile of their own" if w >= ROWS else "the layer's units, a tile")
    tiles += [f"{I2}}}", f"{I1}}}"]
    lines = [f"{I1}for (long i = {first}; i < {end}; i++) {{",
             f"{I2}for (long b = 0; b < m; b++) XT[i][b] = {_input(k - 1, 'b')}[i];",
             f"{I2}for (long b = m; b < (m + {cols - 1}) / {cols} * {cols}; b++) XT[i][b] = 0;", f"{I1}}}", *tiles]
    if chunked:
        lines = [f"for (long i0 = 0; i0 < {n_in}; i0 += {CHUNK}) {{",
                 f"{I1}const long i1 = i0 + {CHUNK} < {n_in} ? i0 + {CHUNK} : {n_in};", *lines]
        lines = [f"{I1}{line}" for line in lines] + [f"{I1}}}"]
    lines = [f"{I1}memset(ZT, 0, sizeof ZT);", *lines, f"{I1}for (long b = 0; b < m; b++) {{",
             f"{I2}for (long j = 0; j < {w}; j++) Z{k}[b][j] = ZT[j][b]{bias};", f"{I1}}}"]
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


def _chain(cases: list[tuple[str, list[str]]], otherwise: list[str] | None, note: str) -> list[str]:
    """``if (test) {...} else if (test) {...} else {otherwise}`` (``note`` on the else) over the tiles that
    can be whole in this layer: the caller leaves out a tile wider than the layer's units or inputs, whose
    test never holds (dead code that was most of gcc's time on a small network: -O3 took 0.8 s on the
    2-2-2 reference network's source, most of it on run_batch's tiles, none of which it ever takes).
    With no case left, ``otherwise`` alone, in a block of its own."""
    lines = [line for k, (test, body) in enumerate(cases)
             for line in (f"{I3}{'} else if' if k else 'if'} ({test}) {{", *body)]
    if otherwise is None:
        return [*lines, f"{I3}}}"] if lines else []
    return [*lines, f"{I3}}} else {{  /* {note} */" if lines else f"{I3}{{  /* {note} */", *otherwise, f"{I3}}}"]


def _product(real: str, rows: int, vectors: int, over: str, pre: list[str], a: str, b: str, load, store,
             scatter=None, step: str | None = None) -> list[str]:
    """A register tile of ``rows`` x ``vectors`` 32-byte vectors, t[r][c] = load(r)[c] (or 0 if ``load`` is None),
    then for each pass of the loop ``over`` (its first lines ``pre``) t[r][c] += a(r) * b[c], in the loop's
    order, then stored at store(r)[c]. ``a`` is a C expression in ``{r}``, ``b`` a pointer. With GCC's
    vector extensions (DERIVE_VECTORS, see gradients.c.j2) the tile is held in vector registers as written
    (gcc's vectorizer shuffled the plain form: 883 against 729 µs a step at 784-125-10, batch 32); else
    plain loops that do the same operations lane by lane, so either gives the same numbers. ``step``
    (the plain optimizer's line, ``p_`` from ``g``): when ``fused``, the tile starts at 0 and the
    parameters at store(r) take that step with the tile as their gradient, instead of the tile's store."""
    lanes = 32 // SIZE[real]
    cols, count = vectors * lanes, vectors
    lines = ["#if DERIVE_VECTORS", f"{I4}vreal t[{rows}][{count}];"]
    loads = [f"memcpy(&t[{r}][{c}], {load(r)} + {c * lanes}, sizeof(vreal));" for r in range(rows)
             for c in range(count)] if load else []
    if load is None:
        lines.append(f"{I4}memset(t, 0, sizeof t);")
    elif step:
        lines += [f"{I4}if (fused) memset(t, 0, sizeof t);", f"{I4}else {{", *(f"{I5}{line}" for line in loads),
                  f"{I4}}}"]
    else:
        lines += [f"{I4}{line}" for line in loads]
    registers = ", ".join(f"v{c}" for c in range(count))
    lines += [f"{I4}{over} {{", *(f"{I5}{line}" for line in pre), f"{I5}vreal {registers};",
              *(f"{I5}memcpy(&v{c}, {b} + {c * lanes}, sizeof(vreal));" for c in range(count))]
    for r in range(rows):
        lines += [f"{I5}{{", f"{I5}    const vreal ar = {{{', '.join([a.format(r=r)] * lanes)}}};",
                  *(f"{I5}    t[{r}][{c}] += ar * v{c};" for c in range(count)), f"{I5}}}"]
    if scatter:  # each lane stored on its own (a tile of the transposed product)
        lines += [f"{I4}}}", *(f"{I4}{scatter(r, c * lanes + lane, f't[{r}][{c}][{lane}]')}"
                               for r in range(rows) for c in range(count) for lane in range(lanes))]
    else:
        stores = [f"memcpy({store(r)} + {c * lanes}, &t[{r}][{c}], sizeof(vreal));" for r in range(rows)
                  for c in range(count)]
        steps = [f"{{ vreal g = t[{r}][{c}], p_; memcpy(&p_, {store(r)} + {c * lanes}, sizeof(vreal)); {step} "
                 f"memcpy({store(r)} + {c * lanes}, &p_, sizeof(vreal)); }}" for r in range(rows) for c in range(count)]
        lines += [f"{I4}}}", *_either(step, steps, stores)]
    every = f"for (long r = 0; r < {rows}; r++) for (long c = 0; c < {cols}; c++)"
    start = [f"{every} t[r][c] = 0;"] if load is None else [f"{every} t[r][c] = ({load('r')})[c];"]
    if step and load:
        start = [f"if (fused) {every} t[r][c] = 0;", f"else {start[0]}"]
    target = f"({store('r')})[c]"
    stored = [f"{every} {scatter('r', 'c', 't[r][c]')}"] if scatter else _either(step, [
        f"{every} {_stepped(real, step, target, 't[r][c]')}"] if step else [], [f"{every} {target} = t[r][c];"])
    lines += ["#else", f"{I4}{real} t[{rows}][{cols}];", *(f"{I4}{line}" for line in start),
              f"{I4}{over} {{", *(f"{I5}{line}" for line in pre),
              f"{I5}{every} t[r][c] += {a.format(r='r')} * {b}[c];", f"{I4}}}",
              *(line if line.startswith(I4) else f"{I4}{line}" for line in stored), "#endif"]
    return lines


def _stepped(real: str, step: str, target: str, value: str) -> str:
    """The plain optimizer's ``step`` (``p_`` from ``g``) taken on ``target`` with ``value`` as its gradient:
    one scalar parameter where a fused tile or sum would have been stored (`_product`, `_gradients`)."""
    return f"{{ {real} g = {value}, p_ = {target}; {step} {target} = p_; }}"


def _either(step: str | None, steps: list[str], stores: list[str]) -> list[str]:
    """The tile's stores, or with ``step`` the fused update (`_product`) when ``fused``, else the stores."""
    if not step:
        return [f"{I4}{line}" for line in stores]
    return [f"{I4}if (fused) {{", *(f"{I5}{line}" for line in steps), f"{I4}}} else {{",
            *(f"{I5}{line}" for line in stores), f"{I4}}}"]


def _columns(n_in: int, real: str) -> int:
    """A tile's columns: two vectors of 32 bytes (AVX2), or one for fewer inputs than that (fewer than
    one: the tile is never whole, and the plain loops after it do the work)."""
    lanes = 32 // SIZE[real]
    return 2 * lanes if n_in >= 2 * lanes else lanes


def _backs(layer, real: str) -> list[str]:
    """The block's vectors sent back, BACK[b] = W^T D[b] (a row of W at a time, as ``run``'s `propagate`:
    each sum from 0 in the order of the layer's units), as tiles of ROWS samples by two vectors of inputs."""
    k, n_in, w = layer.index, layer.width_in, layer.width
    cols = _columns(n_in, real)
    row = f"(p + {layer.weights} + j * {n_in})"
    return [f"{I1}for (long b0 = 0; b0 < m; b0 += {ROWS}) {{", f"{I2}for (long c0 = 0; c0 < {n_in}; c0 += {cols}) {{",
            *_chain([(f"b0 + {ROWS} <= m && c0 + {cols} <= {n_in}",
                      _product(real, ROWS, cols * SIZE[real] // 32, f"for (long j = 0; j < {w}; j++)",
                               [f"const {real} *restrict w = {row} + c0;"], f"D{k}[b0 + {{r}}][j]", "w", None,
                               lambda r: f"BACK{k - 1}[b0 + {r}] + c0"))] if n_in >= cols else [],
                    [f"{I4}for (long r = 0; r < {ROWS} && b0 + r < m; r++) "
                     f"for (long c = c0; c < c0 + {cols} && c < {n_in}; c++) {{",
                     f"{I5}{real} v = 0.0;", f"{I5}for (long j = 0; j < {w}; j++) v += D{k}[b0 + r][j] * {row}[c];",
                     f"{I5}BACK{k - 1}[b0 + r][c] = v;", f"{I4}}}"], "a partial tile"),
            f"{I2}}}", f"{I1}}}"]


def _gradients(layer, real: str, step: str) -> list[str]:
    """acc += the block's weight gradients of a dense layer: tiles of ROWS weight rows by two vectors of
    inputs in registers, the samples added one after another (the order of the batch); biases likewise.
    When ``fused`` (the block is the whole batch, and the plain optimizer's ``step`` its update): each
    sum from 0 (acc's value then) and the parameter updated with it where acc would have been stored,
    so the update is not a pass of its own over the parameters (as `_product` does the tiles)."""
    k, n_in, w = layer.index, layer.width_in, layer.width
    cols = _columns(n_in, real)

    def put(target: str, value: str) -> list[str]:  # a sum into acc, or the step it makes
        return [f"{I2}if (fused) {_stepped(real, step, f'p[{target}]', value)}",
                f"{I2}else acc[{target}] = {value};"]

    def tile(rows: int) -> list[str]:  # ``rows`` weight rows by two vectors of inputs, the samples in order
        return _product(real, rows, cols * SIZE[real] // 32, "for (long b = 0; b < m; b++)",
                        [f"const {real} *restrict x = {_input(k - 1, 'b')} + i0;"], f"D{k}[b][j0 + {{r}}]", "x",
                        lambda r: f"g0 + {r} * {n_in}", lambda r: f"g0 + {r} * {n_in}", step=step)

    tiles = [(f"rows == {ROWS} && i0 + {cols} <= {n_in}", ROWS)] if w >= ROWS else []
    tiles += [(f"i0 + {cols} <= {n_in}", w % ROWS)] if w % ROWS else []  # the last rows, a tile of their own
    lines = [f"{I1}for (long i0 = 0; i0 < {n_in}; i0 += {cols}) {{",
             f"{I2}for (long j0 = 0; j0 < {w}; j0 += {ROWS}) {{",
             f"{I3}const long rows = j0 + {ROWS} <= {w} ? {ROWS} : {w} - j0;",
             f"{I3}{real} *restrict g0 = (fused ? p : acc) + {layer.weights} + j0 * {n_in} + i0;",
             *_chain([(test, tile(rows)) for test, rows in tiles] if n_in >= cols else [],
                     [f"{I4}const long cols = i0 + {cols} <= {n_in} ? {cols} : {n_in} - i0;",
                      f"{I4}for (long r = 0; r < rows; r++) for (long c = 0; c < cols; c++) {{",
                      f"{I5}{real} v = fused ? 0 : g0[r * {n_in} + c];",
                      f"{I5}for (long b = 0; b < m; b++) v += D{k}[b][j0 + r] * {_input(k - 1, 'b')}[i0 + c];",
                      f"{I5}if (fused) {_stepped(real, step, f'g0[r * {n_in} + c]', 'v')}",
                      f"{I5}else g0[r * {n_in} + c] = v;", f"{I4}}}"], "a partial tile"),
             f"{I2}}}", f"{I1}}}"]
    if layer.bias == BiasMode.PER_NEURON:
        lines += [f"{I1}for (long j = 0; j < {w}; j++) {{", f"{I2}{real} v = fused ? 0 : acc[{layer.biases} + j];",
                  f"{I2}for (long b = 0; b < m; b++) v += D{k}[b][j];", *put(f"{layer.biases} + j", "v"), f"{I1}}}"]
    elif layer.bias == BiasMode.SHARED:
        lines += [f"{I1}{{", f"{I2}{real} v = fused ? 0 : acc[{layer.biases}];", f"{I2}for (long b = 0; b < m; b++) {{",
                  f"{I3}{real} sum = 0.0;", f"{I3}for (long j = 0; j < {w}; j++) sum += D{k}[b][j];", f"{I3}v += sum;",
                  f"{I2}}}", *put(f"{layer.biases}", "v"), f"{I1}}}"]
    return lines


def _segments(backward) -> list[tuple[P.Propagate | None, list]]:
    """The backward statements split where a layer sends a vector back (`Propagate`): those before the
    first, then each Propagate with the statements after it (the deltas below, the gradients)."""
    segments: list[tuple[P.Propagate | None, list]] = [(None, [])]
    for s in backward:
        if isinstance(s, P.Propagate):
            segments.append((s, []))
        else:
            segments[-1][1].append(s)
    return segments


def batch_body(program: P.Program, real: str, step: str) -> tuple[list[str], set] | None:
    """The body of ``run_batch(p, xs, ts, order, m, acc, fused, learning_rate, weight_decay)`` (acc +=
    the summed gradient of the m <= BLOCK samples xs[order[b]], or when ``fused`` the plain optimizer's
    ``step`` taken with it, p_ from g) and the helpers it calls, or None when the network has a layer
    that is not dense. The same source in both forms: plain C99 beside GCC's vector extensions."""
    printer = _Batch(program, real)
    try:
        units = [k for k, s in enumerate(program.forward) if isinstance(s, P.Units)]
        tail = program.forward[units[-1] + 1:] if units else program.forward
        forward, last = [], 0
        for s in program.forward[:len(program.forward) - len(tail)]:
            if isinstance(s, P.Units):
                forward += _forward(s, printer)
                last = s.layer.index
            elif isinstance(s, P.Let | P.Total):  # a scalar of the sample, needed later
                raise NotBatched
            else:
                forward += [f"{I1}for (long b = 0; b < m; b++) {{", *_aliases(program, last, real),
                            *(f"    {line}" for line in printer.statement(s)), f"{I1}}}"]
        top = program.top
        segments = _segments(program.backward)
        sample = [f"{I1}for (long b = 0; b < m; b++) {{", *_aliases(program, top, real),
                  *(f"    {line}" for line in printer.statements(tail)),
                  f"{I2}const {real} *restrict t = T[b];", f"{I2}{real} e[N_OUTPUTS];",
                  *(f"    {line}" for line in printer.statements(program.error)),
                  f"{I2}{real} *restrict d{top} = D{top}[b];",
                  *(f"    {line}" for line in printer.statements(program.deltas)),
                  *(f"    {line}" for line in printer.statements(segments[0][1])), f"{I1}}}"]
        for propagate, statements in segments[1:]:  # the vector sent back as a product over the block
            assert propagate is not None  # every segment after the first starts at its Propagate
            k = propagate.layer.index - 1
            sample += [*_backs(propagate.layer, real), f"{I1}for (long b = 0; b < m; b++) {{",
                       *_aliases(program, top, real),
                       f"{I2}{real} *restrict back{k} = BACK{k}[b], *restrict d{k} = D{k}[b];",
                       *(f"    {line}" for line in printer.statements(statements)), f"{I1}}}"]
    except NotBatched:
        return None
    arrays = [f"{I1}{real} Z{layer.index}[{BLOCK}][{layer.width}], A{layer.index}[{BLOCK}][{layer.width}];"
              for layer in program.layers]
    arrays += [f"{I1}{real} D{layer.index}[{BLOCK}][{layer.width}];" for layer in program.layers]
    arrays += [f"{I1}{real} XT[{max(layer.width_in for layer in program.layers)}][{BLOCK}];",
               f"{I1}{real} ZT[{max(layer.width for layer in program.layers)}][{BLOCK}];"]
    arrays += [f"{I1}{real} BACK{s.layer.index - 1}[{BLOCK}][{s.layer.width_in}];" for s, _ in segments[1:]
               if s is not None]
    gradients = [line for layer in printer.dense for line in _gradients(layer, real, step)]
    head = [f"{I1}const {real} *X[{BLOCK}], *T[{BLOCK}];",
            f"{I1}for (long b = 0; b < m; b++) {{", f"{I2}X[b] = xs + order[b] * N_INPUTS;",
            f"{I2}T[b] = ts + order[b] * N_OUTPUTS;", f"{I1}}}"]
    return [*arrays, *head, *forward, *sample, *gradients], printer.helpers
