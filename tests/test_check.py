"""`derive check`: routes, the audit's search (every kind of slip on purpose-built wrong numbers,
each built independently here), no false matches, exit codes, JSON, claims."""

import dataclasses
import json
import random
from decimal import Decimal
from pathlib import Path

import independent
import mpmath
import pytest
from in_process import derive_cli
from networks import ZOO

import derive
from derive.check import routes as check
from derive.check.audit import Auditor, agrees
from derive.cli import main
from derive.model.functions import elementwise
from derive.model.registry import ACTIVATIONS

pytestmark = pytest.mark.slow  # a system test: `-m "not slow"` leaves it out (docs/programmers.md)

mp = mpmath.mpf


def printed(value, decimals=9) -> Decimal:
    """A number as a hand calculation prints it: rounded half up to ``decimals`` places."""
    with mpmath.workdps(60):
        return Decimal(mpmath.nstr(value, 40, min_fixed=-mpmath.inf, max_fixed=mpmath.inf)).quantize(
            Decimal(1).scaleb(-decimals), rounding="ROUND_HALF_UP")


@pytest.fixture(scope="module")
def auditor(reference):
    return Auditor(reference)


@pytest.fixture(scope="module")
def article(reference):
    """The article's intermediate values, computed here from the independent forward pass."""
    with mpmath.workdps(60):
        spec = reference.spec
        params = independent.parameters(spec)
        (_nh, oh), (_no, oo) = independent.forward(spec, params, spec.samples[0].inputs)
        t = [mp("0.01"), mp("0.99")]
        d_out = [o - ti for o, ti in zip(oo, t, strict=False)]
        d_act = [o * (1 - o) for o in oo]
        delta_o = [a * b for a, b in zip(d_out, d_act, strict=False)]
        return {"params": params, "oh": oh, "oo": oo, "t": t, "d_out": d_out, "d_act": d_act, "delta_o": delta_o}


def reproducing(auditor, quantity, number):
    finding = auditor.examine(quantity, number)
    assert not finding.agrees, "the purpose-built number must be wrong"
    return [m.key for m in finding.mistakes if m.reproduces]


def test_rounded_intermediates(auditor, article):
    # delta_o2 from factors rounded to 9 decimals, times w7: the article's -0.019049119
    with mpmath.workdps(60):
        r = lambda v: mp(str(printed(v)))  # noqa: E731
        delta_o2 = r(r(article["d_out"][1]) * r(article["d_act"][1]))
        value = printed(delta_o2 * mp("0.5"))
    assert value == Decimal("-0.019049119")
    assert reproducing(auditor, "dE_o2/dout_h1", value)[0] == "rounded_9_decimals"


def test_in_place_updates_within_the_backward_pass(auditor, article):
    with mpmath.workdps(60):
        p = article["params"]
        oh, d = article["oh"], article["delta_o"]
        w5 = p["w5"] - mp("0.5") * d[0] * oh[0]
        w7 = p["w7"] - mp("0.5") * d[1] * oh[0]
        delta_h1 = (d[0] * w5 + d[1] * w7) * oh[0] * (1 - oh[0])
        w1_plus = p["w1"] - mp("0.5") * delta_h1 * mp("0.05")
    assert reproducing(auditor, "w1+", printed(w1_plus))[0] == "in_place"
    assert reproducing(auditor, "E_total@1", Decimal("0.291027924"))[0] == "in_place"  # the article's


def test_a_step_count_off_by_one(auditor, reference):
    _, _, _, error = independent.loop_train(reference.spec, 9999, freeze_biases=True)
    keys = reproducing(auditor, "E_total@10000", printed(mp(error), 13))
    assert keys[0] == "one_step_fewer"


def test_biases_updated_although_the_spec_freezes_them(auditor, reference):
    params = independent.train(reference.spec, 1, freeze_biases=False)
    value = printed(independent.total_error(reference.spec, params))
    assert reproducing(auditor, "E_total@1", value)[0] == "biases_toggled"


def test_activation_derivative_left_out(auditor, article):
    with mpmath.workdps(60):
        value = printed(article["d_out"][0] * article["oh"][0])
    assert "no_output_activation_derivative" in reproducing(auditor, "dE_total/dw5", value)


def test_input_factor_left_out(auditor, article):
    value = printed(article["delta_o"][0])
    keys = reproducing(auditor, "dE_total/dw5", value)
    assert "no_dnet_dw" in keys


def test_sign_error(auditor, reference):
    assert "sign_flipped" in reproducing(auditor, "dE_total/dw7", printed(-reference.value("dE_total/dw7")))
    assert "sign_dE_dout" in reproducing(auditor, "dE_total/dout_o1", printed(-reference.value("dE_total/dout_o1")))


def test_half_of_the_loss_dropped(auditor, article):
    with mpmath.workdps(60):
        value = printed(sum((t - o) ** 2 for t, o in zip(article["t"], article["oo"], strict=False)))
    assert reproducing(auditor, "E_total", value)[0] == "half_dropped"


def test_a_weight_used_in_place_of_another(auditor, article):
    with mpmath.workdps(60):
        p, d = article["params"], article["delta_o"]
        value = printed(d[0] * p["w5"] + d[1] * p["w6"])  # w6 where w7 belongs
    assert "swap_backward_w7_w6" in reproducing(auditor, "dE_total/dout_h1", value)


def test_update_with_plus(auditor, reference):
    with mpmath.workdps(60):
        value = printed(mp("0.4") + mp("0.5") * reference.value("dE_total/dw5"))
    assert "plus_update" in reproducing(auditor, "w5+", value)


def test_one_output_path_only(auditor, article):
    with mpmath.workdps(60):
        oh, d, p = article["oh"], article["delta_o"], article["params"]
        value = printed(d[0] * p["w5"] * oh[0] * (1 - oh[0]) * mp("0.05"), 12)
    assert "one_path_o1" in reproducing(auditor, "dE_total/dw1", value)


def test_another_quantity_given(auditor, reference):
    value = printed(reference.value("dE_total/dw5"))
    assert reproducing(auditor, "dE_total/dw6", value)[0] == "confused_dE_total/dw5"


@pytest.mark.parametrize("quantity", ["dE_total/dw5", "E_total@1", "out_o1@10000", "dE_o1/dout_h1", "w3+", "net_o2"])
def test_no_match_is_claimed_for_random_wrong_numbers(auditor, reference, quantity):
    rng = random.Random(quantity)
    correct = float(auditor.correct.value(quantity))
    for _ in range(15):
        number = Decimal(f"{correct * rng.uniform(0.5, 1.5) + rng.uniform(-0.01, 0.01):.9f}")
        if agrees(correct, number):
            continue
        assert not auditor.examine(quantity, number).explained, number


def test_the_article_audit(reference):
    result = json.loads(derive_cli("check", "--json").stdout)
    wrong = {p["quantity"]: p for p in result["published"] if not p["agrees"]}
    assert set(wrong) == {"dE_o2/dout_h1", "E_total@1", "E_total@10000", "out_o1@10000", "out_o2@10000"}
    assert all(p["explained"] for p in wrong.values())
    assert wrong["E_total@1"]["correct"] == "0.291027774"
    assert result["checks"]["passed"] and len(result["checks"]["rows"]) == 10


def test_exit_codes(capsys):
    assert main(["check"]) == 0
    assert main(["check", "--strict"]) == 1  # the article's wrong numbers
    assert main(["check", "--claim", "dE_total/dw6=0.0827"]) == 0
    assert main(["check", "--claim", "dE_total/dw6=0.0822"]) == 1
    capsys.readouterr()
    assert main(["check", "--claim", "dE_total/dw6"]) == 2
    assert (
        capsys.readouterr().err
        == "derive: cannot read claim 'dE_total/dw6': write quantity=value, e.g. dE_total/dw6=0.0827\n"
    )
    assert main(["check", "--claim", "dE_total/dw99=1"]) == 2
    assert capsys.readouterr().err.startswith("derive: unknown quantity 'dE_total/dw99'")
    assert main(["check", "--claim", "delta_o11=1"]) == 2
    assert (
        capsys.readouterr().err == "derive: unknown quantity 'delta_o11' in network mazur (did you mean 'delta_o1'?)\n"
    )
    assert main(["check", "--claim", "w5=abc"]) == 2
    assert capsys.readouterr().err == "derive: cannot read claim 'w5=abc': 'abc' is not a number\n"


def test_claim_text_is_kind_and_precise(capsys):
    main(["check", "--claim", "dE_total/dw6=0.082167041"])
    out = capsys.readouterr().out
    assert out == (
        "Your dE_total/dw6 = 0.082167041: not correct. The correct value is 0.0826676278.\n"
        "  Your number is exactly what this slip gives: the value of dE_total/dw5 given for dE_total/dw6 (0.0821670406).\n"
        "  How it is derived:\n"
        "    dnet_o1/dw6 = d/dw6 (w5 * out_h1 + w6 * out_h2 + b2)\n"
        "        = out_h2\n"
        "        = 0.596884378\n"
        "    dE_total/dw6 = dE_total/dout_o1 * dout_o1/dnet_o1 * dnet_o1/dw6\n"
        "        = 0.741365070 * 0.186815602 * 0.596884378\n"
        "        = delta_o1 * out_h2   (delta rule)\n"
        "        = 0.0826676278\n"
        "    w6+ = w6 - eta * dE_total/dw6\n"
        "        = 0.45 - 0.5 * 0.0826676278\n"
        "        = 0.408666186\n"
        "\n"
        "Checks: every gradient agrees by every route (10 of 10 parameters).\n"
        "Published numbers: 33, 5 disagree.\n"
        "(The full report: derive check --verbose.)\n"
    )


def test_the_answer_to_a_claim_comes_first_and_the_report_with_verbose(capsys):
    main(["check", "--claim", "dE_total/dw6=0.0827", "--verbose"])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Your dE_total/dw6 = 0.0827: correct. It agrees with 0.0826676278 to the 4 decimals you gave."
    assert out[2].startswith("mazur: every gradient by five routes") and "Published numbers (mazur.toml): 33" in "\n".join(out)


def test_a_truncated_number_is_not_called_exactly_one_slip(capsys):
    """0.08216 is dE_total/dw5 = 0.0821670406 cut off, not rounded; a swapped weight gives 0.08216146
    too. With five decimals both fit: both are named, the truncation first, and neither as certain."""
    assert main(["check", "--claim", "dE_total/dw5=0.08216"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [
        "Your dE_total/dw5 = 0.08216: not correct. The correct value is 0.0821670406.",
        "  2 slips give your number to the 5 decimals you gave (with few digits many fit: give more digits to tell "
        "them apart); the simplest first:",
        "    - the correct value 0.0821670406 cut off after the 5 decimals you gave instead of rounded (gives 0.08216)",
        "    - w4 used in place of w3 in the forward pass (gives 0.0821614635)",
    ]
    assert "exactly" not in "\n".join(out)


def test_the_two_slips_behind_a_number(auditor, article):
    """w6 in place of w5 in the forward pass and the 1/2 of the loss dropped, at once (independently:
    the article's output-layer formulas with both slips); no single slip gives it."""
    with mpmath.workdps(60):
        p, oh, t = article["params"], article["oh"], article["t"]
        net = p["w6"] * oh[0] + p["w6"] * oh[1] + p["b2"]
        out = 1 / (1 + mpmath.exp(-net))
        value = printed(2 * (out - t[0]) * out * (1 - out) * oh[0], 9)
    assert not auditor.examine("dE_total/dw5", value).explained
    finding = auditor.examine("dE_total/dw5", value, pairs=True)
    assert [m.key for m in finding.reproducing] == ["half_dropped+swap_forward_w5_w6"]


def test_claims_file_and_json(tmp_path, capsys):
    path = tmp_path / "mine.txt"
    path.write_text("# my hand calculation\nout_h1 = 0.593269992\n\nE_total = 0.596742218  # forgot something?\n")
    assert main(["check", "--claims", str(path), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    first, second = result["claims"]
    assert first["agrees"] and not second["agrees"]
    assert second["mistakes"][0]["variant"] == "half_dropped" and second["mistakes"][0]["reproduces"]
    assert second["derivation"][0] == "E_total = E_o1 + E_o2"
    assert second["derivation_latex"].startswith("\\begin{align*}")


def broken(name: str, derivative):
    """A copy of an activation entry whose derivative rule is wrong (its other forms are right)."""
    entry = ACTIVATIONS[name]
    f = entry.function
    wrong = elementwise(f"Broken{f.__name__}", f.latex_name, derivative, f.elementary, f.float_form, f.mp, f.textbook)
    return dataclasses.replace(entry, function=wrong)


def test_a_broken_derivative_fails_and_names_the_parameters(monkeypatch):
    monkeypatch.setitem(ACTIVATIONS, "logistic", broken("logistic", lambda net, out: out * (1 + out)))
    model = derive.load()
    report = check.run(model)
    assert not report.passed
    failed = {r.parameter for r in report.rows if not r.passed}
    assert failed == set(model.parameters)  # every gradient goes through a logistic derivative
    assert all({"fd_float64", "fd_mpmath", "sympy_diff"} <= set(r.failures) for r in report.rows)


def test_a_broken_hidden_derivative_only_fails_what_it_touches(monkeypatch):
    monkeypatch.setitem(ACTIVATIONS, "tanh", broken("tanh", lambda net, out: 1 + out**2))
    model = derive.Model(derive.parse(ZOO["deep_tanh_relu"], "deep.toml"))
    report = check.run(model)
    failed = {r.parameter for r in report.rows if not r.passed}
    layer1 = {p.name for p in model.network.parameters if p.layer == 1}
    assert failed == layer1  # only the tanh layer's parameters


@pytest.mark.parametrize("name", ["softmax_ce", "bce_mean", "deep_tanh_relu"])
def test_check_passes_on_other_networks(name):
    assert check.run(derive.Model(derive.parse(ZOO[name], f"{name}.toml"))).passed


def test_generic_partial_derivatives_against_finite_differences(reference, auditor):
    """dout_o1/dnet_h1 is no step of the derivation: the grammar differentiates the forward pass.
    Independently: out_o1 as a function of net_h1 alone (out_h2 held fixed), differenced at 60 digits."""
    value = auditor.correct.value("dout_o1/dnet_h1")
    with mpmath.workdps(60):
        spec = reference.spec
        out_h2 = independent.forward(spec, independent.parameters(spec), spec.samples[0].inputs)[0][1][1]

        def out_o1(net_h1):
            net = mp("0.4") / (1 + mpmath.exp(-net_h1)) + mp("0.45") * out_h2 + mp("0.6")
            return 1 / (1 + mpmath.exp(-net))

        h = mp("1e-20")
        fd = (out_o1(mp("0.3775") + h) - out_o1(mp("0.3775") - h)) / (2 * h)
        assert abs(value - fd) < mp("1e-30")


def test_the_documented_audit_table_matches_the_audit(reference):
    from conftest import ROOT

    readme = (ROOT / "docs" / "learners.md").read_text().replace("−", "-")
    wrong = [f for f in reference.published_findings if not f.agrees]
    assert len(wrong) == 5 and all(f.explained for f in wrong)
    for f in wrong:
        from derive.model.decimals import fmt

        assert f"| {f.printed} | {fmt(f.correct)} |" in readme, f.quantity


@pytest.mark.parametrize(("entry", "message"), [
    ('"m_w1@1" = 0.1', "published.'m_w1@1': optimizer 'sgd' has no m (its state: g)"),
    ('"net_h9" = 0.1', "published.'net_h9': unknown quantity 'net_h9' in network mazur (did you mean 'net_h2'?)"),
    ('"w9+" = 0.1', "published.'w9+': unknown quantity 'w9+' in network mazur"),
    ('"g_b1@1" = 0.1', "published.'g_b1@1': b1 is frozen (freeze_biases), so it has no optimizer state"),
    ('"net_h1[2]" = 0.1', "published.'net_h1[2]': 'net_h1[2]': there is 1 sample"),
])
def test_a_published_quantity_the_network_cannot_have_names_the_file_and_key(tmp_path, capsys, entry, message):
    """Every kind of impossible `[published]` quantity: one line naming the file and the key, exit 2,
    from every command that audits (check, html, build)."""
    text = (Path(derive.__file__).parent / "examples" / "mazur.toml").read_text()
    spec = tmp_path / "p.toml"
    spec.write_text(text.replace("[published]", f"[published]\n{entry}", 1))
    for command in (["check", str(spec)], ["html", str(spec), "-o", str(tmp_path / "out")],
                    ["build", str(spec), "-o", str(tmp_path / "out"), "--quiet"]):
        assert main(command) == 2, command
        assert capsys.readouterr().err == f"derive: p.toml: {message}\n", command
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_check_of_a_batch_counts_its_samples_as_every_output_does():
    """A batchnorm network's samples are one pass (the check's rows have no [k]), and its header says so in
    the words of every other output, not "1 sample"; an ordinary network's header is as it was."""
    from conftest import ROOT
    from in_process import derive_cli

    batch = derive_cli("check", str(ROOT / "derive" / "examples" / "batchnorm.toml")).stdout.splitlines()
    assert batch[0] == "batchnorm: every gradient by five routes, 16 parameters x 3 samples, one batch"
    assert derive_cli("check").stdout.splitlines()[0] == "mazur: every gradient by five routes, 10 parameters x 1 sample"
    # --json says it in the same words, beside the one pass its rows count
    checks = json.loads(derive_cli("check", str(ROOT / "derive" / "examples" / "batchnorm.toml"), "--json").stdout)["checks"]
    assert (checks["samples"], checks["described"]) == (1, "3 samples, one batch")
    assert {row["sample"] for row in checks["rows"]} == {1}
    assert json.loads(derive_cli("check", "--json").stdout)["checks"]["described"] == "1 sample"


def test_a_claim_about_a_later_sample_of_a_batch_is_told_how_the_batch_is_named():
    """A batch's samples are one pass, each sample's units named on their own (net_h1_3 is sample 2's first):
    `net_h1_1[2]` is refused (exit 2, one line) with that, not "there is 1 sample"; [1] stays the one pass's."""
    from conftest import ROOT
    from in_process import derive_cli

    spec = str(ROOT / "derive" / "examples" / "batchnorm.toml")
    refused = derive_cli("check", spec, "--claim", "net_h1_1[2]=0.5")
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == ("derive: 'net_h1_1[2]': the batch's 3 samples are one pass, whose quantities take no [k]: "
                              "its units are numbered sample by sample (derive gradients lists them)\n")
    assert derive_cli("check", spec, "--claim", "net_h1_1[1]=0.3775").returncode == 0
    assert derive_cli("check", "--claim", "net_h1[2]=0.5").stderr == "derive: 'net_h1[2]': there is 1 sample\n"
