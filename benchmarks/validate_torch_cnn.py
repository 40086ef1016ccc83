"""derive's gradients for small convolutional networks against PyTorch (float64, autograd), spec by
spec: the hand-picked EXAMPLES of tests/torch_reference.py and N random draws of its cnn_specs()
(half of them with ties in max pooling). For each spec, the largest relative error of E_total, of the
gradients (each at its place: layer, tensor, index in PyTorch's layout) and of the parameters'
values; a spec that derive refuses is reported with derive's one-line message. Prints a Markdown
table and a summary; exit 0 when every spec agrees to 1e-12 (abs 1e-15), 1 otherwise. PyTorch is
the test extra's CPU build (``pip install -e .[test]``).

    python benchmarks/validate_torch_cnn.py [N] [--seed S] [--exact-fit] [--spec FILE ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import torch  # noqa: E402
import torch_reference as tr  # noqa: E402

TOLERANCE = 1e-12


def draws(count: int, seed: int | None, ties: bool, exact_fit: bool) -> list[str]:
    """``count`` distinct specs of cnn_specs (reproducible: derandomized, or from ``seed``)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    found: list[str] = []
    if count <= 0:
        return found

    @settings(max_examples=count * 3, derandomize=seed is None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(tr.cnn_specs(ties=ties, exact_fit=exact_fit))
    def collect(text):
        if text not in found and len(found) < count:
            found.append(text)

    (seeded(seed)(collect) if seed is not None else collect)()
    return found


def shape_of(text: str) -> str:
    """The spec's layers in short: input, then each layer (conv kernel/stride/padding, pool, linear)."""
    t = tomllib.loads(text)
    parts = ["x".join(map(str, t["input"])) if isinstance(t["input"], list) else str(t["input"])]
    for layer in t["layer"]:
        kind = layer["type"]
        if kind == "conv2d":
            parts.append(f"conv{layer['out_channels']} k{layer['kernel_size']} s{layer.get('stride', 1)} "
                         f"p{layer.get('padding', 0)}".replace(" ", ""))
        elif kind == "linear":
            parts.append(f"lin{layer['out_features']}")
        else:
            parts.append(f"{kind[:3]}k{layer['kernel_size']}s{layer.get('stride', '=')}".replace(" ", ""))
    return " ".join(parts)


def run(name: str, text: str, folder: Path) -> dict:
    started = time.perf_counter()
    row = {"name": name, "shape": shape_of(text)}
    try:
        found = tr.differences(text, folder)
    except tr.DeriveRefused as exc:
        row.update(status=f"refused ({exc})")
    except tr.SpecNotBuilt as exc:
        row.update(status=f"torch could not build it ({exc})")
    else:
        worst = max(found["e_total"], found["gradients"], found["values"])
        ok = worst <= TOLERANCE and not found["missing"] and not found["extra"]
        status = "agrees" if ok else "DIFFERS"
        if found["missing"] or found["extra"]:
            status += f" ({len(found['missing'])} places only in torch, {len(found['extra'])} only in derive)"
        row.update(found, status=status, worst=worst)
    row["seconds"] = time.perf_counter() - started
    return row


def table(rows: list[dict]) -> str:
    lines = ["| spec | layers | parameters | E_total | gradients | values | derive + torch | result |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        numbers = ([str(r["parameters"])] + [f"{r[k]:.1e}" for k in ("e_total", "gradients", "values")]
                   if "worst" in r else ["", "", "", ""])
        lines.append(f"| {r['name']} | {r['shape']} | " + " | ".join(numbers) + f" | {r['seconds']:.2f} s | "
                     f"{r['status']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=10, help="random draws (default 10; half with ties)")
    parser.add_argument("--seed", type=int, default=None, help="draw from this seed (default: derandomized)")
    parser.add_argument("--exact-fit", action="store_true", help="only strides that drop no cell")
    parser.add_argument("--spec", action="append", default=[], type=Path, help="a spec file to add (repeatable)")
    args = parser.parse_args(argv)
    specs = [(tomllib.loads(t)["name"], t) for t in tr.EXAMPLES]
    specs += [(path.name, path.read_text()) for path in args.spec]
    for ties, count in ((False, args.n - args.n // 2), (True, args.n // 2)):
        label = "tie" if ties else "random"
        specs += [(f"{label}{i + 1}", t) for i, t in enumerate(draws(count, args.seed, ties, args.exact_fit))]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, text in specs:
            rows.append(run(name, text, Path(folder)))
            print(f"{name}: {rows[-1]['status']}", file=sys.stderr)
    print(table(rows))
    agree = sum(r["status"] == "agrees" for r in rows)
    refused = sum(r["status"].startswith("refused") for r in rows)
    worst = max((r["worst"] for r in rows if "worst" in r), default=None)
    print(f"{agree} of {len(rows)} specs agree with PyTorch to {TOLERANCE:g} (relative; abs 1e-15); "
          f"{refused} refused by derive; largest relative error "
          f"{'-' if worst is None else f'{worst:.1e}'}; torch {torch.__version__}")
    return 0 if agree == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
