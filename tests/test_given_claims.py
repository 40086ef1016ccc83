"""A claim about a value the spec gives (a weight or bias before any step, an input, a target) is
answered as such: the spec gives it, nothing derives it; the claim agrees with it or not. (It read
"It agrees with 0.150000000", and "w1 is a partial derivative through the forward pass, taken by
SymPy" under a wrong one.)"""

from decimal import Decimal

import pytest

import derive
from derive.cli import main
from derive.model import quantities as Q
from derive.render.check_text import claim_text


@pytest.fixture(scope="module")
def model():
    return derive.load()


def lines(model, claim: str) -> list[str]:
    result = model.check(claims=[claim], routes=False)
    return claim_text(result.claims[0], result.digits)


def test_a_claim_that_agrees_with_a_given_weight(model):
    assert lines(model, "w1=0.15") == [
        "Your w1 = 0.15: correct. w1 is a value the spec gives (0.15), not one derive computes; your number "
        "agrees with it to the 2 decimals you gave."]


def test_a_claim_that_disagrees_with_a_given_weight(model):
    said = lines(model, "w1=0.3")
    assert said[0] == ("Your w1 = 0.3: not correct. w1 is a value the spec gives (0.15), not one derive computes; "
                       "your number disagrees with it.")
    assert any(line.strip() == "- the value of w4 given for w1 (gives 0.300000000)" for line in said)
    assert not any("derivative" in line or "derived" in line for line in said)


def test_the_command_prints_it(capsys):
    assert main(["check", "--claim", "b1=0.35"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "Your b1 = 0.35: correct. b1 is a value the spec gives (0.35), not one derive computes; your number agrees "
        "with it to the 2 decimals you gave.")


def test_every_given_value_and_only_those(model):
    """The class: every input, target and parameter of the spec (at its own value, exactly as the spec
    writes it), and never a computed value (a net, an updated weight, a gradient)."""
    spec, network = model.spec, model.network
    given = {f"{i}": v for i, v in zip(network.inputs, spec.samples[0].inputs, strict=True)}
    given |= {f"{Q.target(o)}": v for o, v in zip(network.outputs, spec.samples[0].targets, strict=True)}
    given |= {p.name: p.value for p in network.parameters}
    assert len(given) == 2 + 2 + 10
    for name, value in given.items():
        written = str(Decimal(int(value.p)) / Decimal(int(value.q)))  # 3/20: 0.15
        places = len(written.split(".")[1])
        assert lines(model, f"{name}={written}") == [
            f"Your {name} = {written}: correct. {name} is a value the spec gives ({written}), not one derive computes; "
            f"your number agrees with it to the {places} decimal{'s' * (places != 1)} you gave."], name
        assert Q.parse(name).is_given
    for computed in ("net_h1", "w1+", "dE_total/dw1", "w1@1", "E_total"):
        assert not Q.parse(computed).is_given
        assert "the spec gives" not in " ".join(lines(model, f"{computed}=0.5"))
