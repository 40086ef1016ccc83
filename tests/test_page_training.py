"""The web page's training section (issue 15 on the page of issue 13): the spec's optimizer described,
its update of one parameter derived with numbers, the optimizer's state over the first steps and the
runs side by side, each number against an independent implementation (tests/independent*.py)."""

import math
import re
from importlib import resources

import independent
import independent_training as ind
import pytest

import derive
from derive.model.spec import parse

REFERENCE = (resources.files("derive.examples") / "mazur.toml").read_text()


def _adam_text() -> str:
    """The reference with Adam (learning rate 0.05) for 1000 steps, biases frozen."""
    text = REFERENCE.replace("learning_rate = 0.5\nsteps = 10000\n", "")
    assert text != REFERENCE
    return text.replace("freeze_biases = true", 'freeze_biases = true\n[training]\noptimizer = "adam"\n'
                        "learning_rate = 0.05\nsteps = 1000")


@pytest.fixture(scope="module")
def adam():
    model = derive.Model(parse(_adam_text(), "adam.toml"))
    return model, model.html()


def _section(page: str) -> str:
    return page[page.index('<h2 id="training-heading">'):page.index("</section>", page.index('"training-heading"'))]


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", row)]


def _float_gradient(spec):
    def gradient(params, inputs, targets):
        return {k: float(v) for k, v in independent.gradient(spec, params).items()}
    return gradient


def test_the_state_table_is_adams_state_by_the_formulas(adam):
    """m, v, m-hat, v-hat and the parameter after each of the first 3 steps, for every trained
    parameter, to the 6 significant digits printed, against an independent Adam (finite-difference
    gradients at 60 digits)."""
    model, page = adam
    section = _section(page)
    table = section[section.index("over the first 3 steps"):]
    table = table[:table.index("</table>")]
    header = re.sub(r"<[^>]+>", "|", table[table.index("<tr>"):table.index("</tr>")]).split("|")
    assert [h for h in header if h] == ["step", "g", "m", "v", "m̂", "v̂", "after the step"]
    rows = [_cells(r) for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]]
    trained = [p.name for p in model.network.parameters if p.kind == "weight"]
    assert len(rows) == 3 * len(trained) == 24
    spec = model.spec
    x, y = [float(v) for v in spec.samples[0].inputs], [float(v) for v in spec.samples[0].targets]
    start = {k: float(v) for k, v in independent.parameters(spec).items()}
    for t in (1, 2, 3):
        params, state = ind.run(_float_gradient(spec), start, [(x, y)], t, optimizer="adam", lr=0.05,
                                frozen=("b1", "b2"))
        before, _ = ind.run(_float_gradient(spec), start, [(x, y)], t - 1, optimizer="adam", lr=0.05,
                            frozen=("b1", "b2"))
        gradient = _float_gradient(spec)(before, x, y)
        for k, name in enumerate(trained):
            step, g, m, v, mhat, vhat, after = rows[3 * k + t - 1][1:]
            s = state[name]
            want = {"g": gradient[name], "m": s["m"], "v": s["v"], "mhat": s["m"] / (1 - 0.9**t), "vhat": s["v"] / (1 - 0.999**t),
                    "after": params[name]}
            for got, key in ((g, "g"), (m, "m"), (v, "v"), (mhat, "mhat"), (vhat, "vhat"), (after, "after")):
                assert math.isclose(float(got.replace("−", "-")), want[key], rel_tol=6e-6), (name, t, key, got, want)
            assert step == str(t)
    assert "Frozen, keeping their values and no state: b1, b2." in section


def test_the_update_is_described_and_written_as_the_pdf_writes_it(adam):
    model, page = adam
    section = _section(page)
    assert ("Training: adam (learning rate 0.05, betas 0.9 0.999, eps 1e-08), full batch, biases frozen. "
            "The update rule of Adam for one parameter, ") in section
    assert "<msub><mi>&#946;</mi><mn>2</mn></msub>" in section  # beta2 as the letter, not the word
    assert "beta2" not in section and "<mi>eps</mi>" not in section
    # v = (1 - beta2) g^2: the gradient squared in parentheses, as the PDF prints it
    assert ("<msup><mrow><mo>(</mo><mfrac><mrow><mo>&#8706;</mo><msub><mi>E</mi><mi>total</mi></msub></mrow>"
            "<mrow><mo>&#8706;</mo><msub><mi>w</mi><mn>5</mn></msub></mrow></mfrac><mo>)</mo></mrow><mn>2</mn></msup>"
            in section)
    assert (r"\left(\frac{\partial E_{\mathrm{total}}}{\partial w_{5}}\right)^{2}" in model.latex())
    # w5 after step 1 as w5^(1), its value Adam's first step: p - lr * sign(g) (m-hat/sqrt(v-hat) = 1)
    assert "<msup><msub><mi>w</mi><mn>5</mn></msub><mrow><mo>(</mo><mn>1</mn><mo>)</mo></mrow></msup>" in section
    g = float(independent.gradient(model.spec)["w5"])
    first = 0.4 - 0.05 * g / (abs(g) + 1e-8)
    assert f"<mn>{first:.9f}</mn>" in section
    assert 'data-value="w5@1"' not in section  # the 60-digit steps are not redrawn from edits


def test_the_reference_page_compares_frozen_and_trained_biases(reference):
    section = _section(reference.html())
    assert "Training: sgd (learning rate 0.5), full batch, biases frozen." in section
    assert "Biases frozen (as the spec says) and biases trained, side by side (10000 steps each):" in section
    assert section.count("<svg") == 1 and "biases trained</text>" in section
    rows = {c[0]: c for c in (_cells(r) for r in re.findall(r"<tr>(.*?)</tr>", section, re.S)) if c and "biases" in c[0]}
    for label, frozen in (("biases frozen (as the spec says)", True), ("biases trained", False)):
        _, _, first, error = independent.loop_train(reference.spec, 10000, freeze_biases=frozen)
        _, steps, before, after_first, after, _ = rows[label]
        assert steps == "10000" and before == "0.298371109"
        assert math.isclose(float(after_first), first, rel_tol=1e-8)
        assert math.isclose(float(after), error, rel_tol=1e-8), (label, after, error)


def test_a_spec_without_steps_has_no_training_section(tmp_path):
    text = REFERENCE.replace("steps = 10000\n", "")
    assert 'id="training-heading"' not in derive.Model(parse(text, "t.toml")).html()
