"""A catalogue of small test problems and independent references: tests compare against
references, not against themselves. ``catalogue()`` lists the architectures (every layer kind)
that the generic tests run over; a new layer kind adds its entries there."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

import mfspec as mf


def tiny_isotropic_spec(
    *,
    depth: int = 3,
    dim: int = 6,
    tau2: float = 0.1,
    tau3: float = 0.0,
    alpha=1e-2,
    batch=20,
    phi=mf.act.relu,
    lr=None,
    name="tiny",
) -> mf.Spec:
    """A small version of the Fig. 5 net: ``depth`` layers of neurons (L), ReLU by default."""
    return mf.Spec(
        name=name,
        input_dim=dim,
        hidden=(depth - 1) * [mf.layer(phi)],
        head=mf.head(phi, outputs=1),
        loss=mf.loss.squared,
        init=mf.init.usual(tau1=math.sqrt(2), mu2=1.0, tau2=tau2, mu3=0.0, tau3=tau3),
        data=mf.data.IsotropicGaussians(dim=dim, delta=0.4),
        lr=lr or mf.lr.constant(alpha),
        batch_size=batch,
    )


def two_param_activation() -> mf.Activation:
    """A user-written σ(θ, h) = a·tanh(h + b) with θ = (a, b) (q = 2)."""
    a, b, h = sp.symbols("a b h", real=True)
    return mf.Activation(a * sp.tanh(h + b), theta=(a, b), h=h, roles=("weight", "bias"), name="a*tanh(h+b)")


def nonfactoring_head() -> mf.Activation:
    """A 2-output σ_L = (tanh(a h + b), a sin h) that is not β φ(θ', h): the generic head path."""
    a, b, h = sp.symbols("a b h", real=True)
    return mf.Activation([sp.tanh(a * h + b), a * sp.sin(h)], theta=(a, b), h=h, roles=("weight", "bias"))


def classification_arrays(n=64, d=5, k=3, seed=0, with_test=True) -> mf.data.ArrayData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    labels = rng.integers(0, k, size=n)
    y = mf.data.one_hot(labels, k)
    if not with_test:
        return mf.data.ArrayData(x, y)
    xt = rng.normal(size=(n // 2, d)).astype(np.float32)
    yt = mf.data.one_hot(rng.integers(0, k, size=n // 2), k)
    return mf.data.ArrayData(x, y, xt, yt)


def classification_spec(*, n=64, k=3, seed=1, name="classification") -> mf.Spec:
    """A one-hidden-layer tanh net with a k-class cross-entropy head on ``classification_arrays``
    (d = 4, finite: the limit's expectation is exact); k = 10 gives the head Sobol points."""
    return mf.Spec(
        name=name,
        input_dim=4,
        hidden=[mf.layer(mf.act.tanh)],
        head=mf.head(mf.act.tanh, outputs=k),
        loss=mf.loss.cross_entropy,
        init=mf.init.usual(tau1=1.0, mu2=1.0, tau2=0.5, mu3=0.0, tau3=0.0),
        data=classification_arrays(n=n, d=4, k=k, seed=seed),
        lr=mf.lr.constant(0.01),
        batch_size=16,
    )


def _reference_preactivation(kind, state, a, h_prev):
    """h of one layer written neuron by neuron (no shared code with the layer kinds)."""
    w = state.w
    if isinstance(kind, mf.Input):
        return jnp.stack([a @ w[i] for i in range(w.shape[0])], axis=-1)
    n_prev = a.shape[-1]
    if isinstance(kind, mf.Residual):  # neuron j continues neuron j below, plus κ × a dense branch
        branch = [sum(w[j, i] * a[..., i] for i in range(n_prev)) / n_prev for j in range(w.shape[0])]
        return jnp.stack([h_prev[..., j] + kind.scale * branch[j] for j in range(w.shape[0])], -1)
    if isinstance(kind, mf.Dense):
        return jnp.stack(
            [sum(w[j, i] * a[..., i] for i in range(n_prev)) / n_prev for j in range(w.shape[0])], -1
        )
    star = kind.star  # a local operation: σ*(w_ji, a_i) entry by entry
    term = lambda j, i: star.components(w[j, i, 0][None, :].repeat(a.shape[0], 0), a[..., i])[0]  # noqa: E731
    return jnp.stack([sum(term(j, i) for i in range(n_prev)) / n_prev for j in range(w.shape[0])], -1)


def reference_forward(net: mf.MFNetwork, x):
    """eq. 38 written out neuron by neuron with explicit 1/n sums (no shared code with the kinds);
    a CNN by ``reference_cnn_forward``."""
    if isinstance(net.kinds[0], mf.Conv):
        return reference_cnn_forward(net, x)
    a, h = x, None
    for kind, state in zip(net.kinds, net.layers):
        h = _reference_preactivation(kind, state, a, h)
        a = kind.act(state.theta, h)
    out = a if a.ndim == 3 else a[..., None]
    return out.sum(axis=1) / out.shape[1] + net.out_bias


def scaled_update_reference(net: mf.MFNetwork, loss, x, y, lr: float):
    """The SGD update of eq. 13-15 with the Sec. 3.1 factors, from plain autodiff of the reference:
    W_1 × n_1, W_ℓ × n_ℓ n_{ℓ-1}, θ_ℓ × n_ℓ, b_out × 1 (0 when frozen)."""

    def risk(p):
        return jnp.mean(loss(y, reference_forward(net.with_params(p), x)))

    layers, b = jax.grad(risk)(net.params())
    n = net.widths
    new = []
    for ell, ((w, th), (gw, gth)) in enumerate(zip(net.params()[0], layers)):
        factor = n[0] if ell == 0 else n[ell] * n[ell - 1]
        new.append((w - lr * factor * gw, th - lr * n[ell] * gth))
    out_bias = net.out_bias - (lr * b if net.readout.bias else 0.0)
    return tuple(new), out_bias


def e1_data(d: int, k: int, n: int = 12, seed: int = 0) -> mf.data.ArrayData:
    """Inputs N(0, I_d) and ±1 (k = 1) or one-hot (k > 1) labels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = np.eye(k)[rng.integers(0, k, n)] if k > 1 else np.sign(rng.normal(size=(n, 1)))
    return mf.data.ArrayData(x, y)


def _w_h():
    return sp.symbols("w h", real=True)


def catalogue() -> dict[str, mf.Spec]:
    """The architectures every generic test (E1, E2, JAX vs SymPy, MF scaling) runs over: L = 1..4,
    q = 0..2, k = 1, 2, 3, ReLU/tanh/user-written σ (heads β φ and one that does not factor), and
    every layer kind — the local operation σ*(w, h) affine and nonlinear in w, separable and not,
    s = 1 and 2, in the middle and as the last layer; residual layers stacked (κ = 1 and 1/2, a
    q = 2 σ) and as a 2-output head (κ = 1/4); two CNNs.

    Distinct, time-dependent schedules per layer, so that each ξ_ℓ(t) must land on its own rate;
    every init law has spread, so that neurons are distinct."""
    w, h = _w_h()
    w1, w2 = sp.symbols("w1 w2", real=True)
    ident = mf.layer(mf.act.identity)
    archs = {
        "L1-relu-k1": ([mf.head(mf.act.relu)], mf.loss.squared, 1),
        "L2-tanh-k3-ce": ([mf.layer(mf.act.tanh, bias=False), mf.head(mf.act.tanh, outputs=3)], mf.loss.cross_entropy, 3),
        "L3-q2-relu-k1": ([two_param_activation(), two_param_activation(), mf.head(mf.act.relu)], mf.loss.squared, 1),
        "L4-relu-k3-sq": ([*3 * [mf.layer(mf.act.relu)], mf.head(mf.act.relu, outputs=3)], mf.loss.squared, 3),
        "L2-k2-nonfactoring-head": ([mf.layer(mf.act.tanh), nonfactoring_head()], mf.loss.squared, 2),
        "local-tanh(wh)": ([ident, mf.local(sp.tanh(w * h), w=w, h=h, act=mf.layer(mf.act.tanh)), mf.head(mf.act.tanh)],
                           mf.loss.squared, 1),
        "local-w*tanh+sin(w)": ([ident, mf.local(w * sp.tanh(h) + sp.Rational(3, 10) * sp.sin(w), w=w, h=h),
                                 mf.Dense(mf.head(mf.act.tanh, outputs=3))], mf.loss.cross_entropy, 3),
        "local-s2-last": ([mf.layer(mf.act.tanh), mf.local(w1 * sp.tanh(h + w2), w=(w1, w2), h=h, act=mf.head(mf.act.relu))],
                          mf.loss.squared, 1),
        "residual-tanh-L4": ([mf.layer(mf.act.tanh), mf.Residual(mf.layer(mf.act.tanh)),
                              mf.Residual(two_param_activation(), scale=0.5), mf.head(mf.act.tanh)], mf.loss.squared, 1),
        "residual-head-k2": ([mf.layer(mf.act.relu), mf.Residual(mf.head(mf.act.tanh, outputs=2), scale=0.25)],
                             mf.loss.squared, 2),
    }  # fmt: skip
    out = {}
    for name, (layers, loss, k) in archs.items():
        L = len(layers)
        lr = mf.lr.LearningRate(0.05, layer_xi=tuple(mf.lr.Annealed(0.05, 0.1 * (i + 1)) for i in range(L)),
                                out_xi=mf.lr.Constant(0.7))  # fmt: skip
        kinds = [layers[0] if isinstance(layers[0], mf.LayerKind) else mf.Input(layers[0])]
        kinds += [x if isinstance(x, mf.LayerKind) else mf.Dense(x) for x in layers[1:]]
        init = mf.init.Init(
            w1=mf.init.Normal(0.0, 1.0),
            theta=tuple(mf.init.Normal.iid(0.3, 0.8) for _ in kinds),
            kernels=tuple(mf.init.Kernel(0.5, 1.0) for _ in kinds[1:]),
            out_bias=mf.init.Normal(0.1, 0.5),
        )
        out[name] = mf.Spec(name=name, input_dim=3, layers=kinds, loss=loss, init=init, data=e1_data(3, k), lr=lr,
                            output_bias=name != "L2-tanh-k3-ce")  # fmt: skip
    out.update(cnn_catalogue())
    return out


def cnn_catalogue() -> dict[str, mf.Spec]:
    """Small CNNs (App. C) as catalogue entries: two strided 3×3 layers with a pool (App. C's literal
    1/n_{ℓ−1}), and three layers dividing by the whole fan-in; 2-channel 6×6 images, k = 3."""
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (12, 2 * 6 * 6))
    data = mf.data.ArrayData(x, np.eye(3)[rng.integers(0, 3, 12)])
    geometries = {
        "cnn-L2-pool": ((mf.conv.ConvLayer(stride=2), mf.conv.ConvLayer(pool=3)), False),
        "cnn-L3-fan-in": (
            (mf.conv.ConvLayer(stride=2), mf.conv.ConvLayer(), mf.conv.ConvLayer(pool=2)),
            True,
        ),
    }
    out = {}
    for name, (layers, fan_in) in geometries.items():
        L = len(layers)
        lr = mf.lr.LearningRate(0.05, layer_xi=tuple(mf.lr.Annealed(0.05, 0.1 * (i + 1)) for i in range(L)),
                                out_xi=mf.lr.Constant(0.7))  # fmt: skip
        out[name] = mf.conv.ConvSpec(name=name, data=data, loss=mf.loss.cross_entropy, lr=lr, input_shape=(2, 6, 6),
                                     layers=layers, fan_in=fan_in, batch_size=4)  # fmt: skip
    return out


def reference_cnn_forward(net, x, *, with_preactivations=False):
    """App. C's CNN written out: (W ⊛ u)_i = Σ_j w_ij * u_j with * a zero-padded, strided 2-D
    cross-correlation summed by explicit loops over the s × s kernel offsets, ReLU after the bias, max
    pool by explicit loops over the window (padding never wins), then
    ŷ = (1/(n_L P^fan_in)) Σ_{j,p} β_{c,j,p} a_{j,p} + b_out; layer ℓ ≥ 2 divides by n_{ℓ−1} (s² n_{ℓ−1}
    under fan_in).

    Independent of the Conv kind's code: it reads only the network's arrays (w_1 (n, s, s, d), w_ℓ
    (n, n', s, s), θ = (b, β) with β_j[c, p] at index 1 + c·P + p) and each layer's geometry; images
    are read channel-major, (B, d, H, W), no lax.conv / reduce_window. Differentiable (jnp), for
    gradient checks. The pre-activations are returned without the bias (the kind adds it in σ).
    """
    first = net.kinds[0]
    d, side, _ = first.input_shape
    u = jnp.asarray(x).reshape(x.shape[0], d, side, side)
    hs = []
    for ell, (kind, state) in enumerate(zip(net.kinds, net.layers)):
        layer, w, b = kind.layer, state.w, state.theta[:, 0]
        if ell == 0:
            w = jnp.transpose(w, (0, 3, 1, 2))  # (n, d, s, s): w[i, c] the filter of channel c
        s, st, pad = layer.kernel, layer.stride, layer.pad
        up = jnp.pad(u, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        out = (up.shape[-1] - s) // st + 1
        h = 0.0
        for dy in range(s):
            for dx in range(s):
                patch = up[:, :, dy : dy + st * (out - 1) + 1 : st, dx : dx + st * (out - 1) + 1 : st]
                h = h + jnp.einsum("ij,bjyx->biyx", w[:, :, dy, dx], patch)
        if ell > 0:
            h = h / (u.shape[1] * (s * s if kind.fan_in else 1))
        hs.append(h)
        u = jnp.maximum(h + b[None, :, None, None], 0.0)
        if layer.pool:
            p, ps, pp = layer.pool, layer.pool_stride, layer.pool_pad
            up = jnp.pad(u, ((0, 0), (0, 0), (pp, pp), (pp, pp)), constant_values=-jnp.inf)
            out = (up.shape[-1] - p) // ps + 1
            pooled = None
            for dy in range(p):
                for dx in range(p):
                    win = up[:, :, dy : dy + ps * (out - 1) + 1 : ps, dx : dx + ps * (out - 1) + 1 : ps]
                    pooled = win if pooled is None else jnp.maximum(pooled, win)
            u = pooled
    a = u.reshape(u.shape[0], u.shape[1], -1)  # (B, n_L, P), positions row-major
    head, state = net.kinds[-1], net.layers[-1]
    n, k, P = a.shape[1], head.outputs, a.shape[2]
    beta = state.theta[:, 1:].reshape(n, k, P)
    yhat = jnp.einsum("jcp,bjp->bc", beta, a) / (n * (P if head.fan_in else 1)) + net.out_bias
    return (yhat, hs) if with_preactivations else yhat
