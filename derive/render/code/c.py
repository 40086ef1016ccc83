"""Render the derivation as C99 (libm only): a source, its header, and a Python binding beside them.

The network's arithmetic is one static function, ``run``, written once: the forward pass, then (given
targets) the error, then (given a gradient array) the backward pass. ``forward``, ``loss``,
``gradient``, ``train_step`` and ``train`` all call it, so the forward pass is not repeated. Small
networks get it straight-line from the derivation's kernel steps (one ``const double`` a step, in
program order, printed by `derive.render.code.c_printer`); above `loops.LOOP_THRESHOLD` parameters it is
written in loop form by `derive.render.code.c_loops` (arrays and layer loops, following the matrix form),
which compiles in seconds where straight-line code would take minutes.

``train`` runs in C with every optimizer of `derive.model.optimizers` (its update of one parameter
printed from the same rules as the plain-Python module's), weight decay, frozen parameters, full
batch, mini-batches and shuffling (`epoch_order` ported bit for bit) and sum or mean reduction.
The in-place update order (a teaching option) stays with the plain-Python module.
"""

from __future__ import annotations

import hashlib

from derive.derivation import lowered
from derive.derivation.steps import Derivation
from derive.escape import c_comment, c_identifier, c_string, python_string
from derive.model import optimizers
from derive.model import quantities as Q
from derive.render import names
from derive.render.code import c_batch, c_deferred, c_loops, python_training, tables
from derive.render.code.c_printer import CPrinter
from derive.render.code.header import header
from derive.render.code.loops import lowerable
from derive.render.code.walker import Printer, walk
from derive.render.templating import environment

#: -march=native: vector instructions of this machine (2.4x on 784-32-10's forward pass, AVX2 over SSE2),
#: so the binding names the library after the machine too; -ffp-contract=off: no fused multiply-adds,
#: every operation rounded as in Python. libm's errno is never read; omp simd pragmas only, no runtime.
FLAGS = ("-std=c99", "-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fopenmp-simd", "-fPIC",
         "-shared")
#: what a build adds for glibc's vector exp in the logistic (gradients.c.j2's DERIVE_VECTOR_EXP): no trap
#: is enabled, so both sides of the helper's selections may be computed, and those two selections on one
#: condition are not made into branches (either kept the loop scalar); neither changes a value
VECTOR_EXP = ("-DDERIVE_VECTOR_EXP", "-fno-trapping-math", "-fno-thread-jumps")
SOURCE, HEADER, BINDING = "gradients.c", "gradients.h", "gradients_c.py"
#: ``--dtype``: the C type of every number of the source
REAL = {"float64": "double", "float32": "float"}
INDENT = "    "


class _Straight(Printer):
    """The body of ``run`` straight-line: every kernel step once, in program order, with the early returns."""

    def __init__(self, program: lowered.Program, network, printer: CPrinter):
        super().__init__(program)
        self.network, self.printer, self.real = network, printer, printer.real

    def begin(self):
        network = self.network
        return [*(f"{INDENT}const {self.real} {p.name} = p[{k}];" for k, p in enumerate(network.parameters)),
                *(f"{INDENT}const {self.real} {i} = x[{k}];" for k, i in enumerate(network.inputs))]

    def sum(self, s):  # from its terms, in the spec's order (the Python module's sums)
        return [f"{INDENT}const {self.real} {names.python(s.quantity)} = "
                f"{' + '.join(names.net_terms(self.network, s.quantity)) or '0.0'};"]

    def let(self, s):
        return [f"{INDENT}const {self.real} {names.python(s.name)} = {self.printer.doprint(s.expr)};"]

    def store(self, s):
        return [f"{INDENT}g[{s.index}] = {self.printer.doprint(s.expr)};"]

    def outputs_done(self):
        outputs = self.network.outputs
        stores = [f"{INDENT * 2}out[{k}] = {names.python(Q.out(o))};" for k, o in enumerate(outputs)]
        return [f"{INDENT}if (out) {{", *stores, f"{INDENT}}}", f"{INDENT}if (!t) {{", f"{INDENT * 2}return 0.0;",
                f"{INDENT}}}",
                *(f"{INDENT}const {self.real} {names.python(Q.target(o))} = t[{k}];" for k, o in enumerate(outputs))]

    def error_done(self):
        return [f"{INDENT}if (!g) {{", f"{INDENT * 2}return E_total;", f"{INDENT}}}"]

    def end(self):
        return [f"{INDENT}return E_total;"]


def _state_sets() -> list[tuple[str, ...]]:
    """The sets of slots the optimizers keep from step to step, none first, then in the table's order:
    an optimizer's number among them tells ``train`` which state arrays it needs (``kept``)."""
    return [(), *dict.fromkeys(o.state for o in optimizers.OPTIMIZERS.values() if o.state)]


def _state_context() -> dict:
    """``train``'s state arrays, ``s_<slot>``, one a slot some optimizer keeps, and what the templates say
    of them: all from the table of `optimizers`, so an optimizer with a new slot needs no template edit."""
    sets = _state_sets()
    slots = list(dict.fromkeys(s for state in sets for s in state))
    kept = []  # for each set but none: its number (``kept``), its arrays, the optimizers keeping it
    for number, state in enumerate(sets[1:], start=1):
        names = [o.name for o in optimizers.OPTIMIZERS.values() if o.state == state]
        kept.append((number, [f"s_{s}" for s in state], names))
    missing = {n: f"!{a[0]}" if len(a) == 1 else f"({' || '.join(f'!{s}' for s in a)})" for n, a, _ in kept}
    return {
        "state_slots": slots,
        "state_keys": [python_string(s) for s in slots],
        "state_tuple": python_training.tuple_of(slots),
        "state_missing": " || ".join(f"(kept[optimizer] == {n} && {missing[n]})" for n, _, _ in kept) or "0",
        "state_users": " or ".join(f"{' and '.join(a)} ({', '.join(names)})" for _, a, names in kept),
        "state_uses": ", ".join(f"{' and '.join(a)} for {' and '.join(names)}" for _, a, names in kept),
        "plain_name": optimizers.PLAIN,
        "plain_code": list(optimizers.OPTIMIZERS).index(optimizers.PLAIN),
    }


def _optimizer_cases(printer_of, real: str) -> list[dict]:
    """Each optimizer's update of parameter k as C statements, from the rules of `optimizers`."""
    cases, sets = [], _state_sets()
    for code, o in enumerate(optimizers.OPTIMIZERS.values()):
        printer = printer_of()
        lines = [f"{real} {optimizers.SLOT[s]} = s_{s}[k];" for s in o.state]
        for target, expr in o.rules:
            left = "p_" if target == optimizers.PARAMETER else optimizers.SLOT[target].name
            declare = "" if target == optimizers.PARAMETER or target in o.state else f"const {real} "
            lines.append(f"{declare}{left} = {printer.doprint(expr)};")
        lines += [f"s_{s}[k] = {optimizers.SLOT[s]};" for s in o.state]
        cases.append({"code": code, "name": o.name, "lines": lines, "kept": sets.index(o.state)})
    return cases


def render(derivation: Derivation | None, network, version: str, loops: bool, dtype: str = "float64") -> dict[str, str]:
    """The three files (name -> text), byte-identical for the same spec and version, in loop form
    (``loops``, chosen by `derive.render.code.targets`) or straight-line. ``derivation`` may be None in
    loop form, which reads the network and its registry entries only. ``dtype`` "float32": the source
    and header in C's float (for small devices), without the Python binding, which is float64's."""
    spec = network.spec
    prefix = c_identifier(spec.name)
    real = REAL[dtype]
    by_name = CPrinter(lambda s: {"p": "p_", "t": "t_"}.get(s.name, s.name), None, real)  # p, t: arrays of run
    cases = _optimizer_cases(lambda: by_name, real)
    plain = cases[_state_context()["plain_code"]]  # its step, fused into run_batch's stores (no state kept)
    assert plain["kept"] == 0 and len(plain["lines"]) == 1, plain
    program = lowered.lower(network) if lowerable(network) else None  # lowered once: every loop printed from it
    batched = c_batch.batch_body(program, real, plain["lines"][0]) if program is not None else None
    deferred = c_deferred.deferred(program, real) if loops and program is not None and batched else None
    if loops:
        assert program is not None  # the loop form is chosen for lowerable networks only (`targets.loops`)
        called = (batched[1] if batched else set()) | (deferred["helpers"] if deferred else set())
        body, helpers = c_loops.run_body(program, called, real)
    else:
        printer = CPrinter(lambda s: names.python(network.quantity_of[s]), set(batched[1]) if batched else None,
                           real)
        straight = lowered.straight(derivation)
        body = walk(straight, _Straight(straight, network, printer))
        helpers = printer.helper_sources()
    context = {
        "header": header("c", spec, version, "codegen --target c", about=True),
        "title": c_comment(spec.title),
        "prefix": prefix,
        "guard": f"DERIVE_{prefix.upper()}_H",
        "parameters": len(network.parameters),
        "inputs": len(network.inputs),
        "outputs": len(network.outputs),
        "names": ", ".join(c_string(p.name) for p in network.parameters),
        "helpers": helpers,
        "run": body,
        "batch": batched[0] if batched else None,
        "deferred": deferred,
        "block": c_batch.BLOCK,
        "loop_form": loops,
        "cases": cases,
        "real": real,
        **_state_context(),
        "optimizer_names": ", ".join(f"{k} {o}" for k, o in enumerate(optimizers.OPTIMIZERS)),
        "optimizer_codes": list(enumerate(optimizers.OPTIMIZERS)),
        "initial": _initial(network, by_name.suffix),
    }
    env = environment()
    source = env.get_template("gradients.c.j2").render(context)
    head = env.get_template("gradients.h.j2").render(context)
    if dtype != "float64":
        return {SOURCE: source, HEADER: head}
    digest = hashlib.sha256((source + head + " ".join(FLAGS)).encode()).hexdigest()[:16]
    training = _training_defaults(network)
    binding = env.get_template("gradients_c.py.j2").render({
        "header": header("python", spec, version, "codegen --target c", about=True),
        "name": spec.name,
        "prefix": prefix,
        "digest": digest,
        "flags": ", ".join(python_string(f) for f in FLAGS),
        "source_file": python_string(SOURCE),
        "header_file": python_string(HEADER),
        **tables.tables(network),
        "inputs": len(network.inputs),
        "outputs": len(network.outputs),
        "fill_inputs": _fill("_XV", "_X", "inputs", len(network.inputs)),
        "fill_targets": _fill("_TV", "_T", "targets", len(network.outputs)),
        "learning_rate": repr(float(spec.learning_rate)),
        "optimizer_codes": "{" + ", ".join(f"{python_string(o)}: {k}" for k, o in enumerate(optimizers.OPTIMIZERS))
                           + "}",
        **_state_context(),
        **training,
    })
    return {SOURCE: source, HEADER: head, BINDING: binding}


#: values up to which the binding's fast path stores a list's items one by one (an unpacking into a
#: memoryview of the buffer: 2 values in 79 ns against ctypes' slice assignment's 109; even at 8)
UNPACKED = 8


def _fill(view: str, buffer: str, values: str, size: int) -> str:
    """The binding's statement copying the list ``values`` into a shared buffer: item by item through its
    memoryview ``view`` up to `UNPACKED` values (a wrong length or a non-number raises TypeError or
    ValueError, as ctypes' slice assignment does), else that slice assignment."""
    if size > UNPACKED:
        return f"{buffer}[:] = {values}"
    items = ", ".join(f"{view}[{k}]" for k in range(size))
    return f"({items},) = {values}" if size == 1 else f"{items} = {values}"


def _initial(network, suffix: str) -> str:
    """The spec's parameter values as a C initializer's items, eight a line (continued with backslashes:
    the macro is one logical line); each the nearest double, as C reads the shortest decimal of it."""
    values = [repr(float(p.value)) + suffix for p in network.parameters]
    return ", \\\n    ".join(", ".join(values[k:k + 8]) for k in range(0, len(values), 8))


def _training_defaults(network) -> dict:
    context = python_training.context(network, CPrinter(lambda s: s.name))
    return {"defaults": context["defaults"], "settings": context["settings"], "epoch_order": context["epoch_order"]}
