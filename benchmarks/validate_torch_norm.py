"""derive's gradients for small networks with layer normalization (issue #29, ``type = "layernorm"``)
against PyTorch (``torch.nn.LayerNorm``, float64, autograd), network by network: the built-in example
``layernorm`` and N random draws (tests/test_layernorm.py's: a layernorm reading the inputs or after a
tanh layer of 2-4 units, with or without the affine map and beta, one or two in a row, as the last layer
or before a logistic layer; two samples). For each network: the largest relative error of E_total and
of every gradient (at its place) from ``derive gradients --json``, and from each code target: Python
straight-line and loop form, NumPy, C straight-line and loop form (compiled; skipped without a C
compiler). The reference is tests/torch_reference.py (it reads the spec's TOML alone). Prints a
Markdown table and a summary; exit 0 when every network agrees everywhere to 1e-12 (abs 1e-15).

    python benchmarks/validate_torch_norm.py [N] [--seed S] [--no-c]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
import torch_reference as tr  # noqa: E402
from test_layernorm import ISSUE, _random_spec  # noqa: E402
from validate_torch_rnn import TARGETS, TOLERANCE, _shown, _worst, target_gradients  # noqa: E402


def draw(seed: int) -> tuple[str, str]:
    """A random network (its spec) and its shape in short: first/after, affine, bias, one or two, last."""
    rng = random.Random(seed)
    first, last, affine, bias, two = (rng.random() < 0.5 for _ in range(5))
    shape = " ".join(w for w, on in (("first", first), ("last", last), ("no-affine", not affine),
                                     ("no-bias", not bias), ("two", two)) if on) or "plain"
    return _random_spec(seed, first, last, affine, bias, None, two), shape


def run(name: str, shape: str, text: str, folder: Path, compare) -> dict:
    import derive
    from derive.model.layers import place

    started = time.perf_counter()
    ref = tr.reference(text)
    want = {"e_total": ref.e_total, "gradients": ref.gradients}
    got = tr.derive_gradients(text, folder)
    # a gradient that is exactly 0 through irrational values (a layernorm over one feature: var = 0; two in
    # a row: the second undoes any shift of the first's beta) is one ball arithmetic cannot decide: derive
    # prints "undecided" (None in --json) rather than a digit; torch's there is rounding noise
    undecided = [p for p, v in got["gradients"].items() if v is None]
    if any(abs(ref.gradients[p]) > 1e-12 for p in undecided):
        raise AssertionError(f"{name}: derive leaves {undecided} undecided where torch's are not about 0")
    for p in undecided:
        got["gradients"][p] = want["gradients"][p] = 0.0
    row = {"name": name, "shape": shape, "parameters": len(ref.places), "undecided": len(undecided)}
    row["engine"] = max(tr.relative_error(got["e_total"], want["e_total"]), _worst(got["gradients"], want["gradients"]))
    model = derive.Model(derive.parse(text, "layernorm.toml"))
    where = {p.name: (lambda w: tr.place(w["layer"], w["tensor"], w["index"]))(place(model.spec, p))
             for p in model.network.parameters}
    for label, target, loops in compare:
        loss, by_name = target_gradients(model, label, target, loops, folder)
        row[label] = max(tr.relative_error(loss, want["e_total"]),
                         _worst({where[p]: v for p, v in by_name.items()}, want["gradients"]))
    row["worst"] = max(row["engine"], *(row[label] for label, _, _ in compare))
    row["status"] = "agrees" if row["worst"] <= TOLERANCE else "DIFFERS"
    row["seconds"] = time.perf_counter() - started
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=20, help="random draws (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="the first draw's seed")
    parser.add_argument("--no-c", action="store_true", help="leave out the C target (no compiler)")
    args = parser.parse_args(argv)
    compiler = shutil.which("cc") or shutil.which("gcc")
    compare = [c for c in TARGETS if c[1] != "c" or (compiler and not args.no_c)]
    specs = [("example", "linear tanh, layernorm, linear logistic", ISSUE)]
    specs += [(f"random{args.seed + i}", *reversed(draw(args.seed + i))) for i in range(args.n)]
    labels = ["engine"] + [label for label, _, _ in compare]
    print("| network | layers | parameters | undecided | " + " | ".join(labels) + " | seconds | result |")
    print("|---|---|---:|---:|" + "---:|" * len(labels) + "---:|---|")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, shape, text in specs:
            r = run(name, shape, text, Path(folder), compare)
            rows.append(r)
            errors = " | ".join(_shown(r[k]) for k in labels)
            print(f"| {name} | {shape} | {r['parameters']} | {r['undecided']} | {errors} | {r['seconds']:.2f} | "
                  f"{r['status']} |", flush=True)
    agree = sum(r["status"] == "agrees" for r in rows)
    gradients, undecided = sum(r["parameters"] for r in rows), sum(r["undecided"] for r in rows)
    print(f"\n{agree} of {len(rows)} networks ({gradients} gradients; {undecided} exactly 0, undecided) agree with "
          f"PyTorch to {TOLERANCE:g} (relative; abs 1e-15) in the engine and in every code target "
          f"({', '.join(label for label, _, _ in compare)}); "
          f"largest relative error {max(r['engine'] for r in rows):.1e} (engine), "
          f"{max(r['worst'] for r in rows):.1e} (anywhere); torch {torch.__version__}")
    return 0 if agree == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
