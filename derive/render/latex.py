"""Render the derivation as a LaTeX document, or one quantity's derivation as an ``align`` block.

The document is built as data first (sections of blocks: paragraphs, align blocks, tables, the
figure, the plot), from the derivation's records and the evaluation's values, then printed through
``templates/document.tex.j2``. Nothing is recomputed here: every expression is a step's formula,
printed by SymPy's LaTeX printer twice, once with names and once with each symbol's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from derive.model import naming
from derive.render.latex_text import escape, number
from derive.render.templating import environment

DETAIL_LIMIT = 40  # parameters; above it, general per-layer formulas once and tables of values
SAMPLE_LIMIT = 3  # samples written out step by step; above it, tables
LABEL_LIMIT = 24  # edges in the figure that get a weight label
DRAWN_PER_LAYER = 8  # neurons drawn per layer in the figure; the rest is elided
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


class Printer:
    """One sample's quantities as LaTeX: with names, or with the values substituted."""

    def __init__(self, model, sample: int, digits: int):
        network = model.network
        self.digits = digits
        self.values = model.evaluation.samples[sample]
        exact = network.sample_values(sample)
        self.names = {}
        self.numbers = {}
        for name in list(self.values) + [naming.partial(naming.TOTAL, p) for p in model.parameters]:
            sym = network.symbol(name)
            self.names[sym] = naming.latex(name)
            if name in self.values:
                text = number(exact.get(name, self.values[name]), digits)
                self.numbers[sym] = rf"\left({text}\right)" if text.startswith("-") else text

    def name(self, expr) -> str:
        return sp.latex(expr, symbol_names=self.names, order="none", mul_symbol="dot", ln_notation=True)

    def numbers_of(self, expr) -> str:
        return sp.latex(expr, symbol_names=self.numbers, order="none", mul_symbol="dot", ln_notation=True)

    def value(self, quantity: str) -> str:
        return number(self.values[quantity], self.digits)


def _product(*factors):
    return sp.Mul(*factors, evaluate=False)


def _sum(*terms):
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]


class Document:
    """Every block of the derivation, for one model (see `render` and `quantity_block`)."""

    def __init__(self, model, digits: int = 9, training=None, first_step_weights_only=None):
        self.model = model
        self.network = model.network
        self.derivation = model.derivation
        self.digits = digits
        self.training = training
        self.first_step_weights_only = first_step_weights_only  # E_total after one step, biases frozen
        self.samples = len(model.spec.samples)
        self.printers = [Printer(model, s, digits) for s in range(self.samples)]
        self.sym = self.network.symbol

    # -- one quantity at a time -----------------------------------------------------------------
    def definition(self, quantity: str, sample: int = 0, rows=None) -> list[tuple[str, str]]:
        """quantity = formula = formula with numbers = value, as align rows."""
        p = self.printers[sample]
        step = self.derivation.step[quantity]
        formula = self.display(quantity)
        rows = [] if rows is None else rows
        lhs = naming.latex(quantity)
        shown = p.name(formula)
        rows.append((lhs, shown))
        if formula.free_symbols and not formula.is_Symbol:  # a lone symbol's numbers are its value
            rows.append(("", p.numbers_of(formula)))
        if step.compute != step.formula and step.phase in ("output deltas",) and quantity.startswith("delta_"):
            rows.append(("", p.name(step.compute) + r" \quad\text{(simplified)}"))
        rows.append(("", p.value(quantity)))
        return rows

    def display(self, quantity: str) -> sp.Expr:
        """The textbook form of a quantity's definition."""
        network = self.network
        step = self.derivation.step[quantity]
        if quantity.startswith("net_"):
            n = quantity[4:]
            return _sum(*(
                _product(self.sym(t.parameter), self.sym(t.factor)) if t.factor else self.sym(t.parameter)
                for t in network.net_terms[n]
            ))
        if quantity.startswith("out_") and "/" not in quantity:
            n = quantity[4:]
            act = network.activation(n)
            if act.name == "softmax":
                layer = network.layers[network.layer_of[n]]
                nets = [self.sym(naming.net(m)) for m in layer]
                with sp.evaluate(False):
                    return sp.exp(self.sym(naming.net(n))) / sp.Add(*(sp.exp(x) for x in nets))
            return act.display(self.sym(naming.net(n)))
        if quantity == naming.TOTAL:
            return _sum(*(self.sym(naming.error(o)) for o in network.outputs))
        return step.formula

    def factor(self, quantity: str, sample: int = 0) -> list[tuple[str, str]]:
        """A chain-rule factor derived: d/dB of A's definition, its derivative, numbers, value."""
        p = self.printers[sample]
        of, wrt = quantity.split("/")
        of, wrt = of[1:], wrt[1:]
        rows = [(naming.latex(quantity), "")]
        if of in self.derivation.step and wrt.startswith(("net_", "out_")) or of.startswith("net_"):
            source = self.display(of) if of in self.derivation.step else None
            if source is not None and of != naming.TOTAL:
                rows[0] = (naming.latex(quantity), rf"\frac{{\partial}}{{\partial {naming.latex(wrt)}}} \left({p.name(source)}\right)")
        formula = self.derivation.step[quantity].formula
        text = p.name(formula)
        if rows[0][1]:
            rows.append(("", text))
        else:
            rows[0] = (rows[0][0], text)
        if formula.free_symbols and not formula.is_Symbol:
            rows.append(("", p.numbers_of(formula)))
        rows.append(("", p.value(quantity)))
        return rows

    def chain(self, parameter: str, sample: int = 0, update: bool = True) -> list[tuple[str, str]]:
        """dE_total/d<parameter>: the chain of factors, their product with numbers, the delta form,
        and (with one sample) the update."""
        p = self.printers[sample]
        chain = self.derivation.chains[parameter]
        gradient = chain.gradient
        shares = [_product(*(self.sym(f) for f in share)) for share in chain.shares]
        rows = [(naming.latex(gradient), p.name(_sum(*shares)))]
        rows.append(("", p.numbers_of(_sum(*shares))))
        deltas = [
            _product(self.sym(d), self.sym(src)) if src else self.sym(d) for d, src in chain.delta_shares
        ]
        rows.append(("", p.name(_sum(*deltas)) + r" \quad\text{(delta rule)}"))
        rows.append(("", p.value(gradient)))
        if update and self.samples == 1:
            rows += self.update(parameter)
        return rows

    def update(self, parameter: str) -> list[tuple[str, str]]:
        totals = self.model.evaluation.totals
        rate = number(self.model.spec.learning_rate, self.digits)
        value = number(self.network.parameter[parameter].value, self.digits)
        grad = number(totals[naming.partial(naming.TOTAL, parameter)], self.digits)
        grad = rf"\left({grad}\right)" if grad.startswith("-") else grad
        name = naming.latex(parameter)
        return [
            (naming.latex(naming.updated(parameter)), rf"{name} - \eta \cdot {naming.latex(naming.partial(naming.TOTAL, parameter))}"),
            ("", rf"{value} - {rate} \cdot {grad}"),
            ("", number(totals[naming.updated(parameter)], self.digits)),
        ]

    def hidden_output_gradient(self, neuron: str, sample: int = 0) -> list[tuple[str, str]]:
        """dE_total/dout_h as the sum over the neurons h feeds, with the article's named terms."""
        p = self.printers[sample]
        quantity = naming.partial(naming.TOTAL, naming.out(neuron))
        feeds = self.network.feeds(neuron)
        named = [naming.partial(naming.error(d), naming.out(neuron)) for d, _ in feeds]
        rows = []
        if all(q in self.derivation.step for q in named):
            for (dest, weight), q in zip(feeds, named):
                rows += [(naming.latex(q), rf"{naming.latex(naming.partial(naming.error(dest), naming.net(dest)))} \cdot "
                          rf"{naming.latex(naming.partial(naming.net(dest), naming.out(neuron)))}"),
                         ("", p.numbers_of(_product(self.sym(naming.delta(dest)), self.sym(weight)))),
                         ("", p.value(q))]
            rows.append((naming.latex(quantity), " + ".join(naming.latex(q) for q in named)))
        formula = _sum(*(_product(self.sym(naming.delta(d)), self.sym(w)) for d, w in feeds))
        rows.append((naming.latex(quantity) if not rows else "", p.name(formula)))
        rows.append(("", p.numbers_of(formula)))
        rows.append(("", p.value(quantity)))
        return rows

    # -- sections ------------------------------------------------------------------------------
    def sections(self) -> list[Section]:
        detailed = len(self.model.parameters) <= DETAIL_LIMIT and self.samples <= SAMPLE_LIMIT
        out = [self.network_section(), self.initial_values()]
        for s in range(self.samples if detailed else 0):
            suffix = f" (sample {s + 1})" if self.samples > 1 else ""
            out += [self.forward(s, suffix), self.error(s, suffix), *self.backward(s, suffix)]
        if not detailed:
            out += self.compact()
        if detailed and self.samples > 1:
            out.append(self.over_samples())
        out.append(self.summary())
        if self.training is not None and self.model.spec.steps:
            out.append(self.training_section())
        return out

    def network_section(self) -> Section:
        spec = self.model.spec
        acts = ", ".join(f"layer {k}: {a}" for k, a in enumerate(spec.activations, start=1))
        loss = {"half_sse": r"$E = \sum_j \tfrac12 (target_j - out_j)^2$",
                "mse": r"$E = \frac1n \sum_j (target_j - out_j)^2$",
                "binary_cross_entropy": r"$E = -\sum_j [target_j \ln out_j + (1 - target_j)\ln(1 - out_j)]$",
                "cross_entropy": r"$E = -\sum_j target_j \ln out_j$"}[spec.loss]
        bias = "one bias per layer, shared by its neurons" if spec.bias == "shared" else "one bias per neuron"
        reduction = "" if self.samples == 1 else (
            f" The total error {'averages' if spec.reduction == 'mean' else 'sums'} the errors of the {self.samples} samples."
        )
        text = (f"Layers {'--'.join(map(str, spec.layers))}; activations: {acts}; error per sample {loss}; "
                f"{bias}; learning rate $\\eta = {number(spec.learning_rate, self.digits)}$.{reduction} "
                f"Numbers are shown to {self.digits} significant digits, correctly rounded.")
        return Section("The network", [Block("figure", data=self.figure()), Block("text", text)])

    def figure(self) -> dict:
        layers = self.network.layers
        drawn = [layer if len(layer) <= DRAWN_PER_LAYER else layer[: DRAWN_PER_LAYER - 2] + layer[-1:] for layer in layers]
        nodes, edges, biases = [], [], []
        edge_count = sum(len(a) * len(b) for a, b in zip(drawn, drawn[1:]))
        for k, layer in enumerate(drawn):
            for j, n in enumerate(layer):
                y = (len(layer) - 1) / 2 - j
                nodes.append({"id": n.replace("_", "x"), "x": 3.4 * k, "y": 1.5 * y, "label": naming.latex_neuron(n)})
            if len(layer) < len(layers[k]):
                nodes.append({"id": f"dots{k}", "x": 3.4 * k, "y": 1.5 * ((len(layer) - 1) / 2 - (len(layer) - 1.5)), "label": None})
        for k in range(1, len(drawn)):
            shown = set(drawn[k - 1])
            for j, dest in enumerate(drawn[k]):
                for t in self.network.net_terms[dest]:
                    if t.factor is None:
                        continue
                    src = t.factor[4:] if t.factor.startswith("out_") else t.factor
                    if src not in shown:
                        continue
                    n_dest = len(drawn[k])
                    pos = 0.25 + 0.5 * (j / (n_dest - 1) if n_dest > 1 else 0.5)
                    edges.append({"from": src.replace("_", "x"), "to": dest.replace("_", "x"), "pos": f"{pos:.2f}",
                                  "label": naming.latex(t.parameter) if edge_count <= LABEL_LIMIT else None})
            groups = {}
            for dest in drawn[k]:
                for t in self.network.net_terms[dest]:
                    if t.factor is None:
                        groups.setdefault(t.parameter, []).append(dest.replace("_", "x"))
            top = (len(drawn[k]) - 1) / 2 * 1.5 + 1.4
            for g, (name, feeds) in enumerate(groups.items()):
                if len(groups) == 1:
                    biases.append({"id": f"bias{name}", "x": 3.4 * k - 1.2, "y": top, "label": naming.latex(name), "feeds": feeds})
                elif len(groups) <= DRAWN_PER_LAYER:
                    biases.append({"id": f"bias{name}", "label": naming.latex(name), "feeds": feeds, "x": None, "y": None})
        return {"nodes": nodes, "edges": edges, "biases": biases}

    def capped(self, rows: list, what: str) -> list[Block]:
        """A table, cut to TABLE_ROWS rows in compact mode with a note saying where the rest is."""
        blocks = []
        if len(self.model.parameters) > DETAIL_LIMIT and len(rows) > TABLE_ROWS:
            blocks.append(Block("text", f"The first {TABLE_ROWS} of {len(rows)} {what}; every value is in "
                                f"\\texttt{{gradients.txt}} (\\texttt{{derive gradients}})."))
            rows = rows[:TABLE_ROWS]
        return blocks + [rows]

    def initial_values(self) -> Section:
        rows = []
        spec = self.model.spec
        for s, sample in enumerate(spec.samples):
            tag = f" (sample {s + 1})" if self.samples > 1 else ""
            for i, v in zip(self.network.inputs, sample.inputs):
                rows.append([f"input{tag}", f"${naming.latex(i)}$", f"${number(v, self.digits)}$"])
            for o, v in zip(self.network.outputs, sample.targets):
                rows.append([f"target{tag}", f"${naming.latex(naming.target(o))}$", f"${number(v, self.digits)}$"])
        for p in self.network.parameters:
            where = (f"{naming.latex_neuron(p.source)} \\to {naming.latex_neuron(p.feeds[0])}" if p.kind == "weight"
                     else ", ".join(naming.latex_neuron(n) for n in p.feeds))
            rows.append([p.kind + (f" (${where}$)" if len(where) < 60 else ""), f"${naming.latex(p.name)}$", f"${number(p.value, self.digits)}$"])
        rows.append(["learning rate", r"$\eta$", f"${number(spec.learning_rate, self.digits)}$"])
        *note, rows = self.capped(rows, "initial values")
        return Section("Initial values", [*note, Block("table", rows=rows, header=["", "quantity", "value"], columns="llr")])

    def forward(self, s: int, suffix: str) -> Section:
        section = Section(f"Forward pass{suffix}")
        for k, layer in enumerate(self.network.layers[1:], start=1):
            role = "output layer" if k == len(self.network.layers) - 1 else f"hidden layer {k}"
            section.blocks.append(Block("text", f"Layer {k} ({role}, {self.model.spec.activations[k - 1]}): "
                                        "the net input is the weighted sum of what the neuron receives, plus its bias."))
            rows = []
            for n in layer:
                self.definition(naming.net(n), s, rows)
            for n in layer:
                self.definition(naming.out(n), s, rows)
            section.blocks.append(Block("align", rows=rows))
        return section

    def error(self, s: int, suffix: str) -> Section:
        rows = []
        for o in self.network.outputs:
            self.definition(naming.error(o), s, rows)
        self.definition(naming.TOTAL, s, rows)
        return Section(f"The error{suffix}", [Block("text", "Each output's error term, and their sum:"), Block("align", rows=rows)])

    def backward(self, s: int, suffix: str) -> list[Section]:
        network = self.network
        L = len(network.layers) - 1
        out = []
        output = Section(f"Backward pass: the output layer{suffix}")
        output.blocks.append(Block("text", "For each output neuron, the factors of the chain rule, then its delta "
                                   r"$\delta = \partial E_{total} / \partial net$:"))
        softmax = network.activation(network.outputs[0]).name == "softmax"
        for o in network.outputs:
            rows = []
            if not softmax:
                rows += self.factor(naming.partial(naming.TOTAL, naming.out(o)), s)
                rows += self.factor(naming.partial(naming.out(o), naming.net(o)), s)
            self.definition(naming.delta(o), s, rows)
            output.blocks.append(Block("align", rows=rows))
        if softmax:
            output.blocks.insert(1, Block("text", r"Softmax couples the outputs: $\partial out_{j} / \partial net_{k} "
                                          r"= out_{j}(\delta_{jk} - out_{k})$, so each delta sums over every output."))
            rows = []
            for o in network.outputs:
                rows += self.factor(naming.partial(naming.TOTAL, naming.out(o)), s)
            output.blocks.insert(2, Block("align", rows=rows))
        output.blocks.append(Block("text", r"Each weight into the output layer: $\partial E_{total}/\partial w = "
                                   r"\partial E_{total}/\partial out \cdot \partial out/\partial net \cdot \partial net/\partial w$, "
                                   "and its update."))
        for p in network.parameters:
            if p.kind == "weight" and p.layer == L:
                output.blocks.append(Block("align", rows=self.factor(naming.partial(naming.net(p.feeds[0]), p.name), s)
                                           + self.chain(p.name, s)))
        out.append(output)
        for k in range(L - 1, 0, -1):
            hidden = Section(f"Backward pass: hidden layer {k}{suffix}")
            hidden.blocks.append(Block("text", "A hidden neuron's output reaches the error through every neuron it feeds, "
                                       "so its gradient is a sum over them:"))
            for h in network.layers[k]:
                rows = self.hidden_output_gradient(h, s)
                rows += self.factor(naming.partial(naming.out(h), naming.net(h)), s)
                self.definition(naming.delta(h), s, rows)
                hidden.blocks.append(Block("align", rows=rows))
            for p in network.parameters:
                if p.kind == "weight" and p.layer == k:
                    hidden.blocks.append(Block("align", rows=self.factor(naming.partial(naming.net(p.feeds[0]), p.name), s)
                                               + self.chain(p.name, s)))
            out.append(hidden)
        biases = Section(f"Biases{suffix}")
        biases.blocks.append(Block("text", r"A bias enters a net input with factor 1, so $\partial E_{total}/\partial b = \delta$ "
                                   "of the neuron it feeds; a shared bias sums over every neuron it feeds. "
                                   "(The reference article leaves the biases out.)"))
        for p in network.parameters:
            if p.kind == "bias":
                biases.blocks.append(Block("align", rows=self.chain(p.name, s)))
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
            g = naming.partial(naming.TOTAL, p.name)
            parts = [number(self.model.evaluation.samples[s][g], self.digits) for s in range(self.samples)]
            parts = [rf"\left({x}\right)" if x.startswith("-") else x for x in parts]
            rows = [(naming.latex(g), scale + r"\left(" + " + ".join(parts) + r"\right)" if scale else " + ".join(parts)),
                    ("", number(totals[g], self.digits))]
            section.blocks.append(Block("align", rows=rows + self.update(p.name)))
        return section

    def compact(self) -> list[Section]:
        network = self.network
        L = len(network.layers) - 1
        formulas = Section("The general formulas")
        formulas.blocks.append(Block("text", f"This network has {len(self.model.parameters)} parameters (more than "
                                     f"{DETAIL_LIMIT}), so the rules are written once per layer and the values given in tables."))
        rows = [(r"net_j", r"\textstyle\sum_i w_{ji}\, out_i + b_j"), (r"out_j", r"f(net_j)")]
        o = network.outputs[0]
        rows.append((r"\delta_{o_j}", r"\frac{\partial E_{total}}{\partial out_{o_j}} \cdot \frac{\partial out_{o_j}}{\partial net_{o_j}}"
                     if network.activation(o).name != "softmax" else r"\textstyle\sum_k \frac{\partial E_{total}}{\partial out_{o_k}} \cdot out_{o_k}(\delta_{kj} - out_{o_j})"))
        rows.append((r"\delta_{h_j}", r"\Big(\textstyle\sum_k \delta_k\, w_{kj}\Big) \cdot \frac{\partial out_{h_j}}{\partial net_{h_j}}"))
        rows.append((r"\frac{\partial E_{total}}{\partial w_{ji}}", r"\delta_j \cdot out_i, \qquad \frac{\partial E_{total}}{\partial b} = \textstyle\sum_{j \text{ fed by } b} \delta_j"))
        formulas.blocks.append(Block("align", rows=rows))
        formulas.blocks.append(Block("text", "With the first neuron of each layer as the example, the derivative factors are:"))
        p = self.printers[0]
        example = []
        if network.activation(o).name != "softmax":
            example.append((naming.latex(naming.partial(naming.TOTAL, naming.out(o))), p.name(self.derivation.step[naming.partial(naming.TOTAL, naming.out(o))].formula)))
        for k in range(1, L + 1):
            n = network.layers[k][0]
            q = naming.partial(naming.out(n), naming.net(n))
            if q in self.derivation.step:
                example.append((naming.latex(q), p.name(self.derivation.step[q].formula)))
        example.append((naming.latex(naming.delta(o)), p.name(self.derivation.step[naming.delta(o)].compute)))
        formulas.blocks.append(Block("align", rows=example))
        values = Section("Values of every neuron")
        for s in range(self.samples):
            rows = []
            for k, layer in enumerate(network.layers[1:], start=1):
                for n in layer:
                    v = self.model.evaluation.samples[s]
                    rows.append([str(k), f"${naming.latex_neuron(n)}$", f"${number(v[naming.net(n)], self.digits)}$",
                                 f"${number(v[naming.out(n)], self.digits)}$", f"${number(v[naming.delta(n)], self.digits)}$"])
            tag = f" (sample {s + 1})" if self.samples > 1 else ""
            values.blocks.append(Block("text", f"Sample {s + 1}{tag and ''}: $E_{{total}} = {self.printers[s].value(naming.TOTAL)}$."
                                       if self.samples > 1 else f"$E_{{total}} = {self.printers[0].value(naming.TOTAL)}$."))
            *note, rows = self.capped(rows, "neurons")
            values.blocks += [*note, Block("table", rows=rows, header=["layer", "neuron", "$net$", "$out$", r"$\delta$"], columns="clrrr")]
        return [formulas, values]

    def summary(self) -> Section:
        totals = self.model.evaluation.totals
        rows = [[f"${naming.latex(p.name)}$", f"${number(p.value, self.digits)}$",
                 f"${number(totals[naming.partial(naming.TOTAL, p.name)], self.digits)}$",
                 f"${number(totals[naming.updated(p.name)], self.digits)}$"] for p in self.network.parameters]
        *note, rows = self.capped(rows, "parameters")
        section = Section("Summary: every gradient and update", [
            *note, Block("table", rows=rows, columns="lrrr",
                         header=["parameter", "before", r"$\partial E_{total}/\partial \cdot$", "after one step"]),
        ])
        if self.training is not None and self.training.error_after_first is not None:
            text = (f"The total error goes from $E_{{total}} = {number(self.model.evaluation.totals[naming.TOTAL], self.digits)}$ "
                    f"to ${number(self.training.error_after_first, self.digits)}$ after this step, every parameter updated")
            if self.first_step_weights_only is not None:
                text += (f"; updating the weights only, as the reference article does, it goes to "
                         f"${number(self.first_step_weights_only, self.digits)}$")
            section.blocks.append(Block("text", text + " (float64)."))
        return section

    def training_section(self) -> Section:
        run = self.training
        rows = [[f"$E_{{total}}$ after {run.steps} steps", f"${number(run.error, self.digits)}$"]]
        for s, outputs in enumerate(run.outputs):
            for o, v in zip(self.network.outputs, outputs):
                tag = f" (sample {s + 1})" if len(run.outputs) > 1 else ""
                rows.append([f"${naming.latex(naming.out(o))}${tag} after {run.steps} steps", f"${number(v, self.digits)}$"])
        points = " ".join(f"({step},{error:.6e})" for step, error in run.history if error > 0)
        return Section(f"Training for {run.steps} steps", [
            Block("text", "Plain gradient descent in float64, every gradient of a step taken at the parameters before "
                  "that step, biases updated too."),
            Block("table", rows=rows, header=["quantity", "value"], columns="lr"),
            Block("plot", data={"points": points, "steps": run.steps}),
        ])


def errata_section(findings, digits: int, source: str) -> Section:
    """The audit of a spec's published numbers: every number, and for a wrong one, what reproduces it."""
    rows = []
    notes = []
    for f in findings:
        verdict = "agrees" if f.agrees else r"\textbf{wrong}"
        rows.append([f"${naming.latex(f.quantity, inline=True)}$", f"${f.printed}$", f"${number(f.correct, digits)}$", verdict])
        if not f.agrees:
            reproducing = [m for m in f.mistakes if m.reproduces]
            why = ("; or ".join(f"{escape(m.description)} (${number(m.value, digits)}$)" for m in reproducing)
                   if reproducing else "no variant of the computation or usual slip reproduces it")
            notes.append(rf"\item ${naming.latex(f.quantity, inline=True)}$: published ${f.printed}$, "
                         rf"correct ${number(f.correct, digits)}$. Reproduced by: {why}.")
    wrong = sum(not f.agrees for f in findings)
    blocks = [
        Block("text", f"The spec ({escape(source)}) carries {len(findings)} published numbers; {len(findings) - wrong} agree with "
              f"the correct computation to the digits they show, and {wrong} do not. For each wrong one, derive searched the "
              "usual variants of the computation and the usual slips for the ones that reproduce it to its digits."),
        Block("table", rows=rows, header=["quantity", "published", "correct", ""], columns="lrrl"),
    ]
    if notes:
        blocks.append(Block("text", "\\begin{itemize}\n" + "\n".join(notes) + "\n\\end{itemize}"))
    return Section("Errata: the published numbers, audited", blocks)


def render(model, version: str, digits: int = 9, training=None, first_step_weights_only=None, extra_sections=()) -> str:
    """The whole document's LaTeX source; byte-identical for the same inputs."""
    document = Document(model, digits, training, first_step_weights_only)
    spec = model.spec
    return environment(latex=True).get_template("document.tex.j2").render(
        version=version, spec=spec, title=escape(spec.title), name=escape(spec.name),
        sections=document.sections() + list(extra_sections), align=align,
    )


def align(rows: list[tuple[str, str]]) -> str:
    """An align block from (lhs, rhs) rows: the one printer of align blocks (the template uses it too)."""
    lines = [rf"{lhs} &= {rhs}" if rhs else rf"{lhs} &" for lhs, rhs in rows]
    return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n"


def quantity_block(model, quantity: str, sample: int = 0, digits: int = 9) -> str:
    """The align block of one quantity's derivation (``derive latex --quantity``)."""
    document = Document(model, digits)
    step = model.derivation.step
    wrt = quantity.split("/d", 1)[1] if quantity.startswith(f"d{naming.TOTAL}/d") else None
    if wrt in model.network.parameter:
        p = wrt
        rows = []
        for share in model.derivation.chains[p].shares:
            rows += document.factor(share[-1], sample)
        return align(rows + document.chain(p, sample))
    if quantity.endswith("+") and quantity[:-1] in model.network.parameter:
        return align(document.update(quantity[:-1]))
    if "/" in quantity and quantity in step:
        return align(document.factor(quantity, sample))
    if quantity in step:
        return align(document.definition(quantity, sample))
    raise KeyError(quantity)
