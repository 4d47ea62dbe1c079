"""The digits limit on 1 vs 2 processes, one thread each (mfspec/limit/mesh.py, mfspec/common/processes.py).

    python bench/bench_distributed.py      # ~3 min on 2 cores; writes results/distributed.json

The digits spec (``spec/digits.py``: d = 64, 1,300 training images, 10 outputs) at the default
resolution (M_1 = 1024 layer-1 particles, 256 head particles), float32 as ``mfspec run``, on a
SHORTENED horizon: 300 SGD steps (t = 15 of the preset's 150) with the preset's Heun step
dt = 0.075 (200 steps, 400 rates calls), so that one solve takes seconds, not minutes.

Each process is pinned to its own core (``os.sched_setaffinity``) and runs XLA single-threaded
(``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``); the two
processes join over gloo on localhost and cut the data expectation in two (the mesh's data axis).
Measured per configuration: the steady rates call (median of 30 after a compiling call), and the
whole solve (compilation included). Speedup = T_1 / T_2, parallel efficiency = speedup / 2.

The communication per rates call is read off the compiled program (the HLO's collectives and the
bytes of their operands): with the batch cut, it is one all-reduce of the rate arrays of every
replicated coordinate, i.e. the whole packed rate vector.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "distributed.json"
ITERATIONS, DT, CALLS = 300, 0.075, 30
ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
BYTES = {"f64": 8, "f32": 4, "s32": 4, "s64": 8, "pred": 1, "u32": 4}


def collectives(hlo: str) -> dict[str, int]:
    """Collective op kind → bytes of its results, summed over the compiled program's ops."""
    out: dict[str, int] = {}
    for line in hlo.splitlines():
        m = re.search(
            r"=\s*(.*?)\s(all-reduce|all-gather|reduce-scatter|all-to-all|collective-permute)\(", line
        )
        if m is None:
            continue
        size = sum(
            BYTES[t] * math.prod(int(n) for n in dims.split(",") if n)
            for t, dims in re.findall(r"\b([a-z]+\d*)\[([\d,]*)\]", m.group(1))
        )
        out[m.group(2)] = out.get(m.group(2), 0) + size
    return out


def worker(coordinator: str | None, nproc: int, pid: int, core: int, result: Path) -> None:
    os.sched_setaffinity(0, {core})
    import jax

    from mfspec.common.processes import initialize
    from mfspec.limit.mesh import limit_mesh, sharded_solve_inputs

    if coordinator is not None:
        initialize(coordinator, nproc, pid, initialization_timeout=60)
    import jax.numpy as jnp
    import numpy as np

    import mfspec as mf
    from mfspec.limit.expectation import data_expectation
    from mfspec.limit.formal import FormalSystem
    from mfspec.limit.particles import spec_particles
    from mfspec.limit.solve import packed_vector_field
    from mfspec.network.particles import pack

    spec = mf.load_spec_file("digits").variant(None)
    res = mf.Resolution(dt=DT)
    y0 = spec_particles(spec, resolution=res, dtype=jnp.float32)
    batch = data_expectation(spec, dtype=jnp.float32)
    system = FormalSystem.from_spec(spec)
    mesh = limit_mesh() if jax.device_count() > 1 else None
    if mesh is None:
        field, y, args = packed_vector_field, pack(y0), (system, y0, batch)
    else:
        field, y, args = sharded_solve_inputs(mesh, system, y0, batch)
    rates = jax.jit(field)
    compiled = rates.lower(0.0, y, args).compile()
    comm = collectives(compiled.as_text()) if mesh is not None else {}
    rates(0.0, y, args).block_until_ready()
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        rates(0.0, y, args).block_until_ready()
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    sol = mf.solve_limit(spec, iterations=ITERATIONS, resolution=res, mesh=mesh, eval_samples=2000)
    solve = time.perf_counter() - start
    if jax.process_index() == 0:
        result.write_text(json.dumps({
            "processes": jax.process_count(), "devices": jax.device_count(),
            "rates_call_ms": 1e3 * float(np.median(times)), "solve_seconds": solve, "steps": sol.num_steps,
            "rates_calls": 2 * sol.num_steps, "collective_bytes_per_rates_call": comm,
            "state_floats": int(y.size), "batch": int(batch.x.shape[0]),
            "test_loss": [float(v) for v in sol.curve.metrics["test_loss"]],
        }))  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(nproc: int, result: Path) -> dict:
    env = dict(os.environ, XLA_FLAGS=ONE_THREAD)
    coord = f"localhost:{_free_port()}" if nproc > 1 else "-"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                coord,
                str(nproc),
                str(i),
                str(i % os.cpu_count()),
                str(result),
            ],
            env=env,
        )  # fmt: skip
        for i in range(nproc)
    ]
    for p in procs:
        if p.wait(timeout=600) != 0:
            raise SystemExit(
                f"bench_distributed: a worker of the {nproc}-process run failed ({p.returncode})"
            )
    return json.loads(result.read_text())


def main() -> None:
    runs = {n: launch(n, OUT.with_suffix(f".{n}.tmp")) for n in (1, 2)}
    for n in runs:
        OUT.with_suffix(f".{n}.tmp").unlink()
    one, two = runs[1], runs[2]
    import numpy as np

    loss1, loss2 = np.asarray(one["test_loss"]), np.asarray(two["test_loss"])
    summary = {
        "what": "digits limit, default resolution, float32, 300 SGD steps (t = 15 of 150), Heun dt = 0.075; "
        "one thread per process, each pinned to its core; 2 processes over gloo cut the 1,300 data points",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "one_process": one,
        "two_processes": two,
        "speedup_rates_call": one["rates_call_ms"] / two["rates_call_ms"],
        "efficiency_rates_call": one["rates_call_ms"] / two["rates_call_ms"] / 2,
        "speedup_solve": one["solve_seconds"] / two["solve_seconds"],
        "efficiency_solve": one["solve_seconds"] / two["solve_seconds"] / 2,
        "all_reduce_bytes_per_rates_call": two["collective_bytes_per_rates_call"].get("all-reduce", 0),
        "test_loss_max_relative_gap": float(np.max(np.abs(loss2 - loss1) / np.abs(loss1))),
    }
    OUT.write_text(json.dumps(summary, indent=1))
    keys = ("speedup_rates_call", "efficiency_rates_call", "speedup_solve", "efficiency_solve")
    print(json.dumps({k: summary[k] for k in keys}, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, coord, nproc, pid, core, result = sys.argv
        worker(None if coord == "-" else coord, int(nproc), int(pid), int(core), Path(result))
    else:
        main()
