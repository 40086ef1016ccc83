"""Helpers to render and import generated modules in tests."""

import importlib.util
import itertools

import derive
from derive.render.code.python import render

_count = itertools.count()


def source(model) -> str:
    return render(model.derivation, derive.__version__)


def load(model, tmp_path):
    path = tmp_path / f"gen_{next(_count)}.py"
    path.write_text(source(model))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


def floats(values):
    return [float(v) for v in values]
