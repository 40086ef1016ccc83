"""``derive ARGS`` run through `derive.cli.main` in the test's own process, as ``python -m derive`` runs
it (its `__main__` is ``sys.exit(main())``), for tests of what a command prints and returns rather than of
the process (signals, environment, hash seeds, a terminal): the same exit status, standard output and
standard error, without starting Python and importing SymPy again (about a second each)."""

import contextlib
import io
import subprocess

from derive.cli import main


def derive_cli(*args: str) -> subprocess.CompletedProcess:
    """``derive *args``: its exit status, standard output and standard error (argparse's --help and usage
    errors exit by SystemExit, whose code is the status, as the process's would be)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
    return subprocess.CompletedProcess(["derive", *args], code, out.getvalue(), err.getvalue())
