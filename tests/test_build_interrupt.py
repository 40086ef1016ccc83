"""`derive build` is all or nothing: a bad spec writes nothing, and a build killed part-way (SIGINT,
SIGTERM, SIGKILL; while computing, or while LaTeX runs) leaves the previous complete set of files, no
scratch outside the output folder, and (SIGINT, SIGTERM) no scratch at all and no LaTeX process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import spec_text

from derive.cli import main
from derive.output import SCRATCH_PREFIX
from derive.render.tex.pdf import engine

pytestmark = pytest.mark.slow  # a system test: `-m "not slow"` leaves it out (docs/programmers.md)

NAMES = sorted(["check.txt", "gradients.py", "gradients.txt", "t.html", "t.tex"] + (["t.pdf"] if engine() else []))


def contents(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def latex_processes_in(folder: Path) -> list[int]:
    """Processes whose working folder is inside ``folder`` (LaTeX runs in its scratch folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(folder) in os.readlink(entry / "cwd"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def default_signals() -> None:
    """In the child, before it runs: SIGINT and SIGTERM do what they do by default. A test runner started
    as a background job (or by a job runner) ignores SIGINT, and an ignored signal stays ignored across
    exec, so a test that sends one must set the child's disposition itself."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def system_scratch(temporary: Path) -> set:
    """What derive left in the temporary folder it was given (a folder of the test's own: other tests,
    run in parallel, use the system's)."""
    return {p.name for p in temporary.glob("derive-latex-*")}


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    """The builds' network: the reference network's (`spec_text`), without the published numbers whose
    audit is most of a build of the built-in example; what is interrupted is the same build."""
    path = tmp_path_factory.mktemp("spec") / "t.toml"
    path.write_text(spec_text())
    return str(path)


@pytest.fixture(scope="module")
def previous(tmp_path_factory, spec):
    """A complete set from an earlier build (at 12 digits, so a new one at 9 differs in every text file)."""
    folder = tmp_path_factory.mktemp("previous")
    assert main(["build", spec, "-o", str(folder), "--quiet", "--digits", "12"]) == 0
    return contents(folder)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("when", ["computing", "latex"])
def test_a_killed_build_leaves_the_previous_complete_set(tmp_path, spec, previous, how, when):
    if when == "latex" and not engine():
        pytest.skip("no LaTeX engine installed")
    folder = tmp_path / "out"
    folder.mkdir()
    for name, data in previous.items():
        (folder / name).write_bytes(data)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    before = system_scratch(temporary)
    proc = subprocess.Popen([sys.executable, "-m", "derive", "build", spec, "-o", str(folder), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_signals,
                            env={**os.environ, "TMPDIR": str(temporary)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for the scratch folder, and in it (for "latex") LaTeX's
        scratch = list(folder.glob(SCRATCH_PREFIX + "*"))
        if scratch and (when == "computing" or list(scratch[0].glob("derive-latex-*/document.tex"))):
            break
        time.sleep(0.02)
    else:
        pytest.fail("the build never reached the point to interrupt")
    if when == "latex":
        time.sleep(0.3)  # LaTeX running
    proc.send_signal(getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert contents(folder) == previous  # the scratch is moved into place only at the very end
    assert system_scratch(temporary) <= before  # nothing in the temporary folder
    if how != "SIGKILL":
        assert err.decode() == "derive: interrupted\n"
        assert list(folder.iterdir()) and not list(folder.glob(SCRATCH_PREFIX + "*"))
        time.sleep(0.2)
        assert latex_processes_in(folder) == []
    else:  # nothing can clean up after SIGKILL: the next build removes the dead build's scratch
        for pid in latex_processes_in(folder):  # LaTeX runs in its own session; it finishes on its own
            os.kill(pid, signal.SIGKILL)
        assert main(["build", spec, "-o", str(folder), "--quiet"]) == 0
        assert sorted(contents(folder)) == NAMES
        assert not list(folder.glob(SCRATCH_PREFIX + "*"))


def test_a_bad_published_table_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "t.toml"
    for bad in ('"a" = 1', '"dE_total/dw99" = 1', '"E_total" = "x"'):
        spec.write_text(spec_text() + f"\n[published]\n{bad}\n")
        code = main(["build", str(spec), "-o", str(tmp_path / "out"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("derive: ") and err.count("\n") == 1, err
        assert not (tmp_path / "out").exists()  # not even the folder


def test_a_file_derive_did_not_write_stops_the_build_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "mazur.tex").write_text("my own notes\n")
    assert main(["build", "-o", str(tmp_path), "--quiet"]) == 2
    assert capsys.readouterr().err.endswith("mazur.tex: exists and was not generated by derive; use --force to "
                                            "overwrite it\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mazur.tex"]


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` or that have been re-parented from it (their cmdline names derive)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid or (b"derive" in cmdline and b"exercise" in cmdline and int(entry.name) != os.getpid()
                               and str(pid).encode() in cmdline):
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_killed_exercise_leaves_the_previous_set_and_no_worker(tmp_path, how):
    """Interrupted while its workers make the variants: the previous quiz.xml, answers.csv and
    worksheets, no new worksheet beside them, and every worker ended with its parent (SIGKILL too)."""
    spec = tmp_path / "s.toml"
    spec.write_text(spec_text(title='"x"'))
    folder = tmp_path / "ex"
    assert main(["exercise", str(spec), "--variants", "2", "--no-pdf", "-o", str(folder), "--quiet"]) == 0
    before = contents(folder)
    process = subprocess.Popen([sys.executable, "-m", "derive", "exercise", str(spec), "--variants", "12", "--no-pdf",
                                "-o", str(folder), "--quiet", "--seed", "2"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    workers = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not workers:
        workers = [p for p in children_of(process.pid) if p != process.pid]
        time.sleep(0.05)
    assert workers, "no worker process started"
    time.sleep(0.5)
    process.send_signal(getattr(signal, how))
    process.wait(timeout=60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() and "Z" not in
                                              Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:3]
                                              for p in workers if Path(f"/proc/{p}/stat").exists()):
        time.sleep(0.1)
    alive = [p for p in workers if Path(f"/proc/{p}/stat").exists()
             and " Z " not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:4]]
    assert alive == [], f"workers still running after {how}: {alive}"
    if how == "SIGKILL":  # no chance to clean up: the next run removes the scratch; the set is the old one
        assert contents(folder) == before
        assert main(["exercise", str(spec), "--variants", "2", "--no-pdf", "-o", str(folder), "--quiet"]) == 0
    assert not list(folder.glob(SCRATCH_PREFIX + "*"))
    if how == "SIGTERM":
        assert contents(folder) == before


def wait_for(found, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found():
            return
        time.sleep(0.01)
    pytest.fail(f"never reached {what}")


def descendants_named(word: bytes) -> list[int]:
    """Processes whose command line holds ``word`` (a compiler or LaTeX orphaned by a SIGKILL)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if word in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def in_process_with_tmpdir(temporary: Path, monkeypatch, *args: str):
    """``derive *args`` run in this process (the run after a killed one: what it finds and leaves, not its
    process) with ``temporary`` as its temporary folder, as TMPDIR gives a process's (`tempfile`, and
    the compiler or LaTeX it starts)."""
    import tempfile

    from in_process import derive_cli

    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    return derive_cli(*args)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_killed_codegen_build_leaves_no_temporary_library(tmp_path, how, monkeypatch):
    """Killed while the C compiler runs: no library, and no temporary of one, once the next run is done
    (SIGKILL: the next run removes the dead build's scratch)."""
    import shutil

    if not shutil.which("cc") and not shutil.which("gcc"):
        pytest.skip("no C compiler")
    folder = tmp_path / "c"
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "derive", "codegen", "--target", "c", "-o", str(folder), "--build"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_signals,
                            env={**os.environ, "TMPDIR": str(temporary)})
    wait_for(lambda: list(folder.glob("._gradients_*.tmp")), "the compiler")
    proc.send_signal(getattr(signal, how))
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    wait_for(lambda: not descendants_named(str(folder).encode()), "the compiler's end", 60)
    if how != "SIGKILL":
        assert not list(folder.glob(".*.tmp")) and not list(folder.glob("*.so"))
    run = in_process_with_tmpdir(temporary, monkeypatch, "codegen", "--target", "c", "-o", str(folder), "--build",
                                 "--force")
    assert run.returncode == 0, run.stderr
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    assert len(list(folder.glob("*.so"))) == 1


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_killed_latex_pdf_leaves_the_previous_pair_and_no_scratch(tmp_path, how, monkeypatch):
    """Killed while LaTeX runs: the previous .tex and PDF (not a new .tex beside the old PDF), nothing in
    the temporary folder ever, and no scratch once the run (or, after SIGKILL, the next run) is done."""
    if not engine():
        pytest.skip("no LaTeX engine installed")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "m.tex").write_bytes(b"% Generated by backprop-derive: an earlier one\n")
    (folder / "m.pdf").write_bytes(b"%PDF-1.5 backprop-derive earlier\n")
    before = contents(folder)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary)}
    proc = subprocess.Popen([sys.executable, "-m", "derive", "latex", "--pdf", "-o", str(folder / "m.tex")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_signals, env=env)
    wait_for(lambda: any(folder.glob(SCRATCH_PREFIX + "*/derive-latex-*/document.tex")), "LaTeX")
    time.sleep(0.3)
    proc.send_signal(getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert contents(folder) == before
    assert list(temporary.iterdir()) == []
    if how != "SIGKILL":
        assert err.decode() == "derive: interrupted\n"
        assert not list(folder.glob(SCRATCH_PREFIX + "*"))
        time.sleep(0.2)
        assert latex_processes_in(folder) == []
        return
    for pid in latex_processes_in(folder):  # LaTeX runs in its own session; it finishes on its own
        os.kill(pid, signal.SIGKILL)
    assert list(folder.glob(SCRATCH_PREFIX + "*"))  # left by the killed run
    run = in_process_with_tmpdir(temporary, monkeypatch, "latex", "--pdf", "-o", str(folder / "m.tex"))
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["m.pdf", "m.tex"]
    assert list(temporary.iterdir()) == []


def test_a_run_killed_while_moving_its_files_is_finished_by_the_next(tmp_path):
    """SIGKILL between two moves of `commit` (simulated: a dead process's scratch with its journal,
    one file moved, two not): the next run moves the other two, so the set is the new one, not a mix;
    a file written after the journal is left alone."""
    from derive.output import JOURNAL, staged

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "out"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (folder / name).write_text("old\n")
        os.utime(folder / name, (time.time() - 120, time.time() - 120))  # the previous set, before the journal
    scratch = folder / f"{SCRATCH_PREFIX}{dead.pid}-x"
    scratch.mkdir()
    for name in ("b.txt", "c.txt", "d.txt"):
        (scratch / name).write_text("new\n")
    (folder / "a.txt").write_text("new\n")  # moved before the kill
    (scratch / JOURNAL).write_text("a.txt\nb.txt\nc.txt\nd.txt")
    os.utime(scratch / JOURNAL, (time.time() - 60, time.time() - 60))
    (folder / "d.txt").write_text("mine, since\n")
    with staged(folder, []):
        pass
    assert {p.name: p.read_text() for p in folder.iterdir()} == {
        "a.txt": "new\n", "b.txt": "new\n", "c.txt": "new\n", "d.txt": "mine, since\n"}


def _dispositions():
    return signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


def test_an_exercise_worker_takes_sigterm_and_sigint_by_default():
    """The parent runs under `staged`, whose SIGTERM handler raises KeyboardInterrupt; a forked worker
    that kept it would hand the interrupt back to the pool as its variant's result and go on to the
    next queued variant (minutes each) while the parent waited. Workers start with the defaults."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from derive.output import _interrupted
    from derive.workers import die_with_parent

    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=die_with_parent) as pool:
            assert pool.submit(_dispositions).result(timeout=60) == (signal.SIG_DFL, signal.SIG_DFL)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_while_the_scratch_folder_is_made_interrupts_and_leaves_nothing(tmp_path):
    """`staged` takes SIGTERM before it makes its scratch folder: one arriving right then (here: sent by
    mkdtemp itself) is an interrupt as anywhere else, the folder it made taken away; it had killed derive
    without a word (and, once, failed the killed-build test above). In a process of its own, which the
    signal would otherwise end."""
    script = (
        "import os, signal, sys, tempfile\n"
        "from derive import output\n"
        "made = tempfile.mkdtemp\n"
        "def mkdtemp(*args, **kwargs):\n"
        "    path = made(*args, **kwargs)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return path\n"
        "output.tempfile.mkdtemp = mkdtemp\n"
        "try:\n"
        "    with output.staged(sys.argv[1], ['a.txt']):\n"
        "        pass\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)\n"
    )
    folder = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "interrupted True\n", "")
    assert not folder.exists()
