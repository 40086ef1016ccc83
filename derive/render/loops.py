"""The loop form shared by the C, Python and NumPy targets: a network as layers (matrix form), above
a size where straight-line code stops paying (see benchmarks/bench_targets.py)."""

from __future__ import annotations

#: parameters above which C and Python code is written in loop form. Measured (C, per training step): at
#: 403 parameters straight-line is a little faster (1.0 vs 1.2 us); at 1,732 loops are (3.3 vs 5.9 us) and
#: straight-line takes 9 s to compile (0.4 s in loops); 8,320 straight-line parameters take 112 s.
LOOP_THRESHOLD = 1000


def loop_form(network) -> bool:
    return len(network.parameters) > LOOP_THRESHOLD
