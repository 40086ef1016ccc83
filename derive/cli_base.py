"""What every command of the `derive` command line shares: exit codes, the usage error, the argument
parser that fails in one line, argument types and the default output folder."""

from __future__ import annotations

import argparse

from derive.escape import quoted
from derive.model.quantities import MAX_STEPS

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input: exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, instead of argparse's usage dump
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def _check_value(self, action, value):  # argparse's own quotes the whole of a 100 KB choice
        if action.choices is not None and value not in action.choices:
            raise argparse.ArgumentError(action, f"invalid choice: {quoted(value)} (choose from "
                                                 f"{', '.join(map(repr, action.choices))})")


def whole(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {quoted(text)}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value

    return parse


digits = whole(1, 30)
step_count = whole(0, MAX_STEPS)
