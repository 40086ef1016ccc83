"""Time and peak memory of every command on issue #26's scale case with a recurrent layer: hidden
size 16 over 20 steps of 8 features, then a linear output of 1 at every step (``sequence_output =
"all"``), weights drawn from ``seed = 1``, one sample. The issue's target, stated for an LSTM of that
size: `derive gradients` and `derive codegen --target c` each under a minute; measured for the
``type = "rnn"`` layer, and with ``--kind lstm`` for an LSTM (its own table, bench:lstm_scale).

Each command runs in a fresh process (`cnn_scale.run`: ``derive.cli.main`` in a child, its wall time
measured around it, its CPU time and peak memory read from that child's own rusage, os.wait4);
``--repeats`` runs of each, interleaved, the figure the median (peak: the largest). Writes the table
into the documentation (docs/) between the bench:rnn_scale markers.

    python benchmarks/rnn_scale.py [--kind rnn|lstm] [--repeats 3] [--no-readme] [--only gradients,html]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from cnn_scale import COMMANDS as CNN_COMMANDS
from cnn_scale import measured, readable
from readme import write_table

STEPS, FEATURES, HIDDEN = 20, 8, 16

# cnn_scale's commands (label, derive's arguments before the spec, the file whose size is reported, target
# seconds, target MB), with the one target here: a minute for gradients and codegen c
COMMANDS = [(label, arguments, output, target_s, None) for label, arguments, output, target_s, _ in CNN_COMMANDS]


def spec_text(kind: str = "rnn") -> str:
    """The network's spec: the sample's inputs and per-step targets from a fixed generator, the
    weights from the spec's seed."""
    rng = random.Random(26)
    inputs = [[round(rng.uniform(-1, 1), 2) for _ in range(FEATURES)] for _ in range(STEPS)]
    targets = [[round(rng.uniform(-1, 1), 2)] for _ in range(STEPS)]
    activation = 'activation = "tanh"\n' if kind == "rnn" else ""
    return (f'name = "{kind}_scale"\ninput = [{STEPS}, {FEATURES}]\nloss = "half_sse"\nsequence_output = "all"\n'
            f'learning_rate = 0.1\nseed = 1\n\n[[layer]]\ntype = "{kind}"\nhidden_size = {HIDDEN}\n{activation}'
            f'\n[[layer]]\ntype = "linear"\nout_features = 1\nactivation = "identity"\n\n'
            f"[[samples]]\ninputs = {inputs}\ntargets = {targets}\n")


def title(kind: str) -> str:
    shown = "rnn hidden {} (tanh)" if kind == "rnn" else "lstm hidden {}"
    return (f"{shown.format(HIDDEN)} over {STEPS} steps of {FEATURES} features, linear 1 at every step "
            '(sequence_output = "all")')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=["rnn", "lstm"], default="rnn")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--only", help="comma-separated command labels to run (e.g. gradients,html)")
    args = parser.parse_args(argv)
    commands = [c for c in COMMANDS if not args.only or c[0] in args.only.split(",")]
    command = "python benchmarks/rnn_scale.py" + (" --kind lstm" if args.kind == "lstm" else "")
    lines = [
        f"Measured by `{command}` ({args.repeats} interleaved runs per command, each in a "
        "fresh process; time includes starting Python and importing SymPy; CPU is user + system time, steadier "
        "than the wall time on a shared machine; peak is the child's own maximum resident set; `--build` "
        "includes compiling the C):",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{args.kind}_scale.toml"
        path.write_text(spec_text(args.kind))
        refused, count = readable(path)
        if refused:
            raise SystemExit(f"derive refuses the spec: {refused}")
        lines += measured(title(args.kind), path, count, commands, args.repeats, Path(tmp) / "out")
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_readme:
        write_table(f"{args.kind}_scale", table)


if __name__ == "__main__":
    main()
