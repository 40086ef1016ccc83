"""The README is what a newcomer needs, the rest is the documentation site (docs/, MkDocs): its links
resolve, every page is in the site's navigation, and the system packages CI installs are named."""

import os
import re
import shutil
import subprocess

import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_the_readme_is_short_and_starts_with_the_two_commands():
    lines = README.splitlines()
    assert len(lines) <= 145  # what a newcomer needs: the commands, the tour, a worked example of each layer kind
    assert lines[3] == "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e . && derive build"
    assert lines[4] == ("python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[test]' && "
                        "python -m pytest -q")
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[test]' && python -m pytest -q" in (
        ROOT / ".ci" / "run").read_text()


def test_the_readme_uses_derive_init_before_a_spec_of_ones_own():
    tour = README.split("## A short tour")[1]
    assert tour.index("derive init my_net.toml") < tour.index("derive gradients my_net.toml")


def test_every_link_of_the_readme_and_the_docs_resolves():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), (page.name, target)


def test_every_page_is_in_the_sites_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").rglob("*.md"):
        assert str(page.relative_to(ROOT / "docs")) in nav, page


def test_the_readme_names_every_system_package_ci_installs():
    ci = (ROOT / ".ci" / "run").read_text().replace("\\\n", " ")
    installed = {p for line in re.findall(r"apt-get install ([^>\n]+)", ci) for p in line.split() if p[0] != "-"}
    assert {"chromium", "chromium-driver", "gcc", "texlive-latex-extra"} <= installed
    for package in installed:
        assert f"{package}" in README, package


def test_the_site_builds_strictly(tmp_path):
    if shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]'; CI builds the site)")
    run = subprocess.run(["mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(("marker", "example", "count"), [("cnn", "cnn_pool", 2), ("rnn", "rnn", 1),
                                                                  ("lstm", "lstm", 1), ("layernorm", "layernorm", 1), ("batchnorm", "batchnorm", 1),
                                                                  ("residual", "residual", 1), ("attention", "attention", 1)])
def test_the_readmes_worked_examples_are_what_derive_prints(marker, example, count):
    """Each `>>> print(model.explain(q))` of a worked example is followed by lines of that explanation
    (all of them, or as many as its comment says), on the built-in network it names."""
    import derive
    from derive.model.spec import parse

    text = (ROOT / "derive" / "examples" / f"{example}.toml").read_text()
    model = derive.Model(parse(text, f"{example}.toml"))
    block = README.split(f"<!-- {marker}:example:start -->\n```text\n")[1].split(f"```\n<!-- {marker}:example:end -->")[0]
    shown = re.split(r"^>>> ", block, flags=re.M)[1:]
    assert len(shown) == count
    for part in shown:
        prompt, *lines = part.rstrip("\n").split("\n")
        quantity = re.match(r'print\(model\.explain\("([^"]+)"\)\)', prompt)[1]
        printed = str(model.explain(quantity)).splitlines()
        if "lines" in prompt:  # "2 of its lines": consecutive lines of it
            start = printed.index(lines[0])
            assert printed[start:start + len(lines)] == lines
        else:
            assert printed == lines
