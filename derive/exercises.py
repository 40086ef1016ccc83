"""`derive exercise`: N variants of a network, each with its spec, worksheet and key (LaTeX and PDF),
checked by the independent routes; then ``answers.csv`` and the Moodle quiz ``quiz.xml``.

Variants are independent (each drawn from its own seeded generator), so they are made in parallel,
one process per core: a class's thirty variants are sixty PDFs, and each PDF is a LaTeX run.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path

from derive import Model
from derive.check import routes
from derive.check.exercise import DECIMALS, Exercise, draw
from derive.escape import python_comment
from derive.output import staged, write
from derive.render import moodle, worksheet
from derive.render.header import header
from derive.render.pdf import compile_pdf, preloaded
from derive.version import __version__

PR_SET_PDEATHSIG = 1  # prctl(2)


class CheckFailed(Exception):
    """A variant's gradients disagree between the independent routes (exit status 1)."""


@dataclass
class Made:
    exercises: list[Exercise]
    files: list[Path]
    seconds: float
    pdf: bool


def _one(task) -> tuple[Exercise, list[Path]]:
    """One variant, start to finish: drawn, checked by the five routes, its files written."""
    spec, number, seed, asks, decimals, folder, pdf, force, format_folder = task
    model = Model(spec)
    exercise = draw(model, number, seed, asks, decimals, header("text", spec, __version__, "exercise"))
    variant = exercise.model
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


def _die_with_parent() -> None:
    """A worker ends when derive ends, even by SIGKILL (Linux: the parent-death signal)."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before the line above
        os._exit(1)


def _run(tasks, workers, progress) -> list:
    count = len(tasks)
    workers = min(workers or os.cpu_count() or 1, count)
    results = []
    if workers <= 1:
        for t in tasks:
            results.append(_one(t))
            if progress:
                progress.stage(f"variant {len(results)} of {count}")
        return results
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_die_with_parent)
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
         force: bool = False, progress=None, workers: int | None = None) -> Made:
    """Every file is written into a scratch folder inside ``folder`` and moved into place together
    at the end (`output.staged`, as `derive build` does): an interrupt, a refused file or a failed
    variant leaves the previous complete set, or none."""
    started = time.monotonic()
    names = [f"variant-{n:02d}{end}" for n in range(1, count + 1)
             for end in (".toml", "-sheet.tex", "-key.tex", *(("-sheet.pdf", "-key.pdf") if pdf else ()))]
    with staged(folder, [*names, "answers.csv", "quiz.xml"], force) as stage, (
            preloaded(worksheet.sheet(model, [], 0, __version__)) if pdf else nullcontext()) as format_folder:
        tasks = [(model.spec, n, seed, asks, decimals, stage.scratch, pdf, True, format_folder)
                 for n in range(1, count + 1)]
        results = _run(tasks, workers, progress)
        exercises = [e for e, _ in results]
        files = [stage.adopt(f.name) for _, fs in results for f in fs]
        line = (f"Generated by backprop-derive {__version__} from {python_comment(model.spec.source)} "
                f"(sha256 {model.spec.digest[:16]}): derive exercise --variants {count} --seed {seed}")
        files.append(stage.write("answers.csv", moodle.answers_csv(exercises, f"# {line}\n")))
        files.append(stage.write("quiz.xml", moodle.quiz(exercises, model.spec.name, line)))
        stage.commit()
    return Made(exercises, files, time.monotonic() - started, pdf)
