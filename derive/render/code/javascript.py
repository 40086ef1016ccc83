"""The derivation as JavaScript, for the web page's live numbers: the sibling of `derive.render.code.python`.

One function, ``values(params, inputs, targets)``, runs every step of the derivation for one sample in
the derivation's order (the forward pass, the error, the deltas, the gradients, and the chain-rule
factors the article names), one ``const`` per step, temporaries named as in the Python module
(``net_h1``, ``delta_o1``, ``grad_w5``), each printed by SymPy's JavaScript code printer in the
textbook's order from the step's compute form, with every registered function as its stable float
form. It returns the values in the order of ``QUANTITIES`` (their names in the quantity grammar), in
float64, like the Python module.

Beside it, ``firstStep(p, g)``: one parameter's first training step under the spec's optimizer,
printed from the optimizer's rules (`derive.model.optimizers`), the same expressions the engine
evaluates (`derive.derivation.evaluate.update`) and the generated modules print, with the spec's
numbers (``HYPERPARAMETERS``, keyed as the page keys them): the page's w+ and the optimizer's state
after the first step.
"""

from __future__ import annotations

import json

from sympy.printing.jscode import JavascriptCodePrinter

from derive.derivation import lowered
from derive.derivation.evaluate import training_settings
from derive.derivation.steps import DISPLAY, Derivation, Step
from derive.model import optimizers
from derive.model import quantities as Q
from derive.model.functions import Registered, float_expression
from derive.render import names
from derive.render.code import code_functions
from derive.render.code.code_functions import FunctionNames
from derive.render.code.walker import Printer, walk
from derive.render.text import FloatLiterals, TextbookOrder


class _Printer(FunctionNames, TextbookOrder, FloatLiterals, JavascriptCodePrinter):
    """SymPy's JavaScript printer in the textbook's order, with float literals and each symbol as the
    identifier of its quantity; the functions JavaScript lacks or names otherwise by `code_functions.NAMES`
    (the script carries the helpers it calls)."""

    language = "javascript"

    def __init__(self, network):
        super().__init__({"order": "none"})
        self.network = network

    def _print_Symbol(self, expr):
        return names.python(self.network.quantity_of[expr])

    def _print_Pow(self, expr):
        if expr.exp.is_Integer and expr.exp > 0:
            return f"Math.pow({self._print(expr.base)}, {int(expr.exp)})"
        return super()._print_Pow(expr)

    def _print_Piecewise(self, expr):
        """One line: ``(c1 ? e1 : (c2 ? e2 : e3))`` (the last branch is the ``True`` one)."""
        *branches, (last, _) = expr.args
        text = self._print(last)
        for value, condition in reversed(branches):
            text = f"(({self._print(condition)}) ? ({self._print(value)}) : {text})"
        return text

    def _print_Function(self, expr):
        if isinstance(expr, Registered):
            return self._print(expr.float_form(*expr.args))
        return super()._print_Function(expr)


class _RulePrinter(_Printer):
    """An optimizer's rules: each symbol by its own name (p, g, t, learning_rate, m_hat, ...)."""

    def _print_Symbol(self, expr):
        return expr.name


def first_step(settings: optimizers.Settings) -> list[str]:
    """``HYPERPARAMETERS`` (the numbers the optimizer's rules use, by their quantities' names) and
    ``firstStep(p, g)``: the rules in order for a parameter of value p and batch gradient g at the
    first step (t = 1, every kept slot 0 before it, as the engine takes it), returning every value
    they assign by slot, the new value as "p"."""
    entry, printer = settings.entry, _RulePrinter(None)
    used = set().union(*(expr.free_symbols for _, expr in entry.rules))
    numbers = {str(optimizers.HYPERPARAMETERS[s]): (s, float(v)) for s, v in settings.numbers().items() if s in used}
    lines = [f"// The first step of {entry.name}, printed from its rules (the engine's): t = 1, the state 0 before it.",
             f"const HYPERPARAMETERS = {json.dumps({k: v for k, (_, v) in numbers.items()})};",
             "function firstStep(p, g) {"]
    lines += [f'  const {symbol.name} = HYPERPARAMETERS["{key}"];' for key, (symbol, _) in numbers.items()]
    if optimizers.T in used:
        lines.append("  const t = 1;")
    lines += [f"  let {optimizers.SLOT[s]} = 0.0;" for s in entry.state]
    for target, expr in entry.rules:
        left = ("p" if target == optimizers.PARAMETER else optimizers.SLOT[target].name if target in entry.state
                else f"const {optimizers.SLOT[target]}")
        lines.append(f"  {left} = {printer.doprint(expr)};")
    assigned = {s: optimizers.SLOT[s].name for s in entry.slots} | {optimizers.PARAMETER: "p"}
    lines.append("  return {" + ", ".join(f'"{k}": {v}' for k, v in assigned.items()) + "};")
    return [*lines, "}"]


ERFC = code_functions.ERROR_FUNCTIONS  # erf and erfc, which JavaScript lacks


class _Statements(Printer):
    """Each step of the straight-line program as one ``const``: a net input from its terms (weight *
    input, in the spec's order, bias last), as the other targets print it; any other through SymPy."""

    def __init__(self, program: lowered.Program, printer: _Printer):
        super().__init__(program)
        self.printer = printer

    def sum(self, s):
        terms = names.net_terms(self.printer.network, s.quantity)
        return [f"const {names.python(s.quantity)} = {' + '.join(terms) or '0.0'};"]

    def let(self, s):
        value = self.printer._print(s.expr) if s.expr.is_Symbol else self.printer.doprint(float_expression(s.expr))
        return [f"const {names.python(s.name)} = {value};"]

    def store(self, s):
        return self.let(lowered.Let(s.quantity, s.expr))


def steps(derivation: Derivation, shown=None) -> list:
    """Every kernel step, and the display steps (the article's named factors) in ``shown`` (all of
    them when None), in the derivation's order."""
    return [s for s in derivation.steps if s.phase != DISPLAY or shown is None or str(s.quantity) in shown]


def statements(derivation: Derivation, shown=None) -> list[tuple[Step, str]]:
    """(step, JavaScript statement) for every step of `steps`, in the derivation's order."""
    chosen = steps(derivation, shown)
    program = lowered.straight(derivation, chosen)
    printed = walk(program, _Statements(program, _Printer(derivation.network)))
    return list(zip(chosen, printed, strict=True))


def render(derivation: Derivation, shown=None) -> str:
    """The script: ``PARAMETERS``, ``QUANTITIES``, ``values``, ``HYPERPARAMETERS`` and ``firstStep``;
    deterministic for the same spec. ``shown``: the names of the display steps to compute (default: all)."""
    network = derivation.network
    printed = statements(derivation, shown)
    lines = [
        "// The derivation's steps as float64 code, in the order they are derived, printed from the same",
        "// steps as the Python module (gradients.py); values() returns them in the order of QUANTITIES.",
        '"use strict";',
        f"const PARAMETERS = {json.dumps([p.name for p in network.parameters])};",
        f"const QUANTITIES = {json.dumps([str(s.quantity) for s, _ in printed])};",
        "function values(params, inputs, targets) {",
    ]
    lines += [f'  const {p.name} = params["{p.name}"];' for p in network.parameters]
    lines += [f"  const {i} = inputs[{k}];" for k, i in enumerate(network.inputs)]
    lines += [f"  const {names.python(Q.target(o))} = targets[{k}];" for k, o in enumerate(network.outputs)]
    lines += [f"  {statement}" for _, statement in printed]
    lines.append(f"  return [{', '.join(names.python(s.quantity) for s, _ in printed)}];")
    lines.append("}")
    lines += first_step(training_settings(network.spec))
    lines += code_functions.helpers("javascript", "\n".join(statement for _, statement in printed))
    return "\n".join(lines) + "\n"
