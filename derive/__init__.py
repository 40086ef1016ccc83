"""backprop-derive: exact, step-by-step backpropagation for small networks.

A notebook-friendly API::

    import derive
    model = derive.load()                  # the built-in reference network (or a path to a spec)
    model.expression("out_h1")             # SymPy expressions render as math in Jupyter
    model.gradient("w5")                   # dE_total/dw5 in intermediate symbols
    model.expanded_gradient("w5")          # ... fully expanded in parameters, inputs, targets
    model.value("dE_total/dw5")            # high-precision value (mpmath)
    model.train(10000, freeze_biases=True) # plain gradient descent in float64
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import sympy as sp

from derive.derivation.steps import Derivation
from derive.derivation.evaluate import Evaluation, evaluate
from derive.model.network import Network
from derive.model.spec import Spec, SpecError, parse
from derive.model.spec import load as load_spec
from derive.derivation.training import TrainingRun, compile_module
from derive.derivation.training import train as _train

__version__ = "0.1.0"
__all__ = ["Model", "Spec", "SpecError", "TrainingRun", "__version__", "load", "load_spec", "parse"]


class Model:
    """A network spec with its symbolic model, derivation and values, each built once on demand."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.network = Network(spec)
        self.derivation = Derivation(self.network)

    @cached_property
    def evaluation(self) -> Evaluation:
        return evaluate(self.derivation)

    @cached_property
    def module(self):
        """The generated plain-Python module, compiled in memory."""
        return compile_module(self.derivation, __version__)

    @cached_property
    def auditor(self):
        """The correct computation and every variant of it, for audits and claims."""
        from derive.check.audit import Auditor

        return Auditor(self)

    @cached_property
    def published_findings(self) -> list:
        """The audit of the spec's ``[published]`` numbers (see `derive.audit`)."""
        return [self.auditor.examine(q, v) for q, v in self.spec.published]

    @property
    def parameters(self) -> list[str]:
        return [p.name for p in self.network.parameters]

    def symbol(self, quantity: str) -> sp.Symbol:
        return self.network.symbol(quantity)

    def expression(self, quantity: str) -> sp.Expr:
        """The defining expression of a quantity (one sample) in earlier symbols."""
        return self.derivation.step[quantity].formula

    def gradient(self, parameter: str) -> sp.Expr:
        return self.derivation.gradient(parameter)

    def expanded_gradient(self, parameter: str) -> sp.Expr:
        return self.derivation.expanded_gradient(parameter)

    def value(self, quantity: str, sample: int | None = None):
        return self.evaluation.value(quantity, sample)

    def gradients(self) -> dict[str, object]:
        """dE_total/d<parameter> for every weight and bias (over all samples), high precision."""
        return {p: self.evaluation.totals[f"dE_total/d{p}"] for p in self.parameters}

    def train(self, steps: int | None = None, freeze_biases: bool | None = None) -> TrainingRun:
        """Gradient descent for ``steps`` (default: the spec's); biases frozen as the spec says
        unless ``freeze_biases`` is given."""
        steps = self.spec.steps if steps is None else steps
        freeze = self.spec.freeze_biases if freeze_biases is None else freeze_biases
        return _train(self.module, self.spec, steps or 0, freeze)


    def latex(self, digits: int = 9, extra_sections=()) -> str:
        """The step-by-step LaTeX document (training with the spec's ``steps``, else one step)."""
        from derive.render import latex as render_latex

        run = self.train(self.spec.steps or 1, freeze_biases=False)
        weights_only = self.train(1, freeze_biases=True).error_after_first
        if self.spec.published:
            errata = render_latex.errata_section(self.published_findings, digits, self.spec.source)
            extra_sections = [*extra_sections, errata]
        return render_latex.render(self, __version__, digits, run, weights_only, extra_sections)

    def latex_quantity(self, quantity: str, digits: int = 9) -> str:
        """One quantity's derivation as a LaTeX ``align`` block (see `derive.quantities`)."""
        from derive.render import latex as render_latex
        from derive.model.quantities import QuantityError, parse

        q = parse(quantity)
        if q.after is not None:
            raise QuantityError(f"{quantity!r}: a value after training has no step-by-step derivation")
        if q.sample is not None and q.sample >= len(self.spec.samples):
            raise QuantityError(f"{quantity!r}: there are {len(self.spec.samples)} samples")
        base = q.base + ("+" if q.updated else "")
        try:
            return render_latex.quantity_block(self, base, q.sample or 0, digits)
        except KeyError:
            raise QuantityError(f"unknown quantity {quantity!r}: try net_h1, out_o1, E_o1, E_total, delta_o1, "
                                "dE_total/dout_o1, dout_o1/dnet_o1, dE_total/dw5, dE_total/db1, w5+") from None


def load(path: str | Path | None = None) -> Model:
    """A `Model` from a spec file; with no path, the built-in reference example."""
    return Model(load_spec(path))
