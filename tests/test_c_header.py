"""The C files used without Python: the README's main.c compiles with the strict flags the README
gives and prints the engine's numbers; frozen = NULL trains every parameter; every error code is named
in the header and returned as named; the initial parameters are the spec's."""

import os
import re
import shutil
import subprocess

import independent
import pytest
from conftest import ROOT

import derive
from derive.cli import main
from derive.model.decimals import fmt

FLAGS = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"]


def compiler():
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        if os.environ.get("DERIVE_REQUIRE_CC"):
            pytest.fail("DERIVE_REQUIRE_CC is set but there is no C compiler")
        pytest.skip("no C compiler (apt-get install gcc libc6-dev)")
    return cc


def build(tmp_path, source: str) -> str:
    cc = compiler()
    folder = tmp_path / "generated" / "mazur"
    assert main(["codegen", "--target", "c", "-o", str(folder), "--quiet"]) == 0
    (tmp_path / "main.c").write_text(source)
    binary = tmp_path / "main"
    compiled = subprocess.run([cc, *FLAGS, f"-I{folder}", str(tmp_path / "main.c"), str(folder / "gradients.c"),
                               "-lm", "-o", str(binary)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    assert compiled.stderr == ""  # no warning either
    return subprocess.run([str(binary)], capture_output=True, text=True, check=False).stdout


def test_the_documented_main_c_compiles_strictly_and_prints_the_engines_numbers(tmp_path):
    readme = (ROOT / "docs" / "programmers.md").read_text()
    example = readme.split("<!-- c:example:start -->\n```c\n")[1].split("```\n<!-- c:example:end -->")[0]
    assert "cc -std=c99 -Wall -Wextra -pedantic" in example
    out = build(tmp_path, example)
    spec = derive.load_spec()
    gradient = independent.gradient(spec)
    error = independent.total_error(spec, independent.parameters(spec))
    first, second = out.splitlines()
    shown = re.fullmatch(r"E_total = ([\d.]+), dE_total/dw5 = ([\d.]+)", first)
    assert shown, first
    assert shown[1] == f"{float(error):.9f}" and shown[2] == f"{float(gradient['w5']):.9f}"
    after = re.fullmatch(r"E_total after 10000 steps = (\S+)", second)
    trained = independent.loop_train(spec, 10000, freeze_biases=False)[3]
    assert after and float(after[1]) == pytest.approx(trained, rel=1e-8)


def test_codes_frozen_null_and_the_initial_parameters(tmp_path):
    model = derive.load()
    source = """#include <stdio.h>
#include "gradients.h"
int main(void)
{
    const double initial[MAZUR_PARAMETERS] = MAZUR_INITIAL, x[2] = {0.05, 0.10}, t[2] = {0.01, 0.99};
    double p[MAZUR_PARAMETERS], m[MAZUR_PARAMETERS] = {0};
    long steps = 0;
    for (int k = 0; k < MAZUR_PARAMETERS; k++) { p[k] = initial[k]; printf("%s %.17g\\n", mazur_parameter_names[k], p[k]); }
    printf("count %d\\n", mazur_train(p, x, t, 0, 1, MAZUR_SGD, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, &steps, NULL, NULL, NULL, NULL));
    printf("optimizer %d\\n", mazur_train(p, x, t, 1, 1, 99, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, &steps, NULL, NULL, NULL, NULL));
    printf("state %d\\n", mazur_train(p, x, t, 1, 1, MAZUR_ADAM, 0.5, 0, 0.9, 0.999, 1e-8, 0, 0, 0, 0, 0, NULL, &steps, NULL, m, NULL, NULL));
    printf("unchanged %d %ld\\n", p[0] == initial[0], steps);
    printf("ok %d\\n", mazur_train(p, x, t, 1, 1, MAZUR_SGD, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, &steps, NULL, NULL, NULL, NULL));
    printf("trained_b1 %.17g\\n", p[8]);
    return 0;
}
"""
    lines = dict(line.split(" ", 1) for line in build(tmp_path, source).splitlines())
    for p in model.network.parameters:
        assert float(lines[p.name]) == float(p.value), p.name
    assert (lines["count"], lines["optimizer"], lines["state"]) == ("-1", "-2", "-3")
    header = (tmp_path / "generated" / "mazur" / "gradients.h").read_text()
    assert "#define MAZUR_BAD_COUNT (-1)" in header and "#define MAZUR_BAD_OPTIMIZER (-2)" in header
    assert "#define MAZUR_NO_STATE (-3)" in header
    assert lines["unchanged"] == "1 0" and lines["ok"] == "0"
    # frozen = NULL: every parameter trained, the bias too (the spec itself freezes the biases)
    b1 = float(model.network.parameter["b1"].value) - 0.5 * float(independent.gradient(derive.load_spec())["b1"])
    assert float(lines["trained_b1"]) == pytest.approx(b1, rel=1e-15), fmt(b1)
