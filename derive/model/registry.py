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

import functools
import math

import mpmath
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from derive.model import quantities as Q
from derive.model.entries import (  # noqa: F401  (re-exported: the registry's API)
    ACTIVATIONS,
    ALIASES,
    LOSSES,
    Activation,
    LayerRule,
    Loss,
    Slip,
    Temporary,
    activation,
    loss,
    register,
)
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
    # On arrays the guard would be a numpy.where that computes both branches: instead e^-x may overflow
    # to inf below x = -709, and 1 / (1 + inf) = 0, within 1e-308 of sigma(x) (NumPy's errstate silences it)
    array_form=lambda x: 1 / (1 + sp.exp(-x)),
    float_doc="1 / (1 + e^-x), without overflow for any x.",
    float_note="The logistic is written out as 1 / (1 + e^-net); below net = -700, where e^-net would\n"
               "overflow, it is e^net, which equals it in double precision.",
    one_minus=lambda x: 1 / (1 + sp.exp(x)),
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
    elementary=lambda x: sp.tanh(x).rewrite(sp.tanh, sp.exp),  # tanh only: x**3 must stay a power
    float_form=sp.tanh,
    mp=mpmath.tanh,
    textbook=sp.tanh,
    one_minus=lambda x: 2 / (1 + sp.exp(2 * x)),
    one_plus=lambda x: 2 / (1 + sp.exp(-2 * x)),
)
Identity = elementwise("Identity", "", derivative=lambda x, y: sp.S.One, elementary=lambda x: x, identity=True)

# Today's activations, each as PyTorch defines it (benchmarks/validate_torch_functions.py compares them).
LEAKY_SLOPE = sp.Rational(1, 100)  # torch.nn.LeakyReLU's default negative_slope
LeakyReLU = elementwise(
    "LeakyReLU", r"\operatorname{leaky\_relu}", text="leaky_relu",
    derivative=lambda x, y: sp.Piecewise((1, x > 0), (LEAKY_SLOPE, True)),
    elementary=lambda x: sp.Piecewise((x, x > 0), (LEAKY_SLOPE * x, True)),
    mp=lambda x: x if x > 0 else x / 100,
)
ELU = elementwise(  # alpha = 1, torch.nn.ELU's default: then elu' is continuous at 0 (1 from both sides)
    "ELU", r"\operatorname{elu}",
    derivative=lambda x, y: sp.Piecewise((1, x > 0), (y + 1, True)),
    elementary=lambda x: sp.Piecewise((x, x > 0), (sp.exp(x) - 1, True)),
    float_form=lambda x: sp.Piecewise((x, x > 0), (expm1(x), True)),
    mp=lambda x: x if x > 0 else mpmath.expm1(x),
    float_doc="net for net > 0, else e^net - 1 (expm1: accurate near 0).",
    one_plus=lambda x: sp.Piecewise((1 + x, x > 0), (sp.exp(x), True)),
)
SiLU = elementwise(  # x sigma(x); silu' = sigma(x) (1 + x (1 - sigma(x))) = sigma(x) + out (1 - sigma(x))
    "SiLU", r"\operatorname{silu}",
    derivative=lambda x, y: Logistic(x) + y * (1 - Logistic(x)),
    elementary=lambda x: x / (1 + sp.exp(-x)),
    float_form=lambda x: sp.Piecewise((x / (1 + sp.exp(-x)), x > LOGISTIC_SWITCH), (x * sp.exp(x), True)),
    float_doc="x / (1 + e^-x), without overflow for any x.",
)
_SQRT2 = sp.sqrt(2)


def _normal_cdf_mp(x):
    return mpmath.erfc(-x / mpmath.sqrt(2)) / 2


NormalCDF = elementwise(  # Phi, written as erfc(-x / sqrt 2) / 2 for float code: no cancellation for x < 0
    "NormalCDF", r"\Phi", text="normal_cdf",
    derivative=lambda x, y: NormalPDF(x),
    elementary=lambda x: (1 + sp.erf(x / _SQRT2)) / 2,
    float_form=lambda x: sp.erfc(-x * sp.Float(1 / math.sqrt(2), 17), evaluate=False) / 2,  # not 2 - erfc(x)
    mp=_normal_cdf_mp,
    float_doc="The standard normal distribution function, erfc(-x / sqrt 2) / 2 (exact in the tails).",
)
NormalPDF: type[Registered] = elementwise(
    "NormalPDF", r"\varphi", text="normal_pdf",
    derivative=lambda x, y: -x * y,
    elementary=lambda x: sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi),
    float_form=lambda x: sp.Float(1 / math.sqrt(2 * math.pi), 17) * sp.exp(-x**2 / 2),
    mp=lambda x: mpmath.npdf(x),
    float_doc="The standard normal density, e^(-x^2 / 2) / sqrt(2 pi).",
)
GELU = elementwise(  # exact: x Phi(x) (torch.nn.GELU(approximate="none")); gelu' = Phi(x) + x phi(x)
    "GELU", r"\operatorname{gelu}",
    derivative=lambda x, y: NormalCDF(x) + x * NormalPDF(x),
    elementary=lambda x: x * (1 + sp.erf(x / _SQRT2)) / 2,
    float_form=lambda x: x * NormalCDF.float_form(x),
    mp=lambda x: x * _normal_cdf_mp(x),
    textbook=lambda x: x * NormalCDF(x),
)
GELU_A, GELU_C = sp.Rational(44715, 10**6), sp.sqrt(2 / sp.pi)  # torch.nn.GELU(approximate="tanh")


def _gelu_u(x):
    return GELU_C * (x + GELU_A * x**3)


def _gelu_2u(x):
    """2u in float constants: 2 sqrt(2/pi) x + 2 sqrt(2/pi) 0.044715 x^3."""
    c = 2 * math.sqrt(2 / math.pi)
    return sp.Float(c, 17) * x + sp.Float(c * 0.044715, 17) * x**3


def _gelu_tanh_slope(x):
    """d/dx x (1 + tanh u) / 2 = (1 + tanh u) / 2 + x (1 - tanh^2 u) u' / 2."""
    t = sp.tanh(_gelu_u(x))
    return (1 + t) / 2 + x * (1 - t**2) * sp.diff(_gelu_u(x), x) / 2


def _gelu_tanh_slope_factored(x):
    """The same as a product, (1 + tanh u)/2 (1 + x (1 - tanh u) u'), whose factors 1 ± tanh u have
    stable forms: no sum that cancels (at x = -369 the slope is 1e-1565485)."""
    t = sp.tanh(_gelu_u(x))
    return (1 + t) / 2 * (1 + x * (1 - t) * sp.diff(_gelu_u(x), x))


GELUTanhSlope = elementwise(  # gelu_tanh', written once; float code reads it as sigma(2u) + 2x s(1 - s) u'
    "GELUTanhSlope", r"\operatorname{gelu_{tanh}}'", text="gelu_tanh_slope",
    derivative=lambda x, y: sp.diff(_gelu_tanh_slope(x), x),
    elementary=lambda x: _gelu_tanh_slope(x).rewrite(sp.tanh, sp.exp),
    float_form=lambda x: Logistic(_gelu_2u(x)) * (1 + x * (1 - Logistic(_gelu_2u(x))) * sp.diff(_gelu_2u(x), x)),
    mp=lambda x: _gelu_mp_slope(x),
    float_doc="The slope of gelu_tanh: s + x s (1 - s) (2u)', s = sigma(2u), without cancellation.",
    ball=lambda x: _gelu_tanh_slope_factored(x),
)
GELUTanh = elementwise(  # x (1 + tanh u) / 2 = x sigma(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
    "GELUTanh", r"\operatorname{gelu_{tanh}}", text="gelu_tanh",
    derivative=lambda x, y: GELUTanhSlope(x),
    elementary=lambda x: x * (1 + sp.tanh(_gelu_u(x)).rewrite(sp.tanh, sp.exp)) / 2,
    float_form=lambda x: x * Logistic(_gelu_2u(x)),
    mp=lambda x: x * (1 + mpmath.tanh(_gelu_mp_u(x))) / 2,
    textbook=lambda x: x * (1 + sp.tanh(_gelu_u(x))) / 2,
    float_doc="x / (1 + e^-2u), which is x (1 + tanh u) / 2 without its cancellation for negative x.",
)


def _gelu_mp_u(x):
    return mpmath.sqrt(2 / mpmath.pi) * (x + mpmath.mpf(44715) / 10**6 * x**3)


def _gelu_mp_slope(x):
    t, du = mpmath.tanh(_gelu_mp_u(x)), mpmath.sqrt(2 / mpmath.pi) * (1 + 3 * mpmath.mpf(44715) / 10**6 * x**2)
    return (1 + t) / 2 + x * (1 - t * t) * du / 2


def _softmax_rule(args, value, argindex):
    """d softmax_j / d net_k = softmax_j (δ_jk − softmax_k); the index argument is a constant."""
    j, *nets = args
    k = argindex - 2
    if k < 0:
        return sp.S.Zero
    return value * ((1 if k == int(j) else 0) - Softmax(k, *nets))


def _softmax_elementary(j, *nets):
    return sp.exp(nets[int(j)]) / sp.Add(*(sp.exp(x) for x in nets))


def _largest(nets) -> sp.Expr:
    """``Max(*nets)``. SymPy's Max compares every pair of its arguments to drop those another bounds
    (7 ms for an attention row's scores: most of printing its code); symbols that are real and no more
    (the nets of a layer) bound none of the others, so that comparison is skipped for them: the same
    expression (its arguments deduplicated and ordered as SymPy orders them either way)."""
    plain = all(n.is_Symbol and n.is_real and n.is_positive is None and n.is_negative is None
                and n.is_zero is None for n in nets)
    return sp.Max(*nets, evaluate=not plain)


def _softmax_float(j, *nets):
    """exp(net_j - max) / sum exp(net - max): the same value, and no exp overflows (scores of 10^4)."""
    top = _largest(nets)
    return sp.exp(nets[int(j)] - top) / sp.Add(*(sp.exp(x - top) for x in nets))


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
    float_form = staticmethod(_softmax_float)
    array_form = staticmethod(_softmax_float)
    mp = staticmethod(_softmax_mp)

    def _latex(self, printer, exp=None):
        j, *nets = self.args
        body = rf"\operatorname{{softmax}}_{{{int(j) + 1}}}\left({', '.join(printer._print(a) for a in nets)}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

Clip = elementwise(  # huber's slope: d clipped to [-1, 1]
    "Clip", r"\operatorname{clip}_{[-1,1]}",
    derivative=lambda x, y: sp.Piecewise((1, sp.Abs(x) <= 1), (0, True)),
    elementary=lambda x: sp.Piecewise((-1, x < -1), (x, x <= 1), (1, True)),
    float_form=lambda x: sp.Min(sp.Max(x, -1), 1),
    mp=lambda x: min(max(x, mpmath.mpf(-1)), mpmath.mpf(1)),
    float_doc="x clipped to [-1, 1]: the slope of huber's loss.",
)


def _unevaluated(build):
    """``build`` making its expression as written (½(t − o)², e^net_j / Σ e^net: not SymPy's canonical
    reordering), so printers show it in the textbook's form; numerically it is the same expression.
    Kept for each argument (the last 1,024): SymPy empties its whole cache each time evaluation is
    turned off and on again (what it remembered was computed with the other setting), and a network
    asks for these each time one of its models is built."""

    @functools.lru_cache(maxsize=1024)
    def wrapped(*args):
        with sp.evaluate(False):
            return build(*args)

    return wrapped


# -- activations ------------------------------------------------------------------------------------
MAX_NET = Q.temporary("max_o", r"\max_k \mathrm{net}_{o_k}")
LOG_SUM_EXP = Q.temporary("lse_o", r"\operatorname{lse}")
_log_sum_exp = _unevaluated(lambda nets: sp.log(sp.Add(*(sp.exp(n) for n in nets))))  # ln Σ e^net, as written
_softmax_written = _unevaluated(lambda nets, j: sp.exp(nets[j]) / sp.Add(*(sp.exp(n) for n in nets)))


def _softmax_temporaries(nets, symbol) -> list[Temporary]:
    """max_o and lse_o = max + ln Σ e^(net - max): no exponential can overflow."""
    top = symbol(MAX_NET)
    return [
        Temporary(MAX_NET, _largest(nets)),
        Temporary(LOG_SUM_EXP, _log_sum_exp(tuple(nets)), top + sp.log(sp.Add(*(sp.exp(n - top) for n in nets)))),
    ]


SOFTMAX_LAYER = LayerRule(
    temporaries=_softmax_temporaries,
    out=lambda nets, j: Softmax(j, *nets),
    compute=lambda nets, j, symbol: sp.exp(nets[j] - symbol(LOG_SUM_EXP)),
    textbook=lambda nets, j: _softmax_written(tuple(nets), j),
    jacobian=lambda outs, i, j: outs[i] * ((1 if i == j else 0) - outs[j]),
    complement=lambda nets, j, symbol: sp.Add(*(sp.exp(n - symbol(LOG_SUM_EXP)) for k, n in enumerate(nets) if k != j)),
)


# Saturated: out(1 - out) < 0.0196 for the logistic, under 8% of its largest value; the same share
# of the largest derivative for tanh (1 - out^2 < 0.078) and softplus (logistic(net) < 0.02).
register(Activation("logistic", "1 / (1 + e^-net)", Logistic, aliases=("sigmoid",),
                    saturated=lambda out: out < 0.02 or out > 0.98))
register(Activation("tanh", "tanh(net)", Tanh, saturated=lambda out: abs(out) > 0.96))
register(Activation("relu", "max(0, net); its derivative is taken as 0 at net = 0", ReLU, kink=0,
                    kink_note="relu has no derivative at net = 0; derive uses relu'(0) = 0 by convention"))
register(Activation("softplus", "ln(1 + e^net)", Softplus, saturated=lambda out: out < 0.02))
register(Activation("identity", "net", Identity, aliases=("linear",)))
NO_ACTIVATION = "identity"  # what a layer applies when it names no activation (as torch.nn.Linear)
RECURRENT_ACTIVATION = "tanh"  # a recurrent layer's when it names none (torch.nn.RNN's nonlinearity)
GATE_ACTIVATION = "logistic"  # an LSTM's input, forget and output gates (torch.nn.LSTM's)
ATTENTION_WEIGHTS = "softmax"  # attention's weights over the positions, a_ts from the scores s_t. (its Jacobian)
register(Activation("leaky_relu", "net for net > 0, else 0.01 net; its derivative is taken as 0.01 at net = 0",
                    LeakyReLU, kink=0, kink_note="leaky_relu has no derivative at net = 0; derive uses "
                    "leaky_relu'(0) = 0.01 by convention (as PyTorch does)"))
register(Activation("elu", "net for net > 0, else e^net - 1 (alpha = 1)", ELU))
register(Activation("silu", "net / (1 + e^-net), also called swish", SiLU, aliases=("swish",)))
register(Activation("gelu", "net Phi(net), Phi the standard normal distribution function (exact, with erf)", GELU))
register(Activation("gelu_tanh", "GELU's tanh approximation, net (1 + tanh(sqrt(2/pi) (net + 0.044715 net^3))) / 2",
                    GELUTanh))
register(Activation("softmax", "e^net_j / sum_k e^net_k over the layer (output layer only)", layer=SOFTMAX_LAYER))


# -- losses -----------------------------------------------------------------------------------------
# The fused deltas, written so that float64 resolves them at saturation. out - target cancels where
# out rounds to 1 (sigma(40) = 1 in float64, out - 1 = 0 where the truth is -4e-18): each is written as
# a difference of two terms that are each computed to a few ulp, so the only cancellation left is
# the one in the numbers themselves (out equal to target), never one that rounding makes.
def _bce_delta(net, out, t):
    """sigma(net) - t = (1 - t) sigma(net) - t sigma(-net), since 1 - sigma(net) = sigma(-net)."""
    return (1 - t) * out - t * Logistic(-net)


def _softmax_ce_delta(outs, targets, j):
    """out_j sum_k t_k - t_j = out_j sum_(k != j) t_k - t_j sum_(k != j) out_k, since the outs sum to 1."""
    others = [k for k in range(len(outs)) if k != j]
    return outs[j] * sp.Add(*(targets[k] for k in others)) - targets[j] * sp.Add(*(outs[k] for k in others))


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
    fused_delta=lambda nets, outs, targets, j, symbol: _bce_delta(nets[j], outs[j], targets[j]),
))
register(Loss(
    "cross_entropy", "-sum over outputs of target ln out, softmax outputs",
    _unevaluated(lambda t, o, n: -t * sp.log(o)),
    _unevaluated(lambda t, o, n: -(t / o)),
    requires="softmax", targets_in_unit_interval=True,
    stable_term=lambda t, net, out, n, symbol: t * (symbol(LOG_SUM_EXP) - net),
    fused_delta=lambda nets, outs, targets, j, symbol: _softmax_ce_delta(outs, targets, j),
))

register(Loss(  # torch.nn.HuberLoss(delta=1, reduction="sum"); at |d| = 1 both branches give 1/2 and slope 1
    "huber", "sum over outputs of 1/2 d^2 for |d| <= 1, else |d| - 1/2, with d = target - out",
    _unevaluated(lambda t, o, n: sp.Piecewise(
        (sp.Rational(1, 2) * (t - o) ** 2, sp.Abs(t - o) <= 1), (sp.Abs(t - o) - sp.Rational(1, 2), True))),
    _unevaluated(lambda t, o, n: -Clip(t - o)),
))




def guarded(expr: sp.Expr) -> sp.Expr:
    """``expr`` with the patterns that have a stable form here written with it: 1 / (1 + e^u) as the
    logistic of -u, ln(1 + e^u) as softplus(u), so that a spec's own formula gets their overflow guards
    in float code (x / (1 + exp(-x)) becomes x * sigma(x))."""
    w = sp.Wild("w")
    expr = expr.replace(1 / (1 + sp.exp(w)), lambda w: Logistic(-w))
    return expr.replace(sp.log(1 + sp.exp(w)), lambda w: Softplus(w))
