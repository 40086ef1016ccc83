"""Render the derivation as a LaTeX document, or one quantity's derivation as an ``align`` block.

The document is built as data first (`derive.render.tex.latex_document`), then printed through
``templates/document.tex.j2``, which receives only escaped text and printed math.
"""

from __future__ import annotations

from derive.escape import latex_text
from derive.render import names
from derive.render.code.header import header
from derive.render.templating import environment
from derive.render.tex.latex_document import Block, Document, Section
from derive.render.tex.latex_rows import RowPrinter, align, number


def errata_section(findings, digits: int, source: str, remarks=()) -> Section:
    """The audit of a spec's published numbers: every number, and for a wrong one, what reproduces it;
    then ``remarks``, what the audit says across them (`derive.check.audit.discordant`)."""
    rows = []
    notes = []
    for f in findings:
        verdict = "agrees" if f.agrees else r"\textbf{wrong}"
        shown = f"${names.latex(f.quantity, inline=True)}$"
        rows.append([shown, f"${f.printed}$", f"${number(f.correct, digits)}$", verdict])
        if not f.agrees:
            reproducing = [m for m in f.mistakes if m.reproduces]
            why = ("; or ".join(f"{latex_text(m.description)} (${number(m.value, digits)}$)" for m in reproducing)
                   if reproducing else "no variant of the computation or usual slip reproduces it")
            notes.append(
                rf"\item {shown}: published ${f.printed}$, correct ${number(f.correct, digits)}$. Reproduced by: {why}."
            )
    wrong = sum(not f.agrees for f in findings)
    blocks = [
        Block(
            "text",
            f"The spec ({latex_text(source)}) carries {len(findings)} published numbers; "
            f"{len(findings) - wrong} agree with "
            f"the correct computation to the digits they show, and {wrong} do not. "
            "For each wrong one, derive searched the "
            "usual variants of the computation and the usual slips for the ones that reproduce it to its digits.",
        ),
        Block("table", rows=rows, header=["quantity", "published", "correct", ""], columns="lrrl"),
    ]
    if notes:
        blocks.append(Block("text", "\\begin{itemize}\n" + "\n".join(notes) + "\n\\end{itemize}"))
    blocks += [Block("text", latex_text(remark)) for remark in remarks]
    return Section("Errata: the published numbers, audited", blocks)


def render(model, version: str, digits: int = 9, training=(), extra_sections=()) -> str:
    """The whole document's LaTeX source; byte-identical for the same inputs. ``training``: groups
    of (label, TrainingRun) compared in the training section, the spec's own run first."""
    document = Document(model, digits, training)
    return source(model.spec, version, "latex", model.spec.title, document.sections() + list(extra_sections))


def document(model, version: str, digits: int = 9, training=(), findings=(), notes=(), extra_sections=()) -> str:
    """The whole document as `derive latex` writes it: `render` with the matrix form's sections, then
    ``extra_sections``, then (with published numbers) the errata of ``findings`` and ``notes`` (the
    audit's, computed by the caller)."""
    from derive.render.tex.latex_matrix import sections as matrix_part

    sections = [*matrix_part(model, digits), *extra_sections]
    if model.spec.published:
        sections.append(errata_section(findings, digits, model.spec.source, notes))
    return render(model, version, digits, training, sections)


def source(spec, version: str, command: str, title: str, sections, contents: bool = True) -> str:
    """A document of sections through the one template (``contents``: a table of contents)."""
    return environment(latex=True).get_template("document.tex.j2").render(
        header=header("latex", spec, version, command), version=version, title=latex_text(title),
        name=latex_text(spec.name), sections=sections, align=align, contents=contents,
    )


def quantity_block(network, explanation, digits: int = 9) -> str:
    """The align block of one quantity's derivation (``derive latex --quantity``): the rows of its
    ``explanation`` (`derive.derivation.explain.Explanation`)."""
    return align(RowPrinter(network, digits).rows(explanation.rows))
