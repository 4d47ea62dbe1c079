"""A finer CNN limit than the preset's, to measure the finite → limit distances against
(bench/cnn_limit_study.py's limit uses M_1 = 128 and 2 replicates: its own bar is wider than the
distances it should resolve).

Each call solves one randomized replicate r (its own Sobol scrambles of the layer-1 filters and the
head's β) of ``learnable_cifar_cnn`` at the resolution given, on the same evaluation grid and
samples as ``mfspec run --preset paper``, and writes bench/results/cnn_limit_reference_<variant>_r<r>.json.
Two replicates run side by side (one per core); ``--compare`` then measures the study's finite
curves against their mean, with their half-difference as the reference's own sampling error.

    MFSPEC_DATA=data python bench/cnn_limit_reference.py --variant fan_in --replicate 0 &
    MFSPEC_DATA=data python bench/cnn_limit_reference.py --variant fan_in --replicate 1; wait
    python bench/cnn_limit_reference.py --variant fan_in --compare runs/cnn_limit_study/fan_in/results.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = ("train_loss", "train_error", "test_loss", "test_error")


def solve(variant: str, r: int, m1: int, qmc: int, dt: float) -> None:
    import jax

    import mfspec as mf
    from mfspec.finite.curves import eval_sets_for
    from mfspec.limit.error_bar import replicate_keys

    sf = mf.load_spec_file("learnable_cifar_cnn")
    spec, run = sf.variant(variant), sf.preset("paper")
    eval_sets = eval_sets_for(spec, run, jax.random.PRNGKey(0))
    res = mf.Resolution(m1=m1, qmc_points=qmc, dt=dt)
    points, data = replicate_keys(0, r)
    start, load = time.perf_counter(), os.getloadavg()
    particles = mf.spec_particles(spec, points, resolution=res)
    sol = mf.solve_limit(spec, iterations=run.iterations, num_evals=run.num_evals, eval_sets=eval_sets,
                         resolution=res, start=mf.Start(particles=particles, data_key=data))  # fmt: skip
    out = {"variant": variant, "replicate": r, "m1": m1, "qmc_points": qmc, "dt": dt,
           "seconds": time.perf_counter() - start, "load_average": [load, os.getloadavg()],
           "iteration": sol.curve.iterations.tolist(), "metrics": {k: v.tolist() for k, v in sol.curve.metrics.items()}}  # fmt: skip
    path = RESULTS / f"cnn_limit_reference_{variant}_r{r}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path} in {out['seconds']:.0f} s")


def compare(variant: str, results: Path) -> None:
    from mfspec.testing import loglog_slope

    refs = [json.loads((RESULTS / f"cnn_limit_reference_{variant}_r{r}.json").read_text()) for r in (0, 1)]
    finite = [c for c in json.loads(results.read_text())["curves"] if c["kind"] == "finite"]
    widths = sorted({c["width"] for c in finite})
    out = {"variant": variant, "reference": {k: refs[0][k] for k in ("m1", "qmc_points", "dt")},
           "reference_seconds": [r["seconds"] for r in refs], "widths": widths, "metrics": {}}  # fmt: skip
    for m in METRICS:
        split, name = m.split("_")
        ref = np.mean([r["metrics"][m] for r in refs], axis=0)
        spread = float(np.max(np.abs(np.subtract(refs[0]["metrics"][m], refs[1]["metrics"][m]))) / 2)
        per = [
            np.stack([c["metrics"][name][split] for c in finite if c["width"] == n]).astype(float)
            for n in widths
        ]
        rms = [float(np.sqrt(np.mean(np.max(np.abs(c - ref), axis=1) ** 2))) for c in per]
        mean = [float(np.max(np.abs(c.mean(0) - ref))) for c in per]
        out["metrics"][m] = {"reference_half_difference_sup": spread, "rms": rms, "mean": mean,
                             "slope_rms": loglog_slope(widths, rms), "slope_mean": loglog_slope(widths, mean)}  # fmt: skip
        print(m, f"ref ±{spread:.3g}", [f"{v:.3g}" for v in rms], [f"{v:.3g}" for v in mean],
              f"slopes rms {out['metrics'][m]['slope_rms']:+.2f} mean {out['metrics'][m]['slope_mean']:+.2f}")  # fmt: skip
    (RESULTS / f"cnn_limit_reference_{variant}.json").write_text(json.dumps(out, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="fan_in", help="'fan_in', or 'literal' for the spec itself")
    p.add_argument("--replicate", type=int, default=0)
    p.add_argument("--m1", type=int, default=512)
    p.add_argument("--qmc", type=int, default=512)
    p.add_argument("--dt", type=float, default=0.2)
    p.add_argument("--compare", type=Path, default=None, help="a study results.json to measure")
    a = p.parse_args()
    variant = None if a.variant == "literal" else a.variant
    if a.compare is not None:
        compare(a.variant, a.compare)
    else:
        solve(variant, a.replicate, a.m1, a.qmc, a.dt)


if __name__ == "__main__":
    main()
