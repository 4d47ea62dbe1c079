"""Does the limit's error bar hold, and how close is the default solve? Two measurements, float64:

1. The default spec's τ2 = 3 variant (Fig. 5, bottom row) solved with the default settings of
   ``mfspec limit`` (radial, Heun dt = 0.01 landing on every evaluation time, 16 θ nodes), its
   POPULATION loss (quadrature over the data law, no sample) against a high-accuracy population
   limit (2× the radial nodes, 32 θ nodes, dt/4), at every evaluation time of the default preset.
2. A spec without symmetry (``spec/tanh_nonlinear_boundary.py``: d = 8, finite data, tanh), solved
   as ``mfspec limit`` does by default (M_1 = 1024, 4 replicates, adaptive Tsit5), its error bar
   against the distance to a high-accuracy solve (M_1 = 16384, mean of 2 independent scrambles,
   24 θ nodes, tolerances / 2^5): sup over t and pointwise.

    python bench/limit_trust.py [--out bench/results/limit_trust.json]

Writes the numbers as JSON; the summary is in bench/results/limit_trust.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import mfspec as mf  # noqa: E402
from mfspec.finite.curves import eval_sets_for  # noqa: E402
from mfspec.limit.error_bar import limit_estimate, replicate_keys  # noqa: E402
from mfspec.run.limit_record import population_metrics  # noqa: E402


def tau2_3() -> dict:
    sf = mf.load_spec_file("isotropic_gaussians")
    spec, run = sf.variant("tau2=3"), sf.preset("default")
    kw = dict(
        iterations=run.iterations,
        num_evals=run.num_evals,
        eval_sets=eval_sets_for(spec, run, jax.random.PRNGKey(0)),
    )
    start = time.perf_counter()
    default = mf.solve_limit(spec, **kw)
    seconds = time.perf_counter() - start
    fine = mf.Resolution(s_nodes=16, u_nodes=512, r_nodes=64, theta_nodes=32, step_divisor=4)
    ref = mf.solve_limit(spec, resolution=fine, **kw)
    got, want = (np.asarray(population_metrics(spec, s)["loss"]) for s in (default, ref))
    gap = np.abs(got - want)
    return {"t": default.curve.t.tolist(), "population_loss": got.tolist(), "reference": want.tolist(),
            "abs_error": gap.tolist(), "max_abs_error": float(gap.max()), "seconds_default_solve": seconds,
            "default_resolution": dataclasses.asdict(mf.Resolution()), "reference_resolution": dataclasses.asdict(fine)}  # fmt: skip


def asymmetric() -> dict:
    sf = mf.load_spec_file("tanh_nonlinear_boundary")
    spec, run = sf.spec, sf.preset("default")
    eval_sets = eval_sets_for(spec, run, jax.random.PRNGKey(0))
    kw = dict(iterations=run.iterations, num_evals=run.num_evals, eval_sets=eval_sets)
    start = time.perf_counter()
    est = limit_estimate(spec, **kw)
    seconds = time.perf_counter() - start
    fine = dataclasses.replace(mf.Resolution(), m1=16384, theta_nodes=24, step_divisor=2)
    refs = []
    for r in range(2):
        points, data = replicate_keys(99, r)
        particles = mf.spec_particles(spec, points, resolution=fine)
        refs.append(
            mf.solve_limit(
                spec, resolution=fine, start=mf.Start(particles=particles, data_key=data), **kw
            ).curve.metrics
        )
    out = {"t": est.curve.t.tolist(), "seconds_default_estimate": seconds, "metrics": {}}
    for name in est.curve.metrics:
        ref = (refs[0][name] + refs[1][name]) / 2
        err, bar = np.abs(est.curve.metrics[name] - ref), est.bar[name]
        out["metrics"][name] = {
            "abs_error": err.tolist(), "bar": bar.tolist(), "sampling": est.parts["sampling"][name].tolist(),
            "discretization": est.parts["discretization"][name].tolist(), "sup_error": float(err.max()),
            "sup_bar": float(bar.max()), "covered_fraction": float(np.mean(err <= bar)),
            "reference_scramble_gap": float(np.max(np.abs(refs[0][name] - refs[1][name]))),
        }  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/limit_trust.json"))
    args = parser.parse_args()
    res = {"machine": f"{platform.machine()}, {jax.device_count()} {jax.default_backend()} device(s)"}
    for name, fn in (("tau2_3", tau2_3), ("asymmetric", asymmetric)):
        start = time.perf_counter()
        res[name] = fn()
        res[name]["seconds"] = time.perf_counter() - start
        print(
            name,
            json.dumps({k: v for k, v in res[name].items() if not isinstance(v, (list, dict))}),
            flush=True,
        )
        args.out.write_text(json.dumps(res, indent=1))  # keep what is finished
    for name, m in res["asymmetric"]["metrics"].items():
        print(
            f"{name}: sup error {m['sup_error']:.2e}, sup bar {m['sup_bar']:.2e}, covered {m['covered_fraction']:.0%}"
        )


if __name__ == "__main__":
    main()
