"""Which parts of τ2 enter the limit (Figs. 5, 7, 9)? The usual init draws both the W_ℓ entries
(ℓ ≥ 2) and the output weights β from N(μ2, τ2²). docs/formal_system.md sec. 2: only β's law enters the limit
(it is a per-neuron parameter); the W_ℓ noise averages out (f = μ2). This study separates them on
the Fig. 5 net:

- A: τ2 = 0.1 everywhere (Fig. 5, solid);  C: τ2 = 3 everywhere (Fig. 5, dotted);
- B: W_ℓ noise 3 but β ~ N(1, 0.1²) — the same limit as A if the W noise is a finite-n effect.

It solves the limits of A and C, trains A, B, C over widths with common random numbers, and
reports sup-over-t distances: B − limit(A) and A − limit(A) should both fall with n, while
C − limit(A) stays near |limit(C) − limit(A)|.

    python examples/tau2.py [--iterations 3000] [--widths 50 100 200 400] [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import jax
import numpy as np

import mfspec as mf
from mfspec.finite.curves import eval_sets_for
from mfspec.run.sweep import run_keys

OUT = Path(__file__).parent / "out"


def fig5(name: str, *, kernel_noise: float, beta_std: float) -> mf.Spec:
    d = 32
    init = mf.init.Init(
        w1=mf.init.Normal(0.0, math.sqrt(2) / math.sqrt(d)),
        theta=(mf.init.Atom(0.0),) * 3 + (mf.init.Normal([1.0, 0.0], [beta_std, 0.0]),),
        kernels=(mf.init.Kernel(1.0, kernel_noise),) * 3,
        out_bias=mf.init.Atom(0.0),
    )
    return mf.Spec(
        name=name, input_dim=d, hidden=3 * [mf.layer(mf.act.relu)], head=mf.head(mf.act.relu),
        loss=mf.loss.squared, init=init, data=mf.data.IsotropicGaussians(d, 0.4), lr=mf.lr.constant(1e-3),
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help=f"folder for the JSON and figure (default {OUT})")
    ap.add_argument("--widths", type=int, nargs="+", default=[50, 100, 200, 400])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--num-evals", type=int, default=20)
    ap.add_argument("--eval-samples", type=int, default=4000)
    args = ap.parse_args()
    out = args.out
    specs = {
        "A (tau2=0.1)": fig5("A", kernel_noise=0.1, beta_std=0.1),
        "B (W noise 3, beta 0.1)": fig5("B", kernel_noise=3.0, beta_std=0.1),
        "C (tau2=3)": fig5("C", kernel_noise=3.0, beta_std=3.0),
    }
    run = mf.Run(widths=tuple(args.widths), seeds=args.seeds, iterations=args.iterations,
                 num_evals=args.num_evals, eval_samples=args.eval_samples)  # fmt: skip
    base = jax.random.PRNGKey(0)
    ev = eval_sets_for(specs["A (tau2=0.1)"], run, base)
    limits = {
        k: mf.solve_limit(s, iterations=args.iterations, num_evals=args.num_evals, eval_sets=ev).curve
        for k, s in specs.items()
        if k != "B (W noise 3, beta 0.1)"
    }
    lim_a = limits["A (tau2=0.1)"].metrics["test_loss"]
    lim_c = limits["C (tau2=3)"].metrics["test_loss"]
    res = {
        "iterations": args.iterations,
        "limit_gap_A_C": float(np.max(np.abs(lim_a - lim_c))),
        "limits": {k: c.metrics["test_loss"].tolist() for k, c in limits.items()},
        "t": limits["A (tau2=0.1)"].t.tolist(),
        "distance_to_limit_A": {},
    }
    print(f"sup_t |limit(A) − limit(C)| (test loss) = {res['limit_gap_A_C']:.4f}", flush=True)
    for name, spec in specs.items():
        rows = []
        for wi, n in enumerate(args.widths):
            d = []
            for s in range(args.seeds):
                init_key, data_key = run_keys(base, wi, s)
                _, c = mf.train(spec, spec.network(n, init_key), data_key, iterations=args.iterations,
                                num_evals=args.num_evals, eval_sets=ev)  # fmt: skip
                d.append(float(np.max(np.abs(c.metrics["test_loss"] - lim_a))))
            rows.append(float(np.sqrt(np.mean(np.square(d)))))
            print(f"{name:>26} n={n:>5}: RMS sup_t |loss − limit(A)| = {rows[-1]:.4f}", flush=True)
        res["distance_to_limit_A"][name] = dict(zip(map(str, args.widths), rows))
    out.mkdir(parents=True, exist_ok=True)
    (out / "tau2.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
