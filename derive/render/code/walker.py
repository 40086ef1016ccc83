"""The one walker of the lowered program (`derive.derivation.lowered`): a code target in loop form is
a `Printer` subclass, one method per statement kind and one per section boundary, that prints lines
in its syntax; the walk, the order of the statements and the sections are the same for every target.
"""

from __future__ import annotations

from derive.derivation import lowered as P


class Printer:
    """A target's syntax over the program: ``units``, ``affine``, ``map``, ``rows``, ``let``,
    ``total``, ``propagate``, ``update`` (one statement's lines), and the section boundaries
    ``begin``, ``outputs_done``, ``error_block``, ``error_done``, ``backward_begin``, ``end``."""

    def __init__(self, program: P.Program):
        self.program = program

    def statement(self, s: P.Statement) -> list[str]:
        return getattr(self, type(s).__name__.lower())(s)

    def statements(self, statements) -> list[str]:
        return [line for s in statements for line in self.statement(s)]

    def begin(self) -> list[str]:
        return []

    def outputs_done(self) -> list[str]:
        """Where the run returns the outputs when it has no targets."""
        return []

    def error_block(self, lines: list[str]) -> list[str]:
        return lines

    def error_done(self) -> list[str]:
        """Where the run returns the error when it computes no gradient."""
        return []

    def backward_begin(self) -> list[str]:
        return []

    def end(self) -> list[str]:
        return []


def walk(program: P.Program, printer: Printer) -> list[str]:
    """The program's lines in ``printer``'s syntax."""
    lines = printer.begin() + printer.statements(program.forward) + printer.outputs_done()
    lines += printer.error_block(printer.statements(program.error)) + printer.error_done()
    lines += printer.statements(program.deltas) + printer.backward_begin() + printer.statements(program.backward)
    return lines + printer.end()
