"""derive's gradients for small networks with the layer kinds of issue #29 against PyTorch (float64,
autograd), network by network: ``--kind layernorm`` (``torch.nn.LayerNorm``), ``residual`` (a block of
``torch.nn.Linear`` and the sum), ``attention`` (one head written with ``torch.softmax``), ``batchnorm``
(``torch.nn.BatchNorm1d`` in training mode, over a batch of 3 samples). The built-in
example of the kind, and N random draws (the tests' own: tests/test_layernorm.py, test_residual.py,
test_attention.py, test_batchnorm.py, each flag drawn at random). For each network: the largest relative
error of E_total and of every gradient (at its place) from ``derive gradients --json``, and from each code target:
Python straight-line and loop form, NumPy, C straight-line and loop form (compiled; skipped without a C
compiler). The references are tests/torch_reference.py and tests/torch_recurrent.py (they read the
spec's TOML alone). A gradient that is exactly 0 by the network's structure (an attention head's key
bias, which every score of a row shares; derive proves it 0, `layers.exact_zeros`, where ball arithmetic
alone left it undecided) is counted apart where torch's is rounding noise (below 1e-12). Prints a
Markdown table and a summary; exit 0 when every network agrees everywhere to 1e-12 (abs 1e-15).

    python benchmarks/validate_torch_layers.py [N] [--kind layernorm|residual|attention|batchnorm] [--seed S] [--no-c]
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

import test_attention  # noqa: E402
import test_batchnorm  # noqa: E402
import test_layernorm  # noqa: E402
import test_residual  # noqa: E402
import torch  # noqa: E402
import torch_recurrent  # noqa: E402
import torch_reference as tr  # noqa: E402
from validate_torch_rnn import TARGETS, TOLERANCE, _shown, target_gradients  # noqa: E402

#: the absolute floor below which a difference counts as none, per kind (1e-15 unless its tests say another:
#: below a batchnorm dE/dx_tj sums to exactly 0 over the batch, so a bias's gradient there is a difference of
#: terms that nearly cancel, which float64 gets to about 1e-15 absolute; test_batchnorm.CANCELLED)
FLOORS = {"batchnorm": test_batchnorm.CANCELLED}

#: per kind: its tests' module (ISSUE, _random_spec), the random spec's flags, and the reference
KINDS = {
    "layernorm": (test_layernorm, ("first", "last", "affine", "bias", "eps", "two"), "plain"),
    "residual": (test_residual, ("first", "last", "bias", "blocks", "norm"), "plain"),
    "attention": (test_attention, ("sequence_output", "causal", "bias", "linear", "rnn"), "sequence"),
    "batchnorm": (test_batchnorm, ("first", "last", "affine", "bias", "eps", "two"), "plain"),
}


def draw(kind: str, seed: int) -> tuple[str, str]:
    """A random network of ``kind`` (its spec) and its flags in short."""
    module, names, _ = KINDS[kind]
    rng = random.Random(seed)
    flags = {name: rng.random() < 0.5 for name in names}
    flags |= {"eps": None} if "eps" in flags else {}
    flags |= {"blocks": rng.randint(1, 2)} if "blocks" in flags else {}
    flags |= {"sequence_output": rng.choice(["all", "last"])} if "sequence_output" in flags else {}
    shape = " ".join(f"{n}={v}" for n, v in flags.items() if v not in (None, False)) or "plain"
    return module._random_spec(seed, **flags), shape


def reference(kind: str, text: str) -> dict:
    if KINDS[kind][2] == "sequence":
        return torch_recurrent.reference(text)
    ref = tr.reference(text)
    return {"e_total": ref.e_total, "gradients": ref.gradients}


def run(kind: str, name: str, shape: str, text: str, folder: Path, compare) -> dict:
    import derive
    from derive.model.layers import place

    started = time.perf_counter()
    want = reference(kind, text)
    got = tr.derive_gradients(text, folder)
    # a gradient exactly 0 by the structure: derive's 0 (or "undecided", None in --json, where nothing proves
    # it), torch's rounding noise
    undecided = [p for p, v in got["gradients"].items() if v is None or (v == 0 and want["gradients"][p] != 0)]
    if any(abs(want["gradients"][p]) > 1e-12 for p in undecided):
        raise AssertionError(f"{name}: derive gives {undecided} exactly 0 or undecided where torch's are not about 0")
    for p in undecided:
        got["gradients"][p] = want["gradients"][p] = 0.0
    row = {"name": name, "shape": shape, "parameters": len(want["gradients"]), "undecided": len(undecided)}
    floor = FLOORS.get(kind, 1e-15)

    def _worst(got: dict, want: dict) -> float:
        if got.keys() != want.keys():
            return float("inf")
        return max((tr.relative_error(got[p], want[p], floor) for p in want), default=0.0)
    row["engine"] = max(tr.relative_error(got["e_total"], want["e_total"]), _worst(got["gradients"], want["gradients"]))
    model = derive.Model(derive.parse(text, f"{kind}.toml"))
    def at(w: dict) -> tuple:  # a residual block's layer [k, j] as (k, j), the reference's
        return tr.place(tuple(w["layer"]) if isinstance(w["layer"], list) else w["layer"], w["tensor"], w["index"])
    where = {p.name: at(place(model.spec, p)) for p in model.network.parameters}
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
    parser.add_argument("--kind", choices=list(KINDS), default="layernorm", help="the layer kind drawn")
    args = parser.parse_args(argv)
    compiler = shutil.which("cc") or shutil.which("gcc")
    compare = [c for c in TARGETS if c[1] != "c" or (compiler and not args.no_c)]
    specs = [("example", f"derive init --like {args.kind}", KINDS[args.kind][0].ISSUE)]
    specs += [(f"random{args.seed + i}", *reversed(draw(args.kind, args.seed + i))) for i in range(args.n)]
    labels = ["engine"] + [label for label, _, _ in compare]
    print("| network | layers | parameters | exactly 0 | " + " | ".join(labels) + " | seconds | result |")
    print("|---|---|---:|---:|" + "---:|" * len(labels) + "---:|---|")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, shape, text in specs:
            r = run(args.kind, name, shape, text, Path(folder), compare)
            rows.append(r)
            errors = " | ".join(_shown(r[k]) for k in labels)
            print(f"| {name} | {shape} | {r['parameters']} | {r['undecided']} | {errors} | {r['seconds']:.2f} | "
                  f"{r['status']} |", flush=True)
    agree = sum(r["status"] == "agrees" for r in rows)
    gradients, undecided = sum(r["parameters"] for r in rows), sum(r["undecided"] for r in rows)
    print(f"\n{agree} of {len(rows)} networks ({gradients} gradients; {undecided} exactly 0 where torch's are "
          "rounding noise) agree with "
          f"PyTorch to {TOLERANCE:g} (relative; abs {FLOORS.get(args.kind, 1e-15):g}) in the engine and in every code "
          "target "
          f"({', '.join(label for label, _, _ in compare)}); "
          f"largest relative error {max(r['engine'] for r in rows):.1e} (engine), "
          f"{max(r['worst'] for r in rows):.1e} (anywhere); torch {torch.__version__}")
    return 0 if agree == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
