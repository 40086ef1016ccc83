"""Printed values that are what they claim: every printed digit proven by a ball (python-flint's arb)
and checked here against routes written separately (mpmath at hundreds of digits, the spec's
mathematics written out by hand), at ordinary, tiny, huge and saturated values, in every printer."""

import json
import random
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Decimal, localcontext

import flint
import independent
import mpmath
import pytest
from hypothesis import given
from hypothesis import strategies as st

import derive
from derive.model import decimals
from derive.model.proven import Proven, precision, to_mpf
from derive.render import text
from derive.render.tex import latex_rows
from derive.render.web import mathml

BCE = """name = "bce"
layers = [2, 2, 1]
activation = "logistic"
loss = "binary_cross_entropy"
bias = "shared"
learning_rate = 0.5
weights = [[[100000, 100000], [100000, 100000]], [[100000, 100000]]]
biases = [[0.35], [0.60]]
[[samples]]
inputs = [1, 1]
targets = [{t}]
"""


def rounded(x: mpmath.mpf, digits: int) -> Decimal:
    """The independent value's correct rounding (from its 60-digit string, far past the digits asked)."""
    with localcontext() as ctx:
        ctx.prec, ctx.rounding = digits, ROUND_HALF_EVEN
        ctx.Emax, ctx.Emin = MAX_EMAX, MIN_EMIN
        return +Decimal(mpmath.nstr(x, 60, min_fixed=0, max_fixed=0))


def expected_text(x, digits=9):
    return decimals.fmt(rounded(x, digits), digits)


def test_binary_cross_entropy_at_a_saturated_output_prints_its_finite_values():
    # out_o1 = sigma(net_o1), net_o1 = 200000.6 - 2e5 e^-200000.35..: 1 - out_o1 = 1 / (1 + e^net_o1)
    model = derive.Model(derive.parse(BCE.format(t=1), "bce.toml"))
    with mpmath.workdps(50):
        net = mpmath.mpf("200000.6")
        one_minus_out = 1 / (1 + mpmath.exp(net))
        assert text.fmt(model.value("dE_total/dout_o1"), 9) == "-1.00000000"  # -1/out; +inf before
        assert text.fmt(model.value("delta_o1"), 9) == expected_text(-one_minus_out)  # 0 before
        assert text.fmt(model.value("dout_o1/dnet_o1"), 9) == expected_text(one_minus_out * (1 - one_minus_out))
        assert text.fmt(model.value("dE_total/dw5"), 9) == expected_text(-one_minus_out)  # out_h1 = 1 - 1e-86859


def test_a_complement_is_built_only_where_the_balls_ask_for_it():
    """`Derivation.complements`: 1 - out for every logistic out, each form made when first looked up:
    knowing which forms there are builds none, every value of the reference network (nothing saturates)
    builds none, and a saturated output's value builds its own."""
    import sympy as sp

    from derive.model.registry import Logistic

    reference = derive.load()
    complements = reference.derivation.complements
    assert sorted(map(str, complements)) == ["out_h1", "out_h2", "out_o1", "out_o2"]
    assert all(-1 in f and 1 not in f and list(f) == [-1] for f in complements.values())
    assert reference.evaluation.totals and all(f._made == {} for f in complements.values())
    model = derive.Model(derive.parse(BCE.format(t=1), "bce.toml"))
    assert text.fmt(model.value("delta_o1"), 9) == expected_text(-1 / (1 + mpmath.exp(mpmath.mpf("200000.6"))))
    used = model.derivation.complements[model.derivation.sym(derive.Q.out("o1"))]
    net = model.derivation.sym(derive.Q.net("o1"))
    assert used._made == {-1: Logistic.one_minus(net)} and used[-1] == 1 / (1 + sp.exp(net))


def test_json_has_no_infinity_and_gives_a_value_past_float64_as_a_decimal_string():
    model = derive.Model(derive.parse(BCE.format(t=0), "bce.toml"))
    written = text.as_json(model, 9, model.after_training())
    data = json.loads(written, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    row = next(r for r in data["quantities"] if r["quantity"] == "dE_total/dout_o1")
    with mpmath.workdps(50):
        true = 1 + mpmath.exp(mpmath.mpf("200000.6"))  # 1 / (1 - out_o1)
    assert row["value"] is None
    assert row[decimals.DECIMAL_KEY] == expected_text(true, 17) == "1.4353484329929279e+86859"
    assert row["text"] == expected_text(true) == "1.43534843e+86859"
    ordinary = next(r for r in data["quantities"] if r["quantity"] == "dE_total/dw5")
    assert ordinary["value"] == 1.0 and decimals.DECIMAL_KEY not in ordinary


def _ball(x: mpmath.mpf, bits=256):
    with precision(bits):
        return Proven(flint.arb(mpmath.nstr(x, 80, min_fixed=0, max_fixed=0)), bits, None)


MAGNITUDES = {  # independent values, at 80 digits
    "ordinary": lambda: mpmath.mpf(1) / 3,
    "tiny": lambda: mpmath.mpf("7.66764807372e-53") + mpmath.mpf(10) ** -70,
    "huge": lambda: mpmath.exp(200000) * mpmath.pi,
    "past_decimal_emax": lambda: -mpmath.exp(3000000),
    "saturated": lambda: 1 - mpmath.exp(-200),
    "boundary": lambda: mpmath.mpf("0.1234567895") + mpmath.mpf(10) ** -75,
}


@pytest.mark.parametrize("name", sorted(MAGNITUDES))
def test_every_number_printer_prints_the_correct_rounding(name):
    with mpmath.workdps(80):
        x = MAGNITUDES[name]()
        value = _ball(x)
        want = expected_text(x)  # a ball is no short decimal: 1 - e^-200 is 1.00000000, not 1
    assert decimals.plain(value, 9) == want
    assert decimals.fmt(value, 9) == expected_text(x)
    mantissa, _, exponent = want.partition("e")
    latex = latex_rows.number(value, 9)
    assert latex == (rf"{mantissa} \times 10^{{{int(exponent)}}}" if exponent else want)
    dom = mathml.Document()
    xml = mathml.number_element(dom, value, 9, "k").toxml()  # the page's printer (decimal.Overflow before)
    assert f"<mn>{mantissa}</mn>" in xml and (not exponent or f"<mn>{int(exponent)}</mn>" in xml)
    written = decimals.json_value(value)
    if exponent and abs(int(exponent)) > 300:
        assert written == {"value": None, decimals.DECIMAL_KEY: expected_text(x, 17)}
    else:
        assert written == {"value": float(x)}


def _network(seed: int) -> str:
    """A small network whose hidden layer saturates: gradients far below the network's scale."""
    rng = random.Random(seed)
    activation = rng.choice(["logistic", "tanh", "softplus", "silu", "gelu", "elu"])
    w = [[[rng.choice([-1, 1]) * rng.randint(20, 60) + rng.randint(0, 99) / 100 for _ in range(2)] for _ in range(2)],
         [[rng.randint(-99, 99) / 100 for _ in range(2)] for _ in range(2)]]
    return (f'name = "n{seed}"\nlayers = [2, 2, 2]\nactivation = "{activation}"\nloss = "half_sse"\n'
            f'bias = "shared"\nlearning_rate = 0.5\nweights = {w}\nbiases = [[0.35], [0.6]]\n'
            f'[[samples]]\ninputs = [0.95, 0.9]\ntargets = [0.01, 0.99]\n')


def _independent_gradient(spec, name, dps=420):
    """Central differences of the independent forward pass at 420 digits, step 1e-150: within
    1e-250 of the gradient, far below any digit printed here."""
    with mpmath.workdps(dps):
        params = {k: independent._mp(r) for k, r in zip(independent.parameters(spec), _rationals(spec), strict=True)}
        h = mpmath.mpf(10) ** -150
        up, down = dict(params), dict(params)
        up[name] += h
        down[name] -= h
        error = lambda p: mpmath.fsum(independent.sample_error(spec, p, s) for s in spec.samples)  # noqa: E731
        return (error(up) - error(down)) / (2 * h)


def _rationals(spec):
    return [v for m in spec.weights for row in m for v in row] + [v for layer in spec.biases for v in layer]


def test_tiny_gradients_are_correctly_rounded_against_a_separate_high_precision_route():
    """dE_total/dw1 of 7.7e-53 printed 7.66764807394e-53 from a 60-digit absolute floor (true ...372)."""
    decided, tiny = 0, 0
    for seed in range(6):
        model = derive.Model(derive.parse(_network(seed), f"n{seed}.toml"))
        for name, value in model.gradients().items():
            true = _independent_gradient(model.spec, name)
            if abs(true) < mpmath.mpf(10) ** -200:  # below what this route resolves (1e-250)
                continue
            for digits in (9, 12):
                assert decimals.fmt(value, digits) == expected_text(true, digits), (seed, name, digits)
                decided += 1
            tiny += abs(true) < mpmath.mpf(10) ** -20
    print(f"{decided} printed values decided")
    assert tiny >= 6, tiny  # the class the 60-digit floor got wrong is really exercised


SATURATED_SOFTMAX = """name = "sm"
layers = [2, 2, 2]
activation = ["logistic", "softmax"]
loss = "cross_entropy"
bias = "shared"
learning_rate = 0.5
weights = [[[1e6, -1e6], [1e6, 1e6]], [[-1e6, 1e6], [1e6, -1e6]]]
biases = [[0.35], [0.60]]
[[samples]]
inputs = [1e6, -1e6]
targets = [0, 1]
"""


def _saturated_softmax_by_hand():
    """The network above written out by hand in mpmath (its exponents are unbounded): every 1 - sigma
    and 1 - softmax as sigma of the negated net, so that nothing cancels."""
    sig = lambda x: 1 / (1 + mpmath.exp(-x))  # noqa: E731
    with mpmath.workdps(60):
        net_h1, net_h2 = 2 * mpmath.mpf(10) ** 12 + mpmath.mpf("0.35"), mpmath.mpf("0.35")
        out_h1, out_h2 = sig(net_h1), sig(net_h2)
        not_h1 = sig(-net_h1)  # 1 - out_h1 = e^-2e12 / (1 + ...)
        m = mpmath.mpf(10) ** 6
        net_o1 = -m * out_h1 + m * out_h2 + mpmath.mpf("0.6")
        net_o2 = m * out_h1 - m * out_h2 + mpmath.mpf("0.6")
        out_o1 = sig(net_o1 - net_o2)
        not_o2 = out_o1  # two outputs: 1 - out_o2 = out_o1
        delta_o1, delta_o2 = out_o1, -not_o2  # out - target
        d_out_h1 = delta_o1 * -m + delta_o2 * m
        d_act_h1 = out_h1 * not_h1
        return {
            "dout_o2/dnet_o2": (1 - not_o2) * not_o2,
            "delta_o2": delta_o2,
            "dE_total/dw7": delta_o2 * out_h1,
            "dout_h1/dnet_h1": d_act_h1,
            "delta_h1": d_out_h1 * d_act_h1,
            "dE_total/dw1": d_out_h1 * d_act_h1 * m,
        }


def test_a_saturated_softmax_prints_no_false_zero():
    """dout_o2/dnet_o2 = out_o2 (1 - out_o2) with out_o2 = 1 - 1e-179530 and sigma'(2e12) = e^-2e12: no
    precision decides 1 - out from out's ball; they printed 0 before."""
    model = derive.Model(derive.parse(SATURATED_SOFTMAX, "sm.toml"))
    for name, true in _saturated_softmax_by_hand().items():
        assert true != 0
        for digits in (9, 12):
            assert decimals.fmt(model.value(name), digits) == expected_text(true, digits), (name, digits)


def test_a_value_no_precision_decides_is_printed_as_undecided_by_every_printer():
    """dE_total/db2 of the saturated softmax is Σ (out_j - t_j) = 0 exactly, but no ball of its two
    terms of ±3.9e-359060 proves it; it was printed as the midpoint's 0, unproven. Every printer says so."""
    model = derive.Model(derive.parse(SATURATED_SOFTMAX, "sm.toml"))
    value = model.value("dE_total/db2")
    assert decimals.fmt(value, 9) == decimals.UNDECIDED == "undecided"
    assert decimals.plain(value, 9) == "undecided"
    assert latex_rows.number(value, 9) == r"\text{undecided}"
    assert "<mi>undecided</mi>" in mathml.number_element(mathml.Document(), value, 9, "k").toxml()
    assert decimals.json_value(value) == {"value": None, decimals.DECIMAL_KEY: "undecided"}
    row = next(r for r in json.loads(text.as_json(model, 9, model.after_training()))["quantities"] if r["quantity"] == "dE_total/db2")
    assert row == {"section": row["section"], "quantity": "dE_total/db2", "value": None,
                   decimals.DECIMAL_KEY: "undecided", "text": "undecided"}


def test_an_undecided_ball_is_never_printed_as_its_midpoint():
    with precision(256):
        straddling = Proven(flint.arb(0, 1e-300), 256, lambda bits: flint.arb(0, 1e-300))
        boundary = Proven(flint.arb("0.1234567895", 1e-40), 256, lambda bits: flint.arb("0.1234567895", 1e-40))
    for value in (straddling, boundary):
        assert decimals.fmt(value, 9) == "undecided"
        assert latex_rows.number(value, 9) == r"\text{undecided}"


def test_a_proven_value_crosses_processes_with_its_proof():
    """derive exercise's workers send their values back pickled (a Proven could not be unpickled:
    BrokenProcessPool): the copy keeps the ball, so it prints the same proven digits."""
    import pickle

    import derive
    from derive.model.decimals import fmt

    model = derive.load()
    for value in model.evaluation.totals.values():
        copy = pickle.loads(pickle.dumps(value))
        assert fmt(copy, 15) == fmt(value, 15)


@given(st.integers(-10**80, 10**80), st.integers(1, 10**80), st.sampled_from([15, 50, 60, 300]))
def test_to_mpf_is_mpmaths_own_conversion(p, q, digits):
    """`proven.to_mpf` works on raw mantissas: the same numbers as mpf(p) / q and mpf((man, exp))."""
    with mpmath.workdps(digits):
        exact = flint.fmpq(p, q)
        assert to_mpf(exact)._mpf_ == (mpmath.mpf(int(exact.p)) / int(exact.q))._mpf_
        ball = flint.arb(exact)
        man, exp = ball.mid().man_exp()
        assert to_mpf(ball)._mpf_ == mpmath.mpf((int(man), int(exp)))._mpf_


@given(st.integers(-(10**40), 10**40), st.integers(1, 10**30), st.sampled_from([53, 169, 203, 400]))
def test_a_proven_value_is_mpf_of_its_midpoint(p, q, prec):
    """`proven.Proven` sets its mpf to ``to_mpf(value)`` without mpf's constructor: the same raw value
    (its sign, mantissa, exponent and bits) as ``mpmath.mpf(to_mpf(value))`` at that precision, for an
    exact fraction, an integer, a ball, and balls that are not finite."""
    from derive.model import proven

    values = [flint.fmpq(p, q), flint.fmpz(p), flint.arb(flint.fmpq(p, q)), flint.arb(p).exp() if abs(p) < 10**6
              else flint.arb("nan"), flint.arb("inf"), flint.arb("nan"), flint.arb(0, 1)]
    with mpmath.workprec(prec):
        for value in values:
            got = proven.Proven(value, 64, None)
            expected = mpmath.mpf(proven.to_mpf(value))
            assert type(got) is proven.Proven and got._mpf_ == expected._mpf_, (value, prec)
            assert got.value is value and got.bits == 64 and got.source is None
