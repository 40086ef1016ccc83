"""`derive build` renders the generated Python once: the file it writes and the module its check
runs are the same text (rendering 64-64-64's 93,000 lines twice cost 1.7 s, issue #28)."""

import derive
from derive import building
from derive.render.code import python

SPEC = """name = "once"
layers = [2, 3, 2]
activation = "logistic"
loss = "half_sse"
bias = "per_neuron"
learning_rate = 0.5
seed = 2
[[samples]]
inputs = [0.05, 0.1]
targets = [0.01, 0.99]
"""


def test_build_renders_the_module_once_and_checks_the_text_it_wrote(tmp_path, monkeypatch):
    renders = []
    original = python.render

    def counted(*args, **kwargs):
        renders.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(python, "render", counted)
    monkeypatch.setattr(building, "render_python", counted)
    monkeypatch.setattr(building, "engine", lambda: None)  # no PDF: LaTeX is not what this is about
    model = derive.Model(derive.parse(SPEC))
    built = model.build(tmp_path / "out")
    assert len(renders) == 1
    assert built.check.checks.passed and built.check.checks.checked == len(model.parameters)
    written = (tmp_path / "out" / "gradients.py").read_text()
    namespace = {}
    exec(compile(written, "<written>", "exec"), namespace)
    sample = model.spec.samples[0]
    x, t = [float(v) for v in sample.inputs], [float(v) for v in sample.targets]
    params = dict(namespace["INITIAL"])
    assert model.module.gradient(params, x, t) == namespace["gradient"](params, x, t)
    assert model.module.__name__ == "derive_generated_once"


def test_a_module_compiled_before_the_build_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(building, "engine", lambda: None)
    model = derive.Model(derive.parse(SPEC))
    module = model.module
    model.build(tmp_path / "out")
    assert model.module is module
