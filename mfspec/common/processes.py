"""The processes of a multi-process job (``jax.distributed``): joining it, who writes, and how a
failed process ends it (``mfspec run | limit --distributed``; the mesh of the limit's arrays is
``mfspec.limit.mesh``)."""

from __future__ import annotations

import os
import sys

import jax

from mfspec.common.peers import peer_stopped_within, watch
from mfspec.common.validate import is_int


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, heartbeat_timeout: int = 100,
               initialization_timeout: int = 300) -> None:  # fmt: skip
    """Join this process to a multi-process job (``jax.distributed.initialize``), with CPU
    collectives over gloo so that processes on CPUs (one machine or several) can all-reduce.

    Without arguments JAX detects the job (SLURM, Open MPI, ...); otherwise give all three.
    ``heartbeat_timeout``: seconds after which a silent process is declared dead and the job
    stopped, by the survivors' watchers with mfspec's message (``mfspec.common.peers``: this turns on
    JAX's recoverability, so that a peer's death is not JAX's fatal abort). Call it before any JAX
    array exists.
    """
    given = [coordinator, num_processes, process_id]
    if any(v is not None for v in given) and any(v is None for v in given):
        raise ValueError(
            "--distributed: give all of --coordinator HOST:PORT, --num-processes N and --process-id I "
            f"(or none, to detect SLURM / Open MPI), got {coordinator!r}, {num_processes!r}, {process_id!r}"
        )
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--coordinator {coordinator!r}: must be HOST:PORT")
        if not is_int(num_processes) or num_processes < 1:
            raise ValueError(f"--num-processes {num_processes!r}: must be a positive int")
        if not isinstance(process_id, int) or not 0 <= process_id < num_processes:
            raise ValueError(f"--process-id {process_id!r}: must be in [0, {num_processes})")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_enable_recoverability", True)
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id, heartbeat_timeout_seconds=heartbeat_timeout,
                               initialization_timeout=initialization_timeout)  # fmt: skip
    watch(heartbeat_timeout)


def is_writer() -> bool:
    """Whether this process writes the job's files (results, figure, checkpoints): process 0."""
    return jax.process_index() == 0


def process_name() -> str:
    """The words "process I of N", for messages."""
    return f"process {jax.process_index()} of {jax.process_count()}"


def fail(command: str, err: BaseException, heartbeat_timeout: float = 100) -> int:
    """Report a failed process of a multi-process job, naming it, and end it at once: its peers,
    blocked in a collective or waiting for its records, see it gone (``mfspec.common.peers``) and stop
    too. A JAX runtime error (not a bad input) can be a peer's death seen first by a collective
    ("Gloo all-reduce failed: ... Connection reset by peer"): the watcher is given the heartbeat
    timeout to name the process that stopped, before this one reports its own error."""
    if isinstance(err, jax.errors.JaxRuntimeError):
        peer_stopped_within(heartbeat_timeout + 5)  # does not return if a peer stopped
    print(f"{command}: error in {process_name()} (pid {os.getpid()}): {err}", file=sys.stderr, flush=True)
    os._exit(2)
