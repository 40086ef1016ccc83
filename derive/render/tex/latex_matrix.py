"""The matrix form as a part of the LaTeX document: every rule written symbolically, then with the
network's own matrices and vectors (bmatrix, for networks small enough to print; their shapes
above that), and the table of the matrix entry each scalar name is (w5 = W^(2)_{1,1}). With several
samples, the batch form: samples as columns, gradients summed over them.

The numbers come from `derive.derivation.matrix`, a route of its own, never from the scalar
derivation; the tests check that both give the same numbers.
"""

from __future__ import annotations

from derive.derivation import matrix as M
from derive.escape import latex_text
from derive.model import layers as kinds
from derive.model.modes import BiasMode
from derive.render import names
from derive.render.tex.latex_document import TABLE_ROWS, Block, Section
from derive.render.tex.latex_lines import glyphs
from derive.render.tex.latex_rows import number

PRINT_LIMIT = 4  # neurons in every layer, and samples, up to which matrices are printed with numbers
NAMES_PER_ROW = 4  # in the table of names and entries, at most
#: The glyphs (`latex_lines.glyphs`) of a row of that table: fewer columns where its widest cell's would pass
#: the text width ("w_10 = W^(3)_2,12 (and 2 more)", 26 glyphs: three, where four ran 47 pt past the margin)
NAMES_ROOM = 88
_VECTOR = {M.NETS: ("z", "Z"), M.OUTS: ("a", "A"), M.DELTAS: (r"\delta", r"\Delta")}  # (one sample, batch)
_TOTAL = r"E_{\mathrm{total}}"


def bmatrix(m: M.Matrix, digits: int, transpose: bool = False) -> str:
    rows = list(zip(*m.rows, strict=True)) if transpose else m.rows
    body = r" \\ ".join(" & ".join(number(v, digits) for v in row) for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def up(k) -> str:
    """The layer superscript: W^{(2)}."""
    return f"^{{({k})}}"


def entry_latex(e: M.Entry, batch: bool = False) -> str:
    """W^{(2)}_{1,1}; b^{(1)} for a shared bias (one number for the layer); z^{(1)}_{2} (Z^{(1)}_{2,k} in
    the batch form, k the sample)."""
    if e.matrix in _VECTOR:
        symbol = _VECTOR[e.matrix][batch]
        return f"{symbol}{up(e.layer)}_{{{e.row},k}}" if batch else f"{symbol}{up(e.layer)}_{{{e.row}}}"
    symbol = {M.WEIGHTS: "W", M.RECURRENT: "U"}.get(e.matrix, "b")
    if e.row is None:
        return rf"{symbol}{up(e.layer)}\ \text{{(shared)}}"
    index = f"{e.row},{e.column}" if e.column is not None else f"{e.row}"
    more = rf"\ \text{{(and {e.others} more)}}" if e.others else ""
    return f"{symbol}{up(e.layer)}_{{{index}}}{more}"


class MatrixPart:
    """The sections of the matrix form, for one model."""

    def __init__(self, model, digits: int):
        self.model, self.network, self.digits = model, model.network, digits
        self.form: M.MatrixForm = model.matrix_form
        self.batch = self.form.samples > 1
        self.printed = max(model.spec.layers) <= PRINT_LIMIT and self.form.samples <= PRINT_LIMIT
        self.z, self.a, self.d = (_VECTOR[kind][self.batch] for kind in (M.NETS, M.OUTS, M.DELTAS))
        self.biases = model.spec.bias
        mean = self.batch and model.spec.reduction == "mean"
        self.scale = rf"\tfrac{{1}}{{{self.form.samples}}}\, " if mean else ""
        self.ones_t = r"\mathbf{1}^{T}" if self.batch else ""  # b 1ᵀ: the bias in every column

    def m(self, matrix: M.Matrix, transpose: bool = False) -> str:
        return bmatrix(matrix, self.digits, transpose)

    def f(self, k) -> str:
        """Layer k's activation as LaTeX (f for the general rules)."""
        if not isinstance(k, int):  # the general rules
            return "f"
        act = self.network.layer_activation(k)
        if act.function is not None and act.function.latex_name:
            return act.function.latex_name
        return rf"\operatorname{{{latex_text(act.name)}}}"

    def bias(self, k, numbers: bool = False) -> str:
        """+ b^(k) as a column (per neuron), or one number times a column of ones (shared)."""
        if self.biases == BiasMode.NONE:
            return ""
        if self.biases == BiasMode.SHARED:
            value = number(self.form.biases[k - 1][0, 0], self.digits) if numbers else f"b{up(k)}"
            return rf" + {value}\,\mathbf{{1}}{self.ones_t}"
        return f" + {self.m(self.form.biases[k - 1]) if numbers else f'b{up(k)}'}{self.ones_t}"

    def sequential(self, k) -> bool:
        """Whether layer k's rule has U (the general rule l: where some layer is recurrent)."""
        layers = range(1, self.network.depth + 1) if not isinstance(k, int) else (k,)
        return any(self.network.sequential(layer) for layer in layers)

    def forward_rule(self, k) -> str:
        own = f" + U{up(k)} {self.a}{up(k)}" if self.sequential(k) else ""
        bias = self.bias(k) if k != "l" else self._bias_rule()
        return f"W{up(k)} {self.a}{up(k - 1 if k != 'l' else 'l-1')}{own}{bias}"

    def _bias_rule(self) -> str:
        if self.biases == BiasMode.NONE:
            return ""
        return (rf" + b{up('l')}\,\mathbf{{1}}" if self.biases == BiasMode.SHARED else f" + b{up('l')}") + self.ones_t

    def output_rule(self, L) -> str:
        if self.network.layer_activation(self.network.depth).couples_layer:
            each = r" \ \text{(each column)}" if self.batch else ""
            return rf"J_{{{self.f(L)}}}\big(z{up(L)}\big)^{{T}} \nabla_{{a{up(L)}}} E{each}"
        return rf"\nabla_{{{self.a}{up(L)}}} E \odot {self.f(L)}'\big({self.z}{up(L)}\big)"

    def hidden_rule(self, k, after) -> str:
        """The deltas of layer k; with units whose net inputs are formulas (`Network.formulas`), their local
        partials P (in the layer's own outputs) and Q (in the layer below's) carry the deltas beside U and W."""
        formulas = bool(self.network.formulas)
        own = rf" + (U{up(k)})^{{T}} {self.d}{up(k)}" if self.sequential(k) else ""
        own += rf" + (P{up(k)})^{{T}} {self.d}{up(k)}" if formulas and self.sequential(k) else ""
        above = rf" + (Q{up(after)})^{{T}} {self.d}{up(after)}" if formulas else ""
        return (rf"\big((W{up(after)})^{{T}} {self.d}{up(after)}{above}{own}\big) \odot "
                rf"{self.f(k)}'\big({self.z}{up(k)}\big)")

    def weight_rule(self, k, before) -> str:
        return f"{self.scale}{self.d}{up(k)} ({self.a}{up(before)})^{{T}}"

    def bias_rule(self, k) -> str:
        ones = r" \mathbf{1}" if self.batch else ""
        if self.biases == BiasMode.SHARED:
            return rf"{self.scale}\mathbf{{1}}^{{T}} {self.d}{up(k)}{ones}"
        return f"{self.scale}{self.d}{up(k)}{ones}"

    # -- sections ----------------------------------------------------------------------------------
    def sections(self) -> list[Section]:
        intro = Section("The matrix form", [Block("text", self.intro()), Block("align", rows=self.rules())])
        if not self.printed:
            return [intro, self.shapes(), self.name_table()]
        return [intro, self.forward(), self.backward(), self.gradients(), self.name_table()]

    def intro(self) -> str:
        z, a, d = self.z, self.a, self.d
        text = (
            rf"The same gradients, layer by layer with matrices: $W{up('l')}$ holds layer $l$'s weights (a row "
            rf"per neuron, a column per neuron of layer $l-1$), ${z}{up('l')}$ its net inputs, ${a}{up('l')}$ its "
            rf"outputs (${a}{up(0)}$ the inputs) and ${d}{up('l')} = \partial E / \partial {z}{up('l')}$, for "
            rf"$l = 1, \dots, {self.network.depth}$; $\odot$ multiplies entry by entry. "
        )
        if self.batch:
            scale = rf"$\tfrac{{1}}{{{self.form.samples}}}$ times " if self.scale else ""
            text += (rf"With {self.form.samples} samples, each sample is a column ($\mathbf{{1}}$ is a column of "
                     rf"ones), and each gradient is {scale}the sum over the samples. ")
        for k in range(1, self.network.depth + 1):
            if self.sequential(k) and not kinds.recurrent(self.network.typed(k)):
                text += (rf"Layer {k} ({latex_text(self.network.kind(k).name)}) is computed unit by unit: "
                         rf"$U{up(k)}$ holds its weights on its own units, and a unit whose net input is a formula "
                         rf"of other outputs sends back its local partials (the formula differentiated) times its "
                         rf"delta, to its own layer's units and to layer {k - 1}'s, beside the weights' "
                         rf"$(U{up(k)})^{{T}} {self.d}{up(k)}$ and $(W{up(k)})^{{T}} {self.d}{up(k)}$. ")
            elif self.sequential(k):
                text += (rf"Layer {k} is recurrent, unrolled over its steps: $U{up(k)}$ holds $W_{{hh}}$ at each "
                         rf"step, below the diagonal (a unit reads the previous step's outputs), so ${self.z}{up(k)}$ "
                         rf"is computed unit by unit, the first step's first, and ${self.d}{up(k)}$ collects "
                         rf"$(U{up(k)})^{{T}} {self.d}{up(k)}$ from the later steps, the last step's first "
                         rf"($U{up('l')} = 0$ for a layer that is not recurrent). ")
        return text + ("These numbers are computed by a separate matrix route and agree with the scalar derivation "
                       "above to every digit shown.")

    def rules(self) -> list[tuple[str, str]]:
        L = self.network.depth
        rows = [(f"{self.z}{up('l')}", rf"{self.forward_rule('l')}, \qquad {self.a}{up('l')} = f({self.z}{up('l')})"),
                (f"{self.d}{up('L')}", self.output_rule("L"))]
        if L > 1:
            rows.append((f"{self.d}{up('l')}", rf"{self.hidden_rule('l', 'l+1')}, \qquad l < L = {L}"))
        else:
            rows[-1] = (rows[-1][0], rf"{rows[-1][1]}, \qquad L = 1")
        rows.append((rf"\frac{{\partial {_TOTAL}}}{{\partial W{up('l')}}}", self.weight_rule("l", "l-1")))
        if self.sequential("l"):
            rows.append((rf"\frac{{\partial {_TOTAL}}}{{\partial U{up('l')}}}", self.weight_rule("l", "l")))
        if self.biases != BiasMode.NONE:
            rows.append((rf"\frac{{\partial {_TOTAL}}}{{\partial b{up('l')}}}", self.bias_rule("l")))
        return rows

    def forward(self) -> Section:
        section = Section("Matrix form: forward pass", level="subsection")
        previous = self.form.inputs
        for layer in self.form.layers:
            k = layer.index
            recurrence = self.form.recurrences[k - 1] if self.form.recurrences else None
            own = f" + {self.m(recurrence)} {self.m(layer.outs)}" if recurrence is not None else ""
            rows = [(f"{self.z}{up(k)}", self.forward_rule(k)),
                    ("", f"{self.m(self.form.weights[k - 1])} {self.m(previous)}{own}{self.bias(k, numbers=True)}"),
                    ("", self.m(layer.nets)),
                    (f"{self.a}{up(k)}", rf"{self.f(k)}\big({self.z}{up(k)}\big) = {self.m(layer.outs)}")]
            section.blocks.append(Block("align", rows=rows))
            previous = layer.outs
        return section

    def backward(self) -> Section:
        section = Section("Matrix form: backward pass", level="subsection")
        layers = self.form.layers
        L, top = len(layers), layers[-1]
        numbers = (rf"J^{{T}} {self.m(top.back)}" if top.slopes is None
                   else rf"{self.m(top.back)} \odot {self.m(top.slopes)}")
        section.blocks.append(Block("text", rf"The output layer: $\nabla_{{{self.a}{up(L)}}} E$ holds "
                                    r"$\partial E / \partial \mathrm{out}$ of each output (the loss's derivative)."))
        section.blocks.append(Block("align", rows=[(f"{self.d}{up(L)}", self.output_rule(L)), ("", numbers),
                                                   ("", self.m(top.deltas))]))
        for layer in reversed(layers[:-1]):
            k = layer.index
            assert layer.slopes is not None  # only the output layer may couple its neurons
            recurrence = self.form.recurrences[k - 1] if self.form.recurrences else None
            own = (f" + {self.m(recurrence, transpose=True)} {self.m(layer.deltas)}" if recurrence is not None else "")
            product = rf"\left({self.m(self.form.weights[k], transpose=True)} {self.m(layers[k].deltas)}{own}\right)"
            rows = [(f"{self.d}{up(k)}", self.hidden_rule(k, k + 1)),
                    ("", rf"{product} \odot {self.m(layer.slopes)}"),
                    ("", rf"{self.m(layer.back)} \odot {self.m(layer.slopes)}"),
                    ("", self.m(layer.deltas))]
            section.blocks.append(Block("align", rows=rows))
        return section

    def gradients(self) -> Section:
        section = Section("Matrix form: gradients", level="subsection")
        previous = self.form.inputs
        for layer in self.form.layers:
            k = layer.index
            rows = [(rf"\frac{{\partial {_TOTAL}}}{{\partial W{up(k)}}}", self.weight_rule(k, k - 1)),
                    ("", f"{self.scale}{self.m(layer.deltas)} {self.m(previous, transpose=True)}"),
                    ("", self.m(layer.weight_gradient))]
            if layer.recurrent_gradient is not None:
                rows += [(rf"\frac{{\partial {_TOTAL}}}{{\partial U{up(k)}}}", self.weight_rule(k, k)),
                         ("", f"{self.scale}{self.m(layer.deltas)} {self.m(layer.outs, transpose=True)}"),
                         ("", self.m(layer.recurrent_gradient))]
            if layer.bias_gradient is not None:
                value = (number(layer.bias_gradient[0, 0], self.digits) if self.biases == BiasMode.SHARED
                         else self.m(layer.bias_gradient))
                rows.append((rf"\frac{{\partial {_TOTAL}}}{{\partial b{up(k)}}}", f"{self.bias_rule(k)} = {value}"))
            section.blocks.append(Block("align", rows=rows))
            section.blocks += self.partial_weights(k)
            previous = layer.outs
        return section

    def partial_weights(self, k: int) -> list[Block]:
        """For a layer whose units do not read every input (its kind's edges), which entries of the
        gradient matrix are its parameters' gradients."""
        combination = self.network.kind(k).combination
        if combination is not None:
            sample = " (sample 1's: each sample has its own)" if self.form.samples > 1 else ""
            return [Block("text", rf"Layer {k} ({latex_text(self.network.kind(k).name)}) has no parameters: its "
                          rf"$W{up(k)}$ is the matrix of its local partials $\partial \mathrm{{net}}/\partial "
                          rf"\mathrm{{out}}${latex_text(sample)}, each unit's row sending its delta back "
                          rf"{latex_text(combination.rule)}.")]
        if self.network.dense(k):
            return []
        return [Block("text", rf"Layer {k} ({latex_text(self.network.kind(k).name)}) has a weight only where a "
                      rf"unit reads an input: the other entries of $W{up(k)}$ are zeros that are no parameter, "
                      rf"and its weights' gradients are the entries of $\partial E / \partial W{up(k)}$ named below.")]

    def shapes(self) -> Section:
        """Above PRINT_LIMIT: every matrix's shape, layer by layer (the entries are named below)."""
        samples = self.form.samples
        rows = []
        for layer in self.form.layers:
            n, m = self.form.weights[layer.index - 1].shape
            bias = {BiasMode.SHARED: "$1$", BiasMode.PER_NEURON: rf"${n} \times 1$", BiasMode.NONE: "none"}[self.biases]
            shape = rf"${n} \times {m}$"
            if self.sequential(layer.index):
                shape += rf"; $U{up(layer.index)}$: ${n} \times {n}$"
            rows.append([f"${layer.index}$", shape, bias, rf"${n} \times {samples}$", shape])
        header = ["layer $l$", f"$W{up('l')}$", f"$b{up('l')}$",
                  f"${self.z}{up('l')}, {self.a}{up('l')}, {self.d}{up('l')}$", r"$\partial E / \partial W^{(l)}$"]
        text = (f"The matrices are too large to print here (more than {PRINT_LIMIT} neurons in a layer or "
                f"{PRINT_LIMIT} samples); their shapes, layer by layer, and their entries by name below:")
        return Section("Matrix form: shapes", [Block("text", text),
                                               Block("table", rows=rows, header=header, columns="ccccc")],
                       level="subsection")

    def name_table(self) -> Section:
        cells = [f"${names.latex(e.quantity)} = {entry_latex(e, self.batch)}$" for e in self.form.entries]
        note = " In the batch form, column $k$ of each matrix is sample $k$." if self.batch else ""
        per_row = max(1, min(NAMES_PER_ROW, NAMES_ROOM // max(glyphs(c) for c in cells)))
        shown = cells[:TABLE_ROWS * per_row]
        rows = [shown[k:k + per_row] + [""] * (k + per_row - len(shown)) for k in range(0, len(shown), per_row)]
        blocks = [Block("text", "Each scalar name of the derivation above is an entry of a matrix or a vector "
                        f"(row, then column, from 1).{note}")]
        if len(cells) > len(shown):
            blocks.append(Block("text", f"The first {len(shown)} of {len(cells)} names."))
        blocks.append(Block("table", rows=rows, header=["name = entry"] + [""] * (per_row - 1), columns="l" * per_row))
        return Section("Matrix form: scalar names and matrix entries", blocks, level="subsection")


def sections(model, digits: int) -> list[Section]:
    """The matrix form's sections for the document."""
    return MatrixPart(model, digits).sections()
