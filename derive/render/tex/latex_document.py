"""The step-by-step document as data: sections of blocks (text, align blocks, tables, the figure, the
plot), from the derivation's explanations (`derive.derivation.explain`) and the values. Nothing is
derived here: every line of math is an explanation row printed by `RowPrinter`."""

from __future__ import annotations

from dataclasses import dataclass, field

from derive.derivation.explain import NAMES, NUMBERS, VALUE, Explainer, Row
from derive.escape import latex_text
from derive.model import quantities as Q
from derive.model.layers import activations, biases, shape
from derive.render import names, sums
from derive.render.tex.latex_rows import RowPrinter, figure, function_notes, loss_definition, math, number

DETAIL_LIMIT = 40  # parameters; above it, general per-layer formulas once and tables of values
DELTA_RULE = "delta rule"  # the note of a chain's row in the delta rule's form (`Explainer.chain`)
SAMPLE_LIMIT = 3  # samples written out step by step; above it, tables
TABLE_ROWS = 200  # rows of a value table in compact mode; the rest is in gradients.txt


@dataclass
class Block:
    kind: str  # "text" | "align" | "table" | "figure" | "plot"
    text: str = ""
    rows: list = field(default_factory=list)  # align: (lhs, rhs) pairs; table: lists of cells
    header: list = field(default_factory=list)
    columns: str = ""
    data: dict = field(default_factory=dict)


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: str = "section"


class Document:
    """Every block of the derivation, for one model (see `derive.render.tex.latex.render`)."""

    def __init__(self, model, digits: int = 9, training=()):
        self.model = model
        self.network = model.network
        self.derivation = model.derivation
        self.explainer: Explainer = model.explainer
        self.digits = digits
        self.training = list(training)  # groups of (label, TrainingRun) compared; the spec's own run first
        self.samples = len(model.spec.samples)
        self.printer = RowPrinter(self.network, digits)

    def align(self, rows) -> Block:
        return Block("align", rows=self.printer.rows(rows))

    def value(self, q: Q.Quantity, sample: int = 0) -> str:
        return number(self.model.evaluation.samples[sample][q], self.digits)

    # -- sections ------------------------------------------------------------------------------
    def sections(self) -> list[Section]:
        detailed = len(self.model.parameters) <= DETAIL_LIMIT and self.samples <= SAMPLE_LIMIT
        out = [self.network_section(), self.initial_values()]
        for s in range(self.samples if detailed else 0):
            suffix = f" (sample {s + 1})" if self.samples > 1 else ""
            out += [self.forward(s, suffix), self.error(s, suffix), *self.backward(s, suffix)]
        if not detailed:
            out += self.compact()
        from derive.render.tex.latex_grids import sections as grids
        from derive.render.tex.latex_nodes import sections as nodes
        from derive.render.tex.latex_steps import sections as steps

        out += grids(self) + steps(self) + nodes(self)
        if detailed and self.samples > 1:
            out.append(self.over_samples())
        out.append(self.summary())
        if self.training and self.model.spec.steps:
            out.append(self.training_section())
        return out

    def network_section(self) -> Section:
        spec = self.model.spec
        acts = activations(spec)
        bias = biases(spec)
        reduction = (
            ""
            if self.samples == 1
            else (
                f" The total error {'averages' if spec.reduction == 'mean' else 'sums'} the errors of the "
                f"{self.samples} samples."
            )
        )
        text = (
            f"Layers {latex_text(shape(spec, '--'))}; activations: {latex_text(acts)}; error per sample "
            f"{loss_definition(self.network.loss)}; {bias}; "
            f"learning rate $\\eta = {number(spec.learning_rate, self.digits)}$."
            f"{reduction} Numbers are shown to {self.digits} significant digits, correctly rounded."
        )
        notes = [Block("text", paragraph) for paragraph in function_notes(self.network)]
        return Section("The network", [Block("figure", data=figure(self.network)), Block("text", text), *notes])

    def capped(self, rows: list, what: str) -> list:
        """A table, cut to TABLE_ROWS rows in compact mode with a note saying where the rest is."""
        blocks = []
        if len(self.model.parameters) > DETAIL_LIMIT and len(rows) > TABLE_ROWS:
            blocks.append(Block("text", f"The first {TABLE_ROWS} of {len(rows)} {what}; every value is in "
                                f"\\texttt{{gradients.txt}} (\\texttt{{derive gradients}})."))
            rows = rows[:TABLE_ROWS]
        return [*blocks, rows]

    def initial_values(self) -> Section:
        rows = []
        spec = self.model.spec
        for s, sample in enumerate(spec.samples):
            tag = f" (sample {s + 1})" if self.samples > 1 else ""
            for i, v in zip(self.network.inputs, sample.inputs, strict=True):
                rows.append([f"input{tag}", math(Q.out(i)), f"${number(v, self.digits)}$"])
            for o, v in zip(self.network.outputs, sample.targets, strict=True):
                rows.append([f"target{tag}", math(Q.target(o)), f"${number(v, self.digits)}$"])
        for p in self.network.parameters:
            shown, more = names.edges(p)
            where = (", ".join([*(f"{names.latex_neuron(s)} \\to {names.latex_neuron(n)}" for s, n in shown),
                                *([rf"\text{{{more} more}}"] if more else [])])
                     if p.kind == Q.WEIGHT else ", ".join(names.latex_neuron(n) for n in p.feeds))
            rows.append(
                [
                    p.kind + (f" (${where}$)" if len(where) < 60 else ""),
                    math(p.quantity),
                    f"${number(p.value, self.digits)}$",
                ]
            )
        rows.append(["learning rate", r"$\eta$", f"${number(spec.learning_rate, self.digits)}$"])
        *note, rows = self.capped(rows, "initial values")
        return Section(
            "Initial values", [*note, Block("table", rows=rows, header=["", "quantity", "value"], columns="llr")]
        )

    def forward(self, s: int, suffix: str) -> Section:
        section = Section(f"Forward pass{suffix}")
        ex = self.explainer
        for k, layer in enumerate(self.network.layers[1:], start=1):
            role = "output layer" if k == self.network.depth else f"hidden layer {k}"
            section.blocks.append(
                Block(
                    "text",
                    f"Layer {k} ({role}, {latex_text(self.model.spec.activations[k - 1])}): "
                    "the net input is the weighted sum of what the neuron receives"
                    + (", plus its bias." if any(p.kind == Q.BIAS for p in self.network.parameters) else "."),
                )
            )
            rows = [r for n in layer for r in ex.definition(Q.net(n), s)]
            rows += [r for n in layer for r in ex.definition(Q.out(n), s)]
            section.blocks.append(self.align(rows))
        return section

    def error(self, s: int, suffix: str) -> Section:
        rows = [r for o in self.network.outputs for r in self.explainer.definition(Q.error(o), s)]
        rows += self.explainer.definition(Q.TOTAL_ERROR, s)
        return Section(
            f"The error{suffix}", [Block("text", "Each output's error term, and their sum:"), self.align(rows)]
        )

    def gradient(self, parameter: str, s: int) -> list:
        """A parameter's chain rows; for one whose sum is shortened (`derive.render.sums`: a kernel entry
        used at many positions), the delta rule's form of it, whose terms fit a line."""
        if len(self.network.parameter[parameter].feeds) > sums.LIMIT:
            return self.delta_rule(parameter, s)
        return self.explainer.chain(parameter, s)

    def delta_rule(self, parameter: str, s: int, update: bool = True) -> list[Row]:
        """A gradient's rows in the delta rule's form (its chain's "delta rule" row), with numbers, its
        value, and (with ``update``, as the chain gives it) its update: a kernel entry's gradient as the
        sum over the positions of each unit's delta times the input under the entry."""
        rows = self.explainer.chain(parameter, s, update=update)
        rule = next(r for r in rows if r.kind == NAMES and r.note == DELTA_RULE)
        value = next(k for k, r in enumerate(rows) if r.kind == VALUE)
        numbers = Row(None, NUMBERS, rule.expr, numbers=self.explainer.numbers(s))
        return [Row(rows[0].lhs, NAMES, rule.expr), numbers, *rows[value:]]

    def _weights_of_layer(self, k: int, s: int, section: Section) -> None:
        ex = self.explainer
        for p in self.network.parameters:
            if p.kind == Q.WEIGHT and p.layer == k and not p.feeds:  # W_hh over a single step
                section.blocks.append(Block("text", f"${names.latex(p.quantity)}$ multiplies nothing in this network "
                                            "(a recurrent weight over a single step): its gradient is 0."))
            elif p.kind == Q.WEIGHT and p.layer == k:
                rows = ex.factor(Q.partial(Q.net(p.feeds[0]), p.quantity), s) + self.gradient(p.name, s)
                section.blocks.append(self.align(rows))

    def backward(self, s: int, suffix: str) -> list[Section]:
        network, ex = self.network, self.explainer
        L = network.depth
        output = Section(f"Backward pass: the output layer{suffix}")
        output.blocks.append(Block("text", "For each output neuron, the factors of the chain rule, then its delta "
                                   r"$\delta = \partial E_{\mathrm{total}} / \partial \mathrm{net}$:"))
        coupled = network.layer_activation(L).couples_layer
        if coupled:
            output.blocks.append(Block("text", r"The output activation couples the outputs: each "
                                       r"$\partial \mathrm{out}_{j} / \partial \mathrm{net}_{k}$ is a factor, so each "
                                       "delta sums over every output."))
            output.blocks.append(
                self.align([r for o in network.outputs for r in ex.factor(Q.partial(Q.TOTAL_ERROR, Q.out(o)), s)])
            )
        for o in network.outputs:
            rows = []
            if not coupled:
                rows += ex.factor(Q.partial(Q.TOTAL_ERROR, Q.out(o)), s)
                rows += ex.factor(Q.partial(Q.out(o), Q.net(o)), s)
            output.blocks.append(self.align(rows + ex.definition(Q.delta(o), s)))
        output.blocks.append(
            Block(
                "text",
                r"Each weight into the output layer: $\partial E_{\mathrm{total}}/\partial w = "
                r"\partial E_{\mathrm{total}}/\partial \mathrm{out} \cdot \partial \mathrm{out}/\partial \mathrm{net}"
                r" \cdot \partial \mathrm{net}/\partial w$, and its update.",
            )
        )
        self._weights_of_layer(L, s, output)
        out = [output]
        for k in range(L - 1, 0, -1):
            hidden = Section(f"Backward pass: hidden layer {k}{suffix}")
            hidden.blocks.append(
                Block(
                    "text",
                    "A hidden neuron's output reaches the error through every neuron it feeds, "
                    "so its gradient is a sum over them:",
                )
            )
            hidden.blocks += self.pooling_rule(k + 1)
            for h in network.layers[k]:
                pooled = [r for d, t in network.reads(h) if t.parameter is None
                          for r in ex.factor(Q.partial(Q.net(d), Q.out(h)), s)]
                rows = (
                    pooled + ex.hidden_output_gradient(h, s)
                    + ex.factor(Q.partial(Q.out(h), Q.net(h)), s)
                    + ex.definition(Q.delta(h), s)
                )
                hidden.blocks.append(self.align(rows))
            self._weights_of_layer(k, s, hidden)
            out.append(hidden)
        biases = Section(f"Biases{suffix}")
        biases.blocks.append(
            Block(
                "text",
                r"A bias enters a net input with factor 1, so $\partial E_{\mathrm{total}}/\partial b = \delta$ "
                "of the neuron it feeds; a shared bias sums over every neuron it feeds. "
                "(The reference article leaves the biases out.)",
            )
        )
        for p in network.parameters:
            if p.kind == Q.BIAS:
                biases.blocks.append(self.align(self.gradient(p.name, s)))
        if any(p.kind == Q.BIAS for p in network.parameters):
            out.append(biases)
        return out

    def over_samples(self) -> Section:
        section = Section("Summing over the samples")
        spec = self.model.spec
        scale = rf"\frac{{1}}{{{self.samples}}}" if spec.reduction == "mean" else ""
        section.blocks.append(Block("text", f"The total error {'averages' if scale else 'sums'} the samples' errors, "
                                    "and so does every gradient; then each parameter takes one step."))
        totals = self.model.evaluation.totals
        for p in self.network.parameters:
            g = Q.gradient(p.name)
            parts = [number(self.model.evaluation.samples[s][g], self.digits) for s in range(self.samples)]
            parts = [rf"\left({x}\right)" if x.startswith("-") else x for x in parts]
            parts = sums.elided(parts, r"\cdots")
            rows = [
                (names.latex(g), scale + r"\left(" + " + ".join(parts) + r"\right)" if scale else " + ".join(parts)),
                ("", number(totals[g], self.digits)),
            ]
            section.blocks.append(Block("align", rows=rows + self.printer.rows(self.explainer.update(p.name))))
        return section

    def pooling_rule(self, k: int) -> list[Block]:
        """Layer k's rule for sending its deltas back, where it has no parameters (pooling)."""
        combination = self.network.kind(k).combination
        if combination is None:
            return []
        return [Block("text", latex_text(
            f"Layer {k} ({self.network.typed(k).kind}) has no parameters: each of its units sends its delta "
            f"back {combination.rule}. That share is the factor ")
            + r"$\partial \mathrm{net}/\partial \mathrm{out}$ of each input of its window, in place of a weight"
            r" in $\partial E_{\mathrm{total}}/\partial \mathrm{out}$ of the layer below.")]

    def compact(self) -> list[Section]:
        network = self.network
        L = network.depth
        formulas = Section("The general formulas")
        formulas.blocks.append(
            Block(
                "text",
                f"This network has {len(self.model.parameters)} parameters (more than "
                f"{DETAIL_LIMIT}), so the rules are written once per layer and the values given in tables.",
            )
        )
        d_e = r"\frac{\partial E_{\mathrm{total}}}{\partial \mathrm{out}_{o_k}}"
        bias = r" + b_j" if any(p.kind == Q.BIAS for p in network.parameters) else ""
        rows: list = [  # align's (lhs, rhs) pairs, then a table's lists of cells
            (r"\mathrm{net}_j", r"\textstyle\sum_i w_{ji}\, \mathrm{out}_i" + bias),
            (r"\mathrm{out}_j", r"f(\mathrm{net}_j)"),
        ]
        o = network.outputs[0]
        coupled = network.layer_activation(L).couples_layer
        rows.append(
            (
                r"\delta_{o_j}",
                rf"\textstyle\sum_k {d_e} \cdot "
                r"\frac{\partial \mathrm{out}_{o_k}}{\partial \mathrm{net}_{o_j}}"
                if coupled
                else r"\frac{\partial E_{\mathrm{total}}}{\partial \mathrm{out}_{o_j}} \cdot "
                r"\frac{\partial \mathrm{out}_{o_j}}{\partial \mathrm{net}_{o_j}}",
            )
        )
        rows.append(
            (
                r"\delta_{h_j}",
                r"\Big(\textstyle\sum_k \delta_k\, w_{kj}\Big) \cdot "
                r"\frac{\partial \mathrm{out}_{h_j}}{\partial \mathrm{net}_{h_j}}",
            )
        )
        rows.append(
            (
                r"\frac{\partial E_{\mathrm{total}}}{\partial w_{ji}}",
                r"\delta_j \cdot \mathrm{out}_i, \qquad \frac{\partial E_{\mathrm{total}}}"
                r"{\partial b} = \textstyle\sum_{j \text{ fed by } b} \delta_j",
            )
        )
        formulas.blocks.append(Block("align", rows=rows))
        for k in range(1, L + 1):
            formulas.blocks += self.pooling_rule(k)
        formulas.blocks.append(
            Block("text", "With the first neuron of each layer as the example, the derivative factors are:")
        )
        example = []
        if not coupled:
            example.append(Q.partial(Q.TOTAL_ERROR, Q.out(o)))
        for k in range(1, L + 1):
            first = network.layers[k][0]
            if network.kind(k).combination is not None:  # a pooling unit's net input and its local partials
                example.append(Q.net(first))
                example += [q for t in network.net_terms[first]
                            if (q := Q.partial(Q.net(first), t.factor)) in self.derivation.step][:2]
            q = Q.partial(Q.out(first), Q.net(first))
            if q in self.derivation.step:
                example.append(q)
        rows = [(names.latex(q), self.printer.names(self.derivation.step[q].formula)) for q in example]
        rows.append((names.latex(Q.delta(o)), self.printer.names(self.derivation.step[Q.delta(o)].compute)))
        formulas.blocks.append(Block("align", rows=rows))
        values = Section("Values of every neuron")
        for s in range(self.samples):
            v = self.model.evaluation.samples[s]
            rows = [[str(k), f"${names.latex_neuron(n)}$", f"${number(v[Q.net(n)], self.digits)}$",
                     f"${number(v[Q.out(n)], self.digits)}$", f"${number(v[Q.delta(n)], self.digits)}$"]
                    for k, layer in enumerate(network.layers[1:], start=1) for n in layer]
            label = f"Sample {s + 1}: " if self.samples > 1 else ""
            values.blocks.append(Block("text", f"{label}$E_{{\\mathrm{{total}}}} = {self.value(Q.TOTAL_ERROR, s)}$."))
            *note, rows = self.capped(rows, "neurons")
            values.blocks += [
                *note,
                Block(
                    "table",
                    rows=rows,
                    header=["layer", "neuron", r"$\mathrm{net}$", r"$\mathrm{out}$", r"$\delta$"],
                    columns="clrrr",
                ),
            ]
        return [formulas, values]

    def summary(self) -> Section:
        totals = self.model.evaluation.totals
        rows = [
            [
                math(p.quantity),
                f"${number(p.value, self.digits)}$",
                f"${number(totals[Q.gradient(p.name)], self.digits)}$",
                f"${number(totals[p.quantity.with_update()], self.digits)}$",
            ]
            for p in self.network.parameters
        ]
        *note, rows = self.capped(rows, "parameters")
        section = Section(
            "Summary: every gradient and update",
            [
                *note,
                Block(
                    "table",
                    rows=rows,
                    columns="lrrr",
                    header=["parameter", "before", r"$\partial E_{\mathrm{total}}/\partial \cdot$", "after one step"],
                ),
            ],
        )
        runs = self.training[0] if self.training else []
        if runs and runs[0][1].error_after_first is not None:
            text = (
                f"The total error goes from $E_{{\\mathrm{{total}}}} = {number(totals[Q.TOTAL_ERROR], self.digits)}$ "
                f"to ${number(runs[0][1].error_after_first, self.digits)}$ after this step "
                f"({latex_text(self.model.spec.training.describe())})"
            )
            text += "".join(f"; with {latex_text(label)}, it goes to ${number(run.error_after_first, self.digits)}$"
                            for label, run in runs[1:])
            section.blocks.append(Block("text", text + " (float64)."))
        return section

    def training_section(self) -> Section:
        from derive.render.tex.latex_training import training_section

        return Section(f"Training for {self.model.spec.steps} steps", training_section(self, self.training))
