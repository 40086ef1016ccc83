"""``--dtype float32`` for the C and NumPy targets: every output, loss and gradient against the engine's
(float64, itself checked against exact values elsewhere) within float32's rounding bound, the NumPy
module's arrays float32 throughout, the C source free of double arithmetic, of the heap and of any
library but libm, and the command line's contract.

The bound. With u = 2^-24 (float32's unit roundoff) and n the number of roundings on the longest
chain of the computation: the parameters and inputs rounded to float32 (1), each layer's dot product
(its fan-in plus the bias), its activation and the libm call in it (at most 4 more, libm's float
functions being within 2 ulp), and the same again on the way back (the deltas, the sent-back
vector's dot products and the gradient's product), the standard forward error bound of such a chain
is gamma_n = n u / (1 - n u) relative to the sizes of the terms; the terms here are of the size of
the largest value of the network and its gradient (``scale``, at least 1), and a factor of 4 covers
the condition of the activations (derivatives at most 1 on these networks) and of the error. So a
float32 value v32 passes when |v32 - v64| <= 4 gamma_n * scale (a batch's gradient: scale times the
number of samples).
"""

import ctypes
import subprocess

import pytest
from generated_module import floats
from networks import TODAY, ZOO
from targets import TEST_FLAGS, _import, needs_cc

import derive
from derive.codegen import CodegenError, codegen
from derive.model import quantities as Q
from derive.render.code import c, targets

U = 2.0 ** -24
#: the well-conditioned zoo (EXTREME's saturated and huge networks measure the conditioning of the
#: function, not float32's rounding)
NAMES = ["reference", *sorted(ZOO)]


def _model(name, reference):
    return reference if name == "reference" else derive.Model(derive.parse(ZOO[name], f"{name}.toml"))


def bound(network, scale: float) -> float:
    """4 gamma_n * scale, n the roundings on the longest chain (see the module's docstring)."""
    n = 1 + 2 * sum(width + 1 + 4 for width in list(network.spec.layers)[:-1])
    return 4 * n * U / (1 - n * U) * max(1.0, scale)


def _c32(model, tmp_path, loops):
    """The float32 C library and its forward, loss and gradient through ctypes."""
    folder = tmp_path / f"c32_{loops}"
    folder.mkdir()
    files = targets.render("c", None if loops else model.derivation, model.network, derive.__version__, loops, "float32")
    assert sorted(files) == [c.SOURCE, c.HEADER]  # no binding: the Python binding is float64's
    assert "double" not in files[c.SOURCE] + files[c.HEADER]  # not in code, nor in what the comments say
    for name, text in files.items():
        (folder / name).write_text(text)
    library = folder / "lib32.so"
    subprocess.run(["cc", *TEST_FLAGS, "-Wall", "-Wextra", "-Wdouble-promotion", "-Werror", "-o", str(library),
                    str(folder / c.SOURCE), "-lm"], check=True)
    return ctypes.CDLL(str(library))


def _floats32(values):
    return (ctypes.c_float * len(values))(*values)


@needs_cc
@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
@pytest.mark.parametrize("name", NAMES)
def test_c_float32_is_the_engine_within_float32s_bound(name, loops, reference, tmp_path):
    model = _model(name, reference)
    network, prefix = model.network, c.c_identifier(model.spec.name)
    lib = _c32(model, tmp_path, loops)
    loss, gradient, forward = (getattr(lib, f"{prefix}_{f}") for f in ("loss", "gradient", "forward"))
    loss.restype = gradient.restype = ctypes.c_float
    p = _floats32([float(q.value) for q in network.parameters])
    for s, sample in enumerate(model.spec.samples):
        x, t = _floats32(floats(sample.inputs)), _floats32(floats(sample.targets))
        g, out = (ctypes.c_float * len(network.parameters))(), (ctypes.c_float * len(network.outputs))()
        want = {q: float(model.value(f"dE_total/d{q}", s)) for q in model.parameters}
        e = gradient(p, x, t, g)
        forward(p, x, out)
        scale = max(1.0, *(abs(v) for v in want.values()))
        tol = bound(network, scale)
        assert abs(e - loss(p, x, t)) <= tol
        assert e == pytest.approx(float(model.value("E_total", s)), abs=tol)
        for k, o in enumerate(network.outputs):
            assert abs(out[k] - float(model.value(Q.out(o), s))) <= tol
        for k, q in enumerate(model.parameters):
            assert abs(g[k] - want[q]) <= tol, (q, g[k], want[q], tol)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_float32_is_the_engine_within_float32s_bound(name, reference, tmp_path):
    model = _model(name, reference)
    path = tmp_path / "g32.py"
    path.write_text(targets.render("numpy", None, model.network, derive.__version__, None, "float32")[
        "gradients_numpy.py"])
    module = _import(path)
    xs = [floats(s.inputs) for s in model.spec.samples]
    ts = [floats(s.targets) for s in model.spec.samples]
    g = module.gradient(list(module.INITIAL.values()), xs, ts)
    assert g.dtype.name == "float32"
    want = model.gradients()
    scale = max(1.0, *(abs(float(v)) for v in want.values()))
    for k, q in enumerate(model.parameters):
        assert abs(float(g[k]) - float(want[q])) <= bound(model.network, scale * len(xs)), q
    p = module._vector(module.INITIAL)
    assert p.dtype.name == "float32"
    stepped = module.train(p, list(zip(xs, ts, strict=True)), 3, 0.05)
    assert stepped.dtype.name == "float32"


@needs_cc
def test_the_c_source_uses_no_heap_and_only_libm(reference, tmp_path):
    """The objects of both types, in both forms: no malloc, calloc, realloc or free; every undefined
    symbol a libm function or the memset/memcpy every C compiler may emit (freestanding too)."""
    libm = {"exp", "log", "tanh", "sqrt", "pow", "fabs", "log1p", "expm1", "erf", "erfc", "fmax", "fmin", "cosh",
            "sinh", "atan", "sin", "cos"}
    allowed = libm | {f + "f" for f in libm} | {"memset", "memcpy"}
    for k, text in enumerate((TODAY["gelus"], ZOO["softmax_ce"])):
        _no_heap_only_libm(derive.Model(derive.parse(text, "n.toml")), allowed, tmp_path / str(k))


def _no_heap_only_libm(model, allowed, tmp_path):
    for loops in (False, True):
        for dtype in ("float64", "float32"):
            folder = tmp_path / f"{model.spec.name}_{dtype}_{loops}"
            folder.mkdir(parents=True)
            for name, text in targets.render("c", model.derivation, model.network, derive.__version__, loops,
                                             dtype).items():
                (folder / name).write_text(text)
            obj = folder / "g.o"
            subprocess.run(["cc", *(f for f in c.FLAGS if f not in ("-shared", "-fPIC")), "-c", "-o", str(obj),
                            str(folder / c.SOURCE)], check=True)
            symbols = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True).stdout
            undefined = {line.split()[-1] for line in symbols.splitlines() if line.strip()}
            assert not undefined & {"malloc", "calloc", "realloc", "free"}
            assert undefined <= allowed, undefined - allowed


def test_float32_is_for_c_and_numpy_only(reference, tmp_path):
    for target in ("python", "javascript"):
        with pytest.raises(CodegenError, match=f"--dtype float32 is for c and numpy; the {target} target prints"):
            codegen(reference, target, tmp_path / "x", dtype="float32")
    with pytest.raises(CodegenError, match="--build is for float64"):
        codegen(reference, "c", tmp_path / "c", build=True, dtype="float32")
    written = codegen(reference, "c", tmp_path / "c32", dtype="float32")
    assert sorted(p.name for p in written.files) == [c.SOURCE, c.HEADER]
    assert "float mazur_loss(const float *p" in (tmp_path / "c32" / c.HEADER).read_text()


def test_cli_dtype(tmp_path):
    from derive.cli import main

    assert main(["codegen", "--quiet", "--target", "numpy", "--dtype", "float32", "-o", str(tmp_path / "g.py")]) == 0
    assert "DTYPE = numpy.float32" in (tmp_path / "g.py").read_text()
    assert main(["codegen", "--quiet", "--target", "python", "--dtype", "float32", "-o", str(tmp_path / "p.py")]) == 2
