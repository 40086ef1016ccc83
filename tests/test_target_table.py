"""The one table of code targets (`derive.render.code.targets`): `derive codegen` offers exactly its
names, writes exactly the files each entry lists, and the form (straight-line or loops) is chosen by
the table alone."""


import pytest
from conftest import spec_text
from in_process import derive_cli

import derive
from derive import cli_codegen
from derive.model.network import Network
from derive.render.code import loops as loop_rule
from derive.render.code import targets


def test_the_command_offers_every_target_of_the_table():
    assert cli_codegen.TARGETS == tuple(targets.TARGETS) == ("python", "c", "numpy", "javascript")


@pytest.mark.parametrize("name", list(targets.TARGETS))
def test_codegen_writes_the_files_the_table_lists(name, tmp_path, monkeypatch):
    target = targets.TARGETS[name]
    spec = tmp_path / "net.toml"
    spec.write_text(spec_text())
    out = "out" if target.folder else f"out/{target.files[0]}"
    monkeypatch.chdir(tmp_path)
    run = derive_cli("codegen", "net.toml", "--target", name, "-o", out)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(target.files)
    model = derive.Model(derive.parse(spec.read_text(), "net.toml"))
    want = targets.render(name, model.derivation, model.network, derive.__version__)
    for file, text in want.items():
        assert (tmp_path / "out" / file).read_text() == text
    assert text.splitlines()[0].endswith(f"from net.toml (sha256 {model.spec.digest[:16]}).")


def test_the_form_is_chosen_by_the_table():
    small = derive.load().network
    assert [targets.loops(t, small) for t in targets.TARGETS.values()] == [False, False, True, False]
    samples = f"[[samples]]\ninputs = {[0.1] * 40}\ntargets = [0.2, 0.3]\n"
    big = Network(derive.parse(spec_text(layers="[40, 30, 2]", weights=None, biases=None, seed="1", samples=samples),
                               "t.toml"))
    assert len(big.parameters) > loop_rule.LOOP_THRESHOLD
    assert [targets.loops(t, big) for t in targets.TARGETS.values()] == [True, True, True, False]
    with pytest.raises(ValueError, match="the numpy target has no straight-line form"):
        targets.render("numpy", None, small, "0", False)
