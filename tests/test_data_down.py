"""Data down: every renderer prints only what it is given.

A `Sealed` model is a `derive.Model` whose computing raises: its methods (a value, training, an
explanation, the check, the audit) and every lazily computed value that was not computed before
sealing. The caller computes what a renderer prints (as the API and the command line do) and seals
the model; each renderer, given those values, must print the committed output byte for byte
(generated/mazur/, which tests/test_build.py keeps fresh), without computing anything above it.
"""

from __future__ import annotations

import pytest
from conftest import ROOT
from networks import ZOO

import derive
from derive import __version__
from derive.notebook import Explained, model_html
from derive.render import text
from derive.render.check_text import as_text
from derive.render.code import c, javascript, numpy_target, python, python_loops
from derive.render.code.header import header
from derive.render.tex import latex, worksheet
from derive.render.web.html import Page
from derive.teaching.exercise import draw

GENERATED = ROOT / "generated" / "mazur"

#: Everything a `Model` computes on demand: methods, and values computed once when first read.
METHODS = ("value", "train", "training_comparisons", "explain", "claim", "quantity", "symbol", "expression",
           "gradient", "expanded_gradient", "gradients", "settings", "after_training", "latex", "html",
           "latex_quantity", "published_notes", "check", "build")
LAZY = ("evaluation", "matrix_form", "explainer", "exact_training", "module", "resolver", "auditor",
        "published_findings")


class Computing(AssertionError):
    """A renderer asked the model to compute."""


def _raising(name: str):
    def method(self, *args, **kwargs):
        raise Computing(f"a renderer called Model.{name}")

    return method


class _NotComputed:
    """A lazy value the caller did not compute before sealing: reading it raises. (A non-data
    descriptor: a value computed before sealing, kept on the instance, is read as it is.)"""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        raise Computing(f"a renderer computed Model.{self.name}")


class Sealed(derive.Model):
    pass


for _name in METHODS:
    setattr(Sealed, _name, _raising(_name))
for _name in LAZY:
    setattr(Sealed, _name, _NotComputed(_name))


def seal(model: derive.Model, *computed: str) -> derive.Model:
    """The model, its ``computed`` lazy values read first (the derivation's data the renderers are
    given), every other computation raising from now on."""
    for name in computed:
        getattr(model, name)
    model.__class__ = Sealed
    return model


DATA = ("evaluation", "explainer", "exact_training", "matrix_form")  # the derivation's values renderers read


def test_a_sealed_model_raises_on_every_computation():
    """The seal itself: each method and each value not computed before sealing raises."""
    model = seal(derive.load(), "evaluation")
    assert model.evaluation.totals  # computed before sealing: read as it is
    for name in METHODS:
        with pytest.raises(Computing):
            getattr(model, name)("dE_total/dw5")
    for name in set(LAZY) - {"evaluation"}:
        with pytest.raises(Computing):
            getattr(model, name)


@pytest.fixture(scope="module")
def mazur():
    """The reference network and every value its outputs print, computed by the API (as the command
    line's build does), then the model sealed."""
    model = derive.load()
    values = {
        "trained": model.after_training(),
        "check": model.check(digits=9),
        "page_runs": model.training_comparisons(model.spec.steps),
        "document_runs": model.training_comparisons(model.spec.steps or 1),
        "findings": model.published_findings,
        "notes": model.published_notes(9),
        "explanation": model.explainer.explain(model.quantity("dE_total/dw5")),
    }
    return seal(model, *DATA), values


def _committed(name: str) -> str:
    return (GENERATED / name).read_text()


def test_the_text_table_and_its_json_print_only_what_they_are_given(mazur):
    model, v = mazur
    build_header = header("text", model.spec, __version__, "build")
    assert build_header + text.text(model, 9, v["trained"]) == _committed("gradients.txt")
    written = text.as_json(model, 9, v["trained"])
    assert '"quantity": "E_total@10000"' in written and '"network": "mazur"' in written


def test_the_check_report_prints_only_the_typed_result(mazur):
    model, v = mazur
    assert header("text", model.spec, __version__, "build") + as_text(v["check"]) == _committed("check.txt")


def test_the_page_prints_only_what_it_is_given(mazur):
    model, v = mazur
    page = Page(model, __version__, 9, v["check"], v["page_runs"], v["findings"], v["notes"]).render()
    assert page == _committed("mazur.html")


def test_the_latex_document_prints_only_what_it_is_given(mazur):
    model, v = mazur
    document = latex.document(model, __version__, 9, v["document_runs"], v["findings"], v["notes"])
    assert document == _committed("mazur.tex")
    block = latex.quantity_block(model.network, v["explanation"], 9)
    assert block.startswith("\\begin{align*}") and "0.0821670406" in block


def test_the_generated_code_needs_only_the_derivation(mazur):
    model, _ = mazur
    assert python.render(model.derivation, __version__) == _committed("gradients.py")
    for code in [python_loops.render(model.network, "0"), numpy_target.render(model.network, "0"),
                 javascript.render(model.derivation), *c.render(model.derivation, model.network, "0", False).values(),
                 *c.render(None, model.network, "0", True).values()]:
        assert code


def test_the_notebook_displays_only_what_they_are_given(mazur):
    model, v = mazur
    shown = model_html(model)
    assert "E_total = 0.298371109" in shown and "<svg" in shown
    explained = Explained.of(v["explanation"], model.network)
    assert "0.0821670406" in explained._repr_html_() and "0.0821670406" in explained._repr_latex_()
    assert "    = 0.0821670406" in str(explained).splitlines()
    assert repr(model).startswith("<derive.Model 'mazur'")


def test_the_worksheet_and_its_key_print_only_what_they_are_given():
    """A variant's sheet and key, its one training step computed by the caller; the same document
    as from the unsealed variant."""
    exercise = draw(derive.Model(derive.parse(ZOO["softmax_sse_shared"], "s.toml")), 1, 7, None, 4)
    variant, questions = exercise.model, exercise.questions
    runs = variant.training_comparisons(1)[:1]
    expected = (worksheet.sheet(variant, questions, 1, "0"), worksheet.key(variant, questions, 1, "0", training=runs))
    sealed = seal(variant, *DATA)
    assert worksheet.sheet(sealed, questions, 1, "0") == expected[0]
    assert worksheet.key(sealed, questions, 1, "0", training=runs) == expected[1]
    assert expected[1].count(r"\boxed{") >= 1


@pytest.mark.parametrize("name", ["softmax_sse_shared", "bce_mean"])
def test_every_output_of_a_network_of_several_samples_prints_from_its_values(name, tmp_path):
    """The API's outputs of a network with several samples and no published numbers, and the same
    printed from a sealed model given the values."""
    model = derive.Model(derive.parse(ZOO[name], f"{name}.toml"))
    trained, check = model.after_training(), model.check(digits=9)
    runs = model.training_comparisons(model.spec.steps or 1)
    expected = {"text": text.text(model, 9, trained), "page": model.html(9, check=check), "tex": model.latex(9)}
    sealed = seal(model, *DATA)
    assert text.text(sealed, 9, trained) == expected["text"]
    page_runs = runs if sealed.spec.steps else []
    assert Page(sealed, __version__, 9, check, page_runs, [], []).render() == expected["page"]
    assert latex.document(sealed, __version__, 9, runs) == expected["tex"]

