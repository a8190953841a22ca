"""Signs of life: a heartbeat line while one evaluate() call runs long."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable

HEARTBEAT_ENV = "HARNESS_HEARTBEAT_SECONDS"

_activity = ""  # what the core's long loops (decoding, training) last said; read by the heartbeat


def activity(text: str) -> None:
    """Record what a long inner loop is doing ("generating: token 12/64, 8 rows"); the
    heartbeat shows it beside the benchmark's own :meth:`TaskContext.report`. Cheap enough
    to call every step."""
    global _activity
    _activity = text


def current_activity() -> str:
    return _activity


def heartbeat_seconds() -> float:
    try:
        return max(0.1, float(os.environ.get(HEARTBEAT_ENV, "30")))
    except ValueError:
        return 30.0


class Heartbeat:
    """While active, print ``task: still working on SAMPLES (N s) [note]`` every ``interval`` seconds.

    ``note`` is what the benchmark last reported with :meth:`TaskContext.report`."""

    def __init__(self, what: str, note: Callable[[], str], enabled: bool = True, interval: float | None = None,
                 write: Callable[[str], Any] | None = None):
        self.what, self.note, self.enabled = what, note, enabled
        self.interval = interval or heartbeat_seconds()
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0

    def __enter__(self) -> Heartbeat:
        if self.enabled:
            self._t0 = time.time()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            note = self.note()
            self.beats += 1
            self.write(f"{self.what}: still working ({time.time() - self._t0:.0f} s){' - ' + note if note else ''}")

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
