"""The loop form shared by the C, Python and NumPy targets: a network as layers (matrix form), above
a size where straight-line code stops paying (see benchmarks/bench_targets.py)."""

from __future__ import annotations

#: parameters above which C and Python code is written in loop form (measured: benchmarks/bench_targets.py)
LOOP_THRESHOLD = 2000


def loop_form(network) -> bool:
    return len(network.parameters) > LOOP_THRESHOLD
