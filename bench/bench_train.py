"""Training throughput of ``mfspec.train`` on this machine, against the matmul peak and PyTorch.

    python bench/bench_train.py [--quick] [--widths 50 100 ...] [--seconds S] [--out PATH]

In one run:

1. float32 matmul peak: best of a few large square matmuls, via ``jax.jit`` and via numpy;
   the higher of the two is "peak".
2. ``mfspec.train`` on the default spec (spec/isotropic_gaussians.py: d = 32, L = 4, batch 100)
   at each width: compile once, then time a second run of >= ``--seconds`` of steady state.
3. The same training as a plain per-step PyTorch loop (SGD with one param group per MF factor,
   data drawn per step in torch, the same evaluation iterations on the same evaluation set).

Writes ``bench/results/train_throughput.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import runpy
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPEC_FILE = ROOT / "spec" / "isotropic_gaussians.py"

# Evaluation during the timed runs: a few log-spaced evaluations on a small fixed set, so that the
# number measured is the SGD step (the evaluations cost < ~1% of the steps timed).
NUM_EVALS = 10
EVAL_SAMPLES = 1000


# ---------------------------------------------------------------------------------------------
# FLOP count (matmuls only; elementwise work, the head's (B, n) reduction and data draws are not
# counted). B = batch, d = input dim, n_1..n_L widths; a (B, p) @ (p, q) product costs 2·B·p·q.
#
#   forward   F = 2·B·(d·n_1 + Σ_{ℓ=2..L} n_ℓ·n_{ℓ-1})
#   backward  weight gradients  2·B·(d·n_1 + Σ_{ℓ≥2} n_ℓ·n_{ℓ-1})   (= F)
#             input gradients   2·B·Σ_{ℓ≥2} n_ℓ·n_{ℓ-1}            (none needed for x itself)
#   step      = F + backward = 2·B·(2·d·n_1 + 3·Σ_{ℓ≥2} n_ℓ·n_{ℓ-1})
#
# i.e. backward ≈ 2×forward, exactly 2×forward minus the 2·B·d·n_1 of dX that is never computed.
# For uniform width n and L = 4: step = 2·B·(2·d·n + 9·n²).
# ---------------------------------------------------------------------------------------------
def flops_per_step(batch: int, d: int, widths: tuple[int, ...]) -> dict:
    inner = sum(widths[i] * widths[i - 1] for i in range(1, len(widths)))
    fwd = 2 * batch * (d * widths[0] + inner)
    bwd = 2 * batch * (d * widths[0] + inner) + 2 * batch * inner
    return {"forward": fwd, "backward": bwd, "step": fwd + bwd}


FLOP_FORMULA = (
    "matmul FLOPs only: forward F = 2*B*(d*n_1 + sum_{l>=2} n_l*n_{l-1}); backward = weight grads "
    "2*B*(d*n_1 + sum n_l*n_{l-1}) + input grads 2*B*sum_{l>=2} n_l*n_{l-1} (no dX for the data); "
    "step = F + backward = 2*B*(2*d*n_1 + 3*sum_{l>=2} n_l*n_{l-1}) (uniform n, L=4: 2*B*(2*d*n + 9*n^2))"
)


# ---------------------------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------------------------
def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        models = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")]
        flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
        info["cpu_model"] = models[0] if models else None
        info["logical_cpus_in_cpuinfo"] = len(models)
        info["simd"] = [f for f in ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "amx_tile") if f in flags]
    except OSError:
        info["cpu_model"] = platform.processor()
    info["os_cpu_count"] = os.cpu_count()
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["usable_cpus"] = os.cpu_count()
    import jax
    import jaxlib

    info["jax"] = jax.__version__
    info["jaxlib"] = jaxlib.__version__
    info["numpy"] = np.__version__
    info["jax_devices"] = [str(d) for d in jax.devices()]
    info["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    try:
        import mfspec

        info["mfspec"] = mfspec.__version__
    except Exception:  # noqa: BLE001
        pass
    return info


# ---------------------------------------------------------------------------------------------
# Matmul peak
# ---------------------------------------------------------------------------------------------
def _best_time(fn, reps: int, min_time: float = 0.5) -> float:
    best = math.inf
    start = time.perf_counter()
    i = 0
    while i < reps or (time.perf_counter() - start < min_time and i < 50):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        i += 1
    return best


def matmul_peak(sizes: tuple[int, ...], reps: int) -> dict:
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    out = {"sizes": list(sizes), "jax_gflops": {}, "numpy_gflops": {}}
    mm = jax.jit(lambda a, b: a @ b)
    for m in sizes:
        a = rng.standard_normal((m, m), dtype=np.float32)
        b = rng.standard_normal((m, m), dtype=np.float32)
        flops = 2.0 * m**3
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        mm(ja, jb).block_until_ready()
        t = _best_time(lambda ja=ja, jb=jb: mm(ja, jb).block_until_ready(), reps)
        out["jax_gflops"][str(m)] = flops / t / 1e9
        a @ b
        t = _best_time(lambda a=a, b=b: a @ b, reps)
        out["numpy_gflops"][str(m)] = flops / t / 1e9
    out["jax_peak_gflops"] = max(out["jax_gflops"].values())
    out["numpy_peak_gflops"] = max(out["numpy_gflops"].values())
    out["peak_gflops"] = max(out["jax_peak_gflops"], out["numpy_peak_gflops"])
    out["peak_source"] = "jax" if out["jax_peak_gflops"] >= out["numpy_peak_gflops"] else "numpy"
    return out


# ---------------------------------------------------------------------------------------------
# mfspec (JAX)
# ---------------------------------------------------------------------------------------------
def bench_jax(spec, width: int, seconds: float, seed: int = 0) -> dict:
    import jax

    import mfspec as mf

    key = jax.random.PRNGKey(seed)
    k_net, k_data, k_eval = jax.random.split(key, 3)
    net = spec.network(width, k_net)
    eval_sets = spec.data.eval_sets(k_eval, EVAL_SAMPLES)

    def run(iterations: int, chunk: int):
        t0 = time.perf_counter()
        out_net, curve = mf.train(
            spec, net, k_data, iterations=iterations, num_evals=NUM_EVALS, eval_sets=eval_sets, chunk=chunk
        )
        jax.block_until_ready(out_net)
        return time.perf_counter() - t0, curve

    # 1. compile a small chunk and estimate the rate from a second call (no compile).
    c0 = 100
    t_compile, _ = run(c0, c0)
    t_small, _ = run(c0, c0)
    rate0 = c0 / t_small
    # 2. the timed chunk: ~1 s of work (at most the library's default 2000), compiled once.
    chunk = int(min(2000, max(c0, round(rate0 * 1.0 / 100) * 100)))
    if chunk != c0:
        t_compile2, _ = run(chunk, chunk)
        t_compile += t_compile2
        t_chunk, _ = run(chunk, chunk)  # compiled: a better rate estimate than the 100-step run
        rate0 = chunk / t_chunk
    # 3. the timed run: a whole number of chunks (same shapes: no recompilation), >= `seconds`.
    n_chunks = max(2, math.ceil(seconds * rate0 / chunk))
    iterations = n_chunks * chunk
    elapsed, curve = run(iterations, chunk)
    final = {k: float(v[-1]) for k, v in curve.metrics.items()}
    return {
        "iterations": iterations,
        "chunk": chunk,
        "seconds": elapsed,
        "steps_per_s": iterations / elapsed,
        "warmup_seconds_incl_compile": t_compile,
        "final_metrics": final,
        "diverged": curve.diverged,
    }


# ---------------------------------------------------------------------------------------------
# PyTorch reference: the same training as a plain per-step loop
# ---------------------------------------------------------------------------------------------
def bench_torch(spec, width: int, seconds: float, seed: int = 0, threads: int | None = None) -> dict:
    import jax
    import torch

    default_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)

    import mfspec as mf

    alpha = float(spec.lr.alpha)
    B, d = spec.batch_size, spec.input_dim
    delta = float(spec.data.delta)
    n = width
    L = spec.num_layers

    # Same initial network and evaluation set as the JAX run (drawn by mfspec, copied over).
    key = jax.random.PRNGKey(seed)
    k_net, _, k_eval = jax.random.split(key, 3)
    net = spec.network(width, k_net)
    x_ev, y_ev = (torch.from_numpy(np.array(a)) for a in spec.data.eval_sets(k_eval, EVAL_SAMPLES)["test"])

    def t(a):
        return torch.from_numpy(np.array(a, dtype=np.float32)).requires_grad_(True)

    w1 = t(net.layers[0].w)  # (n, d)
    biases = [t(net.layers[i].theta[:, 0]) for i in range(L - 1)]  # (n,)
    beta, b_head = t(net.layers[-1].theta[:, 0]), t(net.layers[-1].theta[:, 1])  # head: β relu(h + b)
    kernels = [t(s.w) for s in net.layers[1:]]  # (n, n)
    b_out = t(net.out_bias)  # (1,)
    assert net.acts[-1].q == 2 and all(a.q == 1 for a in net.acts[:-1])

    opt = torch.optim.SGD(
        [
            {"params": [w1], "lr": alpha * n},  # n_1
            {"params": [*biases, beta, b_head], "lr": alpha * n},  # n_ℓ
            {"params": kernels, "lr": alpha * n * n},  # n_ℓ n_{ℓ-1}
            {"params": [b_out], "lr": alpha if spec.output_bias else 0.0},  # 1
        ],
        lr=alpha,
    )
    inv_n = 1.0 / n

    def forward(x):
        h = x @ w1.T
        for i in range(L - 1):
            a = torch.relu(h + biases[i])
            h = (a @ kernels[i].T) * inv_n
        return (beta * torch.relu(h + b_head)).mean(dim=1, keepdim=True) + b_out

    gen = torch.Generator().manual_seed(seed)

    def minibatch():
        y = torch.where(torch.rand(B, 1, generator=gen) < 0.5, 1.0, -1.0)
        x = (1.0 + delta * y) * torch.randn(B, d, generator=gen)
        return x, y

    def evaluate():
        with torch.no_grad():
            yhat = forward(x_ev)
            return float(((y_ev - yhat) ** 2).mean()), float((y_ev * yhat < 0).float().mean())

    def run(iterations: int):
        evals = set(mf.eval_iterations(iterations, NUM_EVALS))
        metrics = None
        t0 = time.perf_counter()
        for k in range(iterations):
            if k in evals:
                metrics = evaluate()
            x, y = minibatch()
            loss = ((y - forward(x)) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        metrics = evaluate()
        return time.perf_counter() - t0, metrics

    run(20)  # warm-up (allocator, thread pool)
    t_small, _ = run(30)
    iterations = max(50, int(math.ceil(seconds * 30 / t_small / 50) * 50))
    elapsed, (loss, err) = run(iterations)
    used = torch.get_num_threads()
    torch.set_num_threads(default_threads)
    return {
        "threads": used,
        "iterations": iterations,
        "seconds": elapsed,
        "steps_per_s": iterations / elapsed,
        "final_metrics_after_warmup_runs": {"test_loss": loss, "test_error": err},
    }


# ---------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="~1 s per measurement, smaller peak matmuls")
    ap.add_argument("--widths", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    ap.add_argument("--seconds", type=float, default=None, help="timed seconds per run (default 3, quick 1)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train_throughput.json")
    args = ap.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (1.0 if args.quick else 3.0)

    spec = runpy.run_path(str(SPEC_FILE))["spec"]
    machine = machine_info()
    load_start = os.getloadavg()
    if load_start[0] > 0.5 * machine["usable_cpus"]:
        print(
            f"# WARNING: load average {load_start[0]:.1f} on {machine['usable_cpus']} CPUs: other processes "
            "are running; the numbers below are contended and not reproducible",
            flush=True,
        )
    print(
        f"# {machine.get('cpu_model')}, {machine['usable_cpus']} usable CPUs, jax {machine['jax']}, "
        f"torch {machine.get('torch')}",
        flush=True,
    )

    sizes = (1024, 2048) if args.quick else (1024, 2048, 4096)
    peak = matmul_peak(sizes, reps=3 if args.quick else 5)
    P = peak["peak_gflops"]
    print(
        f"# float32 matmul peak: jax {peak['jax_peak_gflops']:.1f} GFLOP/s, numpy "
        f"{peak['numpy_peak_gflops']:.1f} GFLOP/s -> peak {P:.1f} ({peak['peak_source']})",
        flush=True,
    )

    d, B, L = spec.input_dim, spec.batch_size, spec.num_layers
    rows = []
    for n in args.widths:
        fl = flops_per_step(B, d, (n,) * L)
        r = bench_jax(spec, n, seconds)
        gf = r["steps_per_s"] * fl["step"] / 1e9
        row = {"width": n, "flops_per_step": fl, "jax": r, "jax_gflops": gf, "jax_pct_of_peak": 100 * gf / P}
        print(
            f"  jax   n={n:4d}: {r['steps_per_s']:9.1f} steps/s  {gf:7.1f} GFLOP/s  "
            f"{row['jax_pct_of_peak']:5.1f}% of peak  ({r['iterations']} its, {r['seconds']:.2f} s)",
            flush=True,
        )
        rows.append(row)
    if not args.no_torch:
        import torch

        # PyTorch at its default thread count and at 1 thread; the faster one is the reference
        # (with 2 cores and other load, OpenMP's 2-thread barriers can be far slower than 1 thread).
        thread_counts = sorted({torch.get_num_threads(), 1}, reverse=True)
        for row in rows:
            n = row["width"]
            runs = []
            for th in thread_counts:
                r = bench_torch(spec, n, seconds, threads=th)
                runs.append(r)
                print(
                    f"  torch n={n:4d}: {r['steps_per_s']:9.1f} steps/s  ({r['iterations']} its, "
                    f"{r['seconds']:.2f} s, threads {r['threads']})",
                    flush=True,
                )
            best = max(runs, key=lambda r: r["steps_per_s"])
            row["torch_runs"] = runs
            row["torch"] = best
            row["torch_gflops"] = best["steps_per_s"] * row["flops_per_step"]["step"] / 1e9
            row["jax_over_torch"] = row["jax"]["steps_per_s"] / best["steps_per_s"]

    result = {
        "benchmark": "mfspec.train steady-state throughput, default spec (isotropic_gaussians)",
        "command": "python bench/bench_train.py" + (" --quick" if args.quick else ""),
        "spec": {
            "file": str(SPEC_FILE.relative_to(ROOT)),
            "input_dim": d,
            "num_layers": L,
            "batch_size": B,
            "alpha": float(spec.lr.alpha),
            "loss": "squared",
        },
        "timing": {
            "seconds_per_run": seconds,
            "num_evals": NUM_EVALS,
            "eval_samples": EVAL_SAMPLES,
            "jax": "compile + warm-up excluded; timed run = whole number of chunks of the compiled size",
            "torch": "per-step loop, torch.optim.SGD with 4 param groups, data drawn per step in torch",
        },
        "flop_count": FLOP_FORMULA,
        "machine": machine,
        "load_average_start_end": [list(load_start), list(os.getloadavg())],
        "matmul_peak": peak,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print()
    print(f"peak {P:.1f} GFLOP/s (jax {peak['jax_peak_gflops']:.1f}, numpy {peak['numpy_peak_gflops']:.1f})")
    hdr = f"{'n':>5} {'JAX steps/s':>12} {'GFLOP/s':>8} {'% peak':>7} {'torch steps/s':>14} {'thr':>3} {'JAX/torch':>10}"
    print(hdr)
    for row in rows:
        ts = row.get("torch", {}).get("steps_per_s")
        ratio = row.get("jax_over_torch")
        print(
            f"{row['width']:>5} {row['jax']['steps_per_s']:>12.1f} {row['jax_gflops']:>8.1f} "
            f"{row['jax_pct_of_peak']:>6.1f}% {ts if ts is None else f'{ts:.1f}':>14} {row.get('torch', {}).get('threads', '-'):>3} "
            f"{ratio if ratio is None else f'{ratio:.2f}':>10}"
        )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
