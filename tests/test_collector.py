"""The command line runs each command with Python's cyclic collector tuned for derive's many
long-lived objects (`cli.COLLECTOR_THRESHOLDS`, issue #28's timings), and puts the process's own
setting back afterwards, whatever the command did: tests and notebooks call `cli.main` in-process."""

import gc

import pytest

from derive import cli


@pytest.mark.parametrize("argv, status", [(["--version"], 0), (["gradients", "/no/such/spec.toml"], 2)])
def test_a_command_runs_with_the_tuned_collector_and_puts_the_old_one_back(monkeypatch, capsys, argv, status):
    seen = []
    original = cli.build_parser

    def parser():
        seen.append(gc.get_threshold())
        return original()

    monkeypatch.setattr(cli, "build_parser", parser)
    before = gc.get_threshold()
    assert before != cli.COLLECTOR_THRESHOLDS
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # (argparse's --version)
        code = exc.code
    assert code == status
    assert seen == [cli.COLLECTOR_THRESHOLDS]
    assert gc.get_threshold() == before
