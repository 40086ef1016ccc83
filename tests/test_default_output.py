"""Where every command and API function writes when not told: one rule, `derive.output.default_output`
(generated/<name>/...), imported by the CLI and the API alike (the API does not import the CLI)."""

import re
from pathlib import Path

import pytest

import derive
from derive import building
from derive.cli import main
from derive.output import default_output
from derive.render.code import targets

PACKAGE = Path(derive.__file__).resolve().parent


def test_the_rule():
    spec = derive.load().spec
    assert default_output(spec) == Path("generated") / "mazur"
    assert default_output(spec, "exercises") == Path("generated") / "mazur" / "exercises"
    assert default_output(spec, "mazur.tex") == Path("generated/mazur/mazur.tex")


def test_no_module_but_the_rule_spells_the_default_folder():
    """The default folder is written once: no other module of derive builds a path "generated"."""
    spelled = [p.relative_to(PACKAGE).as_posix() for p in sorted(PACKAGE.rglob("*.py"))
               if p.name != "output.py" and re.search(r"""Path\(\s*["']generated""", p.read_text())]
    assert spelled == []


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(building, "engine", lambda: None)  # (no PDF: the folder is what is tested)
    return tmp_path


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("target", list(targets.TARGETS))
def test_codegen_writes_by_the_rule(here, target):
    model = derive.load()
    files = targets.TARGETS[target].files
    written = model.codegen(target).files
    assert [Path(p) for p in written] == [default_output(model.spec, f) for f in files]
    assert main(["codegen", "--target", target, "--force"]) == 0
    assert _files(here) == {default_output(model.spec, f) for f in files}


def test_build_writes_by_the_rule(here):
    model = derive.load()
    assert model.build().folder == default_output(model.spec)
    assert {p.parent for p in _files(here)} == {default_output(model.spec)}


def test_latex_writes_by_the_rule(here):
    spec = derive.load().spec
    assert main(["latex", "--quiet"]) == 0
    assert _files(here) == {default_output(spec, "mazur.tex")}


def test_exercise_writes_by_the_rule(here):
    spec = derive.load().spec
    made = derive.exercise(variants=1, pdf=False, workers=1)
    assert {p.parent for p in map(Path, made.files)} == {default_output(spec, "exercises")}
    assert main(["exercise", "--variants", "1", "--no-pdf", "--force"]) == 0
    assert {p.parent for p in _files(here)} == {default_output(spec, "exercises")}


def test_html_writes_by_the_rule(here):
    spec = derive.load().spec
    assert main(["html"]) == 0
    assert _files(here) == {default_output(spec, "mazur.html")}
