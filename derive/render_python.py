"""Render the derivation's kernel as a self-contained Python module (standard library only).

Each function body is straight-line code: exactly the kernel steps its result depends on (found by
walking the dependencies back from the result), one statement per step, temporaries named after what
they hold (``net_h1``, ``delta_o1``), printed by SymPy's Python code printer, laid out in ruff's style
by `pyformat`, and placed by the Jinja2 template ``templates/gradients.py.j2``. Stable helpers (logistic,
softplus, log-sum-exp) are copied from the registry when used, so the module has no dependency.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from . import naming, pyformat
from .derivation import Derivation
from .registry import HELPERS
from .templating import environment

INDENT = "    "


class _Printer(PythonCodePrinter):
    """SymPy's Python printer with float literals and an identifier for every quantity."""

    def _print_Rational(self, expr):
        return repr(float(expr))

    def _print_Symbol(self, expr):
        return naming.python_name(expr.name)


_printer = _Printer({"standard": "python3"})


def code(expr: sp.Expr) -> str:
    return pyformat.expression(_printer.doprint(expr))


def _needed(derivation: Derivation, results: list[sp.Expr]) -> list:
    """The kernel steps the results depend on, in program order."""
    defined = {s.symbol: s for s in derivation.kernel}
    needed, todo = set(), [sym for r in results for sym in r.free_symbols]
    while todo:
        sym = todo.pop()
        if sym in defined and sym not in needed:
            needed.add(sym)
            todo.extend(defined[sym].compute.free_symbols)
    return [s for s in derivation.kernel if s.symbol in needed]


def _comment(network, step) -> str:
    if step.phase == "forward":
        last = len(network.layers) - 1
        role = "output layer" if step.layer == last else "hidden layer"
        return f"forward: layer {step.layer} ({role}, {network.spec.activations[step.layer - 1]})"
    if step.phase == "hidden deltas":
        return f"hidden deltas: layer {step.layer}"
    return step.phase


def _statement(derivation: Derivation, step) -> list[str]:
    """One kernel step as lines. A net input is printed from its terms (weight * input, in the
    spec's order, bias last) with no per-expression printer overhead; others through SymPy."""
    target = naming.python_name(step.quantity)
    if step.quantity.startswith("net_"):
        terms = derivation.network.net_terms[step.quantity[4:]]
        return pyformat.sum_assignment(INDENT, target, [f"{t.parameter} * {t.factor}" if t.factor else t.parameter for t in terms])
    return pyformat.assignment(INDENT, target, _printer.doprint(step.compute))


def _body(derivation: Derivation, results: list[sp.Expr], tail: list[str], with_targets: bool, printed: dict) -> list[str]:
    """Unpacking of what is used, then the needed steps under block comments, then ``tail``."""
    network = derivation.network
    steps = _needed(derivation, results)
    used = {sym.name for s in steps for sym in s.compute.free_symbols} | {
        sym.name for r in results for sym in r.free_symbols
    }
    lines = [f'{INDENT}{p.name} = params["{p.name}"]' for p in network.parameters if p.name in used]
    lines += [f"{INDENT}{i} = inputs[{k}]" for k, i in enumerate(network.inputs) if i in used]
    if with_targets:
        targets = [naming.target(o) for o in network.outputs]
        lines += [f"{INDENT}{t} = targets[{k}]" for k, t in enumerate(targets) if t in used]
    comment = None
    for step in steps:
        if _comment(network, step) != comment:
            comment = _comment(network, step)
            lines.append(f"{INDENT}# {comment}")
        if step.quantity not in printed:
            printed[step.quantity] = _statement(derivation, step)
        lines += printed[step.quantity]
    return lines + tail


def _sum(deltas: list[str]) -> str:
    return " + ".join(deltas)


def _gradient_tail(derivation: Derivation) -> list[str]:
    """The returned gradients, read off the chains: delta of the fed neuron times what the weight
    multiplies; a bias sums the deltas of the neurons it feeds. One too long for a dict entry (a
    shared bias of a wide layer) is computed into ``grad_<name>`` first."""
    lines = [f"{INDENT}# gradients: dE_total/d(parameter) = delta of each neuron it feeds * its factor"]
    entries = []
    for name, chain in derivation.chains.items():
        terms = [f"{d} * {src}" if src else d for d, src in chain.delta_shares]
        entry = f'"{name}": {_sum(terms)}'
        if len(INDENT * 2 + entry) + 1 > pyformat.LINE_LENGTH:
            lines += pyformat.sum_assignment(INDENT, f"grad_{name}", terms)
            entry = f'"{name}": grad_{name}'
        entries.append(entry)
    return lines + pyformat.collection(INDENT, "return {", entries, "}")


def _update_tail(derivation: Derivation) -> list[str]:
    """The updated parameters, straight-line: each gradient is delta * factor, so one
    ``step_n = learning_rate * delta_n`` per neuron makes every weight's update ``w - step_n * factor``."""
    network = derivation.network
    deltas = [n for layer in network.layers[1:] for n in layer]
    lines = [f"{INDENT}# update: parameter - learning_rate * dE_total/d(parameter)"]
    lines += [f"{INDENT}step_{n} = learning_rate * delta_{n}" for n in deltas]
    entries = []
    for name, chain in derivation.chains.items():
        steps = [f"step_{d[len('delta_'):]} * {src}" if src else f"step_{d[len('delta_'):]}" for d, src in chain.delta_shares]
        entry = f'"{name}": {name} - {steps[0]}' if len(steps) == 1 else f'"{name}": {name} - ({_sum(steps)})'
        if len(INDENT * 2 + entry) + 1 > pyformat.LINE_LENGTH:
            lines += pyformat.sum_assignment(INDENT, f"step_{name}", steps)
            entry = f'"{name}": {name} - step_{name}'
        entries.append(entry)
    return lines + pyformat.collection(INDENT, "return {", entries, "}")


def render(derivation: Derivation, version: str) -> str:
    """The module's source text, byte-identical for the same spec and version."""
    network = derivation.network
    spec = network.spec
    outs = [network.symbol(naming.out(o)) for o in network.outputs]
    total = network.symbol(naming.TOTAL)
    grads = {p.name: derivation.step[naming.partial(naming.TOTAL, p.name)].compute for p in network.parameters}
    printed: dict[str, list[str]] = {}  # each step printed once, shared by the four functions
    forward = _body(derivation, outs, pyformat.collection(INDENT, "return [", [code(o) for o in outs], "]"), False, printed)
    loss = _body(derivation, [total], [f"{INDENT}return E_total"], True, printed)
    gradient = _body(derivation, list(grads.values()), _gradient_tail(derivation), True, printed)
    train_step = _body(derivation, list(grads.values()), _update_tail(derivation), True, printed)
    text = "\n".join(forward + loss + gradient)
    helpers = [src for name, src in HELPERS.items() if re.search(rf"\b{name}\(", text)]
    context = {
        "uses_math": "math." in text + "".join(helpers),
        "version": version,
        "spec": spec,
        "title": repr(spec.title),
        "reduction_mean": spec.reduction == "mean",
        "helpers": helpers,
        "parameters": pyformat.collection("", "PARAMETERS = (", [f'"{n}"' for n in grads], ")"),
        "initial": pyformat.collection(
            "", "INITIAL = {", [f'"{p.name}": {float(p.value)!r}' for p in network.parameters], "}"
        ),
        "learning_rate": repr(float(spec.learning_rate)),
        "forward": forward,
        "loss": loss,
        "gradient": gradient,
        "train_step": train_step,
    }
    return environment().get_template("gradients.py.j2").render(context)
