"""SymPy expressions evaluated as balls (python-flint's `arb`), exactly where they can be.

`Walker.compile` turns a SymPy tree into Python closures once; each closure computes, from an env of
symbol values, either an exact rational (`fmpq`: inputs, parameters, and sums and products of them, so
a net of 0.0075 + 0.02 - 0.0275 is exactly 0) or a ball that certainly contains the true value, at
flint's current precision. A comparison (a Piecewise branch, a kink) is decided exactly or by the
ball; a ball that cannot decide it raises `Undecided`, and the caller computes again at a higher
precision. A registered function is evaluated by its ball form (its textbook form unless the entry
gives a form without cancellation), and the walker writes the forms that would lose every digit to
cancellation the way that keeps them: ln(1 + u) as log1p(u), e^u - 1 as expm1(u), 1 ± erf(u) as
erfc(∓u), 1 ± tanh(u) as 2 / (1 + e^(∓2u)), 1 - f(u) by the entry's ``one_minus`` form.

Where an output saturates (out_o2 = 1 - 1e-179530, σ(2e12) = 1 - e^-2e12) no precision decides
1 - out from out's ball. The walker is given each out's complements (`steps.Derivation.complements`:
1 - out and 1 + out in the registry's forms, from the nets): a sum in which an out appears and whose
ball lost more than half its bits is computed again with out written as 1 - (1 - out) (or
(1 + out) - 1), expanded, the complement computed by its own form; the tighter ball is kept. So
σ(1 - σ), out_j T - t_j (softmax with cross-entropy) and 1 - tanh² are decided at the first precision.
A division by an exact 0 is a true infinity (`Infinite`).
"""

from __future__ import annotations

from collections.abc import Callable

import flint
import sympy as sp
from flint import arb, fmpq
from sympy.codegen.cfunctions import expm1, log1p

from derive.derivation.exact_or_ball import _ONE, _ZERO, Infinite, _divide, _exact, _pick, _sum, ball
from derive.model.functions import ARB_EXPM1, ARB_FUNCTIONS, ONE_PLUS, Registered
from derive.model.proven import Undecided

_FUNCTIONS = ARB_FUNCTIONS | {expm1: ARB_EXPM1, log1p: arb.log1p}
_CONSTANTS = {sp.pi: arb.pi, sp.E: arb.const_e}


class Walker:
    """Compiles SymPy expressions to closures env -> fmpq | arb (see the module's docstring);
    ``complements`` maps an out symbol to {-1: 1 - out, +1: 1 + out}."""

    def __init__(self, complements: dict | None = None):
        self.complements = complements or {}
        self._compiled: dict = {}
        self._dummies: dict = {}  # (out symbol, sign) -> the complement's symbol
        self._templates: dict = {}

    def value(self, expr: sp.Expr, env: dict):
        return self.compile(expr)(env)

    def compile(self, expr: sp.Expr):
        found = self._compiled.get(expr)
        if found is None:
            found = self._compiled[expr] = self._build(expr)
        return found

    def _build(self, expr):
        if expr.is_Symbol:
            return lambda env: env[expr]
        if expr.is_Rational or expr.is_Float:  # a binary float is an exact rational
            exact = sp.Rational(expr)
            constant = fmpq(int(exact.p), int(exact.q))
            return lambda env: constant
        if expr.is_NumberSymbol:
            number = _CONSTANTS[expr]
            return lambda env: number()
        if isinstance(expr, sp.Piecewise):
            branches = [(self.compile(v), None if c is sp.true else self.condition(c)) for v, c in expr.args]

            def piecewise(env):
                for value, condition in branches:
                    if condition is None or condition(env):
                        return value(env)
                raise ValueError(f"no branch of {expr} holds")
            return piecewise
        if expr.is_Add:
            return self._add(expr)
        if expr.is_Mul:
            factors = [self.compile(a) for a in expr.args]

            def product(env):
                total = _ONE
                for f in factors:
                    total = total * f(env)
                return total
            return product
        if expr.is_Pow:
            return self._pow(expr)
        if isinstance(expr, Registered):
            template, dummies = self._template(expr)
            arguments = [self.compile(a) for a in expr.args]
            return lambda env: template({d: a(env) for d, a in zip(dummies, arguments, strict=True)})
        if isinstance(expr, sp.Max | sp.Min):
            values = [self.compile(a) for a in expr.args]
            largest = isinstance(expr, sp.Max)
            return lambda env: _pick([v(env) for v in values], largest)
        if isinstance(expr, sp.Abs):
            inner = self.compile(expr.args[0])
            return lambda env: abs(inner(env))
        if isinstance(expr, sp.log) and expr.args[0] in self.complements and -1 in self.complements[expr.args[0]]:
            return self._log_of_out(expr.args[0])
        if isinstance(expr, sp.log) and expr.args[0].is_Add and sp.S.One in expr.args[0].args:
            rest = self.compile(expr.args[0] - 1)
            return lambda env: ball(rest(env)).log1p()
        function = _FUNCTIONS.get(type(expr))
        if function is None:
            raise TypeError(f"no numeric rule for {type(expr).__name__}")
        arguments = [self.compile(a) for a in expr.args]
        kind = type(expr)

        def call(env):
            args = [a(env) for a in arguments]
            if kind is sp.exp and _exact(args[0]) and args[0] == 0:
                return _ONE
            if kind is sp.log and _exact(args[0]):
                if args[0] == 1:
                    return _ZERO
                if args[0] == 0:
                    raise Infinite
            return function(*(ball(a) for a in args))
        return call

    def _pow(self, expr):
        base = self.compile(expr.base)
        if expr.exp.is_Integer:
            n = int(expr.exp)
            if n < 0:
                return lambda env: _divide(_ONE, base(env)) ** -n
            return lambda env: base(env) ** n
        exponent = self.compile(expr.exp)
        if expr.exp == sp.S.Half:
            return lambda env: ball(base(env)).sqrt()
        return lambda env: ball(base(env)) ** ball(exponent(env))

    def _add(self, expr: sp.Add):
        stable = self._stable_sum(expr)
        if stable is not None:
            return stable
        terms = [self.compile(a) for a in expr.args]
        saturating = [s for s in expr.free_symbols if s in self.complements]
        if not saturating:
            return lambda env: _sum([t(env) for t in terms])
        alternatives: list[Callable] = []  # built at the first imprecise sum

        def add(env):
            value = _sum([t(env) for t in terms])
            if _exact(value) or value.rel_accuracy_bits() > flint.ctx.prec // 2:
                return value
            if not alternatives:
                alternatives.extend(self._rewritten(expr, saturating))
            for alternative in alternatives:
                other = alternative(env)
                if _exact(other) or other.rel_accuracy_bits() > value.rel_accuracy_bits():
                    value = other
            return value
        return add

    def _log_of_out(self, out):
        """ln out, as ln(1 - (1 - out)) = log1p(-c) where out's ball is too close to 1 to decide it."""
        plain, other = self.compile(out), self.compile(log1p(-self._complement(out, -1)))

        def log_(env):
            y = plain(env)
            if _exact(y):
                if y == 0:
                    raise Infinite
                return _ZERO if y == 1 else ball(y).log()
            value = y.log()
            return value if value.rel_accuracy_bits() > flint.ctx.prec // 2 else other(env)
        return log_

    def _rewritten(self, expr, symbols):
        """``expr`` with each out written by its complement (1 - c, or c - 1), expanded, compiled."""
        out = []
        for sign in (-1, 1):
            replace = {}
            for s in symbols:
                if sign in self.complements[s]:
                    c = self._complement(s, sign)
                    replace[s] = 1 - c if sign == -1 else c - 1
            if replace:
                out.append(self.compile(sp.expand(expr.xreplace(replace))))
        return out

    def _complement(self, symbol, sign):
        key = (symbol, sign)
        if key not in self._dummies:
            dummy = sp.Dummy(f"c{sign}_{symbol}")
            self._dummies[key] = dummy
            form = self.compile(self.complements[symbol][sign])

            def lazy(env, dummy=dummy, form=form):
                value = env.get(dummy)
                if value is None:
                    value = env[dummy] = form(env)
                return value
            self._compiled[dummy] = lazy
        return self._dummies[key]

    def _stable_sum(self, expr: sp.Add):
        """1 ± f(u) and e^u - 1 written without their cancellation (see the module's docstring)."""
        if len(expr.args) != 2:
            return None
        a, b = expr.args
        if a == sp.S.NegativeOne and isinstance(b, sp.exp):
            inner = self.compile(b.args[0])

            def expm1_(env):
                u = inner(env)
                return _ZERO if _exact(u) and u == 0 else ARB_EXPM1(ball(u))
            return expm1_
        if not a.is_Rational or a == 0:
            return None
        coefficient, f = b.as_coeff_Mul()  # a + c f(u) with c = ±a: a (1 ± f(u)); (1 + erf(u)) / 2 reads so
        if coefficient not in (a, -a):
            return None
        sign, scale = (1 if coefficient == a else -1), a
        if scale != 1:
            inner = self._stable_sum(sp.Add(1, sign * f, evaluate=False))
            if inner is None:
                return None
            factor = fmpq(int(scale.p), int(scale.q))
            return lambda env: factor * inner(env)
        if isinstance(f, Registered):
            hook = f.one_minus if sign == -1 else f.one_plus
            return None if hook is None else self.compile(hook(*f.args))
        rule = ONE_PLUS.get(type(f))
        if rule is None:
            return None
        inner = self.compile(f.args[0])

        def one_plus(env):
            u = inner(env)
            if _exact(u) and u == 0:  # erf(0) = tanh(0) = 0 exactly
                return _ONE
            return rule(sign, ball(u))
        return one_plus

    def _template(self, expr: Registered):
        """The function's ball form compiled with a symbol for each argument (constant arguments, a
        softmax's index, stay in it), made once per function and constants."""
        constants = tuple(a if a.is_Integer else None for a in expr.args)
        key = (type(expr), constants)
        if key not in self._templates:
            dummies = tuple(sp.Dummy(f"x{i}") for i in range(len(expr.args)))
            args = [c if c is not None else d for c, d in zip(constants, dummies, strict=True)]
            form = getattr(type(expr), "ball", None) or getattr(type(expr), "textbook", None) or type(expr).elementary
            self._templates[key] = (_TEMPLATE_WALKER.compile(form(*args)), dummies)
        return self._templates[key]

    def condition(self, condition):
        """A Piecewise condition (comparisons, And, Or, Not, ITE), compiled: decided exactly or by the
        balls; `Undecided` when a ball straddles a comparison."""
        if condition in (sp.true, sp.false):
            truth = bool(condition)
            return lambda env: truth
        if isinstance(condition, sp.And | sp.Or):
            parts = [self.condition(c) for c in condition.args]
            test = all if isinstance(condition, sp.And) else any
            return lambda env: test(p(env) for p in parts)
        if isinstance(condition, sp.Not):
            inner = self.condition(condition.args[0])
            return lambda env: not inner(env)
        if isinstance(condition, sp.ITE):
            test, then, otherwise = (self.condition(c) for c in condition.args)
            return lambda env: (then if test(env) else otherwise)(env)
        left, right = (self.compile(a) for a in condition.args)
        op = condition.rel_op
        compare = {"<": lambda s: s < 0, "<=": lambda s: s <= 0, ">": lambda s: s > 0, ">=": lambda s: s >= 0}[op]

        def compared(env):
            difference = left(env) - right(env)
            if _exact(difference):
                sign = (difference > 0) - (difference < 0)
            elif difference > 0:
                sign = 1
            elif difference < 0:
                sign = -1
            elif difference.is_zero():
                sign = 0
            else:
                raise Undecided(str(condition))
            return compare(sign)
        return compared


_TEMPLATE_WALKER = Walker()
_PLAIN = Walker()


def ball_value(expr: sp.Expr, env: dict):
    """``expr`` as an fmpq (exact) or an arb at flint's current precision; ``env`` maps symbols to
    fmpq or arb values (no complements)."""
    return _PLAIN.value(expr, env)


