"""Every built-in activation and loss against PyTorch's definition (float64, CPU), and whole networks
of today's activations against torch.autograd. PyTorch is optional: it is not a dependency of derive
or of its tests; install it in your own environment (``pip install torch``) to run this.

For each activation and each point of a grid from -30 to 30 (step 0.05) plus the kinks, extremes
and the logistic's switch (-700): derive's value (its mpmath form, at 50 digits) and derive's
generated float code against ``torch``'s function, and derive's derivative rule against
``torch.autograd.grad``; for each loss the same for the error term and dE/dout. Whole networks:
the generated module's ``gradient`` against autograd of the same network written with torch.nn.
Writes the table into the README between the validate:torch markers (``--no-readme`` to print only).

    python benchmarks/validate_torch_functions.py [--no-readme]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import mpmath
import sympy as sp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from readme import write_table  # noqa: E402

import derive  # noqa: E402
from derive.model.functions import Registered  # noqa: E402
from derive.model.registry import ACTIVATIONS, LOSSES  # noqa: E402
from derive.render.code.python import ModuleWriter  # noqa: E402

torch.set_default_dtype(torch.float64)

TORCH_ACTIVATIONS = {
    "logistic": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "softplus": lambda x: F.softplus(x, threshold=50),  # the default 20 returns x above 20: 2.1e-9 off there
    "identity": lambda x: x * 1,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "elu": lambda x: F.elu(x, 1.0),
    "silu": F.silu,
    "gelu": lambda x: F.gelu(x, approximate="none"),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
}
TORCH_LOSSES = {
    "huber": lambda out, target: F.huber_loss(out, target, reduction="sum", delta=1.0),
    "half_sse": lambda out, target: ((target - out) ** 2 / 2).sum(),
    "mse": lambda out, target: ((target - out) ** 2).mean(),
    "binary_cross_entropy": lambda out, target: F.binary_cross_entropy(out, target, reduction="sum"),
}
POINTS = sorted({round(-30 + 0.05 * k, 10) for k in range(1201)} | {0.0, -1e-9, 1e-9, -700.5, -699.5, 700.0, -80.0})
X = sp.Symbol("x", real=True)


def derive_float(act):
    """The generated module's float code for out = f(net), with its helpers."""
    writer = ModuleWriter(derive.load().derivation)
    net = writer.network.symbol(derive.Quantity("net", "h1"))
    source = f"def f(net_h1):\n    return {writer.code(act.out(net))}\n" + "".join(writer.printer.helper_sources())
    namespace = {"math": math}
    exec(source, namespace)  # derive's own printed code, from the registry (no user text)
    return namespace["f"]


def derive_mp(act, derivative=False):
    expr = act.derivative(X, act.out(X)) if derivative else act.out(X)
    expr = expr.rewrite(sp.exp) if derivative or isinstance(expr, Registered) else expr
    return sp.lambdify(X, expr, modules="mpmath")


def activation_rows():
    rows = []
    for name, torch_f in TORCH_ACTIVATIONS.items():
        act = ACTIVATIONS[name]
        value, slope, code = derive_mp(act), derive_mp(act, derivative=True), derive_float(act)
        x = torch.tensor(POINTS, requires_grad=True)
        y = torch_f(x)
        (grad,) = torch.autograd.grad(y.sum(), x)
        worst = {"value": 0.0, "code": 0.0, "slope": 0.0}
        for p, ty, tg in zip(POINTS, y.tolist(), grad.tolist(), strict=True):
            with mpmath.workdps(50):
                exact, exact_slope = float(value(mpmath.mpf(p))), float(slope(mpmath.mpf(p)))
            worst["value"] = max(worst["value"], abs(exact - ty) / max(1, abs(ty)))
            worst["code"] = max(worst["code"], abs(code(p) - ty) / max(1, abs(ty)))
            worst["slope"] = max(worst["slope"], abs(exact_slope - tg) / max(1, abs(tg)))
        rows.append((name, worst))
    return rows


def softmax_row():
    x = torch.tensor([[0.3, -1.2, 2.5], [10.0, 10.0, -5.0], [-30.0, 0.0, 30.0]], requires_grad=True)
    m = derive.Model(derive.parse(
        'name = "s"\nlayers = [3, 3]\nactivation = "softmax"\nloss = "half_sse"\nbias = "none"\nlearning_rate = 1\n'
        "weights = [[[1, 0, 0], [0, 1, 0], [0, 0, 1]]]\n" + "".join(
            f"[[samples]]\ninputs = {row}\ntargets = [0.2, 0.3, 0.5]\n" for row in x.tolist()), "s.toml"))
    y = torch.softmax(x, dim=1)
    t = torch.tensor([0.2, 0.3, 0.5])
    loss = ((t - y) ** 2 / 2).sum()
    (grad,) = torch.autograd.grad(loss, x)
    value = max(abs(float(m.value(f"out_o{j + 1}", s)) - y[s, j].item()) for s in range(3) for j in range(3))
    slope = max(abs(float(m.value(f"delta_o{j + 1}", s)) - grad[s, j].item()) for s in range(3) for j in range(3))
    return "softmax (with half_sse, per delta)", {"value": value, "code": float("nan"), "slope": slope}


def loss_rows():
    t, o = sp.symbols("t o", real=True)
    rows = []
    pairs = [(tt / 10, oo / 10) for tt in range(-30, 31, 3) for oo in range(-30, 31, 2)]
    for name in ("half_sse", "huber", "binary_cross_entropy"):
        loss, torch_loss = LOSSES[name], TORCH_LOSSES[name]
        use = [(a, b) for a, b in pairs if name != "binary_cross_entropy" or (0 <= a <= 1 and 0 < b < 1)]
        term = sp.lambdify((t, o), loss.term(t, o, 1).doit().rewrite(sp.exp), modules="mpmath")
        rule = sp.lambdify((t, o), loss.derivative(t, o, 1).doit().rewrite(sp.exp), modules="mpmath")
        out = torch.tensor([b for _, b in use], requires_grad=True)
        target = torch.tensor([a for a, _ in use])
        per = [torch_loss(out[k:k + 1], target[k:k + 1]) for k in range(len(use))]
        worst = {"value": 0.0, "code": float("nan"), "slope": 0.0}
        for k, (a, b) in enumerate(use):
            (g,) = torch.autograd.grad(per[k], out, retain_graph=True)
            with mpmath.workdps(50):
                value, slope = float(term(mpmath.mpf(a), mpmath.mpf(b))), float(rule(mpmath.mpf(a), mpmath.mpf(b)))
            worst["value"] = max(worst["value"], abs(value - per[k].item()) / max(1, abs(per[k].item())))
            worst["slope"] = max(worst["slope"], abs(slope - g[k].item()) / max(1, abs(g[k].item())))
        rows.append((name, worst))
    return rows


NETWORK = """name = "net"
layers = [3, 4, 4, 2]
activation = {activations}
loss = "{loss}"
bias = "{bias}"
learning_rate = 0.1
seed = {seed}
[[samples]]
inputs = [0.5, -1.25, 2.0]
targets = [1.75, -0.5]
"""


def network_rows():
    rows = []
    for activations, loss, bias, seed in [
        (["leaky_relu", "elu", "identity"], "huber", "per_neuron", 1),
        (["silu", "gelu", "gelu_tanh"], "half_sse", "shared", 2),
        (["gelu_tanh", "leaky_relu", "silu"], "huber", "none", 3),
        (["elu", "silu", "gelu"], "mse", "per_neuron", 4),
    ]:
        spec = derive.parse(NETWORK.format(activations=str(activations).replace("'", '"'), loss=loss, bias=bias,
                                           seed=seed), "net.toml")
        model = derive.Model(spec)
        module = model.module
        sample = spec.samples[0]
        x, t = [float(v) for v in sample.inputs], [float(v) for v in sample.targets]
        ours = module.gradient(dict(module.INITIAL), x, t)
        params = {p: torch.tensor(v, requires_grad=True) for p, v in module.INITIAL.items()}
        outs = torch.tensor(x)
        net = model.network
        for k, layer in enumerate(net.layers[1:], start=1):
            nets = torch.stack([sum((params[term.parameter] * (outs[net.layers[k - 1].index(term.factor.name)]
                                     if term.factor else 1) for term in net.net_terms[n]), torch.tensor(0.0))
                                for n in layer])
            outs = TORCH_ACTIVATIONS[spec.activations[k - 1]](nets)
        target = torch.tensor(t)
        error = TORCH_LOSSES[loss](outs, target)
        grads = torch.autograd.grad(error, list(params.values()))
        worst = max(abs(ours[p] - g.item()) for p, g in zip(params, grads, strict=True))
        scale = max(abs(g.item()) for g in grads)
        rows.append((f"{'-'.join(activations)}, {loss}, bias {bias}", len(params), worst, scale))
    return rows


def table() -> str:
    lines = [f"Measured by `python benchmarks/validate_torch_functions.py` (PyTorch {torch.__version__}, float64, "
             "CPU): the "
             "largest difference from PyTorch, |derive − torch| / max(1, |torch|), over "
             f"{len(POINTS)} points from −30 to 30 with the kinks, ±700 and −80 (losses: over a grid of targets and "
             "outputs; softplus with torch's threshold raised from 20 to 50, since above it torch returns x itself, "
             "2.1e-9 off at 20).",
             "",
             "| function | value (mpmath form) | value (generated code) | derivative (rule vs autograd) |",
             "|---|---:|---:|---:|"]
    worst = 0.0
    for name, w in [*activation_rows(), softmax_row(), *loss_rows()]:
        code = "—" if math.isnan(w["code"]) else f"{w['code']:.1e}"
        lines.append(f"| {name} | {w['value']:.1e} | {code} | {w['slope']:.1e} |")
        worst = max(worst, w["value"], w["slope"], 0 if math.isnan(w["code"]) else w["code"])
    lines += ["", "Whole networks: the generated module's `gradient` against `torch.autograd` of the same network "
              "(absolute differences):", "",
              "| network (3-4-4-2) | parameters | largest difference | largest gradient |",
              "|---|---:|---:|---:|"]
    for name, count, diff, scale in network_rows():
        lines.append(f"| {name} | {count} | {diff:.1e} | {scale:.2g} |")
        worst = max(worst, diff)
    lines += ["", f"Largest difference of all: {worst:.1e}. The mpmath columns are derive's exact values (50 digits), "
              "so what is left there is PyTorch's own float64 rounding; at the kinks both take the same convention "
              "(relu'(0) = 0, leaky_relu'(0) = 0.01; elu with alpha = 1 has none).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-readme", action="store_true", help="print the table only")
    args = parser.parse_args()
    text = table()
    print(text)
    if not args.no_readme:
        write_table("validate:torch", text)


if __name__ == "__main__":
    main()
