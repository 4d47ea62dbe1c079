"""E1 (docs/formal_system.md sec. 4; paper App. B.1): the formal system on a network's empirical measure.

For a finite network with π_ℓ = 1/n_ℓ and F_ℓ = W_ℓ, the particle forward gives the network's ŷ,
each Δ equals the matching scaled gradient ∇̃ŷ (Sec. 3.1), and each rate G equals the full-batch
scaled gradient step per unit time, −ξ(t) ∇̃ mean-loss. All in float64; tolerance: 1e-10 relative
to the largest entry of the reference (the identities are exact up to summation order). Run over
every architecture of the test catalogue, i.e. every layer kind (``mfspec.checks.e1``).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import catalogue

import mfspec as mf
from mfspec.checks.e1 import check_e1, e1_residuals, random_network
from mfspec.limit.formal import FormalSystem, WeightedBatch

RTOL = 1e-10
CATALOGUE = catalogue()


@pytest.fixture(autouse=True, scope="module")
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_e1_every_identity_to_roundoff(name):
    spec = CATALOGUE[name]
    res = e1_residuals(spec)
    L = spec.num_layers
    # ŷ, then per layer W and θ and the output bias, for both the Δ's and the rates.
    assert len(res) == 1 + 2 * (2 * L + 1), sorted(res)
    bad = {k: v for k, v in res.items() if not v <= RTOL}
    assert not bad, f"{name}: {bad}"


class _ForgetsPi(mf.Dense):
    """A faulty dense kind: B_{ℓ−1} without the layer's weights π."""

    def weight_pullback(self, state, up, d_h):
        return d_h.T @ up.a, mf.layers.Back(a=d_h @ state.w)


def test_e1_check_fails_on_a_wrong_backward():
    """The check can fail: a dense pullback that forgets π in B_{ℓ−1} is caught."""
    spec = CATALOGUE["L4-relu-k3-sq"]
    good = check_e1(spec)
    assert good.passed and good.residual <= RTOL
    faulty = mf.Spec(name="faulty", input_dim=spec.input_dim,
                     layers=(spec.layers[0], *(_ForgetsPi(k.act) for k in spec.layers[1:])),
                     loss=spec.loss, init=spec.init, data=spec.data, lr=spec.lr)  # fmt: skip
    bad = check_e1(faulty)
    assert not bad.passed and bad.residual > 0.1, str(bad)


def test_weighted_batch_is_the_sample_weighted_mean():
    """Non-uniform sample weights = the mean over a batch where samples are repeated accordingly."""
    spec = CATALOGUE["L1-relu-k1"]
    net = random_network(spec, (7,), jax.random.PRNGKey(1))
    x, y = spec.data.x_train[:6].astype(jnp.float64), spec.data.y_train[:6].astype(jnp.float64)
    system = FormalSystem.from_spec(spec)
    p = mf.empirical_particles(net)
    reps = np.array([1, 3, 2, 1, 1, 2])
    weighted = WeightedBatch(x, y, jnp.asarray(reps / reps.sum()))
    repeated = WeightedBatch.uniform(jnp.repeat(x, reps, axis=0), jnp.repeat(y, reps, axis=0))
    rates = eqx.filter_jit(system.rates)
    a, b = rates(0.0, p, weighted), rates(0.0, p, repeated)
    for got, want in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["L4-relu-k3-sq", "local-w*tanh+sin(w)"])
def test_one_full_batch_step_is_alpha_times_the_rates(name):
    """batch_size="full": one step of the trainer moves every array by exactly α × the formal
    system's rate on the network's empirical measure, at t = kα (the schedules included)."""
    from mfspec.finite.train import _sgd_step

    base = CATALOGUE[name]
    spec = mf.Spec(name=name, input_dim=base.input_dim, layers=base.layers, loss=base.loss, init=base.init,
                   data=base.data, lr=base.lr, output_bias=base.output_bias, batch_size="full")  # fmt: skip
    net = random_network(spec, (5, 4, 3, 3)[: spec.num_layers], jax.random.PRNGKey(3))
    k = 7
    stepped, _ = _sgd_step(spec, net, net.params(), jax.random.PRNGKey(0), jnp.asarray(k))
    batch = WeightedBatch.uniform(*spec.data.full_batch(jnp.float64))
    rates = FormalSystem.from_spec(spec).rates(k * spec.lr.alpha, mf.empirical_particles(net), batch)
    for new, old, g in zip(
        jax.tree.leaves(stepped), jax.tree.leaves(net.params()), jax.tree.leaves(rates.params())
    ):
        step, want = np.asarray(new - old), spec.lr.alpha * np.asarray(g)
        if want.size:  # a q = 0 layer has no θ
            assert np.max(np.abs(step - want)) <= 1e-12 * max(np.max(np.abs(want)), 1e-30), name
    # and the full batch is the training set itself, every step (no sampling)
    x0, _ = spec.data.training_batch(jax.random.PRNGKey(1), "full", jnp.float64)
    np.testing.assert_array_equal(x0, batch.x)


def test_full_batch_needs_a_finite_dataset():
    spec = CATALOGUE["L1-relu-k1"]
    with pytest.raises(
        ValueError, match=r"Spec.batch_size = 'full' \(full-batch gradient descent\) needs a finite"
    ):
        mf.Spec(input_dim=4, hidden=[], head=mf.head(mf.act.relu), loss=mf.loss.squared, init=mf.init.usual(),
                data=mf.data.IsotropicGaussians(4, 0.4), lr=spec.lr, batch_size="full")  # fmt: skip
