"""Time the generated module's ``train`` per step: plain SGD (which must stay as fast as before the
optimizers were added), against a bare loop of ``train_step`` calls (the least any loop can cost) and,
with ``--baseline DIR`` (a checkout of an earlier derive, e.g. ``git worktree``/``git archive`` of
main), against that version's ``train`` on the same network; then each optimizer and batch mode.

Rounds are interleaved as in bench_train_step.py; each figure is the median over rounds of the time
per step, in CPU time of this process (``time.process_time``), which the other processes of a loaded
2-core machine disturb far less than wall time. Writes the table into the documentation (docs/) between the bench
markers (``--no-readme`` to only print).

    python benchmarks/bench_train_loop.py [--rounds 15] [--baseline DIR] [--no-readme]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from readme import write_table  # noqa: E402

import derive  # noqa: E402

STEPS = 200
FOUR_SAMPLES = """name = "four"
layers = [2, 2, 2]
activation = "logistic"
loss = "half_sse"
bias = "shared"
learning_rate = 0.5
weights = [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]
biases = [[0.35], [0.60]]
""" + "".join(f"[[samples]]\ninputs = [{a}, {b}]\ntargets = [0.01, 0.99]\n" for a, b in
              [(0.05, 0.1), (0.5, 0.2), (-0.3, 0.8), (1.0, -1.0)])


def baseline_module(repo: str, spec_path: str | None):
    """The generated module of an earlier derive (rendered in a subprocess importing it from ``repo``)."""
    code = ("import sys, derive; from derive.render.code.python import render; "
            "print(render(derive.load(sys.argv[1] if len(sys.argv) > 1 else None).derivation, 'baseline'))")
    env = {**os.environ, "PYTHONPATH": repo}
    source = subprocess.run([sys.executable, "-c", code, *([spec_path] if spec_path else [])], env=env,
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("baseline")
    exec(compile(source, "<baseline>", "exec"), module.__dict__)
    return module


def measure(impls, rounds: int) -> dict[str, float]:
    """Median over interleaved rounds of the time per training step."""
    times = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            start = time.process_time()
            fn()
            times[name].append((time.process_time() - start) / STEPS)
    return {name: statistics.median(ts) for name, ts in times.items()}


def cases(baseline: str | None):
    """(network label, {implementation: a function taking STEPS steps})."""
    folder = tempfile.mkdtemp()
    four = Path(folder) / "four.toml"
    four.write_text(FOUR_SAMPLES)
    out = []
    for label, path in [("2-2-2, one sample", None), ("4-16-16-3, one sample", str(HERE / "net_4_16_16_3.toml")),
                        ("2-2-2, four samples", str(four))]:
        model = derive.load(path)
        module = model.module
        samples = [([float(v) for v in s.inputs], [float(v) for v in s.targets]) for s in model.spec.samples]
        start = dict(module.INITIAL)
        impls = {"generated train, sgd": lambda m=module, s=samples, p=start: m.train(p, s, STEPS, frozen=())}
        if len(samples) == 1:
            def bare(m=module, p=start, x=samples[0][0], t=samples[0][1]):
                for _ in range(STEPS):
                    p = m.train_step(p, x, t)
            impls["bare loop of train_step"] = bare
        if baseline:
            old = baseline_module(baseline, path)
            impls["earlier train, sgd"] = lambda m=old, s=samples, p=start: m.train(p, s, STEPS, frozen=())
        if len(samples) > 1:
            for name, options in [("online sgd", {"batch_size": 1}), ("momentum", {"optimizer": "momentum"}),
                                  ("nesterov", {"optimizer": "nesterov"}), ("adam", {"optimizer": "adam"}),
                                  ("adamw", {"optimizer": "adamw", "weight_decay": 0.01}),
                                  ("adam, mini-batches of 2, shuffled", {"optimizer": "adam", "batch_size": 2,
                                                                         "shuffle": True})]:
                impls[f"generated train, {name}"] = (
                    lambda m=module, s=samples, p=start, o=options: m.train(p, s, STEPS, frozen=(), **o))
        out.append((label, impls))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline", metavar="DIR", help="a checkout of an earlier derive to compare with")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    lines = [f"Measured by `python benchmarks/bench_train_loop.py{' --baseline …' if args.baseline else ''}` "
             f"(Python {platform.python_version()}, {args.rounds} interleaved rounds of {STEPS} steps; median time "
             "per step in CPU time, ratio to the generated `train` with plain SGD):", ""]
    for label, impls in cases(args.baseline):
        medians = measure(impls, args.rounds)
        ours = medians["generated train, sgd"]
        lines += [f"**{label}**", "", "| implementation | median µs per step | ratio |", "|---|---:|---:|"]
        for name, m in sorted(medians.items(), key=lambda kv: kv[1]):
            lines.append(f"| {name} | {m * 1e6:.2f} | {m / ours:.2f}× |")
        lines.append("")
    table = "\n".join(lines).rstrip() + "\n"
    print(table)
    if not args.no_readme:
        write_table("train_loop", table)


if __name__ == "__main__":
    main()
