"""The package type-checks: mypy, configured in pyproject.toml ([tool.mypy]), reports no error."""

import importlib.util
import subprocess
import sys
import tomllib

import pytest
from conftest import ROOT


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (pip install -e '.[test]' installs it)")
def test_mypy_finds_no_error_in_the_package():
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("Success: no issues found in "), run.stdout


def test_mypy_checks_the_bodies_of_untyped_functions():
    """``check_untyped_defs``: a function without annotations is checked too (mypy's default skips
    its body), and no module is let off it by an override."""
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["check_untyped_defs"] is True
    assert not [o["module"] for o in mypy.get("overrides", []) if o.get("check_untyped_defs") is False]
