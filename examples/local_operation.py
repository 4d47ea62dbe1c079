"""Finite n → limit for the local operation σ*(w, h) (spec/local_operation.py), against three limits:

- the limit derived in docs/formal_system.md sec. 6, whose layer-2 weights keep their initial noise
  on Gauss–Hermite noise nodes (``Resolution.noise_nodes``, default 8);
- the "conditional mean" system that keeps only w = E[w(0) | pair] (one noise node): the right
  limit only when σ* is affine in w;
- "dense in a(w)": for σ* = a(w)·φ(h), the dense layer whose weight is a = a(w) with its initial
  conditional mean E[a(w(0))] — the same as the true limit at t = 0, wrong afterwards if the noise
  matters (each pair's a moves at a rate a'(w)² that depends on its own noise).

If the derivation is right, the finite networks approach the first (a negative fitted slope) and
stay a fixed distance from the other two. Sup-over-t distances of test loss and error (the spec's
default preset: n = 50..800, 4 seeds, full-batch gradient descent):

    python examples/local_operation.py [--variant tanh(wh)] [--widths 50 100 200 400] [--seeds 3]

Writes ``examples/out/local_operation[_variant].json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np
import sympy as sp

import mfspec as mf
from mfspec.finite.curves import eval_sets_for
from mfspec.testing import finite_curves, reports_against

OUT = Path(__file__).parent / "out"
METRICS = ("test_loss", "test_error")


def dense_in_a(spec: mf.Spec) -> mf.Spec | None:
    """For layers (Input(identity + b), local a(w)·φ(h), ...): the dense net whose layer-1 output is
    φ(h + b) and whose layer-2 weight is a, initialized at E[a(w(0))] (Gauss–Hermite, 64 nodes)."""
    first, star = spec.layers[0], spec.layers[1].star
    w, h = star.theta[0], star.h
    a, phi = sp.factor_terms(star.exprs[0]).as_independent(h, as_Add=False)
    if len(star.theta) != 1 or not a.has(w) or phi.has(w):
        return None
    kernel = spec.layers[1].weight_law
    z, om = np.polynomial.hermite_e.hermegauss(64)
    a_mean = float(om @ sp.lambdify(w, a, "numpy")(kernel.mean + kernel.noise * z) / om.sum())
    # φ applied to layer 1's output σ_1(θ, h) (the identity plus a bias in the spec file).
    act1 = first.act
    phi_layer = mf.Activation(
        phi.subs(h, act1.exprs[0]).subs(act1.h, h), theta=act1.theta, h=h, roles=act1.roles
    )
    init = dataclasses.replace(spec.init, kernels=(mf.init.Kernel(a_mean, 0.0), *spec.init.kernels[1:]))
    return mf.Spec(name=spec.name + "_dense_in_a", input_dim=spec.input_dim,
                   layers=(mf.Input(phi_layer), mf.Dense(spec.layers[1].act), *spec.layers[2:]),
                   loss=spec.loss, init=init, data=spec.data, lr=spec.lr, batch_size=spec.batch_size)  # fmt: skip


def study(spec, run: mf.Run, base: mf.Resolution | None = None) -> dict:
    base = base or mf.Resolution()
    start = time.perf_counter()
    eval_sets = eval_sets_for(spec, run, jax.random.PRNGKey(0))
    kw = dict(iterations=run.iterations, num_evals=run.num_evals, eval_sets=eval_sets)
    solved = {
        "noise nodes (sec. 6)": mf.solve_limit(spec, resolution=base, **kw),
        "conditional mean only": mf.solve_limit(
            spec, resolution=dataclasses.replace(base, noise_nodes=1), **kw
        ),
    }
    dense = dense_in_a(spec)
    if dense is not None:
        solved["dense in a(w)"] = mf.solve_limit(dense, resolution=base, **kw)
    solved["noise nodes, refined"] = mf.solve_limit(spec, resolution=base.refined(), **kw)
    curves = finite_curves(spec, run, metrics=METRICS)
    out = {"spec": spec.name, "run": dataclasses.asdict(run) | {"limit": None}, "alpha": spec.lr.alpha,
           "limits": {}, "seconds": None}  # fmt: skip
    fine = solved.pop("noise nodes, refined")
    for name, sol in solved.items():
        reports = reports_against(sol.curve, curves, run.widths)
        gap = {m: float(np.max(np.abs(sol.curve.metrics[m] - fine.curve.metrics[m]))) for m in METRICS}
        out["limits"][name] = {"seconds": sol.seconds, "gap_to_refined": gap, "metrics": {}}
        for metric, rep in reports.items():
            print(f"[{name}] {rep.table()}", flush=True)
            out["limits"][name]["metrics"][metric] = rep.to_json()
    out["seconds"] = time.perf_counter() - start
    return out


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    w = np.asarray(res["run"]["widths"], float)
    for ax, metric in zip(axes, METRICS):
        for (name, lim), style in zip(res["limits"].items(), ("o-", "s--", "^-.")):
            m = lim["metrics"][metric]
            ax.loglog(w, m["rms"], style, label=f"to {name} (slope {m['slope_rms']:+.2f})")
        ax.loglog(w, res["limits"]["noise nodes (sec. 6)"]["metrics"][metric]["rms"][0] * (w / w[0]) ** -0.5,
                  "k:", lw=0.8, label="n^-1/2")  # fmt: skip
        ax.set_xticks(w, [str(int(v)) for v in w], minor=False)
        ax.set_xticks([], minor=True)
        ax.set_xlabel("width n")
        ax.set_ylabel(f"RMS over seeds of sup_t |{metric} − limit|", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(f"{res['spec']}: finite-n → limit of the local operation", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help=f"folder for the JSON and figure (default {OUT})")
    ap.add_argument("--variant", default=None, help="a variant of spec/local_operation.py, e.g. tanh(wh)")
    ap.add_argument("--widths", type=int, nargs="+", default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument(
        "--quick", action="store_true", help="a smoke run: the tiny preset, m1 = 16 (not a study)"
    )
    ap.add_argument("--replot", action="store_true", help="redraw the figure from the JSON of a finished run")
    args = ap.parse_args()
    out = args.out
    sf = mf.load_spec_file("local_operation")
    spec, run = sf.variant(args.variant), sf.preset("tiny" if args.quick else "default")
    base = mf.Resolution(m1=16, theta_nodes=2, noise_nodes=2) if args.quick else mf.Resolution()
    if args.widths:
        run = dataclasses.replace(run, widths=tuple(args.widths))
    if args.seeds:
        run = dataclasses.replace(run, seeds=args.seeds)
    out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        plot(json.loads((out / f"{spec.name}.json").read_text()), out / f"{spec.name}.png")
        return
    name = spec.name + ("_quick" if args.quick else "")
    res = study(spec, run, base)
    (out / f"{name}.json").write_text(json.dumps(res, indent=1))
    plot(res, out / f"{name}.png")
    print(f"wrote {out / name}.json and .png in {res['seconds']:.0f} s")


if __name__ == "__main__":
    main()
