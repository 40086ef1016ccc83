"""How each quantity is derived, as data: the one explanation every printer prints.

An `Explanation` is a list of `Row`s, the lines a textbook writes: ``A = formula`` in names, the same
formula with every symbol's value, the value; a chain-rule factor as ``∂/∂B (definition of A)``; a
simplified form; the delta rule; the update. Each row holds SymPy expressions and values, not text:
the LaTeX document, the terminal report, the web page and the notebook print the same rows, each in
its own language. Explanations are built on demand and cached, so a network of thousands of
parameters costs only the derivations someone looks at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from derive.derivation.evaluate import Evaluation, batch_gradient, training_settings, update
from derive.derivation.steps import OUTPUT_DELTAS, Derivation
from derive.model import optimizers
from derive.model import quantities as Q
from derive.model.modes import Described


class RowKind(Described):
    """What a `Row` prints."""

    NAMES = "names", "the formula, with names"
    NUMBERS = "numbers", "the formula, with each symbol's value"
    VALUE = "value", "the value"
    DIFFERENTIATE = "differentiate", "the derivative of a definition, before it is taken"


NAMES, NUMBERS, VALUE, DIFFERENTIATE = RowKind
NAMED_LIMIT = 8  # a hidden neuron feeding more neurons than this gets its sum, not one named term each


@dataclass(frozen=True)
class Row:
    """``lhs = expr``: ``kind`` NAMES prints expr with names, NUMBERS with each symbol's value from
    ``numbers``, VALUE prints ``value``, DIFFERENTIATE prints ∂/∂``wrt`` applied to expr. ``lhs`` is
    None on a continuation line; ``note`` is a remark such as "delta rule"."""

    lhs: Q.Quantity | None
    kind: RowKind
    expr: sp.Expr | None = None
    value: object = None
    wrt: Q.Quantity | None = None
    numbers: Mapping | None = None
    note: str = ""


@dataclass(frozen=True)
class Explanation:
    quantity: Q.Quantity
    sample: int
    rows: tuple[Row, ...]
    value: object

    @property
    def steps(self) -> list[list[Row]]:
        """The rows grouped by the quantity each group derives."""
        groups: list[list[Row]] = []
        for row in self.rows:
            if row.lhs is not None or not groups:
                groups.append([])
            groups[-1].append(row)
        return groups


def product(*factors) -> sp.Expr:
    return sp.Mul(*factors, evaluate=False)


def total(*terms) -> sp.Expr:
    """The terms' sum as written; none: 0 (a weight no unit reads, W_hh over one step)."""
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0] if terms else sp.S.Zero


class Explainer:
    """Explanations of one model's quantities, from its derivation and its values."""

    def __init__(self, derivation: Derivation, evaluation: Evaluation, training=None):
        self.training = training  # an `exact_training.ExactTraining`: the first steps, for w5@2 and m_w5@1
        self.derivation = derivation
        self.network = derivation.network
        self.evaluation = evaluation
        self.sym = self.network.symbol
        self.eta = self.sym(Q.LEARNING_RATE)
        self._numbers: dict[int, dict] = {}
        self._factors: dict[tuple[Q.Quantity, int], tuple[Row, ...]] = {}  # (factor, sample): its rows

    def numbers(self, sample: int) -> dict[sp.Symbol, object]:
        """Every symbol's value in one sample: exact for what the spec gives, else 60 digits (built
        once per sample)."""
        if sample not in self._numbers:
            exact = self.network.sample_values(sample)
            values = self.evaluation.samples[sample]
            self._numbers[sample] = {self.sym(q): exact.get(q, v) for q, v in values.items()} | {
                self.eta: self.network.spec.learning_rate}
        return self._numbers[sample]

    def value(self, q: Q.Quantity, sample: int = 0):
        return self.evaluation.samples[sample][q]

    # -- the forms a textbook writes ----------------------------------------------------------------
    def display(self, q: Q.Quantity) -> sp.Expr:
        """The textbook form of a quantity's definition."""
        network = self.network
        weights = [(t.parameter, t.factor) for t in network.net_terms.get(q.name, ()) if t.parameter is not None]
        if q.kind == Q.NET and len(weights) == len(network.net_terms[q.name]):  # not a pooling unit's
            return total(*(product(self.sym(Q.parameter(p)), self.sym(f)) if f else self.sym(Q.parameter(p))
                           for p, f in weights))
        if q.kind == Q.OUT:
            act = network.activation(q.name)
            if act.couples_layer:
                k = network.layer_of[q.name]
                return act.coupling.textbook(network.layer_nets(k), network.layers[k].index(q.name))
            return act.textbook(self.sym(Q.net(q.name)))
        if q.kind == Q.TOTAL:
            return total(*(self.sym(Q.error(o)) for o in network.outputs))
        return self.derivation.step[q].formula

    def _closing(self, q, formula, sample, rows) -> list[Row]:
        numbers = self.numbers(sample)
        if formula.free_symbols and not formula.is_Symbol:  # a lone symbol's numbers are its value
            rows.append(Row(None, NUMBERS, formula, numbers=numbers))
        return rows

    def definition(self, q: Q.Quantity, sample: int = 0) -> list[Row]:
        """q = formula = formula with numbers (= simplified) = value."""
        step = self.derivation.step[q]
        formula = self.display(q)
        rows = self._closing(q, formula, sample, [Row(q, NAMES, formula)])
        before = []
        if q.kind == Q.DELTA and step.phase == OUTPUT_DELTAS and step.compute != step.formula:
            rows.append(Row(None, NAMES, step.compute, note="simplified"))
            before = [r for t in self._temporaries(step.compute) for r in self.definition(t, sample)]
        return [*before, *rows, Row(None, VALUE, value=self.value(q, sample))]

    def _temporaries(self, formula: sp.Expr) -> list[Q.Quantity]:
        """The values a simplified form computes on the way (softmax + cross-entropy: the sum of the
        targets), each derived before the row that uses it, so that no row shows an undefined name."""
        return [s.quantity for s in self.derivation.steps
                if s.quantity.kind == Q.TEMPORARY and self.sym(s.quantity) in formula.free_symbols]

    def factor(self, q: Q.Quantity, sample: int = 0) -> list[Row]:
        """A chain-rule factor dA/dB: d/dB of A's definition, its derivative, numbers, value."""
        of, wrt = q.subject, q.variable
        rows = []
        if ((of in self.derivation.step and wrt.kind in (Q.NET, Q.OUT)) or of.kind == Q.NET) and of.kind != Q.TOTAL:
            rows.append(Row(q, DIFFERENTIATE, self.display(of), wrt=wrt))
        formula = self.derivation.step[q].formula
        rows.append(Row(None if rows else q, NAMES, formula))
        return [*self._closing(q, formula, sample, rows), Row(None, VALUE, value=self.value(q, sample))]

    def chain(self, parameter: str, sample: int = 0, update: bool = True) -> list[Row]:
        """dE_total/d<parameter>: the chain of factors, their product with numbers, the delta form,
        the value, and (with one sample) the update."""
        chain = self.derivation.chains[parameter]
        shares = total(*(product(*(self.sym(f) for f in share)) for share in chain.shares))
        deltas = total(*(product(self.sym(Q.delta(n)), self.sym(src)) if src else self.sym(Q.delta(n))
                         for n, src in chain.delta_shares))
        rows = [Row(chain.gradient, NAMES, shares), Row(None, NUMBERS, shares, numbers=self.numbers(sample)),
                Row(None, NAMES, deltas, note="delta rule"), Row(None, VALUE, value=self.value(chain.gradient, sample))]
        if update and len(self.evaluation.samples) == 1:
            rows += self.update(parameter)
        return rows

    def update(self, parameter: str) -> list[Row]:
        """w+: the optimizer's first step (w+ = w - eta * dE_total/dw for gradient descent on the full
        batch), rows of `step_rows`."""
        settings = training_settings(self.network.spec)
        p = Q.parameter(parameter)
        totals = self.evaluation.totals
        first = optimizers.batch(settings, 1, len(self.evaluation.samples))
        full = len(first) == len(self.evaluation.samples)
        mean = self.network.spec.reduction == "mean"
        g = totals[Q.gradient(parameter)] if full else batch_gradient(self.evaluation.samples, first, parameter, mean)
        entry = self.network.parameter[parameter]
        after = update(settings.entry, settings, totals[p], g, {}, 1) if settings.trains(entry) else {}
        return step_rows(self.network, settings, settings.entry, parameter, 1, full, (entry.value, {}, g), after,
                         plus=True)

    def hidden_output_gradient(self, neuron: str, sample: int = 0, with_terms: bool = True) -> list[Row]:
        """dE_total/dout_h as the sum over the neurons h feeds, with the article's named terms (unless
        not ``with_terms``)."""
        q = Q.partial(Q.TOTAL_ERROR, Q.out(neuron))
        reads = self.network.reads(neuron)
        if not reads:  # in no window of the pooling layer above (its floor rule drops it)
            return [Row(q, NAMES, sp.S.Zero, note="no unit of the layer above reads it"),
                    Row(None, VALUE, value=self.value(q, sample))]
        # a weight, or a pooling unit's local partial (its d net / d out, derived as a factor of its own)
        local = [self.sym(Q.parameter(t.parameter)) if t.parameter is not None
                 else self.sym(Q.partial(Q.net(d), Q.out(neuron))) for d, t in reads]
        named = [Q.partial(Q.error(d), Q.out(neuron)) for d, _ in reads]
        numbers = self.numbers(sample)
        rows = []
        if with_terms and all(n in self.derivation.step for n in named):
            for (dest, _), factor, term in zip(reads, local, named, strict=True):
                rule = product(
                    self.sym(Q.partial(Q.error(dest), Q.net(dest))), self.sym(Q.partial(Q.net(dest), Q.out(neuron)))
                )
                rows += [
                    Row(term, NAMES, rule),
                    Row(None, NUMBERS, product(self.sym(Q.delta(dest)), factor), numbers=numbers),
                    Row(None, VALUE, value=self.value(term, sample)),
                ]
            rows.append(Row(q, NAMES, total(*(self.sym(n) for n in named))))
        formula = total(*(product(self.sym(Q.delta(d)), factor) for (d, _), factor in zip(reads, local, strict=True)))
        rows += [Row(None if rows else q, NAMES, formula), Row(None, NUMBERS, formula, numbers=numbers),
                 Row(None, VALUE, value=self.value(q, sample))]
        return rows

    def walkthrough(self, parameter: str, sample: int = 0) -> Explanation:
        """dE_total/d<parameter> from the start: each factor of its chain derived first (the output's
        dE/dout and dout/dnet, a hidden neuron's sum over the neurons it feeds, a coupled output's
        delta), then the chain itself, as the PDF derives them across its sections."""
        rows: list[Row] = []
        seen: set[Q.Quantity] = set()
        for share in self.derivation.chains[parameter].shares:
            for f in share[:-1]:
                if f not in seen:
                    seen.add(f)
                    rows += self._factor_rows(f, sample)
        explained = self.explain(Q.gradient(parameter).at_sample(sample if len(self.evaluation.samples) > 1 else None))
        return Explanation(explained.quantity, sample, (*rows, *explained.rows), explained.value)

    def _factor_rows(self, f: Q.Quantity, sample: int) -> tuple[Row, ...]:
        """A factor's rows, made once: a convolution's dE/dout of one unit is a factor of every kernel
        weight that reaches it (the 1x28x28 network's page derived 2,718 factors 8,224 times)."""
        if (f, sample) not in self._factors:
            self._factors[(f, sample)] = tuple(self._make_factor_rows(f, sample))
        return self._factors[(f, sample)]

    def _make_factor_rows(self, f: Q.Quantity, sample: int) -> list[Row]:
        network = self.network
        if f.kind == Q.DELTA:  # a coupled output: its delta sums over every output
            rows = [r for o in network.outputs for r in self.factor(Q.partial(Q.TOTAL_ERROR, Q.out(o)), sample)]
            return rows + self.definition(f, sample)
        if f.of == Q.TOTAL_ERROR and f.variable.kind == Q.OUT and f.variable.name not in network.outputs:
            return self.hidden_output_gradient(f.variable.name, sample,
                                               with_terms=len(network.reads(f.variable.name)) <= NAMED_LIMIT)
        return self.factor(f, sample)
    def _after(self, q: Q.Quantity) -> Explanation:
        """A parameter or optimizer state after one of the first steps: that step's rows."""
        assert q.after is not None  # explain() asks only then
        stepped = q.is_parameter or q.kind == Q.STATE
        if not (self.training and stepped and not q.updated and 1 <= q.after <= self.training.limit):
            raise Q.QuantityError(f"{q}: a value after training has no step-by-step derivation "
                                  f"(derive train --steps {q.after})")
        name = q.name if q.is_parameter else q.subject.name
        rows = []
        for group in Explanation(q, 0, tuple(self.training.rows(name, q.after)), None).steps:
            rows += group
            if group[0].lhs == q:  # the rows up to the one that derives q
                return Explanation(q, 0, tuple(rows), group[-1].value)
        raise Q.QuantityError(f"{q}: this optimizer's step does not compute it (or {name} is frozen)")

    # -- any quantity ------------------------------------------------------------------------------
    def explain(self, q: Q.Quantity) -> Explanation:
        """The derivation of one quantity of one sample (a gradient: its factors, then the chain)."""
        if q.after is not None:
            return self._after(q)
        sample = q.sample or 0
        base = q.base
        if q.updated:
            rows = self.update(q.name)
            return Explanation(q, sample, tuple(rows), self.evaluation.totals[q.base.with_update()])
        if (
            base.is_partial
            and base.of == Q.TOTAL_ERROR
            and base.variable.is_parameter
            and base.variable.name in self.network.parameter
        ):
            rows = []
            for share in self.derivation.chains[base.variable.name].shares:
                rows += self.factor(share[-1], sample)
            rows += self.chain(base.variable.name, sample, update=q.sample is None)
            return Explanation(q, sample, tuple(rows), self.value(base, sample))
        if base not in self.derivation.step:
            raise Q.QuantityError(f"{q}: no step-by-step derivation (try {Q.EXAMPLES})")
        rows = self.factor(base, sample) if base.is_partial else self.definition(base, sample)
        return Explanation(q, sample, tuple(rows), self.value(base, sample))


def step_rows(network, settings, optimizer, parameter: str, step: int, full_batch: bool, before: tuple,
              after: dict, plus: bool = False) -> list[Row]:
    """One optimizer step of one parameter as rows: each rule of the optimizer in names (weight
    decay 0 and zero state left out), with numbers, and its value. ``before`` is (the parameter's
    value, its state, the step's batch gradient); ``after`` the values the rules assigned (empty for
    a frozen parameter). The gradient is dE_total/dw (after step - 1 steps) on the full batch, else
    the batch's ``g_w@step``; the new value is ``w+`` with ``plus``, else ``w@step``."""
    sym = network.symbol
    value, state, gradient = before

    def at(q, steps):
        return q.after_steps(steps) if steps else q

    p = Q.parameter(parameter)
    new = p.with_update() if plus else p.after_steps(step)
    if not after:
        return [Row(new, NAMES, sym(at(p, step - 1)), note="frozen: it keeps its value"), Row(None, VALUE, value=value)]
    g = (at(Q.gradient(parameter), step - 1) if full_batch
         else Q.state(optimizers.GRADIENT.name, parameter).after_steps(step))
    mapping = {optimizers.P: sym(at(p, step - 1)), optimizers.G: sym(g), optimizers.T: sp.Integer(step)}
    numbers = {sym(at(p, step - 1)): value, sym(g): gradient}
    for symbol, number in settings.numbers().items():
        mapping[symbol] = sp.S.Zero if number == 0 else sym(optimizers.HYPERPARAMETERS[symbol])
        numbers[mapping[symbol]] = number
    for slot in optimizer.state:
        mapping[optimizers.SLOT[slot]] = sym(Q.state(slot, parameter).after_steps(step - 1)) if step > 1 else sp.S.Zero
        numbers[mapping[optimizers.SLOT[slot]]] = state.get(slot, 0)
    rows = []
    for target, expr in optimizer.rules:
        lhs = new if target == optimizers.PARAMETER else Q.state(target, parameter).after_steps(step)
        shown = optimizers.substituted(expr, mapping)
        rows.append(Row(lhs, NAMES, shown))
        if shown.free_symbols and not shown.is_Symbol:
            rows.append(Row(None, NUMBERS, shown, numbers=dict(numbers)))
        rows.append(Row(None, VALUE, value=after[target]))
        symbol = optimizers.P if target == optimizers.PARAMETER else optimizers.SLOT[target]
        mapping[symbol] = sym(lhs)
        numbers[sym(lhs)] = after[target]
    return rows
