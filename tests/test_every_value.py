"""Every printed value of every registry activation and loss, and of every function a spec's own
formula may use, at ordinary, tiny, huge and saturated values: each one correctly rounded, in the
text table, the JSON, LaTeX and MathML, against a route written here and nowhere else.

The independent route is mpmath at 500 digits: a forward pass written out from the spec, each
function in its own textbook form (with the standard identities that keep a tail's digits: Φ(x) =
erfc(-x/√2)/2, (1 + tanh u)/2 = 1/(1 + e^-2u)), and every derivative by central differences of a
layer's own function (the activation at its net, the loss at its outputs, the output layer at the
hidden outs) composed by the chain rule, so that a gradient of 10^-1560000 behind a saturated unit has
its digits. Each derivative is taken at two steps (10^-150 and 10^-145 of its argument's scale) and
the two must agree to 10^-100 relative: the route proves its own accuracy before it judges a digit.
"""

from __future__ import annotations

import json
import re
import time
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import mpmath
import sympy as sp

import derive
from derive.model import (
    entries,
    registry,  # noqa: F401  (fills the registry)
)
from derive.model.formula import KINKED
from derive.model.functions import CONSTANTS, ELEMENTARY
from derive.render import text
from derive.render.tex import latex_rows
from derive.render.web import mathml

DPS = 500
mp = mpmath.mpf


def _sig(x):
    return 1 / (1 + mpmath.exp(-x))


def _phi(x):  # the standard normal distribution function, without cancellation in either tail
    return mpmath.erfc(-x / mpmath.sqrt(2)) / 2


def _gelu_tanh(x):
    u = mpmath.sqrt(2 / mpmath.pi) * (x + mp("0.044715") * x**3)
    return x * _sig(2 * u)


ACTIVATIONS = {  # written from the docs' definitions
    "logistic": _sig,
    "sigmoid": _sig,
    "tanh": mpmath.tanh,
    "relu": lambda x: x if x > 0 else mp(0),
    "softplus": lambda x: mpmath.log1p(mpmath.exp(x)) if x < 0 else x + mpmath.log1p(mpmath.exp(-x)),
    "identity": lambda x: x,
    "linear": lambda x: x,
    "leaky_relu": lambda x: x if x > 0 else x / 100,
    "elu": lambda x: x if x > 0 else mpmath.expm1(x),
    "silu": lambda x: x * _sig(x),
    "swish": lambda x: x * _sig(x),
    "gelu": lambda x: x * _phi(x),
    "gelu_tanh": _gelu_tanh,
    # a spec's own, one formula for each function of the grammar (mpmath below is the test's reading)
    "own_exp_abs_sqrt_pi": lambda x: x * mpmath.exp(-abs(x)) + mpmath.sqrt(1 + x**2) / mpmath.pi,
    "own_log_atan_e": lambda x: mpmath.log(1 + x**2) + mpmath.atan(x) * mpmath.e,
    "own_tanh_sinh_cosh": lambda x: mpmath.tanh(x) + mpmath.sinh(x / 64) - mpmath.cosh(x / 64),
    "own_sin_cos_erf": lambda x: mpmath.sin(x) * mpmath.cos(x / 3) + mpmath.erf(x),
    "own_max_min": lambda x: max(x, x / 100) + min(x, mp(0)),
}
OWN_ACTIVATIONS = {
    "own_exp_abs_sqrt_pi": "net * exp(-abs(net)) + sqrt(1 + net**2) / pi",
    "own_log_atan_e": "log(1 + net**2) + atan(net) * E",
    "own_tanh_sinh_cosh": "tanh(net) + sinh(net / 64) - cosh(net / 64)",
    "own_sin_cos_erf": "sin(net) * cos(net / 3) + erf(net)",
    "own_max_min": "max(net, 0.01 * net) + min(net, 0)",
}
LOSSES = {  # one output's term: (target, out, number of outputs) -> E_oj
    "half_sse": lambda t, o, n: (t - o) ** 2 / 2,
    "mse": lambda t, o, n: (t - o) ** 2 / n,
    "binary_cross_entropy": lambda t, o, n: -(t * mpmath.log(o) + (1 - t) * mpmath.log(1 - o)),
    "cross_entropy": lambda t, o, n: -t * mpmath.log(o),
    "huber": lambda t, o, n: (t - o) ** 2 / 2 if abs(t - o) <= 1 else abs(t - o) - mp(1) / 2,
    "own_quartic_abs": lambda t, o, n: (t - o) ** 4 / 4 + abs(t - o),
}
OWN_LOSSES = {"own_quartic_abs": "(target - out)**4 / 4 + abs(target - out)"}
OUTPUTS = [("logistic", "half_sse"), ("identity", "mse"), ("logistic", "binary_cross_entropy"),
           ("softmax", "cross_entropy"), ("tanh", "huber"), ("identity", "own_quartic_abs")]
PROBABILITIES = ("binary_cross_entropy", "cross_entropy")  # targets in [0, 1]

REGIMES = {  # hidden weights, hidden bias, output weights, inputs, targets (unless a probability)
    "ordinary": ("[[0.15, 0.2], [0.25, 0.3]]", 0.35, "[[0.4, 0.45], [0.5, 0.55]]", "[0.05, 0.1]", "[0.01, 0.99]"),
    "tiny": ("[[0.15, 0.2], [0.25, 0.3]]", 0, "[[0.4, 0.45], [0.5, 0.55]]", "[3e-40, -7e-41]", "[0.01, 0.99]"),
    "huge": ("[[40, 30], [25, -35]]", 0.35, "[[0.4, 0.45], [0.5, 0.55]]", "[1.5, 2]", "[3e5, -2e5]"),
    "saturated": ("[[0.15, 0.2], [-0.25, -0.3]]", 0.35, "[[1.5, 1], [-1, 1.2]]", "[1000, 400]",
                  "[0.01, 0.99]"),  # hidden nets 230, -370; an output 1 - 1e-150 (resolved at 500 digits)
}


def _spec(hidden: str, output: str, loss: str, regime: str) -> str:
    w1, b1, w2, inputs, targets = REGIMES[regime]
    if loss in PROBABILITIES:
        targets = "[0.01, 0.99]"
    own = [f'{n} = "{OWN_ACTIVATIONS[n]}"' for n in (hidden,) if n in OWN_ACTIVATIONS]
    own_loss = [f'{loss} = "{OWN_LOSSES[loss]}"'] if loss in OWN_LOSSES else []
    return (f'name = "n"\nlayers = [2, 2, 2]\nactivation = ["{hidden}", "{output}"]\nloss = "{loss}"\n'
            f'bias = "shared"\nlearning_rate = 0.5\nweights = [{w1}, {w2}]\nbiases = [[{b1}], [0.6]]\n'
            f'[[samples]]\ninputs = {inputs}\ntargets = {targets}\n'
            + ("[activations]\n" + "\n".join(own) + "\n" if own else "")
            + ("[losses]\n" + "\n".join(own_loss) + "\n" if own_loss else ""))


def _cases():
    names = sorted(ACTIVATIONS)
    return [(h, *OUTPUTS[(i + k) % len(OUTPUTS)], regime)
            for i, h in enumerate(names) for k, regime in enumerate(REGIMES)]


def _derivative(f, x, scale=None):
    """f'(x) by central differences at two steps that must agree to 10^-100 (the route's own check);
    the steps are of x's scale (or ``scale``: an out's distance from 1). Where f is too flat for this
    precision to resolve (tanh' at 346 is 1e-300 beside tanh = 1 - 1e-301), again at twice the digits."""
    scale = scale if scale is not None else abs(x) if x else mp(1)
    for dps in (DPS, 2 * DPS, 4 * DPS):
        with mpmath.workdps(dps):
            floor = abs(x) * mp(10) ** -(dps - 125)  # a step above x's last 125 digits
            close, far = ((f(x + h) - f(x - h)) / (2 * h)
                          for h in (max(mp(10) ** -150 * scale, floor), max(mp(10) ** -145 * scale, floor * 10**5)))
            if abs(close - far) <= abs(close) * mp(10) ** -100 or abs(close - far) < mp(10) ** -(DPS - 60):
                return +close
    raise AssertionError(f"the independent route does not resolve a derivative at {x}: {close}, {far}")


def _sum(terms):
    """A sum; exactly 0 where its terms cancel below the route's accuracy (10^-240 of the largest):
    Σ (out_j - t_j) of a softmax with cross-entropy is 0 when the targets sum to 1."""
    total = mpmath.fsum(terms)
    return mp(0) if abs(total) < max(abs(t) for t in terms) * mp(10) ** -240 else total


def _number(text_value: str):
    f = Fraction(text_value)
    return mp(f.numerator) / f.denominator


def _spec_numbers(text_spec: str):
    found = re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text_spec.split("weights = ")[1].split("\n")[0])
    biases = re.findall(r"-?\d+(?:\.\d+)?", text_spec.split("biases = ")[1].split("\n")[0])
    inputs = re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text_spec.split("inputs = ")[1].split("\n")[0])
    targets = re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text_spec.split("targets = ")[1].split("\n")[0])
    return [_number(v) for v in found], [_number(v) for v in biases], [_number(v) for v in inputs], \
        [_number(v) for v in targets]


def independent(text_spec: str, hidden: str, output: str, loss: str) -> dict[str, mpmath.mpf]:
    """Every quantity of the network's one sample by the route of the module's docstring."""
    weights, (b1, b2), inputs, targets = _spec_numbers(text_spec)
    v = {f"w{k + 1}": w for k, w in enumerate(weights)} | {"b1": b1, "b2": b2, "eta": mp("0.5")}
    v |= {"i1": inputs[0], "i2": inputs[1], "target_o1": targets[0], "target_o2": targets[1]}
    W = [[weights[0], weights[1]], [weights[2], weights[3]]]
    V = [[weights[4], weights[5]], [weights[6], weights[7]]]
    act, n = ACTIVATIONS[hidden], 2

    def out_layer(nets):
        if output == "softmax":
            top = max(nets)
            e = [mpmath.exp(x - top) for x in nets]
            return [x / mpmath.fsum(e) for x in e]
        return [ACTIVATIONS[output](x) for x in nets]

    def error_terms(outs):
        return [LOSSES[loss](t, o, n) for t, o in zip(targets, outs, strict=True)]

    net_h = [W[j][0] * inputs[0] + W[j][1] * inputs[1] + b1 for j in range(2)]
    out_h = [act(x) for x in net_h]
    net_o = [V[j][0] * out_h[0] + V[j][1] * out_h[1] + b2 for j in range(2)]
    out_o = out_layer(net_o)
    E = error_terms(out_o)
    for j in range(2):
        v |= {f"net_h{j + 1}": net_h[j], f"out_h{j + 1}": out_h[j], f"net_o{j + 1}": net_o[j],
              f"out_o{j + 1}": out_o[j], f"E_o{j + 1}": E[j]}
    v["E_total"] = mpmath.fsum(E)

    def at(vector, i, x):
        return [x if k == i else y for k, y in enumerate(vector)]

    # dE_oj / dnet_oi by central differences of the output layer and the loss together
    dEj_dneti = [[_derivative(lambda x, i=i, j=j: error_terms(out_layer(at(net_o, i, x)))[j], net_o[i])
                  for i in range(2)] for j in range(2)]
    delta_o = [_sum([dEj_dneti[0][i], dEj_dneti[1][i]]) for i in range(2)]
    for j in range(2):
        v[f"dE_total/dout_o{j + 1}"] = _derivative(
            lambda x, j=j: mpmath.fsum(error_terms(at(out_o, j, x))), out_o[j],
            min(abs(out_o[j]), abs(1 - out_o[j])) or mp(1))
        for i in range(2):
            v[f"dout_o{j + 1}/dnet_o{i + 1}"] = _derivative(lambda x, i=i, j=j: out_layer(at(net_o, i, x))[j], net_o[i])
        v[f"delta_o{j + 1}"] = delta_o[j]
        v[f"dE_o{j + 1}/dnet_o{j + 1}"] = dEj_dneti[j][j]
        for k in range(2):
            v[f"dnet_o{j + 1}/dw{4 + 2 * j + k + 1}"] = out_h[k]
            v[f"dnet_o{j + 1}/dout_h{k + 1}"] = V[j][k]
            v[f"dE_o{j + 1}/dout_h{k + 1}"] = _sum([dEj_dneti[j][i] * V[i][k] for i in range(2)])
        v[f"dnet_o{j + 1}/db2"] = mp(1)
    for k in range(2):
        v[f"dE_total/dout_h{k + 1}"] = _sum([delta_o[i] * V[i][k] for i in range(2)])
        v[f"dout_h{k + 1}/dnet_h{k + 1}"] = slope = _derivative(act, net_h[k])
        v[f"delta_h{k + 1}"] = v[f"dE_total/dout_h{k + 1}"] * slope
        for m in range(2):
            v[f"dnet_h{k + 1}/dw{2 * k + m + 1}"] = inputs[m]
        v[f"dnet_h{k + 1}/db1"] = mp(1)
    for k in range(2):
        for m in range(2):
            v[f"dE_total/dw{2 * k + m + 1}"] = v[f"delta_h{k + 1}"] * inputs[m]
            v[f"dE_total/dw{4 + 2 * k + m + 1}"] = delta_o[k] * out_h[m]
    v["dE_total/db1"] = _sum([v["delta_h1"], v["delta_h2"]])
    v["dE_total/db2"] = _sum(delta_o)
    for p in [f"w{k}" for k in range(1, 9)] + ["b1", "b2"]:
        v[f"{p}+"] = v[p] - v["eta"] * v[f"dE_total/d{p}"]
    return v


def _rounded(x, digits: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec, ctx.rounding, ctx.Emax, ctx.Emin = digits, ROUND_HALF_EVEN, MAX_EMAX, MIN_EMIN
        return +Decimal(mpmath.nstr(x, 80, min_fixed=0, max_fixed=0))


def _written(x, digits: int) -> str:
    """The printers' layout, written here: fixed from 1e-5 to 1e9 (or 10^digits), else d.ddd e±n."""
    if x == 0:
        return "0"
    d = _rounded(x, digits)
    e = d.adjusted()
    if -5 <= e < max(digits, 9):
        return f"{d:.{max(digits - 1 - e, 0)}f}"
    sign, ds, _ = d.as_tuple()
    body = "".join(map(str, ds)).ljust(digits, "0")
    return f"{'-' if sign else ''}{body[0]}{'.' + body[1:] if digits > 1 else ''}e{e:+d}"


def _plain(x, digits: int) -> str:
    """LaTeX's and MathML's rule (and the text table's for the spec's own numbers) for an exact value:
    a value that is a decimal of at most ``digits`` places, or of at most ``digits`` significant digits from
    10^-6 to 10^digits, as that decimal; anything else as `_written`."""
    with localcontext() as ctx:
        ctx.prec, ctx.Emax, ctx.Emin = 80, MAX_EMAX, MIN_EMIN
        d = _rounded(x, 60).normalize() if x else Decimal(0)
    if x and abs(x - mp(str(d))) > abs(x) * mp(10) ** -200:  # not a short decimal (central differences: ~1e-280)
        return _written(x, digits)
    places = max(-d.as_tuple().exponent, 0)
    if places <= digits or (-6 <= d.adjusted() < digits and len(d.as_tuple().digits) <= digits):
        return f"{d:f}"
    return _written(x, digits)


def _check_every_printer(case, undecided: list, digits_list=(9, 15)) -> int:
    hidden, output, loss, regime = case
    text_spec = _spec(hidden, output, loss, regime)
    model = derive.Model(derive.parse(text_spec, "n.toml"))
    with mpmath.workdps(DPS):
        truth = independent(text_spec, hidden, output, loss)
    rows = [r for r in text.initial_rows(model) + text.rows(model, model.after_training()) if "@" not in str(r.quantity)]  # (float64 runs)
    decided = 0
    for digits in digits_list:  # 4 printers: the text table's, JSON (value or value_decimal), LaTeX, MathML
        written = {r["quantity"]: r for r in json.loads(text.as_json(model, digits, model.after_training()))["quantities"]}
        for r in rows:
            q = str(r.quantity)
            true = truth[q]
            with mpmath.workdps(DPS):
                # the short decimal form is for a value the engine holds exactly (a rational: the spec's
                # numbers, nets of them, 1); that the rational is the true value is checked here
                exact = isinstance(r.value, sp.Rational) or getattr(r.value, "exact", False)
                want = _written(true, digits)
                want_plain = _plain(true, digits) if exact else want
                past_float64 = true != 0 and not mp("2.2250738585072014e-308") <= abs(true) <= mp("1.7976931348623157e308")
                as_17 = _written(true, 17)
            row = written[q]
            if true == 0 and row["text"] == "undecided":  # an exact 0 the balls cannot prove: never a digit
                assert latex_rows.number(r.value, digits) == r"\text{undecided}", (case, q)
                assert "<mi>undecided</mi>" in mathml.number_element(mathml.Document(), r.value, digits, "k").toxml()
                assert row["value"] is None and row["value_decimal"] == "undecided", (case, q)
                undecided.append((case, q, digits))
                continue
            shown = want_plain if r.given else want
            assert row["text"] == shown, (case, q, digits, row["text"], shown)
            assert latex_rows.number(r.value, digits) == _latex(want_plain), (case, q, digits)
            xml = mathml.number_element(mathml.Document(), r.value, digits, "k").toxml()
            assert xml == _mathml(want_plain), (case, q, digits, xml)
            if past_float64:
                assert row["value"] is None and row["value_decimal"] == as_17, (case, q)
            else:
                assert row["value"] == float(true), (case, q, row["value"], float(true))
            decided += 4
    return decided


def _latex(want: str) -> str:
    mantissa, _, exponent = want.partition("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}" if exponent else want


def _mathml(want: str) -> str:
    mantissa, _, exponent = want.partition("e")
    if exponent:
        inner = (f"<mn>{mantissa}</mn><mo>×</mo><msup><mn>10</mn><mn>{int(exponent)}</mn></msup>")
    else:
        inner = f"<mn>{want}</mn>"
    return f'<mrow data-value="k">{inner}</mrow>'


def test_the_cases_cover_every_registry_entry_and_every_formula_function():
    cases = _cases()
    activations = {entries.ALIASES.get(n, n) for n in entries.ACTIVATIONS} | set(entries.ALIASES)
    used = {h for h, *_ in cases} | {o for _, o, *_ in cases}
    assert activations <= used, activations - used
    assert set(entries.LOSSES) <= {loss for _, _, loss, _ in cases}
    formulas = " ".join(OWN_ACTIVATIONS.values()) + " " + " ".join(OWN_LOSSES.values())
    for name in [*ELEMENTARY, *KINKED, *CONSTANTS]:
        assert re.search(rf"\b{name}\b", formulas), name
    for h in OWN_ACTIVATIONS:  # every own formula at every regime
        assert {r for c in cases if c[0] == h for r in [c[3]]} == set(REGIMES)
    assert {(o, loss) for _, o, loss, _ in cases} == set(OUTPUTS)


def test_every_printed_value_is_the_correct_rounding_of_an_independent_route(capsys):
    start, decided, networks, undecided = time.perf_counter(), 0, 0, []
    for case in _cases():
        decided += _check_every_printer(case, undecided)
        networks += 1
    with capsys.disabled():
        print(f"\n{decided} printed values decided ({networks} networks, 9 and 15 digits, text/JSON/LaTeX/MathML) "
              f"in {time.perf_counter() - start:.1f} s; undecided (exact zeros): {len(undecided)}")
    assert decided > 10_000
    # the only values no precision decides: softmax with cross-entropy's dE_total/db2 = Σ out_j - Σ t_j,
    # exactly 0 (the targets sum to 1), which no ball of its terms proves; never printed as a number
    assert {(c[1], c[2], q) for c, q, _ in undecided} <= {("softmax", "cross_entropy", "dE_total/db2")}, undecided
