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

from derive import Model, SpecError, __version__, cli_codegen, cli_teaching, load_spec
from derive.cli_base import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    Parser,
    UsageError,
    default_output,
    digits,
    step_count,
    whole,
)
from derive.escape import path_text, text_line
from derive.model import optimizers
from derive.model import quantities as Q
from derive.model.decimals import fmt
from derive.model.quantities import QuantityError
from derive.model.reading import ReadError
from derive.output import OutputError, staged, write
from derive.render import text as report
from derive.render.header import header
from derive.render.pdf import LatexError, compile_pdf
from derive.render.python import render as render_python


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
        return model.spec.training.configured(optimizers.options(**given), lambda key: "--" + key.replace("_", "-"),
                                              len(model.spec.samples))
    except optimizers.OptionError as exc:
        raise UsageError(f"derive train: {exc}") from None


def _gradients(args) -> int:
    model = Model(load_spec(args.spec))
    if args.quantity:
        values = [(q, model.value(q)) for q in map(model.quantity, args.quantity)]
        print(report.chosen(values, args.digits, args.json), end="")
    else:
        print(report.as_json(model, args.digits) if args.json else report.text(model, args.digits), end="")
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
    from derive.check.audit import parse_claim

    model = Model(load_spec(args.spec))
    texts = list(args.claim)
    if args.claims:
        try:
            texts += check_report.read_claims(args.claims)
        except ReadError as exc:
            raise UsageError(f"derive check: {path_text(args.claims)}: {exc}") from None
    claims = [parse_claim(text, model) for text in texts]
    from derive.progress import Progress

    progress = Progress(False if args.quiet or args.json else None)
    result = check_report.build(model, claims, args.digits, progress=progress)
    progress.done()
    print(check_report.as_json(result) if args.json else check_report.as_text(result, model, args.verbose), end="")
    return check_report.exit_status(result, args.strict)


def _build(args) -> int:
    """Everything is computed and written into a scratch folder inside the output folder first, and
    moved into place together at the end (`output.staged`): a bad spec, a failure or an interrupt
    leaves the previous complete set of files, or none, and no scratch."""
    from derive.check import report as check_report
    from derive.progress import Progress
    from derive.render.pdf import engine

    started = time.monotonic()
    progress = Progress(False if args.quiet else None)
    progress.stage("reading the spec and deriving every gradient")
    model = Model(load_spec(args.spec))
    spec = model.spec
    folder = Path(args.output) if args.output else default_output(spec, "")
    names = ["gradients.txt", "gradients.py", "check.txt", f"{spec.name}.html", f"{spec.name}.tex"]
    with staged(folder, [*names, f"{spec.name}.pdf"] if engine() else names, args.force) as stage:
        progress.stage(f"evaluating {len(model.parameters)} gradients at 60 digits")
        text = header("text", spec, __version__, "build") + report.text(model, args.digits)
        files = [stage.write("gradients.txt", text)]
        progress.stage("generating Python code")
        files.append(stage.write("gradients.py", render_python(model.derivation, __version__)))
        progress.stage("compiling the generated module")
        _ = model.module
        result = check_report.build(model, [], args.digits, progress=progress)
        files.append(stage.write("check.txt", header("text", spec, __version__, "build")
                                 + check_report.as_text(result, model)))
        progress.stage("writing the web page")
        files.append(stage.write(f"{spec.name}.html", model.html(args.digits, check=result)))
        progress.stage("writing the LaTeX document")
        tex = model.latex(args.digits)
        files.append(stage.write(f"{spec.name}.tex", tex))
        pdf_note = ""
        if engine() is None:
            pdf_note = "  PDF: skipped, no LaTeX engine installed (latexmk or pdflatex)"
        else:
            progress.stage("compiling the PDF")
            compile_pdf(tex, stage.scratch / f"{spec.name}.pdf", force=True, scratch_in=stage.scratch)
            files.append(stage.adopt(f"{spec.name}.pdf"))
        progress.done()
        stage.commit()
    checks = result["checks"]
    failed = [r["parameter"] for r in checks["rows"] if not r["passed"]]
    largest = max(model.parameters, key=lambda p: abs(model.evaluation.totals[Q.gradient(p)]))
    samples = len(spec.samples)
    lines = [
        f"{spec.name}: {text_line(spec.title)}",
        f"  layers {'-'.join(map(str, spec.layers))}, {len(model.parameters)} parameters, "
        f"{samples} sample{'s' * (samples > 1)}; "
        f"E_total = {fmt(model.evaluation.totals[Q.TOTAL_ERROR], args.digits)}",
        f"  largest gradient: dE_total/d{largest} = {fmt(model.evaluation.totals[Q.gradient(largest)], args.digits)}",
        f"  check: {'every gradient agrees by every route' if not failed else 'FAILED for ' + ', '.join(failed)} "
        f"({checks['parameters_checked']} of {checks['parameters']} parameters)",
    ]
    if result["published"]:
        wrong = [p for p in result["published"] if not p["agrees"]]
        explained = sum(p["explained"] for p in wrong)
        lines.append(f"  published numbers: {len(result['published'])}, {len(result['published']) - len(wrong)} agree, "
                     f"{len(wrong)} disagree ({explained} explained); see check.txt")
    if pdf_note:
        lines.append(pdf_note)
    lines.append(f"  wrote {folder}/: {', '.join(f.name for f in files)} in {time.monotonic() - started:.1f} s")
    print("\n".join(lines))
    return check_report.exit_status(result, strict=False)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
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
