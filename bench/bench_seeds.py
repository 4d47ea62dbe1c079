"""Seeds of one width as one program vs one after another, through ``mfspec run``'s sweep.

The issue's measure: ``mfspec run`` on the default spec at n = 50, 20,000 steps, with 1, 2 and 8
seeds; the marginal cost of 7 more seeds (8 − 1) over that of one more (2 − 1), sequential (today's
path, ``batch_seeds=False``) and batched (``mfspec._seeds``). Each configuration runs in a fresh
process (compilation included, as a user sees it), one after another on a quiet machine.

    python bench/bench_seeds.py            # ~3 min on 2 cores; writes results/seeds.json
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "seeds.json"
ONE = """
import sys, time
import mfspec as mf
from mfspec._sweep import new_results, run_sweep
sf = mf.load_spec_file("isotropic_gaussians")
run = mf.Run(widths=(50,), seeds=int(sys.argv[1]), iterations=20_000, num_evals=30, eval_samples=2000)
res = new_results(sf.spec, run, spec_file=None, preset=None, seed=0)
start = time.perf_counter()
run_sweep(sf.spec, run, results=res, progress=False, batch_seeds=sys.argv[2] == "batched")
print(time.perf_counter() - start)
"""


def seconds(seeds: int, mode: str) -> float:
    """Wall time of one sweep in a fresh process (the sweep itself, after imports)."""
    out = subprocess.run(
        [sys.executable, "-c", ONE, str(seeds), mode], check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import jax

    result = {
        "machine": f"{platform.machine()}, {jax.device_count()} {jax.default_backend()} device(s)",
        "runs": {},
    }
    start = time.perf_counter()
    for mode in ("sequential", "batched"):
        t = {s: seconds(s, mode) for s in (1, 2, 8)}
        result["runs"][mode] = {
            "seconds": t,
            "one_more_seed": t[2] - t[1],
            "seven_more_seeds": t[8] - t[1],
            "ratio": (t[8] - t[1]) / (t[2] - t[1]),
        }
        print(mode, json.dumps(result["runs"][mode]), flush=True)
    result["bench_seconds"] = time.perf_counter() - start
    OUT.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
