"""What the fluctuation band costs against one limit solve, in one run on this machine.

For each study spec of ``examples/fluctuation_band.py``: one ``mf.solve_limit`` at the default
resolution (m1 = 1024, one replicate: the solve whose curve is drawn) and ``mf.fluctuation`` at its
default (``BAND_RESOLUTION``, m1 = 256, 8 band times, one reverse pass per time and loss), both cold
(compilation included, as a user runs them) and warm (a second call); the limit as ``mfspec run``
draws it (``mf.limit_estimate``: 4 replicates and the refined solve of its error bar), cold; and the
band's accuracy: its
std at m1 = 256 against m1 = 1024 (sup over times of the relative difference).

    python bench/bench_band.py            # writes bench/results/band_cost.json and prints the table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import fluctuation_band as study  # noqa: E402

import mfspec as mf  # noqa: E402
from mfspec.limit.fluctuation import BAND_RESOLUTION  # noqa: E402

OUT = Path(__file__).parent / "results"


def timed(fn):
    begin = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - begin


def bench(spec, iterations):
    solve = lambda: mf.solve_limit(spec, iterations=iterations, num_evals=16)  # noqa: E731
    band = lambda res: mf.fluctuation(spec, iterations=iterations, num_times=8, resolution=res)  # noqa: E731
    _, solve_cold = timed(solve)
    _, solve_warm = timed(solve)
    es = spec.data.eval_sets(jax.random.PRNGKey(1), 2000)
    _, estimate_cold = timed(
        lambda: mf.limit_estimate(spec, iterations=iterations, num_evals=16, eval_sets=es)
    )
    coarse, band_cold = timed(lambda: band(BAND_RESOLUTION))
    _, band_warm = timed(lambda: band(BAND_RESOLUTION))
    fine = band(mf.Resolution())
    rel = np.abs(coarse.std(200) - fine.std(200)) / fine.std(200)
    return {"estimate_cold_s": estimate_cold, "ratio_to_estimate": band_cold / estimate_cold,
            "solve_cold_s": solve_cold, "solve_warm_s": solve_warm, "band_cold_s": band_cold,
            "band_warm_s": band_warm, "ratio_cold": band_cold / solve_cold, "ratio_warm": band_warm / solve_warm,
            "band_m1_256_vs_1024_sup_rel": float(np.nanmax(rel))}  # fmt: skip


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=study.ITERATIONS)
    args = ap.parse_args(argv)
    rows = {}
    for residual in (False, True):
        spec = study.make(residual)
        rows[spec.name] = bench(spec, args.iterations)
        print(spec.name, {k: round(v, 3) for k, v in rows[spec.name].items()}, flush=True)
    record = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "iterations": args.iterations, "rows": rows}  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / "band_cost.json").write_text(json.dumps(record, indent=1))
    print(
        "| spec | one solve cold / warm (s) | band cold / warm (s) | band / solve cold / warm | "
        "limit with error bar, cold (s) | band / it | band m1=256 vs 1024 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['solve_cold_s']:.1f} / {r['solve_warm_s']:.1f} | {r['band_cold_s']:.1f} / "
              f"{r['band_warm_s']:.1f} | {r['ratio_cold']:.2f} / {r['ratio_warm']:.2f} | {r['estimate_cold_s']:.1f} | "
              f"{r['ratio_to_estimate']:.2f} | "
              f"{r['band_m1_256_vs_1024_sup_rel']:.1%} |")  # fmt: skip


if __name__ == "__main__":
    main()
