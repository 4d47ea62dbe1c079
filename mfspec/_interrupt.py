"""SIGTERM handled as Ctrl-C, so that a long run (a sweep, a limit solve) keeps what is finished
when a scheduler or a user stops it, and says so."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def interrupt_on_sigterm():
    """SIGTERM raises KeyboardInterrupt inside the block, as Ctrl-C does, so that the same handler
    keeps what is finished; the previous handler is restored on leaving. Only the main thread can
    set handlers: elsewhere the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
