"""Render the derivation's kernel as a self-contained Python module (standard library only).

Each function body is straight-line code: exactly the kernel steps its result depends on (found by
walking the dependencies back from the result), one statement per step, temporaries named after what
they hold (``net_h1``, ``delta_o1``), printed by SymPy's Python code printer, laid out in ruff's style
by `pyformat`, and placed by the Jinja2 template ``templates/gradients.py.j2``. ``out = sigma(net)`` is
written out with its overflow guard (a call costs as much as its arithmetic); stable helpers (the
logistic inside larger expressions, softplus, log-sum-exp) are copied from the registry when used, so
the module has no dependency.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.precedence import precedence
from sympy.printing.pycode import PythonCodePrinter

from derive.model import naming
from derive.render import pyformat
from derive.derivation.steps import Derivation
from derive.model.registry import HELPERS
from derive.render.templating import environment

INDENT = "    "


class _Printer(PythonCodePrinter):
    """SymPy's Python printer with float literals and an identifier for every quantity. Integers
    print as floats too (``1.0 - out_h1``: float-float arithmetic is CPython's fast path), except
    integer exponents (``x**2``)."""

    def _print_Rational(self, expr):
        return repr(float(expr))

    def _print_Integer(self, expr):
        return repr(float(expr))

    def _print_Pow(self, expr, rational=False):
        if expr.exp.is_Integer and expr.exp != -1:  # -1 prints as a division, 1.0/x
            n = int(expr.exp)
            return f"{self.parenthesize(expr.base, precedence(expr), strict=False)}**{n if n > 0 else f'({n})'}"
        return super()._print_Pow(expr, rational=rational)

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


def _inlined(step) -> bool:
    """Whether the step is ``out = f(net)`` for a function with an inline form (see the registry)."""
    return bool(getattr(step.compute, "inline", None)) and step.compute.args[0].is_Symbol


def _statement(derivation: Derivation, step) -> list[str]:
    """One kernel step as lines. A net input is printed from its terms (weight * input, in the
    spec's order, bias last) with no per-expression printer overhead; an activation with an inline
    form applied to a net is written out (no call); others through SymPy."""
    target = naming.python_name(step.quantity)
    if step.quantity.startswith("net_"):
        terms = derivation.network.net_terms[step.quantity[4:]]
        return pyformat.sum_assignment(INDENT, target, [f"{t.parameter} * {t.factor}" if t.factor else t.parameter for t in terms])
    if _inlined(step):
        return pyformat.assignment(INDENT, target, step.compute.inline.format(x=_printer.doprint(step.compute.args[0])))
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


def _stores(name: str, entries: list[tuple[str, list[str]]]) -> list[str]:
    """``name = {}``, one ``name["key"] = t1 + t2 + ...`` a parameter, then ``return name``. Per-key
    stores rather than one dict display: CPython builds a display of more than 16 items in chunks
    that it then merges, which costs more than the arithmetic of an update."""
    lines = [f"{INDENT}{name} = {{}}"]
    for key, terms in entries:
        lines += pyformat.sum_assignment(INDENT, f'{name}["{key}"]', terms)
    return lines + [f"{INDENT}return {name}"]


def _gradient_tail(derivation: Derivation) -> list[str]:
    """The returned gradients, read off the chains: delta of the fed neuron times what the weight
    multiplies; a bias sums the deltas of the neurons it feeds."""
    lines = [f"{INDENT}# gradients: dE_total/d(parameter) = delta of each neuron it feeds * its factor"]
    entries = [
        (name, [f"{d} * {src}" if src else d for d, src in chain.delta_shares]) for name, chain in derivation.chains.items()
    ]
    return lines + _stores("gradients", entries)


def _update_tail(derivation: Derivation) -> list[str]:
    """The updated parameters, straight-line: each gradient is delta * factor, so one
    ``step_n = learning_rate * delta_n`` per neuron makes every weight's update ``w - step_n * factor``.
    A sum too long for one line (a shared bias of a wide layer) is computed into ``step_<name>`` first."""
    network = derivation.network
    deltas = [n for layer in network.layers[1:] for n in layer]
    lines = [f"{INDENT}# update: parameter - learning_rate * dE_total/d(parameter)"]
    lines += [f"{INDENT}step_{n} = learning_rate * delta_{n}" for n in deltas]
    entries = []
    for name, chain in derivation.chains.items():
        steps = [f"step_{d[len('delta_'):]} * {src}" if src else f"step_{d[len('delta_'):]}" for d, src in chain.delta_shares]
        value = f"{name} - {steps[0]}" if len(steps) == 1 else f"{name} - ({_sum(steps)})"
        if len(f'{INDENT}updated["{name}"] = {value}') > pyformat.LINE_LENGTH:
            lines += pyformat.sum_assignment(INDENT, f"step_{name}", steps)
            value = f"{name} - step_{name}"
        entries.append((name, [value]))
    return lines + _stores("updated", entries)


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
        "notes": sorted({s.compute.inline_note for s in derivation.kernel if _inlined(s)}),
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
