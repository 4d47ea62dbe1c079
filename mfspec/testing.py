"""Helpers for a researcher's own tests: "finite-n approaches the limit" for *their* spec.

    import mfspec.testing as mft

    def test_my_architecture_approaches_its_limit():
        mft.assert_approaches_limit(my_spec, widths=(50, 100, 200, 400), seeds=3, iterations=2000)

The distance of one finite run to the limit is the sup over the evaluation grid of |metric_n(t) −
metric_∞(t)| (the paper's prediction, Sec. 3.2, holds for each t; the sup makes it uniform on
[0, T]). Two statistics per width (docs/formal_system.md sec. 2):

- ``rms``: the RMS over seeds of single-run distances — fluctuations, theory ≈ n^(-1/2);
- ``mean``: the distance of the seed-mean curve — the finite-n bias, usually steeper.

The log-log slope of distance against width is fitted by least squares; the assertion is that it
is at most ``bound`` (default −0.3). The limit is solved on the same evaluation grid and samples.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from scipy import stats

from mfspec.declaration.spec import Spec
from mfspec.finite.curves import eval_sets_for
from mfspec.finite.seeds import train_seeds
from mfspec.finite.train import train
from mfspec.limit.fluctuation import Band
from mfspec.limit.solve import solve_limit
from mfspec.run.preset import Run
from mfspec.run.sweep import run_keys


@dataclasses.dataclass
class ConvergenceReport:
    """Distances of finite-n curves to the limit and the fitted slopes."""

    metric: str
    widths: list[int]
    rms: list[float]  # RMS over seeds of sup_t |finite − limit|
    mean: list[float]  # sup_t |seed-mean − limit|
    slope_rms: float
    slope_mean: float
    per_seed: list[list[float]]

    def table(self) -> str:
        lines = [
            f"metric {self.metric}: sup-over-t distance to the limit",
            f"{'n':>7} {'rms':>11} {'mean':>11}",
        ]
        for n, r, m in zip(self.widths, self.rms, self.mean):
            lines.append(f"{n:>7} {r:>11.3e} {m:>11.3e}")
        lines.append(f"fitted log-log slope: rms {self.slope_rms:+.3f}, mean {self.slope_mean:+.3f}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        """The distances and slopes as plain JSON (what the example scripts store and replot)."""
        return {"rms": self.rms, "mean": self.mean, "per_seed": self.per_seed,
                "slope_rms": self.slope_rms, "slope_mean": self.slope_mean}  # fmt: skip


def loglog_slope(widths, distances) -> float:
    """Least-squares slope of log(distance) against log(width)."""
    x, y = np.log(np.asarray(widths, float)), np.log(np.asarray(distances, float))
    return float(np.polyfit(x, y, 1)[0])


def finite_curves(
    spec: Spec, run: Run, *, metrics=("test_loss",), seed: int = 0
) -> dict[str, list[np.ndarray]]:
    """Train every (width, seed) of ``run`` on the run's fixed evaluation samples.

    Returns, per metric, one (seeds, evaluations) array per width (the widths of ``run``).
    """
    base = jax.random.PRNGKey(seed)
    eval_sets = eval_sets_for(spec, run, base)
    curves = {m: [] for m in metrics}
    for wi, n in enumerate(run.widths):
        per_width = {m: [] for m in metrics}
        for s in range(run.seeds):
            init_key, data_key = run_keys(base, wi, s)
            _, c = train(spec, spec.network(n, init_key), data_key, iterations=run.iterations,
                         num_evals=run.num_evals, eval_sets=eval_sets)  # fmt: skip
            if c.diverged:
                raise AssertionError(f"width {n} seed {s} diverged: {c.diverged}")
            for m in metrics:
                per_width[m].append(np.asarray(c.metrics[m]))
        for m in metrics:
            curves[m].append(np.stack(per_width[m]))
    return curves


def reports_against(limit_curve, curves: dict[str, list[np.ndarray]], widths) -> dict[str, ConvergenceReport]:
    """``ConvergenceReport`` per metric of ``finite_curves`` against one limit curve on the same grid."""
    for metric in curves:
        if metric not in limit_curve.metrics:
            raise ValueError(
                f"metric {metric!r} is not recorded for this spec; choose from {sorted(limit_curve.metrics)}"
            )
    return {m: _report(m, widths, c, np.asarray(limit_curve.metrics[m])) for m, c in curves.items()}


def convergence_reports(
    spec: Spec,
    *,
    widths=(50, 100, 200, 400),
    seeds: int = 3,
    iterations: int = 2000,
    num_evals: int = 20,
    eval_samples: int = 2000,
    metrics=("test_loss",),
    limit_curve=None,
    seed: int = 0,
    limit_kwargs: dict | None = None,
) -> dict[str, ConvergenceReport]:
    """Train the sweep once, solve the limit on the same grid and samples, fit slopes per metric.

    Arguments:
        limit_curve: a precomputed limit ``Curve`` on the same grid (else solved here with
            ``mfspec.solve_limit(spec, ...)`` and ``limit_kwargs``).
        metrics: names from ``mfspec.metric_names(spec)`` (e.g. "test_loss", "train_error").
    """
    run = Run(widths=tuple(widths), seeds=seeds, iterations=iterations, num_evals=num_evals,
              eval_samples=eval_samples)  # fmt: skip
    if limit_curve is None:
        eval_sets = eval_sets_for(spec, run, jax.random.PRNGKey(seed))
        limit_curve = solve_limit(spec, iterations=iterations, num_evals=num_evals, eval_sets=eval_sets,
                                  **(limit_kwargs or {})).curve  # fmt: skip
    for metric in metrics:
        if metric not in limit_curve.metrics:
            raise ValueError(
                f"metric {metric!r} is not recorded for this spec; choose from {sorted(limit_curve.metrics)}"
            )
    return reports_against(limit_curve, finite_curves(spec, run, metrics=metrics, seed=seed), widths)


def _report(metric, widths, curves, lim) -> ConvergenceReport:
    rms, mean, per_seed = [], [], []
    for c in curves:  # (seeds, evals) per width
        d = np.max(np.abs(c - lim[None]), axis=1)
        per_seed.append([float(v) for v in d])
        rms.append(float(np.sqrt(np.mean(d**2))))
        mean.append(float(np.max(np.abs(c.mean(0) - lim))))
    return ConvergenceReport(
        metric=metric, widths=list(widths), rms=rms, mean=mean,
        slope_rms=loglog_slope(widths, rms), slope_mean=loglog_slope(widths, mean), per_seed=per_seed,
    )  # fmt: skip


def convergence_report(spec: Spec, *, metric: str = "test_loss", **kwargs) -> ConvergenceReport:
    """``convergence_reports`` for one metric."""
    return convergence_reports(spec, metrics=(metric,), **kwargs)[metric]


def assert_approaches_limit(
    spec: Spec, *, bound: float = -0.3, statistic: str = "rms", **kwargs
) -> ConvergenceReport:
    """Assert the finite-n curves approach the limit with fitted log-log slope ≤ ``bound``.

    Arguments:
        spec: the researcher's spec.
        bound: the largest acceptable slope (measured ≈ −0.8 for the loss and ≈ −0.5 for the
            error on the Fig. 5 net: docs/findings.md).
        statistic: "rms" (single runs), "mean" (seed mean) or "both".
        **kwargs: widths, seeds, iterations, num_evals, eval_samples, metric, limit_curve, seed,
            limit_kwargs (see ``convergence_report``).

    Raises:
        AssertionError with the table and the fit when the slope is above the bound.
    """
    if statistic not in ("rms", "mean", "both"):
        raise ValueError(f"statistic must be 'rms', 'mean' or 'both', got {statistic!r}")
    rep = convergence_report(spec, **kwargs)
    slopes = {"rms": rep.slope_rms, "mean": rep.slope_mean}
    checked = ("rms", "mean") if statistic == "both" else (statistic,)
    failed = [s for s in checked if not slopes[s] <= bound]
    if failed:
        raise AssertionError(
            f"finite-n curves do not approach the limit fast enough for spec {spec.name!r}: "
            f"slope ({', '.join(failed)}) above the bound {bound}\n{rep.table()}"
        )
    return rep


# ---- the fluctuation band: finite curves within the predicted n^{-1/2} scatter (docs/fluctuation.md) ----


def band_samples(spec: Spec, band: Band, width, *, seeds: int = 32, seed: int = 0, eval_sets=None,
                 eval_samples: int = 2000) -> dict[str, np.ndarray]:  # fmt: skip
    """Train ``seeds`` networks of ``width`` (batched, ``train_seeds``) and return each band output's
    values at the band times, (seeds, K) per output. The evaluation samples must be the band's
    (default: those of ``mf.fluctuation``'s default, ``spec.data.eval_sets(PRNGKey(1), eval_samples)``)."""
    steps = band.t / spec.lr.alpha
    if not np.allclose(steps, np.rint(steps), atol=1e-6):
        raise ValueError(f"band_samples: the band times {band.t.tolist()} are not SGD steps (multiples of α)")
    steps = np.rint(steps).astype(int)
    if eval_sets is None:
        eval_sets = spec.data.eval_sets(jax.random.PRNGKey(1), eval_samples)
    base = jax.random.PRNGKey(seed)
    keys = [run_keys(base, 0, s) for s in range(seeds)]
    nets = [spec.network(width, k[0]) for k in keys]
    out = train_seeds(spec, nets, [k[1] for k in keys], iterations=int(steps[-1]),
                      num_evals=int(steps[-1]) + 1, eval_sets=eval_sets)  # fmt: skip
    for s, (_, c) in enumerate(out):
        if c.diverged:
            raise AssertionError(f"band_samples: width {width} seed {s} diverged: {c.diverged}")
    idx = [int(np.flatnonzero(np.asarray(out[0][1].iterations) == k)[0]) for k in steps]
    return {
        o: np.stack([np.asarray(c.metrics[o])[idx] for _, c in out]) for o in band.outputs if "[" not in o
    }


@dataclasses.dataclass
class BandCheck:
    """The two checks of ``band_check`` at one width, per band time.

    Fields:
        ratio: empirical std over seeds / predicted std.
        variance_ok: (S − 1) s²/σ² inside the two-sided χ²_{S−1} interval.
        max_z: the largest |value − limit| over seeds, beyond ``tolerance``, in units of σ.
        inside_ok: every seed inside limit ± z*·σ + tolerance.
        mean_z: (seed mean − limit)/(σ/√S): the finite-n bias in units of the mean's noise —
            reported, not checked (the band predicts the scatter, not the O(1/n) and O(α) bias).
        level: the level of each per-time test (Bonferroni, see ``band_check``).
    """

    output: str
    width: object
    t: np.ndarray
    ratio: np.ndarray
    variance_ok: np.ndarray
    max_z: np.ndarray
    inside_ok: np.ndarray
    mean_z: np.ndarray
    level: float

    @property
    def ok(self) -> bool:
        return bool(self.variance_ok.all() and self.inside_ok.all())

    def table(self) -> str:
        rows = [f"{self.output} at width {self.width} (per-time level {self.level:.2g}):",
                "  t          emp/pred std   spread ok   max |z|   inside ok   mean z"]  # fmt: skip
        for k in range(len(self.t)):
            rows.append(f"  {self.t[k]:<10.4g} {self.ratio[k]:<14.3f} {bool(self.variance_ok[k])!s:<11} "
                        f"{self.max_z[k]:<9.2f} {bool(self.inside_ok[k])!s:<11} {self.mean_z[k]:.2f}")  # fmt: skip
        return "\n".join(rows)


def band_check(band: Band, width, values: np.ndarray, output: str, *, false_alarm: float = 0.01,
               tolerance=0.0) -> BandCheck:  # fmt: skip
    """Check S finite curves (``values``, (S, K) at the band times) against the predicted band.

    Two checks per time: the spread — the sample variance against σ²χ²_{S−1}/(S−1), two-sided (a band
    too wide or too narrow fails) — and membership — every seed within limit ± z*·σ + ``tolerance``
    (the limit's error bar, if it matters). Under the band's Gaussian model the chance of any false
    alarm is at most ``false_alarm``: half of it is split over the K spread tests, half over the S·K
    membership tests (Bonferroni: the times of one seed are correlated). Times where σ = 0 are skipped."""
    values = np.asarray(values, np.float64)
    S, K = values.shape
    if S < 3 or K != len(band.t):
        raise ValueError(f"band_check: values must be (seeds ≥ 3, {len(band.t)}), got {values.shape}")
    if not 0 < false_alarm < 1:
        raise ValueError(f"band_check: false_alarm must be in (0, 1), got {false_alarm!r}")
    sigma, limit = band.std(width)[:, band.of(output)], band.mean[:, band.of(output)]
    live = sigma > 0
    unit = np.where(live, sigma, 1.0)
    s2 = values.var(0, ddof=1)
    level = false_alarm / (2 * K)
    chi = (S - 1) * s2 / unit**2
    lo, hi = stats.chi2.ppf(level / 2, S - 1), stats.chi2.ppf(1 - level / 2, S - 1)
    gap = np.maximum(np.abs(values - limit) - np.asarray(tolerance, np.float64), 0.0).max(0)
    z_star = stats.norm.ppf(1 - false_alarm / (4 * S * K))
    return BandCheck(output=output, width=width, t=band.t, ratio=np.sqrt(s2) / np.where(live, sigma, np.nan),
                     variance_ok=~live | ((chi >= lo) & (chi <= hi)), max_z=gap / unit,
                     inside_ok=~live | (gap / unit <= z_star),
                     mean_z=(values.mean(0) - limit) / (unit / np.sqrt(S)), level=level)  # fmt: skip


def assert_within_band(spec: Spec, band: Band, *, widths=(200,), seeds: int = 32, outputs=None,
                       false_alarm: float = 0.01, tolerance=0.0, **kwargs) -> list[BandCheck]:  # fmt: skip
    """Assert that the finite networks scatter around the limit as ``band`` predicts, at each width.

    For every width and output: ``band_samples`` then ``band_check`` (the spread and the membership).
    ``false_alarm`` is the chance of a failure per (width, output) when the band is right.

    Raises:
        AssertionError with the per-time table of every failing check.
    """
    checks = []
    for n in widths:
        samples = band_samples(spec, band, n, seeds=seeds, **kwargs)
        for o in outputs or samples:
            checks.append(band_check(band, n, samples[o], o, false_alarm=false_alarm, tolerance=tolerance))
    bad = [c for c in checks if not c.ok]
    if bad:
        raise AssertionError(
            f"finite networks of spec {spec.name!r} stray from the predicted band:\n"
            + "\n".join(c.table() for c in bad)
        )
    return checks
