"""The registry's functions as unevaluated SymPy functions, each made from one set of rules.

A `Registered` function stays unevaluated (``σ(net_h1)``) so that derivations read like a textbook,
and carries everything about itself: its derivative rule (used by SymPy's ``diff`` and by the
derivation alike, so it is written once), its elementary form (``.rewrite(sp.exp)``, the input of the
independent ``sympy.diff`` check, which therefore relies on no rule of ours), its numerically stable
float form (an expression in elementary functions, ``Piecewise``, ``Max``, ``Abs`` and ``log1p``,
which every code printer prints in its own language), its mpmath form and its LaTeX name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the checker reads python-flint's types; at run time it may be missing
    import flint
else:  # None where it is not installed: no ball evaluator without it (`derive.model.proven.HAVE_FLINT`)
    from derive.model.proven import flint

import mpmath
import sympy as sp


class Registered(sp.Function):
    """Base of the registry's functions (see `elementwise`)."""

    latex_name: str = ""
    text_name: str = ""  # as a learner types it: sigma(net_h1); also the generated helper's name
    float_doc: str = ""  # what the float form guards against, for the generated helper's docstring
    float_note: str = ""  # for a generated module that writes the float form out, in its docstring
    #: derivative(args, value, argindex): d f / d args[argindex - 1], in the arguments and f's value
    rule: Callable
    elementary: Callable  # (*args) -> the same function in elementary SymPy functions
    float_form: Callable  # (*args) -> the numerically stable form for float code
    array_form: Callable  # (*args) -> the same for whole arrays (NumPy), where a guard's branch may cost more
    mp: Callable | None = None  # (*mpf args) -> value; None: evaluate the elementary form
    #: For the ball evaluator: the exact form it evaluates (no cancellation), and 1 - f(x), 1 + f(x)
    #: written without cancellation where f saturates at 1 or -1 (None: no such form is needed).
    ball: Callable | None = None
    one_minus: Callable | None = None
    one_plus: Callable | None = None

    def fdiff(self, argindex=1):
        return self.rule(self.args, self, argindex)

    def _eval_rewrite_as_exp(self, *args, **_):
        return self.elementary(*args)

    def _latex(self, printer, exp=None):
        args = ", ".join(printer._print(a) for a in self.args)
        body = rf"{self.latex_name}\left({args}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


def elementwise(
    name: str,
    latex: str,
    derivative: Callable[[sp.Expr, sp.Expr], sp.Expr],
    elementary: Callable[[sp.Expr], sp.Expr],
    float_form: Callable[[sp.Expr], sp.Expr] | None = None,
    mp: Callable | None = None,
    textbook: Callable[[sp.Expr], sp.Expr] | None = None,
    identity: bool = False,
    text: str | None = None,
    float_doc: str = "",
    float_note: str = "",
    array_form: Callable[[sp.Expr], sp.Expr] | None = None,
    ball: Callable[[sp.Expr], sp.Expr] | None = None,
    one_minus: Callable[[sp.Expr], sp.Expr] | None = None,
    one_plus: Callable[[sp.Expr], sp.Expr] | None = None,
) -> type[Registered]:
    """A one-argument function ``f``: ``derivative(x, y)`` is f'(x) written with y = f(x) where a
    textbook does (σ' = y(1 - y)); ``textbook(x)`` is f as a textbook defines it (default: the
    elementary form); ``identity`` makes f(x) evaluate to x at once."""
    namespace = {
        "nargs": 1,
        "latex_name": latex,
        "text_name": text or name.lower(),
        "float_doc": float_doc,
        "float_note": float_note,
        "rule": staticmethod(lambda args, value, argindex: derivative(args[0], value)),
        "elementary": staticmethod(elementary),
        "float_form": staticmethod(float_form or elementary),
        "array_form": staticmethod(array_form or float_form or elementary),
        "mp": staticmethod(mp) if mp else None,
        "derivative": staticmethod(derivative),
        "textbook": staticmethod(textbook or elementary),
        "ball": staticmethod(ball or textbook or elementary),
        "one_minus": staticmethod(one_minus) if one_minus else None,
        "one_plus": staticmethod(one_plus) if one_plus else None,
    }
    if identity:
        namespace["eval"] = classmethod(lambda cls, x: x)
    return type(name, (Registered,), namespace)


def float_expression(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every registered function replaced by its stable float form: what every code
    printer (Python, C, JavaScript, NumPy) prints."""
    if not expr.has(Registered):
        return expr
    return expr.replace(lambda e: isinstance(e, Registered), lambda e: e.float_form(*e.args))


#: The elementary functions a formula may use (a user's own activation or loss, `derive.model.formula`)
#: and that compute forms may contain: SymPy function and mpmath function by the name a formula uses.
#: ``abs``, ``max`` and ``min`` are not here: a formula's are written as Piecewise (their kinks need
#: a stated convention), and the mpmath evaluator knows SymPy's Abs, Max and Min itself.
ELEMENTARY = {
    "exp": (sp.exp, mpmath.exp),
    "log": (sp.log, mpmath.log),
    "sqrt": (sp.sqrt, mpmath.sqrt),
    "tanh": (sp.tanh, mpmath.tanh),
    "sinh": (sp.sinh, mpmath.sinh),
    "cosh": (sp.cosh, mpmath.cosh),
    "sin": (sp.sin, mpmath.sin),
    "cos": (sp.cos, mpmath.cos),
    "atan": (sp.atan, mpmath.atan),
    "erf": (sp.erf, mpmath.erf),
}
#: Functions that only derivatives and stable forms bring in (erfc: gelu's Phi without cancellation).
DERIVED = {sp.erfc: mpmath.erfc}
CONSTANTS = {"pi": (sp.pi, lambda: +mpmath.pi), "E": (sp.E, lambda: +mpmath.e)}

def _erfc_ball(z: flint.arb) -> flint.arb:
    """erfc(z); far in the tail, where arb's own ball holds 0 (erfc(7e11) = 1e-2e23), by the asymptotic
    series e^-z^2 / (z sqrt(pi)) (1 - 1/(2z^2) + 1·3/(2z^2)^2 - ...), whose remainder after any term
    is smaller than the next term and of its sign (z > 0; Abramowitz and Stegun 7.1.23-24): the sum of
    the terms down to 2^-prec, with the first omitted term as the ball's radius."""
    value = z.erfc()
    if value.rel_accuracy_bits() > flint.ctx.prec // 2 or not z > 10:
        return value
    x = 2 * z * z  # the series' ratio is -(2n - 1) / x
    term, total, n = flint.arb(1), flint.arb(0), 0
    while True:
        total += term
        n += 1
        following = term * -(2 * n - 1) / x
        if abs(following) < flint.arb(2) ** -(flint.ctx.prec + 8):
            break
        if not abs(following) < abs(term):  # past the smallest term: the series no longer converges
            return value
        term = following
    series = (total + flint.arb(0, abs(following).upper())) * (-z * z).exp() / (z * flint.arb.pi().sqrt())
    return series if series.rel_accuracy_bits() > value.rel_accuracy_bits() else value


def _near_zero(method, power: int, factor: int):
    """An arb method f with f(0) = 0, f'(0) = 1 whose ball loses its digits at an argument far below
    the precision (tanh(1e-2e23) keeps 28 bits): there f(x) = x + θ |x|^power / factor (|θ| <= 1;
    tanh, sinh: |x|^3 / 3, expm1: x^2, for |x| < 1/2)."""
    def f(x: flint.arb) -> flint.arb:
        value = method(x)
        if value.rel_accuracy_bits() > flint.ctx.prec // 2 or not abs(x) < flint.arb(2) ** -64:
            return value
        bound = abs(x) ** power / factor
        near = x + flint.arb(0, bound.upper())
        return near if near.rel_accuracy_bits() > value.rel_accuracy_bits() else value
    return f


if flint is not None:
    _ARB_METHODS = {"tanh": _near_zero(flint.arb.tanh, 3, 3), "sinh": _near_zero(flint.arb.sinh, 3, 3)}
    #: The ball evaluator's (`derive.derivation.balls`) python-flint method for each SymPy function.
    ARB_FUNCTIONS = ({f: _ARB_METHODS.get(name) or getattr(flint.arb, name) for name, (f, _) in ELEMENTARY.items()}
                     | {sp.erfc: _erfc_ball})
    ARB_EXPM1 = _near_zero(flint.arb.expm1, 2, 1)
#: 1 + s f(u) (s = ±1) written without its cancellation, for the ball evaluator: f -> (s, u) -> ball.
ONE_PLUS = {
    sp.erf: lambda s, u: _erfc_ball(-s * u),
    sp.tanh: lambda s, u: 2 / (1 + (-2 * s * u).exp()),
}
