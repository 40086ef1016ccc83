"""derive's gradients for small recurrent networks (issue #26, ``type = "rnn"``, and with ``--kind lstm``
``type = "lstm"``) against PyTorch (``torch.nn.RNN`` with one bias vector, ``torch.nn.LSTM`` with one
bias per gate, float64, autograd), network by network: the issue's network
(``sequence_output = "all"`` and ``"last"``) and N random draws (1-2 rnn layers, hidden 1-4, 1-6 steps
of 1-3 features, "all" and "last", tanh and relu, with and without bias, 1-3 samples, then a linear
layer of 1-2 outputs). For each network: the largest relative error of E_total and of every gradient
(at its place: layer, tensor, index in PyTorch's layout) from ``derive gradients --json``, and from
each code target: Python straight-line and loop form, NumPy, C straight-line and loop form (compiled;
skipped without a C compiler). The reference is tests/torch_recurrent.py (it reads the spec's TOML
alone); a spec that derive refuses is reported with derive's one-line message. Prints a Markdown
table and a summary; exit 0 when every network agrees everywhere to 1e-12 (abs 1e-15), 1 otherwise.

    python benchmarks/validate_torch_rnn.py [N] [--kind rnn|lstm] [--seed S] [--spec FILE ...] [--no-c]

With ``--kind lstm`` the recurrent layers are LSTMs (hidden 1-3; the second of two is an rnn or an lstm
at random) and the issue's networks are the built-in example ``lstm`` ("all" and "last").
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import torch  # noqa: E402
import torch_recurrent as rec  # noqa: E402
import torch_reference as tr  # noqa: E402

TOLERANCE = 1e-12
#: the code targets compared, each (label, target, loop form)
TARGETS = [("python", "python", False), ("python loops", "python", True), ("numpy", "numpy", True),
           ("c", "c", False), ("c loops", "c", True)]

#: the issue's network (#26), with the linear layer's weights given
ISSUE = tr.spec_toml("issue_all", [3, 2], [
    {"type": "rnn", "hidden_size": 2, "activation": "tanh", "weight_ih": [[0.1, 0.2], [0.3, -0.1]],
     "weight_hh": [[0.5, -0.3], [0.2, 0.4]], "bias": [0.0, 0.1]},
    {"type": "linear", "out_features": 1, "activation": "identity", "weight": [[0.7, -0.2]], "bias": [0.05]}],
    [{"inputs": [[1.0, 2.0], [0.5, 3.0], [0.0, -1.0]], "targets": [[0.5], [1.25], [0.0]]}]).replace(
    'loss = "half_sse"', 'loss = "half_sse"\nsequence_output = "all"')
ISSUE_LAST = ISSUE.replace("issue_all", "issue_last").replace('"all"', '"last"').replace(
    "targets = [[0.5], [1.25], [0.0]]", "targets = [[0.25]]")


LSTM = (ROOT / "derive" / "examples" / "lstm.toml").read_text()
LSTM_LAST = LSTM.replace('sequence_output = "all"', 'sequence_output = "last"').replace(
    "targets = [[0.5], [1.25], [0.0]]", "targets = [[0.25]]")


def draw(seed: int, kind: str = "rnn") -> str:
    """A random small recurrent network: 1-2 rnn layers (hidden 1-4, tanh or relu, bias or none) over
    1-6 steps of 1-3 features, a linear layer of 1-2 outputs (identity or logistic), "all" or "last",
    1-3 samples; numbers uniform in [-1, 1] to 3 decimals."""
    rng = random.Random(seed)
    steps, features = rng.randint(1, 6), rng.randint(1, 3)
    sequence_output, bias = rng.choice(["all", "last"]), rng.random() < 0.5

    def matrix(rows, columns):
        return [[round(rng.uniform(-1, 1), 3) for _ in range(columns)] for _ in range(rows)]

    layers, width = [], features
    for n in range(rng.randint(1, 2)):
        if kind == "lstm" and (n == 0 or rng.random() < 0.5):
            hidden = rng.randint(1, 3)
            layers.append({"type": "lstm", "hidden_size": hidden, "weight_ih": matrix(4 * hidden, width),
                           "weight_hh": matrix(4 * hidden, hidden),
                           "bias": matrix(1, 4 * hidden)[0] if bias else "none"})
        else:
            hidden = rng.randint(1, 4)
            layers.append({"type": "rnn", "hidden_size": hidden, "activation": rng.choice(["tanh", "relu"]),
                           "weight_ih": matrix(hidden, width), "weight_hh": matrix(hidden, hidden),
                           "bias": matrix(1, hidden)[0] if bias else "none"})
        width = hidden
    out = rng.randint(1, 2)
    layers.append({"type": "linear", "out_features": out, "activation": rng.choice(["identity", "logistic"]),
                   "weight": matrix(out, width), "bias": matrix(1, out)[0] if bias else "none"})
    rows = steps if sequence_output == "all" else 1
    samples = [{"inputs": matrix(steps, features), "targets": matrix(rows, out)} for _ in range(rng.randint(1, 3))]
    text = tr.spec_toml(f"rnn_{seed}", [steps, features], layers, samples)
    return text.replace('loss = "half_sse"', f'loss = "half_sse"\nsequence_output = "{sequence_output}"')


def shape_of(text: str) -> str:
    """The network in short: steps x features, each layer (rnn hidden, activation, b or no b), the
    sequence output and the samples; e.g. ``3x2 rnn2tanh lin1 all n1``."""
    t = tomllib.loads(text)
    parts = ["x".join(map(str, t["input"]))]
    for layer in t["layer"]:
        nobias = "" if layer.get("bias") != "none" else "-nb"
        if layer["type"] == "rnn":
            parts.append(f"rnn{layer['hidden_size']}{layer.get('activation', 'tanh')}{nobias}")
        elif layer["type"] == "lstm":
            parts.append(f"lstm{layer['hidden_size']}{nobias}")
        else:
            parts.append(f"lin{layer['out_features']}{nobias}")
    return " ".join([*parts, t.get("sequence_output", "all"), f"n{len(t['samples'])}"])


def _worst(got: dict, want: dict) -> float:
    """The largest relative error (abs floor 1e-15) over the places of ``want``; inf if one is missing."""
    if got.keys() != want.keys():
        return float("inf")
    return max((tr.relative_error(got[p], want[p]) for p in want), default=0.0)


def target_gradients(model, label: str, name: str, loops: bool, folder: Path) -> tuple[float, dict]:
    """E_total and the gradients, by parameter name, from a code target: each sample's (Python and C
    modules, summed over the samples) or every sample's at once (NumPy)."""
    import targets as helpers  # tests/targets.py: renders, compiles (C) and imports a target

    import derive
    from derive.render.code import targets

    inputs = [[float(v) for v in s.inputs] for s in model.spec.samples]
    wanted = [[float(v) for v in s.targets] for s in model.spec.samples]
    if name == "numpy":
        module = helpers.load_numpy(model, folder)
        g = module.gradient(module.INITIAL, inputs, wanted)
        return float(module.loss(module.INITIAL, inputs, wanted)), {p: float(v) for p, v in g.items()}
    if name == "c":
        module = helpers.load_c(model, folder, loops)
    else:
        path = folder / f"{label.replace(' ', '_')}_{time.perf_counter_ns()}.py"
        path.write_text(targets.render("python", model.derivation, model.network, derive.__version__, loops)[
            "gradients.py"])
        module = helpers._import(path)
    loss, total = 0.0, {}
    for x, t in zip(inputs, wanted, strict=True):
        loss += module.loss(module.INITIAL, x, t)
        for p, v in module.gradient(module.INITIAL, x, t).items():
            total[p] = total.get(p, 0.0) + v
    return loss, total


def run(name: str, text: str, folder: Path, compare: list[tuple[str, str, bool]]) -> dict:
    import derive
    from derive.model.layers import place
    from derive.render.code.loops import unlowered

    started = time.perf_counter()
    row = {"name": name, "shape": shape_of(text)}
    want = rec.reference(text)
    try:
        got = tr.derive_gradients(text, folder)
    except tr.DeriveRefused as exc:
        row.update(status=f"refused ({exc})", seconds=time.perf_counter() - started)
        return row
    row["parameters"] = len(want["gradients"])
    row["engine"] = max(tr.relative_error(got["e_total"], want["e_total"]), _worst(got["gradients"], want["gradients"]))
    model = derive.Model(derive.parse(text, "rnn.toml"))
    where = {p.name: (lambda w: tr.place(w["layer"], w["tensor"], w["index"]))(place(model.spec, p))
             for p in model.network.parameters}
    failed = []
    for label, target, loops in compare:
        if loops and unlowered(model.network):  # an rnn after an lstm: straight-line only (numpy refuses it)
            row[label] = None
            continue
        try:
            loss, by_name = target_gradients(model, label, target, loops, folder)
        except Exception as exc:  # a target that does not load or run: reported, the others still compared
            row[label] = float("inf")
            failed.append(f"{label}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        row[label] = max(tr.relative_error(loss, want["e_total"]),
                         _worst({where[p]: v for p, v in by_name.items()}, want["gradients"]))
    errors = [row["engine"]] + [row[label] for label, _, _ in compare if row[label] is not None]
    row["worst"] = max(errors)
    row["status"] = "agrees" if row["worst"] <= TOLERANCE else "DIFFERS"
    if failed:
        row["status"] += " (" + "; ".join(failed) + ")"
    row["seconds"] = time.perf_counter() - started
    return row


def _shown(error: float | None) -> str:
    """An error, "failed" (the target did not load or run) or "n/a" (no loop form: an rnn after an lstm)."""
    return "n/a" if error is None else "failed" if error == float("inf") else f"{error:.1e}"


def table(rows: list[dict], compare: list[tuple[str, str, bool]]) -> str:
    labels = ["engine"] + [label for label, _, _ in compare]
    lines = ["| network | layers | parameters | " + " | ".join(labels) + " | seconds | result |",
             "|---|---|---:|" + "---:|" * len(labels) + "---:|---|"]
    for r in rows:
        numbers = ([str(r["parameters"])] + [_shown(r[k]) for k in labels] if "worst" in r
                   else [""] * (len(labels) + 1))
        lines.append(f"| {r['name']} | {r['shape']} | " + " | ".join(numbers) + f" | {r['seconds']:.2f} | "
                     f"{r['status']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=20, help="random draws (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="the first draw's seed (the draws: seed, seed + 1, ...)")
    parser.add_argument("--spec", action="append", default=[], type=Path, help="a spec file to add (repeatable)")
    parser.add_argument("--no-c", action="store_true", help="leave out the C target (no compiler)")
    parser.add_argument("--kind", choices=["rnn", "lstm"], default="rnn", help="the random draws' recurrent layers")
    args = parser.parse_args(argv)
    compiler = shutil.which("cc") or shutil.which("gcc")
    compare = [c for c in TARGETS if c[1] != "c" or (compiler and not args.no_c)]
    specs = [("issue all", ISSUE), ("issue last", ISSUE_LAST)] if args.kind == "rnn" else [
        ("lstm all", LSTM), ("lstm last", LSTM_LAST)]
    specs += [(path.name, path.read_text()) for path in args.spec]
    specs += [(f"random{args.seed + i}", draw(args.seed + i, args.kind)) for i in range(args.n)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, text in specs:
            rows.append(run(name, text, Path(folder), compare))
            print(f"{name}: {rows[-1]['status']}", file=sys.stderr)
    print(table(rows, compare))
    agree = sum(r["status"] == "agrees" for r in rows)
    refused = sum(r["status"].startswith("refused") for r in rows)
    worst = max((r["worst"] for r in rows if "worst" in r and r["worst"] < float("inf")), default=None)
    engine = max((r["engine"] for r in rows if "engine" in r), default=None)
    failed = sum(any(r.get(label) == float("inf") for label, _, _ in compare) for r in rows)
    straight = sum(any(r.get(label, 0.0) is None for label, _, _ in compare) for r in rows)
    shown = [label for label, _, _ in compare]
    print(f"{agree} of {len(rows)} networks agree with PyTorch to {TOLERANCE:g} (relative; abs 1e-15) in the "
          f"engine and in every code target ({', '.join(shown)}); {refused} refused by derive; largest relative "
          f"error {'-' if engine is None else f'{engine:.1e}'} (engine), {'-' if worst is None else f'{worst:.1e}'} "
          f"(anywhere a target ran); {failed} with a code target that failed to load or run; {straight} without a "
          f"loop form (an rnn after an lstm: n/a); torch {torch.__version__}")
    return 0 if agree == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
