"""The document's training section, from data: the optimizer's update of one parameter derived with
numbers (rows of `derive.derivation.explain.step_rows`, from the 60-digit first steps), a table of
the optimizer's state for every parameter over the first steps, and runs compared side by side, each
a table of errors and outputs and a plot of both loss curves. The runs come from the API
(`derive.Model.training_comparisons`); nothing is trained or derived here."""

from __future__ import annotations

from derive.derivation.exact_training import example_parameter
from derive.derivation.exact_training import state_table as state_table_of
from derive.escape import latex_text
from derive.model import quantities as Q
from derive.model.optimizers import SLOTS
from derive.render import names
from derive.render.tex.latex_document import Block
from derive.render.tex.latex_rows import RowPrinter, column, math

SHOWN_STEPS = 2  # steps of one parameter's update derived row by row
TABLE_STEPS = 3  # steps of the optimizer-state table
TABLE_DIGITS = 6  # its significant digits: Adam's table has six columns of numbers
STYLES = ("thick, blue", "thick, red, dashed", "thick, teal, dotted")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def training_section(document, comparisons) -> list:
    """The blocks of the section (`derive.render.tex.latex_document.Block`); ``comparisons`` is a list of
    groups of (label, TrainingRun), the spec's own run first in the first group."""
    model, digits = document.model, document.digits
    network, settings = model.network, model.spec.training
    exact = model.exact_training
    printer = RowPrinter(network, digits, superscript_steps=True)
    name = example_parameter(network)
    gradient = ("the gradient of the total error at the parameters after step $t-1$"
                if exact.full_batch else "the gradient $g^{(t)}$ of step $t$'s batch loss")
    blocks = [
        Block("text", f"Training: {latex_text(settings.describe())}. The update rule of "
              f"{latex_text(settings.entry.description)} for one parameter, ${names.latex(Q.parameter(name))}$, with "
              f"numbers; $x^{{(t)}}$ is a value after step $t$, and each step uses {gradient}. These first steps are "
              "computed at 60 digits; the runs below are float64."),
    ]
    for t in range(1, SHOWN_STEPS + 1):
        blocks += [Block("text", f"Step {t}:"), Block("align", rows=printer.rows(exact.rows(name, t)))]
    blocks += state_table(document, exact)
    for group in comparisons:
        blocks += compared(document, group)
    return blocks


def state_table(document, exact) -> list:
    digits = min(document.digits, TABLE_DIGITS)
    table = state_table_of(exact, TABLE_STEPS)
    by_column = zip(*([*values, after] for _, _, values, after in table.rows), strict=True)
    cells = [column(c, digits) for c in by_column]
    rows = [[math(Q.parameter(name)) if t == 1 else "", str(t), *(f"${c[k]}$" for c in cells)]
            for k, (name, t, _, _) in enumerate(table.rows)]
    *note, rows = document.capped(rows, "rows")
    text = (f"The optimizer's state for every trained parameter over the first {TABLE_STEPS} steps, to {digits} "
            "significant digits ($g$ the step's batch gradient")
    text += f", {exact.optimizer.legend}" if exact.optimizer.legend else ""
    text += ")."
    if table.frozen:
        text += " Frozen, keeping their values and no state: " + ", ".join(
            math(Q.parameter(n)) for n in table.frozen) + "."
    return [Block("text", text), *note, Block("table", rows=rows, columns="lr" + "r" * (len(table.slots) + 1),
                                             header=["", "$t$", *(f"${SLOTS[s].latex}$" for s in table.slots),
                                                     "after step $t$"])]


def compared(document, group) -> list:
    """Runs side by side: their errors and outputs in one table, their loss curves in one plot."""
    network, digits = document.network, document.digits
    steps = group[0][1].steps
    error = names.latex(Q.TOTAL_ERROR)
    labels = [f"${error}$ after the first step", f"${error}$ {Q.after(steps)}"]
    several = len(group[0][1].outputs) > 1
    labels += [f"{math(Q.out(o))}{f' (sample {s + 1})' if several else ''} {Q.after(steps)}"
               for s in range(len(group[0][1].outputs)) for o in network.outputs]
    cells = [column([run.error_after_first, run.error, *(v for outputs in run.outputs for v in outputs)], digits)
             for _, run in group]  # a run's column in one number format
    rows = [[label, *(f"${c[k]}$" for c in cells)] for k, label in enumerate(labels)]
    labels = [latex_text(label) for label, _ in group]
    series = [{"label": label, "style": style,
               "points": " ".join(f"({step},{error:.6e})" for step, error in run.history if error > 0)}
              for label, style, (_, run) in zip(labels, STYLES, group, strict=False)]
    return [
        Block("text", f"{_sentence(' and '.join(labels))}, side by side ({steps} steps each):"),
        Block("table", rows=rows, header=["", *labels], columns="l" + "r" * len(group)),
        Block("plot", data={"steps": steps, "series": series}),
    ]
