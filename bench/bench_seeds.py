"""Seeds of one width as one program vs one after another, through ``mfspec run``'s sweep.

The issue's measure: ``mfspec run``'s sweep on the default spec at n = 50, 20,000 steps, with 1, 2
and 8 seeds; the marginal cost of 7 more seeds (8 − 1) over that of one more (2 − 1), and the
seconds per seed at 8 seeds (throughput). Three paths: sequential (one seed after another,
``batch_seeds=False``), batched on one device (``mfspec.finite.seeds``), and batched with the seed axis
cut over 2 XLA host devices (``--xla_force_host_platform_device_count=2``). Then the default
preset's ``mfspec run --no-limit`` (the whole sweep, limit skipped) before (sequential, one device)
and after (``--batch-seeds`` on 2 host devices). Each configuration runs in a fresh process
(compilation included, as a user sees it), one after another; the load average is recorded at the
start and the end (the machine may be shared).

    python bench/bench_seeds.py            # ~8 min on 2 cores; writes results/seeds.json
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "seeds.json"
ONE = """
import sys, time
import mfspec as mf
from mfspec.run.sweep import new_results, run_sweep
sf = mf.load_spec_file("isotropic_gaussians")
run = mf.Run(widths=(50,), seeds=int(sys.argv[1]), iterations=20_000, num_evals=30, eval_samples=2000)
res = new_results(sf.spec, run, spec_file=None, preset=None, seed=0)
start = time.perf_counter()
run_sweep(sf.spec, run, results=res, progress=False, batch_seeds=sys.argv[2] == "batched")
print(time.perf_counter() - start)
"""
#: path → (batch_seeds, host devices)
PATHS = {"sequential": ("sequential", 1), "batched": ("batched", 1), "batched_2_devices": ("batched", 2)}


def _env(devices: int) -> dict:
    env = dict(os.environ)
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def seconds(seeds: int, path: str) -> float:
    """Wall time of one sweep in a fresh process (the sweep itself, after imports)."""
    mode, devices = PATHS[path]
    out = subprocess.run(
        [sys.executable, "-c", ONE, str(seeds), mode],
        check=True,
        capture_output=True,
        text=True,
        env=_env(devices),
    )
    return float(out.stdout.strip().splitlines()[-1])


def default_run(batched: bool, devices: int) -> dict:
    """``mfspec run`` on the default spec and preset, limit skipped: the process's wall time and the
    run's own (results.json's wall_seconds: the sweep, after imports)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "mfspec.cli", "run", "--no-limit", "--quiet", "--out", out]
        start = time.perf_counter()
        subprocess.run(
            cmd + (["--batch-seeds"] if batched else []), check=True, capture_output=True, env=_env(devices)
        )
        wall = time.perf_counter() - start
        sweep = json.loads((Path(out) / "results.json").read_text())["wall_seconds"]
    return {"batch_seeds": batched, "host_devices": devices, "process_seconds": wall, "run_seconds": sweep}


def main() -> None:
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "loadavg_start": os.getloadavg(),
        "runs": {},
    }
    start = time.perf_counter()
    for path in PATHS:
        t = {s: seconds(s, path) for s in (1, 2, 8)}
        result["runs"][path] = {
            "seconds": t,
            "one_more_seed": t[2] - t[1],
            "seven_more_seeds": t[8] - t[1],
            "ratio": (t[8] - t[1]) / (t[2] - t[1]),
            "seconds_per_seed_at_8": t[8] / 8,
        }
        print(path, json.dumps(result["runs"][path]), flush=True)
    result["loadavg_after_n50"] = os.getloadavg()
    result["default_preset"] = {
        "before": default_run(batched=False, devices=1),
        "after": default_run(batched=True, devices=2),
    }
    print("default preset", json.dumps(result["default_preset"]), flush=True)
    result["loadavg_end"] = os.getloadavg()
    result["bench_seconds"] = time.perf_counter() - start
    OUT.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
