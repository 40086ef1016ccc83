"""The page's script in loop form (`derive.render.code.javascript_loops`, above LOOP_THRESHOLD parameters),
run in headless Chromium: every value it returns, kernel steps and display steps, every sample, against
the engine's 60-digit evaluation; and a pooling network's page, whose every visible number is the
engine's, recomputed after an edit as the generated module computes it."""

import math

import pytest
import torch_reference
from hypothesis import HealthCheck, given, settings
from networks import random_specs
from test_browser import assert_shown_are_the_engines, number, open_page, shown

import derive
from derive.render.code import javascript_loops
from derive.render.web import html

EXAMPLES = {derive.parse(text).name: text for text in torch_reference.EXAMPLES}


def loop_values(chrome, model, shown_steps=None):
    """[(QUANTITIES, values) per sample] of the loop-form script."""
    chrome.get("about:blank")
    code = javascript_loops.render(model.derivation, shown_steps)
    params = {p.name: float(p.value) for p in model.network.parameters}
    samples = [[[float(v) for v in s.inputs], [float(v) for v in s.targets]] for s in model.spec.samples]
    names, per = chrome.execute_script(
        code + "\nreturn [QUANTITIES, arguments[1].map((s) => values(arguments[0], s[0], s[1]))];", params, samples)
    return names, per


def agrees(chrome, model, shown_steps=None):
    listed = javascript_loops.quantities(model.derivation, shown_steps)
    assert listed is not None
    names, per = loop_values(chrome, model, shown_steps)
    assert names == [str(q) for q in listed]
    displayed = {str(s.quantity) for s in model.derivation.steps} - {str(s.quantity) for s in model.derivation.kernel}
    expected = displayed if shown_steps is None else set(shown_steps)
    assert set(names) == {str(s.quantity) for s in model.derivation.kernel} | expected
    for s, got in enumerate(per):
        exact = model.evaluation.samples[s]
        assert len(got) == len(listed)
        for q, value in zip(listed, got, strict=True):
            want = float(exact[q])
            assert math.isclose(value, want, rel_tol=1e-9, abs_tol=1e-12 * max(1.0, abs(want))), (s, str(q))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_loop_form_gives_every_value_of_every_sample(chrome, name):
    """Convolutions (strides, padding, no bias), max and average pooling (ties, overlapping windows)."""
    agrees(chrome, derive.Model(derive.parse(EXAMPLES[name])))


@pytest.mark.parametrize("path", ["derive/examples/cnn.toml", "derive/examples/mazur.toml"])
def test_the_loop_form_of_the_examples(chrome, path):
    agrees(chrome, derive.load(path))


def test_the_loop_form_computes_only_the_display_steps_it_is_asked_for(chrome):
    model = derive.Model(derive.parse(EXAMPLES["conv_maxpool_conv"]))
    display = [str(s.quantity) for s in model.derivation.steps if s.phase.value == "display"][:5]
    agrees(chrome, model, set(display))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=random_specs())
def test_the_loop_form_of_random_dense_networks(chrome, text):
    """Dense layers, every activation and loss of the registry, several samples, every bias mode."""
    agrees(chrome, derive.Model(derive.parse(text, "random.toml")))


# -- a pooling network's page, built in loop form -----------------------------------------------------
@pytest.fixture(scope="module")
def pooling_page(tmp_path_factory):
    """conv_maxpool_conv's page with the loop form and the elided runs forced (its 42 parameters are below
    the thresholds), and the same page as it is built today (straight-line)."""
    folder = tmp_path_factory.mktemp("pooling")
    model = derive.Model(derive.parse(EXAMPLES["conv_maxpool_conv"]))
    straight = folder / "straight.html"
    straight.write_text(model.html(check=False))
    loops = folder / "loops.html"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(html, "loop_form", lambda network: True)
        patch.setattr(html, "EMBED_LIMIT", 10)
        loops.write_text(model.html(check=False))
    return model, straight, loops


def test_a_pooling_page_shows_the_engines_numbers(chrome, pooling_page):
    model, straight, loops = pooling_page
    assert "new Float64Array" in loops.read_text() and "new Float64Array" not in straight.read_text()
    exact = model.evaluation
    for path in (straight, loops):
        open_page(chrome, path)
        values = shown(chrome)
        assert len(values) > 200
        assert_shown_are_the_engines(values, exact)


def test_editing_a_pooling_page_recomputes_every_number_as_the_engine(chrome, pooling_page):
    """Both forms after the same edit: every redrawn number of the loop form's page equals the
    straight-line page's to 1e-9, and the edited gradients equal the generated module's."""
    model, straight, loops = pooling_page
    pages = []
    for path in (straight, loops):
        open_page(chrome, path)
        edit = chrome.find_element("css selector", 'input[data-edit="w1"]')
        edit.clear()
        edit.send_keys("0.3\n")
        assert chrome.execute_script("return document.body.dataset.edited") == "true"
        assert chrome.find_elements("css selector", ".stale") == []
        pages.append(shown(chrome))
    assert set(pages[0]) >= set(pages[1])
    for key, texts in pages[1].items():
        for text in texts:  # every occurrence on the loop form's page, against the straight-line page's
            assert math.isclose(number(text), number(pages[0][key][0]), rel_tol=1e-9, abs_tol=1e-15), key
    params = {p.name: float(p.value) for p in model.network.parameters} | {"w1": 0.3}
    sample = model.spec.samples[0]
    gradient = model.module.gradient(params, [float(v) for v in sample.inputs], [float(v) for v in sample.targets])
    for p, g in gradient.items():
        assert math.isclose(number(pages[1][f"dE_total/d{p}"][0]), g, rel_tol=1e-8, abs_tol=1e-15), p


def test_a_long_run_of_the_same_step_is_elided_with_a_note(chrome, pooling_page):
    _, straight, loops = pooling_page
    for path, elided in ((straight, False), (loops, True)):  # conv_maxpool_conv: w1 sums over 16 positions
        open_page(chrome, path)
        chrome.execute_script("document.querySelector('button.pick[data-parameter=\"w1\"]').click()")
        notes = chrome.find_elements("css selector", "#derivation p.elided")
        assert bool(notes) == elided
        if elided:
            said = " ".join(note.text for note in notes)
            for step in ("dE_total/dout_h1_{}", "dout_h1_{}/dnet_h1_{}", "dnet_h1_{}/dw1"):
                assert f"{step.format(4, 4)} to {step.format(15, 15)} (12 steps)" in said
            for k in (1, 2, 3, 16):  # the first three units' steps and the last's are embedded
                assert chrome.find_elements("css selector", f'#derivation [data-derives="dnet_h1_{k}/dw1"]')
            assert not chrome.find_elements("css selector", '#derivation [data-derives="dnet_h1_4/dw1"]')
