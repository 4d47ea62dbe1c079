"""Figures in the paper's layout (Figs. 5-12): loss and error against iteration, log x, one curve
per width, and the limit curve in black with its error band. With a training and a test set (MNIST,
CIFAR-10: Figs. 1, 8, 12) the training row is drawn above the test row."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np


def _splits(results: dict) -> list[str]:
    """The evaluation splits drawn, one row each: "train" then "test", those the curves have."""
    have = {s for c in results["curves"] for m in c["metrics"].values() for s in m}
    return [s for s in ("train", "test") if s in have] or ["test"]


def _mean_curve(curves: list[dict], metric: str, split: str):
    n = min(len(c["iteration"]) for c in curves)
    its = np.asarray(curves[0]["iteration"][:n], float)
    vals = np.asarray(
        [[np.nan if v is None else v for v in c["metrics"][metric][split][:n]] for c in curves], float
    )
    return its, vals


def plot_results(results: dict, path: Path) -> Path:
    """Write the figure for ``results`` (the results.json dict) to ``path`` (PNG or PDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = _splits(results)
    finite = defaultdict(list)
    limits = []
    for c in results["curves"]:
        if c["kind"] == "finite":
            finite[str(c["width"])].append(c)
        elif c["kind"] == "limit":
            limits.append(c)
    metrics = [m for m in ("loss", "error") if any(m in c["metrics"] for c in results["curves"])]
    fig, axes = plt.subplots(
        len(splits), len(metrics), figsize=(5.2 * len(metrics), 3.8 * len(splits)), squeeze=False
    )
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, max(len(finite), 1)))
    panels = [(ax, split, metric) for row, split in zip(axes, splits) for ax, metric in zip(row, metrics)]
    for ax, split, metric in panels:
        label_split = {"train": "training", "test": "test" if "train" in splits else "population"}[split]
        if not any(split in c["metrics"].get(metric, {}) for c in results["curves"]):
            continue
        for color, (width, curves) in zip(colors, finite.items()):
            its, vals = _mean_curve(curves, metric, split)
            if len(curves) > 1:
                for v in vals:
                    ax.plot(its, v, color=color, lw=0.6, alpha=0.35)
            ax.plot(its, np.nanmean(vals, 0), color=color, lw=1.5, label=f"n = {width}")
        for c in limits:
            if split not in c["metrics"].get(metric, {}):
                continue
            its, vals = _mean_curve([c], metric, split)
            ax.plot(its, vals[0], color="black", lw=2.0, label=c.get("label", "limit"))
            band = c.get("error_bar", {}).get(metric, {}).get(split)
            if band is not None:
                band = np.asarray([np.nan if b is None else b for b in band[: len(its)]], float)
                ax.fill_between(its, vals[0] - band, vals[0] + band, color="black", alpha=0.2, lw=0)
        lo, hi = ax.dataLim.y0, ax.dataLim.y1
        if metric == "loss" and lo > 0 and hi / lo > 100:  # e.g. a CNN whose initial loss is ~10^4
            ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"{label_split} {metric}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.suptitle(results.get("spec", ""), fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
