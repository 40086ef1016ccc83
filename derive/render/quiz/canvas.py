"""The exercises as a Canvas QTI package (``canvas-qti.zip``): IMS QTI 1.2 as Canvas Classic Quizzes
exports and imports it (Settings > Import course content > QTI .zip file), the layout of Canvas's own
exports and of text2qti (github.com/gpoore/text2qti), a converter whose packages Canvas imports:

- ``imsmanifest.xml``: one ``imsqti_xmlv1p2`` resource per variant (its assessment file, and a
  dependency on its ``assessment_meta.xml``, Canvas's own settings of the quiz) and one ``webcontent``
  resource per picture;
- ``<id>/<id>.xml``: the variant's ``<assessment>``, titled with the network and the variant, with one
  ``numerical_question`` item per asked value: ``<render_fib fibtype="Decimal">`` and one
  ``<respcondition>`` that scores 100 when the answer is within ``<vargte>``/``<varlte>``, the
  question's `bounds` (the same range the Moodle quiz accepts: one rule, `Question.bounds`);
- ``images/<name>-vNN.svg``: the variant's network, its given values written on it and the values
  to compute shown as ``?``, referenced from each question's HTML as ``$IMS-CC-FILEBASE$/images/...``
  (Canvas puts the file in the course's files and links it); the same values in an HTML table, for
  screen readers.

Every outside text goes through `derive.escape` (HTML first, then XML for the ``<mattext>``), which
also drops the characters XML forbids. The zip is the same bytes for the same input: fixed
timestamps and modes, the manifest first (stored, so that its header comment marks the file as
derive's), then every other file in sorted order. ``exercises`` are as for `moodle`.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from urllib.parse import quote

import sympy as sp

from derive.escape import html_text, xml_comment, xml_text
from derive.model import quantities as Q
from derive.model.layers import shape
from derive.model.network import Network
from derive.render.quiz.quiz_values import fixed, given_rows
from derive.render.web.svg import NetworkPicture

FILEBASE = "$IMS-CC-FILEBASE$"  # Canvas's token for the package's root in imported HTML
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: no build time in the file
WIDER = sp.Rational(-88, 100)  # the width a value to compute is measured with in the picture ("?" is drawn)


class QuestionPicture(NetworkPicture):
    """The network as a question shows it: the given values (inputs, targets, weights, biases) and
    ``?`` for every value to compute."""

    def __init__(self, network, given: dict):
        self.given = given
        super().__init__(network, key=str, value=lambda q: given.get(q, WIDER), digits=9)

    def number(self, q: Q.Quantity, css: str = "v") -> str:
        return super().number(q, css) if q in self.given else "?"


def _given_values(spec, network) -> dict:
    sample = spec.samples[0]
    given = {Q.parameter(p.name): p.value for p in network.parameters}
    given.update({Q.out(i): v for i, v in zip(network.inputs, sample.inputs, strict=True)})
    given.update({Q.target(o): v for o, v in zip(network.outputs, sample.targets, strict=True)})
    return given


def picture(exercise, line: str) -> str:
    """The variant's network as a standalone SVG file."""
    spec = exercise.spec
    network = Network(spec)
    samples = " (sample 1)" if len(spec.samples) > 1 else ""
    caption = f"The network of variant {exercise.number}{samples}: its given values; ? marks a value to compute"
    svg = QuestionPicture(network, _given_values(spec, network)).render(caption)
    assert svg.startswith("<svg ")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<!-- {xml_comment(line)} -->\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" {svg[len("<svg "):]}\n')


def identifier(digest: str, seed: int) -> str:
    """The package's identifiers' stem: the same for the same spec and seed (a re-import updates
    the quizzes), another for another seed."""
    return "derive_" + hashlib.sha256(f"{digest} {seed}".encode()).hexdigest()[:16]


def image_path(name: str, number: int) -> str:
    return f"images/{name}-v{number:02d}.svg"


def question_html(exercise, q, image: str) -> str:
    spec = exercise.spec
    alt = html_text(f"The network of variant {exercise.number}; its values are in the table below.")
    rows = "".join(f'<tr><th scope="row"><code>{html_text(a)}</code></th><td>{html_text(b)}</td></tr>'
                   for a, b in given_rows(spec))
    return (
        f"<p>Give <code>{html_text(str(q.quantity))}</code> correctly rounded to {q.decimals} decimals.</p>"
        f"<p>{html_text(spec.title)}: layers {html_text(shape(spec))}, activations "
        f"{html_text(', '.join(spec.activations))}, loss {html_text(spec.loss)}, bias {html_text(spec.bias)}; "
        "net = sum of w times out, plus the bias; delta = dE_total/dnet; w+ = w - eta dE_total/dw. "
        "Compute one step of backpropagation.</p>"
        f'<p><img src="{FILEBASE}/{quote(image)}" alt="{alt}"></p>'
        f"<table><caption>Given values</caption><thead><tr><th scope=\"col\">quantity</th>"
        f"<th scope=\"col\">value</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _item(exercise, k: int, q, ident: str, image: str) -> str:
    low, high = q.bounds
    fields = [("question_type", "numerical_question"), ("points_possible", "1.0"),
              ("original_answer_ids", f"{ident}_answer"), ("assessment_question_identifierref", f"{ident}_ref")]
    metadata = "".join(f"<qtimetadatafield><fieldlabel>{a}</fieldlabel><fieldentry>{b}</fieldentry></qtimetadatafield>"
                       for a, b in fields)
    return (
        f'<item ident="{ident}" title="{xml_text(f"{k}. {q.quantity} ({q.decimals} decimals)")}">'
        f"<itemmetadata><qtimetadata>{metadata}</qtimetadata></itemmetadata>"
        f'<presentation><material><mattext texttype="text/html">{xml_text(question_html(exercise, q, image))}'
        '</mattext></material><response_str ident="response1" rcardinality="Single"><render_fib fibtype="Decimal">'
        '<response_label ident="answer1"/></render_fib></response_str></presentation>'
        '<resprocessing><outcomes><decvar maxvalue="100" minvalue="0" varname="SCORE" vartype="Decimal"/></outcomes>'
        f'<respcondition continue="No"><conditionvar><vargte respident="response1">{fixed(low)}</vargte>'
        f'<varlte respident="response1">{fixed(high)}</varlte></conditionvar>'
        '<setvar action="Set" varname="SCORE">100</setvar></respcondition></resprocessing>'
        "</item>\n"
    )


def title(name: str, number: int) -> str:
    return f"{name} variant {number:02d}"


def assessment(exercise, name: str, ident: str, line: str) -> str:
    """One variant's quiz: a numerical question per asked value."""
    image = image_path(name, exercise.number)
    items = "".join(_item(exercise, k, q, f"{ident}_q{k:02d}", image)
                    for k, q in enumerate(exercise.questions, start=1))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!-- {xml_comment(line)} -->\n'
        '<questestinterop xmlns="http://www.imsglobal.org/xsd/ims_qtiasiv1p2" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.imsglobal.org/xsd/'
        'ims_qtiasiv1p2 http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd">\n'
        f'<assessment ident="{ident}" title="{xml_text(title(name, exercise.number))}">'
        "<qtimetadata><qtimetadatafield><fieldlabel>cc_maxattempts</fieldlabel><fieldentry>1</fieldentry>"
        '</qtimetadatafield></qtimetadata>\n<section ident="root_section">\n'
        f"{items}</section></assessment></questestinterop>\n"
    )


def assessment_meta(exercise, name: str, ident: str, group: str) -> str:
    """Canvas's settings of one variant's quiz (as Canvas exports them): unpublished, one attempt,
    a point per question."""
    points = f"{len(exercise.questions):.1f}"
    heading = xml_text(title(name, exercise.number))
    description = xml_text(f"<p>{html_text(exercise.spec.title)}: one numerical answer per question, "
                           "each correctly rounded to the decimals it asks.</p>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<quiz identifier="{ident}" xmlns="http://canvas.instructure.com/xsd/cccv1p0" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://canvas.instructure.com/'
        'xsd/cccv1p0 https://canvas.instructure.com/xsd/cccv1p0.xsd">\n'
        f"  <title>{heading}</title>\n  <description>{description}</description>\n"
        "  <shuffle_answers>false</shuffle_answers>\n  <scoring_policy>keep_highest</scoring_policy>\n"
        "  <hide_results></hide_results>\n  <quiz_type>assignment</quiz_type>\n"
        f"  <points_possible>{points}</points_possible>\n  <show_correct_answers>true</show_correct_answers>\n"
        "  <anonymous_submissions>false</anonymous_submissions>\n  <could_be_locked>false</could_be_locked>\n"
        "  <allowed_attempts>1</allowed_attempts>\n  <one_question_at_a_time>false</one_question_at_a_time>\n"
        "  <cant_go_back>false</cant_go_back>\n  <available>false</available>\n"
        f'  <assignment identifier="{ident}_assignment">\n    <title>{heading}</title>\n'
        "    <workflow_state>unpublished</workflow_state>\n"
        f"    <quiz_identifierref>{ident}</quiz_identifierref>\n"
        f"    <points_possible>{points}</points_possible>\n    <grading_type>points</grading_type>\n"
        "    <submission_types>online_quiz</submission_types>\n  </assignment>\n"
        f"  <assignment_group_identifierref>{group}</assignment_group_identifierref>\n</quiz>\n"
    )


def manifest(exercises, name: str, base: str, line: str) -> str:
    resources = []
    for e in exercises:
        ident = f"{base}_v{e.number:02d}"
        image = image_path(name, e.number)
        resources += [
            f'    <resource identifier="{ident}" type="imsqti_xmlv1p2">\n'
            f'      <file href="{ident}/{ident}.xml"/>\n      <dependency identifierref="{ident}_meta"/>\n'
            "    </resource>\n",
            f'    <resource identifier="{ident}_meta" type="associatedcontent/imscc_xmlv1p1/learning-application-'
            f'resource" href="{ident}/assessment_meta.xml">\n      <file href="{ident}/assessment_meta.xml"/>\n'
            "    </resource>\n",
            f'    <resource identifier="{ident}_image" type="webcontent" href="{xml_text(image)}">\n'
            f'      <file href="{xml_text(image)}"/>\n    </resource>\n',
        ]
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!-- {xml_comment(line)} -->\n'
        f'<manifest identifier="{base}_manifest" xmlns="http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1" '
        'xmlns:imsmd="http://www.imsglobal.org/xsd/imsmd_v1p2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1 http://www.imsglobal.org/xsd/'
        'imscp_v1p1.xsd http://www.imsglobal.org/xsd/imsmd_v1p2 http://www.imsglobal.org/xsd/imsmd_v1p2p2.xsd">\n'
        "  <metadata>\n    <schema>IMS Content</schema>\n    <schemaversion>1.1.3</schemaversion>\n"
        "    <imsmd:lom>\n      <imsmd:general>\n        <imsmd:title>\n"
        f"          <imsmd:string>{xml_text(name)} exercises</imsmd:string>\n"
        "        </imsmd:title>\n      </imsmd:general>\n    </imsmd:lom>\n  </metadata>\n"
        f"  <organizations/>\n  <resources>\n{''.join(resources)}  </resources>\n</manifest>\n"
    )


def files(exercises, name: str, base: str, line: str) -> dict[str, str]:
    """Every file of the package, by its path in the zip."""
    out = {"imsmanifest.xml": manifest(exercises, name, base, line)}
    for e in exercises:
        ident = f"{base}_v{e.number:02d}"
        out[f"{ident}/{ident}.xml"] = assessment(e, name, ident, line)
        out[f"{ident}/assessment_meta.xml"] = assessment_meta(e, name, ident, f"{base}_group")
        out[image_path(name, e.number)] = picture(e, line)
    return out


def zip_bytes(contents: Mapping[str, str | bytes], first: str = "imsmanifest.xml") -> bytes:
    """A zip of ``contents``, the same bytes for the same contents: ``first`` first and stored, the
    rest in sorted order and deflated; every entry dated 1980-01-01 with mode 0644."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for path in [first, *sorted(p for p in contents if p != first)]:
            info = zipfile.ZipInfo(path, ZIP_TIME)
            info.create_system = 3  # Unix, so that the mode below is read
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED if path == first else zipfile.ZIP_DEFLATED
            data = contents[path]
            z.writestr(info, data.encode() if isinstance(data, str) else data)
    return buffer.getvalue()


def package(exercises, name: str, digest: str, seed: int, line: str) -> bytes:
    """``canvas-qti.zip``: one quiz per variant."""
    return zip_bytes(files(exercises, name, identifier(digest, seed), line))
