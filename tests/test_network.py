"""The finite network in MF scaling: forward, scaled gradients, the SGD step, init law, determinism."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    catalogue,
    classification_arrays,
    reference_forward,
    scaled_update_reference,
    tiny_isotropic_spec,
    two_param_activation,
)

import mfspec as mf
from mfspec.finite.train import _sgd_step


def _architectures():
    yield "relu L=3 k=1", tiny_isotropic_spec(depth=3)
    yield "tanh L=1 k=1", tiny_isotropic_spec(depth=1, phi=mf.act.tanh)
    yield (
        "q=2 L=2 k=3 CE",
        mf.Spec(
            name="q2",
            input_dim=5,
            hidden=[two_param_activation()],
            head=mf.head(mf.act.tanh, outputs=3),
            loss=mf.loss.cross_entropy,
            init=mf.init.usual(tau2=0.5, tau3=0.3),
            data=classification_arrays(d=5, k=3),
            lr=mf.lr.constant(0.1),
            batch_size=16,
        ),
    )


def _constant_rate(spec):
    """The catalogue's spec with one constant rate (the reference update takes one α)."""
    return mf.Spec(name=spec.name, input_dim=spec.input_dim, layers=spec.layers, loss=spec.loss, init=spec.init,
                   data=spec.data, lr=mf.lr.constant(0.05), output_bias=spec.output_bias)  # fmt: skip


ARCHS = list(_architectures()) + [
    (n, _constant_rate(s)) for n, s in catalogue().items() if n.startswith("local")
]


@pytest.mark.parametrize("name,spec", ARCHS, ids=[a[0] for a in ARCHS])
def test_forward_matches_neuron_by_neuron_reference(name, spec):
    net = spec.network((5, 4, 3)[: spec.num_layers], jax.random.PRNGKey(1))
    x, _ = spec.data.minibatch(jax.random.PRNGKey(2), 7, dtype=jnp.float64)
    np.testing.assert_allclose(net(x), reference_forward(net, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,spec", ARCHS, ids=[a[0] for a in ARCHS])
def test_scaled_gradients_are_mf_factors_times_autodiff(name, spec):
    widths = (5, 4, 3)[: spec.num_layers]
    net = spec.network(widths, jax.random.PRNGKey(3))
    x, y = spec.data.minibatch(jax.random.PRNGKey(4), 9, dtype=jnp.float64)
    plain = jax.grad(lambda p: mf.batch_loss(net.with_params(p), spec.loss, x, y))(net.params())
    (scaled, scaled_b), (grads, grad_b) = mf.scaled_gradients(net, spec.loss, x, y), plain
    n = widths
    for ell, ((sw, sth), (gw, gth)) in enumerate(zip(scaled, grads)):
        w_factor = n[0] if ell == 0 else n[ell] * n[ell - 1]  # Sec. 3.1: n_1 for W_1, n_ℓ n_{ℓ-1}
        np.testing.assert_allclose(sw, w_factor * gw, rtol=1e-13)
        np.testing.assert_allclose(sth, n[ell] * gth, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(scaled_b, grad_b, rtol=1e-13)


@pytest.mark.parametrize("name,spec", ARCHS, ids=[a[0] for a in ARCHS])
def test_sgd_step_matches_reference_update(name, spec):
    """One step of the trainer equals eq. 13-15 computed from the independent reference."""
    net = spec.network((5, 4, 3)[: spec.num_layers], jax.random.PRNGKey(5))
    key = jax.random.PRNGKey(6)
    k = 3
    p, _ = _sgd_step(spec, net, net.params(), key, jnp.asarray(k))
    x, y = spec.data.minibatch(jax.random.fold_in(key, k), spec.batch_size, dtype=jnp.float64)
    ref = scaled_update_reference(net, spec.loss, x, y, spec.lr.alpha)
    for got, want in zip(jax.tree.leaves(p), jax.tree.leaves(ref)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_annealed_rate_is_alpha_times_k_to_minus_power():
    """Step k (0-based) uses α (k+1)^(-0.1): the paper's α_k = α k^(-0.1) for 1-based k (Fig. 10)."""
    alpha = 0.003
    spec = tiny_isotropic_spec(lr=mf.lr.annealed(alpha, 0.1))
    net = spec.network(4, jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    for k in (0, 1, 9, 99):
        p, _ = _sgd_step(spec, net, net.params(), key, jnp.asarray(k))
        x, y = spec.data.minibatch(jax.random.fold_in(key, k), spec.batch_size, dtype=jnp.float64)
        ref = scaled_update_reference(net, spec.loss, x, y, alpha * (k + 1) ** -0.1)
        np.testing.assert_allclose(p[0][0][0], ref[0][0][0], rtol=1e-11)


def test_same_key_gives_bit_identical_curves_and_other_key_differs():
    spec = tiny_isotropic_spec()
    ev = spec.data.eval_sets(jax.random.PRNGKey(9), 100)
    runs = []
    for data_seed in (1, 1, 2):
        net = spec.network(6, jax.random.PRNGKey(0))
        _, curve = mf.train(
            spec, net, jax.random.PRNGKey(data_seed), iterations=30, num_evals=5, eval_sets=ev
        )
        runs.append(curve)
    for name in runs[0].metrics:
        assert np.array_equal(runs[0].metrics[name], runs[1].metrics[name])
    assert not np.array_equal(runs[0].metrics["test_loss"], runs[2].metrics["test_loss"])


def test_chunking_does_not_change_the_trajectory():
    spec = tiny_isotropic_spec()
    ev = spec.data.eval_sets(jax.random.PRNGKey(9), 100)
    net = spec.network(6, jax.random.PRNGKey(0))
    a, ca = mf.train(spec, net, jax.random.PRNGKey(1), iterations=30, num_evals=6, eval_sets=ev, chunk=30)
    b, cb = mf.train(spec, net, jax.random.PRNGKey(1), iterations=30, num_evals=6, eval_sets=ev, chunk=7)
    np.testing.assert_allclose(ca.metrics["test_loss"], cb.metrics["test_loss"], rtol=1e-12)
    np.testing.assert_allclose(a.layers[0].w, b.layers[0].w, rtol=1e-12)


def test_usual_init_moments_within_monte_carlo_error():
    tau1, mu2, tau2, mu3, tau3, d = math.sqrt(2), 1.0, 0.5, 0.2, 0.3, 8
    spec = mf.Spec(
        name="init",
        input_dim=d,
        hidden=2 * [mf.layer(mf.act.relu)],
        head=mf.head(mf.act.relu, outputs=2),
        loss=mf.loss.squared,
        init=mf.init.usual(tau1=tau1, mu2=mu2, tau2=tau2, mu3=mu3, tau3=tau3),
        data=mf.data.ArrayData(np.zeros((4, d)), np.eye(2)[[0, 1, 0, 1]]),
        lr=mf.lr.constant(0.1),
    )
    net = spec.network(300, jax.random.PRNGKey(0))

    def check(samples, mean, std):
        s = np.asarray(samples).ravel()
        n = s.size
        # 5 standard errors: a false alarm has probability < 1e-6 per check.
        assert abs(s.mean() - mean) < 5 * std / math.sqrt(n)
        # var of the sample variance of a Gaussian is 2σ⁴/(n−1).
        assert abs(s.var(ddof=1) - std**2) < 5 * std**2 * math.sqrt(2 / (n - 1))

    check(net.layers[0].w, 0.0, tau1 / math.sqrt(d))
    for layer in net.layers[1:]:
        check(layer.w, mu2, tau2)
    for layer in net.layers[:-1]:
        check(layer.theta, mu3, tau3)
    check(net.layers[-1].theta[:, :2], mu2, tau2)  # β
    check(net.layers[-1].theta[:, 2], mu3, tau3)  # head bias


def test_kernel_with_mean_function_has_that_conditional_mean():
    """W_ℓ[j, i] = m(θ_j, θ'_i) + noise·ε: the residual W − m is centred with the noise's spread."""
    m = lambda a, b: 1.0 + 0.5 * jnp.tanh(a[0] - b[0])
    init = mf.init.Init(
        w1=mf.init.Normal(0, 0.5),
        theta=(mf.init.Normal(0, 1.0), mf.init.Normal([1.0, 0.0], [0.1, 1.0])),
        kernels=(mf.init.Kernel(mean=m, noise=0.3),),
    )
    spec = mf.Spec(
        name="kernel",
        input_dim=3,
        hidden=[mf.layer(mf.act.tanh)],
        head=mf.head(mf.act.tanh),
        loss=mf.loss.squared,
        init=init,
        data=mf.data.IsotropicGaussians(3, 0.4),
        lr=mf.lr.constant(0.1),
    )
    net = spec.network(200, jax.random.PRNGKey(2))
    th1, th2 = np.asarray(net.layers[0].theta), np.asarray(net.layers[1].theta)
    want = 1.0 + 0.5 * np.tanh(th2[:, :1] - th1[:, 0][None, :])
    resid = np.asarray(net.layers[1].w) - want
    assert abs(resid.mean()) < 5 * 0.3 / 200
    assert abs(resid.std() - 0.3) < 0.01
