"""Speed and memory of training App. C's 8-layer CNN (Table 1) with ``mfspec.train`` on this machine.

    python bench/bench_cnn.py [--widths 16 32 64 128] [--seconds S] [--images N] [--out PATH]
    python bench/bench_cnn.py --write-data DIR [--images N]   # only write the random CIFAR-format files

The data are N random images (uniform pixel bytes, random labels) written in the CIFAR-10 binary
format to a temporary folder and read back with ``mf.data.cifar10``: a speed and memory check of
the real input pipeline and network, not an accuracy experiment. Each width runs in a fresh
subprocess, so its peak resident memory (``ru_maxrss``) is its own. Per width:

- compile: seconds to lower and compile one SGD step (``jax.jit(...).lower(...).compile()``), and the
  first ``train`` call's extra seconds over a compiled run of the same steps (tracing + compiling
  the step with its evaluation branch, and the final evaluation);
- steps/s and seconds per 100 steps: a timed ``train`` run of whole 20-step chunks lasting
  >= ``--seconds`` (batch 100; evaluations only at its first and last step, on 100 images);
- peak RSS of the process, and its RSS before the network was built (data + JAX runtime);
- XLA's memory analysis of that compiled step: arguments, outputs, temporaries (the working set of
  the forward and backward passes);
- at the widths in ``--scan-widths``: steps/s of the same training inside ``lax.scan`` (the
  trainer's path for the fully connected net), which ``Conv.scan_steps = False`` avoids.

Writes ``bench/results/cnn_sweep.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import machine_info  # noqa: E402  (the same machine record as the train benchmark)

CHUNK = 20


def write_data(folder: Path, images: int, seed: int = 0) -> None:
    """``images`` random training images over the five batch files, and ``images // 4`` test images."""
    import mfspec as mf

    rng = np.random.default_rng(seed)
    for i, part in enumerate(np.array_split(np.arange(images), 5), start=1):
        mf.data.write_cifar_batch(
            folder / f"data_batch_{i}.bin",
            rng.integers(0, 256, (len(part), 3072)),
            rng.integers(0, 10, len(part)),
        )
    n_test = max(images // 4, 1)
    mf.data.write_cifar_batch(
        folder / "test_batch.bin", rng.integers(0, 256, (n_test, 3072)), rng.integers(0, 10, n_test)
    )


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(width: int, data: Path, seconds: float, scan: bool) -> dict:
    """One width, in this (fresh) process."""
    import jax
    import jax.numpy as jnp

    import mfspec as mf
    from mfspec.finite.train import _sgd_step

    spec = mf.conv.ConvSpec(
        name="cnn_bench", data=mf.data.cifar10(data), loss=mf.loss.cross_entropy, lr=mf.lr.annealed(0.08)
    )
    evals = spec.data.eval_sets(jax.random.PRNGKey(1), 100)
    rss_before = _rss_mib()
    net = spec.network(width, jax.random.PRNGKey(0), dtype=jnp.float32)

    def run(iterations, net=net):
        t0 = time.perf_counter()
        _, curve = mf.train(
            spec, net, jax.random.PRNGKey(2), iterations=iterations, num_evals=2, eval_sets=evals, chunk=CHUNK
        )
        jax.block_until_ready(curve.metrics)
        return time.perf_counter() - t0, curve

    first, _ = run(CHUNK)
    again, _ = run(CHUNK)
    chunks = max(1, int(np.ceil(seconds / again)))
    timed, curve = run(chunks * CHUNK)
    steps_per_s = chunks * CHUNK / timed

    step = jax.jit(lambda p, k: _sgd_step(spec, net, p, jax.random.PRNGKey(2), k))
    t0 = time.perf_counter()
    compiled = step.lower(net.params(), jnp.asarray(0, jnp.int32)).compile()
    step_compile = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    xla = {
        f: int(getattr(mem, f))
        for f in (
            "argument_size_in_bytes",
            "output_size_in_bytes",
            "temp_size_in_bytes",
            "generated_code_size_in_bytes",
        )
        if mem is not None and hasattr(mem, f)
    }
    params = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(net.params()))
    scanned = None
    if scan:
        scan_net = dataclasses.replace(net, scan_steps=True)
        run(CHUNK, scan_net)
        scanned = CHUNK / run(CHUNK, scan_net)[0]
    return {
        "width": width,
        "parameters": params,
        "step_compile_seconds": step_compile,
        "first_call_extra_seconds": first - again,
        "steps_timed": chunks * CHUNK,
        "seconds_timed": timed,
        "steps_per_second": steps_per_s,
        "seconds_per_100_steps": 100 / steps_per_s,
        "peak_rss_mib": _rss_mib(),
        "rss_before_network_mib": rss_before,
        "xla_step_memory": xla,
        "scanned_steps_per_second": scanned,
        "final_train_loss": float(curve.metrics["train_loss"][-1]),
        "diverged": curve.diverged,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument("--seconds", type=float, default=20.0, help="minimum timed seconds per width")
    ap.add_argument("--images", type=int, default=2000, help="random training images written")
    ap.add_argument(
        "--scan-widths", type=int, nargs="*", default=[16, 32], help="widths also timed inside lax.scan"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cnn_sweep.json")
    ap.add_argument(
        "--write-data", type=Path, default=None, help="only write the generated files to this folder"
    )
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--scan", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_data is not None:
        args.write_data.mkdir(parents=True, exist_ok=True)
        write_data(args.write_data, args.images)
        print(
            f"wrote {args.images} random training and {max(args.images // 4, 1)} test images to {args.write_data}"
        )
        return 0
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.data, args.seconds, args.scan)))
        return 0

    result = {
        "what": "mfspec.train on App. C's CNN (Table 1, MF scaling), batch 100, float32, random CIFAR-format data",
        "command": "python bench/bench_cnn.py " + " ".join(sys.argv[1:]),
        "images": args.images,
        "machine": machine_info(),
        "load_average_start": os.getloadavg(),
        "widths": [],
    }
    print(
        f"{'n':>5} {'steps/s':>8} {'s/100 steps':>11} {'compile s':>9} {'peak RSS MiB':>12} "
        f"{'XLA temp MiB':>12} {'scanned steps/s':>15}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        write_data(Path(tmp), args.images)
        for n in args.widths:
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                str(n),
                "--data",
                tmp,
                "--seconds",
                str(args.seconds),
            ]
            cmd += ["--scan"] if n in args.scan_widths else []
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode:
                print(proc.stderr, file=sys.stderr)
                return proc.returncode
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            result["widths"].append(row)
            temp = row["xla_step_memory"].get("temp_size_in_bytes", float("nan")) / 2**20
            scanned = row["scanned_steps_per_second"]
            print(
                f"{n:5d} {row['steps_per_second']:8.2f} {row['seconds_per_100_steps']:11.1f} "
                f"{row['step_compile_seconds']:9.1f} {row['peak_rss_mib']:12.0f} {temp:12.1f} "
                f"{'-' if scanned is None else f'{scanned:.2f}':>15}",
                flush=True,
            )
    result["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
