"""SIGTERM handled as Ctrl-C, so that a long run (a sweep, a limit solve) keeps what is finished
when a scheduler or a user stops it, and says so."""

from __future__ import annotations

import contextlib
import signal
import threading


class StopRequest:
    """What the SIGTERM handler saw. The handler raises KeyboardInterrupt where Python happens to
    be, and there it can be swallowed: a signal that lands in a garbage-collector callback (JAX
    installs one) or in a ``__del__`` is printed as "Exception ignored" and lost. ``check()`` at
    the loop's own boundaries raises it again, so that no SIGTERM goes unheeded."""

    def __init__(self):
        self.signum: int | None = None

    def check(self) -> None:
        """Raise KeyboardInterrupt if SIGTERM arrived (whether or not its first raise got through)."""
        if self.signum is not None:
            raise KeyboardInterrupt(f"signal {self.signum}")


@contextlib.contextmanager
def interrupt_on_sigterm():
    """SIGTERM raises KeyboardInterrupt inside the block, as Ctrl-C does, so that the same handler
    keeps what is finished; the previous handler is restored on leaving. Yields a ``StopRequest``
    whose ``check()`` the block calls between units of work (see its docstring). Only the main
    thread can set handlers: elsewhere the block runs unchanged."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        stop.signum = signum
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)
