"""Jupyter: a Model and an explanation display themselves (HTML with MathML, LaTeX) and stay data for
code; examples/tour.ipynb runs top to bottom in a real kernel (nbclient) with the right numbers."""

import math

import independent
import pytest
from conftest import ROOT

import derive
from derive.model.decimals import fmt


def test_an_explanation_displays_itself_and_is_still_data(reference):
    explained = reference.explain("dE_total/dw5")
    assert [str(step[0].lhs) for step in explained.steps] == ["dnet_o1/dw5", "dE_total/dw5", "w5+"]
    assert math.isclose(explained.value, independent.gradient(reference.spec)["w5"], rel_tol=1e-20)
    html = explained._repr_html_()
    assert html.count("<math>") >= 10 and '<mrow data-value="dE_total/dw5"><mn>0.0821670406</mn></mrow>' in html
    latex = explained._repr_latex_()
    assert latex == reference.latex_quantity("dE_total/dw5")
    assert latex.startswith("\\begin{align*}\n\\frac{\\partial \\mathrm{net}_{o_{1}}}{\\partial w_{5}}")


def test_a_model_displays_its_diagram_and_every_parameter(reference):
    html = reference._repr_html_()
    assert html.count("<svg") == 1 and html.count("<tr>") == 1 + len(reference.parameters)
    assert f"<td>w5</td><td>0.4</td><td>{fmt(independent.gradient(reference.spec)['w5'], 9)}</td>" in html


@pytest.fixture(scope="module")
def tour():
    """examples/tour.ipynb executed top to bottom in a real kernel: each code cell's outputs."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "examples" / "tour.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()  # run in the project folder
    return [c.outputs for c in notebook.cells if c.cell_type == "code"]


def test_the_tour_notebook_runs_with_the_right_numbers(tour):
    model_shown, explained, summary, claim, trained, plot = tour
    assert "<svg" in model_shown[0]["data"]["text/html"]
    assert model_shown[0]["data"]["text/plain"].startswith("<derive.Model 'mazur': layers 2-2-2")
    assert "<math>" in explained[0]["data"]["text/html"] and "text/latex" in explained[0]["data"]
    gradient = independent.gradient(derive.load_spec())["w5"]
    printed = float(summary[0]["text"].split("value")[1])
    assert math.isclose(printed, gradient, rel_tol=1e-15)
    lines = claim[0]["text"].splitlines()
    assert lines[0] == f"Your dE_total/dw6 = 0.0822: not correct. The correct value is {fmt(independent.gradient(derive.load_spec())['w6'], 9)}."
    assert "the value of dE_total/dw5 given for dE_total/dw6" in claim[0]["text"]
    error = float(trained[0]["text"].split(":")[1])
    assert math.isclose(error, independent.loop_train(derive.load_spec(), 10000, freeze_biases=True)[3], rel_tol=1e-9)
    assert "<polyline" in plot[0]["data"]["text/html"]


#: A notebook front end in a dark theme: nothing of the page's stylesheet, a dark ground, light text.
DARK = ('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="background:#111418;color:#e6e6e6;'
        'margin:8px;font:14px sans-serif">{}</body></html>')
PROBES = """
const out = {};
const svgOf = (el) => el.ownerSVGElement;
const point = (el, x, y) => { const p = svgOf(el).createSVGPoint(); p.x = x; p.y = y;
  const q = p.matrixTransform(el.getScreenCTM()); return [q.x, q.y]; };
const circle = document.querySelector("svg.network circle");
const c = circle.getBoundingClientRect();
out.neuron = [c.x + c.width / 2, c.y + c.height / 2 + 0.7 * c.height / 2];
const line = document.querySelector("svg.network line.edge");
const [x1, y1, x2, y2] = ["x1", "y1", "x2", "y2"].map((k) => line[k].baseVal.value);
out.edge = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7].map((t) => point(line, x1 + t * (x2 - x1), y1 + t * (y2 - y1)));
const s = document.querySelector("svg.network").getBoundingClientRect();
out.backdrop = [s.x + 6, s.y + 12];
const curve = document.querySelector("svg.plot polyline").getBoundingClientRect();
out.curve = [curve.x, curve.y, curve.width, curve.height];
return out;
"""


def test_the_notebooks_pictures_are_drawn_in_their_own_colours_on_a_dark_theme(tour, tmp_path, camera):
    """The tour's pictures (the model's diagram, the loss curve) as a notebook shows them, without the
    page's stylesheet, on a dark theme, looked at as pixels: a neuron is a light disc (not a black one),
    an edge is a visible grey line, the picture has its own light ground, and the loss curve is a line
    (not a black filled area)."""
    import io

    from PIL import Image

    html = "".join(out["data"]["text/html"] for cell in tour for out in cell if "text/html" in out.get("data", {}))
    page = tmp_path / "notebook.html"
    page.write_text(DARK.format(html), encoding="utf-8")
    camera.set_window_size(1000, 2600)
    camera.get(page.as_uri())
    probes = camera.execute_script(PROBES)
    picture = Image.open(io.BytesIO(camera.get_screenshot_as_png())).convert("RGB")
    ratio = picture.width / camera.execute_script("return window.innerWidth")

    def pixel(x, y):
        return picture.getpixel((round(x * ratio), round(y * ratio)))

    assert min(pixel(*probes["neuron"])) > 230, pixel(*probes["neuron"])  # white fill, not black
    assert min(pixel(*probes["backdrop"])) > 230  # the picture's own light ground on the dark page
    greys = [pixel(x, y) for x, y in probes["edge"]]
    assert any(min(p) > 90 and max(p) < 215 for p in greys), greys  # the grey line is drawn
    x, y, w, h = (v * ratio for v in probes["curve"])
    box = picture.crop((round(x), round(y), round(x + w), round(y + h)))
    raw = box.tobytes()
    dark = sum(1 for k in range(0, len(raw), 3) if max(raw[k:k + 3]) < 80)
    assert dark / (box.width * box.height) < 0.02, dark  # a line, not a filled area
