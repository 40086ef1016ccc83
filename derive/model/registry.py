"""Every activation and every loss, one entry each, holding everything about it.

An activation entry holds its function (a `Registered` SymPy function: derivative written once, in
the textbook's form, elementary form, stable float form, mpmath form, LaTeX name), its aliases, and,
where it couples a layer's neurons (softmax), a layer hook: the forward temporaries its stable form
needs, its Jacobian and its textbook definition. A loss entry holds one output's error term and its
derivative as a textbook writes them, its stable form, and the hooks of the output activation it is
fused with (softmax with cross-entropy, logistic with binary cross-entropy: the error computed from
net, and delta in its simplified form), and the slips a learner makes with it.

Nothing outside this module names a particular activation or loss: code asks an entry for what it
needs. Adding an activation is one `register` call here plus its tests, and the tests run over every
registered entry automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from sympy.codegen.cfunctions import log1p

from derive.model import quantities as Q
from derive.model.functions import Registered, elementwise

# -- functions --------------------------------------------------------------------------------------
#: 1/(1 + e^-x) is accurate to a few ulp wherever e^-x does not overflow; below x = -700 it is e^x,
#: which equals sigma(x) in double precision (e^x < 1e-304, so 1 + e^x rounds to 1).
LOGISTIC_SWITCH = -700

Logistic = elementwise(
    "Logistic", r"\sigma", text="sigma",
    derivative=lambda x, y: y * (1 - y),
    elementary=lambda x: 1 / (1 + sp.exp(-x)),
    float_form=lambda x: sp.Piecewise((1 / (1 + sp.exp(-x)), x > LOGISTIC_SWITCH), (sp.exp(x), True)),
    float_doc="1 / (1 + e^-x), without overflow for any x.",
    float_note="The logistic is written out as 1 / (1 + e^-net); below net = -700, where e^-net would\n"
               "overflow, it is e^net, which equals it in double precision.",
)
Step = elementwise(
    "Step", r"\operatorname{step}",
    derivative=lambda x, y: sp.S.Zero,
    elementary=lambda x: sp.Piecewise((1, x > 0), (0, True)),
    mp=lambda x: mpmath.mpf(1) if x > 0 else mpmath.mpf(0),
    float_doc="Derivative of relu; 0 at 0 by convention.",
)
ReLU = elementwise(
    "ReLU", r"\operatorname{relu}",
    derivative=lambda x, y: Step(x),
    elementary=lambda x: sp.Piecewise((x, x > 0), (0, True)),
    float_form=lambda x: sp.Max(0, x),
    mp=lambda x: x if x > 0 else mpmath.mpf(0),
    textbook=lambda x: sp.Max(0, x, evaluate=False),
)
Softplus = elementwise(
    "Softplus", r"\operatorname{softplus}",
    derivative=lambda x, y: Logistic(x),
    elementary=lambda x: sp.log(1 + sp.exp(x)),
    float_form=lambda x: sp.Max(x, 0) + log1p(sp.exp(-sp.Abs(x))),
    float_doc="ln(1 + e^x), without overflow for any x.",
    mp=lambda x: max(x, 0) + mpmath.log1p(mpmath.exp(-abs(x))),
)
Tanh = elementwise(
    "Tanh", r"\tanh",
    derivative=lambda x, y: 1 - y**2,
    elementary=lambda x: sp.tanh(x).rewrite(sp.exp),
    float_form=sp.tanh,
    mp=mpmath.tanh,
    textbook=sp.tanh,
)
Identity = elementwise("Identity", "", derivative=lambda x, y: sp.S.One, elementary=lambda x: x, identity=True)


def _softmax_rule(args, value, argindex):
    """d softmax_j / d net_k = softmax_j (δ_jk − softmax_k); the index argument is a constant."""
    j, *nets = args
    k = argindex - 2
    if k < 0:
        return sp.S.Zero
    return value * ((1 if k == int(j) else 0) - Softmax(k, *nets))


def _softmax_elementary(j, *nets):
    return sp.exp(nets[int(j)]) / sp.Add(*(sp.exp(x) for x in nets))


def _softmax_mp(j, *nets):
    m = max(nets)
    exps = [mpmath.exp(x - m) for x in nets]
    return exps[int(j)] / mpmath.fsum(exps)


class Softmax(Registered):
    """Softmax(j, net_1, ..., net_n): component j (from 0) of the softmax of the nets."""

    latex_name = r"\operatorname{softmax}"
    text_name = "softmax"
    rule = staticmethod(_softmax_rule)
    elementary = staticmethod(_softmax_elementary)
    float_form = staticmethod(_softmax_elementary)
    mp = staticmethod(_softmax_mp)

    def _latex(self, printer, exp=None):
        j, *nets = self.args
        body = rf"\operatorname{{softmax}}_{{{int(j) + 1}}}\left({', '.join(printer._print(a) for a in nets)}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


# -- activations ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Temporary:
    """A value a stable form computes on the way: its quantity, textbook formula and compute form."""

    quantity: Q.Quantity
    formula: sp.Expr
    compute: sp.Expr | None = None


@dataclass(frozen=True)
class LayerRule:
    """The hooks of an activation that couples a layer's neurons (each out reads every net)."""

    temporaries: Callable[[list[sp.Symbol], Callable], list[Temporary]]  # (nets, symbol) -> forward temporaries
    out: Callable[[list[sp.Symbol], int], sp.Expr]  # (nets, j) -> out_j as an unevaluated function
    compute: Callable[[list[sp.Symbol], int, Callable], sp.Expr]  # (nets, j, symbol) -> out_j's stable form
    textbook: Callable[[list[sp.Symbol], int], sp.Expr]  # (nets, j) -> out_j as a textbook writes it
    jacobian: Callable[[list[sp.Symbol], int, int], sp.Expr]  # (outs, i, j) -> dout_i/dnet_j


@dataclass(frozen=True)
class Activation:
    name: str
    description: str
    function: type[Registered] | None = None  # elementwise: out = function(net)
    aliases: tuple[str, ...] = ()
    layer: LayerRule | None = None  # couples the layer (then output layer only)
    kink: int | None = None  # a net where the derivative is a convention, not a limit
    kink_note: str = ""
    saturated: Callable[[object], bool] | None = None  # out -> True where the derivative all but vanishes

    @property
    def couples_layer(self) -> bool:
        return self.layer is not None

    @property
    def output_only(self) -> bool:
        return self.layer is not None

    def out(self, net: sp.Expr) -> sp.Expr:
        return self.function(net)

    def derivative(self, net: sp.Expr, out: sp.Expr) -> sp.Expr:
        """dout/dnet in the textbook's form (in out where a textbook writes it so)."""
        return self.function.derivative(net, out)

    def textbook(self, net: sp.Expr) -> sp.Expr:
        """The definition as a textbook writes it, in elementary functions where it has them."""
        return self.function.textbook(net)


MAX_NET = Q.temporary("max_o", r"\max_k \mathrm{net}_{o_k}")
LOG_SUM_EXP = Q.temporary("lse_o", r"\operatorname{lse}")


def _softmax_temporaries(nets, symbol) -> list[Temporary]:
    """max_o and lse_o = max + ln Σ e^(net - max): no exponential can overflow."""
    top = symbol(MAX_NET)
    with sp.evaluate(False):
        lse = sp.log(sp.Add(*(sp.exp(n) for n in nets)))
    return [
        Temporary(MAX_NET, sp.Max(*nets)),
        Temporary(LOG_SUM_EXP, lse, top + sp.log(sp.Add(*(sp.exp(n - top) for n in nets)))),
    ]


def _softmax_textbook(nets, j):
    with sp.evaluate(False):
        return sp.exp(nets[j]) / sp.Add(*(sp.exp(n) for n in nets))


SOFTMAX_LAYER = LayerRule(
    temporaries=_softmax_temporaries,
    out=lambda nets, j: Softmax(j, *nets),
    compute=lambda nets, j, symbol: sp.exp(nets[j] - symbol(LOG_SUM_EXP)),
    textbook=_softmax_textbook,
    jacobian=lambda outs, i, j: outs[i] * ((1 if i == j else 0) - outs[j]),
)

ACTIVATIONS: dict[str, Activation] = {}
LOSSES: dict[str, Loss] = {}
ALIASES: dict[str, str] = {}


def register(entry):
    """Add an activation or a loss to the registry (its name and aliases must be new)."""
    table = ACTIVATIONS if isinstance(entry, Activation) else LOSSES
    for name in (entry.name, *getattr(entry, "aliases", ())):
        if name in ACTIVATIONS or name in LOSSES or name in ALIASES:
            raise ValueError(f"{name!r} is registered already")
    table[entry.name] = entry
    for alias in getattr(entry, "aliases", ()):
        ALIASES[alias] = entry.name
    return entry


# Saturated: out(1 - out) < 0.0196 for the logistic, under 8% of its largest value; the same share
# of the largest derivative for tanh (1 - out^2 < 0.078) and softplus (logistic(net) < 0.02).
register(Activation("logistic", "1 / (1 + e^-net)", Logistic, aliases=("sigmoid",),
                    saturated=lambda out: out < 0.02 or out > 0.98))
register(Activation("tanh", "tanh(net)", Tanh, saturated=lambda out: abs(out) > 0.96))
register(Activation("relu", "max(0, net); its derivative is taken as 0 at net = 0", ReLU, kink=0,
                    kink_note="relu has no derivative at net = 0; derive uses relu'(0) = 0 by convention"))
register(Activation("softplus", "ln(1 + e^net)", Softplus, saturated=lambda out: out < 0.02))
register(Activation("identity", "net", Identity, aliases=("linear",)))
register(Activation("softmax", "e^net_j / sum_k e^net_k over the layer (output layer only)", layer=SOFTMAX_LAYER))


# -- losses -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slip:
    """A learner's slip with a loss: its error terms and dE/dout multiplied by ``factor``. With a
    ``convention``, the same computation is another textbook's definition of the loss, and a whole
    sheet done that way is marked right under it (`derive.check.conventions`)."""

    key: str
    description: str
    factor: sp.Expr
    convention: str = ""


@dataclass(frozen=True)
class Loss:
    """``term(t, o, n)`` is one output's error term (n = number of outputs) as a textbook writes it,
    ``derivative`` its derivative in o. With ``requires``, the loss is defined with that output
    activation (its log needs outputs in (0, 1)); then ``stable_term`` computes the error from net,
    and ``fused_delta`` gives delta in its simplified, stable form."""

    name: str
    description: str
    term: Callable[[sp.Expr, sp.Expr, int], sp.Expr]
    derivative: Callable[[sp.Expr, sp.Expr, int], sp.Expr]
    requires: str | None = None
    targets_in_unit_interval: bool = False
    stable_term: Callable | None = None  # (t, net, out, n, symbol) -> the error term, stable
    fused_temporaries: Callable | None = None  # (targets) -> [Temporary] the fused delta reads
    fused_delta: Callable | None = None  # (outs, targets, j, symbol) -> delta_j
    slips: tuple[Slip, ...] = field(default_factory=tuple)
    aliases: tuple[str, ...] = ()

    def compute_term(self, t, net, out, n, symbol) -> sp.Expr:
        return self.stable_term(t, net, out, n, symbol) if self.stable_term else self.term(t, out, n)


def _unevaluated(build):
    """Build the expression as written (½(t − o)², not SymPy's canonical reordering), so printers show
    it in the textbook's form; numerically it is the same expression."""

    def wrapped(*args):
        with sp.evaluate(False):
            return build(*args)

    return wrapped


TARGET_SUM = Q.temporary("target_sum", r"\textstyle\sum_k \mathrm{target}_{o_k}")

register(Loss(
    "half_sse", "sum over outputs of 1/2 (target - out)^2",
    _unevaluated(lambda t, o, n: sp.Rational(1, 2) * (t - o) ** 2),
    _unevaluated(lambda t, o, n: -(t - o)),
    slips=(Slip("half_dropped", "the 1/2 of the loss dropped: (target - out)^2 for each error term", sp.Integer(2),
                convention="E = sum of (target - out)^2, without the 1/2 (so every gradient is twice as large)"),),
))
register(Loss(
    "mse", "mean over outputs of (target - out)^2",
    _unevaluated(lambda t, o, n: (t - o) ** 2 / n),
    _unevaluated(lambda t, o, n: -2 * (t - o) / n),
))
register(Loss(
    "binary_cross_entropy", "-(target ln out + (1 - target) ln(1 - out)), logistic outputs",
    _unevaluated(lambda t, o, n: -(t * sp.log(o) + (1 - t) * sp.log(1 - o))),
    _unevaluated(lambda t, o, n: -(t / o - (1 - t) / (1 - o))),
    requires="logistic", targets_in_unit_interval=True,
    stable_term=lambda t, net, out, n, symbol: t * Softplus(-net) + (1 - t) * Softplus(net),
    fused_delta=lambda outs, targets, j, symbol: outs[j] - targets[j],
))
register(Loss(
    "cross_entropy", "-sum over outputs of target ln out, softmax outputs",
    _unevaluated(lambda t, o, n: -t * sp.log(o)),
    _unevaluated(lambda t, o, n: -(t / o)),
    requires="softmax", targets_in_unit_interval=True,
    stable_term=lambda t, net, out, n, symbol: t * (symbol(LOG_SUM_EXP) - net),
    fused_temporaries=lambda targets: [Temporary(TARGET_SUM, sp.Add(*targets))],
    fused_delta=lambda outs, targets, j, symbol: outs[j] * symbol(TARGET_SUM) - targets[j],
))


def activation(name: str) -> Activation:
    return ACTIVATIONS[ALIASES.get(name, name)]


def loss(name: str) -> Loss:
    return LOSSES[name]
