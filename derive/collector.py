"""Python's cyclic collector tuned for derive's work, for the length of one call.

A derivation builds millions of SymPy and mpmath objects that live to the end of the call (the
network's expressions, SymPy's cache, the exact values). At CPython's default thresholds (700, 10, 10)
generation 0 is scanned every 700 allocations and generation 1 every 10th time, and each scan of
generation 1 walks the hundreds of thousands of objects that outlived generation 0, which here all
live on: `derive html` on 64-64-64 spent 1.7 s of its 13 in them (benchmarks/bench_exact.py). At
(10000, 50, 50) the 17 scans of generation 1 were half of what was left; generation 1 now waits for
1,000 (0.17 s; `derive gradients` on 784-32-10: 0.45 s -> 0.14 s), at the same peak memory: what
outlives a collection of generation 0 here lives to the end. The page of tests/test_page_scale.py's
convolutional network (6,810 parameters, `Model.html(check=False)`) took 10.1 to 10.8 s of processor
time at the default and 6.2 to 6.4 s tuned (two runs each, 402 MB at its peak either way).

`tuned()` sets them for a block or a function and puts back what was set before, whatever happens
inside: the command line runs each command in it, and the API's entry points (`derive.Model`'s
computations, `derive.exercise`, `derive.grade`) run in it, so a notebook gets the command's speed and
keeps its own setting between calls. A call inside another keeps the tuned setting.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (10_000, 1_000, 50)


@contextmanager
def tuned() -> Iterator[None]:
    """The collector at `THRESHOLDS` for a block (or, as a decorator, each call: a new context each
    time, so a call inside another restores the tuned setting, and the outer one the original)."""
    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
