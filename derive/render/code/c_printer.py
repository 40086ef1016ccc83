"""SymPy's C99 printer in the textbook's order, for the C target: every registered function printed
from its stable float form (inline where that is one libm call, else a ``static inline`` helper
written once from the same form), float literals only, and each symbol by a name the caller gives.
It knows no particular activation or loss: the float forms come from the registry's entries.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.ast import float32, real
from sympy.printing.c import C99CodePrinter
from sympy.printing.precedence import precedence

from derive.escape import c_identifier
from derive.model.functions import Registered
from derive.render.code.code_functions import FunctionNames, RegisteredCalls
from derive.render.text import FloatLiterals, TextbookOrder


class CPrinter(RegisteredCalls, FunctionNames, TextbookOrder, FloatLiterals, C99CodePrinter):
    """``name_of(symbol)`` names each symbol; helpers the printed code calls are noted in ``helpers``.
    ``real``: "double", or "float" (literals with the suffix f, libm's float functions: ``expf``)."""

    language = "c"

    def __init__(self, name_of, helpers: set | None = None, real_type: str = "double"):
        # None of SymPy's math macros (M_PI, M_E, M_SQRT2, M_LN2, ...): they are POSIX, not C99, and
        # -std=c99 leaves them undefined. Constants print as the nearest double instead.
        self.math_macros: dict = {}
        super().__init__({"order": "none", **({"type_aliases": {real: float32}} if real_type == "float" else {})})
        self.name_of, self.real = name_of, real_type
        self.suffix = "f" if real_type == "float" else ""
        self.helpers: set[type[Registered]] = set() if helpers is None else helpers

    def _print_Float(self, expr):
        return repr(float(expr)) + self.suffix

    def _print_NumberSymbol(self, expr):  # pi, E: a literal, not a declaration or a macro
        return repr(float(expr)) + self.suffix

    def _print_Rational(self, expr):
        return repr(float(expr)) + self.suffix

    _print_Integer = _print_Rational

    _print_Pi = _print_Exp1 = _print_NumberSymbol

    def _print_Pow(self, expr, rational=False):
        base = self.parenthesize(expr.base, precedence(expr), strict=False)
        if expr.exp == 2:
            return f"({base} * {base})"
        if expr.exp == -1:
            return f"(1.0{self.suffix} / ({self._print(expr.base)}))"
        if expr.exp == sp.S.Half:
            return f"sqrt{self.suffix}({self._print(expr.base)})"
        return f"pow{self.suffix}({self._print(expr.base)}, {self._print(expr.exp)})"

    def _print_Piecewise(self, expr):
        """One line: ``(c1 ? e1 : (c2 ? e2 : e3))``; the last branch's condition is True."""
        *branches, (last, _) = expr.args
        text = self._print(last)
        for value, condition in reversed(branches):
            text = f"({self._print(condition)} ? {self._print(value)} : {text})"
        return text

    def _print_Symbol(self, expr):
        return self.name_of(expr)

    def _one_call(self, expr):
        return super()._one_call(expr) if len(expr.args) == 1 else None

    def helper_name(self, function: type[Registered]) -> str:
        return helper_name(function)

    def helper_sources(self) -> list[str]:
        """Every helper the printed code calls, and those they call, each once, callees first."""
        written: dict[type[Registered], str] = {}
        order: list[type[Registered]] = []
        while pending := self.helpers - written.keys():
            for function in sorted(pending, key=lambda f: f.text_name):
                written[function] = _helper(function, self.helpers, self.real)
                order.append(function)
        return [written[f] for f in reversed(order)]


def helper_name(function: type[Registered]) -> str:
    return "dv_" + c_identifier(function.text_name)


def _helper(function: type[Registered], helpers: set, real_type: str = "double") -> str:
    x = sp.Symbol("x", real=True)
    printer = CPrinter(lambda s: s.name if s.name == "x" else s.name.replace("x_", "x"), helpers, real_type)
    form = function.float_form(x)
    hoisted = _one_call(form)
    if hoisted:
        lets, value = hoisted
    else:
        lets, (value,) = sp.cse(form, symbols=sp.numbered_symbols("x_"), optimizations=None)
        if not lets:  # cse rebuilds the tree, which would undo an unevaluated form
            value = form
    body = "".join(f"    const {real_type} {printer.doprint(n)} = {printer.doprint(e)};\n" for n, e in lets)
    head = f"static inline {real_type} {helper_name(function)}({real_type} x)\n{{\n"
    return f"{head}{body}    return {printer.doprint(value)};\n}}\n"


def _one_call(form: sp.Expr) -> tuple[list, sp.Expr] | None:
    """A piecewise form whose every branch calls the same function once (the logistic's e^-x and e^x):
    the argument chosen first and the function called once, ``x_0 = c ? -x : x; x_1 = exp(x_0)``, each
    branch's value computed from ``x_1``: the same value in every case, and a loop of the helper
    vectorizes with one vector call (`VectorExp`) instead of two."""
    if not isinstance(form, sp.Piecewise):
        return None
    calls = [list(value.atoms(sp.Function)) for value, _ in form.args]
    if any(len(c) != 1 or len(c[0].args) != 1 for c in calls) or len({c[0].func for c in calls}) != 1:
        return None
    argument, result = sp.Symbol("x_0", real=True), sp.Symbol("x_1", real=True)
    chosen = sp.Piecewise(*((c[0].args[0], condition) for c, (_, condition) in zip(calls, form.args, strict=True)))
    value = sp.Piecewise(*((v.xreplace({c[0]: result}), condition) for c, (v, condition) in zip(calls, form.args,
                                                                                               strict=True)))
    call = VectorExp(argument) if calls[0][0].func == sp.exp else calls[0][0].func(argument)
    return [(argument, chosen), (result, call)], value


class VectorExp(sp.Function):
    """e^x where a loop may call it a vector of lanes at a time: ``derive_vexp``, glibc's vector exp
    where gradients.c.j2 declares it (GCC on x86-64), libm's exp (or expf) elsewhere."""

    def _ccode(self, printer):
        return f"derive_vexp({printer._print(self.args[0])})"
