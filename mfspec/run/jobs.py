"""The command line's side of ``mfspec.common.processes`` and ``mfspec.limit.mesh``: the --distributed family of flags of
``mfspec run`` and ``mfspec limit``, joining the job, the limit's mesh, and who speaks and writes.

A multi-process job runs the same command in every process (JAX's multi-controller model): each
computes its share of every limit solve (the mesh spans every device of every process) and its
share of the finite sweep's (width, seed) runs (``mfspec.run.share``), and process 0 alone
prints, writes results.json, the figure and the checkpoints. A process that fails prints its error
naming itself and ends at once; a process that stops reporting (killed, or failed) is named by its
peers, which end with what the job keeps (``mfspec.common.peers``). A job that succeeds leaves in order
(``finish``).
"""

from __future__ import annotations

import argparse
import sys

import jax

from mfspec.common.peers import end
from mfspec.common.processes import fail, initialize, is_writer
from mfspec.limit.mesh import limit_mesh

#: Seconds without a heartbeat after which JAX declares a process dead and stops the job.
DEFAULT_HEARTBEAT = 100


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process job (jax.distributed: detected under SLURM / Open MPI, else give "
        "--coordinator, --num-processes, --process-id); process 0 writes the results",
    )
    p.add_argument("--coordinator", default=None, help="HOST:PORT of process 0's coordinator (--distributed)")
    p.add_argument("--num-processes", type=int, default=None, help="processes in the job (--distributed)")
    p.add_argument(
        "--process-id", type=int, default=None, help="this process's index, 0..N-1 (--distributed)"
    )
    p.add_argument(
        "--heartbeat-timeout",
        type=int,
        default=None,
        help=f"seconds after which a silent process is declared dead and the job stopped (--distributed; "
        f"default {DEFAULT_HEARTBEAT})",
    )
    p.add_argument(
        "--particle-shards",
        type=int,
        default=1,
        help="devices along the limit's layer-1 particle axis, the rest along its data axis (default 1: "
        "the data expectation alone is cut)",
    )


def check_flags(args) -> None:
    """The --distributed family, checked before any compute (a ValueError naming the flag)."""
    if not args.distributed:
        for flag in ("coordinator", "num_processes", "process_id", "heartbeat_timeout"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag.replace('_', '-')} {getattr(args, flag)!r}: needs --distributed")
    if args.heartbeat_timeout is not None and args.heartbeat_timeout < 1:
        raise ValueError(
            f"--heartbeat-timeout {args.heartbeat_timeout!r}: must be a positive number of seconds"
        )
    if args.particle_shards < 1:
        raise ValueError(f"--particle-shards {args.particle_shards!r}: must be a positive int")


def start(args) -> None:
    """Join the job (``jax.distributed.initialize``) with --distributed; call before any JAX array."""
    check_flags(args)
    if args.distributed:
        initialize(args.coordinator, args.num_processes, args.process_id,
                   heartbeat_timeout=args.heartbeat_timeout or DEFAULT_HEARTBEAT)  # fmt: skip


def mesh(args):
    """The limit's device mesh over every device of every process, or None on one device (the
    one-device solve, unchanged)."""
    n = jax.device_count()
    if n == 1:
        if args.particle_shards != 1:
            raise ValueError(f"--particle-shards {args.particle_shards}: there is 1 device")
        return None
    try:
        m = limit_mesh(particles=args.particle_shards)
    except ValueError:
        raise ValueError(f"--particle-shards {args.particle_shards}: must divide the {n} devices") from None
    say(f"limit cut over {n} devices {dict(m.shape)} in {jax.process_count()} process(es)")
    return m


def writer() -> bool:
    """Whether this process prints and writes (process 0 of a multi-process job)."""
    return is_writer()


def say(text: str) -> None:
    """A message on stderr, from the writer only."""
    if writer():
        print(text, file=sys.stderr)


def progress(args) -> bool:
    """Whether to draw progress bars: the writer's, unless --quiet."""
    return not args.quiet and writer()


def failed(args, err: BaseException) -> None:
    """In a joined job: name this process and its error, and end it now (``processes.fail``,
    which does not return). Otherwise nothing: the caller reports as usual."""
    if not getattr(args, "distributed", False):
        return
    if jax.distributed.is_initialized():
        fail(f"mfspec {args.command}", err, args.heartbeat_timeout or DEFAULT_HEARTBEAT)


def finish(args) -> None:
    """In a joined job that succeeded: leave it in order (``mfspec.common.peers.end``)."""
    if getattr(args, "distributed", False):
        end()
