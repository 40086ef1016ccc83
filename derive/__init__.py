"""backprop-derive: exact, step-by-step backpropagation for small networks.

A notebook-friendly API::

    import derive
    model = derive.load()                  # the built-in reference network (or a path to a spec)
    model.expression("out_h1")             # SymPy expressions render as math in Jupyter
    model.gradient("w5")                   # dE_total/dw5 in intermediate symbols
    model.expanded_gradient("w5")          # ... fully expanded in parameters, inputs, targets
    model.value("dE_total/dw5")            # high-precision value (mpmath); any quantity of the grammar
    model.value("E_total@10000")           # ... after 10,000 training steps
    model.explain("dE_total/dw5")          # the derivation, step by step, as data
    model.train(10000, freeze_biases=True) # gradient descent in float64
    model.train(100, optimizer="adam", batch_size=1)   # ... or any optimizer and batch mode
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import sympy as sp

from derive import collector
from derive.derivation import domain
from derive.derivation.evaluate import Evaluation, evaluate
from derive.derivation.exact_training import ExactTraining
from derive.derivation.explain import Explainer, Explanation
from derive.derivation.steps import Derivation
from derive.derivation.training import TrainingRun
from derive.derivation.training import train as _train
from derive.model import optimizers
from derive.model import quantities as Q
from derive.model.layers import WHOLE_BATCH, batch_size, shape
from derive.model.layers import samples as sample_count
from derive.model.network import Network
from derive.model.proven import require_balls
from derive.model.quantities import Quantity, QuantityError
from derive.model.spec import Spec, SpecError, parse
from derive.model.spec import load as load_spec
from derive.version import __version__

__all__ = [
    "Model",
    "Quantity",
    "QuantityError",
    "Spec",
    "SpecError",
    "TrainingRun",
    "__version__",
    "exercise",
    "grade",
    "load",
    "load_spec",
    "parse",
]


class Model:
    """A network spec with its symbolic model, derivation and values, each built once on demand."""

    @collector.tuned()
    def __init__(self, spec: Spec):
        self.spec = spec
        self.network = Network(spec)
        self.derivation = Derivation(self.network)
        domain.check(self.derivation)  # a spec's own function undefined where the network evaluates it: SpecError

    @cached_property
    @collector.tuned()
    def evaluation(self) -> Evaluation:
        return evaluate(self.derivation)

    @cached_property
    @collector.tuned()
    def matrix_form(self):
        """The same step in matrix form, computed by its own route (`derive.derivation.matrix`)."""
        from derive.derivation.matrix import compute

        return compute(self.network)

    @cached_property
    @collector.tuned()
    def explainer(self) -> Explainer:
        return Explainer(self.derivation, self.evaluation, self.exact_training)

    @cached_property
    @collector.tuned()
    def module(self):
        """The generated plain-Python module, compiled in memory."""
        from derive.render.code.python import compile_module

        return compile_module(self.derivation, __version__)

    @cached_property
    def resolver(self):
        from derive.check.resolve import Resolver

        return Resolver(self)

    @cached_property
    @collector.tuned()
    def auditor(self):
        """The correct computation and every variant of it, for audits and claims."""
        from derive.check.audit import Auditor

        return Auditor(self)

    @cached_property
    @collector.tuned()
    def published_findings(self) -> list:
        """The audit of the spec's ``[published]`` numbers (see `derive.check.audit`); a quantity this
        network cannot have is the spec's fault, so its message names the file and the key."""
        from derive.check.resolve import checked
        from derive.escape import excerpt

        def the_spec_s(q, compute):
            try:
                return compute()
            except QuantityError as exc:
                message = str(exc).removeprefix(f"{q.text}: ")
                raise SpecError(f"{self.spec.source}: published.{excerpt(repr(q.text))}: {message}") from None

        published = self.spec.published
        for q, _ in published:  # every name known, in the file's order, before any training
            the_spec_s(q, lambda q=q: checked(self, q))
        # then in order of training steps: each N's float64 run continues the one before (one run, not 100)
        order = sorted(range(len(published)), key=lambda k: (published[k][0].after or 0, k))
        found = {k: the_spec_s(published[k][0], lambda k=k: self.auditor.examine(*published[k])) for k in order}
        return [found[k] for k in range(len(published))]

    def published_notes(self, digits: int = 9) -> list[str]:
        """What the audit says across the published numbers: those after the same training steps that
        need different explanations (`derive.check.audit.discordant`)."""
        from derive.check.audit import discordant

        return discordant(self.auditor, self.published_findings, digits)

    @property
    def parameters(self) -> list[str]:
        return [p.name for p in self.network.parameters]

    def quantity(self, quantity: Quantity | str) -> Quantity:
        """A quantity of this network, parsed and checked (a clear error with a suggestion if not)."""
        from derive.check.resolve import checked

        return checked(self, quantity)

    def symbol(self, quantity: Quantity | str) -> sp.Symbol:
        return self.network.symbol(self.quantity(quantity))

    def expression(self, quantity: Quantity | str) -> sp.Expr:
        """The defining expression of a quantity (one sample) in earlier symbols."""
        return self.derivation.step[self.quantity(quantity).base].formula

    def gradient(self, parameter: str) -> sp.Expr:
        return self.derivation.gradient(self.quantity(parameter).name)

    def expanded_gradient(self, parameter: str) -> sp.Expr:
        return self.derivation.expanded_gradient(self.quantity(parameter).name)

    @collector.tuned()
    def value(self, quantity: Quantity | str, sample: int | None = None):
        """The value of any quantity of the grammar (``sample`` from 0, or ``X[s]`` in the name)."""
        q = self.quantity(quantity)
        return self.resolver.value(q if sample is None else q.at_sample(sample))

    def after_training(self) -> dict[Quantity, object]:
        """The values the table of every number prints after the spec's training steps
        (`derive.render.text.training_quantities`), computed here and passed to the renderer."""
        from derive.render.text import training_quantities

        return {q: self.value(q) for q in training_quantities(self.spec, self.network)}

    @collector.tuned()
    def explain(self, quantity: Quantity | str) -> Explanation:
        """How a quantity is derived, step by step: rows of symbolic forms, numbers and values (in a
        notebook it displays itself, as MathML and as LaTeX)."""
        from derive.notebook import Explained

        return Explained.of(self.explainer.explain(self.quantity(quantity)), self.network)

    @collector.tuned()
    def claim(self, quantity: Quantity | str, value, digits: int = 9):
        """Is my hand calculation right? ``model.claim("dE_total/dw5", 0.0822)`` (a float, a string or a
        Decimal) gives the verdict `derive check --claim` prints (``print()`` it), with the slip that
        reproduces a wrong number: a `derive.check.report.Verdict`."""
        from derive.check.report import claim

        return claim(self, quantity, value, digits)

    def __repr__(self) -> str:
        spec = self.spec
        functions = " → ".join(dict.fromkeys(spec.activations))
        return (f"<derive.Model {spec.name!r}: layers {shape(spec)}, {functions}, loss "
                f"{spec.loss}, {len(self.parameters)} parameters, {sample_count(spec)}; "
                f"{spec.training.describe()}>")

    @collector.tuned()
    def _repr_html_(self) -> str:
        """In a notebook: the diagram and every parameter's value, gradient and value after one step."""
        from derive.notebook import model_html

        return model_html(self)

    def gradients(self) -> dict[str, object]:
        """dE_total/d<parameter> for every weight and bias (over all samples), high precision."""
        return {p: self.evaluation.totals[Q.gradient(p)] for p in self.parameters}

    @cached_property
    @collector.tuned()
    def exact_training(self) -> ExactTraining:
        """The spec's first training steps at 60 digits (parameters and optimizer state)."""
        return ExactTraining(self.derivation, self.spec.training, initial=self.evaluation)

    def settings(self, freeze_biases: bool | None = None, update_order: str | None = None,
                 name: Callable[[str], str] = str, **options) -> optimizers.Settings:
        """The spec's training settings with options changed (``optimizer="adam"``, ``batch_size=1``,
        any key of `derive.model.optimizers.Settings`), checked: an `OptionError` if one is bad, naming
        it as ``name`` does (the command line's ``--batch-size``)."""
        given = optimizers.options(freeze_biases=freeze_biases, update_order=update_order, **options)
        if batch_size(self.spec.kinds) and given.get("batch_size", 0):
            raise optimizers.OptionError(WHOLE_BATCH.format(name("batch_size"), given["batch_size"]))
        return self.spec.training.configured(given, name, samples=len(self.spec.samples))

    @collector.tuned()
    def train(self, steps: int | None = None, freeze_biases: bool | None = None, update_order: str | None = None,
              history: bool = True, every: int | None = None, settings: optimizers.Settings | None = None,
              **options) -> TrainingRun:
        """Training in float64 for ``steps`` (default: the spec's), with ``settings`` or the spec's
        changed by options (as in `settings`); E_total recorded at about 100 steps, or ``every`` N."""
        steps = self.spec.steps if steps is None else steps
        settings = settings or self.settings(freeze_biases, update_order, **options)
        return _train(self.module, self.spec, steps or 0, settings, history, every)

    def training_comparisons(self, steps: int) -> list[list[tuple[str, TrainingRun]]]:
        """Runs to compare, in groups of (label, run), the spec's own run first: frozen against trained
        biases; with several samples, the full batch against online training (one sample a step)."""
        spec = self.spec.training

        def run(label, **given):
            return label, self.train(steps, settings=spec.configured(given, samples=len(self.spec.samples)))

        biases = [run(("biases frozen" if f else "biases trained") + (" (as the spec says)" if own else ""),
                      freeze_biases=f) for f, own in ((spec.freeze_biases, True), (not spec.freeze_biases, False))]
        if len(self.spec.samples) == 1:
            return [biases]
        return [biases, [run("the full batch", batch_size=0, shuffle=False), run("online", batch_size=1)]]

    @collector.tuned()
    def latex(self, digits: int = 9, extra_sections=()) -> str:
        """The step-by-step LaTeX document (training with the spec's ``steps``, else one step)."""
        from derive.render.tex import latex

        require_balls()
        comparisons = self.training_comparisons(self.spec.steps or 1)
        findings, notes = (self.published_findings, self.published_notes(digits)) if self.spec.published else ((), ())
        return latex.document(self, __version__, digits, comparisons, findings, notes, extra_sections)

    @collector.tuned()
    def html(self, digits: int = 9, check=None) -> str:
        """The self-contained interactive web page (``check``: the result of `check`, made here unless
        given; ``False`` leaves the page's check section out, the slow part)."""
        from derive.check import report, routes
        from derive.render.web.html import Page

        require_balls()
        pending = report.beside(self, digits) if check is None and routes.processes(self) > 1 else None  # a long one
        try:
            check = self.check(digits=digits) if check is None and pending is None else check or None
            comparisons = self.training_comparisons(self.spec.steps) if self.spec.steps else []
            published = self.spec.published
            findings, notes = (self.published_findings, self.published_notes(digits)) if published else ((), ())
            return Page(self, __version__, digits, check, comparisons, findings, notes).render(pending)
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise

    @collector.tuned()
    def check(self, claims=(), digits: int = 9, routes: bool = True, progress=None):
        """What `derive check` does: every gradient by the independent routes (unless not ``routes``),
        the audit of the spec's published numbers, and the verdict on each of ``claims`` (texts such as
        ``"dE_total/dw5=0.0822"``, or (quantity, value) pairs): a `derive.check.results.CheckResult`
        (``as_dict()`` is ``--json``; ``exit_status(strict)`` the command's)."""
        from derive.check import report
        from derive.check.audit import parse_claim

        require_balls()
        parsed = [parse_claim(c if isinstance(c, str) else f"{c[0]}={c[1]}", self) for c in claims]
        return report.build(self, parsed, digits, with_checks=routes, progress=progress)

    @collector.tuned()
    def build(self, path: str | Path | None = None, digits: int = 9, force: bool = False, progress=None):
        """What `derive build` does: every output written into ``path`` (default generated/<name>/)
        together or not at all: a `derive.building.Built` (the folder, the files, the check's result)."""
        from derive.building import build

        return build(self, path, digits, force, progress)

    @collector.tuned()
    def codegen(self, target: str = "python", path: str | Path | None = None, build: bool = False,
                force: bool = False):
        """What `derive codegen` does: this network's gradient code in ``target`` (a name of
        `derive.render.code.targets.TARGETS`) written to ``path`` (default generated/<name>/...), compiled
        ahead with ``build``: a `derive.codegen.Written` (the files, the library built)."""
        from derive.codegen import codegen

        return codegen(self, target, path, build, force)

    def latex_quantity(self, quantity: Quantity | str, digits: int = 9) -> str:
        """One quantity's derivation as a LaTeX ``align`` block."""
        from derive.render.tex.latex import quantity_block

        return quantity_block(self.network, self.explainer.explain(self.quantity(quantity)), digits)


def load(path: str | Path | None = None) -> Model:
    """A `Model` from a spec file; with no path, the built-in reference example."""
    return Model(load_spec(path))


@collector.tuned()
def exercise(spec=None, variants: int = 30, seed: int = 1, ask=(), decimals: int = 4, output=None, pdf: bool = True,
             force: bool = False, lms="moodle", progress=None, workers: int | None = None):
    """`derive exercise` as a function: ``variants`` networks like ``spec`` (a path, a `Spec`, a `Model`
    or None for the built-in example) with nice numbers, each with its spec, worksheet and key, checked
    by the five routes, and ``answers.csv`` and a quiz per learning system in ``lms`` (``"moodle,canvas"``
    or a list: `derive.lms.EXPORTS`), all written into ``output`` (default ``generated/<name>/exercises``)
    together or not at all. Returns the `derive.exercises.Made` set (its exercises, files, and the
    quantities left out because every variant would give the same value)."""
    from derive.exercises import run

    return run(spec, variants, seed, ask, decimals, output, pdf, force, lms, progress, workers)


@collector.tuned()
def grade(model: Model | str | Path | None, answers: str | Path, time_limit: float | None = 20):
    """What `derive grade` does: the learner's sheet ``answers`` marked against ``model`` (a `Model`,
    or a spec's path): each number correct, carried forward from their own earlier numbers, another
    convention, or wrong with the slip that reproduces it: a `derive.teaching.grade.Marking`
    (``as_dict()`` is ``--json``; `derive.teaching.grade_report` prints its table); the search for
    slips stops after ``time_limit`` seconds (None or 0: no limit). A sheet that cannot be read:
    `SheetError`."""
    from derive.teaching.grade import Marker, read_sheet

    model = model if isinstance(model, Model) else load(model)
    return Marker(model).mark(read_sheet(answers, model), time_limit or None)
