"""The printed values are a function of the spec alone, never of whether python-flint happened to load.

A process whose ``import flint`` failed (a broken install; a shared library that could not be mapped
on a loaded machine) used to fall back silently to the 60-digit mpmath route, the one PrairieLearn's
image takes: every printer then wrote that route's unproven digits: the gradient of softmax_sse_shared's
shared output bias, exactly 0, as -4.86173069e-63 where the balls print "undecided", and bce_mean's
w3 after a step as -0.6271 where they print -0.627100000 (a ball proves no equality). Now python-flint
counts as absent only when it is not installed, and the documents refuse to print without it.
"""

import json
import subprocess
import sys
import textwrap

import pytest
from networks import ZOO

import derive

# Runs ``body`` in a fresh Python whose ``import flint`` raises ``error`` (as a failed load does) or
# finds no module (``error`` None: python-flint not installed, PrairieLearn's image).
HARNESS = textwrap.dedent("""\
    import json, sys
    error = {error!r}
    if error is None:
        sys.modules["flint"] = None
    else:
        class Failing:
            def find_spec(self, name, path=None, target=None):
                if name == "flint" or name.startswith("flint."):
                    raise ImportError(error)
        sys.meta_path.insert(0, Failing())
    spec = json.loads(sys.stdin.read())
""")


def _run(body: str, spec: str = "", error: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    code = HARNESS.format(error=error) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], input=json.dumps(spec), capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_a_flint_that_fails_to_load_is_an_error_not_another_route():
    """An installed python-flint that cannot be imported stops derive at import, with the loader's
    message, instead of printing the mpmath route's digits."""
    run = _run("import derive\nprint('imported')", error="libflint.so: failed to map segment from shared object")
    assert run.returncode == 1 and "imported" not in run.stdout
    assert run.stderr.rstrip().splitlines()[-1] == (
        "ImportError: libflint.so: failed to map segment from shared object")


def test_without_python_flint_values_are_still_computed():
    """Not installed (PrairieLearn's image): the values are computed by mpmath at 60 digits, as before."""
    run = _run("""\
        from derive.model.proven import HAVE_FLINT
        import derive
        print(HAVE_FLINT, float(derive.load().value('dE_total/dw5')))
    """)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "False 0.08216704056423078\n"


@pytest.mark.parametrize("document", ["latex()", "html(check=False)", "check(routes=False)"])
def test_without_python_flint_no_document_prints_unproven_digits(document):
    """The printers of values refuse, in one line, rather than print digits no ball proves (the
    shared softmax bias's gradient, exactly 0, is -4.86173069e-63 by the 60-digit route)."""
    run = _run(f"""\
        import derive
        try:
            derive.Model(derive.parse(spec)).{document}
        except RuntimeError as exc:
            print(exc)
    """, spec=ZOO["softmax_sse_shared"])
    assert run.returncode == 0, run.stderr
    assert run.stdout == ("python-flint is not installed: derive prints no value without it, every printed digit "
                          "being proven by its balls (pip install python-flint)\n")


def test_the_shared_softmax_bias_gradient_is_undecided_in_every_document():
    """With python-flint: the exact 0 is printed as undecided, in whichever order the documents are made."""
    first = derive.Model(derive.parse(ZOO["softmax_sse_shared"]))
    first.html(check=False)
    second = derive.Model(derive.parse(ZOO["softmax_sse_shared"]))
    row = "$b_{2}$ & $-0.547$ & $\\text{undecided}$ & $-0.547000000$ \\\\"
    assert row in first.latex().splitlines()
    assert first.latex() == second.latex()


@pytest.mark.parametrize("command", [["gradients"], ["train", "--steps", "2"], ["codegen", "--target", "python"]])
def test_without_python_flint_no_command_runs(command, tmp_path):
    """The command-line tool needs python-flint (PrairieLearn's worker imports the package, never the
    command): one line, exit 1, nothing written."""
    run = _run(f"""\
        from derive.cli import main
        sys.exit(main({command!r}))
    """, cwd=tmp_path)
    assert run.returncode == 1 and run.stdout == "" and not any(tmp_path.iterdir())
    assert run.stderr == "derive: error: RuntimeError: " + (
        "python-flint is not installed: derive prints no value without it, every printed digit "
        "being proven by its balls (pip install python-flint)\n")
