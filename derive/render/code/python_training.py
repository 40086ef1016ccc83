"""The generated module's training loop: its defaults (the spec's ``[training]`` settings) and each
optimizer's update of one parameter, printed from the rules of `derive.model.optimizers`, so the
loop a user runs and the exact engine apply the same formulas. The loop itself is written once, in
``templates/gradients.py.j2``; `epoch_order` is copied into it verbatim, so that shuffled batches
are the same in the module as in the engine.
"""

from __future__ import annotations

import inspect
import textwrap

from derive.derivation.evaluate import training_settings
from derive.escape import python_string
from derive.model import optimizers
from derive.model import quantities as Q
from derive.render.code import pyformat

LOOP_INDENT = " " * 20  # the body of ``for name in group:`` in the template


def update_lines(optimizer: optimizers.Optimizer, printer) -> list[str]:
    """One parameter's update, ``name`` being its name: read its value, its batch gradient and its
    state, apply the rules in order (``printer`` prints each symbol by its own name), store the state
    and the new value."""
    lines = [f"{LOOP_INDENT}p = params[name]", f"{LOOP_INDENT}g = scale * grads[name]"]
    lines += [f"{LOOP_INDENT}{optimizers.SLOT[s]} = state_{s}[name]" for s in optimizer.state]
    for target, expr in optimizer.rules:
        left = "params[name]" if target == optimizers.PARAMETER else optimizers.SLOT[target].name
        lines += pyformat.assignment(LOOP_INDENT, left, printer.doprint(expr))
    lines += [f"{LOOP_INDENT}state_{s}[name] = {optimizers.SLOT[s]}" for s in optimizer.state]
    return lines


def tuple_of(names) -> str:
    """A tuple of strings as ruff writes it: ``()``, ``("buf",)``, ``("m", "v")``."""
    items = [python_string(n) for n in names]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def context(network, printer, table: dict[str, optimizers.Optimizer] | None = None) -> dict:
    """The template's training variables; ``table`` replaces optimizers' rules (the audit's slips)."""
    spec = network.spec
    settings = training_settings(spec)
    table = {**optimizers.OPTIMIZERS, **(table or {})}
    biases = [python_string(p.name) for p in network.parameters if p.kind == Q.BIAS]
    options = settings.module_options()
    return {
        "defaults": [
            f"OPTIMIZER = {python_string(settings.optimizer)}",
            f"MOMENTUM = {options['momentum']!r}",
            f"BETAS = {options['betas']!r}",
            f"EPS = {options['eps']!r}",
            f"WEIGHT_DECAY = {options['weight_decay']!r}",
            f"BATCH_SIZE = {settings.batch_size}",
            f"SHUFFLE = {settings.shuffle}",
            f"SEED = {settings.seed}",
            f"UPDATE_ORDER = {python_string(settings.update_order)}",
            f"REDUCTION = {python_string(spec.reduction)}",
            *([f"BIASES = ({biases[0]},)"] if len(biases) == 1 else pyformat.collection("", "BIASES = (", biases, ")")),
            "FROZEN = BIASES" if settings.freeze_biases else "FROZEN = ()",
            *pyformat.collection("", "OPTIMIZERS = {", [
                f"{python_string(o.name)}: {tuple_of(o.state)}" for o in table.values()], "}"),
        ],
        "optimizers": [{"name": python_string(o.name), "state": o.state, "lines": update_lines(o, printer)}
                       for o in table.values()],
        "epoch_order": inspect.getsource(optimizers.epoch_order).rstrip("\n"),
        **_names(table),
        "settings": textwrap.wrap(settings.describe() + ".", 84),  # text of ours: numbers and fixed words
    }


def _names(table: dict[str, optimizers.Optimizer]) -> dict:
    """The optimizers' names as the module's text says them, from the table (no template names one):
    the one without state, the choices, and the usage example's (the first keeping the most state)."""
    quoted = [python_string(name) for name in table]
    return {
        "plain": python_string(optimizers.PLAIN),
        "plain_name": optimizers.PLAIN,
        "optimizer_choices": f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0],
        "example_optimizer": python_string(max(table.values(), key=lambda o: len(o.state)).name),
    }
