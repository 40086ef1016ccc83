"""The exact tools at scale (issue #28): `derive gradients`, `derive html` and `derive build` on fully
connected logistic networks from 4-16-16-3 (403 parameters) to 784-32-10 (25,450), and the growth
exponent of each command's cost against the parameter count P (the least-squares slope of log CPU
seconds on log P over those sizes).

Targets: `derive gradients` on 784-32-10 under 10 s and 500 MB; `derive html` on 64-64-64 under 10 s;
`derive build` on 64-64-64 under 30 s; cost at most linear in P (exponent ≤ 1).

Each command runs in a fresh process (`derive.cli.main`, so times include starting Python and
importing SymPy), its wall time, its CPU time (user + system of it and the processes it forks:
steadier than the wall time on a shared machine, but since the check of a large network is shared out
over the cores, more than the wait) and peak memory read from that one child's rusage (os.wait4);
``--repeats`` runs, interleaved, the figure the median (peak: the largest). A target is judged by the
wall time, which is what a user waits: run it on a quiet machine (the load average at the start and
the end is printed with the table). Writes the table into the documentation (docs/) between the
bench:exact markers.

    python benchmarks/bench_exact.py [--repeats 3] [--no-readme] [--only gradients,html] [--sizes 403,8320]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_scale import slope, spec_text
from cnn_scale import run
from readme import write_table

SIZES = {"4-16-16-3": [4, 16, 16, 3], "16-16-16": [16, 16, 16], "32-32-32": [32, 32, 32], "64-64-64": [64, 64, 64],
         "784-32-10": [784, 32, 10]}
PARAMETERS = {"4-16-16-3": 403, "16-16-16": 544, "32-32-32": 2112, "64-64-64": 8320, "784-32-10": 25450}
# label: derive's arguments before the spec ({out}: a fresh folder), {network: (target s, target MB)}
COMMANDS = {
    "gradients": (["gradients", "--quiet"], {"784-32-10": (10.0, 500.0)}),
    "html": (["html", "--quiet", "--force", "-o", "{out}/page.html"], {"64-64-64": (10.0, None)}),
    "build": (["build", "--quiet", "--force", "-o", "{out}/built"], {"64-64-64": (30.0, None)}),
}
BUILD_UP_TO = 8320  # parameters: the build's LaTeX document of 784-32-10 is not one of the targets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--only", help="comma-separated commands (gradients,html,build)")
    parser.add_argument("--sizes", help="comma-separated parameter counts to run (default: all)")
    args = parser.parse_args(argv)
    commands = {k: v for k, v in COMMANDS.items() if not args.only or k in args.only.split(",")}
    sizes = [n for n in SIZES if not args.sizes or str(PARAMETERS[n]) in args.sizes.split(",")]
    results: dict[tuple[str, str], list[dict]] = {}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for network in sizes:
                path = Path(tmp) / f"{network}.toml"
                path.write_text(spec_text(SIZES[network]))
                for label, (arguments, _) in commands.items():
                    if label == "build" and PARAMETERS[network] > BUILD_UP_TO:
                        continue
                    out = Path(tmp) / f"{label}-{network}"
                    out.mkdir(exist_ok=True)
                    result = run([a.format(out=out) for a in arguments] + [str(path)])
                    results.setdefault((label, network), []).append(result)
                    print(f"{label} {network}: {result['cpu']:.2f} s CPU, {result['seconds']:.2f} s, "
                          f"{result['peak_mb']:.0f} MB", file=sys.stderr)
    load.append(os.getloadavg()[0])
    lines = [
        f"Measured by `python benchmarks/bench_exact.py` ({args.repeats} interleaved runs per command and size, "
        "each in a fresh process; times include starting Python and importing SymPy; wall and CPU (user + system "
        "time of the command and the processes it forks) are medians, a target judged by the wall time; peak is "
        "the child's own maximum resident set, the largest; `build` includes compiling the PDF and its LaTeX "
        f"processes' time; load average {load[0]:.2f} at the start, {load[1]:.2f} at the end, on "
        f"{os.cpu_count()} cores):",
        "",
        "| command | network | parameters | CPU s | wall s | peak MB | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    exponents = []
    for label, (_, targets) in commands.items():
        points = []
        for network in sizes:
            runs = results.get((label, network))
            if not runs:
                continue
            cpu = statistics.median(r["cpu"] for r in runs)
            wall = statistics.median(r["seconds"] for r in runs)
            peak = max(r["peak_mb"] for r in runs)
            points.append((PARAMETERS[network], cpu))
            verdict = ""
            if network in targets:
                seconds, mb = targets[network]
                verdict = f"< {seconds:g} s: {'met' if wall < seconds else 'MISSED'}"
                if mb:
                    verdict += f"; < {mb:g} MB: {'met' if peak < mb else 'MISSED'}"
            lines.append(f"| `derive {label}` | {network} | {PARAMETERS[network]:,} | {cpu:.2f} | {wall:.2f} | "
                         f"{peak:.0f} | {verdict} |")
        if len(points) > 1:
            exponents.append(f"`{label}` **{slope(*zip(*points)):.2f}** (P from {points[0][0]:,} to {points[-1][0]:,})")
    lines += ["", "Growth exponent of CPU time against P (target ≤ 1): " + "; ".join(exponents) + "."]
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_readme:
        write_table("exact", table)


if __name__ == "__main__":
    main()
