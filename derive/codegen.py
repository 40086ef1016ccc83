"""`derive codegen` as a function: gradient code for a network in one target of
`derive.render.code.targets` (the one table of targets), written into a file or, for a target of several
files, a folder together or not at all, and compiled ahead with ``build`` where the target has a build
step. The command line parses its arguments, calls `codegen` and prints what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from derive.model.network import Network
from derive.model.spec import Spec
from derive.output import default_output, staged, write
from derive.render.code import targets
from derive.render.code.loops import unlowered
from derive.version import __version__


class CodegenError(ValueError):
    """A request the target cannot do (``build`` for one without a build step, a failed compile)."""


@dataclass(frozen=True)
class Written:
    files: list[Path]
    built: Path | None = None  # the compiled library, with ``build``


def codegen(source, target: str = "python", output: str | Path | None = None, build: bool = False,
            force: bool = False, dtype: str = "float64") -> Written:
    """``source`` a `derive.Model` or a `Spec`; ``output`` the file (a one-file target) or the folder
    (default ``generated/<name>/``); ``dtype`` the number type (float32: C and NumPy only)."""
    from derive import Model

    chosen = targets.TARGETS[target]
    if build and chosen.build is None:
        builds = " or ".join(f"--target {t.name}" for t in targets.TARGETS.values() if t.build)
        raise CodegenError(f"--build is for {builds}")
    if dtype not in chosen.dtypes:
        takes = " and ".join(t.name for t in targets.TARGETS.values() if dtype in t.dtypes)
        raise CodegenError(f"--dtype {dtype} is for {takes}; the {target} target prints {chosen.dtypes[0]}")
    if build and dtype != chosen.dtypes[0]:
        raise CodegenError(f"--build is for {chosen.dtypes[0]} (the binding's type); compile a {dtype} source "
                           "with your own build")
    model = source if isinstance(source, Model) else None
    spec: Spec = source.spec if model else source
    network = model.network if model else Network(spec)
    # loop form reads the network and its entries only: no scalar derivation (8 s at 784-32-10); for
    # straight-line code the model is built, so a spec's own function undefined at its samples is the
    # same one-line error as for the other commands
    loops = targets.loops(chosen, network)
    if loops and unlowered(network):
        raise CodegenError(f"the {chosen.name} target is written in loop form, which {unlowered(network)}: use "
                           "--target python, c or javascript (straight-line code)")
    derivation = None
    if not loops:
        model = model or Model(spec)
        network, derivation = model.network, model.derivation
    files = targets.render(chosen.name, derivation, network, __version__, loops, dtype)
    default = default_output(spec)
    if not chosen.folder:
        (name, text), = files.items()
        return Written([write(output or default / name, text, force)])
    folder = Path(output) if output else default
    with staged(folder, list(files), force) as stage:  # the files together, or none
        for name, text in files.items():
            stage.write(name, text)
        written = stage.commit()
        if not build or chosen.build is None:
            return Written(written)
        try:  # inside, so SIGTERM stops the compiler and its scratch is removed
            return Written(written, chosen.build(folder))
        except RuntimeError as exc:
            raise CodegenError(str(exc)) from None
