"""`derive exercise`: variants with nice numbers and the same structure, drawn the same on every
machine, poor ones redrawn; each variant's spec accepted by every command and its gradients by the
five routes; the worksheet and the key (real PDFs for two variants); answers.csv; and quiz.xml
parsed as Moodle reads it, every answer checked against the engine and the independent route, a
correctly rounded answer accepted and every usual slip rejected."""

import csv
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from decimal import Decimal
from fractions import Fraction

import independent
import mpmath
import pytest
from conftest import spec_text

import derive
from derive.check.audit import confusions
from derive.cli import main
from derive.model import quantities as Q
from derive.render.tex import pdf
from derive.teaching import exercise as X

needs_latex = pytest.mark.skipif(
    (pdf.engine() is None or shutil.which("pdftotext") is None) and not os.environ.get("DERIVE_REQUIRE_LATEX"),
    reason="no LaTeX engine or pdftotext installed; CI installs them and sets DERIVE_REQUIRE_LATEX",
)
CLOZE = re.compile(r"<code>([^<]+)</code> to (\d+) decimals: \{1:NUMERICAL:=(-?[0-9.]+):([0-9.]+)\}")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Two variants of the reference network, with their PDFs when LaTeX is installed."""
    folder = tmp_path_factory.mktemp("exercises")
    with_pdf = pdf.engine() is not None
    args = ["exercise", "--variants", "2", "--seed", "7", "-o", str(folder), "--quiet"]
    assert main(args if with_pdf else [*args, "--no-pdf"]) == 0
    return folder


def test_a_variant_keeps_the_structure_and_has_nice_numbers(reference):
    original = reference.spec
    for number in (1, 2, 3):
        spec = X.draw(reference, number, 11, None, 4).spec
        assert (spec.layers, spec.activations, spec.loss, spec.bias, spec.learning_rate, spec.freeze_biases) == (
            original.layers, original.activations, original.loss, original.bias, original.learning_rate,
            original.freeze_biases)
        values = [v for m in spec.weights for row in m for v in row] + [v for b in spec.biases for v in b]
        values += [x for s in spec.samples for x in s.inputs]
        assert all(v != 0 and (Fraction(str(v)) * 100).denominator == 1 for v in values)
        # ranges like the original's (0.15..0.30, 0.40..0.55; 0.35; 0.60; inputs 0.05..0.10), widened by 0.05
        assert all(Fraction(10, 100) <= Fraction(str(v)) <= Fraction(35, 100) for row in spec.weights[0] for v in row)
        assert all(Fraction(35, 100) <= Fraction(str(v)) <= Fraction(60, 100) for row in spec.weights[1] for v in row)
        assert Fraction(30, 100) <= Fraction(str(spec.biases[0][0])) <= Fraction(40, 100)
        assert all(Fraction(1, 100) <= Fraction(str(x)) <= Fraction(15, 100) for x in spec.samples[0].inputs)
        assert sorted(spec.samples[0].targets) == sorted(original.samples[0].targets)
        assert not spec.published and spec.steps is None


def test_the_same_seed_gives_the_same_variants_everywhere(reference):
    """Each variant from its own generator, seeded by text (Python's documented, platform-independent
    seeding): variant 3 is the same alone as after 1 and 2. The numbers below pin the generator."""
    third = X.draw(reference, 3, 1, None, 4).text
    assert [X.draw(reference, n, 1, None, 4).text for n in (1, 2, 3)][2] == third
    assert X.draw(reference, 3, 2, None, 4).text != third
    first = X.draw(reference, 1, 1, None, 4).spec
    assert [[str(v) for v in row] for row in first.weights[0]] == [["3/20", "13/50"], ["13/100", "17/100"]]


def test_poor_variants_are_named(reference):
    def model(**over):
        return derive.Model(derive.parse(spec_text(**over), "t.toml"))

    saturated = model(weights="[[[50, 40], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]")
    assert X.poor(saturated, [], 4).startswith("hidden unit h1 saturated (out = 0.9")
    kink = model(activation='["relu", "logistic"]', weights="[[[1, -0.5], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]",
                 biases="[[0], [0.60]]")
    assert X.poor(kink, [], 4) == "net_h1 = 0, at the activation's kink (sample 1)"
    near = model(weights="[[[0.15, 0.20], [0.1502, 0.20]], [[0.40, 0.45], [0.50, 0.55]]]")  # 0.3775, 0.37751
    assert X.poor(near, [Q.net("h1"), Q.net("h2")], 4) == "net_h2 and net_h1 are both 0.3775 to 4 decimals"
    equal = model(weights="[[[0.15, 0.20], [0.15, 0.20]], [[0.40, 0.45], [0.50, 0.55]]]")
    assert X.poor(equal, [Q.net("h1"), Q.net("h2")], 4) is None  # equal by the network's structure: no chance
    small = model(samples="[[samples]]\ninputs = [0.0001, 0.10]\ntargets = [0.01, 0.99]\n")
    assert X.poor(small, [Q.gradient("w1")], 4) == "dE_total/dw1 rounds to 0 at 4 decimals"
    assert X.poor(reference, X.default_asks(reference), 4) is None


def test_default_questions():
    model = derive.load()
    assert [str(q) for q in X.default_asks(model)] == [
        "net_h1", "net_h2", "out_h1", "out_h2", "net_o1", "net_o2", "out_o1", "out_o2", "E_total", "delta_o1",
        "delta_o2", "dE_total/dw1", "dE_total/dw5", "dE_total/db1", "dE_total/db2", "w1+"]


def test_every_variant_spec_is_accepted_by_every_command(made, capsys):
    for n in (1, 2):
        path = str(made / f"variant-0{n}.toml")
        assert main(["check", path]) == 0  # every gradient by the five routes
        assert main(["gradients", path, "--quantity", "dE_total/dw5"]) == 0
        assert main(["train", path, "--steps", "3"]) == 0
        assert main(["latex", path, "--quantity", "w5+"]) == 0
    capsys.readouterr()
    assert (made / "variant-01.toml").read_text().startswith("# Generated by backprop-derive")


def quiz_questions(folder):
    root = ET.parse(folder / "quiz.xml").getroot()  # the XML as Moodle's parser reads it
    assert root.tag == "quiz" and (folder / "quiz.xml").read_text().startswith('<?xml version="1.0"')
    kinds = [q.get("type") for q in root]
    assert kinds[0] == "category" and set(kinds[1:]) == {"cloze"}
    assert root[0].find("category/text").text == "$course$/top/mazur exercises"
    return [q.find("questiontext/text").text for q in root[1:]]


def test_the_quiz_answers_against_the_engine_and_the_independent_route(made):
    texts = quiz_questions(made)
    assert len(texts) == 2
    for n, html in enumerate(texts, start=1):
        model = derive.load(made / f"variant-0{n}.toml")
        gradients = independent.gradient(model.spec)
        asked = CLOZE.findall(html)
        assert [q for q, *_ in asked] == [str(q) for q in X.default_asks(model)]
        assert html.count("{") == len(asked)  # nothing but the sub-questions opens an answer
        for name, decimals, value, tolerance in asked:
            q, d, tol = Q.parse(name), int(decimals), Decimal(tolerance)
            exact = model.value(q)
            assert tol == Decimal(5).scaleb(-d - 1) and d >= 4
            assert abs(Decimal(value) - X.rounded(exact, d + 6)) == 0
            if q.is_partial and q.wrt.is_parameter:
                assert abs(mpmath.mpf(value) - gradients[q.wrt.name]) < 1e-10
            rounded = X.rounded(exact, d)
            assert abs(rounded - Decimal(value)) <= tol  # a correctly rounded answer passes


def test_the_quiz_rejects_every_usual_slip(made):
    """A slip of one number (its sign, the update with +, a neighbour's value) is rejected by that
    number's sub-question; a slip of the whole computation by the first sub-question it changes."""
    html = quiz_questions(made)[0]
    model = derive.load(made / "variant-01.toml")
    asked = [(Q.parse(q), int(d), Decimal(v), Decimal(t)) for q, d, v, t in CLOZE.findall(html)]
    rejected, seen = set(), set()
    for q, d, value, tol in asked:
        exact = model.value(q)
        slips = [(v.key, v.transform is None and v.round_to is None and not v.whole, x)
                 for v, x in model.auditor.alternatives(q, exact) if not v.key.startswith("rounded_")]
        slips += [(f"confused_{o}", True, model.value(o)) for o, _ in confusions(model, q)]
        for key, own, x in slips:
            if abs(x - exact) < 1e-30:
                continue
            passes = abs(X.rounded(x, d) - value) <= tol
            if own:
                assert not passes, (q, key)
            elif key not in seen:
                seen.add(key)
                assert not passes, (q, key)
            if not passes:
                rejected.add(key)
    assert "plus_update" in rejected and "sign_flipped" in rejected and "swap_forward_w1_w2" in rejected


def test_answers_csv_matches_the_quiz(made):
    lines = (made / "answers.csv").read_text().splitlines()
    assert lines[0].startswith("# Generated by backprop-derive 0.1.0 from mazur.toml")
    rows = list(csv.DictReader(lines[1:]))
    assert list(rows[0]) == ["variant", "quantity", "answer", "decimals", "tolerance", "full_precision"]
    quiz = [(str(n), q, Decimal(v), t) for n, html in enumerate(quiz_questions(made), start=1)
            for q, _, v, t in CLOZE.findall(html)]
    assert len(rows) == len(quiz) == 32
    for row, (n, q, v, t) in zip(rows, quiz, strict=True):
        assert (row["variant"], row["quantity"], row["tolerance"]) == (n, q, t)
        assert Decimal(row["answer"]) == X.rounded(v, int(row["decimals"]))
        assert abs(Decimal(row["full_precision"]) - v) < Decimal("1e-9")


def test_the_key_boxes_every_asked_value(made):
    tex = (made / "variant-02-key.tex").read_text()
    assert tex.count(r"\boxed{") == 16 and r"\tableofcontents" not in tex
    sheet = (made / "variant-02-sheet.tex").read_text()
    assert sheet.count(r"\item ") == 16 and "to 4 decimals" in sheet


@needs_latex
def test_the_pdfs_show_the_numbers_and_the_questions(made):
    model = derive.load(made / "variant-01.toml")
    sheet = subprocess.run(["pdftotext", str(made / "variant-01-sheet.pdf"), "-"], capture_output=True, text=True,
                           check=True).stdout
    assert "Exercise 1: A 2-2-2 network, step by step (variant 1)" in sheet and "Questions" in sheet
    w1 = model.network.parameter["w1"].value
    assert str(Decimal(w1.p) / Decimal(w1.q)) in sheet
    key = subprocess.run(["pdftotext", str(made / "variant-01-key.pdf"), "-"], capture_output=True, text=True,
                         check=True).stdout.replace("\u2212", "-")
    assert "Key to exercise 1" in key and "Answers" in key and str(X.rounded(model.value("dE_total/dw5"), 4)) in key
    assert pdf.engine() is None or (made / "variant-01-key.pdf").read_bytes().count(b"backprop-derive") > 0


@needs_latex
def test_the_format_is_preloaded():
    """The packages are loaded once into a format, not once per document (most of a short one's time)."""
    with pdf.preloaded(derive.load().latex()) as folder:
        assert folder is not None and (folder / "derive.fmt").exists()


def test_bad_asks_and_rerun(made, capsys):
    assert main(["exercise", "--variants", "1", "--ask", "dE_total/dw99", "--no-pdf", "-o", str(made)]) == 2
    assert capsys.readouterr().err.startswith("derive: unknown quantity 'dE_total/dw99'")
    assert main(["exercise", "--variants", "1", "--ask", "w5+", "--ask", "w5+", "--no-pdf", "-o", str(made)]) == 2
    assert capsys.readouterr().err == "derive: a quantity is asked twice\n"
    assert main(["exercise", "--variants", "1", "--seed", "7", "--ask", "dE_total/dw5", "--no-pdf", "-o",
                 str(made / "again"), "--quiet"]) == 0
    assert [q for q, *_ in CLOZE.findall((made / "again" / "quiz.xml").read_text())] == ["dE_total/dw5"]


def test_a_network_with_softmax_and_two_samples(tmp_path):
    """Per-sample questions of sample 1, totals over both; a structurally zero gradient is not asked;
    the key boxes the per-sample values (the totals are in its answers table)."""
    from networks import ZOO

    from derive.render.quiz import moodle
    from derive.render.tex import worksheet

    model = derive.Model(derive.parse(ZOO["softmax_ce"], "softmax_ce.toml"))
    e = X.draw(model, 1, 1, None, 4)
    asked = [str(q.quantity) for q in e.questions]
    assert asked[0] == "net_h1[1]" and "E_total" in asked and "dE_total/dw1" in asked
    assert all(q.quantity.sample in (0, None) for q in e.questions)
    key = worksheet.key(e.model, e.questions, 1, "0", training=e.model.training_comparisons(1)[:1])
    assert key.count(r"\boxed{") == sum(q.quantity.sample == 0 for q in e.questions)
    html = ET.fromstring(moodle.quiz([e], "softmax_ce", "x"))[1].find("questiontext/text").text
    for name, d, value, tol in CLOZE.findall(html):
        assert Decimal(value) == X.rounded(e.model.value(name), int(d) + 6) and Decimal(tol) == Decimal(5).scaleb(-int(d) - 1)


def test_the_summary_counts_one_variant_in_the_singular(tmp_path, capsys):
    from derive.cli import main

    assert main(["exercise", "--variants", "1", "--no-pdf", "-o", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {tmp_path}/: 1 variant (spec, sheet and key (.tex) each), answers.csv, quiz.xml in ")


@pytest.mark.parametrize("text", [spec_text(), spec_text(layers="[2, 3, 2]", activation='["tanh", "softmax"]',
                                                         loss='"cross_entropy"', weights=None, biases=None, seed="2")],
                         ids=["reference", "softmax"])
def test_the_variants_check_finds_the_sympy_diff_route_made_before_the_pool_forks(text):
    """`derive exercise` forks its workers after `routes.prepare` of the spec's model: a variant of
    the same shape (other numbers) is checked by every route, its sympy.diff derivatives compiled
    none again (each worker made them all again, seconds a worker on an rnn), and it passes."""
    from derive.check import routes

    model = derive.Model(derive.parse(text, "s.toml"))
    routes.prepare(model)
    before = routes._sympy_derivative.cache_info()
    variant = X.draw(model, 2, 5, None, 4).model
    report = routes.run(variant)
    after = routes._sympy_derivative.cache_info()
    assert report.passed and "sympy_diff" not in report.skipped
    assert all("sympy_diff" in row.routes for row in report.rows)
    assert after.misses == before.misses and after.hits - before.hits == len(report.rows)
