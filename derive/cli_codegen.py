"""`derive codegen`: gradient code for the network in each target of `derive.render.targets` (plain
Python by default; C with a Python binding, compiled ahead with ``--build``; NumPy; JavaScript)."""

from __future__ import annotations

from pathlib import Path

from derive import Model, __version__, load_spec
from derive.cli_base import EXIT_OK, UsageError, default_output
from derive.model.network import Network
from derive.output import staged, write
from derive.render import targets

TARGETS = tuple(targets.TARGETS)


def add_command(command) -> None:
    described = ", ".join(f"{t.description} ({t.name})" for t in targets.TARGETS.values())
    p = command("codegen", f"Write gradient code for the network: {described}.")
    p.add_argument("--target", choices=TARGETS, default="python", help="the language (default python)")
    one = ", ".join(t.name for t in targets.TARGETS.values() if not t.folder)
    p.add_argument("-o", "--output", metavar="PATH",
                   help=f"{one}: the file (default generated/<name>/"
                   + ", ".join(t.files[0] for t in targets.TARGETS.values() if not t.folder) + "); "
                   + ", ".join(t.name for t in targets.TARGETS.values() if t.folder)
                   + ": the folder (default generated/<name>/)")
    builds = " or ".join(f"--target {t.name}" for t in targets.TARGETS.values() if t.build)
    p.add_argument("--build", action="store_true", help=f"{builds.removeprefix('--target ')}: also compile the "
                   "library now (else on first use)")
    p.add_argument("--force", action="store_true", help="overwrite files that derive did not generate")
    p.set_defaults(run=_codegen)


def _codegen(args) -> int:
    target = targets.TARGETS[args.target]
    if args.build and target.build is None:
        builds = " or ".join(f"--target {t.name}" for t in targets.TARGETS.values() if t.build)
        raise UsageError(f"derive codegen: --build is for {builds}")
    spec = load_spec(args.spec)
    network = Network(spec)
    # loop form reads the network and its entries only: no scalar derivation (8 s at 784-32-10); for
    # straight-line code the model is built, so a spec's own function undefined at its samples is the
    # same one-line error as for the other commands
    loops = targets.loops(target, network)
    derivation = None
    if not loops:
        model = Model(spec)
        network, derivation = model.network, model.derivation
    files = targets.render(target.name, derivation, network, __version__, loops)
    if not target.folder:
        (name, text), = files.items()
        print(f"wrote {write(args.output or default_output(spec, name), text, args.force)}")
        return EXIT_OK
    folder = Path(args.output) if args.output else default_output(spec, "")
    with staged(folder, list(files), args.force) as stage:  # the files together, or none
        for name, text in files.items():
            stage.write(name, text)
        for path in stage.commit():
            print(f"wrote {path}")
        if args.build and target.build is not None:  # inside, so SIGTERM stops the compiler and its scratch is removed
            try:
                built = target.build(folder)
            except RuntimeError as exc:
                raise UsageError(f"derive codegen: {exc}") from None
            print(f"built {built}")
    return EXIT_OK
