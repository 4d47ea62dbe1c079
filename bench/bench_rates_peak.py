"""How close the limit's rates call comes to this machine's matmul peak, at digits scale.

The rates call of ``spec/digits.py`` (M_1 = 2048 layer-1 particles, 1,300 images, d = 64, a
256-point Sobol head) is timed against XLA's own FLOP count of it, and against the GEMM throughput of
the same run: a float32 (N × d) @ (d × M_1) product, the shape of the layer-1 forward, and a square
1024³ product. Also one n = 400 seed's training of the digits preset vs one coarse limit solve.

    python bench/bench_rates_peak.py        # a few minutes on 2 cores, quiet machine

Writes results/rates_peak.json (ratios of one run; the machine is stated there).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

import mfspec as mf
from mfspec.limit.expectation import data_expectation
from mfspec.limit.formal import FormalSystem

OUT = Path(__file__).parent / "results" / "rates_peak.json"


def _best_seconds(fn, *args, repeats: int = 10) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def gemm_gflops(m: int, k: int, n: int) -> float:
    a = jax.random.normal(jax.random.PRNGKey(0), (m, k), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (k, n), jnp.float32)
    return 2 * m * k * n / _best_seconds(jax.jit(jnp.matmul), a, b) / 1e9


def main() -> None:
    sf = mf.load_spec_file("digits")
    spec, run = sf.spec, sf.preset("default")
    res = run.limit
    dtype = jnp.float32
    system = FormalSystem.from_spec(spec)
    particles = mf.spec_particles(spec, resolution=res, dtype=dtype)
    batch = data_expectation(spec, dtype=dtype)
    arrays, static = eqx.partition((system, particles, batch), eqx.is_array)

    def rates(arrays):
        s, p, b = eqx.combine(arrays, static)
        return s.rates(0.0, p, b)

    compiled = jax.jit(rates).lower(arrays).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost["flops"])
    seconds = _best_seconds(compiled, arrays)
    n, d = batch.x.shape
    out = {
        "machine": f"{platform.machine()}, {jax.device_count()} {jax.default_backend()} device(s), "
        f"{jax.local_devices()[0].device_kind}",
        "sizes": {"N": int(n), "d": int(d), "particles": list(particles.sizes)},
        "rates_gflop": flops / 1e9,
        "rates_seconds": seconds,
        "rates_gflops_per_s": flops / seconds / 1e9,
        "gemm_gflops_per_s_layer1_shape": gemm_gflops(int(n), int(d), int(particles.sizes[0])),
        "gemm_gflops_per_s_1024_cubed": gemm_gflops(1024, 1024, 1024),
    }
    peak = max(out["gemm_gflops_per_s_layer1_shape"], out["gemm_gflops_per_s_1024_cubed"])
    out["fraction_of_peak"] = out["rates_gflops_per_s"] / peak
    # one n = 400 seed's training vs one coarse limit solve, same float32 dtype, same horizon
    net = spec.network(spec.widths(400), jax.random.PRNGKey(0), dtype=dtype)
    eval_sets = spec.data.eval_sets(jax.random.PRNGKey(1), run.eval_samples, dtype=dtype)
    start = time.perf_counter()
    mf.train(
        spec,
        net,
        jax.random.PRNGKey(2),
        iterations=run.iterations,
        num_evals=run.num_evals,
        eval_sets=eval_sets,
    )
    out["train_n400_seconds"] = time.perf_counter() - start
    sol = mf.solve_limit(spec, iterations=run.iterations, num_evals=run.num_evals, eval_sets=eval_sets,
                         resolution=res, dtype=dtype)  # fmt: skip
    out["limit_solve_seconds"], out["limit_steps"] = sol.seconds, sol.num_steps
    out["limit_over_train"] = sol.seconds / out["train_n400_seconds"]
    OUT.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
