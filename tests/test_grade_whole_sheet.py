"""`derive grade`: what holds across a whole sheet. A convention (delta = -dE/dnet, E without the 1/2)
is the sheet's, decided from all its lines: a line that fits only a convention the rest of the sheet
contradicts is a slip. A wrong learning rate and a hidden layer computed with another activation are
usual slips, named. Every sheet here is a hand calculation written out in mpmath (the forward pass
of `independent`, each activation's derivative by mpmath's numerical differentiation at 60 digits),
not the engine's numbers."""

import dataclasses
from decimal import Decimal

import independent
import mpmath
import pytest
from conftest import spec_text

import derive
from derive.cli import main
from derive.model.registry import ACTIVATIONS
from derive.teaching.grade import CARRIED, CONVENTION, CORRECT, WRONG, Marker, parse_sheet, read_rate

pytestmark = pytest.mark.slow  # a system test: `-m "not slow"` leaves it out (docs/programmers.md)

mp = mpmath.mpf
UPDATES = [f"w{i}+" for i in range(1, 9)]
BACKWARD = ["delta_o1", "delta_o2", "delta_h1", "delta_h2", *(f"dE_total/dw{i}" for i in range(1, 9))]


def derivative(name, x):
    with mpmath.workdps(60):
        return mpmath.diff(lambda t: independent._activate(name, [t])[0], x)


def sheet_values(spec, *, hidden=None, rate=None, flip=1, factor=1, plus=False):
    """The 31 numbers of a hand calculation of a 2-2-2 network (one sample, half_sse): the hidden
    layer computed with ``hidden`` (its activation by default), the updates with learning rate
    ``rate`` (the spec's by default) and with + when ``plus``; ``flip`` = -1 writes the backward pass
    with delta = -dE/dnet (Mitchell; the updates unchanged), ``factor`` = 2 drops the 1/2 of E."""
    acts = (hidden or spec.activations[0], spec.activations[1])
    used = dataclasses.replace(spec, activations=acts)
    p = independent.parameters(spec)
    with mpmath.workdps(60):
        x = [mp(str(v)) for v in spec.samples[0].inputs]
        t = [mp(str(v)) for v in spec.samples[0].targets]
        (nh, oh), (no, oo) = independent.forward(used, p, spec.samples[0].inputs)
        e = [factor * (ti - o) ** 2 / 2 for ti, o in zip(t, oo, strict=True)]
        d_o = [factor * (o - ti) * derivative(acts[1], n) for o, ti, n in zip(oo, t, no, strict=True)]
        d_out_h = [d_o[0] * p["w5"] + d_o[1] * p["w7"], d_o[0] * p["w6"] + d_o[1] * p["w8"]]
        d_h = [d * derivative(acts[0], n) for d, n in zip(d_out_h, nh, strict=True)]
        g = {"w1": d_h[0] * x[0], "w2": d_h[0] * x[1], "w3": d_h[1] * x[0], "w4": d_h[1] * x[1],
             "w5": d_o[0] * oh[0], "w6": d_o[0] * oh[1], "w7": d_o[1] * oh[0], "w8": d_o[1] * oh[1]}
        eta = mp(str(spec.learning_rate if rate is None else rate))
        values = {"net_h1": nh[0], "out_h1": oh[0], "net_h2": nh[1], "out_h2": oh[1],
                  "net_o1": no[0], "out_o1": oo[0], "net_o2": no[1], "out_o2": oo[1],
                  "E_o1": e[0], "E_o2": e[1], "E_total": e[0] + e[1],
                  "delta_o1": flip * d_o[0], "delta_o2": flip * d_o[1], "delta_h1": flip * d_h[0],
                  "delta_h2": flip * d_h[1]}
        values.update({f"dE_total/d{n}": flip * v for n, v in g.items()})
        values.update({f"{n}+": p[n] + (1 if plus else -1) * eta * v for n, v in g.items()})
        return values


def printed(value, decimals=9) -> str:
    """As a learner writes a number: rounded (half up) to a fixed number of decimals."""
    with mpmath.workdps(60):
        text = mpmath.nstr(value, 40, min_fixed=-mpmath.inf, max_fixed=mpmath.inf)
    return str(Decimal(text).quantize(Decimal(1).scaleb(-decimals), rounding="ROUND_HALF_UP"))


def marking(model, values, marker=None, seconds=None):
    text = "".join(f"{q} = {printed(v)}\n" for q, v in values.items())
    return (marker or Marker(model)).mark(parse_sheet(text, "sheet.txt", model), seconds)


def verdicts(result) -> dict:
    return {str(m.answer.quantity): m for m in result.marks}


@pytest.fixture(scope="module")
def marker(reference):
    return Marker(reference)


# -- a convention is the whole sheet's ------------------------------------------------------------------
def test_updates_taken_with_plus_are_a_slip_when_the_deltas_are_in_our_sign(marker, reference):
    """Every update w + eta dE/dw with every delta and gradient in this tool's sign: Mitchell's
    convention (Err = -delta, w + eta Err x) is contradicted by the 12 numbers of the backward
    pass, so the 8 updates are the slip "update taken with +", not that convention."""
    values = sheet_values(reference.spec, plus=True)
    result = marking(reference, values, marker)
    marks = verdicts(result)
    assert result.convention is None
    assert {q for q, m in marks.items() if m.verdict == WRONG} == set(UPDATES)
    assert all(m.verdict == CORRECT for q, m in marks.items() if q not in UPDATES)
    for q in UPDATES:
        assert marks[q].slips[0].key == "plus_update", (q, marks[q].diagnosis)
    assert result.score["right"] == 23 and result.score["of"] == 31


def test_a_learning_rate_of_1_is_a_slip_when_E_has_its_half(marker, reference):
    """eta = 1 for 0.5 doubles each step, as E without the 1/2 would: but this sheet's E_total and
    deltas have the 1/2, so the 8 updates are a wrong learning rate."""
    values = sheet_values(reference.spec, rate=1)
    result = marking(reference, values, marker)
    marks = verdicts(result)
    assert result.convention is None
    assert {q for q, m in marks.items() if m.verdict == WRONG} == set(UPDATES)
    for q in UPDATES:
        assert marks[q].slips[0].key == "learning_rate_1", (q, marks[q].diagnosis)
        assert marks[q].diagnosis == ("exactly what this slip gives: the learning rate 1 used instead of 0.5: "
                                      "w - 1 dE/dw")


@pytest.mark.parametrize("rate", ["0.05", "1", "0.1", "2", "0.25", "0.9", "0.005", "-0.5"])
def test_a_wrong_learning_rate_is_named(marker, reference, rate):
    """The learning rate is read off exactly, as (w - w+) / dE/dw from the learner's numbers, for any
    eta (-0.5 is the update taken with +)."""
    values = sheet_values(reference.spec, rate=rate)
    result = marking(reference, values, marker)
    marks = verdicts(result)
    assert result.convention is None
    assert {q for q, m in marks.items() if m.verdict == WRONG} == set(UPDATES)
    for q in UPDATES:
        keys = [s.key for s in marks[q].slips]
        assert keys[0] == ("plus_update" if rate == "-0.5" else f"learning_rate_{rate}"), (q, keys)
        assert marks[q].exact


def test_a_learning_rate_is_read_off_the_given_weight_when_the_sheet_writes_it_otherwise(marker, reference):
    """w1 written as its updated value (a slip of its own) and w1+ with eta = 0.05: the rate is read
    off the weight the spec gives, not the learner's w1 (which would give -0.45)."""
    values = sheet_values(reference.spec, rate="0.05")
    truth = sheet_values(reference.spec)
    sheet = f"dE_total/dw1 = {printed(values['dE_total/dw1'])}\nw1 = {printed(truth['w1+'])}\nw1+ = {printed(values['w1+'])}\n"
    marks = verdicts(marker.mark(parse_sheet(sheet, "s.txt", reference)))
    assert marks["w1"].slips[0].key == "confused_w1_updated"
    assert [s.key for s in marks["w1+"].slips] == ["learning_rate_0.05"]


def test_a_learning_rate_is_read_off_only_when_the_digits_pin_it_down():
    """w5+ = 0.3600 from dE/dw5 = 0.0822 (4 decimals each) allows eta in about [0.4856, 0.4890]: no
    decimal of up to 4 digits is pinned down there, and none is named; 0.3178 allows [0.9988, 1.0012],
    which pins down 1."""
    w5, g = (mp("0.4"), mp(0)), (mp("0.0822"), mp("0.00005"))
    with mpmath.workdps(60):
        assert 0.4855 < (w5[0] - mp("0.36005")) / mp("0.08225") < (w5[0] - mp("0.35995")) / mp("0.08215") < 0.4891
    assert read_rate(Decimal("0.3600"), w5, g) is None
    assert read_rate(Decimal("0.3178"), w5, g) == 1
    assert read_rate(Decimal("0.31780"), w5, (mp("0.08220"), mp("0.000005"))) == 1
    assert read_rate(Decimal("0.358900000"), w5, (mp("0.0822"), mp(0))) == Decimal("0.5")
    assert read_rate(Decimal("0.358891"), w5, (mp("0.0822"), mp(0))) is None  # eta = 0.500109..., no short decimal


CONVENTION_SHEETS = {  # (flip, factor): a convention it names, the lines that it changes
    (-1, 1): ("Mitchell", BACKWARD),
    (1, 2): ("without the 1/2", ["E_o1", "E_o2", "E_total", *BACKWARD, *UPDATES]),
    (-1, 2): ("Mitchell", ["E_o1", "E_o2", "E_total", *BACKWARD, *UPDATES]),
}


@pytest.mark.parametrize(("flip", "factor"), list(CONVENTION_SHEETS))
def test_a_sheet_that_follows_a_convention_throughout_is_right(marker, reference, flip, factor):
    name, changed = CONVENTION_SHEETS[flip, factor]
    result = marking(reference, sheet_values(reference.spec, flip=flip, factor=factor), marker)
    marks = verdicts(result)
    assert name in result.convention
    assert {q for q, m in marks.items() if m.verdict == CONVENTION} == set(changed)
    assert all(m.verdict == CORRECT for q, m in marks.items() if q not in changed)


MINORITY = ["dE_total/dw6", "dE_total/dw7", "delta_h2"]


EVERY_CONVENTION = [(1, 1), *CONVENTION_SHEETS]


@pytest.mark.parametrize(("flip", "factor", "other_flip", "other_factor"),
                         [(*a, *b) for a in EVERY_CONVENTION for b in EVERY_CONVENTION if a != b])
def test_lines_of_another_convention_than_the_sheets_are_wrong(marker, reference, flip, factor, other_flip,
                                                                other_factor):
    """A sheet in one convention with three of its numbers written in another: the sheet's convention
    is the one most of its lines follow, and the three are marked wrong. Every verdict is given before
    the search for slips begins; that search (its own tests: test_grade, and the slips below) is given
    no time here, so each of the three is named a line in another convention than the sheet's, or says
    it was not searched."""
    values = sheet_values(reference.spec, flip=flip, factor=factor)
    other = sheet_values(reference.spec, flip=other_flip, factor=other_factor)
    values.update({q: other[q] for q in MINORITY})
    result = marking(reference, values, marker, seconds=0)
    marks = verdicts(result)
    for q in MINORITY:  # a slip named while the convention was decided, else not searched
        assert (marks[q].diagnosis == "not searched for slips: the time limit (0 s) came first" if marks[q].cut
                else [s.key for s in marks[q].slips] == ["own_convention"]), (q, marks[q].diagnosis)
    if (flip, factor) == (1, 1):
        assert result.convention is None
    else:
        assert CONVENTION_SHEETS[flip, factor][0] in result.convention
    assert {q for q, m in marks.items() if m.verdict == WRONG} == set(MINORITY), [
        (q, m.verdict, m.diagnosis) for q, m in marks.items()]
    assert result.score["right"] == 31 - len(MINORITY)


# -- another activation in the hidden layer ---------------------------------------------------------------
TANH_HIDDEN = spec_text(activation='["tanh", "logistic"]')


def test_a_hidden_layer_computed_with_the_logistic_instead_of_tanh():
    model = derive.Model(derive.parse(TANH_HIDDEN, "tanh.toml"))
    result = marking(model, sheet_values(model.spec, hidden="logistic"))
    marks = verdicts(result)
    for q in ("out_h1", "out_h2"):
        assert marks[q].verdict == WRONG
        assert marks[q].slips[0].key == "activation_1_logistic", (q, marks[q].diagnosis)
        assert marks[q].diagnosis == "exactly what this slip gives: the logistic used in place of tanh in layer 1"
    assert marks["net_h1"].verdict == marks["net_h2"].verdict == CORRECT
    # dout/dnet = out (1 - out) for 1 - out^2: the deltas of the hidden layer are that slip again
    for q in ("delta_h1", "delta_h2"):
        assert marks[q].verdict == WRONG and "activation_1_logistic" in {s.key for s in marks[q].slips}
    assert all(m.verdict in (CORRECT, CARRIED) for q, m in marks.items()
               if q not in ("out_h1", "out_h2", "delta_h1", "delta_h2"))


SCALAR = [name for name, entry in ACTIVATIONS.items() if not entry.couples_layer]
# net_h1 = 0.375 > 0, net_h2 = -0.325 < 0: relu, leaky_relu, elu and identity differ below 0 only
MIXED_SIGNS = {"weights": "[[[0.15, 0.20], [-0.25, -0.30]], [[0.40, 0.45], [0.50, 0.55]]]",
               "biases": "[[0.1], [0.60]]", "samples": "[[samples]]\ninputs = [0.5, 1.0]\ntargets = [0.01, 0.99]\n"}
LINES = ("net_h1", "out_h1", "net_h2", "out_h2", "out_o1", "out_o2", "delta_o1", "delta_o2", "delta_h1", "delta_h2")


@pytest.mark.parametrize("network", SCALAR)
def test_every_pair_of_activations_swapped_in_a_hidden_layer(network):
    """A hidden layer of each activation computed with each other one (its function and its derivative):
    each out_h that differs is wrong with that slip named, with exactly the other activations that
    give the same number there (at net_h1 > 0 relu, identity, leaky_relu and elu agree); the numbers
    after it are carried forward, or wrong with that slip again (a delta, through the derivative)."""
    model = derive.Model(derive.parse(spec_text(activation=f'["{network}", "logistic"]', **MIXED_SIGNS), "t.toml"))
    marker = Marker(model)
    for used in SCALAR:
        if used == network:
            continue
        values = sheet_values(model.spec, hidden=used)
        result = marking(model, {q: values[q] for q in LINES}, marker)
        marks = verdicts(result)
        wrong = [q for q, m in marks.items() if m.verdict == WRONG]
        assert any(q.startswith("out_h") for q in wrong), used
        assert all(f"activation_1_{used}" in {s.key for s in marks[q].slips} for q in wrong), (used, [
            (q, marks[q].diagnosis) for q in wrong])
        for q in (q for q in wrong if q.startswith("out_h")):
            net = values[q.replace("out", "net")]
            same = {f"activation_1_{b}" for b in SCALAR if b != network
                    and printed(independent._activate(b, [net])[0]) == printed(values[q])}
            assert {s.key for s in marks[q].slips if s.key.startswith("activation_")} == same, (used, q)
            assert marks[q].slips[0].key in same, (used, q, marks[q].slips[0].key)
        assert all(m.verdict in (CORRECT, CARRIED) for q, m in marks.items() if q not in wrong)
        assert all(q.startswith(("out_h", "delta_h")) for q in wrong), (used, wrong)
        assert result.convention is None


# -- a claim under the initial weight's name -----------------------------------------------------------
def test_an_updated_weight_claimed_under_the_initial_weights_name(capsys, reference):
    with mpmath.workdps(60):
        g = independent.gradient(reference.spec)["w1"]
        updated = independent.parameters(reference.spec)["w1"] - mp("0.5") * g
    claim = f"w1={printed(updated)}"
    assert claim == "w1=0.149780716"
    assert main(["check", "--claim", claim]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[1] == ("  Your number is exactly what this slip gives: the updated value w1+ given "
                                   f"for w1: name it w1+ ({printed(updated)}).")
    # the grader names it the same way
    marks = verdicts(Marker(reference).mark(parse_sheet(f"w1 = {printed(updated)}\n", "s.txt", reference)))
    assert marks["w1"].verdict == WRONG and marks["w1"].slips[0].key == "confused_w1_updated"
    assert Decimal(printed(updated)) == marks["w1"].answer.given
