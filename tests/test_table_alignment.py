"""A table's header sits over its columns in every PDF, the exercises' one-pass sheets and keys too.

A longtable sets its header at the header's own width on LaTeX's first run and the columns' widths
are known only from the second (longtable: "Table widths have changed. Rerun LaTeX."): a sheet
compiled in a single pass had its "Initial values" header shifted left of its body.
"""

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import derive
from derive.render.tex.pdf import compile_pdf

pytestmark = pytest.mark.skipif(not (shutil.which("pdflatex") and shutil.which("pdftotext")),
                                reason="needs pdflatex and pdftotext")


def words(pdf: Path) -> list[list[tuple[str, float, float, float]]]:
    """Every word of the PDF, page by page: (text, xMin, xMax, yMin), by pdftotext."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = []
    for page in out.split("<page ")[1:]:
        found = []
        for line in page.splitlines():
            line = line.strip()
            if line.startswith("<word "):
                attrs = dict(part.split("=") for part in line[6:line.index(">")].split())
                text = line[line.index(">") + 1:line.rindex("<")]
                found.append((text, *(float(attrs[k].strip('"')) for k in ("xMin", "xMax", "yMin"))))
        pages.append(found)
    return pages


def initial_values_right_edges(pdf: Path) -> tuple[float, list[float]]:
    """The right edge of the "value" header of the Initial values table and of the first numbers below
    it in that (right-aligned) column."""
    page = next(p for p in words(pdf) if any(a[0] == "Initial" and b[0] == "values" and a[3] == b[3]
                                             for a, b in itertools.pairwise(p)))
    top = next(a[3] for a, b in itertools.pairwise(page) if a[0] == "Initial" and b[0] == "values")
    header = next(w for w in page if w[0] == "value" and w[3] > top
                  and any(q[0] == "quantity" and q[3] == w[3] for q in page))
    rows = [w for w in page if w[3] > header[3] and w[2] > header[1] and re.fullmatch(r"-?[0-9]+\.[0-9]+", w[0])]
    return header[2], [w[2] for w in rows[:5]]


def test_the_exercise_sheet_and_key_headers_sit_over_their_columns(tmp_path):
    made = derive.exercise(variants=1, output=tmp_path, workers=1)
    pdfs = sorted(p for p in map(Path, made.files) if p.suffix == ".pdf")
    assert [p.name for p in pdfs] == ["variant-01-key.pdf", "variant-01-sheet.pdf"]
    for pdf in pdfs:
        header, column = initial_values_right_edges(pdf)
        assert column, pdf.name
        assert all(abs(header - right) < 0.5 for right in column), (pdf.name, header, column)


def test_a_single_pass_compile_reruns_where_latex_asks(tmp_path):
    """The class: any longtable compiled in one pass (the rule is in `compile_pdf`, not in a template)."""
    source = r"""\documentclass{article}\usepackage{longtable}\begin{document}
\begin{longtable}{llr}
 & quantity & value \\ \endhead
a long label in the first column & $w_1$ & 123456.789 \\
\end{longtable}\end{document}
"""
    pdf = compile_pdf(source, tmp_path / "t.pdf", single_pass=True)
    found = words(pdf)[0]
    header = next(w for w in found if w[0] == "value")
    number = next(w for w in found if w[0] == "123456.789")
    assert abs(header[2] - number[2]) < 0.5
