"""Figures in the paper's layout (Figs. 5-12): loss and error against iteration, log x, one curve
per width, and the limit curve in black with its error band. With a training and a test set (MNIST,
CIFAR-10: Figs. 1, 8, 12) the training row is drawn above the test row."""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from mfspec.run.results_io import CurveRecord, Results, width_text


def _mean_curve(curves: list[CurveRecord], metric: str, split: str):
    """(iterations, values (curves, n)) over the first n evaluations that every curve has."""
    n = min(len(c.iteration) for c in curves)
    its = np.asarray(curves[0].iteration[:n], float)
    return its, np.stack([c.metric(split, metric)[:n] for c in curves])


def plot_results(results: Results | dict, path: Path) -> Path:
    """Write the figure for ``results`` to ``path`` (PNG or PDF).

    ``results`` is ``mf.load_results``'s ``Results`` or the results.json dict, which is validated
    and typed the same way (``Results.from_dict``).
    """
    results = Results.from_dict(results)
    splits = list(results.splits) or ["test"]  # one row each: "train" then "test"
    finite = defaultdict(list)
    for c in results.finite():
        finite[c.width].append(c)
    limits = [c for c in results.curves if c.kind == "limit"]
    metrics = [m for m in ("loss", "error") if any(k[1] == m for c in results.curves for k in c.metrics)]
    # A Figure without pyplot: no backend is selected, so a user's notebook keeps its own.
    fig = Figure(figsize=(5.2 * len(metrics), 3.8 * len(splits)))
    axes = fig.subplots(len(splits), len(metrics), squeeze=False)
    colors = colormaps["viridis"](np.linspace(0.0, 0.85, max(len(finite), 1)))
    panels = [(ax, split, metric) for row, split in zip(axes, splits) for ax, metric in zip(row, metrics)]
    for ax, split, metric in panels:
        label_split = {"train": "training", "test": "test" if "train" in splits else "population"}[split]
        if not any((split, metric) in c.metrics for c in results.curves):
            continue
        for color, (width, curves) in zip(colors, finite.items()):
            its, vals = _mean_curve(curves, metric, split)
            if len(curves) > 1:
                for v in vals:
                    ax.plot(its, v, color=color, lw=0.6, alpha=0.35)
            with warnings.catch_warnings():  # an all-null column (e.g. no error rule) is NaN, quietly
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(vals, 0)
            ax.plot(its, mean, color=color, lw=1.5, label=f"n = {width_text(width)}")
        for c in limits:
            if (split, metric) not in c.metrics:
                continue
            its, vals = _mean_curve([c], metric, split)
            ax.plot(its, vals[0], color="black", lw=2.0, label=c.label)
            if c.error_bar is not None and (split, metric) in c.error_bar:
                band = c.error_bar[(split, metric)][: len(its)]
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
    fig.suptitle(results.spec, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    return path
