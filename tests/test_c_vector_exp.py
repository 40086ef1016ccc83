"""The C target's logistic with glibc's vector exp (``derive_vexp``, gradients.c.j2, built with
`c.VECTOR_EXP`, which the binding does not use): a loop of the generated helper ``dv_sigma`` is vectorized (its library calls libmvec's 4-lane exp, or 8-lane expf),
and every value stays within a stated bound of the exact logistic (mpmath at 60 digits, the engine's
route) over many inputs: the saturated ends (|x| > 700, where e^-x would overflow and the helper
switches to e^x, down to the subnormal results and 0), tiny and zero inputs, and a dense sweep of the
range where training lives. libm's scalar exp is within 0.51 ulp; libmvec's within 2.4 (measured on
1.3 million inputs), so the logistic is within 4 ulp of its result (exp's error, damped by
e^-x / (1 + e^-x) <= 1, plus the rounding of the sum and of the quotient), or 4 ulp of the smallest
subnormal where the result is subnormal. Float: within 4 float ulp likewise, or within float's smallest
normal number (1.2e-38) absolutely: between net = -88 and -700 its e^-net overflows to inf and the
helper (the double one's switch at -700) gives 0 for a logistic below 1e-38, as libm's expf did before."""

import ctypes
import platform
import subprocess

import mpmath
import numpy
import pytest
from conftest import spec_text
from targets import needs_cc

import derive
from derive.render.code import c, targets

pytestmark = needs_cc

#: the logistic against the exact value: at most this many units in the last place of the result
ULPS = 4
#: libmvec's names of the vector versions (glibc's x86-64 ABI: 'd' = AVX2, N4 = 4 lanes)
VECTOR = {"float64": b"_ZGVdN4v_exp", "float32": b"_ZGVdN8v_expf"}
REAL = {"float64": (ctypes.c_double, numpy.float64), "float32": (ctypes.c_float, numpy.float32)}


def _inputs() -> numpy.ndarray:
    rng = numpy.random.default_rng(28)
    edges = [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-17, -1e-17, 1e-8, -1e-8,
             -700.0, numpy.nextafter(-700.0, 0), numpy.nextafter(-700.0, -1e3), -708.4, -709.8, -710.0, -744.4,
             -745.2, -746.0, -800.0, -1e4, -1e308, 700.0, 709.8, 710.0, 745.0, 800.0, 1e308]
    return numpy.concatenate([edges, rng.uniform(-40, 40, 6000), rng.uniform(-750, 750, 1500),
                              rng.uniform(-705, -695, 500), rng.uniform(-1e-6, 1e-6, 500)])


def _sigma_library(tmp_path, dtype: str, *defines: str):
    """The generated C's own dv_sigma, over an array (a loop the compiler may vectorize), built with the
    binding's flags."""
    model = derive.Model(derive.parse(spec_text(layers="[2, 8, 2]", weights=None, biases=None, seed="1"), "t.toml"))
    source = targets.render("c", None, model.network, derive.__version__, True, dtype)[c.SOURCE]
    real = "double" if dtype == "float64" else "float"
    assert "derive_vexp(" in source
    folder = tmp_path / f"{dtype}{''.join(defines)}"
    folder.mkdir()
    for name, text in targets.render("c", None, model.network, derive.__version__, True, dtype).items():
        (folder / name).write_text(text)
    (folder / c.SOURCE).write_text(source + f"\nvoid sigma_all(const {real} *restrict x, {real} *restrict y, long n)\n"
                                   f"{{\n    for (long i = 0; i < n; i++) y[i] = dv_sigma(x[i]);\n}}\n")
    library = folder / "sigma.so"
    subprocess.run(["cc", *c.FLAGS, *defines, "-o", str(library), str(folder / c.SOURCE), "-lm"], check=True)
    return ctypes.CDLL(str(library)), library.read_bytes()


def _values(library, dtype: str, x: numpy.ndarray) -> numpy.ndarray:
    ctype, array = REAL[dtype]
    x = numpy.ascontiguousarray(x, dtype=array)
    y = numpy.empty_like(x)
    pointer = ctypes.POINTER(ctype)
    library.sigma_all(x.ctypes.data_as(pointer), y.ctypes.data_as(pointer), ctypes.c_long(len(x)))
    return y


def _ulps(got: numpy.ndarray, x: numpy.ndarray, array) -> float:
    """The largest |got - sigma(x)| in units of the last place of sigma(x) in ``array``'s type (float:
    at least float's smallest normal number, see the module's docstring)."""
    mpmath.mp.dps = 60
    tiny = numpy.finfo(array).smallest_subnormal if array is numpy.float64 else numpy.finfo(array).smallest_normal
    worst = 0.0
    for value, y in zip(x.tolist(), got.tolist(), strict=True):
        exact = 1 / (1 + mpmath.exp(-mpmath.mpf(value)))
        unit = max(float(numpy.spacing(array(float(exact)))), float(tiny))
        worst = max(worst, float(abs(mpmath.mpf(y) - exact) / unit))
    return worst


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_vectorized_logistic_is_within_its_bound_of_the_exact_one(tmp_path, dtype):
    library, binary = _sigma_library(tmp_path, dtype, *c.VECTOR_EXP)
    gnu = platform.machine() == "x86_64" and platform.libc_ver()[0] == "glibc"
    if gnu:  # the loop calls the vector exp (GCC on x86-64 glibc: the binding's compiler here)
        assert VECTOR[dtype] in binary
    array = REAL[dtype][1]
    x = _inputs()
    x = x[numpy.abs(x) < numpy.finfo(array).max].astype(array)
    got = _values(library, dtype, x)
    assert _ulps(got, x, array) <= ULPS
    # the saturated ends exactly: 1 above, 0 far below, no NaN anywhere
    assert not numpy.isnan(got).any()
    assert got[x >= 40].tolist() == [1.0] * int((x >= 40).sum())
    assert got[x <= -800].tolist() == [0.0] * int((x <= -800).sum())


def test_the_binding_s_build_is_libms_exp_and_the_vector_one_differs_only_in_the_last_bits(tmp_path):
    """The binding's flags give libm's exp (no vector exp in the library: Python's math.exp is libm's);
    the two builds differ by at most the bound's ulps, so the choice never shows beyond the last bits."""
    scalar, binary = _sigma_library(tmp_path, "float64")
    assert VECTOR["float64"] not in binary
    vector, _ = _sigma_library(tmp_path, "float64", *c.VECTOR_EXP)
    x = _inputs()
    a, b = _values(scalar, "float64", x), _values(vector, "float64", x)
    assert _ulps(a, x, numpy.float64) <= 2  # libm's exp: the logistic within 2 ulp (1.9 measured)
    assert numpy.all(numpy.abs(a - b) <= 2 * ULPS * numpy.maximum(numpy.spacing(numpy.abs(a)), 5e-324))
