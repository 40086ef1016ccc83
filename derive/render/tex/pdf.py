"""Compile a LaTeX document to PDF with pdflatex, non-interactively, in a scratch folder, so a failed
run leaves no partial PDF behind: run again while the document is not final (its auxiliary files, the
table of contents among them, changed, or LaTeX asks for it), as latexmk would, without its start-up;
the packages loaded once a process into a format (`preloaded`, `_format_in`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

from derive.output import write

TIMEOUT = 600  # seconds
RUNS = 5  # pdflatex runs at most (latexmk's own limit)
#: What LaTeX writes in its log when the document is not final yet (longtable: "Table widths have
#: changed. Rerun LaTeX."; hyperref, rerunfilecheck: "Rerun to get ... right").
RERUN = ("Rerun LaTeX", "Rerun to get")
#: The files a run writes for the next one to read: when a run leaves them as it found them, the
#: document is final (the first run of a document with a table of contents writes it, the second sets
#: it, moving the pages after it, the third finds the pages where the second put them).
AUXILIARY = (".aux", ".toc", ".out", ".lof", ".lot")
#: Where the template's preamble ends: what is above it is the same for every document of this version.
END_OF_DUMP = r"\csname endofdump\endcsname"
MISSING = ("no LaTeX engine found: install pdflatex "
           "(Debian: apt-get install texlive-latex-base texlive-latex-recommended texlive-latex-extra "
           "texlive-pictures lmodern)")


class LatexError(Exception):
    """No LaTeX engine, or the document did not compile cleanly (exit status 1)."""


def engine() -> list[str] | None:
    """The LaTeX command, with shell escape off: nothing in a document can run a program."""
    if shutil.which("pdflatex"):
        return ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
    return None


FORMAT = "derive"  # the preloaded format's name (`preloaded`)
#: The formats this process built, by the digest of the preamble they hold (None: it could not be built):
#: a process that compiles several documents (the tests, a notebook) loads the packages once.
_FORMATS: dict[str, bytes | None] = {}


def _build_format(tex_source: str, folder: Path, env) -> Path | None:
    """``folder``/derive.fmt: the preamble of ``tex_source`` up to its ``\\endofdump``, dumped by
    mylatexformat (in LaTeX's own process group, as every run: `_run`); None when it cannot be built."""
    (folder / "preamble.tex").write_text(tex_source)
    command = ["pdflatex", "-ini", "-no-shell-escape", "-interaction=nonstopmode", f"-jobname={FORMAT}",
               "&pdflatex", "mylatexformat.ltx", "preamble.tex"]
    try:
        built = shutil.which("pdflatex") is not None and _run(command, folder, env).returncode == 0
    except subprocess.TimeoutExpired:
        built = False
    return folder / f"{FORMAT}.fmt" if built and (folder / f"{FORMAT}.fmt").exists() else None


@contextmanager
def preloaded(tex_source: str):
    """A pdfLaTeX format holding the preamble of ``tex_source`` up to its ``\\endofdump`` (the
    packages, the same for every document of the template), built once with mylatexformat: each
    document compiled with it skips loading them, which is most of the time of a short document.
    Yields the format's folder, or None when it cannot be built (then documents compile as usual)."""
    with tempfile.TemporaryDirectory(prefix="derive-format-") as scratch:
        built = _build_format(tex_source, Path(scratch), os.environ)
        yield built.parent if built is not None else None


def _format_in(tex_source: str, scratch: Path, env) -> bool:
    """Put the format of ``tex_source``'s preamble in ``scratch`` (built there the first time this process
    meets that preamble, kept in `_FORMATS`, so nothing is left outside the scratch folder); False when
    the document has no preamble to preload or the format cannot be built."""
    if END_OF_DUMP not in tex_source:
        return False
    preamble = tex_source[:tex_source.index(END_OF_DUMP)]  # from its class on: the comments above name the spec
    key = hashlib.sha256(preamble[max(preamble.find(r"\documentclass"), 0):].encode()).hexdigest()
    if key not in _FORMATS:
        folder = scratch / "format"
        folder.mkdir()
        built = _build_format(tex_source, folder, env)
        _FORMATS[key] = built.read_bytes() if built is not None else None
    data = _FORMATS[key]
    if data is not None:
        (scratch / f"{FORMAT}.fmt").write_bytes(data)
    return data is not None


def _run(command: list[str], cwd, env) -> subprocess.CompletedProcess:
    """Run LaTeX in its own process group, and stop the whole group on a timeout, Ctrl-C or SIGTERM, so
    no LaTeX process outlives derive."""
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


def _auxiliary(scratch: Path) -> dict[str, bytes]:
    """The auxiliary files of ``document.tex`` in ``scratch`` (`AUXILIARY`), as they are now."""
    return {suffix: path.read_bytes() for suffix in AUXILIARY if (path := scratch / f"document{suffix}").exists()}


def compile_pdf(tex_source: str, pdf_path: str | Path, force: bool = False, single_pass: bool = False,
                format_folder: Path | None = None, scratch_in: Path | None = None) -> Path:
    """Run pdflatex until the document is final (`AUXILIARY`, `RERUN`), at most `RUNS` times.
    ``single_pass``: one run (a second only where LaTeX asks for it: a longtable's column widths), for a
    document with no table of contents nor references (an exercise's sheet and key: sixty of them for a
    class, where each pass counts); with ``format_folder`` (from `preloaded`), from that format, else from
    this process's format of the document's preamble (`_format_in`). ``scratch_in``: the folder to make
    LaTeX's scratch folder in (`derive build`: its own scratch, inside the output folder)."""
    command = engine()
    if command is None:
        raise LatexError(MISSING)
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}  # reproducible PDFs
    with tempfile.TemporaryDirectory(prefix="derive-latex-", dir=scratch_in) as folder:
        scratch = Path(folder)
        if format_folder is not None or _format_in(tex_source, scratch, env):
            command.insert(1, f"-fmt={FORMAT}")
            env["TEXFORMATS"] = f"{format_folder or scratch}:"
        tex = scratch / "document.tex"
        tex.write_text(tex_source)
        written: dict[str, bytes] = {}  # the auxiliary files the next run reads (a new folder: none)
        for _ in range(RUNS):
            try:
                result = _run([*command, tex.name], scratch, env)
            except subprocess.TimeoutExpired:
                raise LatexError(f"LaTeX did not finish within {TIMEOUT} s") from None
            if result.returncode != 0:
                log_path = scratch / "document.log"
                errors = [
                    ln
                    for ln in (log_path.read_text(errors="replace").splitlines() if log_path.exists() else [])
                    if ln.startswith(("!", "./document.tex:"))
                ]
                raise LatexError(f"LaTeX failed: {errors[0] if errors else result.stdout.strip().splitlines()[-1:]}")
            found, written = written, ({} if single_pass else _auxiliary(scratch))
            if not _rerun(scratch / "document.log") and (single_pass or written == found):
                break
        log = (scratch / "document.log").read_text(errors="replace")
        for problem in ("undefined references", "Reference `", "Citation `", "Label(s) may have changed", *RERUN):
            if problem in log:
                raise LatexError(f"LaTeX left a problem in the document: {problem.strip()}")
        return write(pdf_path, (scratch / "document.pdf").read_bytes(), force)
