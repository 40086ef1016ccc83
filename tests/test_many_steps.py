"""Many numbers after training (``X@N`` in ``[published]``, claims): a float64 run to N continues the
run to the nearest earlier M (#22 class 5: 100 published ``wK@N`` took minutes, one run each from
step 0 for the correct computation and for every variant). Continuing must give the same floats as a
fresh run, for every optimizer, mini-batch and shuffle, and the audit must train each computation once."""

import pytest
from conftest import spec_text

import derive
from derive.derivation import training
from derive.model import optimizers

SAMPLES = "".join(f"[[samples]]\ninputs = [{a}, {b}]\ntargets = [{c}, {d}]\n"
                  for a, b, c, d in [(0.05, 0.1, 0.01, 0.99), (0.5, -0.3, 0.2, 0.7), (-1.0, 0.4, 0.9, 0.1)])
TABLES = {name: f'optimizer = "{name}"\nlearning_rate = 0.05\nweight_decay = 0.01\nbatch_size = 2\nshuffle = true'
          for name in optimizers.OPTIMIZERS}
TABLES["sgd_single_sample"] = "learning_rate = 0.5"


def _model(tmp_path, table: str, samples: str = SAMPLES):
    path = tmp_path / "net.toml"
    path.write_text(spec_text(learning_rate=None, samples=samples, seed="4") + f"\n[training]\n{table}\n")
    return derive.load(path)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_continued_run_is_the_same_floats_as_a_fresh_one(tmp_path, name):
    samples = SAMPLES if name != "sgd_single_sample" else "[[samples]]\ninputs = [0.05, 0.1]\ntargets = [0.01, 0.99]\n"
    model = _model(tmp_path, TABLES[name], samples)
    fresh = training.train(model.module, model.spec, 37, history=False)
    middle = training.train(model.module, model.spec, 12, history=False)
    continued = training.train(model.module, model.spec, 37, history=False, start=middle)
    assert continued.parameters == fresh.parameters  # exactly: the same operations in the same order
    assert continued.state == fresh.state
    assert (continued.error, continued.error_before, continued.error_after_first) == (
        fresh.error, fresh.error_before, fresh.error_after_first)
    again = training.train(model.module, model.spec, 12, history=False)
    assert again.parameters == middle.parameters  # the run continued from was not changed


def test_a_continued_run_refuses_going_back(tmp_path):
    model = _model(tmp_path, TABLES["adam"])
    later = training.train(model.module, model.spec, 20, history=False)
    with pytest.raises(ValueError, match="goes forward"):
        training.train(model.module, model.spec, 10, history=False, start=later)


def test_the_audit_trains_each_computation_once_for_many_published_numbers(tmp_path, monkeypatch):
    """Fifty ``w1@N`` in a shuffled order: every computation (the correct one and each variant) runs
    at most to the largest N in total, never once per N from step 0."""
    steps = [700 + 37 * ((k * 23) % 50) for k in range(50)]
    published = "".join(f'"w{1 + k % 8}@{n}" = 0.1{k:02d}\n' for k, n in enumerate(steps))
    path = tmp_path / "many.toml"
    path.write_text(spec_text() + "\n[published]\n" + published)
    trained: list[int] = []
    real = training.train

    def counting(module, spec, steps, *args, start=None, **kwargs):
        trained.append(steps - (start.steps if start else 0))
        return real(module, spec, steps, *args, start=start, **kwargs)

    monkeypatch.setattr("derive.check.resolve.train", counting)
    model = derive.load(path)
    findings = model.published_findings
    assert [str(f.quantity) for f in findings] == [f"w{1 + k % 8}@{n}" for k, n in enumerate(steps)]  # file order
    computations = 1 + len(model.auditor.variants)
    assert sum(trained) <= computations * (max(steps) + 1), (sum(trained), computations)
    assert all(f.correct == derive.load(path).value(f"w{1 + k % 8}@{n}")
               for k, (f, n) in enumerate(zip(findings, steps, strict=True)) if k % 10 == 0)


def test_an_exercise_s_training_is_limited_over_all_its_variants(capsys):
    """30 variants of E_total@1000000 are 30 runs of a million steps (minutes): refused in one line."""
    from derive.cli import main

    assert main(["exercise", "--ask", "E_total@1000000", "--no-pdf", "-o", "/nonexistent/never"]) == 2
    assert capsys.readouterr().err == (
        "derive: --ask 'E_total@1000000': 30 variants x 1,000,000 steps x 10 parameters x 1 sample = 300,000,000 "
        "steps of training; the limit is 200,000,000 (about a minute): ask fewer variants or fewer steps\n")


def test_an_exercise_searches_the_slips_of_a_trained_value_only_within_the_shared_budget():
    """Each slip of E_total@N retrains N steps, in every variant: searched for one variant, not for a
    hundred (whose searches together pass the audit's budget); the question says which."""
    from derive.check.audit import SEARCH_BUDGET
    from derive.teaching.exercise import questions

    model = derive.load(None)
    q = model.quantity("E_total@5000")
    work = 5000 * len(model.parameters)
    assert work <= SEARCH_BUDGET < 100 * work
    (alone,) = questions(model, [q], 4, variants=1)
    (shared,) = questions(model, [q], 4, variants=100)
    assert alone.unsearched == ""
    assert shared.unsearched == ("the slips were not searched: each would retrain 5000 steps (50,000 "
                                 "parameter-sample-steps, over the audit's 2,000,000 shared by 100 variants)")
    assert alone.value == shared.value == model.value(q)
