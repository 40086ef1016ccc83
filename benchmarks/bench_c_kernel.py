"""The generated C ``train`` (plain SGD, full batch, sum reduction) against JAX's ``lax.fori_loop`` of
the same step, both single-threaded, per step, on 2-2-2, 4-16-16-3, 784-32-10 and 784-125-10, one
sample and a batch of 32, in float64 (and the C in float32 where asked), each beside this machine's
limit for the step (`machine_limit`). Rounds are interleaved (every contender once a round); each
figure is the median over rounds of processor time per step (the machine is shared, so wall time
would count other processes' time).

The C is compiled from ``derive codegen --target c`` (the form the target chooses: straight-line up
to 1,000 parameters, loop form above) with the binding's flags and called through ctypes directly,
with arrays built once. JAX (``pip install jax``, a benchmark-only dependency) runs with one thread.

    python benchmarks/bench_c_kernel.py [--rounds 11] [--float32] [--sizes 784-32-10 ...]
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse
import ctypes
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import machine_limit  # noqa: E402
import numpy  # noqa: E402
from bench_scale import spec_text  # noqa: E402

import derive  # noqa: E402
from derive.render.code import c, targets  # noqa: E402

SIZES = ([2, 2, 2], [4, 16, 16, 3], [784, 32, 10], [784, 125, 10])
BATCHES = (1, 32)
LEARNING_RATE = 0.01


def c_library(network, folder: Path, dtype: str = "float64", extra: tuple = ()):
    """The C target's library for ``network``, compiled with the binding's flags, and its train."""
    loops = targets.loops(targets.TARGETS["c"], network)
    derivation = None if loops else _load_model(network.spec.layers).derivation
    options = {"dtype": dtype} if dtype != "float64" else {}
    files = c.render(derivation, network, derive.__version__, loops, **options)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    library = folder / "lib.so"
    subprocess.run(["cc", *c.FLAGS, *extra, "-o", str(library), str(folder / c.SOURCE), "-lm"], check=True)
    return ctypes.CDLL(str(library)), loops


_MODELS = {}


def _load_model(layers):
    key = tuple(layers)
    if key not in _MODELS:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "net.toml"
            path.write_text(spec_text(list(key)))
            _MODELS[key] = derive.load(path)
    return _MODELS[key]


def c_contender(network, batch: int, folder: Path, dtype: str = "float64", extra: tuple = ()):
    """A function running ``steps`` SGD steps of the C train on ``batch`` samples in place."""
    library, loops = c_library(network, folder, dtype, extra)
    real = ctypes.c_double if dtype == "float64" else ctypes.c_float
    prefix = network.spec.name
    train = getattr(library, f"{prefix}_train")
    slots = len(c._state_context()["state_slots"])
    P = ctypes.POINTER(real)
    train.restype = ctypes.c_int
    train.argtypes = [P, P, P, ctypes.c_long, ctypes.c_long, ctypes.c_int, *([real] * 6), ctypes.c_long,
                      ctypes.c_int, ctypes.c_ulonglong, ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_long),
                      *([P] * slots), P]
    n = len(network.parameters)
    rng = numpy.random.default_rng(1)
    p = (real * n)(*[float(q.value) for q in network.parameters])
    n_in, n_out = len(network.inputs), len(network.outputs)
    xs = (real * (n_in * batch))(*rng.uniform(0, 1, n_in * batch))
    ts = (real * (n_out * batch))(*rng.uniform(0, 1, n_out * batch))
    t = ctypes.c_long(0)

    def run(steps: int):
        code = train(p, xs, ts, batch, steps, 0, LEARNING_RATE, 0.0, 0.9, 0.999, 1e-8, 0.0, 0, 0, 0, 0, None,
                     ctypes.byref(t), *([None] * slots), None)
        assert code == 0
    return run, loops


def jax_contender(network, batch: int):
    """JAX: the same step (logistic layers, half SSE summed over the batch) in ``lax.fori_loop``."""
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    layers = list(network.spec.layers)
    values = numpy.array([float(q.value) for q in network.parameters])
    Ws, Bs, k = [], [], 0
    for n_in, n in itertools.pairwise(layers):
        Ws.append(jnp.asarray(values[k:k + n * n_in].reshape(n, n_in)))
        k += n * n_in
    for n in layers[1:]:
        Bs.append(jnp.asarray(values[k:k + n]))
        k += n
    rng = numpy.random.default_rng(1)
    xs = jnp.asarray(rng.uniform(0, 1, (batch, layers[0])))
    ts = jnp.asarray(rng.uniform(0, 1, (batch, layers[-1])))

    def loss(ps):
        out = xs
        for w, b in zip(*ps, strict=True):
            out = jax.nn.sigmoid(out @ w.T + b)
        return 0.5 * jnp.sum((ts - out) ** 2)

    def update(ps):
        g = jax.grad(loss)(ps)
        return jax.tree_util.tree_map(lambda q, d: q - LEARNING_RATE * d, ps, g)

    loops = {}
    state = [(Ws, Bs)]

    def run(steps: int):
        if steps not in loops:
            loops[steps] = jax.jit(lambda ps: jax.lax.fori_loop(0, steps, lambda i, q: update(q), ps))
            jax.block_until_ready(loops[steps](state[0]))
        state[0] = jax.block_until_ready(loops[steps](state[0]))
    return run


def measure(contenders: dict, rounds: int, budget: float = 0.05) -> dict[str, float]:
    """Median processor µs per step of each contender over interleaved rounds (steps per call chosen
    so that a call takes about ``budget`` seconds)."""
    steps = {}
    for name, run in contenders.items():
        n = 1
        while True:
            run(n)
            start = time.process_time()
            run(n)
            spent = time.process_time() - start
            if spent > budget / 4 or n >= 1 << 20:
                steps[name] = max(1, int(n * budget / max(spent, 1e-9)))
                break
            n *= 4
        run(steps[name])
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            start = time.process_time()
            run(steps[name])
            times[name].append((time.process_time() - start) / steps[name] * 1e6)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--float32", action="store_true", help="also the C target in float32")
    parser.add_argument("--no-jax", action="store_true")
    parser.add_argument("--vector-exp", action="store_true", help="also the C built with c.VECTOR_EXP (opt-in)")
    parser.add_argument("--sizes", nargs="*", default=["-".join(map(str, s)) for s in SIZES])
    parser.add_argument("--batches", nargs="*", type=int, default=list(BATCHES))
    args = parser.parse_args(argv)
    figures = machine_limit.measure()
    print(f"machine: FMA {figures['fma_gflops']:.1f} GFLOP/s; read-write L1 {figures['L1_update_gbs']:.0f}, "
          f"L2 {figures['L2_update_gbs']:.0f}, L3 {figures['L3_update_gbs']:.0f}, "
          f"memory {figures['memory_update_gbs']:.0f} GB/s (one thread)")
    print("\n| network | batch | limit µs | contender | median µs per step | × the limit | × JAX |")
    print("|---|---:|---:|---|---:|---:|---:|")
    speedups = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            layers = [int(n) for n in size.split("-")]
            network = _load_model(layers).network
            for batch in args.batches:
                limit = machine_limit.limit_us(*machine_limit.dense_step(layers, batch), figures)
                contenders = {}
                run, loops = c_contender(network, batch, Path(scratch) / f"{size}_{batch}")
                form = "loop form" if loops else "straight-line"
                contenders[f"C train, float64 ({form})"] = run
                if args.float32:
                    run, _ = c_contender(network, batch, Path(scratch) / f"{size}_{batch}_f", "float32")
                    contenders[f"C train, float32 ({form})"] = run
                if args.vector_exp:
                    run, _ = c_contender(network, batch, Path(scratch) / f"{size}_{batch}_v", "float64", c.VECTOR_EXP)
                    contenders[f"C train, float64, vector exp ({form})"] = run
                if not args.no_jax:
                    contenders["JAX fori_loop, float64"] = jax_contender(network, batch)
                result = measure(contenders, args.rounds)
                jax_time = result.get("JAX fori_loop, float64")
                for name, us in result.items():
                    ratio = f"{us / jax_time:.2f}" if jax_time else "–"
                    print(f"| {size} | {batch} | {limit:.3f} | {name} | {us:.3f} | {us / limit:.2f} | {ratio} |",
                          flush=True)
                times = list(result.values())
                if args.float32:
                    speedups.append(f"{size}, batch {batch}: float32 {times[0] / times[1]:.2f}× the float64 speed")
    for line in speedups:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
