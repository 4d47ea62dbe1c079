"""A catalogue of small test problems and independent references (DESIGN.md: tests compare
against references, not against themselves)."""

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


def reference_forward(net: mf.MFNetwork, x):
    """eq. 38 written out neuron by neuron with explicit 1/n sums (no shared code with _layers)."""
    acts = net.acts
    h = jnp.stack([x @ net.w1[i] for i in range(net.w1.shape[0])], axis=-1)
    for ell in range(1, len(acts)):
        a = acts[ell - 1](net.thetas[ell - 1], h)
        n_prev = a.shape[-1]
        w = net.kernels[ell - 1]
        h = jnp.stack(
            [sum(w[j, i] * a[..., i] for i in range(n_prev)) / n_prev for j in range(w.shape[0])], axis=-1
        )
    out = acts[-1](net.thetas[-1], h)
    if out.ndim == 2:
        out = out[..., None]
    return out.sum(axis=1) / out.shape[1] + net.out_bias


def scaled_update_reference(net: mf.MFNetwork, loss, x, y, lr: float):
    """The SGD update of eq. 13-15 with the Sec. 3.1 factors, from plain autodiff of the reference."""

    def risk(w1, thetas, kernels, b):
        n2 = mf.MFNetwork(
            w1=w1,
            thetas=thetas,
            kernels=kernels,
            out_bias=b,
            acts=net.acts,
            trainable_out_bias=net.trainable_out_bias,
        )
        return jnp.mean(loss(y, reference_forward(n2, x)))

    g = jax.grad(risk, argnums=(0, 1, 2, 3))(net.w1, net.thetas, net.kernels, net.out_bias)
    n = net.widths
    w1 = net.w1 - lr * n[0] * g[0]
    thetas = tuple(t - lr * n[i] * gt for i, (t, gt) in enumerate(zip(net.thetas, g[1])))
    kernels = tuple(w - lr * n[i + 1] * n[i] * gw for i, (w, gw) in enumerate(zip(net.kernels, g[2])))
    b = net.out_bias - (lr * g[3] if net.trainable_out_bias else 0.0)
    return w1, thetas, kernels, b


def reference_cnn_forward(net, x, *, with_preactivations=False):
    """App. C's CNN written out: (W ⊛ u)_i = Σ_j w_ij * u_j with * a zero-padded, strided 2-D
    cross-correlation summed by explicit loops over the s × s kernel offsets, ReLU, max pool by
    explicit loops over the window (padding never wins), then ŷ = (1/n_L) Σ_{j,p} β_{c,j,p} a_{j,p} + b.

    Independent of ``mf.conv``'s code: images are read channel-major, (B, d, H, W), weights as the
    paper's w_ij ∈ R^{s×s}, no lax.conv / reduce_window. Differentiable (jnp), for gradient checks.
    """
    d, side, _ = net.input_shape
    u = jnp.asarray(x).reshape(x.shape[0], d, side, side)
    hs = []
    for ell, (w_hwio, b, layer) in enumerate(zip(net.kernels, net.biases, net.layers)):
        w = jnp.transpose(w_hwio, (3, 2, 0, 1))  # (n_out, n_in, s, s): w[i, j] = w_ij
        s, st, pad = layer.kernel, layer.stride, layer.pad
        up = jnp.pad(u, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        out = (up.shape[-1] - s) // st + 1
        h = 0.0
        for dy in range(s):
            for dx in range(s):
                patch = up[:, :, dy : dy + st * (out - 1) + 1 : st, dx : dx + st * (out - 1) + 1 : st]
                h = h + jnp.einsum("ij,bjyx->biyx", w[:, :, dy, dx], patch)
        if ell > 0:
            h = h / u.shape[1]
        h = h + b[None, :, None, None]
        hs.append(h)
        u = jnp.maximum(h, 0.0)
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
    yhat = jnp.einsum("cjp,bjp->bc", net.beta, a) / a.shape[1] + net.out_bias
    return (yhat, hs) if with_preactivations else yhat
