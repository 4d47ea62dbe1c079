"""E1 (MATH.md sec. 4; paper App. B.1): the formal system on a network's empirical measure.

For a finite network with π_ℓ = 1/n_ℓ and F_ℓ = W_ℓ, the particle forward gives the network's ŷ,
each Δ equals the matching scaled gradient ∇̃ŷ (Sec. 3.1), and each rate G equals the full-batch
scaled gradient step per unit time, −ξ(t) ∇̃ mean-loss. All in float64; tolerance: 1e-10 relative
to the largest entry of the reference (the identities are exact up to summation order).

All identities of one architecture are computed by one jitted function (one compilation each).
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import mfspec as mf
from mfspec._formal import FormalSystem, WeightedBatch
from mfspec._particles import empirical_particles
from mfspec.init import Init, Kernel, Normal
from mfspec.loss import Loss
from mfspec.lr import Annealed, Constant, LearningRate

RTOL = 1e-10


@pytest.fixture(autouse=True, scope="module")
def x64():
    with jax.enable_x64(True):
        yield


def _two_param_tanh() -> mf.Activation:
    """A user-written σ with q = 2: σ(θ, h) = a tanh(h + b), θ = (a, b)."""
    a, b, h = sp.symbols("a b h", real=True)
    return mf.Activation(a * sp.tanh(h + b), theta=(a, b), h=h, name="a*tanh(h+b)")


def _arch(name: str):
    """(hidden, head, loss, widths): L = 1..4, q ∈ {0, 1, 2}, k ∈ {1, 3}, relu and tanh."""
    if name == "L1-relu-k1":
        return [], mf.head(mf.act.relu), mf.loss.squared, (7,)
    if name == "L2-tanh-k3-ce":
        return (
            [mf.layer(mf.act.tanh, bias=False)],
            mf.head(mf.act.tanh, outputs=3),
            mf.loss.cross_entropy,
            (5, 4),
        )
    if name == "L3-q2-relu-k1":
        return [_two_param_tanh(), _two_param_tanh()], mf.head(mf.act.relu), mf.loss.squared, (4, 3, 5)
    if name == "L4-relu-k3-sq":
        return 3 * [mf.layer(mf.act.relu)], mf.head(mf.act.relu, outputs=3), mf.loss.squared, (5, 3, 4, 6)
    raise KeyError(name)


ARCHS = ["L1-relu-k1", "L2-tanh-k3-ce", "L3-q2-relu-k1", "L4-relu-k3-sq"]


def _setup(name: str, seed: int = 0):
    """A spec (for σ's, loss, schedules) and a random network built directly from numpy draws
    (eager ``init_network`` would compile dozens of tiny kernels)."""
    hidden, head, loss, widths = _arch(name)
    acts = (*hidden, head)
    L, k, d, B = len(acts), head.k, 3, 6
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, d))
    y = np.eye(k)[rng.integers(0, k, B)] if k > 1 else np.sign(rng.normal(size=(B, 1)))
    # Distinct, time-dependent schedules per layer, so each ξ_ℓ(t) lands on the right rate.
    lr = LearningRate(
        0.05, layer_xi=tuple(Annealed(0.05, 0.1 * (i + 1)) for i in range(L)), out_xi=Constant(0.7)
    )
    init = Init(
        w1=Normal(0.0, 1.0),
        theta=tuple(Normal(0.3, 0.8) for _ in acts),
        kernels=tuple(Kernel(0.5, 1.0) for _ in acts[1:]),
        out_bias=Normal(0.1, 0.5),
    )
    spec = mf.Spec(
        input_dim=d,
        hidden=hidden,
        head=head,
        loss=loss,
        init=init,
        data=mf.data.ArrayData(x, y),
        lr=lr,
        output_bias=name != "L2-tanh-k3-ce",
    )
    # Every parameter random and spread, so neurons are distinct and ReLU sits off its kink.
    f64 = lambda a: jnp.asarray(a, jnp.float64)  # noqa: E731
    net = mf.MFNetwork(
        w1=f64(rng.normal(size=(widths[0], d))),
        thetas=tuple(f64(0.3 + 0.8 * rng.normal(size=(n, a.q))) for n, a in zip(widths, acts)),
        kernels=tuple(f64(0.5 + rng.normal(size=(widths[i], widths[i - 1]))) for i in range(1, L)),
        out_bias=f64(rng.normal(size=(k,)) if spec.output_bias else np.zeros(k)),
        acts=acts,
        trainable_out_bias=spec.output_bias,
    )
    return spec, net, f64(x), f64(y)


def _assert_close(got, want, what: str):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if want.size == 0:
        return
    scale = max(float(np.max(np.abs(want))), 1e-300)
    err = float(np.max(np.abs(got - want))) / scale
    assert err <= RTOL, f"{what}: relative error {err:.3e} > {RTOL:g}"


@functools.cache
def _linear_loss(k: int) -> Loss:
    """L(y, ŷ) = ⟨y, ŷ⟩: with y = e_c, ∇̃ of the loss on one sample is ∇̃ŷ_c."""
    y = sp.symbols(f"y1:{k + 1}", real=True)
    yh = sp.symbols(f"yh1:{k + 1}", real=True)
    return Loss(sum(a * b for a, b in zip(y, yh)), y=y, yhat=yh)


T_EVAL = 0.37


@eqx.filter_jit
def _identities(system: FormalSystem, net: mf.MFNetwork, x, y, linear: Loss, loss: Loss):
    """Pairs (formal system, network) for every identity of E1; one compilation per architecture."""
    p = empirical_particles(net)
    out = {"ŷ": (system.forward(p, x), net(x))}
    _, hs = system.forward(p, x, with_preactivations=True)
    _, hs_net = net(x, with_preactivations=True)
    out.update({f"H_{i}": ab for i, ab in enumerate(zip(hs, hs_net), start=1)})
    # ∇̃ŷ_c(x_b) for every sample b and output c, by the network's own scaled gradients.
    k = y.shape[1]
    per = jax.vmap(
        lambda xb: jax.vmap(lambda e: mf.scaled_gradients(net, linear, xb[None], e[None]))(
            jnp.eye(k, dtype=x.dtype)
        )
    )(x)
    last = lambda a: jnp.moveaxis(a, 1, -1)  # noqa: E731  (B, k, ...) -> (B, ..., k)
    d = system.deltas(p, x)
    out["Δ_W,1"] = (d.w1, last(per[0]))
    out.update({f"Δ_θ,{i}": (a, last(b)) for i, (a, b) in enumerate(zip(d.theta, per[1]), start=1)})
    out.update({f"Δ_W,{i}": (a, last(b)) for i, (a, b) in enumerate(zip(d.kernels, per[2]), start=2)})
    # G_•(t) = −ξ_•(t) ∇̃_• of the full-batch mean loss.
    t = jnp.asarray(T_EVAL, x.dtype)
    g = system.rates(t, p, WeightedBatch.uniform(x, y))
    gw1, gth, gw, gb = mf.scaled_gradients(net, loss, x, y)
    xi = [s(t) for s in system.schedules]
    out["G_W,1"] = (g.w1, -xi[0] * gw1)
    out.update({f"G_θ,{i}": (a, -xi[i - 1] * b) for i, (a, b) in enumerate(zip(g.thetas, gth), start=1)})
    out.update({f"G_f,{i}": (a, -xi[i - 1] * b) for i, (a, b) in enumerate(zip(g.kernels, gw), start=2)})
    out["G_out"] = (g.out_bias, -system.out_schedule(t) * gb)
    out["π rate"] = (jnp.concatenate(g.weights), jnp.zeros(sum(w.shape[0] for w in g.weights), x.dtype))
    return out


@functools.cache
def _results(name: str) -> dict:
    spec, net, x, y = _setup(name)
    system = FormalSystem.from_spec(spec)
    return _identities(system, net, x, y, _linear_loss(spec.outputs), spec.loss)


@pytest.mark.parametrize("name", ARCHS)
def test_forward_reproduces_network(name):
    res = _results(name)
    for key in [k for k in res if k == "ŷ" or k.startswith("H_")]:
        _assert_close(*res[key], key)


@pytest.mark.parametrize("name", ARCHS)
def test_deltas_are_scaled_gradients(name):
    """Δ_{θ,ℓ}, Δ_{W,1}, Δ_{W,ℓ} at (x_b, output c) = ∇̃ŷ_c(x_b) of the network (Sec. 3.1)."""
    res = _results(name)
    keys = [k for k in res if k.startswith("Δ")]
    assert len(keys) == 2 * len(_arch(name)[0]) + 2
    for key in keys:
        _assert_close(*res[key], key)


@pytest.mark.parametrize("name", ARCHS)
def test_rates_are_full_batch_scaled_step(name):
    """G_•(t) = −ξ_•(t) ∇̃_•(full-batch mean loss): the SGD update per unit time; π does not move;
    a frozen b_out gets rate 0 (the network's scale for it is 0)."""
    res = _results(name)
    for key in [k for k in res if k.startswith("G") or k == "π rate"]:
        _assert_close(*res[key], key)


def test_weighted_batch_is_the_sample_weighted_mean():
    """Non-uniform sample weights = the mean over a batch where samples are repeated accordingly."""
    spec, net, x, y = _setup("L1-relu-k1", seed=1)
    system = FormalSystem.from_spec(spec)
    p = empirical_particles(net)
    reps = np.array([1, 3, 2, 1, 1, 2])
    weighted = WeightedBatch(x, y, jnp.asarray(reps / reps.sum()))
    repeated = WeightedBatch.uniform(jnp.repeat(x, reps, axis=0), jnp.repeat(y, reps, axis=0))
    rates = eqx.filter_jit(system.rates)
    a, b = rates(0.0, p, weighted), rates(0.0, p, repeated)
    for got, want in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        _assert_close(got, want, "weighted vs repeated")
