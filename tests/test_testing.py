"""mfspec.testing: the convergence helper researchers call from their own tests."""

import numpy as np
import pytest
from helpers import tiny_isotropic_spec

import mfspec as mf
import mfspec.testing as mft


def test_loglog_slope_recovers_a_power_law():
    w = np.array([50, 100, 200, 400])
    assert mft.loglog_slope(w, 3.0 * w**-0.5) == pytest.approx(-0.5, abs=1e-12)


def test_report_statistics_and_failure_message(monkeypatch):
    lim = np.zeros(4)
    rng = np.random.default_rng(0)
    # Curves whose distance to the limit does not shrink with n: the assertion must fail and show why.
    curves = [0.1 + 0.01 * rng.normal(size=(3, 4)) for _ in (50, 100, 200)]
    rep = mft._report("test_loss", [50, 100, 200], curves, lim)
    d0 = np.max(np.abs(curves[0]), axis=1)
    assert rep.rms[0] == pytest.approx(np.sqrt(np.mean(d0**2)))
    assert rep.mean[0] == pytest.approx(np.max(np.abs(curves[0].mean(0))))
    monkeypatch.setattr(mft, "convergence_reports", lambda spec, metrics, **kw: {metrics[0]: rep})
    with pytest.raises(
        AssertionError, match=r"(?s)slope \(rms\) above the bound -0\.3.*n +rms +mean.*fitted log-log"
    ):
        mft.assert_approaches_limit(tiny_isotropic_spec(), widths=(50, 100, 200))


def test_unknown_metric_is_rejected_before_training():
    spec = tiny_isotropic_spec()
    fake = mf.Curve(iterations=np.array([0, 1]), t=np.array([0.0, 0.01]), metrics={"test_loss": np.zeros(2)})
    with pytest.raises(ValueError, match=r"metric 'train_loss' is not recorded"):
        mft.convergence_report(spec, metric="train_loss", limit_curve=fake, iterations=1, num_evals=2)


@pytest.mark.slow
def test_tiny_tanh_spec_approaches_its_limit():
    """The helper end to end on a small smooth spec (minutes on 2 cores)."""
    spec = tiny_isotropic_spec(depth=3, dim=4, phi=mf.act.tanh, tau2=0.5, alpha=0.05, batch=50)
    rep = mft.assert_approaches_limit(spec, widths=(25, 50, 100, 200), seeds=4, iterations=400, num_evals=10,
                                      eval_samples=2000, bound=-0.3)  # fmt: skip
    assert rep.slope_rms < -0.3
