"""benchmarks/validate_torch_rnn.py (issue #26): its draws cover the networks it says it draws, its
rows agree with PyTorch on the issue's network and a random stacked one in the engine and every code
target, and it reports a difference when there is one."""

import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
import validate_torch_rnn as v


def _rows(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| network")]


def test_the_draws_cover_what_the_script_says():
    """Over 200 seeds: 1-2 rnn layers of hidden 1-4, tanh and relu, 1-6 steps of 1-3 features, "all"
    and "last", with and without bias, 1-3 samples; targets a row per step with "all", one with "last"."""
    seen = {k: set() for k in ("layers", "hidden", "activation", "steps", "features", "output", "bias", "samples")}
    for seed in range(200):
        t = tomllib.loads(v.draw(seed))
        rnns = [layer for layer in t["layer"] if layer["type"] == "rnn"]
        steps, features = t["input"]
        seen["layers"].add(len(rnns))
        seen["hidden"] |= {layer["hidden_size"] for layer in rnns}
        seen["activation"] |= {layer["activation"] for layer in rnns}
        seen["steps"].add(steps)
        seen["features"].add(features)
        seen["output"].add(t["sequence_output"])
        seen["bias"] |= {layer["bias"] != "none" for layer in t["layer"]}
        seen["samples"].add(len(t["samples"]))
        rows = steps if t["sequence_output"] == "all" else 1
        assert all(len(s["inputs"]) == steps and len(s["targets"]) == rows for s in t["samples"]), seed
    assert seen == {"layers": {1, 2}, "hidden": {1, 2, 3, 4}, "activation": {"tanh", "relu"},
                    "steps": set(range(1, 7)), "features": {1, 2, 3}, "output": {"all", "last"},
                    "bias": {True, False}, "samples": {1, 2, 3}}


def test_the_issues_network_and_a_stacked_one_agree_everywhere(capsys):
    """The issue's network ("all", "last") and draw 0 (two relu rnn layers, three samples): the engine
    and the Python and NumPy targets within 1e-12 of PyTorch, exit 0 (the C target, compiled, is left
    out here for time: tests/test_rnn.py compares it with the engine on these networks)."""
    assert v.main(["1", "--seed", "0", "--no-c"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert [r[0] for r in rows] == ["issue all", "issue last", "random0"]
    assert rows[2][1] == "4x2 rnn4relu rnn1relu lin2 all n3"
    for r in rows:
        errors = [float(c) for c in r[3:7]]  # engine, python, python loops, numpy
        assert len(r) == 9 and max(errors) <= 1e-12 and r[-1] == "agrees", r
    assert "3 of 3 networks agree with PyTorch to 1e-12" in out


def test_a_difference_is_reported(capsys, monkeypatch):
    """PyTorch's answer moved by 1e-9 in one gradient: the row differs, with the error shown, exit 1."""
    reference = v.rec.reference

    def moved(text):
        found = reference(text)
        first = next(iter(found["gradients"]))
        found["gradients"][first] *= 1 + 1e-9
        return found

    monkeypatch.setattr(v.rec, "reference", moved)
    assert v.main(["0", "--no-c"]) == 1
    rows = _rows(capsys.readouterr().out)
    assert [r[-1] for r in rows] == ["DIFFERS", "DIFFERS"]
    assert all(1e-10 < float(r[3]) < 1e-8 for r in rows)


def test_a_network_of_one_step_agrees_in_the_python_target(tmp_path):
    text = v.draw(2)  # 1 step of 1 feature, rnn 3 relu, linear 2
    assert tomllib.loads(text)["input"] == [1, 1]
    row = v.run("one step", text, tmp_path, [("python", "python", False)])
    assert row["status"] == "agrees", row["status"]


def test_the_scale_benchmarks_network_is_the_issues(tmp_path):
    """benchmarks/rnn_scale.py: hidden 16 over 20 steps of 8 features, a linear output of 1 at every
    step: W_ih 16x8, W_hh 16x16, 16 biases, then 16 weights and a bias, 417 parameters."""
    import rnn_scale

    path = tmp_path / "rnn_scale.toml"
    path.write_text(rnn_scale.spec_text())
    t = tomllib.loads(path.read_text())
    assert (t["input"], t["sequence_output"], [len(r) for r in t["samples"][0]["targets"]]) == ([20, 8], "all", [1] * 20)
    assert rnn_scale.readable(path) == (None, 16 * 8 + 16 * 16 + 16 + 16 + 1)


def test_a_long_sequence_is_written_in_loop_form_and_a_dense_network_as_before(tmp_path):
    """The scale network's 417 parameters make 8,084 terms (W_hh at every step): its code is in loop form
    (its straight-line C took gcc 42 s); a dense network of 403 parameters stays straight-line."""
    import rnn_scale

    import derive
    from derive.render.code.loops import loop_form

    path = tmp_path / "rnn_scale.toml"
    path.write_text(rnn_scale.spec_text())
    network = derive.load(path).network
    assert sum(map(len, network.net_terms.values())) == 8084 and loop_form(network)
    assert not loop_form(derive.load(Path(__file__).parent.parent / "benchmarks" / "net_4_16_16_3.toml").network)


@pytest.mark.parametrize("output", ["page", "document"])
def test_a_network_of_one_step_has_a_page_and_a_document(output):
    """It renders (the content is checked on other networks elsewhere); W_hh's gradients are 0, as
    PyTorch's (h_0 = 0 is all W_hh multiplies)."""
    import derive
    from derive.render.tex.latex import document

    model = derive.Model(derive.parse(v.draw(2), "one_step.toml"))
    assert all(model.gradients()[f"w{k}"] == 0 for k in range(4, 13))  # W_hh: 3x3, after W_ih's 3
    text = model.html(check=False) if output == "page" else document(model, derive.__version__)
    assert "w4" in text or "w_{4}" in text


def test_the_scale_benchmarks_lstm_is_the_issues(tmp_path):
    """benchmarks/rnn_scale.py --kind lstm: hidden 16 over 20 steps of 8 features, a linear output of 1
    at every step (W_ih 64x8, W_hh 64x16, 64 biases, then 16 weights and a bias); each step's 96 units."""
    import rnn_scale

    import derive

    path = tmp_path / "lstm_scale.toml"
    path.write_text(rnn_scale.spec_text("lstm"))
    assert rnn_scale.readable(path) == (None, 64 * 8 + 64 * 16 + 64 + 16 + 1)
    assert derive.load_spec(path).layers[1] == 20 * 6 * 16
