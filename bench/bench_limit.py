"""Accuracy and cost of the limit, all in one run on this machine.

For a spec: a high-accuracy limit (more nodes/particles, float64, dt/4) is the reference; each
limit discretization reports its sup-over-t distance to it (loss and error) and its solve time
(compile excluded), beside an n = 800 network's distance and its training time.

    python bench/bench_limit.py [--iterations 10000] [--spec isotropic_gaussians tanh_nonlinear_boundary]

Writes bench/results/limit_accuracy.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import mfspec as mf
from mfspec.finite.curves import eval_sets_for
from mfspec.limit.stepping import is_smooth
from mfspec.run.specfile import load_spec_file
from mfspec.run.sweep import run_keys

jax.config.update("jax_enable_x64", True)
OUT = Path(__file__).parent / "results"


def timed_limit(spec, res, *, iterations, num_evals, eval_sets, dtype):
    mf.solve_limit(
        spec, iterations=iterations, num_evals=num_evals, eval_sets=eval_sets, resolution=res, dtype=dtype
    )  # fmt: skip  (compile)
    sol = mf.solve_limit(spec, iterations=iterations, num_evals=num_evals, eval_sets=eval_sets,
                                 resolution=res, dtype=dtype)  # fmt: skip
    return sol


def sup_gap(a, b) -> dict:
    return {k: float(np.max(np.abs(np.asarray(a.metrics[k]) - np.asarray(b.metrics[k])))) for k in a.metrics}


def bench(spec, *, iterations, num_evals, eval_samples, width) -> dict:
    run = mf.Run(
        widths=(width,), seeds=1, iterations=iterations, num_evals=num_evals, eval_samples=eval_samples
    )
    base = jax.random.PRNGKey(0)
    ev32 = eval_sets_for(spec, run, base)
    # The same samples in float64 (drawing them in float64 would give other numbers).
    ev64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), ev32)
    radial = mf.is_rotation_invariant(spec)
    if radial:
        ref_res = mf.Resolution(s_nodes=12, u_nodes=1024, r_nodes=64, theta_nodes=12, dt=2.5e-3)
        candidates = {
            "default": mf.Resolution(),
            "coarse (u 64, r 16)": mf.Resolution(u_nodes=64, r_nodes=16),
            "r 16": mf.Resolution(r_nodes=16),
            "r 64": mf.Resolution(r_nodes=64),
            "dt 5e-3": mf.Resolution(dt=5e-3),
        }
    else:
        # A smooth σ gets adaptive Tsit5 at rtol 1e-8 (a fixed dt = 5e-3 took > 15 min here).
        ref_res = mf.Resolution(m1=4096, theta_nodes=16, data_samples=32768,
                                dt=None if is_smooth(spec) else 5e-3)  # fmt: skip
        # One factor at a time around the default, to see which discretization error dominates.
        candidates = {
            "default (M1 1024, θ 8)": mf.Resolution(),
            "M1 256": mf.Resolution(m1=256),
            "M1 4096": mf.Resolution(m1=4096),
            "θ nodes 4": mf.Resolution(theta_nodes=4),
            "θ nodes 12": mf.Resolution(theta_nodes=12),
        }
    t0 = time.perf_counter()
    ref = mf.solve_limit(spec, iterations=iterations, num_evals=num_evals, eval_sets=ev64,
                                 resolution=ref_res, dtype=jnp.float64, stepping=mf.Stepping(rtol=1e-8, atol=1e-10))  # fmt: skip
    rows = {"reference": {"resolution": repr(ref_res), "seconds_incl_compile": time.perf_counter() - t0}}
    for name, res in candidates.items():
        sol = timed_limit(
            spec, res, iterations=iterations, num_evals=num_evals, eval_sets=ev32, dtype=jnp.float32
        )
        rows[name] = {"resolution": repr(res), "seconds": sol.seconds, "sup_gap": sup_gap(sol.curve, ref.curve),
                      "solver": sol.solver, "dt": sol.dt}  # fmt: skip
        print(f"{spec.name:>20} {name:>28}: {sol.seconds:7.2f} s  gap {rows[name]['sup_gap']}", flush=True)
    init_key, data_key = run_keys(base, 0, 0)
    net = spec.network(width, init_key, dtype=jnp.float32)
    mf.train(spec, net, data_key, iterations=min(iterations, 200), num_evals=3, eval_sets=ev32)  # compile
    t0 = time.perf_counter()
    _, curve = mf.train(spec, net, data_key, iterations=iterations, num_evals=num_evals, eval_sets=ev32)
    train_s = time.perf_counter() - t0
    rows[f"network n={width}"] = {"seconds": train_s, "sup_gap": sup_gap(curve, ref.curve)}
    print(
        f"{spec.name:>20} {'network n=' + str(width):>28}: {train_s:7.2f} s  gap {rows[f'network n={width}']['sup_gap']}"
    )
    return {"spec": spec.name, "method": "radial" if radial else "particles", "iterations": iterations,
            "alpha": spec.lr.alpha, "eval_samples": eval_samples, "rows": rows}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=10_000)
    ap.add_argument("--num-evals", type=int, default=30)
    ap.add_argument("--eval-samples", type=int, default=4000)
    ap.add_argument("--width", type=int, default=800)
    ap.add_argument("--spec", nargs="+", default=["isotropic_gaussians"])
    args = ap.parse_args()
    out = {"machine": {"cpu": platform.processor() or platform.machine(), "platform": platform.platform(),
                       "cores": len(jax.devices("cpu")) and __import__("os").cpu_count()},
           "command": "python bench/bench_limit.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in
                                                                 vars(args).items() if k != "spec"),
           "results": []}  # fmt: skip
    for name in args.spec:
        spec = load_spec_file(name).spec
        out["results"].append(bench(spec, iterations=args.iterations, num_evals=args.num_evals,
                                    eval_samples=args.eval_samples, width=args.width))  # fmt: skip
        OUT.mkdir(exist_ok=True)
        (OUT / f"limit_accuracy_{'_'.join(args.spec)}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
