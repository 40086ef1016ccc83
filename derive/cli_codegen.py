"""`derive codegen`: gradient code for the network, as plain Python (the default), C with a Python
binding (``--target c``, compiled ahead with ``--build``) or NumPy (``--target numpy``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from derive import Model, __version__, load_spec
from derive.cli_base import EXIT_OK, UsageError, default_output
from derive.model.network import Network
from derive.output import staged, write
from derive.render.loops import loop_form

TARGETS = ("python", "c", "numpy")


def add_command(command) -> None:
    p = command("codegen", "Write gradient code for the network: plain Python (standard library only), C with a "
                "ctypes binding, or NumPy in matrix form.")
    p.add_argument("--target", choices=TARGETS, default="python", help="the language (default python)")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="python, numpy: the file (default generated/<name>/gradients.py, gradients_numpy.py); "
                   "c: the folder (default generated/<name>/)")
    p.add_argument("--build", action="store_true", help="c: also compile the library now (else on first use)")
    p.add_argument("--force", action="store_true", help="overwrite files that derive did not generate")
    p.set_defaults(run=_codegen)


def _codegen(args) -> int:
    if args.build and args.target != "c":
        raise UsageError("derive codegen: --build is for --target c")
    spec = load_spec(args.spec)
    network = Network(spec)
    # loop form (and numpy) read the network and its entries only: no scalar derivation (8 s at 784-32-10);
    # below the threshold the model is built for every target, so a spec's own function undefined at
    # its samples is the same one-line error as for the other commands
    derivation = None
    if not loop_form(network):
        model = Model(spec)
        network, derivation = model.network, model.derivation
    if args.target == "c":
        from derive.render import c

        folder = Path(args.output) if args.output else default_output(spec, "")
        files = c.render(derivation, network, __version__)
        with staged(folder, list(files), args.force) as stage:  # the three files together, or none
            for name, text in files.items():
                stage.write(name, text)
            for path in stage.commit():
                print(f"wrote {path}")
            if args.build:  # inside, so SIGTERM stops the compiler and its scratch is removed
                print(f"built {_build(folder / c.BINDING)}")
        return EXIT_OK
    if args.target == "numpy":
        from derive.render import numpy_target

        path = write(args.output or default_output(spec, "gradients_numpy.py"),
                     numpy_target.render(network, __version__), args.force)
    else:
        from derive.render import python

        path = write(args.output or default_output(spec, "gradients.py"),
                     python.render_any(derivation, network, __version__), args.force)
    print(f"wrote {path}")
    return EXIT_OK


def _build(binding: Path) -> Path:
    """Import the written binding and compile its library: exit 2 with one line if that fails."""
    spec = importlib.util.spec_from_file_location(f"_derive_binding_{binding.parent.name}", binding)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.build()
    except RuntimeError as exc:
        raise UsageError(f"derive codegen: {exc}") from None
