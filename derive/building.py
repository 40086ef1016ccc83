"""`derive build` as an API call (`derive.Model.build`): every output of one network written into a
folder together, and the one-screen summary of what it found.

Everything is computed and written into a scratch folder inside the output folder first, and moved
into place together at the end (`derive.output.staged`): a bad spec, a failure or an interrupt
leaves the previous complete set of files, or none, and no scratch.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path

from derive.check.results import CheckResult
from derive.escape import text_line
from derive.model import quantities as Q
from derive.model.decimals import fmt
from derive.model.layers import samples as sample_count
from derive.model.layers import shape
from derive.output import default_output, staged
from derive.progress import Progress
from derive.render.code import in_memory
from derive.render.code.header import header
from derive.render.code.python import render as render_python
from derive.render.tex.pdf import compile_pdf, engine
from derive.render.text import text as gradients_text
from derive.version import __version__


@dataclass(frozen=True)
class Built:
    """What `build` wrote: the ``folder``, its ``files`` (in the order written), the check's
    result, and whether a PDF was compiled (no LaTeX engine: none)."""

    folder: Path
    files: list[Path]
    check: CheckResult
    pdf: bool


def build(model, folder: str | Path | None = None, digits: int = 9, force: bool = False,
          progress: Progress | None = None) -> Built:
    """Write the table of every number, the generated Python, the check's report, the web page, the
    LaTeX document and (with a LaTeX engine) its PDF into ``folder`` (default generated/<name>/)."""
    from derive.render.check_text import as_text as check_text

    progress = progress or Progress(False)
    spec = model.spec
    folder = Path(folder) if folder else default_output(spec)
    names = ["gradients.txt", "gradients.py", "check.txt", f"{spec.name}.html", f"{spec.name}.tex"]
    pdf = engine() is not None
    with staged(folder, [*names, f"{spec.name}.pdf"] if pdf else names, force) as stage:
        progress.stage(f"evaluating {len(model.parameters)} gradients at 60 digits")
        text = header("text", spec, __version__, "build") + gradients_text(model, digits, model.after_training())
        files = [stage.write("gradients.txt", text)]
        progress.stage("generating Python code")
        source = render_python(model.derivation, __version__)
        files.append(stage.write("gradients.py", source))
        progress.stage("compiling the generated module")
        if "module" not in vars(model):  # (not compiled yet: the check runs the very text written, rendered once)
            model.module = _compiled(source, spec.name)
        result = model.check(digits=digits, progress=progress)
        files.append(stage.write("check.txt", header("text", spec, __version__, "build") + check_text(result)))
        progress.stage("writing the web page")
        files.append(stage.write(f"{spec.name}.html", model.html(digits, check=result)))
        progress.stage("writing the LaTeX document")
        tex = model.latex(digits)
        files.append(stage.write(f"{spec.name}.tex", tex))
        if pdf:
            progress.stage("compiling the PDF")
            compile_pdf(tex, stage.scratch / f"{spec.name}.pdf", force=True, scratch_in=stage.scratch)
            files.append(stage.adopt(f"{spec.name}.pdf"))
        progress.done()
        stage.commit()
    return Built(folder, files, result, pdf)


def _compiled(source: str, name: str) -> types.ModuleType:
    """The generated module of ``source``, as `derive.render.code.python.compile_module` makes it from
    the text it renders (rendering 64-64-64's 93,000 lines again took 1.7 s of `derive build`)."""
    return in_memory.compiled(source, name)


def summary(model, built: Built, digits: int, seconds: float) -> str:
    """The one screen `derive build` prints: the network, its error and largest gradient, the check's
    and the audit's verdicts, the files written in ``seconds``."""
    spec, totals, checks, result = model.spec, model.evaluation.totals, built.check.checks, built.check
    assert checks is not None  # build always runs the routes
    failed = [r.parameter for r in checks.rows if not r.passed]
    largest = max(model.parameters, key=lambda p: abs(totals[Q.gradient(p)]))
    lines = [
        f"{spec.name}: {text_line(spec.title)}",
        f"  layers {shape(spec)}, {len(model.parameters)} parameters, "
        f"{sample_count(spec)}; "
        f"E_total = {fmt(totals[Q.TOTAL_ERROR], digits)}",
        f"  largest gradient: dE_total/d{largest} = {fmt(totals[Q.gradient(largest)], digits)}",
        f"  check: {'every gradient agrees by every route' if not failed else 'FAILED for ' + ', '.join(failed)} "
        f"({checks.checked} of {checks.parameters} parameters)",
    ]
    if result.published:
        wrong = [f for f in result.published if not f.agrees]
        explained = sum(f.explained for f in wrong)
        lines.append(f"  published numbers: {len(result.published)}, {len(result.published) - len(wrong)} agree, "
                     f"{len(wrong)} disagree ({explained} explained); see check.txt")
    if not built.pdf:
        lines.append("  PDF: skipped, no LaTeX engine installed (pdflatex)")
    lines.append(f"  wrote {built.folder}/: {', '.join(f.name for f in built.files)} in {seconds:.1f} s")
    return "\n".join(lines)
