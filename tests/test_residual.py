"""The residual kind (docs/formal_system.md sec. 9) against its exact reductions and the spec file.

- E1 on ``spec/residual_tanh.py`` (κ = 1 and κ = 1/L) in float64, ≤ 1e-12 relative;
- κ = 0: h_2 = h_1, so the net [σ_1, Residual(σ_2, κ=0), head] is the net [σ_2, head] with layer
  1's weights and layer 2's θ — ŷ, every scaled gradient (finite) and every rate (limit, on the
  column particles) equal to roundoff, and the branch's own (W_2, θ_1) get exactly 0;
- W_2 ≡ 0 (κ = 1): the same forward; every rate but W_2's is the κ = 0 net's, W_2's is not 0;
- atomic θ (hidden biases): the column is the base particle; with ``collapse=False`` the 3 copies
  of every atom give the same solve to roundoff (E3 along the chain);
- a width change at a residual layer, the Eulerian check and the radial reduction: refused, with
  the reason.
"""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import e1_data

import mfspec as mf
from mfspec.checks.e1 import e1_residuals
from mfspec.checks.eulerian import check_eulerian
from mfspec.layers.base import LayerState
from mfspec.limit.formal import FormalSystem, WeightedBatch

SPEC_FILE = "spec/residual_tanh.py"


@pytest.fixture(autouse=True, scope="module")
def x64():
    with jax.enable_x64(True):
        yield


def _spec(kappa: float, *, atom_bias: bool = False, name: str = "res") -> mf.Spec:
    """[tanh (θ = bias), Residual(tanh, κ), tanh head (β, b)] on 3-d data, one learning rate."""
    bias = mf.init.Atom(0.2) if atom_bias else mf.init.Normal(0.2, 0.7)
    init = mf.init.Init(
        w1=mf.init.Normal(0.1, 1.0),
        theta=(mf.init.Normal(-0.1, 0.5), bias, mf.init.Normal([1.0, 0.0], [0.5, 0.5])),
        kernels=(mf.init.Kernel(0.5, 1.0), mf.init.Kernel(0.3, 1.0)),
        out_bias=mf.init.Atom(0.1),
    )
    layers = (mf.Input(mf.layer(mf.act.tanh)), mf.Residual(mf.layer(mf.act.tanh), scale=kappa),
              mf.Dense(mf.head(mf.act.tanh)))  # fmt: skip
    return mf.Spec(name=name, input_dim=3, layers=layers, loss=mf.loss.squared, init=init,
                   data=e1_data(3, 1), lr=mf.lr.constant(0.3))  # fmt: skip


def _reduced(res: mf.Spec) -> mf.Spec:
    """The κ = 0 net's reduction: [σ_2 on h_1 = W_1 x, head]; layer 1 takes layer 2's θ law."""
    init = mf.init.Init(w1=res.init.w1, theta=(res.init.theta[1], res.init.theta[2]),
                        kernels=(res.init.kernels[1],), out_bias=res.init.out_bias)  # fmt: skip
    layers = (mf.Input(mf.layer(mf.act.tanh)), mf.Dense(mf.head(mf.act.tanh)))
    return mf.Spec(
        name="reduced", input_dim=3, layers=layers, loss=res.loss, init=init, data=res.data, lr=res.lr
    )


def _reduce_state(p: mf.Particles, reduced: mf.Spec) -> mf.Particles:
    """The reduced net's state: layer 1 = (W_1 of the column's base, θ_2 of the column, π_2)."""
    l1, l2, l3 = p.layers
    first = LayerState(l1.w, l2.theta, l2.pi)
    return mf.Particles((first, l3), p.out_bias, reduced.layers, reduced.readout)


def _batch(spec):
    return WeightedBatch.uniform(jnp.asarray(spec.data.x_train[:10]), jnp.asarray(spec.data.y_train[:10]))


@pytest.mark.parametrize("variant", [None, "kappa=1/L"])
def test_e1_on_the_spec_file(variant):
    sf = mf.load_spec_file(SPEC_FILE)
    spec = sf.spec if variant is None else sf.variants[variant]
    res = e1_residuals(spec, samples=4)
    assert max(res.values()) <= 1e-12, {k: v for k, v in res.items() if v > 1e-12}


def test_kappa_zero_finite_net_is_its_reduction():
    res, key = _spec(0.0), jax.random.PRNGKey(3)
    red = _reduced(res)
    net = res.network(6, key)
    small = _reduce_state(net, red)
    x, y = jnp.asarray(res.data.x_train[:10]), jnp.asarray(res.data.y_train[:10])
    np.testing.assert_allclose(net(x), small(x), rtol=1e-15, atol=1e-15)
    (g1, g2, g3), gb = mf.scaled_gradients(net, res.loss, x, y)
    (r1, r2), rb = mf.scaled_gradients(small, red.loss, x, y)
    pairs = {"W_1": (g1[0], r1[0]), "theta_2 ~ theta_1'": (g2[1], r1[1]), "W_3 ~ W_2'": (g3[0], r2[0]),
             "theta_3 ~ theta_2'": (g3[1], r2[1]), "b_out": (gb, rb)}  # fmt: skip
    for name, (a, b) in pairs.items():
        assert float(jnp.max(jnp.abs(b))) > 1e-3, name  # not a vacuous comparison
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=name)
    assert not np.any(g2[0]) and not np.any(g1[1])  # the branch (W_2) and θ_1 get exactly 0


@pytest.mark.parametrize("kappa", [0.0, 1.0])
def test_limit_without_the_branch_is_its_reduction(kappa):
    """κ = 0, or κ = 1 with F_2 ≡ 0, on the column particles (layer 1 split by θ_2's 3 nodes)."""
    res = _spec(kappa)
    red = _reduced(res)
    p = mf.spec_particles(res, m1=8, nodes=3, dtype=jnp.float64)
    assert p.sizes[:2] == (24, 24)  # a column per (base particle, θ_2 node)
    if kappa:
        l2 = p.layers[1]
        p = mf.Particles((p.layers[0], LayerState(jnp.zeros_like(l2.w), l2.theta, l2.pi), p.layers[2]),
                         p.out_bias, p.kinds, p.readout)  # fmt: skip
    small = _reduce_state(p, red)
    batch = _batch(res)
    np.testing.assert_allclose(p(batch.x), small(batch.x), rtol=1e-15, atol=1e-15)
    g = FormalSystem.from_spec(res).rates(0.0, p, batch)
    r = FormalSystem.from_spec(red).rates(0.0, small, batch)
    (a1, a2, a3), (b1, b2) = g.layers, r.layers
    pairs = {"W_1": (a1.w, b1.w), "theta_2": (a2.theta, b1.theta), "F_3": (a3.w, b2.w),
             "theta_3": (a3.theta, b2.theta), "b_out": (g.out_bias, r.out_bias)}  # fmt: skip
    for name, (u, v) in pairs.items():
        assert float(jnp.max(jnp.abs(v))) > 1e-3, name
        np.testing.assert_allclose(u, v, rtol=1e-13, atol=1e-15, err_msg=name)
    assert not np.any(a1.theta)  # θ_1 reaches ŷ only through the branch
    # F_2's rate: 0 at κ = 0; at κ = 1 the branch's gradient, which does not vanish with F_2
    assert (float(jnp.max(jnp.abs(a2.w))) > 1e-3) == bool(kappa)


def test_atomic_theta_column_is_the_base_particle_and_copies_agree():
    spec = _spec(1.0, atom_bias=True)
    col = mf.spec_particles(spec, m1=8, nodes=3, dtype=jnp.float64)
    full = mf.spec_particles(spec, m1=8, nodes=3, collapse=False, atom_copies=3, dtype=jnp.float64)
    assert col.sizes[:2] == (8, 8) and full.sizes[:2] == (24, 24)

    def solve(p):
        return mf.solve_limit(spec, t1=2.0, eval_ts=(0.0, 1.0, 2.0), start=mf.Start(particles=p),
                              resolution=mf.Resolution(dt=0.02), stepping=mf.Stepping(diffrax.Tsit5()),
                              dtype=jnp.float64)  # fmt: skip

    a, b = solve(col), solve(full)
    for name, v in a.curve.metrics.items():
        np.testing.assert_allclose(b.curve.metrics[name], v, rtol=1e-12, atol=1e-14, err_msg=name)
    loss = np.asarray(a.curve.metrics["train_loss"])
    assert abs(loss[-1] - loss[0]) > 1e-3  # it trained: the comparison is not vacuous
    last_a, last_b = a.states()[-1].layers, b.states()[-1].layers
    np.testing.assert_allclose(last_b[0].w, np.repeat(last_a[0].w, 3, 0), rtol=1e-11, atol=1e-13)


def test_width_change_at_a_residual_layer_names_the_layer():
    spec = _spec(1.0)
    with pytest.raises(ValueError, match=r"layer 2 is residual.*n = 5 above a layer of 6"):
        spec.network((6, 5, 4), jax.random.PRNGKey(0))


def test_eulerian_and_radial_say_why_not():
    spec = _spec(1.0)
    check = check_eulerian(spec)
    assert check.skipped and "Residual" in check.detail and "not defined" in check.detail
    assert not mf.is_rotation_invariant(spec)
