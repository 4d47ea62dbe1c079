"""The default spec's curves before and after a change, from two behaviour snapshots:

    python bench/behaviour_figure.py bench/results/behaviour_965d206_float64.json \
        bench/results/behaviour_d31ee0b_float64.json bench/results/behaviour_965d206_vs_d31ee0b.png
    python bench/behaviour_figure.py --same-grid bench/results/behaviour_3853067_float32.json \
        bench/results/behaviour_seedwise_float32.json bench/results/behaviour_3853067_vs_seedwise_float32.png

Left: the limit's test loss of the default spec (default preset) before and after; right: the
absolute change of the limit and of every finite curve at the iterations both evaluation grids
share (965d206 dropped rounded duplicates from its log grid; today's grid has exactly num_evals
points, so the grids differ and only shared iterations are compared; ``--same-grid`` when both
snapshots are of today's grid). Zero changes are drawn at 1e-16.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from mfspec.finite.curves import eval_iterations

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
    ap.add_argument("--same-grid", action="store_true", help="the before snapshot has today's grid too")
    args = ap.parse_args()
    before, after = json.loads(args.before.read_text()), json.loads(args.after.read_text())
    a, b = before["entries"][ENTRY], after["entries"][ENTRY]
    name_a, name_b = args.before.stem.removeprefix("behaviour_"), args.after.stem.removeprefix("behaviour_")
    dtype = "float64" if after.get("x64") else "float32"
    gb = eval_iterations(ITERATIONS, NUM_EVALS)
    ga = gb if args.same_grid else grid_965d206(ITERATIONS, NUM_EVALS)
    common = sorted(set(ga) & set(gb))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    la, lb = _series(a["limit"]["metrics"]["test_loss"], ga), _series(b["limit"]["metrics"]["test_loss"], gb)
    left.plot([i * ALPHA for i in ga], list(la.values()), "o", ms=5, mfc="none", label=f"limit, {name_a}")
    left.plot([i * ALPHA for i in gb], list(lb.values()), "-", label=f"limit, {name_b}")
    t = np.array(common[1:]) * ALPHA
    finite = np.zeros(len(common))
    for ca, cb in zip(a["finite"], b["finite"], strict=True):
        fa, fb = _series(ca["metrics"]["test_loss"], ga), _series(cb["metrics"]["test_loss"], gb)
        left.plot([i * ALPHA for i in gb], list(fb.values()), lw=0.6, alpha=0.6)
        diff = np.array([abs(fa[i] - fb[i]) for i in common])
        finite = np.maximum(finite, diff)
        print(f"finite n={ca['width']} seed {ca['seed']}: max |change| at shared iterations {diff.max():.1e}")
    ld = np.array([abs(la[i] - lb[i]) for i in common])
    print(f"limit: max |change| {ld.max():.2e} at t = {common[int(np.argmax(ld))] * ALPHA:g}")
    right.semilogy(t, np.maximum(ld[1:], 1e-16), "o-", label=f"limit test loss: |{name_b} − {name_a}|")
    right.semilogy(
        t, np.maximum(finite[1:], 1e-16), "s-", ms=3, label="finite test loss: largest |change| of any curve"
    )
    left.set_xscale("log"), right.set_xscale("log")
    left.set_xlabel("t"), right.set_xlabel("t")
    left.set_ylabel("test loss")
    left.legend(fontsize=7, frameon=False), right.legend(fontsize=7, frameon=False)
    fig.suptitle(f"default spec, default preset, {dtype}: {name_a} and {name_b}", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)


if __name__ == "__main__":
    main()
