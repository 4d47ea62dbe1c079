"""Finite-n → limit convergence study: sup-over-t distances of the
finite-n curves to the limit over widths, with the two fitted slopes (RMS over seeds of single-run
distances; distance of the seed mean), for the default spec and a tanh spec with random biases.

    python examples/convergence.py [--iterations 3000] [--seeds 3] [--widths 50 100 200 400 800]

Writes ``examples/out/convergence_<spec>.json`` and ``.png`` (distance against width, log-log).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

import mfspec as mf
from mfspec.finite.curves import eval_sets_for
from mfspec.run.specfile import load_spec_file
from mfspec.testing import convergence_reports

OUT = Path(__file__).parent / "out"


def study(spec: mf.Spec, *, widths, seeds, iterations, num_evals, eval_samples) -> dict:
    start = time.perf_counter()
    run = mf.Run(widths=tuple(widths), seeds=seeds, iterations=iterations, num_evals=num_evals,
                 eval_samples=eval_samples)  # fmt: skip
    eval_sets = eval_sets_for(spec, run, jax.random.PRNGKey(0))
    limit = mf.solve_limit(spec, iterations=iterations, num_evals=num_evals, eval_sets=eval_sets)
    out = {"spec": spec.name, "widths": list(widths), "seeds": seeds, "iterations": iterations,
           "alpha": spec.lr.alpha, "eval_samples": eval_samples, "limit_seconds": limit.seconds, "metrics": {}}  # fmt: skip
    reports = convergence_reports(spec, widths=widths, seeds=seeds, iterations=iterations, num_evals=num_evals,
                                  eval_samples=eval_samples, metrics=("test_loss", "test_error"),
                                  limit_curve=limit.curve)  # fmt: skip
    for metric, rep in reports.items():
        print(rep.table(), flush=True)
        out["metrics"][metric] = rep.to_json()
    out["seconds"] = time.perf_counter() - start
    return out


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    w = np.asarray(res["widths"], float)
    for ax, (metric, m) in zip(axes, res["metrics"].items()):
        ax.loglog(w, m["rms"], "o-", label=f"RMS of single runs (slope {m['slope_rms']:+.2f})")
        ax.loglog(w, m["mean"], "s--", label=f"seed mean (slope {m['slope_mean']:+.2f})")
        ax.loglog(w, m["rms"][0] * (w / w[0]) ** -0.5, "k:", lw=0.8, label="n^-1/2")
        ax.set_xlabel("width n")
        ax.set_ylabel(f"sup_t |{metric} − limit|")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(f"{res['spec']}: finite-n → limit, t ≤ {res['iterations'] * res['alpha']:g}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help=f"folder for the JSON and figure (default {OUT})")
    ap.add_argument("--widths", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--num-evals", type=int, default=20)
    ap.add_argument("--eval-samples", type=int, default=4000)
    ap.add_argument("--spec", choices=["default", "tanh", "both"], default="both")
    ap.add_argument(
        "--tanh-mu3", type=float, default=0.2, choices=[0.2, 0.0], help="bias mean of the tanh spec"
    )
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    specs = []
    if args.spec in ("default", "both"):
        specs.append(load_spec_file("isotropic_gaussians").spec)
    if args.spec in ("tanh", "both"):
        sf = load_spec_file("tanh_nonlinear_boundary")
        specs.append(sf.spec if args.tanh_mu3 == 0.2 else sf.variant("mu3=0"))
    for spec in specs:
        res = study(spec, widths=args.widths, seeds=args.seeds, iterations=args.iterations,
                    num_evals=args.num_evals, eval_samples=args.eval_samples)  # fmt: skip
        (out / f"convergence_{spec.name}.json").write_text(json.dumps(res, indent=1))
        plot(res, out / f"convergence_{spec.name}.png")


if __name__ == "__main__":
    main()
