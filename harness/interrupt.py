"""Ctrl-C handling: writes finish before the interrupt lands; the CLI then says what was saved."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; ``saved`` says in one sentence what is on disk."""

    def __init__(self, saved: str):
        super().__init__(saved)
        self.saved = saved


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Run the block to its end; a SIGINT that arrives meanwhile is raised afterwards."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt
