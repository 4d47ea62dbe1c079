"""The ceiling on training throughput set by XLA:CPU's matmuls at the SGD step's own shapes.

    python bench/bench_step_dots.py [--widths 200 400 800] [--batch 100]

One MF-scaled SGD step of the default spec (batch B, width n, L = 4) is, in FLOPs, almost only
three kinds of (B, n)·(n, n) products per inner layer: the forward H_ℓ = A Wᵀ, the input gradient
δ_{ℓ-1} = δ_ℓ W and the weight gradient G = δᵀ A (``bench_train.flops_per_step``). This benchmark
times each kind alone at the step's shapes, and a "dots-only step" (the nine inner-layer products
chained as in backprop, with a ReLU mask so nothing folds away), in JAX and in numpy, against the
same run's large-matmul peak, and mfspec's own SGD step in a bare ``lax.scan``. A training step
cannot beat its dots-only step, so the fraction of peak reached there bounds the fraction
``bench_train.py`` can report.

Writes bench/results/step_dots.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import _best_time, machine_info, matmul_peak  # noqa: E402

OUT = Path(__file__).parent / "results" / "step_dots.json"
REPEAT = 20  # products per timed call, inside one jitted loop (no dispatch in the timing)


def _looped(product):
    """jit(fori_loop) applying ``product`` REPEAT times, feeding a tiny perturbation back."""

    def run(a, w):
        def body(_, a):
            return a + 1e-30 * jnp.sum(product(a, w)[:1, :1])

        return jax.lax.fori_loop(0, REPEAT, body, a)

    return jax.jit(run)


def dots_only_step(a0, ws):
    """Forward, then backward with ReLU masks: per inner layer ℓ = 2..4 one forward, one weight-gradient
    and one input-gradient product (the last one feeds W_1's gradient): nine in all."""
    acts, h = [a0], a0
    for w in ws:
        h = jnp.maximum(h @ w.T, 0.0)
        acts.append(h)
    delta = acts[-1]
    grads = []
    for ell in range(len(ws) - 1, -1, -1):
        delta = delta * (acts[ell + 1] > 0)
        grads.append(delta.T @ acts[ell])
        delta = delta @ ws[ell]
    return delta, grads


def real_step_rate(n: int, steps: int = 200, reps: int = 3) -> float:
    """Steps/s of mfspec's own SGD step (``_train._sgd_step``, data draws included) on the default
    spec at width n, in a bare ``lax.scan`` (no evaluation branch), compile excluded."""
    from mfspec.finite.train import _sgd_step
    from mfspec.run.specfile import load_spec_file

    spec = load_spec_file("isotropic_gaussians").spec
    net = spec.network(spec.widths(n), jax.random.PRNGKey(0), dtype=jnp.float32)
    key = jax.random.PRNGKey(1)

    @jax.jit
    def run(p):
        return jax.lax.scan(lambda p, k: (_sgd_step(spec, net, p, key, k)[0], None), p, jnp.arange(steps))[0]

    p0 = net.params()
    jax.block_until_ready(run(p0))
    return steps / _best_time(lambda: jax.block_until_ready(run(p0)), reps)


def bench_width(n: int, batch: int, reps: int) -> dict:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((batch, n), dtype=np.float32)
    w = rng.standard_normal((n, n), dtype=np.float32) / np.sqrt(n)
    flops = 2.0 * batch * n * n
    kinds = {
        "forward A Wᵀ": (lambda a, w: a @ w.T, lambda a, w: a @ w.T),
        "input grad δ W": (lambda a, w: a @ w, lambda a, w: a @ w),
        "weight grad δᵀ A": (lambda a, w: a.T @ a, lambda a, w: a.T @ a),
    }
    out = {"width": n, "batch": batch, "jax_gflops": {}, "numpy_gflops": {}}
    ja, jw = jnp.asarray(a), jnp.asarray(w)
    for name, (jfn, nfn) in kinds.items():
        f = _looped(jfn)
        f(ja, jw).block_until_ready()
        t = _best_time(lambda f=f: f(ja, jw).block_until_ready(), reps) / REPEAT
        out["jax_gflops"][name] = flops / t / 1e9
        t = _best_time(lambda nfn=nfn: nfn(a, w), reps)
        out["numpy_gflops"][name] = flops / t / 1e9
    ws = [jnp.asarray(rng.standard_normal((n, n), dtype=np.float32) / np.sqrt(n)) for _ in range(3)]
    step = jax.jit(dots_only_step)
    jax.block_until_ready(step(ja, ws))
    t = _best_time(lambda: jax.block_until_ready(step(ja, ws)), reps)
    out["dots_only_step_gflops"] = 9 * flops / t / 1e9
    out["dots_only_steps_per_s"] = 1.0 / t
    if batch == 100:  # the default spec's batch: compare with mfspec's real step
        out["mfspec_step_steps_per_s"] = real_step_rate(n)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[200, 400, 800])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    peak = matmul_peak((1024, 2048, 4096), reps=3)
    rows = [bench_width(n, args.batch, args.reps) for n in args.widths]
    res = {"machine": machine_info(), "jax": jax.__version__, "peak": peak, "rows": rows,
           "command": "python bench/bench_step_dots.py " + " ".join(sys.argv[1:])}  # fmt: skip
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1))
    p = peak["peak_gflops"]
    print(f"peak {p:.1f} GFLOP/s ({peak['peak_source']})")
    for r in rows:
        cells = "  ".join(f"{k}: {v:.0f} ({v / p:.0%})" for k, v in r["jax_gflops"].items())
        npc = "  ".join(f"{v:.0f}" for v in r["numpy_gflops"].values())
        print(f"n={r['width']:4d}  jax {cells}  | numpy {npc}  | dots-only step "
              f"{r['dots_only_step_gflops']:.0f} GFLOP/s ({r['dots_only_step_gflops'] / p:.0%}), "
              f"{r['dots_only_steps_per_s']:.0f} steps/s | mfspec step "
              f"{r.get('mfspec_step_steps_per_s', float('nan')):.0f} steps/s")  # fmt: skip


if __name__ == "__main__":
    main()
