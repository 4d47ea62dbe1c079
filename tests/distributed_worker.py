"""The body of tests/test_distributed.py's subprocesses: one limit solve, its curve saved to a file.

    python tests/distributed_worker.py OUT.npz SPEC [--devices N] [--particle-shards K ...]
        [--coordinator HOST:PORT --num-processes N --process-id I] [--checkpoint FILE]

SPEC is "isotropic" (the default spec, radial) or "classification" (a finite dataset, particles),
both at a tiny resolution in float64. Without --devices/--coordinator: the one-device reference.
One solve per K (devices along the particle axis), saved as OUT with K in its name (process 0;
process I > 0 adds ".I"). Forced host devices must be set before JAX starts, hence a process of its own.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("spec", choices=("isotropic", "classification"))
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--particle-shards", type=int, nargs="+", default=[1])
    parser.add_argument("--coordinator", default=None)
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--process-id", type=int, default=None)
    parser.add_argument("--checkpoint", type=Path, default=None)
    args = parser.parse_args()
    if args.devices is not None:
        os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"
    import jax

    jax.config.update("jax_enable_x64", True)
    from mfspec.common.processes import initialize, is_writer
    from mfspec.limit.mesh import limit_mesh

    if args.coordinator is not None:
        initialize(args.coordinator, args.num_processes, args.process_id, heartbeat_timeout=10,
                   initialization_timeout=60)  # fmt: skip
    import numpy as np

    import mfspec as mf

    sys.path.insert(0, str(Path(__file__).parent))
    from helpers import classification_spec

    if args.spec == "isotropic":
        spec = mf.load_spec_file("isotropic_gaussians").variant(None)
        res = mf.Resolution(s_nodes=4, u_nodes=16, r_nodes=7, theta_nodes=4)
    else:
        spec, res = classification_spec(n=37), mf.Resolution(m1=64, qmc_points=16)
    more = {} if args.checkpoint is None else {"checkpoint": mf.Checkpoint(args.checkpoint, every_steps=7)}
    for k in args.particle_shards:
        mesh = limit_mesh(particles=k) if jax.device_count() > 1 else None
        sol = mf.solve_limit(spec, iterations=200, num_evals=8, resolution=res, dtype="float64",
                             eval_samples=200, mesh=mesh, **more)  # fmt: skip
        rank = "" if is_writer() else f".{jax.process_index()}"
        np.savez(args.out.parent / f"{args.out.stem}_{k}{rank}.npz", devices=jax.device_count(),
                 steps=sol.num_steps, method=sol.method, **sol.curve.metrics)  # fmt: skip
    from mfspec.common.peers import end

    end()  # leave the job in order: process 0, which hosts the coordination service, last


if __name__ == "__main__":
    main()
