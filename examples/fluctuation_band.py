"""The n^{-1/2} fluctuation band against many-seed sweeps (docs/fluctuation.md, docs/formal_system.md
sec. 10).

    python examples/fluctuation_band.py                  # 32 seeds × n = 50..800, two specs (~15 min, 2 cores)
    python examples/fluctuation_band.py --quick          # a smoke run (seconds)

For each spec — a smooth 3-layer tanh net and a 4-layer tanh residual net (two skips, κ = 1), both on
128 points of ``nonlinear_boundary_data`` under full-batch GD (α = 0.05, t ≤ 10) —
it trains S seeds per width (``train_seeds``), takes the empirical std over seeds of the train and test
loss at the band times, its 90 % bootstrap interval (resampling seeds), and the predicted
``mf.fluctuation(...).std(n)``. Written to ``--out``: fluctuation_band.json (after every width: a
stopped run keeps what it finished), fluctuation_band.png, fluctuation_band.md (the table).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "spec"))

from _data import nonlinear_boundary_data  # noqa: E402

import mfspec as mf  # noqa: E402
from mfspec.finite.seeds import train_seeds  # noqa: E402
from mfspec.limit.fluctuation import BAND_RESOLUTION  # noqa: E402

ALPHA, ITERATIONS = 0.05, 200


def make(residual: bool, points: int = 128) -> mf.Spec:
    """The study's nets: W_1 ~ N(0.3, 1/d), W_ℓ ~ N(1, 0.5²) (N(0.5, 1) with skips), hidden biases
    N(0.2, 0.5²) (the atom 0.1 with skips), head β ~ N(1, 0.5²), b ~ N(0.2, 0.5²); full-batch GD."""
    data = nonlinear_boundary_data(points, points, 8)
    d = data.input_dim
    tanh = mf.layer(mf.act.tanh)
    middle = [mf.Residual(tanh, scale=1.0), mf.Residual(tanh, scale=1.0)] if residual else [mf.Dense(tanh)]
    kernel = mf.init.Kernel(0.5, 1.0) if residual else mf.init.Kernel(1.0, 0.5)
    # A residual layer's random θ would multiply the columns by its nodes (16 per layer): its biases are
    # atoms, as in spec/residual_tanh.py, and the chain is sampled by layer 1's column alone.
    bias = mf.init.Atom(0.1) if residual else mf.init.Normal(0.2, 0.5)
    init = mf.init.Init(
        w1=mf.init.Normal(0.3, 1 / math.sqrt(d)),
        theta=(*(len(middle) + 1) * [bias], mf.init.Normal([1.0, 0.2], [0.5, 0.5])),
        kernels=(len(middle) + 1) * (kernel,),
        out_bias=mf.init.Atom(0.0),
    )
    return mf.Spec(
        name="band_residual" if residual else "band_tanh",
        input_dim=d,
        layers=(mf.Input(tanh), *middle, mf.Dense(mf.head(mf.act.tanh))),
        loss=mf.loss.squared,
        init=init,
        data=data,
        lr=mf.lr.constant(ALPHA),
        batch_size="full",
    )


def bootstrap_interval(samples: np.ndarray, *, level=0.9, reps=2000, seed=0) -> np.ndarray:
    """The percentile bootstrap interval of the std over axis 0 (seeds), (2, ...)."""
    rng = np.random.default_rng(seed)
    s = samples.shape[0]
    stds = np.stack([samples[rng.integers(0, s, s)].std(0, ddof=1) for _ in range(reps)])
    return np.quantile(stds, [(1 - level) / 2, (1 + level) / 2], axis=0)


def sweep(spec, band, widths, seeds, iterations, eval_sets, record, save):
    """Train ``seeds`` nets per width; the empirical std, its interval and the prediction per output."""
    its = np.rint(band.t / ALPHA).astype(int)
    for n in widths:
        begin = time.perf_counter()
        nets = [spec.network(n, jax.random.PRNGKey(10_000 + s)) for s in range(seeds)]
        out = train_seeds(spec, nets, [jax.random.PRNGKey(s) for s in range(seeds)], iterations=iterations,
                          num_evals=iterations + 1, eval_sets=eval_sets)  # fmt: skip
        iters = np.asarray(out[0][1].iterations)
        idx = [int(np.flatnonzero(iters == k)[0]) for k in its]
        row = {"seconds": time.perf_counter() - begin}
        for name in band.outputs:
            vals = np.stack([np.asarray(c.metrics[name])[idx] for _, c in out])
            lo, hi = bootstrap_interval(vals)
            pred = band.std(n)[:, band.of(name)]
            row[name] = {"empirical": vals.std(0, ddof=1).tolist(), "lo": lo.tolist(), "hi": hi.tolist(),
                         "predicted": pred.tolist(), "inside": ((pred >= lo) & (pred <= hi)).tolist(),
                         "mean_minus_limit": (vals.mean(0) - band.mean[:, band.of(name)]).tolist()}  # fmt: skip
        record["widths"][str(n)] = row
        save()
        print(f"  {spec.name} n = {n}: {row['seconds']:.0f} s; inside (train) {row[band.outputs[0]]['inside']}",
              flush=True)  # fmt: skip


def table(record) -> str:
    lines = ["| spec | n | output | predicted in 90 % interval | median emp/pred |", "|---|---|---|---|---|"]
    for name, rec in record["specs"].items():
        for n, row in rec["widths"].items():
            for out in rec["outputs"]:
                r = row[out]
                ratio = np.median(np.asarray(r["empirical"]) / np.asarray(r["predicted"]))
                lines.append(
                    f"| {name} | {n} | {out} | {sum(r['inside'])}/{len(r['inside'])} | {ratio:.3f} |"
                )
    return "\n".join(lines)


def figure(record, path):
    import matplotlib  # noqa: PLC0415 - optional at import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    specs = list(record["specs"].items())
    fig, axes = plt.subplots(1, len(specs), figsize=(6 * len(specs), 4), squeeze=False)
    for ax, (name, rec) in zip(axes[0], specs):
        t = np.asarray(rec["t"])
        for k, (n, row) in enumerate(rec["widths"].items()):
            r, c = row["train_loss"], f"C{k}"
            ax.plot(t, np.sqrt(int(n)) * np.asarray(r["predicted"]), "-", color=c, label=f"n = {n} predicted")
            ax.errorbar(t * (1 + 0.03 * k), np.sqrt(int(n)) * np.asarray(r["empirical"]), fmt="o", color=c, ms=3,
                        yerr=np.sqrt(int(n)) * np.abs(np.asarray([r["lo"], r["hi"]]) - np.asarray(r["empirical"])))  # fmt: skip
        ax.set_xscale("symlog", linthresh=0.05)
        ax.set(xlabel="t", ylabel="√n · std(train loss)", title=name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: 4 seeds, n = 8, 16, 5 steps")
    ap.add_argument("--seeds", type=int, default=32)
    ap.add_argument("--widths", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "fluctuation_band")
    args = ap.parse_args(argv)
    seeds, widths, iterations = (4, [8, 16], 5) if args.quick else (args.seeds, args.widths, ITERATIONS)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"seeds": seeds, "iterations": iterations, "specs": {}}
    path = args.out / "fluctuation_band.json"
    save = lambda: path.write_text(json.dumps(record, indent=1))  # noqa: E731
    for residual in (False, True):
        spec = make(residual, points=16 if args.quick else 128)
        eval_sets = spec.data.eval_sets(jax.random.PRNGKey(1), 2000)
        band = mf.fluctuation(spec, iterations=iterations, num_times=8, eval_sets=eval_sets,
                              resolution=mf.Resolution(m1=16) if args.quick else BAND_RESOLUTION)  # fmt: skip
        print(f"{spec.name}: band in {band.seconds:.1f} s; groups {band.groups}", flush=True)
        rec = {"t": band.t.tolist(), "outputs": list(band.outputs), "band_seconds": band.seconds,
               "excluded": list(band.excluded), "widths": {}}  # fmt: skip
        record["specs"][spec.name] = rec
        sweep(spec, band, widths, seeds, iterations, eval_sets, rec, save)
    (args.out / "fluctuation_band.md").write_text(table(record) + "\n")
    figure(record, args.out / "fluctuation_band.png")
    print(table(record))
    for name, rec in record["specs"].items():
        big = [row[o]["inside"] for n, row in rec["widths"].items() if int(n) >= 200 for o in rec["outputs"]]
        if big:
            flat = np.concatenate(big)
            print(
                f"{name}: predicted inside the 90 % interval at {flat.mean():.0%} of (time, output) for n ≥ 200"
            )


if __name__ == "__main__":
    main()
