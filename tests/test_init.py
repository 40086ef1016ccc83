"""`derive init`: a commented spec to start from, valid, without the example's published numbers;
and the spec writer it shares with the exercises (a spec written back reads as the same network)."""

import tomllib

import pytest
from networks import ZOO

import derive
from derive.cli import main
from derive.render.spec_toml import spec_toml


def test_init_writes_a_commented_valid_spec_without_published_numbers(tmp_path, capsys, reference):
    path = tmp_path / "my_net.toml"
    assert main(["init", str(path)]) == 0
    assert capsys.readouterr().out == f"wrote {path}\n"
    text = path.read_text()
    assert "published" not in text and "# weights: one matrix per non-input layer" in text
    spec = derive.load_spec(path)
    assert spec.name == "my_net" and not spec.published
    assert (spec.layers, spec.weights, spec.biases, spec.samples) == (
        reference.spec.layers, reference.spec.weights, reference.spec.biases, reference.spec.samples)
    assert main(["check", str(path)]) == 0  # no audit of someone else's numbers to fail
    capsys.readouterr()
    assert main(["init", str(path)]) == 2  # a file someone may have edited is never overwritten
    assert capsys.readouterr().err == f"derive: {path}: exists; use --force to overwrite it\n"
    assert main(["init", str(path), "--force", "--like", "mazur"]) == 0


def test_init_names_the_network_after_the_file_only_when_it_can(tmp_path, capsys):
    path = tmp_path / "my net.toml"
    assert main(["init", str(path)]) == 0
    assert derive.load_spec(path).name == "mazur"
    assert main(["init", str(tmp_path / "x.toml"), "--like", "nope"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(ZOO))
def test_a_spec_written_back_is_the_same_network(name):
    spec = derive.parse(ZOO[name], f"{name}.toml")
    again = derive.parse(spec_toml(spec, "# header\n", comments=True, title='a "title"\n'), "again.toml")
    for key in ("layers", "activations", "loss", "bias", "learning_rate", "weights", "biases", "samples",
                "reduction", "freeze_biases", "steps"):
        assert getattr(again, key) == getattr(spec, key), key
    assert again.title == 'a "title"\n'
    assert tomllib.loads(spec_toml(spec))["name"] == spec.name
