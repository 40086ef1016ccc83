"""The shape of the code: layers that import only downwards, short modules, and no module outside
the registry that names a particular activation or loss."""

import ast
import re
from pathlib import Path

import pytest
from conftest import ROOT

from derive.model.registry import ACTIVATIONS, ALIASES, LOSSES

PACKAGE = ROOT / "derive"
LAYERS = {"model": 0, "derivation": 1, "render": 2, "check": 3}
UTILITIES = {"escape", "output", "progress", "version"}  # import nothing of derive (but escape, which imports nothing)
TOP = 4  # the API (derive/__init__.py) and the command line
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "examples" not in p.parts)


def layer(module: str) -> int:
    """Layer of a dotted module name inside derive (derive.render.latex -> 2)."""
    parts = module.split(".")
    if len(parts) == 1:
        return TOP
    if parts[1] in UTILITIES:
        return -1
    return LAYERS.get(parts[1], TOP)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[str]:
    """Every derive module the file imports, at any depth of the file (lazy imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "derive":
            names = [f"{node.module}.{a.name}" for a in node.names]
            found += [n if layer(n) != TOP or node.module == "derive" else node.module for n in names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "derive"]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_layer_imports_only_from_the_layers_below_it(path):
    me = module_name(path)
    for imported in imports(path):
        target = imported if imported.split(".")[-1] not in ("__version__",) else "derive.version"
        if layer(me) == -1 and (me == "derive.escape" or imported.split(".")[:2] != ["derive", "escape"]):
            pytest.fail(f"{me} is a utility and must import nothing of derive, but imports {imported}")
        assert layer(target) <= layer(me), f"{me} (layer {layer(me)}) imports {imported} (layer {layer(target)})"


def test_the_layer_check_can_fail():
    """The rule above, applied to a made-up upward import."""
    assert layer("derive.check.audit") > layer("derive.model.spec")
    assert layer("derive.render.latex") == 2 and layer("derive.cli") == TOP and layer("derive.output") == -1


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_long(path):
    assert len(path.read_text().splitlines()) <= 400, f"{path.name}: split it by what it does"


def _code_words(path: Path) -> list[str]:
    """Identifiers and string literals of a module, docstrings and comments left out."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append(node.value)
    return words


REGISTERED = sorted({*ACTIVATIONS, *ALIASES, *LOSSES})
REGISTRY = {PACKAGE / "model" / "registry.py", PACKAGE / "model" / "functions.py"}


@pytest.mark.parametrize("path", [p for p in MODULES if p not in REGISTRY], ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_registry_names_a_particular_activation_or_loss(path):
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, REGISTERED)) + r")\b", re.IGNORECASE)
    named = sorted({m.group(0) for word in _code_words(path) for m in pattern.finditer(word)})
    assert not named, f"{path.name} names {named}: ask the registry entry instead"


def test_the_names_check_sees_code_and_not_documentation(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""About tanh."""\n\n\ndef f(a):\n    """Of relu."""\n    return a.kind == "mse"  # logistic\n')
    assert sorted(_code_words(sample)) == ["a", "kind", "mse"]


@pytest.mark.parametrize("path", sorted((ROOT / "templates").glob("*.j2")), ids=lambda p: p.name)
def test_templates_receive_no_raw_input(path):
    """Templates get escaped text and printed code only: never the spec itself."""
    assert not re.search(r"(<<|\{\{|<%|\{%)[^\n]*\bspec\b", path.read_text()), path.name


#: What a `Model` computes on demand (a value, training, an explanation, the check, the audit): the
#: caller computes these and passes the results down; a renderer only reads (tests/test_data_down.py).
COMPUTING = {"value", "train", "training_comparisons", "explain", "claim", "after_training", "published_findings",
             "published_notes", "resolver", "auditor", "module", "check", "build", "quantity", "settings", "html",
             "latex", "latex_quantity", "gradients"}
RENDERERS = [*sorted((PACKAGE / "render").glob("*.py")), PACKAGE / "notebook.py"]


def _model_calls(path: Path) -> list[str]:
    """``model.<computing>`` (or ``self.model.<computing>``) anywhere in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in COMPUTING:
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if name == "model":
                found.append(f"model.{node.attr} (line {node.lineno})")
    return found


@pytest.mark.parametrize("path", RENDERERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_renderer_asks_the_model_to_compute_nothing(path):
    assert not _model_calls(path), f"{path.name}: pass the values down instead of {_model_calls(path)}"


def test_the_model_calls_check_can_fail(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def rows(model, q):\n    return [model.value(q), model.evaluation, self.model.explain(q)]\n")
    assert _model_calls(sample) == ["model.value (line 2)", "model.explain (line 2)"]
