"""`derive codegen`: gradient code for the network in each target of `derive.render.code.targets` (plain
Python by default; C with a Python binding, compiled ahead with ``--build``; NumPy; JavaScript)."""

from __future__ import annotations

from derive import load_spec
from derive.cli_base import EXIT_OK, UsageError
from derive.render.code import targets

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
    typed = " and ".join(t.name for t in targets.TARGETS.values() if len(t.dtypes) > 1)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help=f"the number type (default float64); float32 for {typed} (c: source and header only, "
                   "for small devices)")
    p.set_defaults(run=_codegen)


def _codegen(args) -> int:
    from derive.codegen import CodegenError, codegen

    try:
        written = codegen(load_spec(args.spec), args.target, args.output, args.build, args.force, args.dtype)
    except CodegenError as exc:
        raise UsageError(f"derive codegen: {exc}") from None
    for path in written.files:
        print(f"wrote {path}")
    if written.built:
        print(f"built {written.built}")
    return EXIT_OK
