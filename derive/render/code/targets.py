"""Every code target in one table: its name, the files it writes, how it renders them and how it
builds them. `derive codegen` loops over this table (its ``--target`` choices are its names), and
the form a network's code takes (straight-line or loops) is chosen here and nowhere else.

A new target is one entry: a renderer of the lowered program (`derive.derivation.lowered`) for its
loop form and of the derivation's kernel for its straight-line form, the files it writes, and a build
step if it has one.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from derive.render.code.loops import loop_form

STRAIGHT, LOOPS = "straight", "loops"


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    files: tuple[str, ...]  # the files it writes, by name; the first is the default output of a one-file target
    forms: tuple[str, ...]  # the forms it can print: STRAIGHT (the derivation's steps), LOOPS (the layer program)
    render: Callable[..., dict[str, str]]  # (derivation | None, network, version, loops) -> {file name: text}
    build: Callable[[Path], Path] | None = None  # compile what was written into the folder; the built file
    dtypes: tuple[str, ...] = ("float64",)  # the number types it prints (``--dtype``), the default first

    @property
    def folder(self) -> bool:
        """Whether ``-o`` names a folder (the target writes several files) rather than the file."""
        return len(self.files) > 1


def _python(derivation, network, version: str, loops: bool) -> dict[str, str]:
    if loops:
        from derive.render.code import python_loops

        return {"gradients.py": python_loops.render(network, version)}
    from derive.render.code import python

    return {"gradients.py": python.render(derivation, version)}


def _c(derivation, network, version: str, loops: bool, dtype: str = "float64") -> dict[str, str]:
    from derive.render.code import c

    return c.render(derivation, network, version, loops, dtype)


def _numpy(derivation, network, version: str, loops: bool, dtype: str = "float64") -> dict[str, str]:
    from derive.render.code import numpy_target

    return {"gradients_numpy.py": numpy_target.render(network, version, dtype)}


def _javascript(derivation, network, version: str, loops: bool) -> dict[str, str]:
    from derive.render.code import javascript
    from derive.render.code.header import header

    return {"gradients.js": header("javascript", network.spec, version, "codegen --target javascript", about=True)
            + javascript.render(derivation)}


def _build_c(folder: Path) -> Path:
    """Import the written binding and compile its library (RuntimeError with one line if that fails)."""
    from derive.render.code import c

    binding = folder / c.BINDING
    spec = importlib.util.spec_from_file_location(f"_derive_binding_{binding.parent.name}", binding)
    if spec is None or spec.loader is None:  # a .py file always has both
        raise RuntimeError(f"cannot import {binding}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("python", "plain Python (standard library only)", ("gradients.py",), (STRAIGHT, LOOPS), _python),
    Target("c", "C with a ctypes binding", ("gradients.c", "gradients.h", "gradients_c.py"), (STRAIGHT, LOOPS), _c,
           _build_c, ("float64", "float32")),
    Target("numpy", "NumPy in matrix form", ("gradients_numpy.py",), (LOOPS,), _numpy, None, ("float64", "float32")),
    Target("javascript", "JavaScript (the web page's script)", ("gradients.js",), (STRAIGHT,), _javascript),
)}


def loops(target: Target, network) -> bool:
    """The one choice of form: a target's only form, else loops above `loops.LOOP_THRESHOLD` parameters."""
    if len(target.forms) == 1:
        return target.forms[0] == LOOPS
    return loop_form(network)


def render(name: str, derivation, network, version: str, loops_: bool | None = None,
           dtype: str = "float64") -> dict[str, str]:
    """Target ``name``'s files (file name -> text), byte-identical for the same spec and version;
    ``derivation`` may be None when the form is loops; ``loops_`` forces a form the target has;
    ``dtype`` one of the target's number types (a C source in float32 comes without its binding)."""
    target = TARGETS[name]
    form = loops(target, network) if loops_ is None else loops_
    if (LOOPS if form else STRAIGHT) not in target.forms:
        raise ValueError(f"the {name} target has no {'loop' if form else 'straight-line'} form")
    if dtype not in target.dtypes:
        raise ValueError(f"the {name} target prints {' or '.join(target.dtypes)}, not {dtype}")
    if dtype == target.dtypes[0]:
        return target.render(derivation, network, version, form)
    return target.render(derivation, network, version, form, dtype)
