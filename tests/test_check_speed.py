"""The check's finite-difference route at 50 digits moves a sum's few moved terms, not all of them
(issue #28: `derive html` on 64-64-64 under 10 s): bit for bit what mpmath's fsum gives, which
`forward.Forward` must equal (tests/test_scale_work.py compares it with the whole evaluation)."""

import mpmath
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from mpmath.libmp import finf, fnan, fninf, fzero
from test_every_value import _cases, _spec

import derive
from derive.check import float_bound
from derive.check import forward as forward_module
from derive.check.forward import Forward, _Sum
from derive.derivation.steps import Phase
from derive.model import quantities as Q

PRECISIONS = (169, 203, 53)  # 50 and 60 digits (the route's and the evaluation's), and float64's


def _mpf(sign: int, mantissa: int, exponent: int):
    return mpmath.mp.make_mpf(mpmath.libmp.from_man_exp(-mantissa if sign else mantissa, exponent))


# ordinary numbers, numbers far apart (beyond fsum's span, where it drops terms), zeros and specials
regular = st.builds(_mpf, st.integers(0, 1), st.integers(1, 2**200), st.integers(-1200, 1200))
near = st.builds(_mpf, st.integers(0, 1), st.integers(1, 2**60), st.integers(-80, 10))
special = st.sampled_from([mpmath.mpf(0), mpmath.mp.make_mpf(finf), mpmath.mp.make_mpf(fninf),
                           mpmath.mp.make_mpf(fnan), mpmath.mp.make_mpf(fzero)])
terms = st.one_of(near, near, regular, special)


def _same(a, b) -> bool:
    return a._mpf_ == b._mpf_


@given(st.lists(terms, min_size=1, max_size=12), st.data(), st.sampled_from(PRECISIONS))
def test_a_moved_sum_is_fsum_of_the_moved_terms_bit_for_bit(values, data, prec):
    """Whatever the terms (cancelling, 2^±1200 apart, zeros, infinities, NaN) and whichever of them
    move: the moved sum, where `_Sum` gives one, is fsum's of the new terms, raw value for raw value;
    where it gives none, the route sums them with fsum."""
    with mpmath.workprec(prec):
        base = _Sum(values)
        hits = tuple(sorted(data.draw(st.sets(st.integers(0, len(values) - 1), min_size=1))))
        new = [data.draw(terms) for _ in hits]
        moved = list(values)
        for j, value in zip(hits, new, strict=True):
            moved[j] = value
        expected = mpmath.fsum(moved)
        got = base.moved(hits, new) if base.exact is not None else None
        if got is not None:
            assert _same(got, expected), (values, hits, new)


@given(st.lists(near, min_size=1, max_size=12), st.data(), st.sampled_from(PRECISIONS[:2]))
def test_numbers_of_one_scale_take_the_exact_sum(values, data, prec):
    """The fast way is the one taken for ordinary numbers at the route's precisions (between 2^-80 and
    2^70, inside fsum's span of twice the precision), so the test above does not check the fallback
    alone."""
    with mpmath.workprec(prec):
        base = _Sum(values)
        assert base.exact is not None
        hits = tuple(sorted(data.draw(st.sets(st.integers(0, len(values) - 1), min_size=1))))
        new = [data.draw(near) for _ in hits]
        moved = list(values)
        for j, value in zip(hits, new, strict=True):
            moved[j] = value
        got = base.moved(hits, new)
        assert got is not None and _same(got, mpmath.fsum(moved))


def test_fsum_drops_what_the_span_excludes():
    """The case the span guards against: at 169 bits fsum drops a term 2^-400 below the sum so far,
    so 1 + 3·2^-400 - 1 is 0 to it, not the exact 3·2^-400; `_Sum` hands such a sum back to fsum
    rather than give the exact one. The same move by 2^-100 stays inside the span and is exact."""
    with mpmath.workprec(169):
        one, tiny = mpmath.mpf(1), mpmath.ldexp(mpmath.mpf(3), -400)
        assert mpmath.fsum([one, tiny, -one]) == 0
        base = _Sum([one, one, -one])
        assert base.exact is not None
        assert base.moved((1,), [tiny]) is None
        small = mpmath.ldexp(mpmath.mpf(3), -100)
        assert _same(base.moved((1,), [small]), mpmath.fsum([one, small, -one])) and small != 0


WIDE = """name = "wide"
layers = [3, 8, 6]
activation = "logistic"
loss = "half_sse"
bias = "per_neuron"
learning_rate = 0.1
seed = 5
[[samples]]
inputs = [0.5, -0.25, 1.0]
targets = [0.1, 0.9, 0.3, 0.2, 0.8, 0.5]
"""


def test_moving_a_first_layer_weight_adds_its_terms_to_the_base_sums(monkeypatch):
    """A first-layer weight moves one hidden net and, through that unit, one term of every output net
    and every term of the error: before, each of those sums was summed again whole by fsum (65 terms
    for each of 64 output nets at 64-64-64, 1,600 times); now none is."""
    model = derive.Model(derive.parse(WIDE))
    forward = Forward(model, 0)
    q = model.network.symbol(Q.parameter(model.parameters[0]))
    calls = []
    original = forward_module.fsum

    def counted(values):
        calls.append(len(values))
        return original(values)

    monkeypatch.setattr(forward_module, "fsum", counted)
    with mpmath.workdps(50):
        for moved in (forward.base[q] + mpmath.mpf("1e-20"), forward.base[q] - mpmath.mpf("1e-20")):
            values = forward.values(q, moved)
            assert values[forward.total] != forward.base[forward.total]
    assert calls == []
    assert len(forward.plans[q]) >= 1 + 1 + 6 + 6  # the hidden net and out, every output net and out


def _bounds_walked_whole(model) -> list:
    """Every kernel step's float64 error bound walked the general way: the step's float form built
    whole by SymPy's replace (the reference for `float_bound._step_bound`'s shortcut)."""
    network = model.network
    env = {network.symbol(q): v for q, v in model.evaluation.samples[0].items()}
    errors, out = {}, []
    with mpmath.workdps(30):
        for step in model.derivation.kernel:
            try:
                value, errors[step.symbol] = float_bound._bound(float_bound._float_form(step.compute), env, errors)
            except float_bound.Unbounded:
                return ["unbounded"]
            out.append((value._mpf_ if isinstance(value, mpmath.mpf) else value, errors[step.symbol]._mpf_))
    return out


def _bounds_by_steps(model) -> list:
    network = model.network
    env = {network.symbol(q): v for q, v in model.evaluation.samples[0].items()}
    errors, out = {}, []
    with mpmath.workdps(30):
        for step in model.derivation.kernel:
            try:
                value, errors[step.symbol] = float_bound._step_bound(step.compute, env, errors)
            except float_bound.Unbounded:
                return ["unbounded"]
            out.append((value._mpf_ if isinstance(value, mpmath.mpf) else value, errors[step.symbol]._mpf_))
    assert not any(isinstance(k, sp.Dummy) for k in (*env, *errors))  # the stand-ins leave nothing behind
    return out


@pytest.mark.parametrize("case", _cases()[::3], ids=lambda c: "-".join(c))
def test_an_activations_float_form_made_once_bounds_as_the_whole_walk(case):
    """`float_bound._step_bound` walks an activation's float form made once at a stand-in symbol
    (SymPy took milliseconds to build each of 128 Piecewise forms at 64-64-64): every step's value and
    bound is the general walk's, raw value for raw value, for every registered activation (hidden and
    output), every loss, in the ordinary and the extreme regimes."""
    hidden, output, loss, regime = case
    model = derive.Model(derive.parse(_spec(hidden, output, loss, regime), "n.toml"))
    assert _bounds_by_steps(model) == _bounds_walked_whole(model)


def test_every_registered_activation_is_covered():
    assert {c[0] for c in _cases()[::3]} == {c[0] for c in _cases()}


@given(st.lists(st.one_of(regular, near, special), min_size=0, max_size=6), st.sampled_from(PRECISIONS))
def test_the_evaluators_product_is_fprod_bit_for_bit(values, prec):
    """`evaluate._product` (the grader's search evaluates a million products) is mpmath's fprod, bit
    for bit, at each precision the evaluation works at."""
    from derive.derivation.evaluate import _product

    with mpmath.workprec(prec):
        got, want = _product(values), mpmath.fprod(values)
    assert got._mpf_ == want._mpf_ or (mpmath.isnan(got) and mpmath.isnan(want))


@given(st.integers(-10**40, 10**40), st.integers(1, 10**40), st.sampled_from((*PRECISIONS, 3325)))
def test_the_evaluators_kept_rationals_are_rounded_at_the_precision_asked(p, q, prec):
    """`evaluate._rational` keeps p/q by precision: what it gives is mpf(p)/q at the current precision
    (60 digits, and 1000 for a saturated sample), the same number asked at another precision first."""
    from derive.derivation.evaluate import _rational

    value = sp.Rational(p, q)
    for first in (53, prec):
        with mpmath.workprec(first):
            _rational(value)
    with mpmath.workprec(prec):
        assert _rational(value)._mpf_ == (mpmath.mpf(int(value.p)) / int(value.q))._mpf_


def _gradient_bounds_raw(model, parameters=None):
    try:
        bounds = float_bound.gradient_bounds(model.derivation, model.evaluation.samples[0], parameters)
    except float_bound.Unbounded:
        return "unbounded"
    return {p: b._mpf_ for p, b in bounds.items()}


@pytest.mark.parametrize("case", _cases()[1::3], ids=lambda c: "-".join(c))
def test_the_bounds_of_some_gradients_are_those_of_the_whole_walk(case):
    """`float_bound.gradient_bounds` for the parameters the check samples walks only the steps their
    gradients read (and any step whose walk could fail): each bound is the whole walk's, raw for raw,
    and it fails (Unbounded) exactly where the whole walk fails, for every registered activation,
    every loss, in the ordinary and the extreme regimes."""
    hidden, output, loss, regime = case
    model = derive.Model(derive.parse(_spec(hidden, output, loss, regime), "n.toml"))
    whole = _gradient_bounds_raw(model)
    names = [p.name for p in model.network.parameters]
    for some in (names[::3], names[-1:], []):
        expected = whole if whole == "unbounded" else {p: whole[p] for p in some}
        assert _gradient_bounds_raw(model, some) == expected


def test_the_bounds_of_one_gradient_walk_what_it_reads(monkeypatch):
    """At 4-16-16-3 (403 parameters), the bound of one first-layer weight's gradient walks the steps it
    reads and its own gradient step, not the other 402 gradients."""
    model = derive.Model(derive.parse(_net_4_16_16_3(), "n.toml"))
    walked = []
    step_bound = float_bound._step_bound
    monkeypatch.setattr(float_bound, "_step_bound", lambda e, env, errors: walked.append(e) or step_bound(e, env, errors))
    first = model.network.parameters[0].name
    float_bound.gradient_bounds(model.derivation, model.evaluation.samples[0], [first])
    gradients = [s for s in model.derivation.kernel if s.phase == Phase.GRADIENTS]
    assert len(gradients) == 403
    mine = model.derivation.step[Q.gradient(first)].compute
    assert [e for e in walked if e in {s.compute for s in gradients}] == [mine]
    assert len(walked) <= len(model.derivation.kernel) - 402


def _net_4_16_16_3() -> str:
    from conftest import ROOT

    return (ROOT / "benchmarks" / "net_4_16_16_3.toml").read_text()
