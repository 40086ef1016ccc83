"""The LaTeX derivation: exact fragments, escaping, freshness, and real PDFs (pdfLaTeX) whose text
carries the right numbers (from the independent finite-difference route)."""

import json
import os
import re
import shutil
import subprocess
import sys

import independent
import pytest
from conftest import ROOT, spec_text
from in_process import derive_cli
from networks import ZOO

import derive
from derive.model.decimals import fmt
from derive.render.tex import pdf

pytestmark = pytest.mark.slow  # a system test: `-m "not slow"` leaves it out (docs/programmers.md)

needs_latex = pytest.mark.skipif(
    pdf.engine() is None and not os.environ.get("DERIVE_REQUIRE_LATEX"),
    reason="no LaTeX engine (pdflatex) installed; CI installs one and sets DERIVE_REQUIRE_LATEX",
)
needs_pdftotext = pytest.mark.skipif(
    shutil.which("pdftotext") is None and not os.environ.get("DERIVE_REQUIRE_LATEX"),
    reason="pdftotext (poppler-utils) is not installed",
)


def test_net_input_block(reference):
    assert reference.latex_quantity("net_h1") == (
        "\\begin{align*}\n"
        "\\mathrm{net}_{h_{1}} &= w_{1} \\cdot i_{1} + w_{2} \\cdot i_{2} + b_{1} \\\\\n"
        " &= 0.15 \\cdot 0.05 + 0.2 \\cdot 0.1 + 0.35 \\\\\n"
        " &= 0.3775\n"
        "\\end{align*}\n"
    )


def test_chain_rule_block_for_w5_with_the_articles_numbers(reference):
    assert reference.latex_quantity("dE_total/dw5") == (
        "\\begin{align*}\n"
        "\\frac{\\partial \\mathrm{net}_{o_{1}}}{\\partial w_{5}} &= \\frac{\\partial}{\\partial w_{5}} "
        "\\left(w_{5} \\cdot \\mathrm{out}_{h_{1}} + w_{6} \\cdot \\mathrm{out}_{h_{2}} + b_{2}\\right) \\\\\n"
        " &= \\mathrm{out}_{h_{1}} \\\\\n"
        " &= 0.593269992 \\\\\n"
        "\\frac{\\partial E_{\\mathrm{total}}}{\\partial w_{5}} &= \\frac{\\partial E_{\\mathrm{total}}}{\\partial \\mathrm{out}_{o_{1}}} \\cdot "
        "\\frac{\\partial \\mathrm{out}_{o_{1}}}{\\partial \\mathrm{net}_{o_{1}}} \\cdot \\frac{\\partial \\mathrm{net}_{o_{1}}}{\\partial w_{5}} \\\\\n"
        " &= 0.741365070 \\cdot 0.186815602 \\cdot 0.593269992 \\\\\n"
        " &= \\delta_{o_{1}} \\cdot \\mathrm{out}_{h_{1}} \\quad\\text{(delta rule)} \\\\\n"
        " &= 0.0821670406 \\\\\n"
        "w_{5}^{+} &= w_{5} - \\eta \\cdot \\frac{\\partial E_{\\mathrm{total}}}{\\partial w_{5}} \\\\\n"
        " &= 0.4 - 0.5 \\cdot 0.0821670406 \\\\\n"
        " &= 0.358916480\n"
        "\\end{align*}\n"
    )


def test_error_term_and_output_factor_blocks(reference):
    assert reference.latex_quantity("E_o1") == (
        "\\begin{align*}\n"
        "E_{o_{1}} &= \\frac{\\left(\\mathrm{target}_{o_{1}} - \\mathrm{out}_{o_{1}}\\right)^{2}}{2} \\\\\n"
        " &= \\frac{\\left(0.01 - 0.751365070\\right)^{2}}{2} \\\\\n"
        " &= 0.274811083\n"
        "\\end{align*}\n"
    )
    block = reference.latex_quantity("dout_o1/dnet_o1")
    assert " &= \\mathrm{out}_{o_{1}} \\cdot \\left(1 - \\mathrm{out}_{o_{1}}\\right) \\\\\n" in block
    assert block.endswith(" &= 0.186815602\n\\end{align*}\n")


def test_bias_block_sums_over_the_neurons_a_shared_bias_feeds(reference):
    fd = independent.gradient(reference.spec)
    block = reference.latex_quantity("dE_total/db1")
    assert "\\delta_{h_{1}} + \\delta_{h_{2}} \\quad\\text{(delta rule)}" in block
    assert f" &= {fmt(fd['b1'])} \\\\\n" in block


def test_unknown_quantity_exits_2():
    result = derive_cli("latex", "--quantity", "dE_total/dw99")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "derive: unknown quantity 'dE_total/dw99' in network mazur (did you mean 'dE_total/dw"
    )


def test_the_committed_document_is_fresh(reference):
    assert (ROOT / "generated" / "mazur" / "mazur.tex").read_text() == reference.latex(), \
        "generated/ is stale: run `derive build`"


HOSTILE = r"\input{/etc/passwd} $x$ & 100% #1 _a ^b ~c {d} \\ \end{document}"


def test_titles_are_escaped_so_no_command_runs():
    model = derive.Model(derive.parse(spec_text(title=json.dumps(HOSTILE)), "t.toml"))
    tex = model.latex()
    assert "\\input{/etc/passwd}" not in tex and "\\end{document}\n\\end" not in tex
    assert (r"\title{\textbackslash{}input\{/etc/passwd\} \$x\$ \& 100\% \#1 \_a \textasciicircum{}b "
            r"\textasciitilde{}c \{d\} \textbackslash{}\textbackslash{} \textbackslash{}end\{document\}}") in tex


def compile_and_read(model, tmp_path):
    path = pdf.compile_pdf(model.latex(), tmp_path / f"{model.spec.name}.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return path, text


@pytest.fixture(scope="module")
def reference_pdf(reference, tmp_path_factory):
    """The reference document compiled once, and its text: read by the two tests below."""
    return compile_and_read(reference, tmp_path_factory.mktemp("reference"))


NETWORKS = {
    "deep": ZOO["deeper_sigmoid"],
    "softmax_cross_entropy": ZOO["softmax_ce"],
    "per_neuron_bias": ZOO["deep_tanh_relu"],
}


@needs_latex
@needs_pdftotext
@pytest.mark.parametrize("name", ["reference", "wide", *NETWORKS])
def test_documents_compile_to_pdf_with_the_right_numbers(name, reference, tmp_path, request):
    if name == "reference":
        model = reference
        path, text = request.getfixturevalue("reference_pdf")
    else:
        if name == "wide":
            model = derive.load(ROOT / "benchmarks" / "net_4_16_16_3.toml")
        else:
            model = derive.Model(derive.parse(NETWORKS[name], f"{name}.toml"))
        path, text = compile_and_read(model, tmp_path)
    assert path.read_bytes().startswith(b"%PDF")
    fd = independent.gradient(model.spec)
    shown = [p for p in model.parameters if fd[p] > 0][:12]
    for p in shown:  # positive values: pdftotext renders minus signs as U+2212
        expected = fmt(fd[p]).split("e")[0]  # 3.37777513e-6 is typeset as 3.37777513 x 10^-6
        assert expected in text, (p, expected)
    total = independent.total_error(model.spec, independent.parameters(model.spec))
    assert fmt(total) in text


@needs_latex
@needs_pdftotext
def test_the_reference_pdf_reads_like_the_article(reference_pdf):
    _, text = reference_pdf
    for expected in ["0.593269992", "0.751365070", "0.298371109", "0.0821670406", "0.358916480",
                     "0.0363503064", "0.241300709", "0.149780716", "Biases", "0.0187256094", "0.291027774"]:
        assert expected in text, expected
    committed = ROOT / "generated" / "mazur" / "mazur.pdf"
    old = subprocess.run(
        ["pdftotext", "-layout", str(committed), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert old == text, "generated/mazur/mazur.pdf is stale: run `derive build`"


@needs_latex
def test_hostile_title_compiles_and_prints_literally(tmp_path):
    model = derive.Model(derive.parse(spec_text(title=json.dumps(HOSTILE)), "t.toml"))
    path = pdf.compile_pdf(model.latex(), tmp_path / "t.pdf")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
        assert "\\input{/etc/passwd}" in text


def test_a_missing_latex_engine_is_a_clear_error(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no pdflatex
    result = subprocess.run([sys.executable, "-m", "derive", "latex", "--pdf", "-o", str(tmp_path / "m.tex")],
                            capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 1
    assert result.stderr == ("derive: no LaTeX engine found: install pdflatex (Debian: apt-get install "
                             "texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-pictures "
                             "lmodern)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the .tex and its PDF together or neither


@needs_latex
@needs_pdftotext
def test_latex_runs_until_the_table_of_contents_sets_the_pages_it_moved(tmp_path):
    """A table of contents of several pages moves every section on (the run that sets it found the pages
    before it was there): the runs go on until the auxiliary files stay as they were, so the contents
    give each section's own page."""
    sections = "".join(rf"\section{{Part {i}}}\newpage" for i in range(70))
    source = rf"\documentclass{{article}}\begin{{document}}\tableofcontents\newpage{sections}\end{{document}}"
    path = pdf.compile_pdf(source, tmp_path / "toc.pdf")
    pages = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")
    listed = {int(m[1]): int(m[2]) for m in re.finditer(r"(?m)^\s*\d+ Part (\d+)\s+(\d+)\s*$", "\f".join(pages))}
    headed = {int(m[1]): k + 1 for k, page in enumerate(pages) for m in re.finditer(r"(?m)^\s*\d+\s+Part (\d+)\s*$", page)}
    assert len(listed) == 70 and min(listed.values()) > 2  # the contents take more than a page
    assert listed == headed


@needs_latex
def test_a_process_loads_the_packages_once_and_leaves_nothing_outside_the_scratch(reference, tmp_path):
    """Two documents of two specs (their first lines differ) share one format of the template's preamble,
    built inside the first one's scratch folder: nothing is left in the folder given for scratch."""
    other = derive.Model(derive.parse(spec_text(title='"Another"'), "other.toml"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    pdf._FORMATS.clear()
    for model in (reference, other):
        pdf.compile_pdf(model.latex(), tmp_path / f"{model.spec.name}.pdf", scratch_in=scratch)
    assert len(pdf._FORMATS) == 1 and next(iter(pdf._FORMATS.values()))[:2] == b"\x1f\x8b"  # a format, gzipped
    assert list(scratch.iterdir()) == []
    assert {p.name for p in tmp_path.iterdir()} == {"scratch", "mazur.pdf", "t.pdf"}


def test_without_pdflatex_each_command_says_what_to_install(tmp_path, monkeypatch):
    """`derive exercise` refuses its PDFs in one line (exit 2), `derive build` writes the rest and says the
    PDF was skipped: both name pdflatex, the one engine derive runs."""
    from derive import building

    monkeypatch.setattr(pdf, "engine", lambda: None)  # `derive exercise` imports it when it runs
    monkeypatch.setattr(building, "engine", lambda: None)
    spec = tmp_path / "t.toml"
    spec.write_text(spec_text())
    result = derive_cli("exercise", str(spec), "--variants", "1", "-o", str(tmp_path / "x"))
    assert (result.returncode, result.stderr) == (2, "derive exercise: no LaTeX engine installed for the PDFs "
                                                     "(install pdflatex, or use --no-pdf)\n")
    result = derive_cli("build", str(spec), "-o", str(tmp_path / "b"))
    assert result.returncode == 0 and "  PDF: skipped, no LaTeX engine installed (pdflatex)\n" in result.stdout
    assert not (tmp_path / "b" / "t.pdf").exists() and (tmp_path / "b" / "t.tex").exists()
