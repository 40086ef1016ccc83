"""Work split over forked processes, one per core: `derive exercise`'s variants, and the check's
finite differences on a large network (`derive.check.routes`), whose parameters are independent.

A fork shares everything computed before it (the derivation, the exact values, the compiled module)
without copying or pickling it; only each part's result comes back, pickled through a pipe.
"""

from __future__ import annotations

import ctypes
import gc
import os
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

PR_SET_PDEATHSIG = 1  # prctl(2)


def die_with_parent() -> None:
    """A worker ends when derive ends, even by SIGKILL (Linux: the parent-death signal)."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # The parent's handlers came with the fork: SIGTERM would become a KeyboardInterrupt that the pool
    # sends back as a task's result, and the worker would go on to its next task. The defaults end it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if os.getppid() == 1:  # the parent died before the line above
        os._exit(1)


def cores() -> int:
    """The cores this process may run on, for work shared out by forking: 1 where there is no fork
    (Windows), or where other threads run (a notebook's kernel): a fork copies only the calling thread,
    and a lock another thread held would stay held in the child."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1
    with suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def split(function: Callable[[Any], Any], parts: Sequence[Any]) -> list:
    """``[function(part) for part in parts]``, the first part in this process and each other in a
    forked child at the same time (`Pending`)."""
    children = [Pending(function, part) for part in parts[1:]]
    try:
        results = [function(parts[0])]
    except BaseException:
        for child in children:
            child.cancel()
        raise
    return results + [child.result() for child in children]


class Pending:
    """``function(part)`` computing in a forked child from now on, its ``result()`` waited for when
    asked. A child that fails or dies has its part computed here after all, so that what is raised is
    what the serial computation raises (its type, message and traceback); ``cancel()`` ends the child
    (the caller's own computation failed)."""

    def __init__(self, function: Callable[[Any], Any], part: Any):
        self.function, self.part = function, part
        self.pid, self.read = _start(function, part)
        self.running = True

    def result(self) -> Any:
        self.running = False
        done, value = _collect(self.pid, self.read)
        return value if done else self.function(self.part)

    def cancel(self) -> None:
        """The child ended, where it still runs (not once its result was asked for)."""
        if self.running:
            self.running = False
            _end(self.pid, self.read)


def _start(function, part) -> tuple[int, int]:
    read, write = os.pipe()
    gc.freeze()  # the child's collections leave what it inherits alone: not read, so not copied (copy on write)
    pid = os.fork()
    if pid == 0:  # the child: compute, send, and end without running the parent's exit handlers
        status = 1
        try:
            os.close(read)
            die_with_parent()
            data = pickle.dumps(function(part), pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write, "wb") as pipe:
                pipe.write(data)
            status = 0
        finally:
            os._exit(status)
    gc.unfreeze()
    os.close(write)
    return pid, read


def _collect(pid: int, read: int) -> tuple[bool, Any]:
    """The child's result (True, value), or (False, None) where it failed or died."""
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return False, None
    return True, pickle.loads(data)


def _end(pid: int, read: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.close(read)
    with suppress(ChildProcessError):
        os.waitpid(pid, 0)
