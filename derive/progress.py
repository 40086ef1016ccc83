"""Progress on stderr for work that takes a while: what is being done, and a counter.

Shown only when stderr is a terminal and not ``--quiet``; each update overwrites the line, and the
line is cleared at the end, so nothing of it stays in a log or a pipe.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._last = 0.0

    def stage(self, text: str) -> None:
        self._show(text, force=True)

    def count(self, text: str, done: int, total: int) -> None:
        if time.monotonic() - self._last >= 0.1 or done == total:  # at most ten updates a second
            self._show(f"{text} {done}/{total}")

    def _show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        self._last = time.monotonic()
        elapsed = self._last - self.started
        self.stream.write(f"\r\033[K[derive {elapsed:5.1f}s] {text}")
        self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


QUIET = Progress(enabled=False)
