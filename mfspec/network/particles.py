"""The one state type of both systems: a finite network in MF scaling is the particle system whose
weights are uniform (docs/formal_system.md sec. 3-4).

``Particles`` holds one ``LayerState`` per layer (w, θ and, for particles, the weights π) and the
output bias; its layer kinds and readout ride along as static fields, so ``p(x)`` is the forward
pass of eq. 38 (π = 1/n, a finite network: ``spec.network``) and of eq. 39 (π the particle weights:
``spec_particles``) alike — the forward fold of ``mfspec.network.fold``.

For training, ``Particles`` says per array its MF factor (Sec. 3.1: the kind's factor for w, n_ℓ
for θ_ℓ, 1 for b_out) and its schedule ξ_ℓ; ``mf.train`` needs nothing else.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Real

from mfspec.layers.base import Draw, LayerKind, LayerState
from mfspec.layers.readout import Readout
from mfspec.network import fold


class Particles(eqx.Module):
    """A finite network in MF scaling (``pi=None`` in every layer) or the weighted particle state
    of the limit (the ODE state of ``mf.solve_limit``).

    Fields:
        layers: one ``LayerState`` per layer ℓ = 1..L (w, θ, π; see ``mfspec.layers``).
        out_bias: b_out, shape (k,) (zeros when the spec has none).
        kinds: the layer kinds (static), ``spec.layers``.
        readout: the head's readout (static).
    """

    layers: tuple[LayerState, ...]
    out_bias: Float[Array, "*batch k"]
    kinds: tuple[LayerKind, ...] = eqx.field(static=True)
    readout: Readout = eqx.field(static=True)

    def __check_init__(self):
        if len(self.layers) != len(self.kinds) or not self.kinds:
            raise ValueError(
                f"Particles: {len(self.kinds)} layer kinds need as many layers, got {len(self.layers)}"
            )
        # Shapes are checked only on concrete (non-batched) states: diffrax and vmap build
        # Particles with extra leading axes (saved time series) or as abstract tangents.
        if any(s.theta.ndim != 2 for s in self.layers):
            return
        prev = None
        for ell, (kind, s) in enumerate(zip(self.kinds, self.layers), start=1):
            m = s.size
            if s.theta.shape[1] != kind.q:
                raise ValueError(
                    f"Particles.layers[{ell - 1}].theta has shape {s.theta.shape}, expected ({m}, {kind.q})"
                )
            if s.w.shape[0] != m or (prev is not None and s.w.shape[1] != prev):
                want = f"({m}, d)" if prev is None else f"({m}, {prev}, ...)"
                raise ValueError(
                    f"Particles.layers[{ell - 1}].w (layer {ell}) has shape {s.w.shape}, expected {want}"
                )
            if s.pi is not None and s.pi.shape != (m,):
                raise ValueError(f"Particles.layers[{ell - 1}].pi has shape {s.pi.shape}, expected ({m},)")
            prev = m

    @property
    def sizes(self) -> tuple[int, ...]:
        """M_1..M_L (n_1..n_L for a network)."""
        return tuple(s.size for s in self.layers)

    widths = sizes

    @property
    def dtype(self):
        return self.out_bias.dtype

    @property
    def scan_steps(self) -> bool:
        """Whether the trainer may scan SGD steps (every kind allows it: ``LayerKind.scan_steps``)."""
        return all(kind.scan_steps for kind in self.kinds)

    def __call__(
        self, x: Real[ArrayLike, "batch d"], *, with_preactivations: bool = False
    ) -> Float[Array, "batch k"] | tuple[Float[Array, "batch k"], list[Float[Array, "batch ..."]]]:
        """ŷ for a batch x of shape (B, d): (B, k) (and [H_1..H_L], each (B, M_ℓ), if asked).

        Inputs beyond the smallest ``LayerKind.eval_chunk`` of the kinds are evaluated in chunks of it
        (feature maps of a whole evaluation set may not fit in memory)."""
        if with_preactivations:
            return fold.forward(self.kinds, self.layers, self.readout, self.out_bias, x)
        chunks = [kind.eval_chunk for kind in self.kinds if kind.eval_chunk is not None]
        m = min(chunks, default=None)
        if m is None or x.shape[0] <= m:
            return self._yhat(x)
        q = x.shape[0] // m
        head = lax.map(self._yhat, x[: q * m].reshape(q, m, x.shape[1]))
        parts = [head.reshape(q * m, -1)]
        if x.shape[0] > q * m:
            parts.append(self._yhat(x[q * m :]))
        return jnp.concatenate(parts)

    def _yhat(self, x):
        return fold.forward(self.kinds, self.layers, self.readout, self.out_bias, x)[0]

    def pullback(self, x: Real[ArrayLike, "batch d"], cotangent) -> Particles:
        """Σ_b ⟨cot_b, Δ_•(x_b)⟩ for every moving coordinate, as a ``Particles``-shaped pytree (the
        backward fold of ``mfspec.network.fold``; π and ϖ get 0)."""
        grads, bias = fold.pullback(self.kinds, self.layers, self.readout, self.out_bias, x, cotangent)
        return Particles(grads, bias, self.kinds, self.readout)

    def astype(self, dtype) -> Particles:
        return jax.tree.map(lambda a: jnp.asarray(a, dtype), self)

    # --- what the trainer reads (mfspec.finite.train) ----------------------------------------

    def params(self):
        """The trainable arrays: ((w_1, θ_1), ..., (w_L, θ_L)), b_out."""
        return tuple(s.moving() for s in self.layers), self.out_bias

    def with_params(self, p) -> Particles:
        layers, out_bias = p
        new = tuple(s.with_moving(w, th) for s, (w, th) in zip(self.layers, layers))
        return Particles(new, out_bias, self.kinds, self.readout)

    def mf_scales(self):
        """The MF factors of Sec. 3.1, shaped like ``params()``: the kind's factor for w (n_1 for
        W_1, n_ℓ n_{ℓ-1} for W_ℓ), n_ℓ for θ_ℓ, 1 for b_out (0 when it is frozen)."""
        n = self.sizes
        layers = tuple(
            (float(kind.weight_factor(n[i], n[i - 1] if i else None)), float(n[i]))
            for i, kind in enumerate(self.kinds)
        )
        return layers, self.readout.factor

    def lr_layers(self):
        """ξ_ℓ moves θ_ℓ and the incoming weights of layer ℓ (index ℓ-1); index L is b_out's schedule."""
        return tuple((i, i) for i in range(len(self.kinds))), len(self.kinds)

    def param_names(self):
        return tuple((f"W_{ell}", f"theta_{ell}") for ell in range(1, len(self.kinds) + 1)), "b_out"


#: A finite network in MF scaling is a ``Particles`` with uniform weights (π = 1/n).
MFNetwork = Particles


def init_network(
    kinds, readout: Readout, widths: tuple[int, ...], key: PRNGKeyArray, *, input_dim: int, dtype=None
) -> Particles:
    """Draw a network from the kinds' bound init laws (prediction statement of Sec. 3.2).

    Layer-1 neurons (θ_{1,i}, w_{1,i}) are iid; layer-ℓ neurons θ_{ℓ,j} iid and their incoming
    weights drawn given θ_{ℓ,j} and θ_{ℓ-1,i}; every array takes a fixed key slot (``Draw``), so a
    network is reproducible from its key.
    """
    dtype = dtype or jnp.zeros(()).dtype
    draw = Draw(key, len(kinds), input_dim)
    layers, prev = [], None
    for ell, (kind, n) in enumerate(zip(kinds, widths), start=1):
        prev = kind.init(draw, ell, n, prev, dtype)
        layers.append(prev)
    out_bias = readout.init(draw.out_bias(), kinds[-1].k, dtype)
    return Particles(tuple(layers), out_bias, tuple(kinds), readout)


def empirical_particles(net: Particles) -> Particles:
    """The empirical measure of a finite network with explicit weights π_ℓ = 1/n_ℓ (E1, App. B.1).

    The same state as ``net`` except that π is an array, so the particle code path (π per
    particle) runs instead of the network's (π a scalar).
    """
    layers = tuple(LayerState(s.w, s.theta, s.weights_like(), s.omega) for s in net.layers)
    return Particles(layers, net.out_bias, net.kinds, net.readout)


def _moving_leaves(p: Particles) -> list[jax.Array]:
    return [a for s in p.layers for a in s.moving()] + [p.out_bias]


def pack(p: Particles) -> jax.Array:
    """The moving coordinates (w_ℓ, θ_ℓ, b_out) as one flat vector; π and ϖ are left out (constant).

    The limit solver integrates this vector: one array leaf keeps Diffrax's per-leaf bookkeeping,
    and so its compile time, small.
    """
    return jnp.concatenate([jnp.ravel(a) for a in _moving_leaves(p)])


def unpack(vec, template: Particles) -> Particles:
    """Inverse of ``pack``: shapes, π and ϖ are taken from ``template``."""
    leaves = _moving_leaves(template)
    sizes = [math.prod(a.shape) for a in leaves]
    if vec.shape != (sum(sizes),):
        raise ValueError(f"unpack: vector has shape {vec.shape}, the template needs ({sum(sizes)},)")
    parts, start = [], 0
    for a, n in zip(leaves, sizes):
        parts.append(vec[start : start + n].reshape(a.shape))
        start += n
    layers = tuple(s.with_moving(parts[2 * i], parts[2 * i + 1]) for i, s in enumerate(template.layers))
    return Particles(layers, parts[-1], template.kinds, template.readout)
