"""Render the derivation's kernel as a self-contained Python module (standard library only).

Each function body is straight-line code: exactly the kernel steps its result depends on (found by
walking the dependencies back from the result), one statement per step, temporaries named after what
they hold (``net_h1``, ``delta_o1``), printed by SymPy's Python code printer in the textbook's order
(``0.5 * (target_o1 - out_o1) ** 2``), laid out in ruff's style by `pyformat`, and placed by the
Jinja2 template ``templates/gradients.py.j2``. Each registered function is printed as its stable
float form (the logistic written out with its overflow guard: a call costs as much as its
arithmetic), so the module has no dependency. Each line of the backward pass carries the rule it
implements as a comment.
"""

from __future__ import annotations

import re
import textwrap
import types

import sympy as sp
from sympy.printing.precedence import precedence
from sympy.printing.pycode import PythonCodePrinter

from derive.derivation import lowered
from derive.derivation.steps import DISPLAY, FORWARD, GRADIENTS, HIDDEN_DELTAS, OUTPUT_DELTAS, Derivation
from derive.escape import python_string
from derive.model import quantities as Q
from derive.model.functions import Registered
from derive.model.layers.batch import batch_inputs
from derive.render import names
from derive.render.code import in_memory, pyformat, python_training, tables
from derive.render.code.code_functions import FunctionNames, RegisteredCalls
from derive.render.code.header import header
from derive.render.code.walker import Printer
from derive.render.templating import environment
from derive.render.text import FloatLiterals, TextbookOrder, TextPrinter

INDENT = "    "
_STAND_IN = "_stand_in_argument_"  # the float form's one symbol; its other names are functions' (math.exp)
_STAND_IN_NAME = re.compile(rf"\b{_STAND_IN}\b")


class _Printer(RegisteredCalls, FunctionNames, TextbookOrder, FloatLiterals, PythonCodePrinter):
    """SymPy's Python printer in the textbook's order, with float literals and an identifier for every
    quantity, registered functions by `code_functions`. Integers print as floats too (``1.0 - out_h1``:
    float-float arithmetic is CPython's fast path), except integer exponents (``x**2``)."""

    language = "python"

    def __init__(self, network) -> None:
        super().__init__({"standard": "python3", "order": "none"})
        self.network = network
        self.helpers: set[type[Registered]] = set()  # the helpers the printed code calls
        self._inlined: dict = {}  # (function, assumptions) -> its float form printed at `_STAND_IN`

    def _print_Pow(self, expr, rational=False):
        if expr.exp.is_Integer and expr.exp != -1:  # -1 prints as a division, 1.0/x
            n = int(expr.exp)
            return f"{self.parenthesize(expr.base, precedence(expr), strict=False)}**{n if n > 0 else f'({n})'}"
        return super()._print_Pow(expr, rational=rational)

    def _print_Symbol(self, expr):
        return names.python(self.network.quantity_of[expr])

    def name(self, symbol: sp.Symbol) -> str:
        """A symbol as the printed code names it."""
        return self._print_Symbol(symbol)

    def helper_name(self, function: type[Registered]) -> str:
        return f"_{function.text_name}"

    def inline(self, expr) -> str:
        """``f(net)`` written out as its float form (a statement out = f(net): a call costs as much as
        its arithmetic). A function of one symbol is printed once at a stand-in symbol of the same
        assumptions and the stand-in's name replaced by the symbol's: with one symbol in it, the float
        form's tree and its printing do not depend on the symbol's name (tests/test_render_shortcuts.py
        compares the two for every registered function), and building the form asks SymPy's assumptions about
        its conditions (``net > -700``) anew for each symbol, 2 ms each."""
        if len(expr.args) != 1 or not expr.args[0].is_Symbol:
            return self.doprint(expr.float_form(*expr.args))
        (symbol,) = expr.args
        assumptions = symbol.assumptions0
        key = (type(expr), tuple(sorted(assumptions.items())))
        if key not in self._inlined:
            stand_in = sp.Symbol(_STAND_IN, **assumptions)
            self._inlined[key] = _HelperPrinter(self.helpers).doprint(expr.float_form(stand_in))
        name = self.name(symbol)
        return _STAND_IN_NAME.sub(lambda _: name, self._inlined[key])

    def helper(self, function: type[Registered]) -> str:
        """The helper's source: its float form, with any subexpression it repeats computed once
        first (SymPy's ``cse``); the helpers it calls in turn are noted too."""
        x = sp.Symbol("x", real=True)
        printer = _HelperPrinter(self.helpers)
        form = function.float_form(x)
        lets, (value,) = sp.cse(form, symbols=sp.numbered_symbols("x_"), optimizations=None)
        if not lets:  # cse rebuilds the tree, which would undo an unevaluated form (erfc(-x), not 2 - erfc(x))
            value = form
        lines = [line for name, expr in lets for line in pyformat.assignment(INDENT, str(name), printer.doprint(expr))]
        body = pyformat.expression(printer.doprint(value))
        if len(f"{INDENT}return {body}") > pyformat.LINE_LENGTH:
            lines += pyformat.assignment(INDENT, "value", body)
            body = "value"
        doc = f'    """{function.float_doc}"""\n' if function.float_doc else ""
        return f"def _{function.text_name}(x):\n{doc}" + "".join(f"{line}\n" for line in lines) + f"    return {body}\n"

    def helper_sources(self) -> list[str]:
        """Every helper the printed code calls, and those they call, by name."""
        written: dict[type[Registered], str] = {}
        while pending := self.helpers - written.keys():
            for function in sorted(pending, key=lambda f: f.text_name):
                written[function] = self.helper(function)
        return [written[f] for f in sorted(written, key=lambda f: f.text_name)]


def _needed(kernel: list, read: set, reads: dict) -> list:
    """The kernel steps the results depend on, in program order: ``read``, the symbols the results
    read; ``reads``, each kernel step's symbol -> the symbols its computation reads (`ModuleWriter.reads`)."""
    needed, todo = set(), list(read)
    while todo:
        sym = todo.pop()
        if sym in reads and sym not in needed:
            needed.add(sym)
            todo.extend(reads[sym])
    return [s for s in kernel if s.symbol in needed]


def _block_comment(network, step) -> str:
    if step.phase == FORWARD:
        role = "output layer" if step.layer == network.depth else "hidden layer"
        return f"forward: layer {step.layer} ({role}, {network.spec.activations[step.layer - 1]})"
    if step.phase == HIDDEN_DELTAS:
        return f"hidden deltas: layer {step.layer}"
    return step.phase


class _HelperPrinter(_Printer):
    """Prints a helper's body, in its argument x."""

    def __init__(self, helpers: set):
        super().__init__(None)
        self.helpers = helpers  # the module's: a helper may call another

    def _print_Symbol(self, expr):
        return expr.name


def _is_activation_statement(step) -> bool:
    """Whether the step is ``out = f(net)`` for a registered f."""
    return isinstance(step.compute, Registered) and all(a.is_Symbol for a in step.compute.args)


def _symbol_products(expr: sp.Expr) -> list[tuple[sp.Symbol, sp.Symbol]] | None:
    """A sum whose every term is a product of two symbols (a hidden unit's dE/dout), as its terms'
    factors in the order SymPy's printers write them (the sum's and each product's arguments: no
    term has a sign to put last); None for any other expression, and for a sum of more than
    `pyformat.SUM_CHUNK` terms (which `pyformat.sum_assignment` would split). Such a sum is printed
    from these pairs directly, as the printers write it, without their per-term questions."""
    if not expr.is_Add or len(expr.args) > pyformat.SUM_CHUNK:
        return None
    pairs = [t.args for t in expr.args]
    if all(t.is_Mul and len(p) == 2 and p[0].is_Symbol and p[1].is_Symbol
           for t, p in zip(expr.args, pairs, strict=True)):
        return pairs
    return None


def _straight_key(s: lowered.Statement) -> object:
    """A straight-line statement by what it computes: a Sum's or a Store's quantity, a Let's name."""
    if isinstance(s, lowered.Sum | lowered.Store):
        return s.quantity
    if isinstance(s, lowered.Let):
        return s.name
    raise TypeError(f"{type(s).__name__} is no straight-line statement")


class ModuleWriter(Printer):
    """The statements of one derivation, each printed once and shared by the module's functions."""

    def __init__(self, derivation: Derivation):
        super().__init__(lowered.straight(derivation))
        self.statement_of = {_straight_key(s): s
                             for s in (*self.program.forward, *self.program.error, *self.program.deltas)}
        self.derivation = derivation
        self.network = derivation.network
        self.printer = _Printer(self.network)
        self.rules = TextPrinter(self.network, names.short)
        self.printed: dict[Q.Quantity, list[str]] = {}
        self.kernel = derivation.kernel  # (a list made anew on each reading)
        # each kernel step's symbol -> the symbols it reads, found once for the module's five functions
        self.reads = {s.symbol: s.compute.free_symbols for s in self.kernel}

    def code(self, expr: sp.Expr) -> str:
        return pyformat.expression(self.printer.doprint(expr))

    def rule(self, step) -> list[str]:
        """The rule a backward step implements, with each neuron's own activation derivative written
        out (dout_o1/dnet_o1 = out_o1 * (1 - out_o1)), as a comment."""
        if step.phase not in (OUTPUT_DELTAS, HIDDEN_DELTAS):
            return []
        local = {}
        for sym in step.formula.free_symbols:
            q = self.network.quantity_of[sym]
            factor = self.derivation.step.get(q)
            if (q.is_partial and q.subject.kind == Q.OUT and q.wrt == Q.net(q.subject.name)
                    and factor and factor.phase == DISPLAY):
                local[sym] = factor.formula
        formula = step.formula.xreplace(local)
        products = _symbol_products(formula)
        printed = (" + ".join(f"{names.short(self.network.quantity_of[a])} * {names.short(self.network.quantity_of[b])}"
                              for a, b in products) if products else self.rules.doprint(formula))
        text = f"{names.short(step.quantity)} = {printed}"
        if self.network.loss.fused_delta is not None and step.phase == OUTPUT_DELTAS and step.quantity.kind == Q.DELTA:
            text += ", simplified"
        return [f"{INDENT}# {line}" for line in textwrap.wrap(text, pyformat.LINE_LENGTH - 6, subsequent_indent="    ")]

    # The straight-line program's statements (`lowered.straight`), each printed once: the module's
    # functions are slices of it (the steps each one's results depend on).
    def sum(self, s) -> list[str]:
        """A net input from its terms (weight * input, in the spec's order, bias last), with no
        per-expression printer overhead."""
        return pyformat.sum_assignment(INDENT, names.python(s.quantity), names.net_terms(self.network, s.quantity))

    def let(self, s) -> list[str]:
        step = self.derivation.step[s.name]
        if products := _symbol_products(s.expr):  # a hidden unit's dE/dout: delta * weight for each unit fed
            terms = [f"{self.printer.name(a)} * {self.printer.name(b)}" for a, b in products]
            return self.rule(step) + pyformat.sum_assignment(INDENT, names.python(s.name), terms)
        code = self.printer.inline(s.expr) if _is_activation_statement(step) else self.printer.doprint(s.expr)
        return self.rule(step) + pyformat.assignment(INDENT, names.python(s.name), code)

    def store(self, s) -> list[str]:
        return self.let(lowered.Let(s.quantity, s.expr))

    def forward_values(self) -> list[str]:
        """What ``_forward`` returns: every net and out (and forward temporary), in program order."""
        return [names.python(s.quantity) for s in self.kernel if s.phase == FORWARD]

    def body(self, results: list[sp.Expr], tail: list[str], with_targets: bool, checks: bool = True,
             shared_forward: bool = False, backward: bool = False) -> list[str]:
        """The argument checks, unpacking of what is used, then the needed steps under block comments,
        then ``tail``. ``shared_forward``: the forward pass's values come from ``_forward`` (unpacked
        from the first one used: ``*_, out_o1, out_o2 = _forward(params, inputs)``). ``backward``
        (with ``shared_forward``): the weights the rest reads, the backward pass's, come from the
        argument ``backward`` when it is given (`optimizers.IN_PLACE`)."""
        network = self.network
        read = {sym for r in results for sym in r.free_symbols}
        steps = _needed(self.kernel, read, self.reads)
        forward = []
        if shared_forward:
            forward, steps = [s for s in steps if s.phase == FORWARD], [s for s in steps if s.phase != FORWARD]
        used = {sym for s in steps for sym in self.reads[s.symbol]} | read
        used = {str(network.quantity_of[s]) for s in used}
        lines = []
        if checks:
            lines = [f"{INDENT}if type(params) is not dict:", f"{INDENT * 2}params = _mapping(params)"]
            check = f"len(inputs) != {len(network.inputs)}"
            if with_targets:
                check += f" or len(targets) != {len(network.outputs)}"
            targets = "targets" if with_targets else "None"
            lines += [f"{INDENT}if {check}:", f"{INDENT * 2}raise _length_error(inputs, {targets})"]
        if forward:
            values = self.forward_values()
            first = min(k for k, v in enumerate(values) if v in used)
            unpacked = [v if v in used else "_" for v in values[first:]]
            unpacked = (["*_"] if first else []) + unpacked
            line = f"{INDENT}{', '.join(unpacked)} = _forward(params, inputs)"
            lines += [line] if len(line) <= pyformat.LINE_LENGTH else pyformat.collection(
                INDENT, "(", unpacked, ") = _forward(params, inputs)")
            used -= set(values)
        source = "params"
        if backward and any(p.name in used for p in network.parameters):
            lines += [f"{INDENT}backward = params if backward is None else _mapping(backward)"]
            source = "backward"
        lines += [f'{INDENT}{p.name} = {source}["{p.name}"]' for p in network.parameters if p.name in used]
        lines += [f"{INDENT}{i} = inputs[{k}]" for k, i in enumerate(network.inputs) if i in used]
        if with_targets:
            target_names = [str(Q.target(o)) for o in network.outputs]
            lines += [f"{INDENT}{t} = targets[{k}]" for k, t in enumerate(target_names) if t in used]
        comment = None
        for step in steps:
            if _block_comment(network, step) != comment:
                comment = _block_comment(network, step)
                lines.append(f"{INDENT}# {comment}")
            if step.quantity not in self.printed:
                self.printed[step.quantity] = self.statement(self.statement_of[step.quantity])
            lines += self.printed[step.quantity]
        return lines + tail


def _stores(name: str, entries: list[tuple[str, list[str]]]) -> list[str]:
    """``name = {}``, one ``name["key"] = t1 + t2 + ...`` a parameter, then ``return name``. Per-key
    stores rather than one dict display: CPython builds a display of more than 16 items in chunks
    that it then merges, which costs more than the arithmetic of an update."""
    lines = [f"{INDENT}{name} = {{}}"]
    for key, terms in entries:
        lines += pyformat.sum_assignment(INDENT, f'{name}["{key}"]', terms)
    return [*lines, f"{INDENT}return {name}"]


def _gradient_tail(derivation: Derivation) -> list[str]:
    """The returned gradients, read off the chains: delta of the fed neuron times what the weight
    multiplies; a bias sums the deltas of the neurons it feeds."""
    lines = [f"{INDENT}# {GRADIENTS}: dE_total/d(parameter) = delta of each neuron it feeds * its factor"]
    entries = [(name, [f"delta_{n} * {names.python(src)}" if src else f"delta_{n}" for n, src in chain.delta_shares])
               for name, chain in derivation.chains.items()]
    return lines + _stores("gradients", entries)


def _update_tail(derivation: Derivation) -> list[str]:
    """The updated parameters, straight-line: each gradient is delta * factor, so one ``step_n =
    learning_rate * delta_n`` per neuron a parameter feeds makes every weight's update ``w - step_n * factor``.
    A sum too long for one line (a shared bias of a wide layer) is computed into ``step_<name>`` first."""
    network = derivation.network
    lines = [f"{INDENT}# update: parameter - learning_rate * dE_total/d(parameter)"]
    fed = {n for chain in derivation.chains.values() for n, _ in chain.delta_shares}  # not a pooling unit
    lines += [f"{INDENT}step_{n} = learning_rate * delta_{n}" for layer in network.layers[1:] for n in layer
              if n in fed]
    entries = []
    for name, chain in derivation.chains.items():
        steps = [f"step_{n} * {names.python(src)}" if src else f"step_{n}" for n, src in chain.delta_shares]
        if not steps:  # a weight no unit reads (W_hh over one step): no gradient, no step
            value = name
        elif len(steps) == 1:
            value = f"{name} - {steps[0]}"
        else:
            value = f"{name} - ({' + '.join(steps)})"
        if len(f'{INDENT}updated["{name}"] = {value}') > pyformat.LINE_LENGTH:
            lines += pyformat.sum_assignment(INDENT, f"step_{name}", steps)
            value = f"{name} - step_{name}"
        entries.append((name, [value]))
    return lines + _stores("updated", entries)


def render(derivation: Derivation, version: str, optimizers=None) -> str:
    """The module's source text, byte-identical for the same spec and version; ``optimizers`` (name
    -> `derive.model.optimizers.Optimizer`) replaces optimizers' rules in ``train`` (the audit's slips)."""
    network = derivation.network
    writer = ModuleWriter(derivation)
    outs = [network.symbol(Q.out(o)) for o in network.outputs]
    grads = [derivation.step[Q.gradient(p.name)].compute for p in network.parameters]
    everything = [network.symbol(step.quantity) for step in writer.kernel if step.phase == FORWARD]
    bodies = {
        "run_forward": writer.body(everything, pyformat.collection(INDENT, "return (", writer.forward_values(), ")"),
                                   False, checks=False),
        "forward": writer.body(outs, pyformat.collection(INDENT, "return [", [writer.code(o) for o in outs], "]"),
                               False, shared_forward=True),
        "loss": writer.body([network.symbol(Q.TOTAL_ERROR)], [f"{INDENT}return E_total"], True, shared_forward=True),
        "gradient": writer.body(grads, _gradient_tail(derivation), True, shared_forward=True, backward=True),
        # train_step keeps the forward pass inline: a call to _forward costs about a tenth of a step
        "train_step": writer.body([*grads, *(network.symbol(p.quantity) for p in network.parameters)],
                                  _update_tail(derivation), True),  # the update reads every parameter
    }
    notes = sorted({s.compute.float_note for s in writer.kernel if _is_activation_statement(s)} - {""})
    return module(network, version, bodies, writer.printer.helper_sources(), notes, optimizers)


def module(network, version: str, bodies: dict[str, list[str]], helpers: list[str], notes: list[str],
           optimizers=None, form: str = "straight-line Python", compact: bool = False) -> str:
    """The module around its four functions' bodies (and the helpers they call); ``compact``
    writes the tables compactly (`tables`), for loop form."""
    spec = network.spec
    text = "\n".join(line for body in bodies.values() for line in body)
    training = python_training.context(network, _HelperPrinter(set()), optimizers)
    text += "".join(line for o in training["optimizers"] for line in o["lines"])
    context = {
        "header": header("python", spec, version, "codegen", about=True),
        "name": spec.name,  # an identifier (the spec validator makes sure)
        "form": form,
        "uses_math": "math." in text + "".join(helpers),
        "uses_mul": "mul," in text + "".join(helpers),
        "helpers": helpers,
        "reduction_mean": spec.reduction == "mean",
        "notes": [*notes, *([network.loss.float_note] if network.loss.float_note else []),
                  *([textwrap.fill(batch, 92)] if (batch := batch_inputs(spec)) else [])],
        "parameters": pyformat.collection(
            "", "PARAMETERS = (", [python_string(p.name) for p in network.parameters], ")"
        ),
        "layer_of": pyformat.collection(
            "", "PARAMETER_LAYER = {", [f"{python_string(p.name)}: {p.layer}" for p in network.parameters], "}"
        ),
        "initial": pyformat.collection(
            "", "INITIAL = {", [f"{python_string(p.name)}: {float(p.value)!r}" for p in network.parameters], "}"
        ),
        "learning_rate": repr(float(spec.learning_rate)),
        "inputs": len(network.inputs),
        "outputs": len(network.outputs),
        "run_forward": [],  # loop form has its own _run
        **bodies,
        **training,
        **(tables.tables(network) if compact else {}),
    }
    return environment().get_template("gradients.py.j2").render(context)


def compile_module(derivation: Derivation, version: str, optimizers=None) -> types.ModuleType:
    """The generated module, rendered and executed in memory (`in_memory.compiled`)."""
    return in_memory.compiled(render(derivation, version, optimizers), derivation.network.spec.name)
