"""The limit solver: E3 (collapse), an independent integrator (SciPy DOP853), Gauss–Hermite nodes,
and a smoke run of the default spec (docs/formal_system.md sec. 3-4)."""

from __future__ import annotations

import functools
import math
import runpy
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.stats import norm

import mfspec as mf
from mfspec.layers._quadrature import gauss_hermite
from mfspec.limit.particles import spec_particles
from mfspec.limit.solve import packed_vector_field, solve_limit
from mfspec.limit.stepping import DEFAULT_HEUN_DT, MAX_DEFAULT_STEPS, is_smooth, step_grid, time_stepping
from mfspec.network.particles import pack, unpack

SPEC_FILE = Path(__file__).resolve().parents[1] / "spec" / "isotropic_gaussians.py"
TS = [0.0, 0.25, 0.5, 1.0]


@pytest.fixture(autouse=True, scope="module")
def x64():
    with jax.enable_x64(True):
        yield


def _tanh_spec():
    """A smooth 3-layer net on 12 stored points: layer 2 collapses (atomic bias), the head's β gets
    Gauss–Hermite nodes."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3))
    y = np.sign(x[:, :1] * x[:, 1:2] + 0.1)
    return mf.Spec(
        input_dim=3,
        hidden=[mf.layer(mf.act.tanh), mf.layer(mf.act.tanh)],
        head=mf.head(mf.act.tanh),
        loss=mf.loss.squared,
        init=mf.init.usual(tau1=math.sqrt(2), mu2=1.0, tau2=0.5, mu3=0.0, tau3=0.0),
        data=mf.data.ArrayData(x, y),
        lr=mf.lr.constant(0.5),
    )


def _solve(spec, particles):
    # A fixed step makes the collapsed and full systems take identical steps, so E3 holds to
    # roundoff; at dt = 0.01 Tsit5's own error (~dt^5) is far below the SciPy check's tolerance.
    return solve_limit(spec, t1=1.0, eval_ts=TS, start=mf.Start(particles=particles), resolution=mf.Resolution(dt=0.01),
                       stepping=mf.Stepping(diffrax.Tsit5()), dtype=jnp.float64)  # fmt: skip


@functools.cache
def _collapsed():
    spec = _tanh_spec()
    return spec, _solve(spec, spec_particles(spec, m1=8, nodes=4, dtype=jnp.float64))


def test_gauss_hermite_integrates_polynomials_exactly():
    mean, std = 0.7, 1.3
    for n in (1, 3, 6):
        x, w = gauss_hermite(n, mean, std)
        assert abs(w.sum() - 1) < 1e-14
        for p in range(2 * n):
            want = norm(mean, std).moment(p)
            assert abs(np.dot(w, x**p) - want) <= 1e-12 * max(1.0, abs(want)), (n, p)
    with pytest.raises(ValueError, match="n must be a positive int"):
        gauss_hermite(0)


def test_particles_from_spec_collapse_and_quadrature():
    spec = _tanh_spec()
    p = spec_particles(spec, m1=8, nodes=4, dtype=jnp.float64)
    assert p.sizes == (8, 1, 4)
    beta, b = np.asarray(p.layers[2].theta[:, 0]), np.asarray(p.layers[2].theta[:, 1])
    pi = np.asarray(p.layers[2].pi)
    assert abs(pi @ beta - 1.0) < 1e-12 and abs(pi @ (beta - 1.0) ** 2 - 0.25) < 1e-12
    assert np.all(b == 0)
    assert np.all(np.asarray(p.layers[1].w) == 1.0)  # F = μ2: the W noise τ2 is dropped
    full = spec_particles(spec, m1=8, nodes=4, collapse=False, atom_copies=3, dtype=jnp.float64)
    assert full.sizes == (8, 3, 4)
    np.testing.assert_array_equal(unpack(pack(p), p).layers[0].w, p.layers[0].w)
    with pytest.raises(ValueError, match="m1 must be a positive int"):
        spec_particles(spec, m1=0)


def test_many_output_head_gets_sobol_particles_with_the_right_moments():
    """A 10-output head's β ∈ R^10 would keep 2 Gauss–Hermite nodes per axis (2^10 particles) under
    the cap: it gets ``qmc_points`` scrambled Sobol points instead, whose moments match the law to
    QMC accuracy (independent check: N(1, 0.1²) per component, components uncorrelated)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 4))
    spec = mf.Spec(
        input_dim=4,
        hidden=[mf.layer(mf.act.relu)],
        head=mf.head(mf.act.relu, outputs=10),
        loss=mf.loss.cross_entropy,
        init=mf.init.usual(),
        data=mf.data.ArrayData(x, mf.data.one_hot(rng.integers(0, 10, 20), 10)),
        lr=mf.lr.constant(0.1),
    )
    p = spec_particles(spec, m1=8, nodes=8, qmc_points=512, dtype=jnp.float64)
    assert p.sizes == (8, 512)
    beta = np.asarray(p.layers[1].theta[:, :10])
    assert np.all(np.asarray(p.layers[1].theta[:, 10]) == 0)  # the bias is an atom (τ3 = 0)
    np.testing.assert_allclose(beta.mean(0), 1.0, atol=2e-3)  # MC error would be 0.1/√512 = 4e-3
    np.testing.assert_allclose(beta.std(0), 0.1, rtol=0.03)
    assert np.max(np.abs(np.corrcoef(beta.T) - np.eye(10))) < 0.1
    # A grid that still keeps >= 3 nodes per axis stays a grid (q = 2 free: 8^2 = 64 <= cap).
    assert spec_particles(_tanh_spec(), m1=8, nodes=8).sizes == (8, 1, 8)


def _steps(t1, *, smooth=False, solver=None, **res):
    return time_stepping(mf.Stepping(solver), mf.Resolution(**res), smooth=smooth, t1=t1, eval_ts=[0.0, t1],
                         dtype=jnp.float64)  # fmt: skip


def test_long_horizons_cap_the_default_fixed_step():
    assert _steps(10.0).dt == DEFAULT_HEUN_DT
    assert _steps(150.0).dt == pytest.approx(150.0 / MAX_DEFAULT_STEPS)
    assert _steps(150.0, solver=diffrax.Heun(), dt=0.5).dt == 0.5  # an explicit dt is kept
    assert _steps(10.0, solver=diffrax.Heun()).dt is None  # a solver given without dt: adaptive


def test_refined_resolution_halves_the_time_step():
    assert mf.Resolution().refined().step_divisor == 2
    assert mf.Resolution(dt=0.3).refined().dt == 0.3  # the divisor, not dt, carries the refinement
    # Kinked σ, default step: dt/2. Explicit step: dt/2. Smooth σ: tolerances / 2^5.
    assert _steps(10.0, step_divisor=2).dt == DEFAULT_HEUN_DT / 2
    assert _steps(150.0, solver=diffrax.Heun(), dt=0.5, step_divisor=2).dt == 0.25
    controller = _steps(10.0, smooth=True, step_divisor=2).controller
    assert (controller.rtol, controller.atol) == pytest.approx((1e-6 / 32, 1e-8 / 32))


@pytest.mark.parametrize("solver", [diffrax.Midpoint(), diffrax.Ralston(), diffrax.Heun(), diffrax.Tsit5()])
def test_solvers_with_an_embedded_error_estimate_take_adaptive_steps(solver):
    """Midpoint and Ralston carry an embedded error estimate in Diffrax (AbstractAdaptiveSolver):
    without a dt they adapt, as Heun and Tsit5 do."""
    steps = _steps(1.0, smooth=True, solver=solver)
    assert steps.dt is None and isinstance(steps.controller, diffrax.PIDController)


def test_a_solver_without_an_error_estimate_needs_a_fixed_step():
    with pytest.raises(ValueError, match="Euler has no embedded error estimate.*Resolution.dt"):
        solve_limit(_tanh_spec(), t1=1.0, stepping=mf.Stepping(diffrax.Euler()))
    assert _steps(1.0, solver=diffrax.Euler(), dt=0.1).dt == 0.1


def test_refined_adaptive_solve_takes_shorter_steps():
    spec = _tanh_spec()
    p0 = spec_particles(spec, m1=8, nodes=4)
    steps = [solve_limit(spec, t1=2.0, start=mf.Start(particles=p0), resolution=mf.Resolution(step_divisor=s),
                         stepping=mf.Stepping(rtol=1e-4, atol=1e-6)).num_steps for s in (1, 2)]  # fmt: skip
    assert 1.3 * steps[0] < steps[1] < 4 * steps[0]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"m1": 0}, "Resolution.m1"),
        ({"dt": float("nan")}, "Resolution.dt"),
        ({"step_divisor": 1.5}, "step_divisor"),
    ],
)
def test_bad_resolution_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        mf.Resolution(**kwargs)


def test_run_limit_must_be_a_resolution():
    with pytest.raises(TypeError, match="Run.limit"):
        mf.Run(limit={"m1": 2048})


def test_e3_collapsed_equals_full_with_identical_atoms():
    spec, col = _collapsed()
    full = _solve(spec, spec_particles(spec, m1=8, nodes=4, collapse=False, atom_copies=3, dtype=jnp.float64))
    for name, v in col.curve.metrics.items():
        np.testing.assert_allclose(full.curve.metrics[name], v, rtol=1e-12, atol=1e-14, err_msg=name)
    for a, b in zip(col.states(), full.states()):
        (a1, a2, a3), (b1, b2, b3) = a.layers, b.layers
        np.testing.assert_allclose(b1.w, a1.w, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(b3.theta, a3.theta, rtol=1e-11, atol=1e-13)
        # each copy of the layer-2 atom carries the collapsed particle's state
        np.testing.assert_allclose(b2.theta, np.repeat(a2.theta, 3, 0), rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(b2.w, np.repeat(a2.w, 3, 0), rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(b3.w, np.repeat(a3.w, 3, 1), rtol=1e-11, atol=1e-13)
    # the state really moved, so the comparison is not vacuous
    assert float(jnp.max(jnp.abs(col.states()[-1].layers[2].w - col.states()[0].layers[2].w))) > 1e-3


def test_diffrax_matches_scipy_dop853():
    spec, sol = _collapsed()
    y0 = sol.initial
    args = (sol.system, y0, sol.batch)
    rhs = jax.jit(lambda t, y: packed_vector_field(t, y, args))
    ref = solve_ivp(
        lambda t, y: np.asarray(rhs(t, jnp.asarray(y))),
        (0.0, 1.0),
        np.asarray(pack(y0)),
        method="DOP853",
        t_eval=TS,
        rtol=1e-10,
        atol=1e-12,
    )
    assert ref.success
    ys = np.asarray(sol.solution.ys)
    err = np.max(np.abs(ys - ref.y.T)) / np.max(np.abs(ref.y))
    assert err < 1e-8, f"Diffrax vs DOP853: relative error {err:.2e}"
    assert np.max(np.abs(ref.y[:, -1] - ref.y[:, 0])) > 1e-2  # it moved
    losses = sol.curve.metrics["train_loss"]
    assert np.all(np.diff(losses) < 0), losses  # gradient flow on the training set


def test_default_spec_smoke():
    spec = runpy.run_path(str(SPEC_FILE))["spec"]
    assert not is_smooth(spec) and is_smooth(_tanh_spec())
    p = spec_particles(spec, m1=32, nodes=4, dtype=jnp.float32)
    assert p.sizes == (32, 1, 1, 4)
    sol = solve_limit(spec, t1=1.0, start=mf.Start(particles=p), resolution=mf.Resolution(data_samples=128),
                      eval_samples=256, num_evals=4, dtype=jnp.float32)  # fmt: skip
    # 100 steps of 1e-2, each evaluation time off that grid cutting one in two (t = 1e-3, 3.2e-2)
    assert sol.solver == "heun" and sol.dt == 1e-2 and sol.num_steps == 102
    assert tuple(sol.curve.metrics) == mf.metric_names(spec)
    loss = sol.curve.metrics["test_loss"]
    assert sol.curve.diverged is None and np.all(np.isfinite(loss)) and loss[-1] < loss[0]
    assert sol.curve.iterations[-1] == 1000
    with pytest.raises(ValueError, match="exactly one of t1 and iterations"):
        solve_limit(spec, t1=1.0, iterations=10)
    with pytest.raises(TypeError, match="Stepping.solver must be a Diffrax solver instance"):
        mf.Stepping("rk99")


def test_fixed_step_grid_lands_on_every_evaluation_time():
    ts = np.array([0.0, 0.001, 0.002, 0.0100000001, 0.375, 1.0])
    grid = step_grid(1.0, 0.01, ts)
    uniform = np.linspace(0, 1, 101)
    assert set(uniform) <= set(grid) and {0.001, 0.002, 0.375} <= set(grid)
    assert 0.0100000001 not in grid  # within dt/1000 of the grid time 0.01: no sliver step
    assert len(grid) == 101 + 3 and np.all(np.diff(grid) > 0)


def test_formal_system_flow_matches_scipy_on_the_networks_own_gradient_flow():
    """An independent vector field: on a finite network's empirical measure (π = 1/n) the limit ODE
    is the network's full-batch gradient flow in MF scaling, dP/dt = −ξ ∇̃ mean-loss, computed here
    by reverse-mode autodiff of the network (no formal-system code) and integrated by SciPy DOP853."""
    from jax.flatten_util import ravel_pytree

    from mfspec.checks.e1 import random_network

    spec = _tanh_spec()
    net = random_network(spec, (6, 3, 4), jax.random.PRNGKey(2), spread=0.3)
    x, y = spec.data.full_batch(jnp.float64)
    flat0, unravel = ravel_pytree(net.params())

    @jax.jit
    def field(vec):
        g = mf.scaled_gradients(net.with_params(unravel(vec)), spec.loss, x, y)
        return -ravel_pytree(g)[0]  # ξ ≡ 1 (constant rate)

    ref = solve_ivp(lambda t, v: np.asarray(field(jnp.asarray(v))), (0.0, 1.0), np.asarray(flat0),
                    method="DOP853", t_eval=TS, rtol=1e-11, atol=1e-13)  # fmt: skip
    assert ref.success
    sol = solve_limit(spec, t1=1.0, eval_ts=TS, start=mf.Start(particles=mf.empirical_particles(net)),
                      stepping=mf.Stepping(diffrax.Tsit5(), rtol=1e-10, atol=1e-12), dtype=jnp.float64)  # fmt: skip
    for t, state, want in zip(TS, sol.states(), ref.y.T):
        got = np.asarray(ravel_pytree(state.params())[0])
        err = np.max(np.abs(got - want)) / np.max(np.abs(want))
        assert err < 1e-8, f"t = {t}: relative difference {err:.2e}"
    assert np.max(np.abs(ref.y[:, -1] - ref.y[:, 0])) > 1e-2  # it moved
