"""A spec's own activations and losses: registry entries made from its formulas, held by the spec.

A spec's `Scope` holds the entries its ``[activations]`` and ``[losses]`` tables define and looks a
name up there before the registry, so one spec's function never changes another model (and never
enters the registry's tables). A name may not shadow a built-in one. Each entry gets what a
built-in has: its derivative by SymPy (in terms of out where it simplifies to a polynomial of degree
at most 2 in out, as σ' = out(1 − out)), LaTeX, float code with the registry's overflow guards where
a pattern has one (and a note for the generated module where none applies), and its elementary form
for the mpmath evaluation and the independent checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import mpmath
import sympy as sp

from derive.escape import excerpt, latex_text, quoted
from derive.model import formula as F
from derive.model import registry
from derive.model.entries import Activation, Loss
from derive.model.functions import ELEMENTARY, Registered, elementwise
from derive.model.quantities import IDENTIFIER
from derive.model.reading import value_kind

NET, OUT, TARGET = (sp.Symbol(name, real=True) for name in ("net", "out", "target"))
ACTIVATION_VARIABLES = {"net": NET}
LOSS_VARIABLES = {"out": OUT, "target": TARGET}
MAX_NAME = 32
_FIT_POINTS = (mpmath.mpf("-0.7"), mpmath.mpf("0.35"), mpmath.mpf("1.3"))  # away from max(0, .)'s kinks
_CHECK_POINTS = (mpmath.mpf("-2.1"), mpmath.mpf("-0.15"), mpmath.mpf("0.8"), mpmath.mpf("2.6"))
_SIMPLIFY_LIMIT = 60  # operations; above, the derivative stays in net rather than risk a slow simplify


@dataclass(frozen=True)
class Scope:
    """The functions one spec defines, looked up before the registry's."""

    activations: tuple[Activation, ...] = ()
    losses: tuple[Loss, ...] = ()

    def activation(self, name: str) -> Activation:
        return next((a for a in self.activations if a.name == name), None) or registry.activation(name)

    def loss(self, name: str) -> Loss:
        return next((entry for entry in self.losses if entry.name == name), None) or registry.loss(name)

    @property
    def activation_names(self) -> list[str]:
        return [a.name for a in self.activations]

    @property
    def loss_names(self) -> list[str]:
        return [entry.name for entry in self.losses]

    def __reduce__(self):  # pickled as the formulas: a function class made at run time has no module path
        return _scope, (tuple((a.name, a.description) for a in self.activations),
                        tuple((entry.name, entry.description) for entry in self.losses))


def _scope(activations, losses) -> Scope:
    return Scope(tuple(activation_entry(*a) for a in activations), tuple(loss_entry(*entry) for entry in losses))


NO_SCOPE = Scope()
CLASS_PREFIX = "Spec_"  # a spec's function `gamma` is the SymPy class Spec_gamma, never SymPy's or Python's


def scope_of(activations, losses) -> Scope:
    """A spec's own functions: ``[activations]`` name = "formula in net", ``[losses]`` name = "formula
    in out and target" (one output's term), parsed safely (`derive.model.formula`); a problem is a
    `FormulaError` naming the key."""
    entries: dict[str, list] = {"activations": [], "losses": []}
    tables = (("activations", activations, activation_entry), ("losses", losses, loss_entry))
    for key, table, _ in tables:  # both, before either is read: each one's names are looked up in the other
        if not isinstance(table, dict):
            raise F.FormulaError(f"{key} must be a table of name = \"formula\", not {value_kind(table)}")
    for key, table, make in tables:
        for name, text in table.items():
            if not isinstance(text, str):
                raise F.FormulaError(f"{key}.{excerpt(name)} must be a formula in a string, not {value_kind(text)}")
            if name in activations and name in losses:
                raise F.FormulaError(f"{key}.{excerpt(name)}: {quoted(name)} names an activation and a loss; one "
                                     "name, one function")
            entries[key].append(make(name, text))
    return Scope(tuple(entries["activations"]), tuple(entries["losses"]))


def reserved() -> set[str]:
    """Names a spec's function may not take: every built-in name and alias, the name of every built-in
    function's generated helper (sigma, step, ...), and the words of the formula grammar."""
    helpers = {f.text_name for f in _subclasses(Registered) if not getattr(f, "custom", False)}
    return ({*registry.ACTIVATIONS, *registry.ALIASES, *registry.LOSSES} | helpers | set(ELEMENTARY)
            | set(F.KINKED) | set(F.CONSTANTS) | set(ACTIVATION_VARIABLES) | set(LOSS_VARIABLES))


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def check_name(name: str, where: str) -> None:
    if not IDENTIFIER.match(name) or len(name) > MAX_NAME:
        raise F.FormulaError(f"{where}: {quoted(name)} is not a name: letters, digits and underscores, starting "
                             f"with a letter, at most {MAX_NAME} characters")
    if name in registry.ACTIVATIONS or name in registry.ALIASES or name in registry.LOSSES:
        builtin = registry.ALIASES.get(name, name)
        also = f" (another name of {builtin})" if builtin != name else ""
        raise F.FormulaError(f"{where}: {name!r} is a built-in function{also}; use it without a formula, "
                             "or give yours another name")
    if name in reserved():
        raise F.FormulaError(f"{where}: {name!r} is a reserved word here; give the function another name")


def activation_entry(name: str, text: str) -> Activation:
    """An activation out = f(net) from its formula (raises FormulaError)."""
    where = f"activations.{excerpt(name)}"
    check_name(name, where)
    formula = F.parse(text, ACTIVATION_VARIABLES, where)
    f = formula.expr
    if NET not in f.free_symbols:
        raise F.FormulaError(f"{where} = {quoted(text)}: the formula does not depend on net")
    slope = sp.diff(f, NET)
    in_out = None if formula.kinked else _in_terms_of_out(f, slope)
    guarded = registry.guarded(formula.display)  # max, min, abs as written: the value needs no convention
    function = elementwise(  # the SymPy class is named apart: printers dispatch on it (_print_gamma, _print_int)
        f"{CLASS_PREFIX}{name}", rf"\operatorname{{{latex_text(name)}}}", text=name,
        derivative=(lambda x, y: in_out.xreplace({OUT: y})) if in_out is not None else (
            lambda x, y: slope.xreplace({NET: x})),
        elementary=lambda x: f.xreplace({NET: x}),
        float_form=lambda x: guarded.xreplace({NET: x}),
        textbook=lambda x: formula.display.xreplace({NET: x}),
        float_doc=f"{name}(x) = {sp.sstr(formula.display.xreplace({NET: sp.Symbol('x')}))}, from the spec.",
        float_note=_overflow_note(name, [guarded, slope], "net"),
    )
    function.custom = True
    note = f"{name} is the spec's {text}; {F.KINK_CONVENTION}" if formula.kinked else ""
    return Activation(name, text, function, kink_note=note, formula=formula)


def loss_entry(name: str, text: str) -> Loss:
    """A loss from one output's error term in out and target (raises FormulaError)."""
    where = f"losses.{excerpt(name)}"
    check_name(name, where)
    formula = F.parse(text, LOSS_VARIABLES, where)
    term = formula.expr
    if OUT not in term.free_symbols:
        raise F.FormulaError(f"{where} = {quoted(text)}: the formula does not depend on out")
    slope = sp.diff(term, OUT)
    display = formula.display
    guarded = registry.guarded(display)  # log(1 + exp(u)) as softplus(u): float code without overflow
    return Loss(
        name, text,
        term=lambda t, o, n: display.xreplace({TARGET: t, OUT: o}),
        derivative=lambda t, o, n: slope.xreplace({TARGET: t, OUT: o}),
        stable_term=None if guarded == display else (
            lambda t, net, o, n, symbol: guarded.xreplace({TARGET: t, OUT: o})),
        formula=formula,
        float_note=_overflow_note(name, [guarded, slope], "out and target"),
    )


def _in_terms_of_out(f: sp.Expr, slope: sp.Expr) -> sp.Expr | None:
    """The slope as c0 + c1 out + c2 out² when it is one (σ' = out − out², tanh' = 1 − out²): fitted at
    three points, checked at four more at 50 digits, then proved by SymPy; else None (stay in net)."""
    if NET not in slope.free_symbols or sp.count_ops(slope) > _SIMPLIFY_LIMIT:
        return None
    try:
        with mpmath.workdps(50):
            at = [(F.evaluate(f, {NET: p}), F.evaluate(slope, {NET: p})) for p in _FIT_POINTS]
            coefficients = mpmath.lu_solve(mpmath.matrix([[1, y, y * y] for y, _ in at]),
                                           mpmath.matrix([d for _, d in at]))
            c = [_rational(v) for v in coefficients]
            polynomial = c[0] + c[1] * OUT + c[2] * OUT**2
            for p in _CHECK_POINTS:
                y, d = F.evaluate(f, {NET: p}), F.evaluate(slope, {NET: p})
                if abs(F.evaluate(polynomial, {OUT: y}) - d) > mpmath.mpf("1e-40") * (1 + abs(d)):
                    return None
    except (ZeroDivisionError, ValueError, TypeError):  # a singular fit, or a value that is not real
        return None
    if sp.simplify(slope - polynomial.xreplace({OUT: f})) != 0:
        return None
    return sp.expand(polynomial)


def _rational(value: mpmath.mpf) -> sp.Rational:
    """The simplest rational within 1e-30 of a fitted coefficient (ValueError if there is none)."""
    fraction = Fraction(mpmath.nstr(value, 45)).limit_denominator(10**12)
    if abs(mpmath.mpf(fraction.numerator) / fraction.denominator - value) > mpmath.mpf("1e-30"):
        raise ValueError(value)
    return sp.Rational(fraction.numerator, fraction.denominator)


def _overflow_note(name: str, forms: list[sp.Expr], variables: str) -> str:
    """What the generated module's docstring says when float code of the function or its derivative
    can overflow: exp, sinh and cosh of a variable, or a power with a variable exponent, raise
    OverflowError past about 709, and no stable form of the registry covers them."""
    risky = [e for form in forms for e in sp.preorder_traversal(form)
             if (isinstance(e, sp.exp | sp.sinh | sp.cosh) and e.free_symbols) or (e.is_Pow and e.exp.free_symbols)]
    if not risky:
        return ""
    return (f"{name} and its derivative are computed from the spec's formula as written (in {variables}):\n"
            f"{sp.sstr(risky[0])[:60]} has no overflow guard, and past about 709 raises OverflowError.")
