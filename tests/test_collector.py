"""Every command, and every computation of the API, runs with Python's cyclic collector tuned for
derive's many long-lived objects (`derive.collector`, issue #28's timings) and puts the caller's own
setting back afterwards, whatever happened: tests and notebooks call `cli.main` and the API in-process."""

import gc

import pytest

import derive
from derive import cli, collector


@pytest.fixture
def default_collector():
    """The process at CPython's own thresholds during the test, as a notebook's kernel is."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield (700, 10, 10)
    gc.set_threshold(*before)


@pytest.mark.parametrize("argv, status", [(["--version"], 0), (["gradients", "/no/such/spec.toml"], 2)])
def test_a_command_runs_with_the_tuned_collector_and_puts_the_old_one_back(monkeypatch, default_collector, argv,
                                                                           status):
    seen = []
    original = cli.build_parser

    def parser():
        seen.append(gc.get_threshold())
        return original()

    monkeypatch.setattr(cli, "build_parser", parser)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # (argparse's --version)
        code = exc.code
    assert code == status
    assert seen == [collector.THRESHOLDS]
    assert gc.get_threshold() == default_collector


def test_the_apis_computations_run_tuned_and_put_the_old_setting_back(monkeypatch, default_collector):
    seen = []
    evaluate = derive.evaluate

    def recorded(derivation):
        seen.append(gc.get_threshold())
        return evaluate(derivation)

    monkeypatch.setattr(derive, "evaluate", recorded)
    model = derive.load()
    assert gc.get_threshold() == default_collector
    assert str(model.value("dE_total/dw5")).startswith("0.08216704")
    assert seen == [collector.THRESHOLDS]  # the evaluation, made inside value()
    assert gc.get_threshold() == default_collector


def test_a_call_inside_another_keeps_the_tuned_setting_and_a_failure_puts_the_old_one_back(default_collector):
    with collector.tuned():
        with collector.tuned():
            assert gc.get_threshold() == collector.THRESHOLDS
        assert gc.get_threshold() == collector.THRESHOLDS  # the inner call put back the outer one's setting
    assert gc.get_threshold() == default_collector
    with pytest.raises(ZeroDivisionError), collector.tuned():
        raise ZeroDivisionError
    assert gc.get_threshold() == default_collector
    with pytest.raises(derive.QuantityError):
        derive.load().value("dE_total/dw99")
    assert gc.get_threshold() == default_collector
