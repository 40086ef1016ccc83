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


def test_the_tour_notebook_runs_with_the_right_numbers():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "examples" / "tour.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()  # run in the project folder
    outputs = [c.outputs for c in notebook.cells if c.cell_type == "code"]
    model_shown, explained, summary, claim, trained, plot = outputs
    assert "<svg" in model_shown[0]["data"]["text/html"]
    assert "<math>" in explained[0]["data"]["text/html"] and "text/latex" in explained[0]["data"]
    gradient = independent.gradient(derive.load_spec())["w5"]
    printed = float(summary[0]["text"].split("value")[1])
    assert math.isclose(printed, gradient, rel_tol=1e-15)
    assert claim[0]["text"].splitlines()[0] == "agrees: False"
    assert "the value of dE_total/dw5 given for dE_total/dw6" in claim[0]["text"]
    error = float(trained[0]["text"].split(":")[1])
    assert math.isclose(error, independent.loop_train(derive.load_spec(), 10000, freeze_biases=True)[3], rel_tol=1e-9)
    assert "<polyline" in plot[0]["data"]["text/html"]
