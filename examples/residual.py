"""The residual net's limit (spec/residual_tanh.py, docs/formal_system.md sec. 9): finite n → limit,
and the per-layer particle spread with and without the skips.

For each of the spec (κ = 1), its variant "kappa=1/L" and its variant "no_skip" (dense layers 2..7):

- finite nets n = 50..800, 4 seeds each (full-batch GD, the spec's α = 0.05, 200 iterations = t 10),
  against the limit at m1 = 1024 layer-1 Sobol points (``mf.limit_estimate``: 4 replicates and a
  refined solve give its error bar, stated next to the distances): RMS over seeds of sup_t |loss − limit| per
  width and its fitted log-log slope (train and test loss);
- the spread of each layer's pre-activations over its neurons, sqrt(E_x Var_j H_ℓ(x)_j) (π-weighted
  over the limit's particles), at t = 0 and t = T: with iid init the no-skip net's layers 2..7
  collapse (spread → 0 as n grows, exactly 0 in the limit), the residual net's keep layer 1's.

    python examples/residual.py [--widths 50 100 200 400 800] [--seeds 4] [--m1 1024] [--quick]

Writes ``examples/out/residual.json`` and ``.png`` (``--replot`` redraws from the JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import mfspec as mf
from mfspec.finite.curves import eval_sets_for
from mfspec.run.sweep import run_keys
from mfspec.testing import reports_against

OUT = Path(__file__).parent / "out"
METRICS = ("train_loss", "test_loss")
VARIANTS = (None, "kappa=1/L", "no_skip")
#: Replicates of the limit's error bar: its sampling part is the Student-t half-width, whose factor
#: t_{R−1, 0.975} is 12.7 at R = 2 and 3.2 at R = 4 (at R = 2 the bar was 6× the replicates' gap).
REPLICATES = 4


def spread(p: mf.Particles, x) -> list[float]:
    """sqrt(E_x Var_j H_ℓ(x)_j) per layer ℓ = 1..L−1 (the hidden layers), Var π-weighted."""
    _, hs = p(x, with_preactivations=True)
    out = []
    for state, h in zip(p.layers[:-1], hs[:-1]):
        pi = state.weights_like()
        mean = h @ pi
        out.append(float(jnp.sqrt(jnp.mean(((h - mean[:, None]) ** 2) @ pi))))
    return out


def study(spec: mf.Spec, run: mf.Run, m1: int) -> dict:
    start = time.perf_counter()
    base = jax.random.PRNGKey(0)
    eval_sets = eval_sets_for(spec, run, base)
    x = jnp.asarray(spec.data.x_test[:256])
    est = mf.limit_estimate(spec, iterations=run.iterations, num_evals=run.num_evals, eval_sets=eval_sets,
                            resolution=mf.Resolution(m1=m1, replicates=REPLICATES))  # fmt: skip
    limit = est.replicates[0]
    curves = {m: [] for m in METRICS}
    spreads = []
    for wi, n in enumerate(run.widths):
        per = {m: [] for m in METRICS}
        s0, s1 = [], []
        for s in range(run.seeds):
            init_key, data_key = run_keys(base, wi, s)
            net0 = spec.network(n, init_key)
            net, c = mf.train(spec, net0, data_key, iterations=run.iterations, num_evals=run.num_evals,
                              eval_sets=eval_sets)  # fmt: skip
            for m in METRICS:
                per[m].append(np.asarray(c.metrics[m]))
            s0.append(spread(net0, x))
            s1.append(spread(net, x))
        for m in METRICS:
            curves[m].append(np.stack(per[m]))
        spreads.append({"n": n, "t0": np.mean(s0, 0).tolist(), "T": np.mean(s1, 0).tolist()})
        print(f"  {spec.name} n={n}: spread t=0 {np.round(spreads[-1]['t0'], 3)}", flush=True)
    reports = reports_against(est.curve, curves, run.widths)
    for m, rep in reports.items():
        print(
            f"[{spec.name}] {rep.table()}\nthe limit's error bar: max_t {float(np.max(est.bar[m])):.2e}",
            flush=True,
        )
    return {
        "spec": spec.name,
        "limit": {"m1": m1, "seconds": est.seconds, "sizes": list(limit.initial.sizes),
                  "bar_max": {m: float(np.max(est.bar[m])) for m in METRICS},
                  "spread": {"t0": spread(limit.initial, x), "T": spread(limit.particles, x)}},
        "finite_spread": spreads,
        "metrics": {m: rep.to_json() for m, rep in reports.items()},
        "seconds": time.perf_counter() - start,
    }  # fmt: skip


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for r, style in zip(res["studies"], ("o-", "s--", "^-.")):
        m = r["metrics"]["test_loss"]
        w = np.asarray(res["run"]["widths"], float)
        axes[0].loglog(w, m["rms"], style, label=f"{r['spec']} (slope {m['slope_rms']:+.2f})")
    w = np.asarray(res["run"]["widths"], float)
    axes[0].loglog(w, res["studies"][0]["metrics"]["test_loss"]["rms"][0] * (w / w[0]) ** -0.5, "k:", lw=0.8,
                   label="n^-1/2")  # fmt: skip
    axes[0].set_xticks(w, [str(int(v)) for v in w], minor=False)
    axes[0].set_xticks([], minor=True)
    axes[0].set_xlabel("width n")
    axes[0].set_ylabel("RMS over seeds of sup_t |test loss − limit|", fontsize=8)
    for ax, t, title in ((axes[1], "t0", "t = 0"), (axes[2], "T", "t = T")):
        for r, color in zip(res["studies"], ("C0", "C1", "C2")):
            layers = np.arange(1, len(r["limit"]["spread"][t]) + 1)
            for fs, alpha in zip(r["finite_spread"], np.linspace(0.25, 0.9, len(r["finite_spread"]))):
                ax.plot(layers, fs[t], "-", color=color, alpha=alpha, lw=1)
            ns = [fs["n"] for fs in r["finite_spread"]]
            ax.plot(layers, r["limit"]["spread"][t], "o", color=color, label=f"{r['spec']}: limit (dots), "
                    f"n = {ns[0]}..{ns[-1]} (light → dark)")  # fmt: skip
        ax.set_xlabel("layer ℓ")
        ax.set_ylabel("sqrt(E_x Var_j H_ℓ(x)_j)", fontsize=8)
        ax.set_title(f"spread of the pre-activations over neurons, {title}", fontsize=9)
    axes[0].legend(fontsize=6, frameon=False)
    for ax in axes[1:]:
        ax.legend(fontsize=6, frameon=False, loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help=f"folder for the JSON and figure (default {OUT})")
    ap.add_argument("--widths", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--m1", type=int, default=1024, help="layer-1 particles of the limit")
    ap.add_argument(
        "--quick", action="store_true", help="a smoke run: n = 8, 16, 1 seed, 5 iterations, m1 = 16"
    )
    ap.add_argument("--variants", nargs="+", default=None, help="a subset of: spec, kappa=1/L, no_skip")
    ap.add_argument("--replot", action="store_true", help="redraw the figure from the JSON of a finished run")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    variants = VARIANTS if args.variants is None else tuple(None if v == "spec" else v for v in args.variants)
    name = "residual_quick" if args.quick else "residual" + ("" if args.m1 == 1024 else f"_m{args.m1}")
    name += "" if args.variants is None else "_" + "_".join(args.variants).replace("/", "")
    if args.replot:
        plot(json.loads((out / f"{name}.json").read_text()), out / f"{name}.png")
        return
    sf = mf.load_spec_file("residual_tanh")
    run = dataclasses.replace(sf.preset("paper"), widths=tuple(args.widths), seeds=args.seeds)
    m1 = args.m1
    if args.quick:
        run, m1 = (
            dataclasses.replace(run, widths=(8, 16), seeds=1, iterations=5, num_evals=3, eval_samples=32),
            16,
        )
    res = {
        "run": dataclasses.asdict(run) | {"limit": None},
        "studies": [study(sf.variant(v), run, m1) for v in variants],
    }
    (out / f"{name}.json").write_text(json.dumps(res, indent=1))
    plot(res, out / f"{name}.png")
    print(f"wrote {out / name}.json and .png in {sum(r['seconds'] for r in res['studies']):.0f} s")


if __name__ == "__main__":
    main()
