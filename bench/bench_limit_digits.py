"""Which discretization factor dominates the digits limit's error bar.

The digits (``spec/digits.py``, 4 layers, d = 64, 1,300 training images, 10 outputs, t ≤ 150) have
no affordable high-accuracy reference on 2 cores, so this changes one factor of the default
``Resolution`` at a time and reports each solve's sup-over-t distance to the default:

    python bench/bench_limit_digits.py      # ~25 min on 2 cores; writes results/digits_limit_factors.json

Rows: the default (M_1 = 1024 Sobol layer-1 particles, 256 Sobol head particles, Heun dt = 0.075),
dt/2, M_1 × 2, the head's Sobol points × 2, M_1 × 4. The refined solve of ``mfspec run``'s error bar
changes all of the first three at once.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

import mfspec as mf
from mfspec.finite.curves import eval_sets_for

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "digits_limit_factors.json"


def main() -> None:
    sys.path.insert(0, str(ROOT / "spec"))
    spec = importlib.import_module("digits").spec
    run = mf.Run(widths=(50,), seeds=1, iterations=3000, num_evals=25, eval_samples=2000)
    ev = eval_sets_for(spec, run, jax.random.PRNGKey(0))
    base = mf.Resolution()
    candidates = {
        "default": base,
        "dt/2": dataclasses.replace(base, dt=0.0375),
        "m1x2": dataclasses.replace(base, m1=2048),
        "qmcx2": dataclasses.replace(base, qmc_points=512),
        "m1x4": dataclasses.replace(base, m1=4096),
    }
    curves, seconds = {}, {}
    for name, res in candidates.items():
        start = time.perf_counter()
        sol = mf.solve_limit(spec, iterations=run.iterations, num_evals=run.num_evals, eval_sets=ev,
                                     resolution=res)  # fmt: skip
        seconds[name] = time.perf_counter() - start
        curves[name] = {k: np.asarray(v).tolist() for k, v in sol.curve.metrics.items()}
        print(f"{name}: {seconds[name]:.0f} s", flush=True)
    ref = {k: np.asarray(v) for k, v in curves["default"].items()}
    gaps = {n: {k: float(np.max(np.abs(np.asarray(c[k]) - ref[k]))) for k in ref} for n, c in curves.items()}
    # Whether the layer-1 sample has converged: M_1 2048 against 4096.
    gaps["m1x2 vs m1x4"] = {
        k: float(np.max(np.abs(np.asarray(curves["m1x2"][k]) - np.asarray(curves["m1x4"][k])))) for k in ref
    }
    for n, g in gaps.items():
        print(f"{n:14s} {seconds.get(n, 0):6.0f} s  " + "  ".join(f"{k} {v:.3f}" for k, v in g.items()))
    OUT.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "t": np.asarray(sol.curve.t).tolist(),
                               "seconds": seconds, "sup_gap_to_default": gaps, "curves": curves}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
