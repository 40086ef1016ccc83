"""Inputs at the documented limits: values of ±10⁶ compute and check, finite differences allow their own
error (a large E, saturated units), and a net on a kink is the stated convention, not a failure."""

import mpmath
import pytest
from conftest import spec_text

import derive
from derive.check import report, routes
from derive.cli import main
from derive.model import quantities as Q

pytestmark = pytest.mark.slow  # a system test: `-m "not slow"` leaves it out (docs/programmers.md)

HUGE = "[[[1e6, -1e6], [1e6, 1e6]], [[-1e6, 1e6], [1e6, -1e6]]]"
HUGE_INPUTS = "[[samples]]\ninputs = [1e6, -1e6]\ntargets = [0.01, 0.99]\n"
AT_THE_LIMITS = {
    "saturated_logistic": spec_text(weights=HUGE, samples=HUGE_INPUTS),
    "saturated_softplus": spec_text(activation='"softplus"', weights=HUGE, samples=HUGE_INPUTS),
    "saturated_softmax": spec_text(activation='["logistic", "softmax"]', loss='"cross_entropy"', weights=HUGE,
                                   samples="[[samples]]\ninputs = [1e6, -1e6]\ntargets = [0, 1]\n"),
    "target_of_a_million": spec_text(samples="[[samples]]\ninputs = [0.05, 0.10]\ntargets = [1e6, 0.99]\n"),
    "gelu_at_minus_10_to_the_12": spec_text(  # out_h1 = -1.385e-217147240951625913825565: past any Decimal
        activation='["gelu", "tanh"]', loss='"mse"', bias='"none"', biases=None,
        weights="[[[-1e6, 1e6], [0, 0.5]], [[-0.89, -1e6], [-0.89, -1e6]]]",
        samples="[[samples]]\ninputs = [1e6, 0]\ntargets = [0, 999999.99]\n"),
    "softmax_of_nets_that_cancel": spec_text(  # net_o1 - net_o2 = 10^18 - (10^18 - 10^10) in float64
        activation='["silu", "softmax"]', loss='"cross_entropy"', biases="[[0.5], [0.0]]",
        weights="[[[-1e6, 0.5], [0, 1e6]], [[0.0, 1e6], [1e6, 999999.99]]]",
        samples="[[samples]]\ninputs = [0, 999999.99]\ntargets = [0.25, 0.25]\n"),
    "softmax_of_two_nets_of_10_to_the_12": spec_text(  # float64's softmax there moves by 25 per ulp
        layers="[1, 2]", activation='"softmax"', loss='"cross_entropy"', weights="[[[1e6], [1e6]]]",
        biases="[[0.0]]", samples="[[samples]]\ninputs = [1e6]\ntargets = [0, 1]\n"),
    "tanh_at_minus_a_million": spec_text(activation='"tanh"', weights=HUGE, biases="[[-1e6], [1e6]]",
                                         samples=HUGE_INPUTS),
}
RELU_ON_ITS_KINK = spec_text(activation='"relu"', weights="[[[1, -1], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]]",
                             biases="[[0], [0.6]]", samples="[[samples]]\ninputs = [1, 1]\ntargets = [0.01, 0.99]\n")


@pytest.mark.parametrize("name", sorted(AT_THE_LIMITS))
def test_values_at_the_limits_compute_and_every_gradient_checks(name, tmp_path, capsys):
    path = tmp_path / f"{name}.toml"
    path.write_text(AT_THE_LIMITS[name])
    assert main(["gradients", str(path)]) == 0
    assert main(["check", str(path), "--quiet"]) == 0, capsys.readouterr().out
    text = path.read_text() + '\n[published]\n"out_o1" = 0.5\n"dE_total/dw1" = 0.25\n"E_total@2" = 0.25\n'
    path.write_text(text)  # the audit's variants meet the same values
    assert main(["check", str(path), "--quiet"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    # every route agrees; where float64 cannot resolve a gradient (saturated, or below its range), it says so
    assert "all gradients agree by every route." in out or \
        "  every route agrees, but the generated code's float64 cannot resolve " in out
    assert "FAIL" not in out
    model = derive.Model(derive.load_spec(path))
    rows = routes.run(model).rows
    assert all("fd_mpmath" in r.routes for r in rows)  # the 50-digit differences check every one of them


def test_a_value_like_e_to_the_minus_10_to_the_12_prints_in_scientific_notation(tmp_path):
    model = derive.Model(derive.parse(AT_THE_LIMITS["saturated_softplus"], "t.toml"))
    from derive.model.decimals import fmt
    text = fmt(model.value("out_o1"), 9)
    mantissa, exponent = text.split("e")
    assert float(mantissa) == pytest.approx(7.67649354) and exponent == "-868588963806272011"
    # the independent route: out_o1 = ln(1 + e^net_o1) ≈ e^net_o1 for net_o1 = -2·10^18 + ..., at 30 digits
    with mpmath.workdps(30):
        net = model.value("net_o1")
        assert mpmath.log10(model.value("out_o1")) == pytest.approx(float(net / mpmath.log(10)), rel=1e-15)


def test_finite_differences_still_fail_a_wrong_gradient():
    """The scaled tolerances must not make the routes blind: a gradient wrong by 0.1% fails both
    finite-difference routes (and the others), on the reference network and on a large E."""
    for text in (None, AT_THE_LIMITS["target_of_a_million"]):
        model = derive.Model(derive.load_spec() if text is None else derive.parse(text, "t.toml"))
        values = model.evaluation.samples[0]
        key = Q.gradient("w5")
        values[key] = values[key] * mpmath.mpf("1.001")
        row = next(r for r in routes.run(model).rows if r.parameter == "w5")
        assert "fd_mpmath" in row.failures and "generated" in row.failures
        if text is None:
            assert "fd_float64" in row.failures


def test_a_net_on_relus_kink_is_the_convention_and_finite_differences_do_not_apply(tmp_path, capsys):
    path = tmp_path / "kink.toml"
    path.write_text(RELU_ON_ITS_KINK)
    assert main(["check", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("  w", "  b"))}
    assert lines["w1"][2:5] == ["kink", "kink", "ok"] and lines["w1"][-1] == "pass"  # into h1: moves net_h1
    assert lines["b1"][2:5] == ["kink", "kink", "ok"]  # the shared bias moves net_h1 too
    assert lines["w3"][2:5] == ["ok", "ok", "ok"]  # into h2 only: differences apply
    assert lines["w5"][2:5] == ["ok", "ok", "ok"]  # after h1: net_h1 does not move
    assert ("  note: net_h1 = 0 lies on a kink of relu: relu has no derivative at net = 0; derive uses relu'(0) = 0 "
            "by convention; finite differences average both sides there and do not apply to the parameters before it"
            ) in out.splitlines()
    model = derive.Model(derive.load_spec(path))
    result = report.build(model, [], 9).as_dict()
    row = next(r for r in result["checks"]["rows"] if r["parameter"] == "w1")
    assert row["inapplicable_routes"] == {"fd_float64": "net_h1 on a kink", "fd_mpmath": "net_h1 on a kink"}
    assert "fd_float64" not in row["routes"]


def test_a_sum_of_thousands_of_terms_compiles_and_adds_in_the_same_order():
    """A layer of 4096 neurons makes net inputs of 4096 terms: past about 3000 CPython's compiler
    recurses too deep, so the sum continues as net = net + ..., bit for bit the same float64 sum."""
    from derive.render.code.pyformat import SUM_CHUNK, sum_assignment

    terms = [f"w{k} * x{k}" for k in range(4096)]
    source = "\n".join(sum_assignment("", "net", terms))
    assert source.count("net = (") == -(-4096 // SUM_CHUNK) and source.count("net = (\n    net\n") == 4
    env = {**{f"w{k}": 0.1 * k - 200 for k in range(4096)}, **{f"x{k}": 1 / (k + 1) for k in range(4096)}}
    exec(compile(source, "net.py", "exec"), env)
    expected = env["w0"] * env["x0"]
    for k in range(1, 4096):
        expected = expected + env[f"w{k}"] * env[f"x{k}"]
    assert env["net"] == expected
