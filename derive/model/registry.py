"""Activations and losses: each entry keeps its function, derivative, numerically stable plain-Python
helper, high-precision (mpmath) form and LaTeX name together, so that a rule is never out of step with
its derivative or its printed form.

The custom SymPy functions stay unevaluated (``Logistic(net_h1)``) so derivations read like the article;
``.rewrite(sp.exp)`` turns them into elementary functions for the independent ``sympy.diff`` cross-check.
They print themselves for Python (a call to a stable helper) and for LaTeX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import sympy as sp

# --- Stable plain-Python forms, copied verbatim into generated modules. ---------------------------
#: The logistic as one expression: 1/(1 + e^-x) is accurate to a few ulp wherever e^-x does not
#: overflow; below x = -700 it is e^x, which equals sigma(x) in double precision (e^x < 1e-304, so
#: 1 + e^x rounds to 1). Generated code writes ``out = sigma(net)`` with it inline (a call costs as
#: much as the arithmetic) and calls ``_logistic`` where sigma sits inside a larger expression.
LOGISTIC_INLINE = "1.0 / (1.0 + math.exp(-{x})) if {x} > -700.0 else math.exp({x})"

HELPERS: dict[str, str] = {
    "_logistic": f'''def _logistic(x):
    """1 / (1 + e^-x), without overflow for any x."""
    return {LOGISTIC_INLINE.format(x="x")}
''',
    "_softplus": '''def _softplus(x):
    """ln(1 + e^x), without overflow for any x."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))
''',
    "_relu": '''def _relu(x):
    return max(0.0, x)
''',
    "_step": '''def _step(x):
    """Derivative of relu; 0 at 0 by convention."""
    return 1.0 if x > 0.0 else 0.0
''',
    "_softmax": '''def _softmax(j, nets):
    """Component j of softmax(nets), shifted by the maximum so that no exponential overflows."""
    m = max(nets)
    exps = [math.exp(n - m) for n in nets]
    return exps[j] / math.fsum(exps)
''',
    "_logsumexp": '''def _logsumexp(*nets):
    """ln(sum(e^n)), shifted by the maximum so that no exponential overflows."""
    m = max(nets)
    return m + math.log(math.fsum(math.exp(n - m) for n in nets))
''',
}


def _mp_logistic(x):
    return 1 / (1 + mpmath.exp(-x))


def _mp_softplus(x):
    return max(x, 0) + mpmath.log1p(mpmath.exp(-abs(x)))


def _mp_logsumexp(*xs):
    m = max(xs)
    return m + mpmath.log(mpmath.fsum(mpmath.exp(x - m) for x in xs))


def _mp_softmax(j, *xs):
    m = max(xs)
    exps = [mpmath.exp(x - m) for x in xs]
    return exps[int(j)] / mpmath.fsum(exps)


class _Stable(sp.Function):
    """A function printed as a call to a stable helper and evaluated by mpmath; ``inline``, when set,
    is the same computation as one expression in ``{x}``, for a statement ``out = f(net)``."""

    helper: str
    mp: Callable
    symbol: str
    inline: str | None = None
    inline_note: str = ""  # for the generated module's docstring, when the inline form is used

    def _pythoncode(self, printer, **_):
        args = ", ".join(printer._print(a) for a in self.args)
        return f"{self.helper}({args})"

    def _latex(self, printer, exp=None):
        args = ", ".join(printer._print(a) for a in self.args)
        body = rf"{self.symbol}\left({args}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


class Logistic(_Stable):
    nargs = 1
    helper, mp, symbol, inline = "_logistic", staticmethod(_mp_logistic), r"\sigma", LOGISTIC_INLINE
    inline_note = (
        "The logistic is written out as 1 / (1 + e^-net); below net = -700, where e^-net would\n"
        "overflow, it is e^net, which equals it in double precision."
    )

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **_):
        return 1 / (1 + sp.exp(-x))


class Softplus(_Stable):
    nargs = 1
    helper, mp, symbol = "_softplus", staticmethod(_mp_softplus), r"\operatorname{softplus}"

    def fdiff(self, argindex=1):
        return Logistic(self.args[0])

    def _eval_rewrite_as_exp(self, x, **_):
        return sp.log(1 + sp.exp(x))


class Step(_Stable):
    """Heaviside step with value 0 at 0: the derivative of relu used everywhere here."""

    nargs = 1
    helper, symbol = "_step", r"\operatorname{step}"
    mp = staticmethod(lambda x: mpmath.mpf(1) if x > 0 else mpmath.mpf(0))

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _eval_rewrite_as_exp(self, x, **_):
        return sp.Piecewise((1, x > 0), (0, True))


class ReLU(_Stable):
    nargs = 1
    helper, symbol = "_relu", r"\operatorname{relu}"
    mp = staticmethod(lambda x: x if x > 0 else mpmath.mpf(0))

    def fdiff(self, argindex=1):
        return Step(self.args[0])

    def _eval_rewrite_as_exp(self, x, **_):
        return sp.Piecewise((x, x > 0), (0, True))


class LogSumExp(_Stable):
    helper, mp, symbol = "_logsumexp", staticmethod(_mp_logsumexp), r"\operatorname{logsumexp}"

    def fdiff(self, argindex=1):
        return Softmax(argindex - 1, *self.args)

    def _eval_rewrite_as_exp(self, *xs, **_):
        return sp.log(sum(sp.exp(x) for x in xs))


class Softmax(_Stable):
    """Softmax(j, net_1, ..., net_n): component j (from 0) of the softmax of the nets."""

    helper, mp, symbol = "_softmax", staticmethod(_mp_softmax), r"\operatorname{softmax}"

    def _pythoncode(self, printer, **_):
        j, *nets = self.args
        return f"_softmax({j}, ({', '.join(printer._print(a) for a in nets)},))"

    def _latex(self, printer, exp=None):
        j, *nets = self.args
        body = rf"\operatorname{{softmax}}_{{{int(j) + 1}}}\left({', '.join(printer._print(a) for a in nets)}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def fdiff(self, argindex=1):
        """d softmax_j / d net_k = softmax_j (δ_jk − softmax_k); the index argument is a constant."""
        j, *nets = self.args
        k = argindex - 2
        if k < 0:
            return sp.S.Zero
        return self * ((1 if k == int(j) else 0) - Softmax(k, *nets))

    def _eval_rewrite_as_exp(self, j, *xs, **_):
        return sp.exp(xs[int(j)]) / sum(sp.exp(x) for x in xs)


#: SymPy's own functions the evaluator and helpers know, with their mpmath forms.
MPMATH_FUNCTIONS: dict[type, Callable] = {sp.exp: mpmath.exp, sp.log: mpmath.log, sp.tanh: mpmath.tanh}
for _cls in (Logistic, Softplus, Step, ReLU, LogSumExp, Softmax):
    MPMATH_FUNCTIONS[_cls] = _cls.mp


# --- Activations ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Activation:
    """``apply(net)`` gives out (stable, unevaluated functions); ``derivative(net, out)`` gives
    dout/dnet in its cheapest form; ``display(net)`` is the definition as a textbook writes it."""

    name: str
    apply: Callable[[sp.Expr], sp.Expr] | None
    derivative: Callable[[sp.Expr, sp.Expr], sp.Expr] | None
    display: Callable[[sp.Expr], sp.Expr] | None
    output_only: bool = False


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("logistic", Logistic, lambda net, out: out * (1 - out), lambda x: 1 / (1 + sp.exp(-x))),
        Activation("tanh", sp.tanh, lambda net, out: 1 - out**2, sp.tanh),
        Activation("relu", ReLU, lambda net, out: Step(net), lambda x: sp.Max(0, x, evaluate=False)),
        Activation("softplus", Softplus, lambda net, out: Logistic(net), lambda x: sp.log(1 + sp.exp(x))),
        Activation("identity", lambda net: net, lambda net, out: sp.S.One, lambda x: x),
        # Softmax couples a layer's outputs; the network model and the derivation handle its Jacobian.
        Activation("softmax", None, None, None, output_only=True),
    )
}
ALIASES = {"sigmoid": "logistic", "linear": "identity"}


# --- Losses --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Loss:
    """``term(t, o, n)`` is one output's error term (n = number of outputs); ``dterm`` its derivative
    in o. ``requires`` names the output activation the loss is defined with (its log needs outputs in
    (0, 1)); for that pair the error is computed from net and delta is the fused, stable form."""

    name: str
    term: Callable[[sp.Expr, sp.Expr, int], sp.Expr]
    dterm: Callable[[sp.Expr, sp.Expr, int], sp.Expr]
    requires: str | None = None
    targets_in_unit_interval: bool = False


def _unevaluated(build):
    """Build the expression as written (½(t − o)², not SymPy's canonical reordering), so LaTeX
    prints it in the article's form; numerically it is the same expression."""

    def wrapped(t, o, n):
        with sp.evaluate(False):
            return build(t, o, n)

    return wrapped


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss(
            "half_sse",
            _unevaluated(lambda t, o, n: sp.Rational(1, 2) * (t - o) ** 2),
            _unevaluated(lambda t, o, n: -(t - o)),
        ),
        Loss(
            "mse",
            _unevaluated(lambda t, o, n: sp.Rational(1, n) * (t - o) ** 2),
            _unevaluated(lambda t, o, n: -sp.Rational(2, n) * (t - o)),
        ),
        Loss(
            "binary_cross_entropy",
            _unevaluated(lambda t, o, n: -(t * sp.log(o) + (1 - t) * sp.log(1 - o))),
            _unevaluated(lambda t, o, n: -(t / o - (1 - t) / (1 - o))),
            requires="logistic",
            targets_in_unit_interval=True,
        ),
        Loss(
            "cross_entropy",
            _unevaluated(lambda t, o, n: -t * sp.log(o)),
            _unevaluated(lambda t, o, n: -(t / o)),
            requires="softmax",
            targets_in_unit_interval=True,
        ),
    )
}


def stable_error_term(loss: Loss, t, net, lse, out, outputs: int):
    """One output's error term in a form that never takes the log of 0 or divides by 0
    (``lse`` is the output layer's log-sum-exp symbol, used with softmax)."""
    if loss.name == "binary_cross_entropy":
        return t * Softplus(-net) + (1 - t) * Softplus(net)
    if loss.name == "cross_entropy":
        return t * (lse - net)
    return loss.term(t, out, outputs)
