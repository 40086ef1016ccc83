"""The page of issue #25's scale network (1x28x28, conv2d 4 filters 3x3 relu, max pooling 2, linear 10
logistic: 6,810 parameters) is under 5 MB and opens in Chromium: its script in loop form, its long runs
of one step elided, each feature map's values printed once; the numbers it shows are the engine's."""

import math
import time
import types

import pytest
from test_browser import assert_shown_are_the_engines, normal, open_page, shown

import derive
from derive.render.code import targets

pytestmark = pytest.mark.slow  # about a minute of CPU: the derivation of 6,810 parameters and the page

LIMIT = 5_000_000  # bytes
ROWS = "[" + ", ".join("[" + ", ".join(f"{((7 * r + 11 * c) % 100) / 100}" for c in range(28)) + "]"
                       for r in range(28)) + "]"
SPEC = f"""name = "mnistish"
input = [1, 28, 28]
loss = "half_sse"
learning_rate = 0.1
seed = 1
[[layer]]
type = "conv2d"
out_channels = 4
kernel_size = 3
activation = "relu"
[[layer]]
type = "maxpool2d"
kernel_size = 2
[[layer]]
type = "linear"
out_features = 10
activation = "logistic"
[[samples]]
inputs = [{ROWS}]
targets = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
"""


def _loop_form_module(model):
    """The generated Python module in the form `derive codegen` writes for this network (loops: its
    straight-line form of 6,810 parameters takes seconds to write and compile, and is the same numbers)."""
    assert targets.loops(targets.TARGETS["python"], model.network)
    (source,) = targets.render("python", None, model.network, derive.__version__, True).values()
    module = types.ModuleType("mnistish_gradients")
    exec(compile(source, "<mnistish gradients.py>", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def scale_page(tmp_path_factory):
    model = derive.Model(derive.parse(SPEC, "mnistish.toml"))
    assert len(model.network.parameters) == 6810
    start = time.process_time()
    text = model.html(check=False)
    seconds = time.process_time() - start
    path = tmp_path_factory.mktemp("scale") / "mnistish.html"
    path.write_text(text)
    return model, path, text, seconds


def test_the_scale_networks_page_is_under_5_mb(scale_page):
    _, _, text, _ = scale_page
    assert len(text.encode()) < LIMIT
    assert "new Float64Array" in text  # the script in loop form
    assert 'class="elided"' in text  # the kernel entries' runs over 676 positions elided


def test_the_scale_networks_page_shows_the_engines_numbers(chrome, scale_page):
    model, path, _, _ = scale_page
    open_page(chrome, path)
    values = shown(chrome)
    assert_shown_are_the_engines(values, model.evaluation)
    assert "dE_total/dw1" in values and "net_h1_2704" in values and "out_h2_676" in values


def test_editing_the_scale_networks_page_recomputes_as_the_module(chrome, scale_page):
    model, path, _, _ = scale_page
    open_page(chrome, path)
    edit = chrome.find_element("css selector", 'input[data-edit="w1"]')
    edit.clear()
    edit.send_keys("0.25\n")
    assert chrome.execute_script("return document.body.dataset.edited") == "true"
    assert chrome.find_elements("css selector", ".stale") == []
    while chrome.find_elements("css selector", "button.more"):  # every row of every table, redrawn
        chrome.find_element("css selector", "button.more").click()
    values = shown(chrome)
    params = {p.name: float(p.value) for p in model.network.parameters} | {"w1": 0.25}
    sample = model.spec.samples[0]
    x, t = [float(v) for v in sample.inputs], [float(v) for v in sample.targets]
    module = _loop_form_module(model)
    unedited = module.gradient({p.name: float(p.value) for p in model.network.parameters}, x, t)
    exact = model.gradients()  # once: a dict of 6,810 gradients (asked per parameter, it was most of the time)
    assert all(math.isclose(g, float(exact[p]), rel_tol=1e-12, abs_tol=1e-300) for p, g in unedited.items())
    gradient = module.gradient(params, x, t)
    rate = float(model.spec.learning_rate)
    for p, g in gradient.items():  # each parameter's gradient and value after one step, in every place shown
        for text in values[f"dE_total/d{p}"]:
            assert math.isclose(float(normal(text)), g, rel_tol=1e-8, abs_tol=1e-15), p  # 9 digits printed
        after = params[p] - rate * g
        assert math.isclose(float(normal(values[f"{p}+"][0])), after, rel_tol=1e-8, abs_tol=1e-15), p
    assert math.isclose(float(normal(values["E_total"][0])), module.loss(params, x, t), rel_tol=1e-8)
