"""`derive exercise`: N variants of a network, each with its spec, worksheet and key (LaTeX and PDF),
checked by the independent routes; then ``answers.csv`` and a quiz for each learning system chosen
(`derive.lms`: the Moodle quiz ``quiz.xml`` by default, the Canvas package ``canvas-qti.zip``).

Variants are independent (each drawn from its own seeded generator), so they are made in parallel,
one process per core: a class's thirty variants are sixty PDFs, and each PDF is a LaTeX run.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from derive import Model, lms
from derive.check import routes
from derive.escape import python_comment
from derive.model.decimals import plain, short_decimal
from derive.output import default_output, staged, write
from derive.render.code.header import header
from derive.render.quiz import moodle
from derive.render.tex import worksheet
from derive.render.tex.pdf import compile_pdf, preloaded
from derive.teaching.exercise import DECIMALS, Exercise, ExerciseError, default_asks, draw, fixed_values
from derive.version import __version__
from derive.workers import die_with_parent


class CheckFailed(Exception):
    """A variant's gradients disagree between the independent routes (exit status 1)."""


@dataclass
class Made:
    exercises: list[Exercise]
    files: list[Path]
    seconds: float
    pdf: bool
    left_out: dict = dataclasses.field(default_factory=dict)  # quantity -> the value every variant would ask


def shown(value) -> str:
    """A value fixed by the structure as a message writes it (1, 0: the shortest decimal of 9 digits)."""
    return short_decimal(value, 9) or plain(value, 9)


def leave_out(model, asks) -> dict:
    """The quantities the same in every variant (`fixed_values`): left out of the default questions;
    asked by name, an `ExerciseError` (no question tells one student's work from another's)."""
    if asks:
        fixed = fixed_values(model, asks)
        if fixed:
            q, v = next(iter(fixed.items()))
            raise ExerciseError(f"{q} is {shown(v)} in every variant (the network's structure fixes it): "
                                "ask another quantity")
        return {}
    return fixed_values(model, default_asks(model))


def _one(task) -> tuple[Exercise, list[Path]]:
    """One variant, start to finish: drawn, checked by the five routes, its files written."""
    spec, number, seed, asks, decimals, folder, pdf, force, format_folder, left_out, count = task
    model = Model(spec)
    exercise = draw(model, number, seed, asks, decimals, header("text", spec, __version__, "exercise"), left_out, count)
    variant = exercise.model
    assert isinstance(variant, Model)
    report = routes.run(variant)
    if not report.passed:
        failed = ", ".join(r.parameter for r in report.rows if not r.passed)
        raise CheckFailed(f"variant {number}: the routes disagree for {failed}")
    stem = folder / exercise.stem
    files = [write(stem.with_suffix(".toml"), exercise.text, force)]
    sources = {"sheet": worksheet.sheet(variant, exercise.questions, number, __version__),
               "key": worksheet.key(variant, exercise.questions, number, __version__,
                                       training=variant.training_comparisons(1)[:1])}
    for kind, source in sources.items():
        tex = folder / f"{exercise.stem}-{kind}.tex"
        files.append(write(tex, source, force))
        if pdf:
            files.append(compile_pdf(source, tex.with_suffix(".pdf"), force, True, format_folder))
    exercise.model = None  # the model does not travel back between processes; the spec does
    return exercise, files


def _run(tasks, workers, progress, model) -> list:
    count = len(tasks)
    workers = min(workers or os.cpu_count() or 1, count)
    results = []
    if workers <= 1:
        for t in tasks:
            results.append(_one(t))
            if progress:
                progress.stage(f"variant {len(results)} of {count}")
        return results
    routes.prepare(model)  # the variants' sympy.diff route, made once here for every worker forked below
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=die_with_parent)
    try:
        for result in pool.map(_one, tasks):
            results.append(result)
            if progress:
                progress.stage(f"variant {len(results)} of {count}")
    except BaseException:  # an interrupt, SIGTERM (made KeyboardInterrupt by `staged`), a failed variant
        for process in list((pool._processes or {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def make(model, count: int, seed: int, asks, folder: Path, decimals: int = DECIMALS, pdf: bool = True,
         force: bool = False, progress=None, workers: int | None = None, systems=lms.DEFAULT) -> Made:
    """Every file is written into a scratch folder inside ``folder`` and moved into place together
    at the end (`output.staged`, as `derive build` does): an interrupt, a refused file or a failed
    variant leaves the previous complete set, or none. ``systems``: the names of `lms.EXPORTS` to
    write a quiz for."""
    started = time.monotonic()
    systems = lms.chosen(systems)
    fixed = leave_out(model, asks)
    names = [f"variant-{n:02d}{end}" for n in range(1, count + 1)
             for end in (".toml", "-sheet.tex", "-key.tex", *(("-sheet.pdf", "-key.pdf") if pdf else ()))]
    quizzes = [path for n in systems for path in lms.EXPORTS[n].paths(model.spec.name)]
    with staged(folder, [*names, "answers.csv", *quizzes], force) as stage, (
            preloaded(worksheet.sheet(model, [], 0, __version__)) if pdf else nullcontext()) as format_folder:
        tasks = [(model.spec, n, seed, asks, decimals, stage.scratch, pdf, True, format_folder, frozenset(fixed), count)
                 for n in range(1, count + 1)]
        results = _run(tasks, workers, progress, model)
        exercises = [e for e, _ in results]
        files = [stage.adopt(f.name) for _, fs in results for f in fs]
        line = (f"Generated by backprop-derive {__version__} from {python_comment(model.spec.source)} "
                f"(sha256 {model.spec.digest[:16]}): derive exercise --variants {count} --seed {seed}")
        files.append(stage.write("answers.csv", moodle.answers_csv(exercises, f"# {line}\n")))
        batch = lms.Batch(exercises, model.spec.name, model.spec.digest, seed, line, model,
                          tuple(str(q) for q in asks) if asks else None, decimals)
        files += [stage.write(path, content) for path, content in lms.write(batch, systems).items()]
        stage.commit()
    return Made(exercises, files, time.monotonic() - started, pdf, fixed)


def run(spec=None, variants: int = 30, seed: int = 1, ask=(), decimals: int = DECIMALS, output=None,
        pdf: bool = True, force: bool = False, lms_names="moodle", progress=None, workers: int | None = None) -> Made:
    """What `derive exercise` does (`derive.exercise`): ``spec`` a path, a `Spec`, a `Model` or None
    (the built-in example); ``ask`` quantity names (default: `default_asks`); ``output`` the folder
    (default ``generated/<name>/exercises``); ``lms_names`` ``"moodle,canvas"`` or a list of names."""
    from derive import Spec, load_spec
    from derive.render.tex.pdf import engine
    from derive.teaching.exercise import parse_asks

    model = spec if isinstance(spec, Model) else Model(spec if isinstance(spec, Spec) else load_spec(spec))
    systems = lms.chosen(lms_names)
    asks = parse_asks(model, list(ask), variants) if ask else None
    folder = Path(output) if output is not None else default_output(model.spec, "exercises")
    if pdf and engine() is None:
        raise ExerciseError("no LaTeX engine installed for the PDFs (install pdflatex, or pass pdf=False)")
    return make(model, variants, seed, asks, folder, decimals, pdf, force, progress, workers, systems)
