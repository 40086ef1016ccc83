"""Compile a LaTeX document to PDF with a real engine (latexmk, else pdflatex), non-interactively,
in a scratch folder, so a failed run leaves no partial PDF behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from derive.output import write

TIMEOUT = 600  # seconds


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


def compile_pdf(tex_source: str, pdf_path: str | Path, force: bool = False) -> Path:
    command = engine()
    if command is None:
        raise LatexError("no LaTeX engine found: install latexmk or pdflatex "
                         "(Debian: apt-get install texlive-latex-extra texlive-pictures latexmk)")
    with tempfile.TemporaryDirectory(prefix="derive-latex-") as scratch:
        tex = Path(scratch) / "document.tex"
        tex.write_text(tex_source)
        env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}  # reproducible PDFs
        runs = 1 if command[0] == "latexmk" else 3  # pdflatex: enough runs for the table of contents
        for _ in range(runs):
            try:
                result = subprocess.run([*command, tex.name], cwd=scratch, env=env, capture_output=True,
                                        text=True, timeout=TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                raise LatexError(f"LaTeX did not finish within {TIMEOUT} s") from None
            if result.returncode != 0:
                log = (Path(scratch) / "document.log")
                errors = [
                    ln
                    for ln in (log.read_text(errors="replace").splitlines() if log.exists() else [])
                    if ln.startswith(("!", "./document.tex:"))
                ]
                raise LatexError(f"LaTeX failed: {errors[0] if errors else result.stdout.strip().splitlines()[-1:]}")
        log = (Path(scratch) / "document.log").read_text(errors="replace")
        for problem in ("undefined references", "Reference `", "Citation `", "Label(s) may have changed"):
            if problem in log:
                raise LatexError(f"LaTeX left a problem in the document: {problem.strip()}")
        return write(pdf_path, (Path(scratch) / "document.pdf").read_bytes(), force)
