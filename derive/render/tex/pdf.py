"""Compile a LaTeX document to PDF with a real engine (latexmk, else pdflatex), non-interactively,
in a scratch folder, so a failed run leaves no partial PDF behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

from derive.output import write

TIMEOUT = 600  # seconds
RUNS = 3  # pdflatex runs at most
#: What LaTeX writes in its log when the document is not final yet (longtable: "Table widths have
#: changed. Rerun LaTeX."; hyperref, rerunfilecheck: "Rerun to get ... right").
RERUN = ("Rerun LaTeX", "Rerun to get")


class LatexError(Exception):
    """No LaTeX engine, or the document did not compile cleanly (exit status 1)."""


def engine() -> list[str] | None:
    """The LaTeX command, with shell escape off: nothing in a document can run a program."""
    if shutil.which("latexmk"):
        return ["latexmk", "-pdf", "-pdflatex=pdflatex -no-shell-escape %O %S", "-interaction=nonstopmode",
                "-halt-on-error", "-file-line-error", "-quiet"]
    if shutil.which("pdflatex"):
        return ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
    return None


FORMAT = "derive"  # the preloaded format's name (`preloaded`)


@contextmanager
def preloaded(tex_source: str):
    """A pdfLaTeX format holding the preamble of ``tex_source`` up to its ``\\endofdump`` (the
    packages, the same for every document of the template), built once with mylatexformat: each
    document compiled with it skips loading them, which is most of the time of a short document.
    Yields the format's folder, or None when it cannot be built (then documents compile as usual)."""
    with tempfile.TemporaryDirectory(prefix="derive-format-") as scratch:
        folder = Path(scratch)
        (folder / "preamble.tex").write_text(tex_source)
        command = ["pdflatex", "-ini", "-no-shell-escape", "-interaction=nonstopmode", f"-jobname={FORMAT}",
                   "&pdflatex", "mylatexformat.ltx", "preamble.tex"]
        try:
            built = shutil.which("pdflatex") and subprocess.run(
                command, cwd=folder, capture_output=True, timeout=TIMEOUT, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            built = False
        yield folder if built and (folder / f"{FORMAT}.fmt").exists() else None


def _run(command: list[str], cwd, env) -> subprocess.CompletedProcess:
    """Run LaTeX in its own process group, and stop the whole group (latexmk and the pdflatex it
    started) on a timeout, Ctrl-C or SIGTERM, so no LaTeX process outlives derive."""
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        except BaseException:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _rerun(log: Path) -> bool:
    """Whether the run that wrote ``log`` asks for another."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return any(problem in text for problem in RERUN)


def compile_pdf(tex_source: str, pdf_path: str | Path, force: bool = False, single_pass: bool = False,
                format_folder: Path | None = None, scratch_in: Path | None = None) -> Path:
    """``single_pass``: one pdflatex run (a second only where LaTeX asks for it: a longtable's column
    widths), for a document with no table of contents nor references (an exercise's sheet and key:
    sixty of them for a class, where each pass counts); with
    ``format_folder`` (from `preloaded`), from the preloaded format. ``scratch_in``: the folder to
    make LaTeX's scratch folder in (`derive build`: its own scratch, inside the output folder)."""
    command = engine()
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}  # reproducible PDFs
    if single_pass and command is not None and shutil.which("pdflatex"):
        command = ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
        if format_folder is not None:
            command.insert(1, f"-fmt={FORMAT}")
            env["TEXFORMATS"] = f"{format_folder}:"
    if command is None:
        raise LatexError("no LaTeX engine found: install latexmk or pdflatex "
                         "(Debian: apt-get install texlive-latex-extra texlive-pictures latexmk)")
    with tempfile.TemporaryDirectory(prefix="derive-latex-", dir=scratch_in) as scratch:
        tex = Path(scratch) / "document.tex"
        tex.write_text(tex_source)
        # pdflatex: enough runs for the table of contents; in a single pass, a second where LaTeX asks for
        # it (a longtable's header is set at its own width on the first run: shifted off its columns)
        runs = 1 if command[0] == "latexmk" else RUNS
        for run in range(runs):
            if single_pass and run and not _rerun(Path(scratch) / "document.log"):
                break
            try:
                result = _run([*command, tex.name], scratch, env)
            except subprocess.TimeoutExpired:
                raise LatexError(f"LaTeX did not finish within {TIMEOUT} s") from None
            if result.returncode != 0:
                log_path = Path(scratch) / "document.log"
                errors = [
                    ln
                    for ln in (log_path.read_text(errors="replace").splitlines() if log_path.exists() else [])
                    if ln.startswith(("!", "./document.tex:"))
                ]
                raise LatexError(f"LaTeX failed: {errors[0] if errors else result.stdout.strip().splitlines()[-1:]}")
        log = (Path(scratch) / "document.log").read_text(errors="replace")
        for problem in ("undefined references", "Reference `", "Citation `", "Label(s) may have changed", *RERUN):
            if problem in log:
                raise LatexError(f"LaTeX left a problem in the document: {problem.strip()}")
        return write(pdf_path, (Path(scratch) / "document.pdf").read_bytes(), force)
