"""Helpers to write, compile and import the C and NumPy targets in tests."""

import importlib.util
import itertools
import shutil

import pytest

import derive
from derive.render import c, numpy_target

_count = itertools.count()
needs_cc = pytest.mark.skipif(not shutil.which("cc") and not shutil.which("gcc"), reason="no C compiler here")


def _import(path):
    spec = importlib.util.spec_from_file_location(f"{path.stem}_{next(_count)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def c_files(model, loops=None) -> dict[str, str]:
    derivation = None if loops or (loops is None and c.loop_form(model.network)) else model.derivation
    return c.render(derivation, model.network, derive.__version__, loops)


def load_c(model, tmp_path, loops=None):
    folder = tmp_path / f"c_{next(_count)}"
    folder.mkdir()
    for name, text in c_files(model, loops).items():
        (folder / name).write_text(text)
    return _import(folder / c.BINDING)


def load_numpy(model, tmp_path):
    path = tmp_path / f"np_{next(_count)}.py"
    path.write_text(numpy_target.render(model.network, derive.__version__))
    return _import(path)
