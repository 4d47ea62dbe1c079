"""The formal limit system of paper eq. 39 (Sec. 3.2) in particle form, with its Lagrangian rates.

State: weighted particles (``mfspec._particles.Particles``; MATH.md sec. 3). For a batch of inputs x:

Forward (eq. 39, first block) — the one rule of ``mfspec._layers.forward`` with π as mixing weights:

    H_1(w; x) = ⟨w, x⟩,   H_ℓ[j] = Σ_i π_{ℓ-1,i} F_ℓ[j,i] σ_{ℓ-1}(θ_{ℓ-1,i}, H_{ℓ-1}[i]),   ŷ = Σ_j π_{L,j} σ_L(θ_{L,j}, H_L[j])

Backward (eq. 39, the Δ quantities), each carrying the output index c of ŷ ∈ R^k:

    Δ_{H,L}[j,c] = ∂_h σ_{L,c}(θ_j, H_L[j])          Δ_{θ,L}[j,:,c] = ∇_θ σ_{L,c}(θ_j, H_L[j])
    B_ℓ[i,c]     = Σ_j π_{ℓ+1,j} F_{ℓ+1}[j,i] Δ_{H,ℓ+1}[j,c]                      ℓ = L-1..1
    Δ_{H,ℓ}      = B_ℓ ∂_h σ_ℓ(θ, H_ℓ)                Δ_{θ,ℓ} = B_ℓ ∇_θ σ_ℓ(θ, H_ℓ)
    Δ_{W,ℓ}[j,i,c] = Δ_{H,ℓ}[j,c] σ_{ℓ-1}(θ_{ℓ-1,i}, H_{ℓ-1}[i])                   ℓ = 2..L
    Δ_{W,1}[i,:,c] = Δ_{H,1}[i,c] x

Rates (eq. 39 / App. A eq. 48-52, Lagrangian form): ``G_• = −ξ_•(t) E_P⟨∂_2 L(y, ŷ(x)), Δ_•(x)⟩``,

    dθ_ℓ/dt = G_{θ,ℓ},   dw/dt = G_{W,1},   dF_ℓ/dt = G_{f,ℓ} (ℓ ≥ 2),   db_out/dt = −ξ_out E[∂_2 L].

On the empirical measure of a width-n network (π = 1/n, F = W) the Δ's are exactly its scaled
gradients ∇̃ŷ and the G's its full-batch scaled gradient step per unit time (MATH.md sec. 4, E1):
``∂ŷ/∂(particle coordinate) = π × Δ`` — the backward is reverse-mode differentiation of the forward
divided by the particle weights, written out so that each paper quantity can be inspected.

The rates never form a per-sample Δ_θ or Δ_W: they contract the recursion with s_b ∂_2L from the
head down (``FormalSystem._contracted``), one vector-Jacobian product of σ_ℓ per layer, and take
E⟨∂_2L, Δ_{W,ℓ}⟩ as one matmul of ⟨∂_2L, Δ_{H,ℓ}⟩ with σ_{ℓ-1}. ``deltas`` keeps every Δ per sample.

The expectation over P is a weighted sum over a ``WeightedBatch``; a different representation of P
(e.g. a symmetry-reduced quadrature) plugs in by passing a different batch.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from mfspec._layers import forward
from mfspec._particles import Particles
from mfspec.act import Activation
from mfspec.loss import Loss
from mfspec.lr import Schedule


class WeightedBatch(eqx.Module):
    """A discrete representation of the data law P: E_P[φ] ≈ Σ_b weights[b] φ(x_b, y_b).

    Fields:
        x: (B, d); y: (B, k); weights: (B,), summing to 1.
    """

    x: jax.Array
    y: jax.Array
    weights: jax.Array

    @classmethod
    def uniform(cls, x, y, dtype=None) -> WeightedBatch:
        dtype = dtype or jnp.result_type(x)
        x, y = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"WeightedBatch: need x (B, d) and y (B, k), got {x.shape} and {y.shape}")
        return cls(x, y, jnp.full((x.shape[0],), 1.0 / x.shape[0], dtype))


class Deltas(eqx.Module):
    """The Δ quantities of eq. 39 for a batch, with output index c last (shapes below).

    Fields:
        yhat: (B, k).
        h: Δ_{H,1..L}, each (B, M_ℓ, c).
        theta: Δ_{θ,1..L}, each (B, M_ℓ, q_ℓ, c).
        w1: Δ_{W,1}, (B, M_1, d, c).
        kernels: Δ_{W,2..L}, each (B, M_ℓ, M_{ℓ-1}, c).
        back: B_1..B_{L-1}, each (B, M_ℓ, c).
    """

    yhat: jax.Array
    h: tuple[jax.Array, ...]
    theta: tuple[jax.Array, ...]
    w1: jax.Array
    kernels: tuple[jax.Array, ...]
    back: tuple[jax.Array, ...]


def sigma_and_derivatives(act: Activation, theta, h):
    """σ(θ, h), ∂_h σ and ∇_θ σ of a hidden layer (k = 1) by forward-mode autodiff of the compiled
    SymPy activation.

    Arguments:
        theta: (M, q); h: (B, M).

    Returns:
        σ and ∂_hσ of shape (B, M), ∇_θσ of shape (B, M, q).
    """
    q = theta.shape[1]
    # One vmapped jvp over q + 1 tangent directions: e_r on every θ row (neuron j's output depends
    # on θ_j only, so this gives ∂σ_j/∂θ_{j,r}), then 1 on every h. One trace keeps compiles small.
    t_theta = jnp.concatenate(
        [
            jnp.broadcast_to(jnp.eye(q, dtype=theta.dtype)[:, None, :], (q, *theta.shape)),
            jnp.zeros((1, *theta.shape), theta.dtype),
        ]
    )
    t_h = jnp.concatenate([jnp.zeros((q, *h.shape), h.dtype), jnp.ones((1, *h.shape), h.dtype)])
    sig, d = jax.vmap(lambda a, b: jax.jvp(act, (theta, h), (a, b)), out_axes=(None, 0))(t_theta, t_h)
    return sig, d[q], jnp.moveaxis(d[:q], 0, -1)


def head_pullback(act: Activation, theta, h, direction):
    """Δ_{H,L} and Δ_{θ,L} of eq. 39 per sample, already contracted with ``direction``, by reverse mode.

    Contracting through the vector-Jacobian product never forms ∇_θσ_L of shape (B, M, q, k), which
    for a k-output head with a q = k + 1 parameter grid is the largest tensor of the system (e.g.
    the digits: 1,300 × 1,024 × 11 × 10).

    Arguments:
        theta: (M, q); h: (B, M); direction: (B, k, c).

    Returns:
        Δ_{H,L} (B, M, c) and Δ_{θ,L} (B, M, q, c): Σ_k ∂σ_{L,k} direction[b, k, c].
    """
    # θ broadcast per sample, so the pullback keeps the sample axis instead of summing over it.
    theta_in = jnp.broadcast_to(theta, (h.shape[0], *theta.shape))
    _, pull = jax.vjp(act.components, theta_in, h)

    def one_channel(d):  # d: (B, k) -> cotangents (B, M) of each σ_{L,k}
        d_th, d_h = pull(tuple(jnp.broadcast_to(d[:, c, None], h.shape) for c in range(act.k)))
        return d_h, d_th

    return jax.vmap(one_channel, in_axes=2, out_axes=-1)(direction)


def summed_pullback(act: Activation, theta, h, cotangents):
    """σ(θ, h), Σ_b ⟨cot, ∇_θσ⟩ and ⟨cot, ∂_hσ⟩ per sample: one vector-Jacobian product.

    This is the contracted backward step of eq. 39 that the rates need, at any layer: with B_ℓ as
    cotangent it gives the batch sum of Δ_{θ,ℓ} and the per-sample Δ_{H,ℓ} without forming ∇_θσ per
    sample; at the head, with s_b ∂_2L, those of Δ_{θ,L} and Δ_{H,L}.

    Arguments:
        theta: (M, q); h: (B, M).
        cotangents: one array per output of σ (k of them), each broadcastable to (B, M): (B, M)
            for a hidden layer's B_ℓ, (B, 1) for the head's per-sample s_b ∂_2L_c.

    Returns:
        σ's outputs (a k-tuple of (B, M)), Σ_b cot ∇_θσ (M, q) and cot ∂_hσ (B, M).
    """
    # The head's k outputs stay separate (B, M) arrays: its pullback to θ is then k fused
    # multiply-reductions; through the stacked (B, M, k) output of ``act(θ, h)`` it was 10× slower
    # on XLA:CPU (the digits head: 50 ms vs 5 ms).
    out, pull = jax.vjp(act.components, theta, h)
    g_theta, g_h = pull(tuple(jnp.broadcast_to(c, h.shape) for c in cotangents))
    return out, g_theta, g_h


class FormalSystem(eqx.Module):
    """The formal system of eq. 39 for one architecture: forward, Δ's and Lagrangian rates.

    Arguments:
        acts: σ_1..σ_L.
        loss: L(y, ŷ) (for ∂_2 L and metrics).
        schedules: ξ_1..ξ_L (``LearningRate.for_layers``); ξ_ℓ multiplies G_{θ,ℓ} and the rate of
            the incoming kernel (G_{W,1} for ℓ = 1, G_{f,ℓ} for ℓ ≥ 2), as in SGD (eq. 13-15).
        out_schedule: ξ_out for b_out.
        output_bias: whether b_out is trained (else its rate is 0).
    """

    acts: tuple[Activation, ...]
    loss: Loss
    schedules: tuple[Schedule, ...]
    out_schedule: Schedule
    output_bias: bool = eqx.field(static=True)

    @classmethod
    def from_spec(cls, spec) -> FormalSystem:
        L = spec.num_layers
        return cls(
            acts=spec.acts,
            loss=spec.loss,
            schedules=spec.lr.for_layers(L),
            out_schedule=spec.lr.for_output_bias(),
            output_bias=spec.output_bias,
        )

    # ---- forward ---------------------------------------------------------------------------

    def forward(self, p: Particles, x, *, with_preactivations: bool = False):
        """ŷ(x; ρ) (eq. 39) for x of shape (B, d): (B, k) (and [H_1..H_L], each (B, M_ℓ))."""
        return forward(
            self.acts,
            p.w1,
            p.thetas,
            p.kernels,
            p.out_bias,
            p.weights,
            x,
            with_preactivations=with_preactivations,
        )

    # ---- backward --------------------------------------------------------------------------

    def _backward(self, p: Particles, x, direction):
        """The Δ recursion of eq. 39 per sample, output index contracted against ``direction(ŷ)``.

        ``direction`` maps ŷ (B, k) to a (B, k, c) matrix taking ŷ's k outputs to c channels (the
        identity gives the Δ's themselves). Everything after the head is linear in Δ_{H,L}, so
        contracting early is exact.
        """
        yhat, hs = self.forward(p, x, with_preactivations=True)
        direction = direction(yhat)
        L = len(self.acts)
        hidden = [sigma_and_derivatives(a, t, h) for a, t, h in zip(self.acts[:-1], p.thetas, hs)]
        sig, dh, dth = [s for s, _, _ in hidden], [d for _, d, _ in hidden], [d for _, _, d in hidden]
        d_h = [None] * L
        d_th = [None] * L
        back = [None] * (L - 1)
        d_h[-1], d_th[-1] = head_pullback(self.acts[-1], p.thetas[-1], hs[-1], direction)
        for ell in range(L - 2, -1, -1):  # 0-based layer index ℓ-1; B_ℓ from layer ℓ+1
            b = jnp.einsum("j,ji,bjc->bic", p.weights[ell + 1], p.kernels[ell], d_h[ell + 1])
            back[ell] = b
            d_h[ell] = b * dh[ell][..., None]  # (B, M, c)
            d_th[ell] = b[:, :, None, :] * dth[ell][..., None]  # (B, M, 1, c) * (B, M, q, 1)
        return yhat, sig, d_h, d_th, back

    def _contracted(self, p: Particles, x, cotangent):
        """The Δ recursion of eq. 39 contracted with one direction per sample, as the rates need it.

        ``cotangent`` maps ŷ (B, k) to (B, k) (s_b ∂_2L for the rates). Returns that cotangent at
        ŷ, σ_1..σ_{L-1} (each (B, M_ℓ)), ⟨cot, Δ_{H,ℓ}⟩ per sample (each (B, M_ℓ)) and
        Σ_b ⟨cot, Δ_{θ,ℓ}⟩ (each (M_ℓ, q_ℓ)). Each layer is one vector-Jacobian product of σ_ℓ (``summed_pullback``) and
        B_ℓ = (π_{ℓ+1} ⊙ ⟨cot, Δ_{H,ℓ+1}⟩) F_{ℓ+1} one matmul: the same recursion as
        ``_backward``, without its per-sample ∇_θσ.
        """
        yhat, hs = self.forward(p, x, with_preactivations=True)
        L = len(self.acts)
        sig, d_h, g_th = [None] * (L - 1), [None] * L, [None] * L
        e = cotangent(yhat)  # (B, k): one cotangent (B, 1) per head output, shared by its neurons
        head_cots = tuple(e[:, c, None] for c in range(e.shape[1]))
        _, g_th[-1], d_h[-1] = summed_pullback(self.acts[-1], p.thetas[-1], hs[-1], head_cots)
        for ell in range(L - 2, -1, -1):  # 0-based layer index ℓ-1; B_ℓ from layer ℓ+1
            b = (d_h[ell + 1] * p.weights[ell + 1]) @ p.kernels[ell]
            (sig[ell],), g_th[ell], d_h[ell] = summed_pullback(self.acts[ell], p.thetas[ell], hs[ell], (b,))
        return e, sig, d_h, g_th

    def deltas(self, p: Particles, x) -> Deltas:
        """All Δ's of eq. 39 for x (B, d), output index uncontracted (memory ~ B·M_ℓ·M_{ℓ-1}·k)."""
        k = self.acts[-1].k
        eye = lambda yhat: jnp.broadcast_to(jnp.eye(k, dtype=yhat.dtype), (x.shape[0], k, k))  # noqa: E731
        yhat, sig, d_h, d_th, back = self._backward(p, x, eye)
        d_w1 = d_h[0][:, :, None, :] * x[:, None, :, None]
        d_w = tuple(
            d_h[ell][:, :, None, :] * sig[ell - 1][:, None, :, None] for ell in range(1, len(self.acts))
        )
        return Deltas(yhat, tuple(d_h), tuple(d_th), d_w1, d_w, tuple(back))

    # ---- rates -----------------------------------------------------------------------------

    def loss_grad(self, y, yhat):
        """∂_2 L(y, ŷ) per sample, (B, k)."""
        return jax.grad(lambda yh: jnp.sum(self.loss(y, yh)))(yhat)

    def gradients(self, p: Particles, batch: WeightedBatch) -> Particles:
        """E_P⟨∂_2 L, Δ_•⟩ for every coordinate, as a ``Particles``-shaped pytree (weights = 0).

        θ_ℓ ← E[∂_2L Δ_{θ,ℓ}], w ← E[∂_2L Δ_{W,1}], F_ℓ ← E[∂_2L Δ_{W,ℓ}], b_out ← E[∂_2L].
        """
        x, s = batch.x, batch.weights
        # ∂_2 L with the sample weights folded in: the cotangent of the contraction.
        cotangent = lambda yhat: self.loss_grad(batch.y, yhat) * s[:, None]  # noqa: E731
        e, sig, d_h, g_theta = self._contracted(p, x, cotangent)
        g_theta = tuple(g_theta)
        g_w1 = d_h[0].T @ x
        g_kernels = tuple(d_h[ell].T @ sig[ell - 1] for ell in range(1, len(self.acts)))
        g_out = jnp.sum(e, axis=0)
        if not self.output_bias:
            g_out = jnp.zeros_like(g_out)
        zeros = tuple(jnp.zeros_like(pi) for pi in p.weights)
        return Particles(w1=g_w1, thetas=g_theta, kernels=g_kernels, out_bias=g_out, weights=zeros)

    def rates(self, t, p: Particles, batch: WeightedBatch) -> Particles:
        """The Lagrangian vector field (App. A eq. 48-52): G_{θ,ℓ}, G_{W,1}, G_{f,ℓ}, G_out at time t.

        Each is ``−ξ_•(t) E_P⟨∂_2 L, Δ_•⟩``; π does not move. This is the ODE right-hand side.
        """
        g = self.gradients(p, batch)
        xi = [sched(jnp.asarray(t, p.w1.dtype)) for sched in self.schedules]
        xi_out = self.out_schedule(jnp.asarray(t, p.w1.dtype))
        return Particles(
            w1=-xi[0] * g.w1,
            thetas=tuple(-x * a for x, a in zip(xi, g.thetas)),
            kernels=tuple(-x * a for x, a in zip(xi[1:], g.kernels)),
            out_bias=-xi_out * g.out_bias,
            weights=g.weights,
        )

    def __call__(self, t, p: Particles, batch: WeightedBatch) -> Particles:
        """Diffrax's ``ODETerm`` signature: (t, y, args) → dy/dt."""
        return self.rates(t, p, batch)

    # ---- metrics ---------------------------------------------------------------------------

    def evaluate(self, p: Particles, eval_sets: dict):
        """[loss, error] on each evaluation set, in ``mfspec.metric_names`` order (train, test)."""
        vals = []
        for name in ("train", "test"):
            if name in eval_sets:
                x, y = eval_sets[name]
                yhat = self.forward(p, jnp.asarray(x, p.w1.dtype))
                y = jnp.asarray(y, p.w1.dtype)
                vals += [jnp.mean(self.loss(y, yhat)), jnp.mean(self.loss.errors(y, yhat))]
        return jnp.stack(vals)

    # ---- Eulerian pieces (MATH.md sec. 5) --------------------------------------------------

    def kernel_rate_at(self, p: Particles, batch: WeightedBatch, ell: int, t, sigma_prev):
        """G_{f,ℓ}(θ_ℓ, f_ℓ, ·) evaluated at an arbitrary layer-(ℓ-1) state given through its outputs.

        Arguments:
            ell: the layer ℓ ≥ 2.
            sigma_prev: σ_{ℓ-1}(θ', H_{ℓ-1}(g; x_b)) for test states, shape (B, T).

        Returns:
            (M_ℓ, T): −ξ_ℓ(t) Σ_b s_b ⟨∂_2L, Δ_{H,ℓ}[b, j]⟩ σ_prev[b, t].
        """
        if not 2 <= ell <= len(self.acts):
            raise ValueError(f"kernel_rate_at: ell must lie in [2, {len(self.acts)}], got {ell}")
        x, s = batch.x, batch.weights
        cotangent = lambda yhat: self.loss_grad(batch.y, yhat) * s[:, None]  # noqa: E731
        _, _, d_h, _ = self._contracted(p, x, cotangent)
        xi = self.schedules[ell - 1](jnp.asarray(t, p.w1.dtype))
        return -xi * d_h[ell - 1].T @ sigma_prev
