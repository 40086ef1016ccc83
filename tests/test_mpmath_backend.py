"""mpmath computes on GMP (gmpy2, a dependency): its arithmetic is most of the check's 50-digit finite
differences, which run about a quarter faster on it (docs/reference/performance.md). The numbers
must not depend on it: mpmath's two backends round alike, and derive's own code on mpmath's raw values
(`mp_raw`, `check.forward`, `proven`) takes their mantissas as GMP or Python integers alike."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import mpmath.libmp
import pytest
from networks import EXTREME


def test_mpmath_runs_on_gmpy():
    assert mpmath.libmp.BACKEND == "gmpy", (
        "mpmath found no gmpy2: install the project's dependencies (pip install -e .)")


# One process per backend runs every command on every spec (starting Python and SymPy once each).
_RUN = """
import contextlib, io, sys
import mpmath.libmp
from derive.cli import main
print(mpmath.libmp.BACKEND)
for spec in sys.argv[1:]:
    for command in (["check", "--json"], ["gradients"], ["gradients", "--json"]):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            main([*command, *([spec] if spec else [])])
        print(repr(out.getvalue()))
"""


def _outputs(specs: list[str], gmpy: bool) -> list[str]:
    env = dict(os.environ)
    env.pop("MPMATH_NOGMPY", None)
    if not gmpy:
        env["MPMATH_NOGMPY"] = "1"  # (mpmath's own switch: its pure-Python backend)
    result = subprocess.run([sys.executable, "-c", _RUN, *specs], capture_output=True, text=True, env=env, check=True)
    return result.stdout.splitlines()


def test_every_number_the_same_on_either_backend(tmp_path):
    """`derive check --json` (every route's value and worst ratio to full precision: the check's
    50-digit differences, the float64 bound, the evaluation) and `derive gradients` (every printed
    number of the step, as text and as JSON) byte for byte alike on both backends, on the extreme
    networks (saturated units, nets of 10^12, exact zeros and ones) and the built-in example."""
    if mpmath.libmp.BACKEND != "gmpy":
        pytest.fail("gmpy2 is not installed: nothing to compare (test_mpmath_runs_on_gmpy)")
    specs = [""]
    for name, text in EXTREME.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        specs.append(str(path))
    on_gmp, on_python = _outputs(specs, gmpy=True), _outputs(specs, gmpy=False)
    assert (on_gmp[0], on_python[0]) == ("gmpy", "python")  # two backends compared, not one with itself
    assert len(on_gmp) == 1 + 3 * len(specs)
    for k, (a, b) in enumerate(zip(on_gmp[1:], on_python[1:], strict=True)):
        assert a == b, (specs[k // 3], k % 3)
    assert all(json.loads(ast.literal_eval(line))["checks"]["rows"] for line in on_gmp[1::3])  # (something compared)
