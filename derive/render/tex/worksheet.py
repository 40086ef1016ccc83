"""An exercise's worksheet and key, as LaTeX through the one document template.

The worksheet shows the variant's network with its numbers (the diagram with every parameter's
value, the table of initial values) and the questions, with room to write. The key is the variant's
full step-by-step document (`derive.render.tex.latex_document.Document`, the same rows every printer
prints), with an answers table first and each asked value boxed where the derivation reaches it.
``questions`` are the exercise's (each with ``quantity``, ``decimals``, ``answer``, ``tolerance``).
"""

from __future__ import annotations

from derive.derivation.explain import VALUE
from derive.escape import latex_text
from derive.model.layers import activations, biases, shape
from derive.model.modes import BiasMode
from derive.render import names
from derive.render.tex import latex, latex_nodes
from derive.render.tex.latex_document import Block, Document, Section
from derive.render.tex.latex_rows import RowPrinter, figure, loss_definition, number

ANSWER_SPACE = "2.2em"  # below each question, for the working


class BoxingPrinter(RowPrinter):
    """Rows as `RowPrinter` prints them, with the value of each asked quantity boxed the first time
    the document derives it."""

    def __init__(self, network, digits: int, asked):
        super().__init__(network, digits)
        self.pending = set(asked)

    def rows(self, rows) -> list[tuple[str, str]]:
        out, current = [], None
        for row in rows:
            current = row.lhs if row.lhs is not None else current
            lhs, rhs = self.row(row)
            if row.kind == VALUE and current in self.pending:
                self.pending.discard(current)
                rhs = rf"\boxed{{{rhs}}}"
            out.append((lhs, rhs))
        return out


def _decimals(d: int) -> str:
    return f"{d} decimal{'s' if d != 1 else ''}"


def _network_text(model) -> str:
    spec = model.spec
    acts = activations(spec)
    bias = "" if spec.bias == BiasMode.NONE else " + b"
    return (f"Layers {latex_text(shape(spec, '--'))}; activations: {latex_text(acts)}; error per sample "
            f"{loss_definition(model.network.loss)}; {biases(spec)}; "
            f"learning rate $\\eta = {number(spec.learning_rate, 9)}$. "
            rf"Net inputs are $\mathrm{{net}}_j = \sum_i w_{{ji}}\,\mathrm{{out}}_i{bias}$, "
            r"and $\delta = \partial E_{\mathrm{total}}/\partial \mathrm{net}$.")


def sheet(model, questions, number_: int, version: str) -> str:
    """The worksheet of one variant: its network with its numbers, and the questions."""
    document = Document(model)
    network = Section("Your network", [Block("figure", data=figure(model.network, values=True)),
                                       Block("text", _network_text(model))])
    items = "\n".join(
        rf"\item ${names.latex(q.quantity, inline=True)}$ \hfill to {_decimals(q.decimals)}: \quad "
        rf"\rule{{0.32\linewidth}}{{0.4pt}}\vspace{{{ANSWER_SPACE}}}"
        for q in questions
    )
    asked = Section("Questions", [
        Block("text", "Compute one step of backpropagation by hand (a calculator is fine) and give each value "
              "correctly rounded to the decimals asked. Keep more digits in your working than you write down."),
        Block("text", "\\begin{enumerate}\n" + items + "\n\\end{enumerate}"),
    ])
    title = f"Exercise {number_}: {model.spec.title}"
    nodes = latex_nodes.sections(document, values=False)  # a normalization's nodes: what each h is
    return latex.source(model.spec, version, "exercise", title, [network, *nodes, document.initial_values(), asked],
                        contents=False)


def key(model, questions, number_: int, version: str, digits: int = 9, training=()) -> str:
    """The key of one variant: the answers, then the whole derivation with the asked values boxed;
    ``training``: groups of (label, TrainingRun) for its training section (the variant's one step)."""
    single = len(model.spec.samples) == 1
    # With several samples the document derives sample 1 first: its values are boxed, not the totals.
    asked = [q.quantity.at_sample(None) for q in questions if single or q.quantity.sample == 0]
    document = Document(model, digits, training)
    document.printer = BoxingPrinter(model.network, digits, asked)
    sections = document.sections()
    rows = [[f"${names.latex(q.quantity, inline=True)}$", f"${q.answer}$", f"$\\pm {q.tolerance:f}$",
             f"${number(q.value, digits)}$"] for q in questions]
    boxed = "; the derivation below boxes each where it is reached" if len(document.printer.pending) < len(
        set(asked)) else ""
    answers = Section("Answers", [
        Block("text", "Each answer is accepted within half a unit of its last asked decimal of the exact value "
              f"(any correctly rounded answer is){boxed}."),
        Block("table", rows=rows, header=["quantity", "answer", "accepted", "exact"], columns="lrrr"),
    ])
    title = f"Key to exercise {number_}: {model.spec.title}"
    return latex.source(model.spec, version, "exercise", title, [answers, *sections], contents=False)
