"""The generated module in memory (`derive.render.code.in_memory`): its ``train_step`` compiled on its
first call, not with the rest (a third of compiling 64-64-64's module, and the check never calls it),
and then the very function compiling the whole text gives: the same code at the same lines, the same
results, the same traceback."""

from __future__ import annotations

import traceback
import types

import pytest
from networks import ZOO

import derive
from derive.render.code import in_memory
from derive.render.code.python import compile_module, render


def _whole(source: str, name: str) -> types.ModuleType:
    module = types.ModuleType(f"derive_generated_{name}")
    exec(compile(source, f"<generated {name}>", "exec"), module.__dict__)
    return module


def _deferred(module) -> bool:
    return module.__dict__["train_step"].__code__.co_filename == in_memory.__file__


@pytest.mark.parametrize("name", ["mazur", "deep_tanh_relu", "softmax_ce", "bce_mean"])
def test_train_step_is_compiled_when_called_and_is_the_whole_texts(name):
    model = derive.Model(derive.load_spec() if name == "mazur" else derive.parse(ZOO[name]))
    source = render(model.derivation, derive.__version__)
    whole, module = _whole(source, model.spec.name), compile_module(model.derivation, derive.__version__)
    assert _deferred(module)  # not compiled with the rest
    held = module.train_step  # a reference taken before the first call
    sample = model.spec.samples[0]
    x, t = [float(v) for v in sample.inputs], [float(v) for v in sample.targets]
    assert held(whole.INITIAL, x, t) == whole.train_step(whole.INITIAL, x, t)
    assert not _deferred(module)
    compiled, expected = module.train_step.__code__, whole.train_step.__code__
    assert compiled.co_firstlineno == expected.co_firstlineno and compiled.co_code == expected.co_code
    assert module.train_step.__doc__ == whole.train_step.__doc__ and module.train_step.__name__ == "train_step"
    assert held(whole.INITIAL, x, t) == module.train_step(whole.INITIAL, x, t)  # (compiled once: the same)
    assert module.train_step is not held and module.__dict__["train_step"].__code__ is compiled
    # every other function is the whole text's, line for line
    for function in ("forward", "loss", "gradient", "train"):
        assert getattr(module, function).__code__.co_firstlineno == getattr(whole, function).__code__.co_firstlineno
    data = [(x, t)]
    assert (_deferred_train(compile_module(model.derivation, derive.__version__), data)
            == whole.train(whole.INITIAL, data, 3))


def _deferred_train(module, data):
    """``train`` calls train_step by its global name: the first call compiles it there too."""
    assert _deferred(module)
    return module.train(module.INITIAL, data, 3)


def test_a_traceback_through_it_reads_as_the_whole_texts():
    model = derive.load()
    source = render(model.derivation, derive.__version__)

    def where(module):
        try:
            module.train_step(module.INITIAL, [0.05], [0.01, 0.99])  # an input short: its check raises
        except ValueError as error:
            return [(frame.filename, frame.lineno, frame.name) for frame in traceback.extract_tb(error.__traceback__)
                    if frame.filename.startswith("<generated")]
        raise AssertionError("no error")

    found = where(compile_module(model.derivation, derive.__version__))
    assert found == where(_whole(source, model.spec.name)) and found[0][2] == "train_step"


@pytest.mark.parametrize("between", ["X = 1\n", "# a comment\n", "@staticmethod\n"])
def test_a_text_it_cannot_split_surely_is_compiled_whole(between):
    """Anything at the top level between train_step and the next ``def`` (not a generated module's
    layout): the whole text compiled at once, as before."""
    source = render(derive.load().derivation, derive.__version__)
    at = source.index("\ndef train(") + 1
    module = in_memory.compiled(source[:at] + between + source[at:], "n")
    assert not _deferred(module)
    assert in_memory.compiled(source.replace("def train_step(", "def step("), "n").__dict__["step"]
    several = source.replace("import math\n", "from math import (\n    exp,\n)\nimport math\n", 1)
    assert several != source and not _deferred(in_memory.compiled(several, "n"))


def test_the_build_compiles_the_text_it_writes_so():
    """`derive build`'s check runs the gradients.py it writes, compiled the same way."""
    from derive.building import _compiled

    source = render(derive.load().derivation, derive.__version__)
    module = _compiled(source, "mazur")
    assert _deferred(module) and module.loss(module.INITIAL, [0.05, 0.1], [0.01, 0.99]) > 0
