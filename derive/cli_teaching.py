"""The teacher's commands: `derive grade` (mark a sheet), `derive exercise` (a network per student,
with worksheets, keys and a quiz) and `derive init` (a spec to start from)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from derive import Model, SpecError, load_spec
from derive.cli_base import EXIT_FAILURE, EXIT_OK, UsageError, digits, whole
from derive.escape import path_text, text_line
from derive.lms import EXPORTS
from derive.output import OutputError, default_output, write


def add_commands(sub, command) -> None:
    """Register the commands on the subparsers ``sub`` (``command`` adds one with SPEC and --quiet)."""
    p = command("grade", "Mark a learner's sheet: each number correct, carried forward from their own earlier "
                "numbers, right under another textbook's convention, or wrong with the slip that gives it.")
    p.add_argument("answers", metavar="ANSWERS",
                   help="the sheet: 'quantity = value' lines, or a JSON object {\"quantity\": value}")
    p.add_argument("--digits", type=digits, default=9, help="significant digits of the correct values (default 9)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--time-limit", type=whole(0, 86400), default=20, metavar="SECONDS",
                   help="search for slips for at most this long: single slips of every wrong number first, then "
                   "pairs (default 20; 0: no limit, minutes on a 3-4-2 network); a number not fully searched says so")
    p.set_defaults(run=_grade)

    p = command("exercise", "Make N variants of the network (new nice numbers, same shape), each with a worksheet "
                "and a key (LaTeX and PDF), and answers.csv and a quiz for them all (quiz.xml for Moodle; "
                "canvas-qti.zip for Canvas).")
    p.add_argument("--variants", type=whole(1, 500), default=30, metavar="N", help="how many (default 30)")
    p.add_argument("--seed", type=whole(0, 2**63 - 1), default=1, metavar="S",
                   help="the same seed gives the same variants on every machine (default 1)")
    p.add_argument("--ask", action="append", default=[], metavar="Q",
                   help="a quantity to ask, e.g. dE_total/dw5 (repeatable; default: the forward pass, E_total, "
                   "the output deltas, one weight and one bias gradient per layer, one updated weight)")
    p.add_argument("--decimals", type=whole(1, 8), default=4, help="decimals asked (default 4; more where a slip "
                   "would pass)")
    p.add_argument("-o", "--output", metavar="DIR", help="folder (default: generated/<name>/exercises)")
    p.add_argument("--no-pdf", action="store_true", help="write the LaTeX only")
    p.add_argument("--force", action="store_true", help="overwrite files that derive did not generate")
    p.add_argument("--lms", default="moodle", metavar="NAMES", help="the learning systems to write a quiz for, "
                   f"comma-separated: {'; '.join(f'{n}: {e.about}' for n, e in EXPORTS.items())} (default moodle)")
    p.set_defaults(run=_exercise)

    from derive.render.spec_toml import examples

    p = sub.add_parser("init", help="Write a commented spec to start from.",
                       description="Write a commented spec to start from (a built-in example's network).")
    p.add_argument("file", metavar="FILE", help="where to write the spec, e.g. my_net.toml")
    p.add_argument("--like", choices=examples(), default="mazur", help="the example to start from (default mazur)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(run=_init)


def _exercise(args) -> int:
    import derive
    from derive.exercises import CheckFailed, shown
    from derive.lms import LmsError, chosen
    from derive.progress import Progress
    from derive.render.tex.pdf import engine
    from derive.teaching.exercise import ExerciseError

    try:
        systems = chosen(args.lms)
    except LmsError as exc:
        raise UsageError(f"derive exercise: --lms: {exc}") from None
    model = Model(load_spec(args.spec))
    folder = Path(args.output) if args.output else default_output(model.spec, "exercises")
    pdf = not args.no_pdf
    if pdf and engine() is None:
        raise UsageError("derive exercise: no LaTeX engine installed for the PDFs (install pdflatex, or use --no-pdf)")
    progress = Progress(False if args.quiet else None)
    try:
        made = derive.exercise(model, args.variants, args.seed, args.ask, args.decimals, folder, pdf, args.force,
                               systems, progress)
    except ExerciseError as exc:
        raise UsageError(f"derive exercise: {exc}") from None
    except CheckFailed as exc:
        progress.done()
        print(text_line(f"derive exercise: {exc}"), file=sys.stderr)
        return EXIT_FAILURE
    progress.done()
    each = "spec, sheet and key (.tex" + (", .pdf" if pdf else "") + ")"
    quizzes = ", ".join(EXPORTS[n].shown(model.spec.name) for n in systems)
    count = len(made.exercises)
    print(f"wrote {folder}/: {count} variant{'s' * (count != 1)} ({each} each), answers.csv, {quizzes} "
          f"in {made.seconds:.1f} s; every variant's gradients agree by the five routes")
    if made.left_out:
        fixed = ", ".join(f"{q} = {shown(v)}" for q, v in made.left_out.items())
        print(text_line(f"not asked (the same in every variant: the network's structure fixes it): {fixed}"))
    return EXIT_OK


def _init(args) -> int:
    from derive.render.spec_toml import starter

    path = Path(args.file)
    if os.path.exists(path) and not args.force:  # False for a name too long: write() says why
        raise OutputError(f"{path_text(path)}: exists; use --force to overwrite it")
    print(f"wrote {write(path, starter(args.like, path.stem), force=True)}")
    return EXIT_OK


def _spec_of_sheet(args):
    """The spec to mark against. When it is no spec but the sheet's place holds one, the arguments were
    given the wrong way round: the message says so, rather than quote a TOML error in the sheet."""
    try:
        return load_spec(args.spec)
    except SpecError as exc:
        try:
            load_spec(args.answers)
        except SpecError:
            raise exc from None
        raise UsageError(f"derive grade: the arguments look swapped: {path_text(args.answers)} is a network spec and "
                         f"{path_text(args.spec)} is not; the spec comes first: derive grade SPEC ANSWERS") from None


def _grade(args) -> int:
    from derive import grade
    from derive.teaching import grade_report
    from derive.teaching.grade import SheetError

    model = Model(_spec_of_sheet(args))
    try:
        marking = grade(model, args.answers, args.time_limit)
    except SheetError as exc:
        raise UsageError(f"derive grade: {exc}") from None
    if args.json:
        print(marking.as_json(args.digits), end="")
    else:
        print(grade_report.as_text(marking, model.spec.name, Path(args.answers).name, args.digits), end="")
    return grade_report.exit_status(marking)
