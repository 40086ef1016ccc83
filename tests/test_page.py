"""The page's printers without a browser: MathML names and rows (exact strings), the JavaScript
printer, the page's structure (one file, a CSP whose hashes are its scripts', no address to load
anything from), its size, and text from outside escaped."""

import base64
import hashlib
import json
import re
from html.parser import HTMLParser

import pytest
import sympy as sp
from conftest import ROOT, spec_text
from networks import TODAY

import derive
from derive.cli import main
from derive.derivation.explain import NAMES, NUMBERS, VALUE, Row
from derive.model import quantities as Q
from derive.render.code import javascript
from derive.render.web.mathml import RowPrinter, function_name

PAGE = ROOT / "generated" / "mazur" / "mazur.html"


@pytest.mark.parametrize(("quantity", "markup"), [
    ("net_h1", "<msub><mi>net</mi><msub><mi>h</mi><mn>1</mn></msub></msub>"),
    ("E_total", "<msub><mi>E</mi><mi>total</mi></msub>"),
    ("delta_h2_1", "<msub><mi>&#948;</mi><msub><mi>h</mi><mrow><mn>2</mn><mo>,</mo><mn>1</mn></mrow></msub></msub>"),
    ("w5+", "<msup><msub><mi>w</mi><mn>5</mn></msub><mo>+</mo></msup>"),
    ("dE_total/dw5", "<mfrac><mrow><mo>&#8706;</mo><msub><mi>E</mi><mi>total</mi></msub></mrow><mrow><mo>&#8706;</mo>"
                     "<msub><mi>w</mi><mn>5</mn></msub></mrow></mfrac>"),
    ("i2", "<msub><mi>i</mi><mn>2</mn></msub>"),
])
def test_quantity_names_in_mathml(reference, quantity, markup):
    assert RowPrinter(reference.network, 9).quantity(Q.parse(quantity)) == markup


def test_a_row_is_printed_with_names_and_with_numbers_keyed_for_the_page(reference):
    network = reference.network
    t, o = network.symbol(Q.target("o1")), network.symbol(Q.out("o1"))
    expr = sp.Mul(-1, sp.Add(t, -o, evaluate=False), evaluate=False)  # -(t - o), as the loss writes it
    printer = RowPrinter(network, 9)
    names = printer.row(Row(Q.partial(Q.TOTAL_ERROR, Q.out("o1")), NAMES, expr), Q.partial(Q.TOTAL_ERROR, Q.out("o1")))
    assert ("<mrow><mo>&#8722;</mo><mrow><mo>(</mo><mrow><msub><mi>target</mi><msub><mi>o</mi><mn>1</mn></msub></msub>"
            "<mo>&#8722;</mo><msub><mi>out</mi><msub><mi>o</mi><mn>1</mn></msub></msub></mrow><mo>)</mo></mrow></mrow>"
            in names)
    numbers = printer.row(Row(None, NUMBERS, expr, numbers={t: sp.Rational(1, 100), o: sp.Rational(-3, 4)}),
                          Q.TOTAL_ERROR)
    assert ('<mrow data-value="target_o1" class="operand"><mn>0.01</mn></mrow>' in numbers
            and '<mrow data-value="out_o1" class="operand"><mo>(</mo><mn>&#8722;0.75</mn><mo>)</mo></mrow>' in numbers)
    value = printer.row(Row(None, VALUE, value=sp.Float("1.25e-7", 30)), Q.gradient("w5"))
    assert ('<mrow data-value="dE_total/dw5"><mn>1.25000000</mn><mo>&#215;</mo><msup><mn>10</mn><mn>&#8722;7</mn>'
            "</msup></mrow>") in value


def test_long_sums_are_shortened_keeping_the_differentiated_term():
    model = derive.Model(derive.parse(spec_text(layers="[20, 2]", weights=None, biases=None, seed="1",
                                                samples="[[samples]]\ninputs = [" + ", ".join(["0.5"] * 20) + "]\n"
                                                        "targets = [0.1, 0.2]\n")))
    explanation = model.explain("dE_total/dw12")
    html = RowPrinter(model.network, 9).rows(explanation.rows[:1])
    shown = re.findall(r"<mi>w</mi><mn>(\d+)</mn>", html)
    # the left side's and the operator's w12, then w1 w2 w3 ... w12 ... b1 (the first 3, the last 1:
    # derive/render/sums.py, the one rule of every printer of a sum)
    assert shown == ["12", "12", "1", "2", "3", "12"]
    assert html.count("<msub><mi>b</mi><mn>1</mn></msub>") == 1
    assert html.count("&#8943;") == 2


def test_function_names_come_from_their_latex_names():
    assert [function_name(n) for n in (r"\sigma", r"\operatorname{relu}", r"\tanh")] == ["σ", "relu", "tanh"]


def test_the_javascript_is_the_derivation_in_order(reference):
    code = javascript.render(reference.derivation)
    body = code.splitlines()
    assert "  const net_h1 = w1 * i1 + w2 * i2 + b1;" in body
    assert "  const grad_w5 = delta_o1*out_h1;" in body
    assert body.index("  const net_h1 = w1 * i1 + w2 * i2 + b1;") < body.index("  const delta_h1 = "
                                                                              "dE_dout_h1*out_h1*(1.0 - out_h1);")
    quantities = json.loads(next(line for line in body if line.startswith("const QUANTITIES"))[19:-1])
    assert quantities == [str(s.quantity) for s in reference.derivation.steps]


class _Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.current, self.addresses, self.title = [], None, [], ""
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            if name in attrs:
                self.addresses.append(attrs[name])
        if tag == "script":
            self.current = [attrs.get("type"), ""]
        self.in_title = tag == "title" and not self.title  # the page's title, not an SVG element's

    def handle_data(self, data):
        if self.current is not None:
            self.current[1] += data
        if self.in_title:
            self.title += data

    def handle_endtag(self, tag):
        if tag == "script":
            self.scripts.append(tuple(self.current))
            self.current = None
        self.in_title = False


def scan(text: str) -> _Scan:
    parser = _Scan()
    parser.feed(text)
    return parser


def test_the_page_is_one_file_whose_policy_runs_only_its_own_scripts():
    text = PAGE.read_text()
    page = scan(text)
    assert page.addresses == []  # nothing to load: no src, no href (links to follow would be fine)
    code = [body for kind, body in page.scripts if kind is None]
    assert len(code) == 2
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)[1]
    hashes = re.search(r"script-src ([^;]+);", policy)[1].split()
    assert hashes == ["'sha256-" + base64.b64encode(hashlib.sha256(c.encode()).digest()).decode() + "'" for c in code]
    assert "default-src 'none'" in policy and "connect-src" not in policy
    assert len(text.encode()) < 1_000_000
    assert text.startswith("<!DOCTYPE html>\n<!-- Generated by backprop-derive ")


def test_derive_html_writes_the_page_where_it_is_told(tmp_path, capsys):
    out = tmp_path / "page.html"
    assert main(["html", "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert out.read_text() == PAGE.read_text()
    (tmp_path / "mine.html").write_text("my page")
    assert main(["html", "-o", str(tmp_path / "mine.html")]) == 2
    assert "exists and was not generated by derive" in capsys.readouterr().err


def test_text_from_outside_reaches_the_page_escaped(tmp_path):
    title = '</script><script>alert(1)</script> <img src=x onerror=alert(2)> & "quoted" <!-- -->'
    spec = tmp_path / "evil<script>.toml"
    spec.write_text(spec_text(title=json.dumps(title)))
    assert main(["html", str(spec), "-o", str(tmp_path / "t.html")]) == 0
    text = (tmp_path / "t.html").read_text()
    page = scan(text)
    assert page.title == f"{title} — backprop-derive"  # read back as text, whole
    assert page.addresses == [] and len([s for s in page.scripts if s[0] is None]) == 2
    assert "<script>alert" not in text and "<img" not in text


@pytest.mark.parametrize("name", sorted(TODAY))
def test_derive_html_writes_the_page_of_todays_functions(name, tmp_path, capsys):
    """elu's expm1 and gelu's erfc reach the page's JavaScript (erfc as the script's own function)."""
    spec, page = tmp_path / f"{name}.toml", tmp_path / f"{name}.html"
    spec.write_text(TODAY[name])
    assert main(["html", str(spec), "-o", str(page)]) == 0
    script = page.read_text()
    assert ("function _erfc(x)" in script) == (name == "gelus")  # the one network with the exact gelu
