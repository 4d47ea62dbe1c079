"""The limit solver against exact answers: a linear limit with a closed form, and fitted orders of
the three discretizations — the time step, the layer-1 sample M_1, the Gauss–Hermite nodes.

**Closed form.** L = 1 with σ(h) = h (no θ), squared loss, a finite dataset: ŷ(x) = ⟨m, x⟩ with m
the mean of the layer-1 law, and every particle moves by the same −2 E_P[(ŷ − y) x] ξ, so
m(t) = m* + exp(−2Σt)(m(0) − m*), Σ = E[x xᵀ], m* = Σ⁻¹ E[y x], and the training loss is
E[(⟨m(t), x⟩ − y)²]. A two-layer σ = β·h is not linear (β w is a product), hence the identity.

**Orders.** Heun's (order 2) and Euler's (order 1) errors against that closed form; the particle
error of the initial ŷ of a 2-layer tanh net with d = 1 against a 96×96 Gauss–Hermite reference:
scrambled Sobol points in (w, b) converge faster than Monte Carlo's M^−1/2, Gauss–Hermite nodes in
the head's (β, b) geometrically.
"""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm

import mfspec as mf
from mfspec.layers._quadrature import gauss_hermite
from mfspec.testing import loglog_slope


@pytest.fixture(autouse=True, scope="module")
def x64():
    with jax.enable_x64(True):
        yield


def _linear_problem(d=3, n=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.array([1.0, 0.5, 2.0])[:d]
    y = x @ np.array([0.7, -1.2, 0.3])[:d] + 0.3 * rng.normal(size=n)
    spec = mf.Spec(name="linear", input_dim=d, layers=(mf.Input(mf.layer(mf.act.identity, bias=False)),),
                   loss=mf.loss.squared(1).without_error(), init=mf.init.Init(
                       w1=mf.init.Normal(0.4, 1.0), theta=(mf.init.Atom(0.0),), kernels=()),
                   data=mf.data.ArrayData(x, y), lr=mf.lr.constant(0.01), output_bias=False,
                   batch_size="full")  # fmt: skip
    return spec


def _closed_form_loss(spec, m0, ts):
    x = np.asarray(spec.data.x_train, np.float64)
    y = np.asarray(spec.data.y_train, np.float64)[:, 0]
    sigma, c = x.T @ x / len(x), x.T @ y / len(x)
    m_star = np.linalg.solve(sigma, c)
    ms = [m_star + expm(-2 * sigma * t) @ (m0 - m_star) for t in ts]
    return np.array([np.mean((x @ m - y) ** 2) for m in ms])


def _solve(spec, p0, ts, **kw):
    sol = mf.solve_limit(
        spec, t1=float(ts[-1]), eval_ts=ts, start=mf.Start(particles=p0), dtype=jnp.float64, **kw
    )
    return sol.curve.metrics["train_loss"]


def test_linear_limit_matches_its_closed_form():
    spec = _linear_problem()
    p0 = mf.spec_particles(spec, resolution=mf.Resolution(m1=64), dtype=jnp.float64)
    m0 = np.asarray(p0.layers[0].w).mean(axis=0)  # the particles' mean: the limit they represent
    ts = np.linspace(0.0, 2.0, 9)
    want = _closed_form_loss(spec, m0, ts)
    got = _solve(spec, p0, ts, stepping=mf.Stepping(diffrax.Tsit5(), rtol=1e-12, atol=1e-14))
    assert want[-1] < 0.5 * want[0]  # it moved
    print("max relative error vs the closed form", np.max(np.abs(got - want) / np.abs(want)))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver, order", [(diffrax.Heun(), 2.0), (diffrax.Euler(), 1.0)])
def test_time_step_order(solver, order):
    spec = _linear_problem()
    p0 = mf.spec_particles(spec, resolution=mf.Resolution(m1=16), dtype=jnp.float64)
    m0 = np.asarray(p0.layers[0].w).mean(axis=0)
    ts = np.array([0.0, 1.0])
    want = _closed_form_loss(spec, m0, ts)[-1]
    dts = np.array([0.04, 0.02, 0.01, 0.005])
    errors = [
        abs(
            _solve(spec, p0, ts, stepping=mf.Stepping(solver), resolution=mf.Resolution(dt=float(dt)))[-1]
            - want
        )
        for dt in dts
    ]
    slope = loglog_slope(dts, errors)
    print(solver, errors, slope)
    assert abs(slope - order) < 0.15, (solver, errors, slope)


def _tanh_two_layer():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 1))
    init = mf.init.Init(w1=mf.init.Normal(0.3, 1.0), theta=(mf.init.Normal(0.2, 0.5), mf.init.Normal([1.0, 0.1], [0.5, 0.6])),
                        kernels=(mf.init.Kernel(1.0, 0.0),), out_bias=mf.init.Atom(0.0))  # fmt: skip
    return mf.Spec(name="tanh2", input_dim=1, hidden=[mf.layer(mf.act.tanh)], head=mf.head(mf.act.tanh), loss=mf.loss.squared,
                   init=init, data=mf.data.ArrayData(x, np.sign(x)), lr=mf.lr.constant(0.1))  # fmt: skip


def _reference_yhat(spec, x, nodes=96):
    """ŷ(x) at t = 0 by tensor Gauss–Hermite quadrature in (w, b_1) and (β, b_2): d = 1, so every
    integral of the limit is 2-D (independent of the particle code)."""
    w, pw = gauss_hermite(nodes, 0.3, 1.0)
    b1, pb1 = gauss_hermite(nodes, 0.2, 0.5)
    h2 = np.einsum("i,j,bij->b", pw, pb1, np.tanh(w[None, :, None] * x[:, None, None] + b1[None, None, :]))
    beta, pbe = gauss_hermite(nodes, 1.0, 0.5)
    b2, pb2 = gauss_hermite(nodes, 0.1, 0.6)
    return np.einsum("i,j,i,bj->b", pbe, pb2, beta, np.tanh(h2[:, None] + b2[None, :]))


def test_layer1_sample_converges_faster_than_monte_carlo():
    """RMS over 8 scrambles of the error of the particle ŷ(x) at t = 0 against the quadrature
    reference: scrambled Sobol points of M_1 particles, fitted order in M_1 well below MC's −1/2."""
    spec = _tanh_two_layer()
    x = np.linspace(-2.0, 2.0, 9)[:, None]
    want = _reference_yhat(spec, x[:, 0])
    ms = [64, 128, 256, 512, 1024]
    rms = []
    for m in ms:
        errs = []
        for s in range(8):
            p = mf.spec_particles(spec, jax.random.PRNGKey(s), resolution=mf.Resolution(m1=m, theta_nodes=24),
                                  dtype=jnp.float64)  # fmt: skip
            errs.append(np.max(np.abs(np.asarray(p(jnp.asarray(x)))[:, 0] - want)))
        rms.append(float(np.sqrt(np.mean(np.square(errs)))))
    slope = loglog_slope(ms, rms)
    print(rms, slope)
    assert slope < -0.8, (rms, slope)


def test_head_nodes_converge_geometrically():
    """Gauss–Hermite nodes per θ axis of the head, layer 1 at 4096 Sobol points held fixed: the error
    against 40 nodes falls by ≥ 5× per 3 more nodes and ≥ 1000× from 3 to 12 nodes (geometric: an
    algebraic rule would need an order ≥ 5 in the node count). Measured: 5.7e-3, 2.1e-4, 1.4e-5, 1.4e-6."""
    spec = _tanh_two_layer()
    x = np.linspace(-2.0, 2.0, 9)[:, None]
    layer1 = mf.spec_particles(spec, resolution=mf.Resolution(m1=4096, theta_nodes=40), dtype=jnp.float64)
    best = np.asarray(layer1(jnp.asarray(x)))[:, 0]  # 40 nodes: converged in the head
    errs = []
    for n in (3, 6, 9, 12):
        p = mf.spec_particles(spec, resolution=mf.Resolution(m1=4096, theta_nodes=n), dtype=jnp.float64)
        errs.append(float(np.max(np.abs(np.asarray(p(jnp.asarray(x)))[:, 0] - best))))
    print(errs)
    assert all(a > 5 * b for a, b in zip(errs, errs[1:])) and errs[0] > 1000 * errs[-1], errs
    assert np.max(np.abs(best - _reference_yhat(spec, x[:, 0]))) < 2e-3  # and 4096 Sobol points are close
