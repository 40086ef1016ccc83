"""The batched kernel's two spellings (`derive.render.code.c_batch._product`): GCC's vector extensions
(the binding's build, -O3) and the plain C99 loops a compiler without them gets (-DDERIVE_PLAIN_C; built
at -O1 here, as any compiler may) do the same operations in the same order, so ``train`` gives the same
bytes either way: on networks whose layers leave partial tiles everywhere (units not a multiple of the
tile's rows, inputs not a multiple of its vectors, a last block of samples not a whole tile), a layer wide
enough to be taken in chunks, both forms of the source, float64 and float32; with two blocks, and with
one (plain SGD fused into the gradients' stores)."""

import ctypes
import re
import subprocess

import numpy
import pytest
from conftest import spec_text
from targets import TEST_FLAGS, needs_cc

import derive
from derive.escape import c_identifier
from derive.render.code import c, c_batch, targets

pytestmark = needs_cc

COUNT = c_batch.BLOCK + c_batch.GROUP + 3  # two blocks, the last one a partial tile
ONE_BLOCK = c_batch.BLOCK - 3  # one block, a partial tile: plain SGD fused into the gradients' stores
NETWORKS = {"odd": "[5, 7, 3]", "deep": "[9, 13, 6, 2]", "wide": f"[{c_batch.CHUNK + 45}, 11, 3]"}
REAL = {"float64": ctypes.c_double, "float32": ctypes.c_float}


def _train(folder, source: str, prefix: str, dtype: str, sizes, count: int, *defines: str) -> bytes:
    """The parameters after 3 steps of plain SGD on ``count`` samples (one batch), as bytes; the source
    compiled once for each set of ``defines`` (every count runs the same library)."""
    library = folder / f"lib{len(defines)}.so"
    if not library.exists():
        flags = TEST_FLAGS if defines else c.FLAGS  # the plain loops: another compiler's build, at -O1 (sooner)
        subprocess.run(["cc", *flags, *defines, "-o", str(library), str(source), "-lm"], check=True)
    train = getattr(ctypes.CDLL(str(library)), f"{prefix}_train")
    real = REAL[dtype]
    pointer, slots = ctypes.POINTER(real), len(c._state_context()["state_slots"])
    train.restype = ctypes.c_int
    train.argtypes = [pointer, pointer, pointer, ctypes.c_long, ctypes.c_long, ctypes.c_int, *([real] * 6),
                      ctypes.c_long, ctypes.c_int, ctypes.c_ulonglong, ctypes.c_int, ctypes.c_char_p,
                      ctypes.POINTER(ctypes.c_long), *([pointer] * slots), pointer]
    n, n_in, n_out = sizes
    rng = numpy.random.default_rng(28)
    p = (real * n)(*rng.uniform(-1, 1, n))
    xs = (real * (n_in * count))(*rng.uniform(-2, 2, n_in * count))
    ts = (real * (n_out * count))(*rng.uniform(0, 1, n_out * count))
    t = ctypes.c_long(0)
    assert train(p, xs, ts, count, 3, 0, 0.1, 0.0, 0.9, 0.999, 1e-8, 0.0, 0, 0, 0, 0, None, ctypes.byref(t),
                 *([None] * slots), None) == 0
    return bytes(p)


def _model(layers: str, name: str) -> derive.Model:
    sizes = [int(n) for n in layers.strip("[]").split(",")]
    sample = (f"[[samples]]\ninputs = [{', '.join(['0.5'] * sizes[0])}]\n"
              f"targets = [{', '.join(['0.25'] * sizes[-1])}]\n")
    text = spec_text(layers=layers, weights=None, biases=None, bias='"per_neuron"', seed="5", samples=sample)
    return derive.Model(derive.parse(text, f"{name}.toml"))


def _files(model, loops: bool, dtype: str) -> dict[str, str]:
    return targets.render("c", None if loops else model.derivation, model.network, derive.__version__, loops, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_the_plain_loops_train_as_the_vector_tiles_do(tmp_path, name, loops, dtype):
    if name == "wide" and not loops:
        pytest.skip("straight-line code of 3,000 weights: the loop form covers the chunks")
    model = _model(NETWORKS[name], name)
    files = _files(model, loops, dtype)
    assert "#if DERIVE_VECTORS" in files[c.SOURCE]
    for file, body in files.items():
        (tmp_path / file).write_text(body)
    sizes = (len(model.network.parameters), len(model.network.inputs), len(model.network.outputs))
    prefix = c_identifier(model.spec.name)
    for count in (COUNT, ONE_BLOCK):
        vector = _train(tmp_path, tmp_path / c.SOURCE, prefix, dtype, sizes, count)
        plain = _train(tmp_path, tmp_path / c.SOURCE, prefix, dtype, sizes, count, "-DDERIVE_PLAIN_C")
        assert vector == plain, count
        assert numpy.isfinite(numpy.frombuffer(vector, numpy.float64 if dtype == "float64" else numpy.float32)).all()


@pytest.mark.parametrize(("layers", "tiles"), [("[2, 2, 2]", 2), ("[5, 7, 3]", 7), ("[9, 13, 6, 2]", 10)])
def test_a_tile_wider_than_its_layer_is_not_printed(layers, tiles):
    """run_batch prints only the register tiles that can be whole in their layer: one wider than the
    layer's units or inputs is never taken (gcc spent most of a small network's build on such dead code).
    2-2-2: each layer's nets, a tile of its 2 units, and nothing else. 5-7-3: the nets (6 and 1 units, then
    3), the vector sent back to the 7 hidden units, the weight gradients (6 and 1 rows, then 3). 9-13-6-2:
    the nets (6 and 1, 6, 2), the vectors sent back (13 and 6 inputs), the gradients (6 and 1, 6, 2)."""
    source = _files(_model(layers, "tiles"), True, "float64")[c.SOURCE]
    start = source.index("KERNEL void run_batch")
    kernel = source[start:source.index("\n}\n", start)]
    assert kernel.count("#if DERIVE_VECTORS") == tiles
    for width, bound in re.findall(r"if \(.*?\+ (\d+) <= (\d+)\)", kernel):  # j0 + 6 <= 7, c0 + 4 <= 7, ...
        assert int(width) <= int(bound), (width, bound)
