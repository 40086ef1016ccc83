"""Time one SGD step (one sample, every parameter updated) of each code target side by side, on 2-2-2,
4-16-16-3 and 784-32-10: the generated Python ``train_step``, the C target through its binding (one
call a step, and ``train`` running 1,000 steps in one call), the C of the other form (straight-line
or loops) where both are practical, the NumPy target, a hand-written NumPy step, and, when installed,
JAX (jit per call, and 1,000 steps in ``fori_loop``). Also times ``derive codegen`` of 784-32-10 for
each target and the compile of its C. Rounds are interleaved (every implementation once a round);
each figure is the median over rounds. Writes the table into the documentation (docs/) between the targets markers
(``--no-readme`` to only print).

    python benchmarks/bench_targets.py [--rounds 21] [--no-readme]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy  # noqa: E402
import oo_network  # noqa: E402
from bench_scale import spec_text  # noqa: E402
from bench_train_step import measure  # noqa: E402
from readme import write_table  # noqa: E402

import derive  # noqa: E402
from derive.model.network import Network  # noqa: E402
from derive.render.code import c, numpy_target, targets  # noqa: E402

STEPS = 1000  # steps per call of the in-C and fori_loop loops


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(f"{path.stem}_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _c_module(derivation, network, folder: Path, loops: bool):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in c.render(derivation, network, derive.__version__, loops).items():
        (folder / name).write_text(text)
    module = _import(folder / c.BINDING)
    module.build()
    return module


def _matrices(network, initial):
    """W^l and b^l of a per-neuron-bias network as NumPy arrays, from the parameters."""
    values = numpy.array([initial[p.name] for p in network.parameters])
    sizes, W, B, k = list(network.spec.layers), [], [], 0
    for n_in, n in itertools.pairwise(sizes):
        W.append(values[k:k + n * n_in].reshape(n, n_in).copy())
        k += n * n_in
    for n in sizes[1:]:  # a shared bias as a vector of its value (the same arithmetic)
        shared = network.spec.bias == "shared"
        B.append(numpy.full(n, values[k]) if shared else values[k:k + n].copy())
        k += 1 if shared else n
    return W, B


def numpy_step(W, B, x, t, lr):
    """The hand-written NumPy step: logistic layers, half SSE, per-neuron biases (no overflow guard)."""
    a = [x]
    for w, b in zip(W, B, strict=True):
        a.append(1.0 / (1.0 + numpy.exp(-(w @ a[-1] + b))))
    d = (a[-1] - t) * a[-1] * (1.0 - a[-1])
    for layer in range(len(W) - 1, -1, -1):
        below = (W[layer].T @ d) * a[layer] * (1.0 - a[layer]) if layer else None
        W[layer] -= lr * numpy.outer(d, a[layer])
        B[layer] -= lr * d
        d = below


def _jax(W, B, x, t, lr):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    jax.config.update("jax_enable_x64", True)
    params = ([jnp.array(w) for w in W], [jnp.array(b) for b in B])
    jx, jt = jnp.array(x), jnp.array(t)

    def loss(ps):
        out = jx
        for w, b in zip(*ps, strict=True):
            out = jax.nn.sigmoid(w @ out + b)
        return 0.5 * jnp.sum((jt - out) ** 2)

    def update(ps):
        g = jax.grad(loss)(ps)
        return jax.tree_util.tree_map(lambda p, d: p - lr * d, ps, g)

    step = jax.jit(update)
    loop = jax.jit(lambda ps: jax.lax.fori_loop(0, STEPS, lambda i, q: update(q), ps))
    state = [params, params]

    def per_call():
        state[0] = jax.block_until_ready(step(state[0]))

    def in_loop():
        state[1] = jax.block_until_ready(loop(state[1]))

    per_call(), in_loop()
    return {"JAX jit, per call": (per_call, 1), f"JAX jit, {STEPS:,} steps in fori_loop (per step)": (in_loop, STEPS)}


def implementations(spec, folder: Path):
    network = Network(spec)
    small = not targets.loops(targets.TARGETS["python"], network)
    derivation = None
    if small:
        model = derive.Model(spec)
        network, derivation = model.network, model.derivation
    x = [float(v) for v in spec.samples[0].inputs]
    t = [float(v) for v in spec.samples[0].targets]
    lr = float(spec.learning_rate)
    (source,) = targets.render("python", derivation, network, derive.__version__, not small).values()
    (folder / "gradients.py").write_text(source)
    pmod = _import(folder / "gradients.py")
    params = dict(pmod.INITIAL)
    form = "straight-line" if small else "loop form"
    impls = {f"generated Python `train_step` ({form})": (lambda: pmod.train_step(params, x, t), 1)}
    cmod = _c_module(derivation, network, folder / "c", not small)
    vector = cmod.vector(cmod.INITIAL)
    impls[f"C ({form}) through the binding, per call"] = (lambda: cmod.train_step(vector, x, t), 1)
    sample = [(x, t)]
    impls[f"C ({form}), `train` of {STEPS:,} steps in one call (per step)"] = (
        lambda: cmod.train(vector, sample, STEPS, frozen=()), STEPS)
    if small:
        other = _c_module(None, network, folder / "c_loops", True)
        ovector = other.vector(other.INITIAL)
        impls[f"C forced into loop form, `train` of {STEPS:,} steps in one call (per step)"] = (
            lambda: other.train(ovector, sample, STEPS, frozen=()), STEPS)
    (folder / "gradients_numpy.py").write_text(numpy_target.render(network, derive.__version__))
    nmod = _import(folder / "gradients_numpy.py")
    flat, nx, nt = numpy.array([params[p] for p in nmod.PARAMETERS]), numpy.array(x), numpy.array(t)
    impls["NumPy target `train_step`"] = (lambda: nmod.train_step(flat, nx, nt, lr), 1)
    W, B = _matrices(network, params)
    impls["NumPy, hand-written step"] = (lambda: numpy_step(W, B, nx, nt, lr), 1)
    if small:
        net = oo_network.NeuralNetwork([w.tolist() for w in W], [b.tolist() for b in B], lr)
        impls["object-oriented Python (article style)"] = (lambda: net.train(x, t), 1)
    impls.update(_jax(*_matrices(network, params), nx, nt, lr))
    return impls


def _codegen_seconds(spec_path: Path, folder: Path) -> list[str]:
    """``derive codegen`` of the spec for each target, and the compile of its C (best of 3)."""
    rows = []
    for target, out in (("python", folder / "g.py"), ("numpy", folder / "gn.py"), ("c", folder / "c")):
        best = min(_timed([sys.executable, "-m", "derive", "codegen", str(spec_path), "--target", target,
                           "-o", str(out), "--quiet", "--force"]) for _ in range(3))
        rows.append(f"`derive codegen --target {target}` {best:.2f} s")
    module = _import(folder / "c" / c.BINDING)
    compile_times = []
    for _ in range(3):
        for old in (folder / "c").glob("_gradients_*.so"):
            old.unlink()
        start = time.perf_counter()
        module.build()
        compile_times.append(time.perf_counter() - start)
    rows.append(f"C compile ({' '.join(c.FLAGS)}) {min(compile_times):.2f} s")
    return rows


def _number(x: float) -> str:
    """Three significant digits, without exponents: 0.0679, 2.36, 29.7, 357, 10,400."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _timed(args) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    specs = [derive.load().spec, derive.load(HERE / "net_4_16_16_3.toml").spec,
             derive.parse(spec_text([784, 32, 10]), "n784_32_10.toml")]
    results, labels = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for k, spec in enumerate(specs):
            label = "-".join(map(str, spec.layers))
            labels.append(label)
            folder = Path(tmp) / f"n{k}"
            folder.mkdir()
            impls = implementations(spec, folder)
            medians = measure({name: f for name, (f, _) in impls.items()}, args.rounds)
            for name, (_, per) in impls.items():
                results.setdefault(name.replace(" (straight-line)", "").replace(" (loop form)", ""), {})[label] = (
                    medians[name] / per, name)
        spec_path = Path(tmp) / "n784.toml"
        spec_path.write_text(spec_text([784, 32, 10]))
        codegen = _codegen_seconds(spec_path, Path(tmp))
    python_row = next(k for k in results if k.startswith("generated Python"))
    lines = [f"Measured by `python benchmarks/bench_targets.py` (Python {platform.python_version()}, numpy "
             f"{numpy.__version__}, {args.rounds} interleaved rounds, load average {load:.2f} at the start; median "
             "µs per SGD step on one sample, every parameter updated; in brackets how many times faster than "
             "the generated Python; the Python and C forms are straight-line up to 1,000 parameters, loop form "
             "above):", "",
             f"| target | {' | '.join(labels)} |", "|---|" + "---:|" * len(labels)]
    for name, row in results.items():
        cells = []
        for label in labels:
            if label not in row:
                cells.append("–")
                continue
            value, full = row[label]
            ratio = results[python_row][label][0] / value
            form = " (loops)" if "loop form" in full and "C (loop" not in name else ""
            cells.append(f"{_number(value * 1e6)}{form} ({_number(ratio)}×)")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += ["", "784-32-10: " + "; ".join(codegen) + "."]
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_readme:
        write_table("targets", table)


if __name__ == "__main__":
    main()
