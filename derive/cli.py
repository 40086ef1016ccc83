"""The `derive` command: a thin layer over the Python API.

Exit status: 0 ok, 1 a failure (a check that fails, an unexpected error), 2 bad input. Every error is
one line on stderr, never a traceback (set DERIVE_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from derive import Model, SpecError, __version__, cli_codegen, cli_teaching, collector, load_spec
from derive.cli_base import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    Parser,
    UsageError,
    digits,
    step_count,
    whole,
)
from derive.escape import path_text, text_line
from derive.model import optimizers
from derive.model import quantities as Q
from derive.model.decimals import fmt
from derive.model.proven import require_balls
from derive.model.quantities import QuantityError
from derive.model.reading import ReadError
from derive.output import OutputError, default_output, staged, write
from derive.render import text as report
from derive.render.tex.pdf import LatexError, compile_pdf


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="derive",
        description="Backpropagation derived exactly, step by step: symbolic gradients of every weight "
        "and bias, their values, LaTeX derivations, plain-Python gradient code and checks.",
        epilog="SPEC is a network description (TOML); without it, the built-in reference network of "
        "'A Step by Step Backpropagation Example' is used. Exit status: 0 ok, 1 failure, 2 bad input.",
    )
    parser.add_argument("--version", action="version", version=f"derive {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    def command(name, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("spec", nargs="?", metavar="SPEC", help="network description (default: built-in example)")
        p.add_argument("--quiet", action="store_true", help="no progress on stderr (it shows only on a terminal)")
        return p

    p = command("build", "The main job: gradients table, generated code, check, web page, LaTeX document and PDF, "
                "written under generated/<name>/, with a one-screen summary.")
    p.add_argument("-o", "--output", metavar="DIR", help="folder to write into (default: generated/<name>)")
    p.add_argument("--digits", type=digits, default=9, help="significant digits (default 9)")
    p.add_argument("--force", action="store_true", help="overwrite files that derive did not generate")
    p.set_defaults(run=_build)

    p = command("gradients", "Print every number of one step: initial values, net inputs, outputs, errors, every "
                "chain-rule factor and delta, the gradients and the one-step updates.")
    p.add_argument("--quantity", action="append", default=[], metavar="Q",
                   help="print just this quantity, e.g. dE_total/dw5 or E_total@10000 (repeatable)")
    p.add_argument("--digits", type=digits, default=9, help="significant digits (default 9)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=_gradients)

    p = command("train", "Train in float64 (any optimizer, full batch, mini-batches or online) and print E_total "
                "before, after the first and after the last step (or every N steps).")
    p.add_argument("--steps", type=step_count, help="how many steps (default: the spec's steps, else 1)")
    _training_options(p)
    p.add_argument("--every", type=whole(1, 1_000_000), metavar="N", help="also print E_total every N steps")
    p.add_argument("--digits", type=digits, default=9, help="significant digits (default 9)")
    p.add_argument("--json", action="store_true", help="machine-readable output, with the error history")
    p.set_defaults(run=_train)

    cli_codegen.add_command(command)

    p = command("latex", "Write the step-by-step derivation as a LaTeX document (and compile it to PDF).")
    p.add_argument("-o", "--output", metavar="FILE.tex", help="where to write (default: generated/<name>/<name>.tex)")
    p.add_argument("--pdf", action="store_true", help="also compile it to a PDF beside the .tex")
    p.add_argument("--quantity", metavar="Q", help="print only the align block of one quantity, e.g. dE_total/dw5")
    p.add_argument("--digits", type=digits, default=9, help="significant digits (default 9)")
    p.add_argument("--force", action="store_true", help="overwrite files that derive did not generate")
    p.set_defaults(run=_latex)

    p = command("html", "Write the derivation as one self-contained interactive web page (open it in a browser).")
    p.add_argument("-o", "--output", metavar="FILE.html",
                   help="where to write (default: generated/<name>/<name>.html)")
    p.add_argument("--digits", type=digits, default=9, help="significant digits (default 9)")
    p.add_argument("--force", action="store_true", help="overwrite a file that derive did not generate")
    p.set_defaults(run=_html)

    p = command("check", "Check every gradient by independent routes, audit published numbers, check your own numbers.")
    p.add_argument("--claim", action="append", default=[], metavar="Q=VALUE",
                   help="a number of yours to check, e.g. --claim 'dE_total/dw6=0.0827' (repeatable)")
    p.add_argument("--claims", metavar="FILE", help="a file of claims, one 'quantity = value' a line")
    p.add_argument("--strict", action="store_true", help="also fail (exit 1) when a published number disagrees")
    p.add_argument("--verbose", action="store_true",
                   help="with claims, also print the whole report (every route, the audit) after their answers")
    p.add_argument("--digits", type=digits, default=9, help="significant digits (default 9)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=_check)

    cli_teaching.add_commands(sub, command)
    return parser


def _exact(text: str):
    """An argparse type: a number, kept exact as written (0.1 is 1/10)."""
    try:
        return optimizers.exact(text)
    except optimizers.OptionError as exc:  # a spec's limits: 1e999 is no learning rate
        raise argparse.ArgumentTypeError(str(exc)) from None


def _training_options(p) -> None:
    """The flags of the spec's [training] table (derive.model.optimizers): each overrides the spec."""
    p.add_argument("--optimizer", help=optimizers.HELP["optimizer"])
    p.add_argument("--learning-rate", type=_exact, metavar="ETA", help="the learning rate (default: the spec's)")
    p.add_argument("--momentum", type=_exact, metavar="MU", help=optimizers.HELP["momentum"])
    p.add_argument("--betas", type=_exact, nargs=2, metavar=("B1", "B2"), help=optimizers.HELP["betas"])
    p.add_argument("--eps", type=_exact, help=optimizers.HELP["eps"])
    p.add_argument("--weight-decay", type=_exact, metavar="LAMBDA", help="weight decay (default 0)")
    p.add_argument("--batch-size", type=whole(0, 1000), metavar="K",
                   help="samples a step: 0 the full batch (default), 1 online, K mini-batches")
    p.add_argument("--shuffle", action=argparse.BooleanOptionalAction, help="redraw the batches' order each epoch")
    p.add_argument("--seed", type=whole(0, 2**63 - 1), help="the shuffle's seed (default: the spec's seed, else 0)")
    p.add_argument("--update-order", choices=optimizers.UPDATE_ORDERS,
                   help=optimizers.HELP["update_order"])
    p.add_argument("--freeze-biases", action=argparse.BooleanOptionalAction,
                   help="update the weights only, as the article does (default: the spec's freeze_biases)")


def _settings(model, args):
    """The spec's training settings with the command line's options, or one line naming a bad one."""
    given = {key: getattr(args, key) for key in optimizers.OPTIONS if key != "learning_rate"}
    given["learning_rate"] = args.learning_rate
    given["betas"] = tuple(args.betas) if args.betas else None
    try:
        return model.settings(name=lambda key: "--" + key.replace("_", "-"), **given)
    except optimizers.OptionError as exc:
        raise UsageError(f"derive train: {exc}") from None


def _gradients(args) -> int:
    model = Model(load_spec(args.spec))
    if args.quantity:
        values = [(q, model.value(q)) for q in map(model.quantity, args.quantity)]
        print(report.chosen(values, args.digits, args.json), end="")
    else:
        trained = model.after_training()
        print(report.as_json(model, args.digits, trained) if args.json else report.text(model, args.digits, trained),
              end="")
    return EXIT_OK


def _train(args) -> int:
    model = Model(load_spec(args.spec))
    steps = args.steps if args.steps is not None else (model.spec.steps or 1)
    settings = _settings(model, args)
    run = model.train(steps, history=bool(args.json), every=args.every, settings=settings)
    if args.json:
        print(json.dumps({
            "network": model.spec.name, "steps": run.steps, "freeze_biases": run.freeze_biases,
            "E_total@0": run.error_before, "E_total@1": run.error_after_first, f"E_total@{steps}": run.error,
            "outputs": run.outputs, "parameters": run.parameters, "settings": settings.describe(),
            "history": [{"step": s, "E_total": e} for s, e in run.history],
        }, indent=2))
        return EXIT_OK
    rows = [("E_total before training", run.error_before)]
    if run.error_after_first is not None:
        rows.append(("E_total after the first step", run.error_after_first))
    rows += [(f"E_total {Q.after(s)}", e) for s, e in run.history if 1 < s < steps]
    rows.append((f"E_total {Q.after(steps)}", run.error))
    several = len(run.outputs) > 1
    for s, outputs in enumerate(run.outputs):
        for o, value in zip(model.network.outputs, outputs, strict=True):
            rows.append((f"out_{o}{f'[{s + 1}]' if several else ''} {Q.after(steps)}", value))
    width = max(len(label) for label, _ in rows) + 2
    print(f"{model.spec.name}: {settings.describe()} (float64)")
    for label, value in rows:
        print(f"  {label:<{width}}{fmt(value, args.digits)}")
    return EXIT_OK


def _latex(args) -> int:
    model = Model(load_spec(args.spec))
    if args.quantity:
        print(model.latex_quantity(args.quantity, args.digits), end="")
        return EXIT_OK
    tex_path = Path(args.output) if args.output else default_output(model.spec, f"{model.spec.name}.tex")
    source = model.latex(args.digits)
    if not args.pdf:
        print(f"wrote {write(tex_path, source, args.force)}")
        return EXIT_OK
    pdf_name = tex_path.with_suffix(".pdf").name
    if pdf_name == tex_path.name:
        raise UsageError(f"derive latex: {path_text(tex_path)}: the .tex would be overwritten by its PDF")
    # the .tex and its PDF together or neither, LaTeX's scratch inside the output folder's (`build`'s way)
    with staged(tex_path.parent, [tex_path.name, pdf_name], args.force) as stage:
        stage.write(tex_path.name, source)
        compile_pdf(source, stage.scratch / pdf_name, force=True, scratch_in=stage.scratch)
        stage.adopt(pdf_name)
        for path in stage.commit():
            print(f"wrote {path}")
    return EXIT_OK


def _html(args) -> int:
    model = Model(load_spec(args.spec))
    path = write(args.output or default_output(model.spec, f"{model.spec.name}.html"), model.html(args.digits),
                 args.force)
    print(f"wrote {path}")
    return EXIT_OK


def _check(args) -> int:
    from derive.check import report as check_report
    from derive.progress import Progress
    from derive.render.check_text import as_text

    model = Model(load_spec(args.spec))
    texts = list(args.claim)
    if args.claims:
        try:
            texts += check_report.read_claims(args.claims)
        except ReadError as exc:
            raise UsageError(f"derive check: {path_text(args.claims)}: {exc}") from None
    progress = Progress(False if args.quiet or args.json else None)
    result = model.check(texts, args.digits, progress=progress)
    progress.done()
    print(result.as_json() if args.json else as_text(result, args.verbose), end="")
    return result.exit_status(args.strict)


def _build(args) -> int:
    """`derive.Model.build` with progress on a terminal, then its one-screen summary."""
    from derive.building import summary
    from derive.progress import Progress

    started = time.monotonic()
    progress = Progress(False if args.quiet else None)
    progress.stage("reading the spec and deriving every gradient")
    model = Model(load_spec(args.spec))
    built = model.build(args.output, args.digits, args.force, progress)
    print(summary(model, built, args.digits, time.monotonic() - started))
    return built.check.exit_status(strict=False)


def main(argv: list[str] | None = None) -> int:
    with collector.tuned():  # for the command; put back after (tests and notebooks call main in-process)
        return _run(argv)


def _run(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        require_balls()  # (a package's import works without python-flint; PrairieLearn's worker needs that)
        return args.run(args)
    except (UsageError, SpecError, OutputError, QuantityError) as exc:  # one line, whatever a file name holds
        print(text_line(str(exc) if isinstance(exc, UsageError) else f"derive: {exc}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except LatexError as exc:
        print(text_line(f"derive: {exc}"), file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("derive: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # a bug or an environment problem: one line, not a traceback
        if os.environ.get("DERIVE_DEBUG"):
            raise
        print(text_line(f"derive: error: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return EXIT_FAILURE
