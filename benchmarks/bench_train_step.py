"""Time one train_step of the generated code against a hand-written baseline, an object-oriented
implementation like the article's script, and, when installed, micrograd, PyTorch (CPU, float64)
and JAX (jit, CPU), on the 2-2-2 reference network and a 4-16-16-3 network.

Repeats are interleaved (every implementation once per round) so that machine noise hits all of them
alike; each figure is the median over rounds of the mean time per call within a round. Also counts the
arithmetic operations of the generated gradient against its forward pass, and prices a floor for any
straight-line train_step from the cheapest costs CPython has for its operations and for reading and
returning the parameters. Writes the table into the documentation (docs/) between the bench markers
(``--no-readme`` to only print).

    python benchmarks/bench_train_step.py [--rounds 31] [--no-readme]
"""

from __future__ import annotations

import argparse
import ast
import math
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import handwritten  # noqa: E402
import oo_network  # noqa: E402
from readme import write_table  # noqa: E402

import derive  # noqa: E402
from derive.render.code.python import render  # noqa: E402


def count_ops(source: str, function: str) -> int:
    """Arithmetic operations in a function: binary and unary operators, and calls of math functions
    and stable helpers (each counted as one). Of a conditional expression only the branch normally
    taken (``body``; the other is the logistic's overflow guard) counts, and no ``if`` statement (the
    argument checks, which raise or do nothing), so for straight-line code this is the number of
    arithmetic operations one call executes. A call of the module's ``_forward`` (the forward pass
    that forward, loss and gradient share) counts as the operations of its body."""
    functions = {n.name: n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}

    def count(node) -> int:
        if isinstance(node, ast.If):  # the argument checks at the top (``if len(inputs) != 2: raise ...``)
            return 0
        if isinstance(node, ast.IfExp):
            return count(node.body)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_forward":
            return count(functions["_forward"])
        own = isinstance(node, ast.BinOp | ast.UnaryOp | ast.Call)
        return own + sum(count(child) for child in ast.iter_child_nodes(node))

    return count(functions[function])


def _per_call_ns(f, g, arg, calls: int, per: int) -> float:
    """Median over rounds of (time of f - time of g) per call, divided by ``per``."""
    rounds = []
    for _ in range(15):
        start = time.perf_counter()
        for _ in range(calls):
            f(arg)
        middle = time.perf_counter()
        for _ in range(calls):
            g(arg)
        rounds.append(((middle - start) - (time.perf_counter() - middle)) / calls / per)
    return statistics.median(rounds) * 1e9


def floor_costs(params: dict[str, float], terms: int = 200) -> tuple[float, float]:
    """The cheapest costs CPython has for what any train_step must do: ns per float operation (a
    long sum of products of fewer than 256 local variables, so no EXTENDED_ARG) and ns per parameter
    read from the mapping and stored into the returned dict (no arithmetic)."""
    names = [f"a{k}" for k in range(terms)]
    assign = "".join(f"    {n} = x\n" for n in names)
    source = f"def ops(x):\n{assign}    return {' + '.join(f'{n} * {n}' for n in names)}\n"
    source += f"def assign(x):\n{assign}    return x\n"
    source += "def io(params):\n    out = {}\n" + "".join(f'    out["{p}"] = params["{p}"]\n' for p in params)
    source += "    return out\ndef empty(params):\n    return {}\n"
    namespace = {}
    exec(source, namespace)
    op_ns = _per_call_ns(namespace["ops"], namespace["assign"], 0.5, 2000, 2 * terms - 1)
    io_ns = _per_call_ns(namespace["io"], namespace["empty"], params, max(200, 200000 // len(params)), len(params))
    return op_ns, io_ns


def implementations(model):
    spec = model.spec
    module = model.module
    x = [float(v) for v in spec.samples[0].inputs]
    t = [float(v) for v in spec.samples[0].targets]
    lr = float(spec.learning_rate)
    params = dict(module.INITIAL)
    impls = {"generated train_step": lambda: module.train_step(params, x, t)}
    sizes = list(spec.layers)
    if sizes == [2, 2, 2]:
        impls["hand-written straight-line"] = lambda: handwritten.train_step_222(params, x, t, lr)
        W = [[list(r) for r in m] for m in [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]]
        B = [[0.35, 0.35], [0.6, 0.6]]
    else:
        W, B = handwritten.layers_from(params, sizes)
        impls["hand-written lists"] = lambda: handwritten.train_step_layers(W, B, x, t, lr)
    net = oo_network.NeuralNetwork(W, B, lr)
    impls["object-oriented (article style)"] = lambda: net.train(x, t)
    try:
        from micrograd.engine import Value

        def sigmoid(v):  # micrograd ships relu only: a logistic op written the way its relu is
            s = 1.0 / (1.0 + math.exp(-v.data))
            out = Value(s, (v,), "sigmoid")

            def _backward():
                v.grad += s * (1.0 - s) * out.grad

            out._backward = _backward
            return out

        mW = [[[Value(w) for w in row] for row in m] for m in W]
        mB = [[Value(b) for b in layer] for layer in B]
        flat = [v for m in mW for row in m for v in row] + [v for layer in mB for v in layer]

        def micrograd_step():
            outs = x
            for m, bs in zip(mW, mB):
                outs = [sigmoid(sum((w * o for w, o in zip(row, outs)), b)) for row, b in zip(m, bs)]
            loss = sum(((o - y) ** 2) * 0.5 for o, y in zip(outs, t))
            for v in flat:
                v.grad = 0.0
            loss.backward()
            for v in flat:
                v.data -= lr * v.grad

        impls["micrograd"] = micrograd_step
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
        tW = [torch.tensor(m, dtype=torch.float64, requires_grad=True) for m in W]
        tB = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in B]
        tx, tt = torch.tensor(x, dtype=torch.float64), torch.tensor(t, dtype=torch.float64)

        def torch_step():
            out = tx
            for w, b in zip(tW, tB):
                out = torch.sigmoid(w @ out + b)
            loss = 0.5 * ((tt - out) ** 2).sum()
            loss.backward()
            with torch.no_grad():
                for p in tW + tB:
                    p -= lr * p.grad
                    p.grad = None

        impls["PyTorch (CPU, float64)"] = torch_step
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        jW = [jnp.array(m, dtype=jnp.float64) for m in W]
        jB = [jnp.array(b, dtype=jnp.float64) for b in B]
        jx, jt = jnp.array(x), jnp.array(t)

        def loss_fn(ps):
            out = jx
            for w, b in zip(*ps):
                out = jax.nn.sigmoid(w @ out + b)
            return 0.5 * jnp.sum((jt - out) ** 2)

        @jax.jit
        def jstep(ps):
            g = jax.grad(loss_fn)(ps)
            return jax.tree_util.tree_map(lambda p, d: p - lr * d, ps, g)

        state = [(jW, jB)]

        def jax_step():
            state[0] = jstep(state[0])
            jax.block_until_ready(state[0])

        jax_step()
        impls["JAX (jit, CPU)"] = jax_step
    except ImportError:
        pass
    return impls


def measure(impls, rounds: int, budget: float = 0.02):
    calls = {}
    for name, fn in impls.items():  # calibrate: calls per round to fill about `budget` seconds
        fn()
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < budget / 4:
            fn()
            n += 1
        calls[name] = max(1, 4 * n)
    times = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            n = calls[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)
    lines = [
        f"Measured by `python benchmarks/bench_train_step.py` (Python {platform.python_version()}, "
        f"{args.rounds} interleaved rounds; median time of one `train_step`, ratio to the generated code):",
        "",
    ]
    for model in [derive.load(), derive.load(HERE / "net_4_16_16_3.toml")]:
        label = "-".join(map(str, model.spec.layers))
        source = render(model.derivation, derive.__version__)
        medians = measure(implementations(model), args.rounds)
        ours = medians["generated train_step"]
        lines += [f"**{label}** ({len(model.parameters)} parameters)", "",
                  "| implementation | median µs | ratio to generated |", "|---|---:|---:|"]
        for name, m in sorted(medians.items(), key=lambda kv: kv[1]):
            lines.append(f"| {name} | {m * 1e6:.2f} | {m / ours:.2f}× |")
        forward, gradient = count_ops(source, "forward"), count_ops(source, "gradient")
        step_ops, (op_ns, io_ns) = count_ops(source, "train_step"), floor_costs(model.module.INITIAL)
        floor = (step_ops * op_ns + len(model.parameters) * io_ns) / 1e3
        oo = medians["object-oriented (article style)"]
        operations = (f"Operations (AST count of +, -, *, /, **, unary -, calls): forward {forward}, "
                      f"gradient {gradient} (forward included), ratio {gradient / forward:.2f}.")
        floor_line = (f"Floor for any straight-line `train_step`: {step_ops} operations × {op_ns:.1f} ns + "
                      f"{len(model.parameters)} parameters read and stored × {io_ns:.1f} ns = {floor:.2f} µs "
                      f"(cheapest costs measured in this run); 4× faster than the object-oriented version "
                      f"is {oo / 4 * 1e6:.2f} µs.")
        lines += ["", operations, "", floor_line, ""]
    table = "\n".join(lines).rstrip() + "\n"
    print(table)
    if not args.no_readme:
        write_table("train_step", table)


if __name__ == "__main__":
    main()
