"""The default spec's curves before and after a change, from two behaviour snapshots (float64):

    python bench/behaviour_figure.py bench/results/behaviour_965d206_float64.json \
        bench/results/behaviour_d31ee0b_float64.json bench/results/behaviour_965d206_vs_d31ee0b.png

Left: the limit's test loss of the default spec (default preset) before and after; right: the
absolute change of the limit and of every finite curve at the iterations both evaluation grids
share (965d206 dropped rounded duplicates from its log grid; today's grid has exactly num_evals
points, so the grids differ and only shared iterations are compared).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from mfspec._curves import eval_iterations

ENTRY = "default/main/default"
ITERATIONS, NUM_EVALS, ALPHA = 10_000, 30, 1e-3  # the default preset of spec/isotropic_gaussians.py


def grid_965d206(iterations: int, num_evals: int) -> tuple[int, ...]:
    """The evaluation grid of commit 965d206 (rounded log points, duplicates dropped)."""
    pts = {0, iterations}
    ratio = math.log(iterations) / (num_evals - 2)
    pts.update(int(round(math.exp(ratio * i))) for i in range(num_evals - 1))
    return tuple(sorted(pts))


def _series(values, grid) -> dict[int, float]:
    return {i: float.fromhex(v) for i, v in zip(grid, values)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    a = json.loads(args.before.read_text())["entries"][ENTRY]
    b = json.loads(args.after.read_text())["entries"][ENTRY]
    ga, gb = grid_965d206(ITERATIONS, NUM_EVALS), eval_iterations(ITERATIONS, NUM_EVALS)
    common = sorted(set(ga) & set(gb))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    la, lb = _series(a["limit"]["metrics"]["test_loss"], ga), _series(b["limit"]["metrics"]["test_loss"], gb)
    left.plot([i * ALPHA for i in ga], list(la.values()), "o", ms=5, mfc="none", label="limit, 965d206")
    left.plot([i * ALPHA for i in gb], list(lb.values()), "-", label="limit, now")
    for ca, cb in zip(a["finite"], b["finite"], strict=True):
        fa, fb = _series(ca["metrics"]["test_loss"], ga), _series(cb["metrics"]["test_loss"], gb)
        left.plot([i * ALPHA for i in gb], list(fb.values()), lw=0.6, alpha=0.6)
        diff = [abs(fa[i] - fb[i]) for i in common]
        print(f"finite n={ca['width']} seed {ca['seed']}: max |change| at shared iterations {max(diff):.1e}")
    ld = np.array([abs(la[i] - lb[i]) for i in common])
    print(f"limit: max |change| {ld.max():.2e} at t = {common[int(np.argmax(ld))] * ALPHA:g}")
    t = np.array(common[1:]) * ALPHA
    right.semilogy(t, ld[1:], "o-", label="limit test loss: |now − 965d206|")
    right.axhline(1e-16, color="k", lw=0.6, ls=":", label="finite curves: 0 (bitwise equal)")
    left.set_xscale("log"), right.set_xscale("log")
    left.set_xlabel("t"), right.set_xlabel("t")
    left.set_ylabel("test loss")
    left.legend(fontsize=7, frameon=False), right.legend(fontsize=7, frameon=False)
    fig.suptitle("default spec, default preset, float64: before (965d206) and after this change", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)


if __name__ == "__main__":
    main()
