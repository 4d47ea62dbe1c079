"""The generated JAX code agrees with the symbolic network (one source of truth).

SymPy's ŷ and its Sec. 3.1 scaled gradients of the minibatch-mean loss (``_finite``, the spec's
own σ's and loss) are lambdified to NumPy and compared in float64 with ``mfspec.MFNetwork`` and
``mfspec.scaled_gradients`` at random parameters, inputs and labels. Kinks are differentiated as
generic φ (``_smooth``; SymPy's Max is slow to build) and evaluated as the kink and its a.e.
derivative; random points avoid the kinks with probability 1. The point is redrawn (up to 20
times) until no scaled-gradient entry is exactly 0, so that a dead ReLU cannot hide a wrong factor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from mfspec.finite.gradients import scaled_gradients as default_scaled
from mfspec.layers.base import LayerState
from mfspec.network.particles import Particles
from mfspec.symbolic._compare import leaves
from mfspec.symbolic._finite import batch_loss, forward, scaled_gradient
from mfspec.symbolic._instance import instance, layers_for
from mfspec.symbolic._report import Check
from mfspec.symbolic._smooth import Smoother


def check_jax(
    spec,
    widths: Sequence[int],
    d: int,
    *,
    scaled_gradients: Callable | None = None,
    batch: int = 2,
    seed: int = 0,
    tol: float = 1e-10,
) -> Check:
    """max |JAX − SymPy| / (1 + |SymPy|) over ŷ and every scaled gradient, at one random point.

    Arguments:
        scaled_gradients: the implementation under test, signature of ``mfspec.scaled_gradients``
            (default: that function); inject a faulty one to see this check fail.
    """
    t0 = time.perf_counter()
    scaled_gradients = scaled_gradients or default_scaled
    smooth = Smoother()
    inst = instance(spec, widths, d, batch=batch).map(smooth)
    sym_yhat = [forward(inst, x)[0] for x in inst.xs]
    sym_grads = scaled_gradient(inst, batch_loss(inst))
    labels, exprs = zip(*leaves({"yhat": sym_yhat, **sym_grads}))
    params = [s for _, s in leaves(inst.params()) if isinstance(s, sp.Symbol)]
    data = [s for _, s in leaves({"x": inst.xs, "y": inst.ys})]
    fn = sp.lambdify(params + data, list(exprs), modules=[smooth.numeric(), "numpy"], cse=True)
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(20):
        vals = {s: rng.normal() for s in params + data}
        out = np.asarray(fn(*(vals[s] for s in params + data)), dtype=np.float64)
        zeros = int(np.sum(out == 0.0))
        if best is None or zeros < best[0]:
            best = (zeros, vals, out)
        if zeros == 0:
            break
    _, values, sym = best

    def arr(tree, shape):
        return np.array(
            [values.get(s, 0.0) if isinstance(s, sp.Symbol) else float(s) for _, s in leaves(tree)]
        ).reshape(shape)

    with jax.enable_x64(True):
        kinds = layers_for(spec, len(widths))  # the spec's own σ's, not the smoothed copies
        widths = inst.widths
        prev = [d, *widths[:-1]]
        layers = tuple(
            LayerState(
                jnp.asarray(arr(w, kind.weight_shape(n, n_prev))),
                jnp.asarray(arr(th, (n, kind.q))),
            )
            for kind, w, th, n, n_prev in zip(kinds, inst.weights, inst.thetas, widths, prev)
        )
        net = Particles(layers, jnp.asarray(arr(inst.out_bias, (inst.k,))), kinds, spec.readout)
        x = jnp.asarray(arr(inst.xs, (batch, d)))
        y = jnp.asarray(arr(inst.ys, (batch, inst.k)))
        yhat = net(x)
        # One compile per architecture instead of op-by-op dispatch (seconds saved per check).
        grads = eqx.filter_jit(lambda net, x, y: scaled_gradients(net, spec.loss, x, y))(net, x, y)
        got = np.concatenate([np.ravel(np.asarray(a, np.float64)) for a in (yhat, *jax.tree.leaves(grads))])
    if got.shape != sym.shape:
        raise ValueError(f"JAX returned {got.shape[0]} numbers, SymPy {sym.shape[0]}")
    err = np.abs(got - sym) / (1 + np.abs(sym))
    worst = int(np.argmax(err)) if err.size else 0
    residual = float(err[worst]) if err.size else 0.0
    passed = bool(np.isfinite(residual) and residual <= tol)
    zeros = int(np.sum(sym == 0.0))
    detail = f"{len(exprs)} numbers in float64 ({zeros} exactly 0)" + (
        "" if passed else f"; worst: {labels[worst]}"
    )
    where = f"L={len(widths)} n={tuple(widths)} d={d}"
    return Check(f"JAX vs SymPy {where}", residual, tol, passed, detail, time.perf_counter() - t0)
