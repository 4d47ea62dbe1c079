"""What the multi-process tests share: a free coordinator port, and killing process 1 of a job."""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    """A localhost port nobody listens on now (the coordinator's)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def kill_process_1(procs) -> tuple[str, float]:
    """SIGKILL process 1 and wait for process 0 to end (60 s at most): its stderr and the seconds
    it took to stop after the kill. The caller kills every process in a ``finally``."""
    procs[1].kill()
    killed = time.monotonic()
    _, err = procs[0].communicate(timeout=60)
    return err, time.monotonic() - killed
