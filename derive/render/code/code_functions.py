"""The one table, per code target, of how a function is called where SymPy's printer for that language
does not call it as the generated code needs (it lacks it, or the target computes it its own way), and
the helpers those calls need written into the code. Every other function a registered float form or a
spec's own formula reaches is printed by SymPy's printer (`pycode`, `ccode`, the JavaScript and NumPy
printers) under its usual name; tests/test_target_functions.py prints and runs every one in every
target.

`FunctionNames` is the printers' side of the table: a printer class naming its language gets one
``_print_<function>`` method per entry. The registered functions (the registry's activations and
losses) are printed by `RegisteredCalls`: inline where their float form is one call, else a call to
a helper written once from the float form.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import sympy as sp

from derive.model.functions import Registered

if TYPE_CHECKING:  # a mixin's super() is, at run time, the SymPy printer class placed after it
    from sympy.printing.printer import Printer as _PrinterBase
else:
    _PrinterBase = object

#: language -> SymPy function name -> the target's function
NAMES: dict[str, dict[str, str]] = {
    "python": {},
    "c": {},
    "numpy": {"erf": "_erf", "erfc": "_erfc"},  # NumPy lacks them: math's, element by element
    "javascript": {"log1p": "Math.log1p", "expm1": "Math.expm1", "erf": "_erf", "erfc": "_erfc"},
}

#: erf and erfc in float64 for JavaScript, which has neither (gelu's normal distribution function, a
#: spec's own erf), within 2e-13 relative of the exact value wherever it is a normal float (tested
#: against mpmath): erf's series of positive terms, 2/sqrt(pi) e^(-x^2) sum 2^n x^(2n+1) / (1 * 3 * ...
#: * (2n+1)), below 2; above, erfc's continued fraction e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/
#: (x + ...)))) by Lentz; erf(-x) = -erf(x), erfc(-x) = 2 - erfc(x).
ERROR_FUNCTIONS = """function _erfSeries(x) {
  let term = x, sum = x;
  for (let n = 1; term > 1e-17 * sum; n++) { term *= 2 * x * x / (2 * n + 1); sum += term; }
  return 2 / Math.sqrt(Math.PI) * Math.exp(-x * x) * sum;
}
function _erf(x) {
  if (x < 0) return -_erf(-x);
  return x < 2 ? _erfSeries(x) : 1 - _erfc(x);
}
function _erfc(x) {
  if (x < 0) return 2 - _erfc(-x);
  if (x < 2) return 1 - _erfSeries(x);
  let f = x, c = x, d = 0;
  for (let k = 1; k < 500; k++) {
    d = 1 / (x + k / 2 * d);
    c = x + k / 2 / c;
    f *= c * d;
    if (Math.abs(c * d - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}"""

#: language -> (the calls that need it, a helper's source written once into the code)
HELPERS: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "javascript": [(("_erf(", "_erfc("), ERROR_FUNCTIONS)],
}


def helpers(language: str, code: str) -> list[str]:
    """The helper sources ``code`` (in ``language``) calls."""
    return [source for calls, source in HELPERS.get(language, []) if any(c in code for c in calls)]


class FunctionNames:
    """A printer mixin: ``language`` names the row of `NAMES` whose functions it prints by name."""

    language = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for function, name in NAMES.get(cls.language, {}).items():
            if f"_print_{function}" not in cls.__dict__:
                setattr(cls, f"_print_{function}", _call(name))


def _call(name: str):
    def print_call(self, expr):
        return f"{name}({', '.join(self._print(a) for a in expr.args)})"

    return print_call


#: A registered function's float form at a stand-in symbol, by the symbol's assumptions (`RegisteredCalls._one_call`);
#: weakly, by function: a spec's own functions go with their spec.
_ONE_CALLS: weakref.WeakKeyDictionary[type, dict[tuple, tuple[sp.Dummy, sp.Expr | None]]] = weakref.WeakKeyDictionary()


def _single_call(form: sp.Expr) -> sp.Expr | None:
    """``form`` when it is one call of a function of the language (not a registered one, not a Piecewise)."""
    return form if isinstance(form, sp.Function) and not isinstance(form, Registered | sp.Piecewise) else None


class RegisteredCalls(_PrinterBase):
    """A printer mixin for targets with helpers (Python, C): a registered function prints as its
    float form where that is one call of a function of the language (``math.tanh``), else as a call
    of a helper (``helper_name``) that the printer notes in ``helpers``, written once by the target
    from the same float form."""

    helpers: set

    def helper_name(self, function: type[Registered]) -> str:
        raise NotImplementedError

    def _one_call(self, expr) -> sp.Expr | None:
        """The float form of ``expr`` when it is one call of a function of the language. Of one symbol: the
        form built once per function and assumptions at a stand-in symbol of those assumptions, and the
        symbol put in its place (the same tree: building a form asks SymPy's assumptions about its
        conditions, ``net > -700``, anew for each symbol; tests/test_render_shortcuts.py compares the two)."""
        if len(expr.args) != 1 or not expr.args[0].is_Symbol:
            return _single_call(expr.float_form(*expr.args))
        (symbol,) = expr.args
        assumptions = tuple(sorted(symbol.assumptions0.items()))
        forms = _ONE_CALLS.setdefault(type(expr), {})
        if assumptions not in forms:
            stand_in = sp.Dummy(**dict(assumptions))
            forms[assumptions] = stand_in, _single_call(expr.float_form(stand_in))
        stand_in, form = forms[assumptions]
        return None if form is None else form.xreplace({stand_in: symbol})

    def _print_Function(self, expr):
        if not isinstance(expr, Registered):
            return super()._print_Function(expr)
        if len(expr.args) > 1:  # a function of several (an attention row's weights): its float form inline
            return self._print(expr.float_form(*expr.args))
        form = self._one_call(expr)
        if form is not None:
            return self._print(form)
        self.helpers.add(type(expr))
        return f"{self.helper_name(type(expr))}({', '.join(self._print(a) for a in expr.args)})"
