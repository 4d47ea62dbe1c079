"""A limit too big for the machine is refused before any compute, with flags that fit; a finite
dataset's subsample (``--limit-data``) is a subsample, and its bias joins the error bar."""

import dataclasses
import re

import jax
import numpy as np
import pytest
from helpers import classification_spec, tiny_isotropic_spec

import mfspec as mf
import mfspec.limit.cost as limit_cost_module
import mfspec.run.sweep as sweep
from mfspec.cli import main
from mfspec.limit.cost import MEMORY_SHARE, check_fits, limit_cost
from mfspec.limit.error_bar import limit_estimate
from mfspec.limit.expectation import data_expectation


def test_cost_of_a_fixed_step_solve():
    spec = tiny_isotropic_spec(depth=2, dim=3)
    res = mf.Resolution(m1=64)
    cost = limit_cost(spec, iterations=100, num_evals=5, resolution=res)
    assert cost.method == "radial" and cost.gflop_per_call > 0 and cost.peak_bytes > 0
    # t1 = 1 at dt = 1e-2: 100 steps, plus one per evaluation time off the grid (t = 0.01·k/100...)
    assert cost.calls_per_solve >= 2 * 100 and cost.seconds() > 0
    assert "rates call" in cost.describe()


def test_a_solve_that_does_not_fit_is_refused_with_flags_that_fit(monkeypatch):
    spec = classification_spec(n=512, seed=2)
    res = mf.Resolution(m1=1024, qmc_points=64, theta_nodes=4)  # memory ∝ N·M_1: a 256-particle head
    need = limit_cost(spec, iterations=10, num_evals=3, resolution=res, measure=False).peak_bytes
    fake = int(need / 3 / MEMORY_SHARE)  # a machine with a third of what the solve needs
    monkeypatch.setattr(limit_cost_module, "available_bytes", lambda: fake)
    with pytest.raises(ValueError, match=r"does not fit") as err:
        check_fits(spec, iterations=10, num_evals=3, resolution=res)
    hints = {k: int(v) for k, v in re.findall(r"--limit-(m1|data) (\d+)", str(err.value))}
    assert hints and hints.get("m1", 0) < 1024 and hints.get("data", 0) < 512, str(err.value)
    for field, value in hints.items():  # each suggestion fits
        change = {"m1": value} if field == "m1" else {"data_subsample": value}
        smaller = limit_cost(
            spec, iterations=10, num_evals=3, resolution=dataclasses.replace(res, **change), measure=False
        )
        assert smaller.peak_bytes <= MEMORY_SHARE * fake, change


def test_cli_refuses_before_training(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(limit_cost_module, "available_bytes", lambda: 1000)
    monkeypatch.setattr(sweep, "train", lambda *a, **kw: pytest.fail("trained"))
    assert main(["run", "--preset", "tiny", "--out", str(tmp_path), "--quiet"]) == 2
    assert "does not fit" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_subsample_is_a_subsample_and_its_bias_joins_the_bar():
    with jax.enable_x64(True):
        spec = classification_spec(n=64, seed=2)
        batch = data_expectation(spec, key=jax.random.PRNGKey(3), subsample=16)
        rows = {tuple(r) for r in np.asarray(spec.data.x_train, np.float64)}
        x = np.asarray(batch.x, np.float64)
        assert x.shape == (16, 4) and len({tuple(r) for r in x}) == 16 and all(tuple(r) in rows for r in x)
        np.testing.assert_allclose(np.asarray(batch.weights), 1 / 16)
        full = data_expectation(spec, subsample=None)
        assert full.x.shape[0] == 64  # default: the whole training set, exact
        res = mf.Resolution(m1=32, qmc_points=16, theta_nodes=4, data_subsample=16, replicates=2)
        eval_sets = spec.data.eval_sets(jax.random.PRNGKey(1), 32)
        est = limit_estimate(spec, iterations=20, num_evals=3, eval_sets=eval_sets, resolution=res)
        assert set(est.parts) == {"sampling", "discretization", "data"}
        assert max(v.max() for v in est.parts["data"].values()) > 0
        exact = limit_estimate(spec, iterations=20, num_evals=3, eval_sets=eval_sets,
                               resolution=dataclasses.replace(res, data_subsample=None))  # fmt: skip
        assert set(exact.parts) == {"sampling", "discretization"}
