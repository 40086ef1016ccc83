"""The documented limits run in bounded work: a published number after 999,999 steps is computed once
(its slips, each a training run of its own, are not searched past the audit's budget, and the finding
says so), a training run past MAX_TRAINING_WORK is one clear line, and many samples check by finite
differences on an even spread of them and embed the first walkthroughs in the page."""

import pytest
from conftest import spec_text

import derive
from derive.check import audit, routes
from derive.cli import main
from derive.derivation import training
from derive.render.web import html

SAMPLE = "[[samples]]\ninputs = [0.{:02d}, 0.10]\ntargets = [0.01, 0.99]\n"


def test_a_published_number_after_999999_steps_is_audited_without_searching_its_slips(tmp_path, capsys, monkeypatch):
    def no_search(*args, **kwargs):
        raise AssertionError("the variants of a long training run were searched")

    monkeypatch.setattr(audit.Auditor, "_candidates", no_search)
    spec = tmp_path / "t.toml"
    spec.write_text(spec_text() + '\n[published]\n"E_total@999999" = 0.1\n')
    assert main(["check", str(spec), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert ("      the slips were not searched: each would retrain 999999 steps (9,999,990 parameter-sample-steps, "
            "over the audit's 2,000,000)") in out.splitlines()
    model = derive.Model(derive.load_spec(spec))
    # the value audited is the one `derive train --steps 999999` prints
    assert model.published_findings[0].correct == pytest.approx(model.train(999999).error, rel=1e-12)


def test_below_the_budget_the_slips_of_a_training_run_are_searched(monkeypatch):
    searched = []
    real = audit.Auditor._candidates
    monkeypatch.setattr(audit.Auditor, "_candidates", lambda self, *a: searched.append(a[0]) or real(self, *a))
    model = derive.Model(derive.parse(spec_text() + '\n[published]\n"E_total@3" = 0.1\n', "t.toml"))
    finding = model.published_findings[0]
    assert finding.unsearched == "" and [str(q) for q in searched] == ["E_total@3"]


def test_a_training_run_past_the_work_limit_is_one_clear_line(tmp_path, capsys):
    spec = tmp_path / "wide.toml"
    spec.write_text(spec_text(layers="[2, 300, 2]", weights=None, biases=None, seed="1", bias='"per_neuron"'))
    assert main(["train", str(spec), "--steps", "1000000"]) == 2
    assert capsys.readouterr().err == ("derive: wide.toml: 1000000 training steps x 1502 parameters x 1 samples = "
                                       "1,502,000,000; the limit is 200,000,000 (about a minute)\n")
    assert training.MAX_TRAINING_WORK == 200_000_000


def test_many_samples_check_by_differences_on_an_even_spread(monkeypatch):
    monkeypatch.setattr(routes, "FD_SAMPLES", 4)
    text = spec_text(samples="".join(SAMPLE.format(k) for k in range(10)))
    model = derive.Model(derive.parse(text, "t.toml"))
    report = routes.run(model)
    assert report.skipped["fd_samples"] == ("finite differences and sympy.diff on 4 of 10 samples (an even spread); "
                                            "the generated code on every one")
    with_differences = sorted({r.sample for r in report.rows if "fd_mpmath" in r.routes})
    assert with_differences == [0, 2, 5, 7]
    assert len(report.rows) == 10 * 10 and report.passed
    assert all("generated" in r.routes for r in report.rows)


def test_the_page_embeds_the_first_walkthroughs_of_many_samples(monkeypatch):
    monkeypatch.setattr(html, "EMBED_SAMPLES", 2)
    text = spec_text(samples="".join(SAMPLE.format(k) for k in range(3)))
    page = derive.Model(derive.parse(text, "t.toml")).html(9)
    assert ("<p>Samples 3 to 3 take the same steps with their own numbers (the page shows the first 2; every value "
            "is in the tables below and in gradients.txt).</p>") in page
    assert "<h3>Sample 2</h3>" in page
