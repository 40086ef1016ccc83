"""API first: `Model.check()`, `Model.build(path)` and `derive.grade(...)` do what `derive check`,
`derive build` and `derive grade` do; the command line parses its arguments, calls them and prints.
Each is compared with the command's own output for the same input."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT
from networks import ZOO

import derive
import derive.model.decimals
from derive.check.results import CheckResult
from derive.cli import main
from derive.render.check_text import as_text
from derive.teaching import grade_report
from derive.teaching.grade import SheetError


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "bce_mean.toml"
    path.write_text(ZOO["bce_mean"])
    return path


def claims(model) -> list[str]:
    """A right number and a wrong one that one slip reproduces (its correct value cut off, not
    rounded): the verdicts without the long search for pairs of slips."""
    total = derive.model.decimals.plain(model.value("E_total"), 6)
    gradient = float(model.value("dE_total/dw1"))
    cut = f"{gradient:.12f}"[:9] if gradient >= 0 else f"{gradient:.12f}"[:10]
    return [f"E_total={total}", f"dE_total/dw1={cut}"]


def test_model_check_is_derive_check(small, capsys):
    """The same JSON byte for byte, the same text, the same exit status; typed underneath."""
    model = derive.load(small)
    mine = claims(model)
    argv = ["check", str(small), "--quiet"] + [a for claim in mine for a in ("--claim", claim)]
    code = main([*argv, "--json"])
    cli_json = capsys.readouterr().out
    assert main([*argv, "--verbose"]) == code
    cli_text = capsys.readouterr().out
    result = model.check(mine)
    assert isinstance(result, CheckResult) and result.checks.passed and len(result.claims) == 2
    assert result.as_json() == cli_json and json.loads(cli_json) == result.as_dict()
    assert as_text(result, verbose=True) == cli_text
    assert result.exit_status(strict=False) == code == 1  # the second claim is wrong
    assert [c.finding.agrees for c in result.claims] == [True, False]
    assert result.claims[1].finding.reproducing[0].key == "truncated"


def test_model_check_takes_quantity_value_pairs_and_can_skip_the_routes(small):
    model = derive.load(small)
    by_text = model.check(["dE_total/dw1=0.1"], routes=False)
    by_pair = model.check([("dE_total/dw1", "0.1")], routes=False)
    assert by_text.checks is None and "checks" not in by_text.as_dict()
    assert by_pair.as_json() == by_text.as_json()


def test_model_check_refuses_a_bad_claim_with_the_commands_message(small, capsys):
    with pytest.raises(derive.QuantityError) as caught:
        derive.load(small).check(["dE_total/dw99=1"])
    assert main(["check", str(small), "--claim", "dE_total/dw99=1"]) == 2
    assert capsys.readouterr().err == f"derive: {caught.value}\n"


def test_model_build_is_derive_build(tmp_path):
    """The API's build of the reference network writes the committed generated/mazur/ files, which
    `derive build` writes (tests/test_build.py); the PDF is compared by its presence."""
    built = derive.load().build(tmp_path / "out", progress=None)
    committed = sorted(p.name for p in (ROOT / "generated" / "mazur").iterdir())
    assert sorted(p.name for p in built.files) == committed and built.folder == tmp_path / "out"
    for path in built.files:
        assert path.parent == built.folder and path.exists()
        if path.suffix != ".pdf":
            assert path.read_bytes() == (ROOT / "generated" / "mazur" / path.name).read_bytes(), path.name
    assert built.check.checks.passed and built.check.exit_status(strict=False) == 0


def test_derive_grade_is_derive_grade(tmp_path, capsys):
    sheet = tmp_path / "sheet.txt"
    sheet.write_text("out_h1 = 0.5933\nnet_h2 = 0.3950  # w4 for w3\nout_h2 = 0.5975\nw5+ = 0.3589\n")
    code = main(["grade", str(sheet), "--json"])
    cli_json = capsys.readouterr().out
    marking = derive.grade(None, sheet)
    assert marking.as_json() == cli_json and code == grade_report.exit_status(marking) == 1
    assert json.loads(cli_json)["score"]["of"] == 4
    assert main(["grade", str(sheet)]) == 1
    assert capsys.readouterr().out == grade_report.as_text(marking, "mazur", "sheet.txt")
    assert derive.grade(derive.load(), sheet).as_json() == cli_json  # a Model, or a spec's path


def test_derive_grade_refuses_an_unreadable_sheet(tmp_path, capsys):
    sheet = tmp_path / "sheet.txt"
    sheet.write_text("this is not a sheet\n")
    with pytest.raises(SheetError) as caught:
        derive.grade(None, sheet)
    assert main(["grade", str(sheet)]) == 2
    assert capsys.readouterr().err == f"derive grade: {caught.value}\n"


@pytest.mark.parametrize("target", ["python", "c", "numpy", "javascript"])
def test_model_codegen_is_derive_codegen(small, tmp_path, target, capsys):
    """The same files, byte for byte, as the command writes, for every target of the table."""
    from derive.render.code import targets

    by_api, by_cli = tmp_path / "api", tmp_path / "cli"
    one = not targets.TARGETS[target].folder
    name = targets.TARGETS[target].files[0]
    written = derive.load(small).codegen(target, by_api / name if one else by_api)
    assert main(["codegen", str(small), "--target", target, "-o", str(by_cli / name if one else by_cli)]) == 0
    assert capsys.readouterr().out == "".join(f"wrote {p}\n" for p in written.files).replace(str(by_api), str(by_cli))
    api = {p.name: p.read_bytes() for p in sorted(by_api.iterdir())}
    assert api == {p.name: p.read_bytes() for p in sorted(by_cli.iterdir())}
    assert sorted(api) == sorted(targets.TARGETS[target].files)


def test_model_codegen_refuses_a_build_the_target_has_not(small, tmp_path):
    from derive.codegen import CodegenError

    with pytest.raises(CodegenError, match=r"^--build is for --target c$"):
        derive.load(small).codegen("python", tmp_path / "g.py", build=True)
    assert not (tmp_path / "g.py").exists()
