"""How training steps are taken: the options, their defaults and their semantics, in one place.

Every target (the exact engine, `derive.derivation.exact_training`; the generated module's ``train``,
whose update code is printed from the rules below; the LaTeX derivation of a step, printed from the
same rules) reads them here. The formulas are PyTorch's documented ``torch.optim`` ones; g is the
gradient of the batch loss, p a parameter, t the step number (from 1):

- ``sgd``: p <- p - eta (g + lambda p), lambda = ``weight_decay`` (default 0).
- ``momentum`` (mu = ``momentum``, default 0.9): buf <- mu buf + (g + lambda p), buf = 0 before the
  first step (so buf = g + lambda p after it); p <- p - eta buf.
- ``nesterov``: the same buf, then p <- p - eta ((g + lambda p) + mu buf).
- ``adam`` (``betas`` default (0.9, 0.999), ``eps`` default 1e-8): g' = g + lambda p;
  m <- beta1 m + (1 - beta1) g'; v <- beta2 v + (1 - beta2) g'^2; mhat = m / (1 - beta1^t);
  vhat = v / (1 - beta2^t); update = eta mhat / (sqrt(vhat) + eps); p <- p - update.
- ``adamw``: the decay decoupled, p <- p (1 - eta lambda) - update, with m and v taken from g itself.

Batches: ``batch_size`` 0 is the full batch (every sample in every step); k >= 1 splits the samples,
in spec order, into consecutive batches of k (the last may be smaller), and step t uses batch
(t - 1) mod (number of batches). With ``shuffle`` the order is redrawn each epoch e (from 0) by
`epoch_order`: a Fisher-Yates shuffle driven by SplitMix64 started at seed XOR (e * 0x9E3779B97F4A7C15)
mod 2^64, so every language reproduces it exactly. The batch loss sums or averages its samples'
errors as the spec's ``reduction`` says.

``freeze_biases``: the biases keep their values and have no optimizer state. ``update_order``
"in_place" (SGD only) is the reference article's mistake, for teaching (it reproduces the article's
E_total after one step, 0.291027924): within one step the layers are updated one at a time from the
top, each as soon as its gradients are known, and the deltas of the layer below are propagated
through the weights just updated. The forward values are the step's start's throughout: layer k's
gradient is its delta times its inputs, the delta taken through the weights of layers k+1.. as
updated in this step (`evaluate`'s ``backward``; the generated ``gradient``'s ``backward``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal

import sympy as sp

from derive.escape import excerpt, quoted
from derive.model import quantities as Q
from derive.model.batches import batch, batch_size_of, epoch_order
from derive.model.reading import MAX_MAGNITUDE, decimal_text, number_problem, rational
from derive.model.rules import add as _add
from derive.model.rules import minus as _minus
from derive.model.rules import mul as _mul
from derive.model.rules import over as _over
from derive.model.rules import substituted

SGD, MOMENTUM, NESTEROV, ADAM, ADAMW = "sgd", "momentum", "nesterov", "adam", "adamw"
SIMULTANEOUS, IN_PLACE = "simultaneous", "in_place"
UPDATE_ORDERS = (SIMULTANEOUS, IN_PLACE)
PARAMETER = "p"  # the target of a rule that updates the parameter itself


class OptionError(ValueError):
    """A training option out of range or not meant for the optimizer (exit status 2)."""


# -- the symbols of the rules, named as the generated code's variables --------------------------------
def _symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


P, G, T = _symbol("p"), _symbol("g"), _symbol("t")
ETA, LAMBDA, MU = _symbol("learning_rate"), _symbol("weight_decay"), _symbol("momentum")
BETA1, BETA2, EPS = _symbol("beta1"), _symbol("beta2"), _symbol("eps")


@dataclass(frozen=True)
class Slot:
    """One value of a parameter's update, the one record every output reads: its ``name`` (the
    quantity grammar's ``m`` of ``m_w5@1``, the text outputs' and the generated code's state
    ``state_m``), its ``symbol`` in the rules (named as the generated code's variable, ``m_hat``),
    its ``latex``, its MathML (``letter`` and ``accent``), its ``html`` label in the page's tables,
    and whether the optimizer-state tables show it (``update`` is the difference of the values)."""

    name: str
    symbol: sp.Symbol
    latex: str
    letter: str
    accent: str = ""
    html: str = ""
    tabulated: bool = True

    def __str__(self) -> str:
        return self.name


GRADIENT = Slot("g", G, "g", "g", html="g")  # every optimizer's: the gradient of the step's batch loss
SLOTS = {s.name: s for s in (
    GRADIENT,
    Slot("buf", _symbol("buf"), r"\mathrm{buf}", "buf", html="buf (momentum)"),
    Slot("m", _symbol("m"), "m", "m", html="m"),
    Slot("v", _symbol("v"), "v", "v", html="v"),
    Slot("mhat", _symbol("m_hat"), r"\hat{m}", "m", "^", html="m̂"),
    Slot("vhat", _symbol("v_hat"), r"\hat{v}", "v", "^", html="v̂"),
    Slot("update", _symbol("update"), "u", "u", html="update", tabulated=False),
)}
SLOT = {name: slot.symbol for name, slot in SLOTS.items() if slot is not GRADIENT}  # a rule's slot: its symbol
BUF, M, V, MHAT, VHAT, UPDATE = (SLOT[s] for s in ("buf", "m", "v", "mhat", "vhat", "update"))

#: each hyperparameter's quantity in printed update rules (eta is the learning rate of the network)
HYPERPARAMETERS = {
    ETA: Q.LEARNING_RATE,
    LAMBDA: Q.hyperparameter("lambda", r"\lambda"),
    MU: Q.hyperparameter("mu", r"\mu"),
    BETA1: Q.hyperparameter("beta1", r"\beta_{1}"),
    BETA2: Q.hyperparameter("beta2", r"\beta_{2}"),
    EPS: Q.hyperparameter("eps", r"\varepsilon"),
}


def _decayed(g=G):
    return _add(g, _mul(LAMBDA, P))


def _adam(g) -> tuple:
    """Adam's moments of gradient ``g``, their bias corrections and the step they make,
    update = eta mhat / (sqrt(vhat) + eps)."""
    return (
        ("m", _add(_mul(BETA1, M), _mul(_add(1, _minus(BETA1)), g))),
        ("v", _add(_mul(BETA2, V), _mul(_add(1, _minus(BETA2)), sp.Pow(g, 2, evaluate=False)))),
        ("mhat", _over(M, _add(1, _minus(sp.Pow(BETA1, T, evaluate=False))))),
        ("vhat", _over(V, _add(1, _minus(sp.Pow(BETA2, T, evaluate=False))))),
        ("update", _mul(ETA, MHAT, sp.Pow(_add(sp.Pow(VHAT, sp.S.Half, evaluate=False), EPS), -1, evaluate=False))),
    )


@dataclass(frozen=True)
class Optimizer:
    """One optimizer: the options it takes, the state it keeps between steps, and its update of one
    parameter as ordered assignments (target, expression) in the symbols above; a target is a slot
    of `SLOT` or `PARAMETER`. Expressions are unevaluated, in the textbook's order."""

    name: str
    description: str
    options: tuple[str, ...]  # settings beyond learning_rate and weight_decay
    state: tuple[str, ...]  # slots kept from step to step (others are computed within a step)
    rules: tuple[tuple[str, sp.Expr], ...]
    legend: str = ""  # its kept state in words (LaTeX), for the optimizer-state table
    sibling: str | None = None  # the optimizer a learner may take it for
    #: its usual slips: (key, description, the rules they change, as (target, expression))
    slips: tuple[tuple[str, str, tuple[tuple[str, sp.Expr], ...]], ...] = ()

    @property
    def slots(self) -> tuple[str, ...]:
        """Every slot the rules assign, kept or not, in order."""
        return tuple(t for t, _ in self.rules if t != PARAMETER)

    def replaced(self, target: str, expr: sp.Expr) -> Optimizer:
        """The same optimizer with one rule changed (the audit's slips)."""
        return replace(self, rules=tuple((t, expr if t == target else e) for t, e in self.rules))

    def slipped(self) -> list[tuple[str, str, Optimizer]]:
        """(key, description, the optimizer with the slip) for each of its usual slips."""
        out = []
        for key, description, changes in self.slips:
            entry = self
            for target, expr in changes:
                entry = entry.replaced(target, expr)
            out.append((key, description, entry))
        return out


def _latex(*slots: str) -> list[str]:
    return [f"${SLOTS[s].latex}$" for s in slots]


_MOMENTUM_LEGEND = "{} the momentum buffer".format(*_latex("buf"))
_ADAM_LEGEND = "{} and {} the moments, {} and {} their bias corrections".format(*_latex("m", "v", "mhat", "vhat"))
_MOMENTUM_SLIPS = (("momentum_dampening", "momentum with dampening: buf = mu buf + (1 - mu) g, an average",
                    (("buf", _add(_mul(MU, BUF), _mul(_add(1, _mul(-1, MU)), _add(G, _mul(LAMBDA, P))))),)),)
_ADAM_SLIPS = (
    ("adam_no_bias_correction", "Adam without bias correction: m and v used for mhat and vhat",
     (("mhat", M), ("vhat", V))),
    ("adam_eps_inside_sqrt", "eps inside the square root: eta mhat / sqrt(vhat + eps)",
     (("update", _mul(ETA, MHAT, sp.Pow(sp.Pow(_add(VHAT, EPS), sp.S.Half, evaluate=False), -1, evaluate=False))),)),
)

OPTIMIZERS = {
    o.name: o
    for o in (
        Optimizer(SGD, "gradient descent", (), (), ((PARAMETER, _add(P, _minus(_mul(ETA, _decayed())))),)),
        Optimizer(MOMENTUM, "gradient descent with momentum", ("momentum",), ("buf",), (
            ("buf", _add(_mul(MU, BUF), _decayed())),
            (PARAMETER, _add(P, _minus(_mul(ETA, BUF)))),
        ), _MOMENTUM_LEGEND, NESTEROV, _MOMENTUM_SLIPS),
        Optimizer(NESTEROV, "gradient descent with Nesterov momentum", ("momentum",), ("buf",), (
            ("buf", _add(_mul(MU, BUF), _decayed())),
            (PARAMETER, _add(P, _minus(_mul(ETA, _add(_decayed(), _mul(MU, BUF)))))),
        ), _MOMENTUM_LEGEND, MOMENTUM, _MOMENTUM_SLIPS),
        Optimizer(ADAM, "Adam", ("betas", "eps"), ("m", "v"), (
            *_adam(_decayed()),
            (PARAMETER, _add(P, _minus(UPDATE))),
        ), _ADAM_LEGEND, ADAMW, _ADAM_SLIPS),
        Optimizer(ADAMW, "AdamW (decoupled weight decay)", ("betas", "eps"), ("m", "v"), (
            *_adam(G),
            (PARAMETER, _add(_mul(P, _add(1, _minus(_mul(ETA, LAMBDA)))), _minus(UPDATE))),
        ), _ADAM_LEGEND, ADAM, _ADAM_SLIPS),
    )
}
PLAIN = SGD  # the optimizer without state: the one the in-place update order and the grader's slips are for


# -- settings -------------------------------------------------------------------------------------------
DEFAULT_MOMENTUM = sp.Rational(9, 10)
DEFAULT_BETAS = (sp.Rational(9, 10), sp.Rational(999, 1000))
DEFAULT_EPS = sp.Rational(1, 10**8)
@dataclass(frozen=True)
class Settings:
    """How training steps are taken (numbers exact, as the spec gives them)."""

    learning_rate: sp.Rational
    optimizer: str = SGD
    momentum: sp.Rational = DEFAULT_MOMENTUM
    betas: tuple[sp.Rational, sp.Rational] = DEFAULT_BETAS
    eps: sp.Rational = DEFAULT_EPS
    weight_decay: sp.Rational = sp.S.Zero
    batch_size: int = 0  # 0: the full batch
    shuffle: bool = False
    seed: int = 0
    freeze_biases: bool = False
    update_order: str = SIMULTANEOUS

    @property
    def entry(self) -> Optimizer:
        return OPTIMIZERS[self.optimizer]

    def trains(self, parameter) -> bool:
        """Whether training updates a parameter (of `derive.model.network`): not a bias when the biases
        are frozen (a frozen parameter keeps its value and has no optimizer state)."""
        return not (self.freeze_biases and parameter.kind == Q.BIAS)

    def numbers(self) -> dict[sp.Symbol, sp.Rational]:
        """The value of every hyperparameter symbol of the rules."""
        return {ETA: self.learning_rate, LAMBDA: self.weight_decay, MU: self.momentum, BETA1: self.betas[0],
                BETA2: self.betas[1], EPS: self.eps}

    def module_options(self) -> dict:
        """The keyword arguments of the generated module's ``train`` (frozen names aside)."""
        return {"learning_rate": float(self.learning_rate), "optimizer": self.optimizer,
                "momentum": float(self.momentum), "betas": tuple(float(b) for b in self.betas),
                "eps": float(self.eps), "weight_decay": float(self.weight_decay), "batch_size": self.batch_size,
                "shuffle": self.shuffle, "seed": self.seed, "update_order": self.update_order}

    def describe(self) -> str:
        """One line: ``adam (learning rate 0.001, betas 0.9 0.999, eps 1e-08), mini-batches of 2, ...``."""
        numbers = [f"learning rate {_show(self.learning_rate)}"]
        if "momentum" in self.entry.options:
            numbers.append(f"momentum {_show(self.momentum)}")
        if "betas" in self.entry.options:
            numbers += [f"betas {_show(self.betas[0])} {_show(self.betas[1])}", f"eps {_show(self.eps)}"]
        if self.weight_decay:
            numbers.append(f"weight decay {_show(self.weight_decay)}")
        parts = [f"{self.optimizer} ({', '.join(numbers)})"]
        parts.append("full batch" if self.batch_size == 0 else
                     "online (one sample a step)" if self.batch_size == 1 else f"mini-batches of {self.batch_size}")
        if self.shuffle:
            parts.append(f"shuffled each epoch (seed {self.seed})")
        if self.update_order == IN_PLACE:
            parts.append("in-place layer updates")
        if self.freeze_biases:
            parts.append("biases frozen")
        return ", ".join(parts)

    def configured(self, given: dict, name=lambda key: key, samples: int | None = None) -> Settings:
        """These settings with ``given`` options changed, checked (`configure`)."""
        return configure(given, self, name, samples)


OPTIONS = tuple(f.name for f in fields(Settings))
_NUMBERS = ("learning_rate", "momentum", "eps", "weight_decay")


def exact(value) -> sp.Rational:
    """A number as an exact rational, as written (0.1 is 1/10): from an int, a float, a Decimal or text.
    Held to a spec's limits (`reading.number_problem`) before it is converted: 1e-999999999 as a
    fraction would take forever, 1e999 is no learning rate."""
    shown = quoted(value) if isinstance(value, str) else excerpt(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal | sp.Rational):
        raise OptionError(f"not a number: {shown}")
    if isinstance(value, sp.Rational):
        return value
    number = value if isinstance(value, int | Decimal) else decimal_text(repr(value) if isinstance(value, float)
                                                                       else value)
    if number is None or (isinstance(number, Decimal) and not number.is_finite()):  # an int is finite
        raise OptionError(f"not a number: {shown}")
    if problem := number_problem(number, MAX_MAGNITUDE):
        raise OptionError(f"{shown} {problem}")
    return rational(number)


def options(**values) -> dict:
    """Options given from Python or the command line (None: not given), numbers made exact."""
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        if key in _NUMBERS:
            value = exact(value)
        elif key == "betas":
            value = tuple(exact(b) for b in value)
        out[key] = value
    return out
_APPLIES = {"momentum": (MOMENTUM, NESTEROV), "betas": (ADAM, ADAMW), "eps": (ADAM, ADAMW)}
#: the command line's help of the options that name an optimizer or a slot (derive train's flags)
HELP = {"optimizer": f"one of {', '.join(OPTIMIZERS)} (default: the spec's, else {SGD})",
        "momentum": f"{MOMENTUM} and {NESTEROV}: mu (default 0.9)", "betas": f"{ADAM}, {ADAMW} (default 0.9 0.999)",
        "eps": f"{ADAM}, {ADAMW}: added to sqrt(vhat) (default 1e-8)",
        "update_order": f"{IN_PLACE} ({SGD} only): each layer updated as soon as its gradients are known, the deltas "
                        "below propagated through the updated weights (the article's mistake)"}


def _show(value) -> str:
    """A value as the spec writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, sp.Rational) and not value.is_Integer:
        return format(float(value), "g") if abs(float(value)) < 1e-4 else str(float(value))
    return str(value)


def configure(given: dict, base: Settings, name=lambda key: key, samples: int | None = None) -> Settings:
    """``base`` with the ``given`` options, or an `OptionError` naming the first bad one (``name(key)``
    is how the caller spells the option: ``training.momentum``, ``--momentum``). Options of ``base``
    that the new optimizer does not take are left alone; a ``given`` one it does not take is an
    error, as is any value out of range."""
    unknown = set(given) - set(OPTIONS)
    if unknown:
        raise OptionError(f"unknown training option {quoted(sorted(unknown)[0])}; known: {', '.join(OPTIONS)}")

    def bad(key, why):
        raise OptionError(f"{name(key)} = {_show(given.get(key, getattr(settings, key)))} {why}")

    settings = replace(base, **given)
    if settings.optimizer not in OPTIMIZERS:
        bad("optimizer", f"is unknown; known: {', '.join(OPTIMIZERS)}")
    for key, optimizers in _APPLIES.items():
        if key in given and settings.optimizer not in optimizers:
            bad(key, f"is an option of {' and '.join(optimizers)}, not of optimizer {settings.optimizer!r}")
    if settings.learning_rate <= 0:
        bad("learning_rate", "must be positive")
    if not 0 <= settings.momentum < 1:
        bad("momentum", "must be from 0 up to (not including) 1")
    if settings.optimizer == NESTEROV and settings.momentum == 0:
        bad("momentum", "must be positive for nesterov")
    if len(settings.betas) != 2 or not all(0 <= b < 1 for b in settings.betas):
        bad("betas", "must be two numbers, each from 0 up to (not including) 1")
    if any(float(b) == 1 for b in settings.betas):  # 1 - beta^t would be 0 in float64
        bad("betas", "must each be below 1 in float64 too (at most 0.9999999999999999); training runs in float64")
    if settings.eps <= 0:
        bad("eps", "must be positive")
    if settings.weight_decay < 0:
        bad("weight_decay", "must not be negative")
    if settings.batch_size < 0:
        bad("batch_size", "must not be negative (0 is the full batch)")
    if samples is not None and settings.batch_size > samples:
        bad("batch_size", f"is more than the {samples} sample{'s' * (samples > 1)} (0 is the full batch)")
    if settings.seed < 0:
        bad("seed", "must not be negative")
    if settings.update_order not in UPDATE_ORDERS:
        bad("update_order", f"is unknown; known: {', '.join(UPDATE_ORDERS)}")
    if settings.update_order == IN_PLACE and settings.optimizer != SGD:
        bad("update_order", f"is for optimizer 'sgd' only, not {settings.optimizer!r} (it is a mistake of "
            "hand-written SGD, kept for teaching)")
    if settings.shuffle and settings.batch_size == 0:
        bad("shuffle", "needs mini-batches (batch_size of 1 or more): the full batch has no order")
    return settings


__all__ = ["batch", "batch_size_of", "epoch_order", "substituted"]  # the batches, read here by every target
