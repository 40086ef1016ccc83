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

from .derivation import Derivation
from .evaluate import Evaluation, evaluate
from .network import Network
from .spec import Spec, SpecError, parse
from .spec import load as load_spec
from .training import TrainingRun, compile_module
from .training import train as _train

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

    def train(self, steps: int | None = None, freeze_biases: bool = False) -> TrainingRun:
        steps = self.spec.steps if steps is None else steps
        return _train(self.module, self.spec, steps or 0, freeze_biases)


def load(path: str | Path | None = None) -> Model:
    """A `Model` from a spec file; with no path, the built-in reference example."""
    return Model(load_spec(path))
