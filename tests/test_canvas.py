"""`derive exercise --lms canvas`: canvas-qti.zip parsed as Canvas reads a QTI 1.2 package (the
manifest's resources point at files in the zip; one assessment per variant, every item a
numerical_question with its range), each range holding the correctly rounded answer (computed here,
and by central differences for the gradients) and rejecting the grader's known slips; the Moodle quiz
unchanged by the choice of systems; a bad --lms in one line; and the drawing rule that leaves out a
value every variant would give alike (a softmax over one output)."""

import csv
import hashlib
import io
import re
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import unquote

import independent
import mpmath
import pytest
from conftest import spec_text

import derive
from derive import lms
from derive.check.audit import confusions
from derive.cli import main
from derive.escape import toml_string
from derive.model import quantities as Q
from derive.output import generated_by_us
from derive.render.quiz import canvas
from derive.teaching import exercise as X

CP = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"
QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
META = "{http://canvas.instructure.com/xsd/cccv1p0}"
ASKED = re.compile(r"<p>Give <code>([^<]+)</code> correctly rounded to (\d+) decimals\.</p>")
ONE_OUTPUT = spec_text(layers="[2, 2, 1]", activation='["logistic", "softmax"]', loss='"cross_entropy"',
                       weights="[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45]]]",
                       samples="[[samples]]\ninputs = [0.05, 0.10]\ntargets = [1]\n")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Two variants of the reference network, once with the Moodle quiz only and once with both."""
    root = tmp_path_factory.mktemp("canvas")
    base = ["exercise", "--variants", "2", "--seed", "7", "--no-pdf", "--quiet"]
    assert main([*base, "-o", str(root / "moodle"), "--lms", "moodle"]) == 0
    assert main([*base, "-o", str(root / "both"), "--lms", "canvas,moodle"]) == 0
    return root


def package(folder) -> dict[str, bytes]:
    with zipfile.ZipFile(folder / "canvas-qti.zip") as z:
        assert z.testzip() is None
        return {i.filename: z.read(i) for i in z.infolist()}


def exact_rounded(value, decimals: int) -> Decimal:
    """Rounded half up from 50 digits, here (not the tool's `rounded`)."""
    return Decimal(mpmath.nstr(value, 50, min_fixed=-mpmath.inf, max_fixed=mpmath.inf)).quantize(
        Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def items(files: dict[str, bytes]):
    """Per variant (from the manifest): its assessment's title and its items as (quantity, decimals,
    low, high), after checking each against the structure Canvas exports."""
    manifest = ET.fromstring(files["imsmanifest.xml"])
    assert manifest.tag == f"{CP}manifest"
    resources = {r.get("identifier"): r for r in manifest.iter(f"{CP}resource")}
    for r in resources.values():  # every resource's files are in the package, its dependencies resources
        assert [f.get("href") for f in r.iter(f"{CP}file")] and all(
            f.get("href") in files for f in r.iter(f"{CP}file")), r.get("identifier")
        assert r.get("href") in (None, r.find(f"{CP}file").get("href"))
        assert all(d.get("identifierref") in resources for d in r.iter(f"{CP}dependency"))
    quizzes = [r for r in resources.values() if r.get("type") == "imsqti_xmlv1p2"]
    images = {r.get("href") for r in resources.values() if r.get("type") == "webcontent"}
    out = []
    for r in quizzes:
        meta = resources[r.find(f"{CP}dependency").get("identifierref")]
        assert meta.get("type") == "associatedcontent/imscc_xmlv1p1/learning-application-resource"
        settings = ET.fromstring(files[meta.get("href")])
        assert settings.tag == f"{META}quiz" and settings.get("identifier") == r.get("identifier")
        root = ET.fromstring(files[r.find(f"{CP}file").get("href")])
        assert root.tag == f"{QTI}questestinterop"
        (assessment,) = root.findall(f"{QTI}assessment")
        assert assessment.get("ident") == r.get("identifier")
        assert settings.find(f"{META}title").text == assessment.get("title")
        asked = []
        for item in assessment.iter(f"{QTI}item"):
            fields = {f.find(f"{QTI}fieldlabel").text: f.find(f"{QTI}fieldentry").text
                      for f in item.find(f"{QTI}itemmetadata").iter(f"{QTI}qtimetadatafield")}
            assert fields["question_type"] == "numerical_question" and fields["points_possible"] == "1.0"
            (fib,) = item.findall(f"{QTI}presentation/{QTI}response_str/{QTI}render_fib")
            assert fib.get("fibtype") == "Decimal"
            html = item.find(f"{QTI}presentation/{QTI}material/{QTI}mattext").text
            (src,) = re.findall(r'<img src="([^"]+)"', html)
            assert src.startswith("$IMS-CC-FILEBASE$/") and unquote(src.split("/", 1)[1]) in images
            (condition,) = item.findall(f"{QTI}resprocessing/{QTI}respcondition")
            low = condition.find(f"{QTI}conditionvar/{QTI}vargte")
            high = condition.find(f"{QTI}conditionvar/{QTI}varlte")
            assert low.get("respident") == high.get("respident") == "response1"
            assert condition.find(f"{QTI}setvar").text == "100" and condition.get("continue") == "No"
            (name, decimals), = ASKED.findall(html)
            asked.append((Q.parse(name), int(decimals), Decimal(low.text), Decimal(high.text)))
        assert float(settings.find(f"{META}points_possible").text) == len(asked)
        out.append((assessment.get("title"), asked))
    for image in images:  # each picture is an SVG file
        assert ET.fromstring(files[image]).tag == "{http://www.w3.org/2000/svg}svg"
    return out


def test_the_package_has_canvas_structure_and_one_quiz_per_variant(made):
    files = package(made / "both")
    assert next(iter(files)) == "imsmanifest.xml"
    quizzes = items(files)
    assert [title for title, _ in quizzes] == ["mazur variant 01", "mazur variant 02"]
    for n, (_, asked) in enumerate(quizzes, start=1):
        model = derive.load(made / "both" / f"variant-0{n}.toml")
        assert [q for q, *_ in asked] == X.default_asks(model)


def test_every_range_holds_the_rounded_answer_and_agrees_with_answers_csv(made):
    rows = list(csv.DictReader(io.StringIO("".join(
        line for line in (made / "both" / "answers.csv").open() if not line.startswith("#")))))
    quizzes = items(package(made / "both"))
    assert len(rows) == sum(len(a) for _, a in quizzes) == 32
    rows = iter(rows)
    for n, (_, asked) in enumerate(quizzes, start=1):
        model = derive.load(made / "both" / f"variant-0{n}.toml")
        gradients = independent.gradient(model.spec)
        for q, d, low, high in asked:
            exact, row = model.value(q), next(rows)
            answer = exact_rounded(exact, d)
            assert low <= answer <= high, (n, q)
            assert (row["variant"], row["quantity"], Decimal(row["answer"]), int(row["decimals"])) == (
                str(n), str(q), answer, d)
            assert high - low == 2 * Decimal(row["tolerance"]) == Decimal(10) ** -d and d >= 4
            middle = (low + high) / 2
            assert abs(mpmath.mpf(str(middle)) - exact) <= mpmath.mpf(10) ** -(d + 6)
            if q.is_partial and q.wrt.is_parameter:
                assert abs(mpmath.mpf(str(middle)) - gradients[q.wrt.name]) < 1e-10


def test_every_range_rejects_the_graders_slips(made):
    """A slip of one number (its sign, the update with +, a neighbour's value) falls outside that
    number's range; a slip of the whole computation outside the range of the first number it changes
    (the same rule as the Moodle quiz's, tests/test_exercise.py)."""
    rejected, seen = set(), set()
    for n, (_, asked) in enumerate(items(package(made / "both")), start=1):
        model = derive.load(made / "both" / f"variant-0{n}.toml")
        for q, d, low, high in asked:
            exact = model.value(q)
            slips = [(v.key, v.transform is None and v.round_to is None and not v.whole, x)
                     for v, x in model.auditor.alternatives(q, exact) if not v.key.startswith("rounded_")]
            slips += [(f"confused_{o}", True, model.value(o)) for o, _ in confusions(model, q)]
            if q.is_partial and q.wrt.is_parameter:
                slips.append(("sign by hand", True, -exact))
            for key, own, x in slips:
                if abs(x - exact) < 1e-30:
                    continue
                passes = low <= exact_rounded(x, d) <= high
                if own or (n, key) not in seen:
                    seen.add((n, key))
                    assert not passes, (n, q, key)
                if not passes:
                    rejected.add(key)
    assert {"plus_update", "sign_flipped", "sign by hand", "swap_forward_w1_w2"} <= rejected


def test_the_questions_numbers_agree_with_the_variants_spec_and_key(made):
    """The given values of every question are the variant's spec file's (read here with tomllib); the
    key's answers table gives each range's answer and tolerance, in order."""
    files = package(made / "both")
    for n, (_, asked) in enumerate(items(files), start=1):
        spec = tomllib.loads((made / "both" / f"variant-0{n}.toml").read_text(), parse_float=Decimal)
        expected = [*zip(["i1", "i2", "target_o1", "target_o2"],
                         [*spec["samples"][0]["inputs"], *spec["samples"][0]["targets"]], strict=True),
                    *zip(["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"],
                         [v for layer in spec["weights"] for row in layer for v in row], strict=True),
                    ("b1", spec["biases"][0][0]), ("b2", spec["biases"][1][0]),
                    ("learning rate eta", spec["learning_rate"])]
        assessment = next(v for k, v in files.items() if k.endswith(f"_v0{n}.xml"))
        for html in [t.text for t in ET.fromstring(assessment).iter(f"{QTI}mattext")]:
            shown = re.findall(r'<th scope="row"><code>([^<]+)</code></th><td>([^<]+)</td>', html)
            assert [(a, Decimal(b)) for a, b in shown] == [(a, Decimal(b)) for a, b in expected]
        key = re.findall(r"& \$(-?[0-9.]+)\$ & \$\\pm ([0-9.]+)\$ &",
                         (made / "both" / f"variant-0{n}-key.tex").read_text())
        assert [(Decimal(a), Decimal(t)) for a, t in key] == [
            (exact_rounded(derive.load(made / "both" / f"variant-0{n}.toml").value(q), d), (high - low) / 2)
            for q, d, low, high in asked]


def test_the_moodle_quiz_is_the_same_whatever_else_is_written(made):
    """And the same bytes as before --lms existed (commit 8f249fa, `derive exercise --variants 2 --seed 7`:
    a regression pin, to be renewed only when the Moodle quiz is meant to change)."""
    assert hashlib.sha256((made / "moodle" / "quiz.xml").read_bytes()).hexdigest() == (
        "34ed8aa3212e72df45212277b02fab9947aef2026b55f992f64a787019a25697")
    assert lms.DEFAULT == ("moodle",)
    for name in ("quiz.xml", "answers.csv"):
        assert (made / "moodle" / name).read_bytes() == (made / "both" / name).read_bytes()
    assert not (made / "moodle" / "canvas-qti.zip").exists()
    assert sorted(p.name for p in (made / "both").iterdir()) == sorted(
        [*(p.name for p in (made / "moodle").iterdir()), "canvas-qti.zip"])


def test_the_zip_is_deterministic_and_marked_as_derives(made):
    data = (made / "both" / "canvas-qti.zip").read_bytes()
    assert generated_by_us(made / "both" / "canvas-qti.zip")  # a second run may overwrite it without --force
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) and i.external_attr >> 16 == 0o644 for i in infos)
        names = [i.filename for i in infos]
        assert names[0] == "imsmanifest.xml" and names[1:] == sorted(names[1:])
        contents = {i.filename: z.read(i) for i in infos}
    assert canvas.zip_bytes(contents) == data


def test_a_bad_lms_is_one_line_naming_the_known_ones(capsys, tmp_path):
    for bad in ("blackboard", "moodle,", "moodle,Canvas"):
        assert main(["exercise", "--variants", "1", "--no-pdf", "--lms", bad, "-o", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.endswith(f"known: {', '.join(lms.EXPORTS)}\n") and "Traceback" not in err
    assert list(lms.EXPORTS)[:2] == ["moodle", "canvas"]
    assert not list(tmp_path.iterdir())


def test_outside_text_is_escaped_once_for_html_and_once_for_xml():
    title = 'A <b>bold</b> & "quoted" ]]> title\x01'
    model = derive.Model(derive.parse(spec_text(title=toml_string(title)), "t.toml"))
    e = X.draw(model, 1, 1, [Q.net("h1")], 4)
    files = canvas.files([e], "t<&>", canvas.identifier(model.spec.digest, 1), "line -- >")
    for text in files.values():
        ET.fromstring(text.encode())  # every file is well-formed XML
    item = ET.fromstring(next(v for k, v in files.items() if k.endswith("_v01.xml"))).find(f".//{QTI}mattext")
    assert 'A &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; ]]&gt; title\ufffd (variant 1)' in item.text


def test_a_value_every_variant_gives_alike_is_left_out(tmp_path, capsys):
    """A softmax over one output is 1 whatever the numbers: its cross-entropy error and delta are 0.
    Asked, every variant would give the same answers; they are left out, and said so, and refused by
    name; what is asked differs between the variants."""
    model = derive.Model(derive.parse(ONE_OUTPUT, "one.toml"))
    assert {str(q): v for q, v in X.fixed_values(model, X.default_asks(model)).items()} == {
        "out_o1": 1, "E_total": 0, "delta_o1": 0}
    made = derive.exercise(model, variants=3, seed=1, pdf=False, output=tmp_path / "set", lms=["moodle", "canvas"])
    assert {str(q) for q in made.left_out} == {"out_o1", "E_total", "delta_o1"}
    quizzes = items(package(tmp_path / "set"))
    asked = [[(str(q), low) for q, _, low, _ in a] for _, a in quizzes]
    assert asked[0] and all(not {"out_o1", "E_total", "delta_o1"} & {q for q, _ in a} for a in asked)
    for k, (q, _) in enumerate(asked[0]):  # no question has the same answer in every variant
        assert len({a[k][1] for a in asked}) > 1, q
    assert "out_o1" not in (tmp_path / "set" / "quiz.xml").read_text()
    spec = tmp_path / "one.toml"
    spec.write_text(ONE_OUTPUT)
    assert main(["exercise", str(spec), "--variants", "1", "--no-pdf", "-o", str(tmp_path / "cli"), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "not asked (the same in every variant: the network's structure fixes it): out_o1 = 1, E_total = 0, "
        "delta_o1 = 0")
    assert main(["exercise", str(spec), "--ask", "delta_o1", "--no-pdf", "-o", str(tmp_path / "cli")]) == 2
    assert capsys.readouterr().err == ("derive exercise: delta_o1 is 0 in every variant (the network's structure "
                                       "fixes it): ask another quantity\n")
