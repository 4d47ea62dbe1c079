"""The local operation σ*(w, h) (Sec. 2.4; docs/formal_system.md sec. 6) beyond E1 and E2.

- σ*(w, h) = w·tanh(h) behind an identity layer *is* the dense tanh layer: same network, same
  training curve, same rates and the same limit curve, to roundoff;
- noise nodes: a σ* nonlinear in w keeps the initial noise on Gauss–Hermite nodes (exact moments),
  an affine one keeps only the conditional mean; the ϖ-weighted state is exactly the ϖ-average of
  its single-node states (forward and backward);
- the matmul path for a separable σ* equals the grid path;
- declaration errors name the field and the value.
"""

from __future__ import annotations

import dataclasses

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from helpers import e1_data

import mfspec as mf
from mfspec.layers import LayerState, Upstream
from mfspec.layers import local_operation as local_module
from mfspec.limit.formal import FormalSystem, WeightedBatch

W, H = sp.symbols("w h", real=True)


@pytest.fixture(autouse=True, scope="module")
def x64():
    with jax.enable_x64(True):
        yield


def _init(kernel2=None):
    return mf.init.Init(
        w1=mf.init.Normal(0.2, 0.8),
        theta=(mf.init.Normal(0.1, 0.5), mf.init.Normal(0.2, 0.4), mf.init.Normal([1.0, 0.0], [0.5, 0.5])),
        kernels=(kernel2 or mf.init.Kernel(1.0, 0.5), mf.init.Kernel(1.0, 0.5)),
        out_bias=mf.init.Atom(0.0),
    )


def _spec(second, first=None, kernel2=None, name="local"):
    return mf.Spec(
        name=name,
        input_dim=3,
        layers=(first or mf.Input(mf.layer(mf.act.identity)), second, mf.Dense(mf.head(mf.act.tanh))),
        loss=mf.loss.squared,
        init=_init(kernel2),
        data=e1_data(3, 1, n=40),
        lr=mf.lr.constant(0.05),
        batch_size=10,
    )


DENSE = _spec(mf.Dense(mf.layer(mf.act.tanh)), first=mf.Input(mf.layer(mf.act.tanh)), name="dense")
LOCAL = _spec(mf.local(W * sp.tanh(H), w=W, h=H, act=mf.layer(mf.act.tanh)))


def _flat(p):
    return np.concatenate([np.ravel(a) for a in jax.tree.leaves(p.params())])


def test_w_times_tanh_is_the_dense_layer_network_and_training():
    key = jax.random.PRNGKey(3)
    dense, local = DENSE.network((5, 4, 3), key), LOCAL.network((5, 4, 3), key)
    np.testing.assert_allclose(_flat(local), _flat(dense), rtol=0, atol=0)  # the same draw
    x, _ = DENSE.data.minibatch(jax.random.PRNGKey(4), 16, dtype=jnp.float64)
    np.testing.assert_allclose(local(x), dense(x), rtol=1e-13, atol=1e-14)
    ev = DENSE.data.eval_sets(jax.random.PRNGKey(5), 40)
    (nd, cd), (nl, cl) = (mf.train(s, n, jax.random.PRNGKey(6), iterations=60, num_evals=6, eval_sets=ev)
                          for s, n in ((DENSE, dense), (LOCAL, local)))  # fmt: skip
    np.testing.assert_allclose(cl.metrics["train_loss"], cd.metrics["train_loss"], rtol=1e-11)
    np.testing.assert_allclose(_flat(nl), _flat(nd), rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(_flat(nd) - _flat(dense))) > 1e-2  # it trained


def test_w_times_tanh_is_the_dense_layer_rates_and_limit():
    res = mf.Resolution(m1=16, theta_nodes=3)
    pd, pl = (mf.spec_particles(s, resolution=res, dtype=jnp.float64) for s in (DENSE, LOCAL))
    assert pl.layers[1].w.shape == (3, 16, 1, 1) and pl.layers[1].omega is None  # affine: one node
    batch = WeightedBatch.uniform(DENSE.data.x_train, DENSE.data.y_train, jnp.float64)
    gd, gl = (FormalSystem.from_spec(s).rates(0.3, p, batch) for s, p in ((DENSE, pd), (LOCAL, pl)))
    np.testing.assert_allclose(_flat(gl), _flat(gd), rtol=1e-12, atol=1e-14)
    kw = dict(
        t1=2.0,
        num_evals=8,
        dtype=jnp.float64,
        resolution=dataclasses.replace(res, dt=0.02),
        stepping=mf.Stepping(diffrax.Tsit5()),
    )
    cd, cl = (mf.solve_limit(s, **kw).curve for s in (DENSE, LOCAL))
    for m in cd.metrics:
        np.testing.assert_allclose(cl.metrics[m], cd.metrics[m], rtol=1e-10, atol=1e-12, err_msg=m)
    assert cd.metrics["train_loss"][-1] < 0.9 * cd.metrics["train_loss"][0]  # the limit moved


def test_nonlinear_sigma_star_keeps_the_noise_on_gauss_hermite_nodes():
    kernel = mf.init.Kernel(1.0, 0.7)
    nonlinear = _spec(mf.local(sp.tanh(W) * sp.tanh(H), w=W, h=H), kernel2=kernel)
    res = mf.Resolution(m1=8, theta_nodes=3, noise_nodes=6)
    state = mf.spec_particles(nonlinear, resolution=res, dtype=jnp.float64).layers[1]
    assert state.w.shape == (1, 8, 6, 1)  # layer 2 has q = 0 (the identity): one particle
    w, om = np.asarray(state.w[0, 0, :, 0]), np.asarray(state.omega)
    assert abs(om.sum() - 1) < 1e-14 and np.all(np.asarray(state.w) == np.asarray(state.w)[:1, :1])
    # Gauss–Hermite nodes of N(1, 0.7²): exact moments up to degree 2·6 − 1.
    for p, want in ((1, 1.0), (2, 1.0 + 0.49), (3, 1.0 + 3 * 0.49)):
        assert abs(om @ w**p - want) < 1e-12, p
    # σ* affine in w (w·tanh(h) + w²-free terms): the same kernel gives one node at the mean.
    affine = _spec(mf.local(W * sp.tanh(H) + sp.tanh(H), w=W, h=H), kernel2=kernel)
    one = mf.spec_particles(affine, resolution=res, dtype=jnp.float64).layers[1]
    assert one.w.shape == (1, 8, 1, 1) and one.omega is None
    np.testing.assert_allclose(np.asarray(one.w), 1.0, rtol=1e-14)


@pytest.mark.parametrize("star", [sp.tanh(W) * sp.tanh(H), sp.tanh(W * H)], ids=["separable", "grid"])
def test_noise_nodes_are_the_weighted_average_of_single_node_states(star):
    """H = Σ_r ϖ_r H_r, the w-rate at node r is node r's own, B_{ℓ−1} = Σ_r ϖ_r B_r: exact."""
    spec = _spec(mf.local(star, w=W, h=H), kernel2=mf.init.Kernel(1.0, 0.7))
    p = mf.spec_particles(
        spec, resolution=mf.Resolution(m1=6, theta_nodes=3, noise_nodes=4), dtype=jnp.float64
    )
    kind, state = spec.layers[1], p.layers[1]
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(7, 6)))
    mix, d_h = p.layers[0].pi, jnp.asarray(rng.normal(size=(7, state.size)))
    state = LayerState(
        state.w + 0.1 * jnp.asarray(rng.normal(size=state.w.shape)), state.theta, state.pi, state.omega
    )
    up = Upstream(a, mix)
    h = kind.preactivation(state, up)
    g_w, (back, _) = kind.weight_pullback(state, up, d_h)
    om = np.asarray(state.omega)
    singles = [LayerState(state.w[:, :, r : r + 1], state.theta, state.pi) for r in range(len(om))]
    h_r = [kind.preactivation(s, up) for s in singles]
    pulls = [kind.weight_pullback(s, up, d_h) for s in singles]
    np.testing.assert_allclose(h, sum(o * x for o, x in zip(om, h_r)), rtol=1e-12)
    np.testing.assert_allclose(back, sum(o * b.a for o, (_, b) in zip(om, pulls)), rtol=1e-12)
    for r, (g, _) in enumerate(pulls):
        np.testing.assert_allclose(g_w[:, :, r], g[:, :, 0], rtol=1e-12)


def test_separable_path_equals_the_grid_path(monkeypatch):
    spec = _spec(mf.local(sp.tanh(W) * sp.tanh(H) + sp.sin(W), w=W, h=H), kernel2=mf.init.Kernel(1.0, 0.7))
    kind = spec.layers[1]
    assert local_module.separated(kind.star) is not None
    net = spec.network((5, 4, 3), jax.random.PRNGKey(0))
    state, rng = net.layers[1], np.random.default_rng(1)
    a, d_h = jnp.asarray(rng.normal(size=(6, 5))), jnp.asarray(rng.normal(size=(6, 4)))
    up = Upstream(a, 0.2)
    fast = kind.preactivation(state, up), kind.weight_pullback(state, up, d_h)
    monkeypatch.setattr(local_module, "separated", lambda star: None)
    grid = kind.preactivation(state, up), kind.weight_pullback(state, up, d_h)
    for x, y in zip(jax.tree.leaves(fast), jax.tree.leaves(grid)):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


def test_local_weights_from_an_iid_law():
    """Any mf.init law for w (here N(0.5, 0.3²), independent of the neurons): the network draws it,
    the particles put Gauss–Hermite nodes on it."""
    spec = _spec(mf.local(sp.tanh(W * H), w=W, h=H), kernel2=mf.init.Normal(0.5, 0.3))
    w = np.asarray(spec.network(200, jax.random.PRNGKey(0)).layers[1].w)
    assert w.shape == (200, 200, 1, 1)
    assert abs(w.mean() - 0.5) < 5 * 0.3 / 200 and abs(w.std() - 0.3) < 0.01
    state = mf.spec_particles(spec, resolution=mf.Resolution(m1=4, theta_nodes=3), dtype=jnp.float64).layers[
        1
    ]
    om, nodes = np.asarray(state.omega), np.asarray(state.w[0, 0, :, 0])
    assert abs(om @ nodes - 0.5) < 1e-14 and abs(om @ (nodes - 0.5) ** 2 - 0.09) < 1e-14


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: mf.local(sp.tanh(W), w=W, h=H), r"does not use its input h = h"),
        (lambda: mf.local(sp.tanh(W * H), w=(), h=H), r"w must hold at least one SymPy symbol"),
        (lambda: mf.local([W * H, H], w=W, h=H), r"one scalar expression, got 2"),
        (lambda: _spec(mf.Dense(mf.layer(mf.act.tanh)), first=mf.local(W * H, w=W, h=H)),
         r"Spec.layers\[0\] \(layer 1\) is a layer of kind Local, which reads a previous layer"),
        (lambda: _spec(mf.Input(mf.layer(mf.act.tanh))), r"Spec.layers\[1\] \(layer 2\) is a layer of kind Input"),
        (lambda: _spec(mf.local(W * H, w=W, h=H), kernel2=mf.init.Kernel((1.0, 2.0), 0.1)),
         r"Spec.init.kernels\[0\] \(layer 2\): Kernel.mean has 2 entries but the weight has s = 1"),
    ],
)  # fmt: skip
def test_bad_local_declarations_name_the_field(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


@pytest.mark.slow
def test_local_operation_spec_approaches_its_limit():
    """spec/local_operation.py's default preset (n = 50..800, 4 seeds, full-batch GD): the finite
    nets approach the limit of docs/formal_system.md sec. 6 with a fitted slope ≤ −0.3 in test loss."""
    import mfspec.testing as mft

    sf = mf.load_spec_file("local_operation")
    run = sf.preset("default")
    rep = mft.assert_approaches_limit(sf.spec, widths=run.widths, seeds=run.seeds, iterations=run.iterations,
                                      num_evals=run.num_evals, eval_samples=run.eval_samples, bound=-0.3)  # fmt: skip
    print(rep.table())
