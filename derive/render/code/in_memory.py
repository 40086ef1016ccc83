"""The generated Python module executed in memory (`python.compile_module`, and `derive build`'s check
on the text it writes), its ``train_step`` compiled when first called.

Compiling 64-64-64's straight-line module takes 0.55 s, a third of it ``train_step`` (31,000 of its
93,000 lines: the forward pass inline, then every gradient and update), which the check (the module's
use in `derive html`, `derive check` and `derive build`) never calls. The function is compiled from
the same text at the same lines, after the module's imports (the lines it held are left blank in the
rest), so its code, its name, its docstring and a traceback through it are what compiling the whole
text gives; until then
the module holds a function of the same name that compiles it, puts it in its place and calls it.
"""

from __future__ import annotations

import types

DEFERRED = "train_step"


def compiled(source: str, name: str) -> types.ModuleType:
    """``source`` executed as the module ``derive_generated_<name>``, its `DEFERRED` function compiled
    on its first call (a source with no such function, or one not followed by another ``def``, at
    once: whole)."""
    filename = f"<generated {name}>"
    module = types.ModuleType(f"derive_generated_{name}")
    start, end = _span(source)
    if start == end:
        exec(compile(source, filename, "exec"), module.__dict__)
        return module
    # the module's imports at their lines, the rest blank: the compiler writes a call of an imported
    # module's function (math.exp) as it does in the whole text only when it sees the import
    deferred_source = "\n".join(line if line.startswith(("import ", "from ")) else ""
                                for line in source[:start].split("\n")) + source[start:end]
    rest = source[:start] + "\n" * source.count("\n", start, end) + source[end:]
    exec(compile(rest, filename, "exec"), module.__dict__)

    def deferred(*args, **kwargs):
        function = module.__dict__[DEFERRED]
        if function is deferred:  # (a reference kept from before still calls the compiled one)
            exec(compile(deferred_source, filename, "exec"), module.__dict__)
            function = module.__dict__[DEFERRED]
        return function(*args, **kwargs)

    deferred.__name__ = deferred.__qualname__ = DEFERRED
    deferred.__module__ = module.__name__
    module.__dict__[DEFERRED] = deferred
    return module


def _span(source: str) -> tuple[int, int]:
    """Where the `DEFERRED` function's text starts and ends (before the next top-level ``def``): its
    lines are indented, but for its signature's closing ``)``, and every import before it is on one
    line; (0, 0) where it is not found so."""
    head = f"\ndef {DEFERRED}("
    start = source.find(head)
    if start < 0:
        return 0, 0
    end = source.find("\ndef ", start + 1)
    if end < 0:
        return 0, 0
    for line in source[start + 1:end].split("\n")[1:]:
        if line and not line[0].isspace() and not line.startswith(")"):
            return 0, 0  # (something at the top level between them: compiled whole)
    for line in source[:start].split("\n"):
        if line.startswith(("import ", "from ")) and line.rstrip().endswith(("(", "\\")):
            return 0, 0  # (an import of several lines: compiled whole)
    return start + 1, end + 1
