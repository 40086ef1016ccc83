import gc
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# No cyclic collection while the test modules load (`_collected` turns it back on): what an import makes
# (SymPy, PyTorch, the test modules) lives to the end, so CPython's default thresholds scanned it all again
# and again for nothing: 19 full collections, 1.8 of the 7 s it took to collect the suite.
gc.disable()

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parent.parent

# Every run draws the same examples (derandomized: a red run is a bug, not a bad draw), so a newcomer's
# first run, CI and a run started as a background job all test the same cases. Exploring new random
# examples is an opt-in that goes on finding bugs: `python -m pytest --hypothesis-profile=explore`
# (hypothesis's own option, read after this file; README "Tests").
settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile("deterministic")

# The test files that take longest (seconds of one worker on the project machine, --durations), longest
# first. pytest-xdist (--dist loadfile --no-loadscope-reorder, pyproject.toml) hands out whole files in
# the order they are collected: these start first, and the many short files fill in behind them, so
# that neither worker is left running a long file alone at the end. Only the order changes.
LONGEST = ("test_target_c", "test_lstm", "test_attention", "test_residual", "test_layernorm", "test_batchnorm", "test_target_functions", "test_build_interrupt", "test_rnn",
           "test_c_batch_plain", "test_float32", "test_target_functions_check", "test_page_edits", "test_page_scale",
           "test_conv", "test_pool", "test_fuzz", "test_hostile_inputs", "test_build", "test_prairielearn",
           "test_engine", "test_browser", "test_conv_grids", "test_check", "test_latex", "test_grade_whole_sheet",
           "test_fuzz_surfaces", "test_exercise", "test_torch_reference", "test_grade",
           "test_c_batch")  # last of these: after test_target_c, whose zoo libraries it copies (tests/targets.py)


def _collected() -> None:
    """After collection: one collection of what it left, what lives on frozen (`gc.freeze`: the imported
    modules are not scanned again), and derive's tuned collector (`derive.collector`), as its commands
    and API calls run with, for the tests' own code (their SymPy expressions, pytest's own objects). Over
    the whole suite (two runs side by side, a timer on `gc.callbacks`) the collector took 79.5 s at
    CPython's defaults and 41.4 s tuned, the test processes 657 and 641 s of CPU.
    `tests/test_collector.py` sets the defaults for its own tests."""
    from derive import collector

    gc.collect()
    gc.freeze()
    gc.set_threshold(*collector.THRESHOLDS)
    gc.enable()


def pytest_collection_finish(session):
    _collected()


def pytest_sessionstart(session):
    """pytest-xdist's controller collects nothing (its workers do): its collector goes back on now."""
    if session.config.pluginmanager.has_plugin("dsession"):
        _collected()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """At the very end, after pytest's own last full collection (which reports an exception raised in a
    finalizer of what the tests left): everything that still lives frozen, so the interpreter, ending,
    does not scan it again. The last worker spent 2.8 s after its last test: 1.5 s in pytest's collection
    (freeing 659,227 objects the tuned collector had left), then two passes of 0.6 s over the 1.6 million
    objects that live to the end (gc.callbacks), which the OS takes back at once."""
    gc.freeze()


def pytest_collection_modifyitems(items):
    """The longest files first (`LONGEST`), each file's tests in their own order."""
    rank = {name: i for i, name in enumerate(LONGEST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(LONGEST)))


@pytest.fixture(scope="session")
def _browser():
    """One headless Chromium for every browser test of a test process (a worker of pytest-xdist) that
    takes no screenshot (`browser.UNTHREADED`)."""
    import browser

    driver = browser.start()
    yield driver
    driver.quit()


def _emptied(driver):
    """``driver`` at the desktop size, its logs emptied: each test starts from the same state."""
    driver.set_window_size(1280, 1000)
    for log in ("browser", "performance"):
        driver.get_log(log)
    return driver


@pytest.fixture
def chrome(_browser):
    """The shared browser at the desktop size (it takes no screenshot: ``camera`` does)."""
    return _emptied(_browser)


@pytest.fixture(scope="session")
def _camera():
    """One headless Chromium that can take screenshots, for the tests of a test process that take them."""
    import browser

    driver = browser.start(screenshots=True)
    yield driver
    driver.quit()


@pytest.fixture
def camera(_camera):
    """The desktop browser that takes screenshots (and moves a pointer: `browser.UNTHREADED`), at the
    desktop size, its logs emptied."""
    return _emptied(_camera)


@pytest.fixture(scope="session")
def _phone():
    """One headless Chromium emulating a 390 px phone for every phone test of a test process (starting
    one takes about a second of each core); most of them take screenshots."""
    import browser

    driver = browser.start(390, 844, mobile=True, screenshots=True)
    yield driver
    driver.quit()


@pytest.fixture
def phone(_phone):
    """The shared phone, its logs emptied: each test starts from the same state."""
    for log in ("browser", "performance"):
        _phone.get_log(log)
    return _phone


@pytest.fixture(scope="session")
def reference():
    """The built-in reference model (the article's network)."""
    import derive  # here, not above: a process that loads this file alone (test_input_limits' probe) skips it

    return derive.load()


def spec_text(**over) -> str:
    """A small valid spec as TOML text, with keys replaced or removed (value None)."""
    keys = {
        "name": '"t"', "layers": "[2, 2, 2]", "activation": '"logistic"', "loss": '"half_sse"',
        "bias": '"shared"', "learning_rate": "0.5",
        "weights": "[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]",
        "biases": "[[0.35], [0.60]]",
    }
    samples = over.pop("samples", "[[samples]]\ninputs = [0.05, 0.10]\ntargets = [0.01, 0.99]\n")
    keys.update(over)
    body = "".join(f"{k} = {v}\n" for k, v in keys.items() if v is not None)
    return body + "\n" + samples
