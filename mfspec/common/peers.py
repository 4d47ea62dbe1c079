"""The processes of a job watch each other: one that stops reporting ends the job with mfspec's message.

Without help, a multi-process JAX job whose process dies ends its survivors with the coordination
service's fatal log (``client.h: Terminating process because the JAX distributed service detected
fatal errors``), an abort from a C++ thread that Python cannot catch. So ``initialize`` turns on
JAX's ``jax_enable_recoverability``: the coordination service then no longer propagates a task's
death as a fatal error, and ``DistributedRuntimeClient.get_live_nodes`` (the call under
``jax.experimental.multihost_utils.live_devices``) says which processes are still alive. It has
barrier semantics — each call returns once every *live* process has made it — so every process runs
the same watcher thread (``watch``), which calls it once a second, in step with its peers (the call
releases the GIL: the training goes on meanwhile). A process that misses heartbeats for
``--heartbeat-timeout`` seconds drops out of the live set; the survivors then print which one
stopped and what the job keeps (``keep``: the finished curves in results.json, the limit's
checkpoints), and exit with status 3.

What cannot be caught: the coordination service lives in process 0; if process 0 itself dies, the
others lose the service and JAX's client ends them with its fatal log (its
``missed_heartbeat_callback`` is not reachable through ``jax.distributed.initialize``).

Recoverability has one other effect: the service's shutdown no longer waits for the other
processes, so a process 0 that leaves first strands them (``Failed to disconnect from coordination
service``, fatal). ``end`` orders the goodbyes: a barrier, then every other process disconnects, and
process 0 leaves once its watcher has seen them gone.
"""

from __future__ import annotations

import os
import sys
import threading

import jax

#: What the job keeps if it stops now (``keep``), said in the message of a process that stopped.
_KEPT = ["nothing finished yet"]
#: Held while the writer writes a file, so that a stopping job never leaves half a write behind.
WRITING = threading.RLock()
_ENDING = threading.Event()  # set by ``end``: peers that leave now are done, not lost
_LEFT = threading.Event()  # set by the watcher when, ending, every peer has left
_EXIT_STOPPED = 3
_state: dict = {}


def client():
    # JAX's private client (its public API does not expose get_live_nodes): imported where used, so
    # that a JAX without it fails only in a multi-process job.
    from jax._src.distributed import global_state

    return global_state.client


def keep(what: str) -> None:
    """Say what a job that stops now keeps (e.g. "finished curves kept in DIR/results.json")."""
    _KEPT[0] = what


def kept() -> str:
    """What a job that stops now keeps (``keep``)."""
    return _KEPT[0]


def watch(heartbeat_timeout: int, interval: float = 1.0) -> None:
    """Start this process's watcher thread (once, after ``jax.distributed.initialize``)."""
    n, me = jax.process_count(), jax.process_index()
    if n == 1 or _state:
        return
    _state.update(n=n, me=me, timeout=heartbeat_timeout)
    thread = threading.Thread(target=_watch, args=(n, me, interval), name="mfspec-peers", daemon=True)
    _state["thread"] = thread
    thread.start()


def _watch(n: int, me: int, interval: float) -> None:
    service, everyone = client(), list(range(n))
    while True:
        try:
            live = service.get_live_nodes(everyone)
        except Exception as err:  # the service is gone: process 0 stopped (or we are shutting down)
            if _ENDING.is_set():
                return
            stopped([0] if me else everyone[1:], f"the coordination service stopped answering: {err}")
        gone = sorted(set(everyone) - set(live))
        if gone and _ENDING.is_set():
            if len(live) == 1:
                _LEFT.set()
                return
        elif gone:
            stopped(gone, f"no heartbeat for {_state['timeout']} s")
        if _ENDING.wait(interval) and me != 0:
            return  # this process disconnects now (``end``)


def stopped(gone: list[int], why: str) -> None:
    """Print which processes stopped and what is kept, then end this process (status 3)."""
    with WRITING:
        names = ", ".join(str(i) for i in gone)
        print(
            f"mfspec: process {names} of {_state.get('n', '?')} stopped reporting (killed or failed; {why}); "
            f"the job stops here, in process {_state.get('me', '?')}; {_KEPT[0]}",
            file=sys.stderr,
            flush=True,
        )
        os._exit(_EXIT_STOPPED)


def peer_stopped_within(seconds: float) -> bool:
    """Whether the watcher stops this process within ``seconds`` (it does not return then): for an
    error that may be a peer's death seen first by a collective ("Connection reset by peer")."""
    thread = _state.get("thread")
    if thread is None:
        return False
    thread.join(seconds)  # the watcher runs until the job ends: this waits ``seconds`` or never returns
    return False


def end(timeout_s: float = 60.0) -> None:
    """Leave the job in order (see the module docstring); every process calls it after its work."""
    if not _state:
        return
    client().wait_at_barrier("mfspec/end", int(timeout_s * 1000))
    _ENDING.set()
    if _state["me"] != 0:
        _state["thread"].join(timeout_s)
        jax.distributed.shutdown()
    else:
        _LEFT.wait(timeout_s)
