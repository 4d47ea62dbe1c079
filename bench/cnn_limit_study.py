"""Finite → limit for App. C's CNN (issue: the CNN's limit): n = 8..128 filters, 3 seeds, both scalings.

Runs ``mfspec run learnable_cifar_cnn --preset paper`` for the literal App. C scaling and for the
``fan_in`` variant (each resumable: a rerun keeps the finished curves), then, per scaling and
metric, the sup-over-t distance of each width's curves to the limit (RMS over seeds and of the seed
mean, ``mfspec.testing``) and the fitted log-log slopes; the limit's own error bar (sup over t);
and the limit's cost against one n = 128 seed's training, both measured in the same run.

    python scripts/make_learnable_cifar.py data/learnable_cifar     # once (seconds)
    MFSPEC_DATA=data python bench/cnn_limit_study.py                 # ~1 h on 2 cores

Writes bench/results/cnn_limit_study.json, the run folders under runs/cnn_limit_study/, and the
figures docs/gallery/learnable_cifar_cnn{,_fan_in}.png and docs/gallery/cnn_limit_slopes.png.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mfspec.finite.curves import Curve
from mfspec.testing import reports_against

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "cnn_limit_study"
OUT = ROOT / "bench" / "results" / "cnn_limit_study.json"
GALLERY = ROOT / "docs" / "gallery"
SCALINGS = {"literal": [], "fan_in": ["--variant", "fan_in"]}
METRICS = ("train_loss", "train_error", "test_loss", "test_error")


def run(name: str, flags: list[str]) -> dict:
    out = RUNS / name
    cmd = [sys.executable, "-m", "mfspec.cli", "run", "learnable_cifar_cnn", "--preset", "paper",
           "--out", str(out), *flags]  # fmt: skip
    print("+", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return json.loads((out / "results.json").read_text())


def _series(rec: dict, metric: str) -> np.ndarray:
    name, split = metric.split("_")[1], metric.split("_")[0]
    return np.asarray([np.nan if v is None else v for v in rec["metrics"][name][split]], float)


def analyse(results: dict) -> dict:
    finite = [c for c in results["curves"] if c["kind"] == "finite"]
    limit = next(c for c in results["curves"] if c["kind"] == "limit")
    widths = sorted({c["width"] for c in finite})
    lim = Curve(iterations=np.asarray(limit["iteration"]), t=np.asarray(limit["t"]),
                metrics={m: _series(limit, m) for m in METRICS})  # fmt: skip
    curves = {
        m: [np.stack([_series(c, m) for c in finite if c["width"] == n]) for n in widths] for m in METRICS
    }
    reports = reports_against(lim, curves, widths)
    bar = {m: float(np.nanmax(np.asarray([np.nan if v is None else v for v in
                                          limit["error_bar"][m.split("_")[1]][m.split("_")[0]]], float)))
           for m in METRICS}  # fmt: skip
    seconds_128 = [c["seconds"] for c in finite if c["width"] == max(widths)]
    return {
        "widths": widths,
        "seeds": len(seconds_128),
        "reports": {m: {"widths": widths, **r.to_json()} for m, r in reports.items()},
        "limit_error_bar_sup": bar,
        "limit": {
            k: limit[k]
            for k in ("method", "solver", "dt", "replicates", "seconds", "seconds_single_solve", "resolution")
        },  # fmt: skip
        "limit_initial_loss": float(_series(limit, "train_loss")[0]),
        "cost": {
            "limit_single_solve_seconds": limit["seconds_single_solve"],
            "limit_with_error_bar_seconds": limit["seconds"],
            "n128_seed_training_seconds": float(np.mean(seconds_128)),
            "ratio_single_solve_to_n128_seed": limit["seconds_single_solve"] / float(np.mean(seconds_128)),
        },
    }


def slopes_figure(study: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("train_loss", "train_error")):
        for name, res in study["scalings"].items():
            r = res["reports"][metric]
            for stat, style in (("rms", "o-"), ("mean", "s--")):
                slope = r[f"slope_{stat}"]
                ax.loglog(r["widths"], r[stat], style, label=f"{name}, {stat} (slope {slope:+.2f})")
            ax.axhline(res["limit_error_bar_sup"][metric], lw=0.8, ls=":", color="gray")
        ax.set_xlabel("n (filters per layer)")
        ax.set_ylabel(f"sup_t |{metric}_n − limit|")
        ax.legend(fontsize=7)
    fig.suptitle("App. C CNN on learnable CIFAR-format labels: distance to the computed limit (3 seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    start = time.perf_counter()
    if "MFSPEC_DATA" not in os.environ:
        os.environ["MFSPEC_DATA"] = str(ROOT / "data")
    study = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "command": "python bench/cnn_limit_study.py",
             "load_average_start": list(os.getloadavg()), "scalings": {}}  # fmt: skip
    for name, flags in SCALINGS.items():
        results = run(name, flags)
        study["scalings"][name] = analyse(results)
        figure = RUNS / name / "figure.png"
        GALLERY.mkdir(parents=True, exist_ok=True)
        shutil.copy(figure, GALLERY / f"learnable_cifar_cnn{'' if name == 'literal' else '_fan_in'}.png")
        print(name, json.dumps({m: (r["slope_rms"], r["slope_mean"]) for m, r in study["scalings"][name]["reports"].items()}),
              flush=True)  # fmt: skip
    study["load_average_end"] = list(os.getloadavg())
    study["seconds"] = time.perf_counter() - start
    OUT.write_text(json.dumps(study, indent=1))
    slopes_figure(study, GALLERY / "cnn_limit_slopes.png")
    print(f"wrote {OUT}", flush=True)


if __name__ == "__main__":
    main()
