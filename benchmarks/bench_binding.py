"""Time the C target's binding in its natural forms against the generated Python, and its per-call
overhead against ctypes' own: one ``train_step`` on 2-2-2 and on 4-16-16-3, with the parameters as a
dict (the same one each call), as the mapping it returned passed back (``params = train_step(params,
x, t)``, a training loop), a list, a ctypes vector and a NumPy array (inputs and targets NumPy arrays
too); beside them a ctypes call of the C ``train_step`` with its arguments made ahead, and a ctypes
call of an empty C function of the same four arguments (compiled here), the floor of any call
through ctypes. Rounds are interleaved (every contender once a round); each figure is the median
over rounds of the processor time per call (the machine is shared). Writes the table into the
documentation (docs/) between the binding markers (``--no-readme`` to only print).

    python benchmarks/bench_binding.py [--rounds 31] [--no-readme]
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import operator
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy  # noqa: E402
from readme import write_table  # noqa: E402

import derive  # noqa: E402
from derive.render.code import c, targets  # noqa: E402

EMPTY = ("void empty(double *p, const double *x, const double *t, double rate)\n"
         "{ (void)p; (void)x; (void)t; (void)rate; }\n")


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(f"{path.stem}_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def empty_function(folder: Path):
    """A C function of train_step's four arguments that does nothing, compiled as the binding's library is."""
    source, library = folder / "empty.c", folder / "empty.so"
    source.write_text(EMPTY)
    compiler = os.environ.get("CC") or next(filter(shutil.which, ["cc", "gcc", "clang"]))
    subprocess.run([compiler, "-O2", "-fPIC", "-shared", "-o", str(library), str(source)], check=True)
    function = ctypes.CDLL(str(library)).empty
    function.restype = None
    return function


def implementations(model, folder: Path, empty):
    x = [float(v) for v in model.spec.samples[0].inputs]
    t = [float(v) for v in model.spec.samples[0].targets]
    (folder / "py").mkdir()
    (source,) = targets.render("python", model.derivation, model.network, derive.__version__, False).values()
    (folder / "py" / "gradients.py").write_text(source)
    pmod = _import(folder / "py" / "gradients.py")
    (folder / "c").mkdir()
    for name, text in c.render(model.derivation, model.network, derive.__version__, False).items():
        (folder / "c" / name).write_text(text)
    cmod = _import(folder / "c" / c.BINDING)
    cmod.build()
    params = dict(pmod.INITIAL)
    mapping, looped, flat = dict(cmod.INITIAL), [dict(cmod.INITIAL)], list(cmod.INITIAL.values())
    vector, array, xs, ts = cmod.vector(), numpy.array(flat), numpy.array(x), numpy.array(t)
    raw, rate = cmod._c().train_step, ctypes.c_double(cmod.LEARNING_RATE)
    raw_x, raw_t = (ctypes.c_double * len(x))(*x), (ctypes.c_double * len(t))(*t)

    def loop():
        looped[0] = cmod.train_step(looped[0], x, t)

    names, scratch = operator.itemgetter(*cmod.PARAMETERS), cmod.vector()
    pack = struct.Struct(f"{len(flat)}d").pack_into
    floats = memoryview(vector).cast("B").cast("d")

    def copies():  # what any binding does with two lists of numbers: copy them into C arrays
        raw_x[:] = x
        raw_t[:] = t

    contenders = {
        "generated Python `train_step`, a dict": lambda: pmod.train_step(params, x, t),
        "C binding, a dict (the same one each call)": lambda: cmod.train_step(mapping, x, t),
        "C binding, the mapping it returned passed back": loop,
        "C binding, a list": lambda: cmod.train_step(flat, x, t),
        "C binding, a ctypes vector (in place)": lambda: cmod.train_step(vector, x, t),
        "C binding, a NumPy array (in place; NumPy inputs and targets)": lambda: cmod.train_step(array, xs, ts),
        "ctypes call of the C `train_step`, arguments made ahead": lambda: raw(vector, raw_x, raw_t, rate),
        "ctypes call of an empty C function of the same arguments": lambda: empty(vector, raw_x, raw_t, rate),
    }
    parts = {  # the floors: the cheapest calls CPython has for each part of the work
        "read the dict's values in order": lambda: names(mapping),
        "convert the numbers into doubles": lambda: pack(scratch, 0, *flat),
        "make the result's floats": floats.tolist,
        "copy inputs and targets": copies,
    }
    return contenders, parts


def measure(impls, rounds: int, budget: float = 0.02) -> dict[str, float]:
    """Median over interleaved rounds of the processor time per call (calls per round calibrated to
    fill about ``budget`` seconds)."""
    calls = {}
    for name, fn in impls.items():
        fn()
        start, n = time.process_time(), 0
        while time.process_time() - start < budget / 4:
            fn()
            n += 1
        calls[name] = max(1, 4 * n)
    times = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            n = calls[name]
            start = time.process_time()
            for _ in range(n):
                fn()
            times[name].append((time.process_time() - start) / n)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    models = [derive.load(), derive.load(HERE / "net_4_16_16_3.toml")]
    results, labels = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        empty = empty_function(Path(tmp))
        for k, model in enumerate(models):
            labels.append(f"{'-'.join(map(str, model.spec.layers))} ({len(model.parameters)} parameters)")
            folder = Path(tmp) / f"n{k}"
            folder.mkdir()
            contenders, parts = implementations(model, folder, empty)
            results[labels[-1]] = measure({**contenders, **parts}, args.rounds)
    names = list(contenders)
    python, raw, floor = names[0], names[-2], names[-1]
    lines = [f"Measured by `python benchmarks/bench_binding.py` (Python {platform.python_version()}, numpy "
             f"{numpy.__version__}, {args.rounds} interleaved rounds, load average {load:.2f} at the start; median "
             "processor µs per `train_step` call; in brackets how many times faster than the generated Python, "
             "then how many times the empty ctypes call):", "",
             f"| contender | {' | '.join(labels)} |", "|---|" + "---:|" * len(labels)]
    for name in names:
        cells = []
        for label in labels:
            m = results[label]
            cells.append(f"{m[name] * 1e6:.3g} ({m[python] / m[name]:.3g}×, {m[name] / m[floor]:.3g}×)")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    small, large = (results[label] for label in labels)
    c_work = small[raw] - small[floor]
    own = small[names[4]] - c_work  # the vector's train_step less the C's work
    least = small[floor] + c_work + small["copy inputs and targets"]
    lines += ["", f"At {labels[0]}: the C's own work (the direct call less the empty one) is {c_work * 1e6:.3g} µs, "
              f"so the binding's cost beside it is {own * 1e6:.3g} µs, {own / small[floor]:.3g}× the empty call; "
              f"the direct call plus copying the two lists alone (no check, no Python function) is "
              f"{least * 1e6:.3g} µs, {least / small[floor]:.3g}× the empty call."]
    convert = "convert the numbers into doubles"
    for form, row, parts in [("dict", names[1], ["read the dict's values in order", convert]),
                             ("list", names[3], [convert, "make the result's floats"])]:
        least = large[raw] + sum(large[p] for p in parts)
        lines.append(f"At {labels[1]}, the least a {form} can cost: the direct call {large[raw] * 1e6:.3g} µs + "
                     + " + ".join(f"{p} {large[p] * 1e6:.3g} µs" for p in parts)
                     + f" = {least * 1e6:.3g} µs, {large[python] / least:.3g}× faster than the generated Python "
                     f"(measured: {large[python] / large[row]:.3g}×).")
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_readme:
        write_table("binding", table)


if __name__ == "__main__":
    main()
