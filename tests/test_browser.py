"""The web page in real headless Chromium: it opens with no request to anywhere and no console message;
clicking (or pressing Enter on) a parameter highlights its chain-rule path and shows its derivation,
whose numbers agree with an independent route; editing a weight recomputes every number in float64,
as the generated Python module computes them; the page reads on a phone; the page's JavaScript agrees
with the Python module on random networks. Screenshots go to $DERIVE_SCREENSHOTS (or a temporary
folder) for a person to look at."""

import math
import os
from pathlib import Path

import independent
import mpmath
import pytest
from browser import console_errors, requests
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from networks import TODAY, ZOO, random_specs

import derive
from derive.model import quantities as Q
from derive.model.decimals import fmt
from derive.render.code import javascript

PAGES = {"mazur": None, "deep_tanh_relu": ZOO["deep_tanh_relu"], "softmax_ce": ZOO["softmax_ce"]}
LARGE = """name = "wide"
layers = [16, 16, 16]
activation = "logistic"
loss = "half_sse"
bias = "shared"
learning_rate = 0.5
seed = 4
[[samples]]
inputs = [{inputs}]
targets = [{targets}]
""".format(inputs=", ".join(f"{k / 20}" for k in range(16)), targets=", ".join(f"{(k % 7) / 7}" for k in range(16)))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """name -> (model, page path); the reference page is the committed one (its freshness is tested)."""
    folder = tmp_path_factory.mktemp("pages")
    out = {"mazur": (derive.load(), ROOT / "generated" / "mazur" / "mazur.html")}
    for name, text in [*((n, t) for n, t in PAGES.items() if t), ("wide", LARGE)]:
        (folder / f"{name}.toml").write_text(text)
        model = derive.load(folder / f"{name}.toml")
        (folder / f"{name}.html").write_text(model.html(check=False))  # no check section: it is the slow part
        out[name] = (model, folder / f"{name}.html")
    return out


def open_page(driver, path: Path):
    driver.get(path.as_uri())
    assert driver.execute_script("return document.body.dataset.ready") == "true"


def shown(driver, root="document") -> dict[str, list[str]]:
    """Every ``data-value`` element's text, by key."""
    pairs = driver.execute_script(
        f"return Array.from(({root}).querySelectorAll('[data-value]')).map(e => [e.dataset.value, e.textContent]);")
    out: dict[str, list[str]] = {}
    for key, text in pairs:
        out.setdefault(key, []).append(text)
    return out


def assert_shown_are_the_engines(values: dict[str, list[str]], evaluation):
    """Every number ``shown`` on a page (sample 1, or the totals) is the engine's, to its 9 printed
    digits; a hyperparameter's key (eta) is no quantity and is skipped."""
    from derive.model import quantities
    from derive.model.decimals import plain

    for key, texts in values.items():
        try:
            q = quantities.parse(key)
        except quantities.QuantityError:  # a hyperparameter (eta), printed from HYPERPARAMETERS
            continue
        value = evaluation.totals[q] if q in evaluation.totals else evaluation.samples[0][q]
        assert {normal(t) for t in texts} == {plain(value, 9)}, key


def normal(text: str) -> str:
    """A number as the page shows it, as Python writes it: an operand's parentheses off, U+2212 as '-',
    mantissa × 10^exponent (MathML) as mantissa e exponent."""
    text = text.strip("()").replace("\u2212", "-")
    if "\u00d710" in text:
        mantissa, exponent = text.split("\u00d710")
        text = f"{mantissa}e{int(exponent):+d}"
    return text


def number(text: str) -> float:
    return float(normal(text))


def select(driver, name: str):
    driver.execute_script("document.getElementById('p-' + arguments[0]).dispatchEvent(new MouseEvent('click'))", name)
    assert driver.execute_script("return document.body.dataset.selected") == name


@pytest.mark.parametrize("name", [*PAGES, "wide"])
def test_the_page_opens_with_no_request_and_no_console_message(chrome, pages, name):
    _, path = pages[name]
    requests(chrome)  # drop what came before
    chrome.get_log("browser")
    open_page(chrome, path)
    assert requests(chrome) == [path.as_uri()]
    assert console_errors(chrome) == []
    csp = chrome.execute_script("return document.querySelector('meta[http-equiv=Content-Security-Policy]').content")
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_clicking_a_weight_highlights_its_path_and_shows_its_derivation(camera, pages):
    chrome = camera  # a pointer's move waits for a frame from the compositor thread (`browser.UNTHREADED`)
    _, path = pages["mazur"]
    open_page(chrome, path)
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(chrome).move_to_element(chrome.find_element("css selector", "#p-w1 text.label")).click().perform()
    assert chrome.execute_script("return document.body.dataset.selected") == "w1"
    on_path = chrome.execute_script("return Array.from(document.querySelectorAll('.on-path')).map(e => e.id)")
    assert sorted(on_path) == sorted(["p-w1", "n-i1", "n-h1", "n-o1", "n-o2", "p-w5", "p-w7", "n-error"])
    steps = chrome.execute_script(
        "return Array.from(document.querySelectorAll('#derivation .step')).map(e => e.dataset.derives)")
    assert steps == ["dE_o1/dout_h1", "dE_o2/dout_h1", "dE_total/dout_h1", "dout_h1/dnet_h1", "dnet_h1/dw1",
                     "dE_total/dw1", "w1+"]
    panel = shown(chrome, "document.getElementById('derivation')")
    exact = independent.gradient(derive.load_spec())
    assert panel["dE_total/dw1"][-1] == fmt(exact["w1"], 9) == "0.000438567734"
    assert panel["w1+"][-1] == "0.149780716"
    text = chrome.find_element("id", "derivation").text
    assert "delta rule" in text and "Derivation of ∂E_total/∂w1" in text


def test_the_diagram_works_from_the_keyboard(chrome, pages):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    _, path = pages["mazur"]
    open_page(chrome, path)
    params = chrome.find_elements("css selector", "svg.network .param")
    assert len(params) == 10
    assert all(p.get_attribute("tabindex") == "0" and p.get_attribute("role") == "button" for p in params)
    assert chrome.find_element("id", "p-w6").get_attribute("aria-label") == "w6, weight from h2 to o1"
    chrome.execute_script("document.getElementById('p-b2').focus()")
    ActionChains(chrome).send_keys(Keys.ENTER).perform()
    assert chrome.execute_script("return document.body.dataset.selected") == "b2"
    assert chrome.find_element("id", "p-b2").get_attribute("aria-pressed") == "true"
    ActionChains(chrome).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
    assert chrome.execute_script("return document.activeElement.id") == "p-b1"  # Tab goes parameter by parameter
    ActionChains(chrome).send_keys(Keys.SPACE).perform()
    assert chrome.execute_script("return document.body.dataset.selected") == "b1"


@pytest.mark.parametrize("name", PAGES)
def test_every_derivation_ends_in_the_gradient_an_independent_route_gives(chrome, pages, name):
    model, path = pages[name]
    open_page(chrome, path)
    exact = independent.gradient(model.spec)
    for p in model.parameters:
        select(chrome, p)
        panel = shown(chrome, "document.getElementById('derivation')")
        assert normal(panel[f"dE_total/d{p}"][-1]) == fmt(exact[p], 9), p


def module_values(model, params, spec_samples):
    """E_total, every gradient and every update (gradient descent: these pages' optimizer; a frozen
    parameter keeps its value) from the generated Python module, in float64."""
    module = model.module
    scale = 1 / len(spec_samples) if model.spec.reduction == "mean" else 1
    grads = dict.fromkeys(params, 0.0)
    error = 0.0
    for x, t in spec_samples:
        for k, v in module.gradient(params, x, t).items():
            grads[k] += scale * v
        error += scale * module.loss(params, x, t)
    rate = float(model.spec.learning_rate)
    assert model.spec.training.optimizer == "sgd" and not model.spec.training.weight_decay
    return error, grads, {k: params[k] if k in module.FROZEN else params[k] - rate * g for k, g in grads.items()}


@pytest.mark.parametrize("name", PAGES)
def test_editing_a_weight_recomputes_every_number_in_float64(chrome, pages, name):
    model, path = pages[name]
    open_page(chrome, path)
    edit = chrome.find_element("css selector", 'input[data-edit="w2"]')
    edit.clear()
    edit.send_keys("0.7\n")
    assert chrome.execute_script("return document.body.dataset.edited") == "true"
    assert "float64" in chrome.find_element("id", "mode").text
    assert chrome.find_elements("css selector", ".stale") == []
    params = {p.name: float(p.value) for p in model.network.parameters} | {"w2": 0.7}
    samples = [([float(v) for v in s.inputs], [float(v) for v in s.targets]) for s in model.spec.samples]
    error, grads, updated = module_values(model, params, samples)
    values = shown(chrome)
    assert math.isclose(number(values["E_total"][0]), error, rel_tol=1e-8)
    for p in model.parameters:
        for text in values[f"dE_total/d{p}"]:
            assert math.isclose(number(text), grads[p], rel_tol=1e-8, abs_tol=1e-15), p
        assert math.isclose(number(values[f"{p}+"][0]), updated[p], rel_tol=1e-8, abs_tol=1e-15), p
    several = len(samples) > 1
    for s, (x, _) in enumerate(samples):
        outs = model.module.forward(params, x)
        for o, v in zip(model.network.outputs, outs, strict=True):
            key = f"out_{o}[{s + 1}]" if several else f"out_{o}"
            assert math.isclose(number(values[key][0]), v, rel_tol=1e-8), key
    select(chrome, "w5" if name == "mazur" else model.parameters[0])  # a derivation opened after the edit
    assert chrome.find_elements("css selector", "#derivation .stale") == []
    chrome.find_element("id", "reset").click()
    assert chrome.execute_script("return document.body.dataset.edited") is None
    assert shown(chrome)["E_total"][0] == fmt(model.evaluation.totals[Q.TOTAL_ERROR], 9)


def screenshot_folder(tmp_path_factory) -> Path:
    folder = os.environ.get("DERIVE_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("name", [*PAGES, "wide"])
def test_screenshots_at_desktop_and_phone_width(camera, phone, pages, name, tmp_path_factory):
    _, path = pages[name]
    folder = screenshot_folder(tmp_path_factory)
    for driver, tag in [(camera, "desktop"), (phone, "phone")]:
        driver.get_log("browser")
        open_page(driver, path)
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert driver.save_screenshot(str(folder / f"{name}-{tag}.png"))
        assert console_errors(driver) == []


def test_a_large_network_gets_a_usable_page(chrome, pages):
    model, path = pages["wide"]
    open_page(chrome, path)
    drawn = chrome.execute_script("return document.querySelectorAll('svg.network .neuron:not(.dots):not(.error)').length")
    assert drawn == 3 * 7  # 6 neurons, the dots and the last neuron of each layer of 16
    selectable = chrome.find_elements("css selector", "svg.network .param")
    assert 0 < len(selectable) < len(model.parameters)
    select(chrome, selectable[0].get_attribute("data-parameter"))
    rows = "return document.querySelectorAll('table.params tbody tr').length"
    assert chrome.execute_script(rows) == 200
    chrome.find_element("css selector", "button.more").click()
    assert chrome.execute_script(rows) == len(model.parameters) == 16 * 16 * 2 + 2
    last = chrome.find_element("css selector", 'table.params [data-value="dE_total/dw512"]').text
    params = independent.parameters(model.spec)
    with mpmath.workdps(independent.DPS):
        up, down = dict(params), dict(params)
        up["w512"] += independent.STEP
        down["w512"] -= independent.STEP
        exact = (independent.total_error(model.spec, up) - independent.total_error(model.spec, down)) / (2 * independent.STEP)
    assert last == fmt(exact, 9)


def test_more_rows_after_an_edit_are_computed_once(chrome, pages):
    """The rows a "more" button shows after an edit are redrawn from one computation of the network,
    not one a row (a 1x28x28 network's page computed its 6,810 parameters 500 times a click)."""
    model, path = pages["wide"]
    open_page(chrome, path)
    edit = chrome.find_element("css selector", 'input[data-edit="w1"]')
    edit.clear()
    edit.send_keys("0.25\n")
    chrome.execute_script("""let kept; window.computed = 0;
        Object.defineProperty(window, "deriveShown", {configurable: true, get: () => kept,
                                                       set: (v) => { window.computed += 1; kept = v; }});""")
    chrome.find_element("css selector", "button.more").click()
    assert chrome.execute_script("return window.computed") == 1
    rows = "return document.querySelectorAll('table.params tbody tr').length"
    assert chrome.execute_script(rows) == len(model.parameters)
    assert chrome.find_elements("css selector", "table.params .stale") == []
    values = shown(chrome, "document.querySelector('table.params')")
    gradient = model.module.gradient({p.name: float(p.value) for p in model.network.parameters} | {"w1": 0.25},
                                     *([float(v) for v in vs] for vs in (model.spec.samples[0].inputs,
                                                                         model.spec.samples[0].targets)))
    assert math.isclose(float(normal(values["dE_total/dw512"][0])), gradient["w512"], rel_tol=1e-8, abs_tol=1e-15)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=random_specs())
def test_the_javascript_agrees_with_the_python_module(chrome, text):
    _javascript_agrees(chrome, derive.Model(derive.parse(text, "random.toml")))


@pytest.mark.parametrize("name", sorted(TODAY))
def test_the_javascript_of_todays_functions_agrees_with_the_python_module(chrome, name):
    """elu (expm1), gelu (erfc, which JavaScript lacks: the script carries its own), silu, leaky relu."""
    _javascript_agrees(chrome, derive.Model(derive.parse(TODAY[name], f"{name}.toml")))


def test_the_pages_erfc_is_within_2e13_of_the_exact_value(chrome):
    chrome.get("about:blank")
    points = [k / 50 for k in range(-300, 1300)] + [1.999999, 2.0, 2.000001, 1e-300, 0.0]
    got = chrome.execute_script(javascript.ERFC + "\nreturn arguments[0].map(_erfc);", points)
    with mpmath.workdps(40):
        for x, value in zip(points, got, strict=True):
            exact = float(mpmath.erfc(x))
            assert abs(value - exact) <= 2e-13 * exact, (x, value, exact)


def _javascript_agrees(chrome, model):
    chrome.get("about:blank")
    params = dict(model.module.INITIAL)
    sample = model.spec.samples[0]
    x, t = [float(v) for v in sample.inputs], [float(v) for v in sample.targets]
    names, values = chrome.execute_script(javascript.render(model.derivation) +
                                          "\nreturn [QUANTITIES, values(arguments[0], arguments[1], arguments[2])];",
                                          params, x, t)
    js = dict(zip(names, values, strict=True))
    gradient = model.module.gradient(params, x, t)
    scale = max(1.0, *(abs(g) for g in gradient.values()))
    for p, g in gradient.items():
        assert math.isclose(js[f"dE_total/d{p}"], g, rel_tol=1e-9, abs_tol=1e-12 * scale), p
    for o, v in zip(model.network.outputs, model.module.forward(params, x), strict=True):
        assert math.isclose(js[f"out_{o}"], v, rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(js["E_total"], model.module.loss(params, x, t), rel_tol=1e-9, abs_tol=1e-15)
    exact = model.evaluation.samples[0]
    for step in model.derivation.steps:  # the display factors too, against the 60-digit evaluation
        value = float(exact[step.quantity])
        if math.isfinite(value):
            assert math.isclose(js[str(step.quantity)], value, rel_tol=1e-7, abs_tol=1e-9 * max(1, abs(value))), step
