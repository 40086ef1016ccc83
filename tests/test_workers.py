"""Work split over forked processes (`derive.workers.split`), and the check's finite differences split
so on a large network (`derive.check.routes`): the same rows, in the same order, as one process."""

import os
import sys

import pytest
from conftest import ROOT
from networks import EXTREME, TODAY, ZOO

import derive
from derive import workers
from derive.check import routes
from derive.model import quantities as Q


def _square_and_pid(part):
    return [x * x for x in part], os.getpid()


def test_each_part_is_computed_in_its_own_process_and_comes_back_in_order():
    results = workers.split(_square_and_pid, [[1, 2], [3], [4, 5, 6]])
    assert [r[0] for r in results] == [[1, 4], [9], [16, 25, 36]]
    assert results[0][1] == os.getpid() and len({r[1] for r in results}) == 3


def test_a_part_whose_child_fails_is_computed_here_and_raises_what_the_serial_computation_raises():
    """A child that raises (here: in every process but this one) or dies hands its part back; the part
    computed here again gives the serial result, or the serial error with its own type and message."""
    me = os.getpid()

    def only_here(part):
        if os.getpid() != me:
            raise RuntimeError("not in a child")
        return sum(part)

    assert workers.split(only_here, [[1], [2, 3]]) == [1, 5]

    def dies(part):
        if os.getpid() != me:
            os._exit(3)
        return part

    assert workers.split(dies, ["a", "b"]) == ["a", "b"]

    def refuses(part):
        if part == "bad":
            raise ValueError("bad part")
        return part

    with pytest.raises(ValueError, match="bad part"):
        workers.split(refuses, ["good", "bad"])


def test_an_error_here_ends_the_children_and_leaves_none_behind(monkeypatch):
    def slow_child(part):
        if part == "here":
            raise KeyboardInterrupt
        import time

        time.sleep(60)
        return part

    started = _started(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        workers.split(slow_child, ["here", "there"])
    _all_ended(started)


def _started(monkeypatch) -> list[int]:
    """The processes `workers` forks from now on (their ids, as they start)."""
    started, start = [], workers._start

    def recorded(function, part):
        pid, read = start(function, part)
        started.append(pid)
        return pid, read

    monkeypatch.setattr(workers, "_start", recorded)
    return started


def _all_ended(started: list[int]) -> None:
    """Each of them ended and reaped: none left running or a zombie (the test process's other children,
    a browser or a compiler of another test, are not looked at)."""
    assert started
    for pid in started:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def _fields(row):
    return (row.parameter, row.sample, row.chain._mpf_, {k: v._mpf_ for k, v in row.routes.items()}, row.failures,
            row.inapplicable, row.worst, row.unresolved)


@pytest.mark.parametrize("name", ["bce_mean", "softmax_ce_huge", "own_kinks", "exact_zero_and_one_outputs"])
def test_the_check_split_over_two_processes_is_the_serial_check(name, monkeypatch):
    """Every row (each route's value to the last bit, failures, routes left out and why, the worst
    ratio) and the summary, with the parameters halved between this process and a forked one: on
    saturated outputs, kinks (routes left out) and exact zeros."""
    model = derive.Model(derive.parse({**ZOO, **EXTREME, **TODAY}[name]))
    serial = routes.run(model)
    monkeypatch.setattr(routes, "_processes", lambda *args: 2)
    split = routes.run(model)
    monkeypatch.setattr(routes, "_processes", lambda *args: 3)
    thirds = routes.run(model)
    assert [_fields(r) for r in thirds.rows] == [_fields(r) for r in serial.rows]
    assert [_fields(r) for r in split.rows] == [_fields(r) for r in serial.rows]
    assert (split.skipped, split.checked) == (serial.skipped, serial.checked)
    assert all(r.chain is model.evaluation.samples[r.sample][Q.gradient(r.parameter)] for r in split.rows)


def test_only_a_large_networks_check_is_split(monkeypatch):
    """The built-in example's check (22 units recomputed) and 4-16-16-3's stay in one process; 64-64-64's
    (13,200 units) and 784-32-10's (25,450 parameters, each of its float64 differences running the whole
    loss) are split, a process a core up to four, and not on a machine of one."""
    from types import SimpleNamespace

    from derive.model.network import Network

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_scale import spec_text

    def dense(layers):
        network = Network(derive.parse(spec_text(layers)))
        return SimpleNamespace(network=network, parameters=[p.name for p in network.parameters])

    large, wide = dense([64, 64, 64]), dense([784, 32, 10])  # many units moved; many parameters, few units moved
    assert sum(routes.budget.reach(wide.network)[p] for p in routes.budget.chosen(wide)) < routes.PARALLEL_WORK
    for model, expected in ((derive.load(), 1), (large, 2), (wide, 2), (dense([4, 16, 16, 3]), 1)):
        chosen = routes.budget.chosen(model)
        monkeypatch.setattr(workers, "cores", lambda: 2)
        assert routes._processes(model, chosen, {0}) == expected
        monkeypatch.setattr(workers, "cores", lambda: 1)
        assert routes._processes(model, chosen, {0}) == 1
    monkeypatch.setattr(workers, "cores", lambda: 64)
    assert routes._processes(large, routes.budget.chosen(large), {0}) == routes.PROCESSES


def test_a_split_checks_progress_counts_the_whole_up_to_its_end(monkeypatch):
    """The progress line of a check split in two shows this process's half as the whole's (the other
    half runs alongside): counts of the whole's total, rising, ending at it."""
    seen = []

    class Progress:
        def count(self, label, done, total):
            seen.append((label, done, total))

    model = derive.Model(derive.parse(EXTREME["softmax_ce_huge"]))
    monkeypatch.setattr(routes, "_processes", lambda *args: 2)
    report = routes.run(model, Progress())
    total = report.checked
    assert {t for _, _, t in seen} == {total} and [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)
    assert seen[-1][1] == total and len(seen) == (total + 1) // 2


def test_a_split_check_without_float_bounds_is_the_serial_one(monkeypatch):
    """Where the generated code's float64 error has no bound (a function without an error rule: its
    walk raises Unbounded, here in every process), the bounds computed beside the forward pass's set-up
    come back as none, and every row is the serial check's, which uses the fixed tolerance."""
    def unbounded(*args):
        raise routes.float_bound.Unbounded("no error rule")

    monkeypatch.setattr(routes.float_bound, "gradient_bounds", unbounded)
    model = derive.Model(derive.parse(EXTREME["softmax_ce_huge"]))
    serial = routes.run(model)
    monkeypatch.setattr(routes, "_processes", lambda *args: 2)
    split = routes.run(model)
    assert [_fields(r) for r in split.rows] == [_fields(r) for r in serial.rows]


def test_the_page_with_its_check_computed_beside_is_the_page(monkeypatch):
    """A long check (`routes.processes` above 1) is computed in a forked child while the page is printed;
    the page is the one printed after the check in this process, byte for byte, on networks whose check
    rows differ in kind (saturated, kinks, exact zeros)."""
    for spec in (EXTREME["softmax_ce_huge"], TODAY["own_kinks"], EXTREME["exact_zero_and_one_outputs"]):
        serial = derive.Model(derive.parse(spec)).html()
        monkeypatch.setattr(routes, "processes", lambda model: 2)
        beside = derive.Model(derive.parse(spec)).html()
        monkeypatch.undo()
        assert beside == serial


def test_a_page_that_fails_ends_the_check_computing_beside_it(monkeypatch):
    from derive.render.web import html

    def fails(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(routes, "processes", lambda model: 2)
    monkeypatch.setattr(html.Page, "shown", fails)
    started = _started(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        derive.Model(derive.parse(EXTREME["softmax_ce_huge"])).html()
    _all_ended(started)


def test_no_work_is_forked_without_fork_or_beside_other_threads(monkeypatch):
    """One core's worth (the serial check) where os.fork is missing (Windows) or another thread runs (a
    notebook's kernel: a fork copies only the calling thread, and a lock another holds stays held)."""
    import threading

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    with monkeypatch.context() as alone:
        alone.setattr(threading, "active_count", lambda: 1)  # (this test's process may run threads of its own)
        assert workers.cores() == 2
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert workers.cores() == 1
    finally:
        stop.set()
        other.join()
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.delattr(os, "fork")
    assert workers.cores() == 1
