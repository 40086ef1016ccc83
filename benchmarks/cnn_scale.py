"""Time and peak memory of every command on a convolutional network of MNIST's size (issue #25's
"Scale" targets: `derive gradients` and `derive codegen --target c` each under a minute, the page
under 5 MB).

Two networks, 1x28x28 input, weights drawn from ``seed = 1``, one sample:
  (a) the issue's: conv2d 4 filters 3x3 (relu, 4x26x26), max pooling 2 (4x13x13), linear 10
      (6,810 parameters: pooling has none);
  (b) without pooling: conv2d 4 filters 3x3 stride 2 (relu, 4x13x13), linear 10 (the same 6,810).

Each command runs in a fresh process (`derive.cli.main`, so the time includes starting Python and
importing SymPy), its wall time measured around it and its peak memory read from that one child's
rusage (os.wait4, ru_maxrss); ``--repeats`` runs of each, interleaved, the figure the median (peak:
the largest). Writes the table into the documentation (docs/) between the bench:cnn_scale markers.

    python benchmarks/cnn_scale.py [--repeats 3] [--no-readme] [--only gradients,html]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from readme import write_table

HERE = Path(__file__).resolve().parent

CHILD = """
import sys
from derive.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.exit(code or 0)
"""

# (label, derive's arguments before the spec, the file whose size is reported, target seconds, target MB)
COMMANDS = [
    ("gradients", ["gradients"], None, 60.0, None),
    ("codegen c", ["codegen", "--quiet", "--force", "--target", "c", "-o", "{out}/c"], None, 60.0, None),
    ("codegen c --build", ["codegen", "--quiet", "--force", "--target", "c", "--build", "-o", "{out}/cb"], None,
     None, None),
    ("codegen python", ["codegen", "--quiet", "--force", "--target", "python", "-o", "{out}/g.py"], "{out}/g.py",
     None, None),
    ("codegen numpy", ["codegen", "--quiet", "--force", "--target", "numpy", "-o", "{out}/n.py"], "{out}/n.py",
     None, None),
    ("html", ["html", "--quiet", "--force", "-o", "{out}/page.html"], "{out}/page.html", None, 5.0),
    ("check", ["check", "--quiet"], None, None, None),
]


def spec_text(pool: bool) -> str:
    """The network's spec: (a) with max pooling, (b) the stride-2 stand-in; the sample's pixels and
    targets drawn from a fixed generator (the weights from the spec's seed)."""
    rng = random.Random(28)
    pixels = [[[round(rng.uniform(0, 1), 2) for _ in range(28)] for _ in range(28)]]
    targets = [1.0 if k == 3 else 0.0 for k in range(10)]
    conv = 'type = "conv2d"\nout_channels = 4\nkernel_size = 3\nactivation = "relu"\n'
    middle = ('\n[[layer]]\ntype = "maxpool2d"\nkernel_size = 2\n' if pool else "stride = 2\n")
    return (f'name = "{"cnn28_pool" if pool else "cnn28_stride"}"\ninput = [1, 28, 28]\nloss = "half_sse"\n'
            f"learning_rate = 0.1\nseed = 1\n\n[[layer]]\n{conv}{middle}\n[[layer]]\ntype = \"linear\"\n"
            f'out_features = 10\nactivation = "logistic"\n\n[[samples]]\ninputs = {pixels}\ntargets = {targets}\n')


NETWORKS = {
    "(a) 1x28x28, conv 4x3x3, maxpool 2, linear 10": True,
    "(b) 1x28x28, conv 4x3x3 stride 2, linear 10": False,
}


def readable(path: Path) -> tuple[str | None, int]:
    """Whether derive reads the spec: (the reason it refuses, or None; the parameter count)."""
    import derive

    try:
        spec = derive.load_spec(path)
    except derive.SpecError as exc:
        return str(exc), 0
    return None, len(derive.Network(spec).parameters)


def run(arguments: list[str]) -> dict:
    """One command in a fresh process: wall seconds, CPU seconds (user + system: steadier than the wall
    time on a shared machine), its own peak memory (MB)."""
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", CHILD, *arguments],
                                 stdout=sink, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        error = child.stderr.read().decode() if child.stderr else ""
        child.stderr.close()
    if child.returncode not in (0,):
        raise SystemExit(f"derive {' '.join(arguments)} exited {child.returncode}:\n{error}")
    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}


def verdict(seconds: float, size: float | None, target_s: float | None, target_mb: float | None) -> str:
    parts = []
    if target_s:
        parts.append(f"< {target_s:g} s: {'met' if seconds < target_s else 'MISSED'}")
    if target_mb and size is not None:
        parts.append(f"< {target_mb:g} MB: {'met' if size < target_mb else 'MISSED'}")
    return "; ".join(parts)


def measured(title: str, path: Path, count: int, commands, repeats: int, out: Path) -> list[str]:
    """The table's lines for one network: each command ``repeats`` times in turn, each run in a folder of
    its own under ``out`` (the C binding builds once a folder: it keeps its library), medians of the
    wall and processor times, the largest peak, the size of the first run's output."""
    results: dict[str, list[dict]] = {}
    for k in range(repeats):
        for label, arguments, _, _, _ in commands:
            run_out = out / str(k)
            run_out.mkdir(parents=True, exist_ok=True)
            results.setdefault(label, []).append(run([a.format(out=run_out) for a in arguments] + [str(path)]))
            print(f"{title}: {label} {results[label][-1]['seconds']:.1f} s", file=sys.stderr)
    lines = [f"{title}: {count:,} parameters", "", "| command | median s | CPU s | peak MB | output MB | target |",
             "|---|---:|---:|---:|---:|---|"]
    for label, _, output, target_s, target_mb in commands:
        runs = results[label]
        seconds = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        peak = max(r["peak_mb"] for r in runs)
        size = Path(output.format(out=out / "0")).stat().st_size / 1e6 if output else None
        shown = f"{size:.2f}" if size is not None else ""
        lines.append(f"| `derive {label}` | {seconds:.1f} | {cpu:.1f} | {peak:.0f} | {shown} | "
                     f"{verdict(seconds, size, target_s, target_mb)} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--only", help="comma-separated command labels to run (e.g. gradients,html)")
    args = parser.parse_args(argv)
    commands = [c for c in COMMANDS if not args.only or c[0] in args.only.split(",")]
    lines = [
        f"Measured by `python benchmarks/cnn_scale.py` ({args.repeats} interleaved runs per command, each in a "
        "fresh process; time includes starting Python and importing SymPy; CPU is user + system time, steadier "
        "than the wall time on a shared machine; peak is the child's own maximum resident set):",
        "",
    ]
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        for title, pool in NETWORKS.items():
            path = Path(tmp) / f"{'pool' if pool else 'stride'}.toml"
            path.write_text(spec_text(pool))
            refused, count = readable(path)
            if refused:
                notes.append(f"- {title}: skipped, derive refuses the spec: `{refused.split(': ', 1)[-1]}`")
                print(f"{title}: skipped ({refused})", file=sys.stderr)
                continue
            lines += [*measured(title, path, count, commands, args.repeats, Path(tmp) / ("pool" if pool else "stride")),
                      ""]
    table = "\n".join(lines + notes) + "\n"
    print(table)
    if not args.no_readme:
        write_table("cnn_scale", table)


if __name__ == "__main__":
    main()
