"""The finite network in MF scaling (MATH.md sec. 1; paper eq. 38) and its scaled gradients."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from mfspec._layers import forward
from mfspec.act import Activation


class MFNetwork(eqx.Module):
    """ŷ(x) = (1/n_L) Σ_i σ_L(θ_{L,i}, h_{L,i}) + b_out with h_ℓ = (1/n_{ℓ-1}) W_ℓ σ_{ℓ-1}(Θ_{ℓ-1}, h_{ℓ-1}).

    Fields:
        w1: W_1, shape (n_1, d).
        thetas: Θ_1..Θ_L, shapes (n_ℓ, q_ℓ).
        kernels: W_2..W_L, shapes (n_ℓ, n_{ℓ-1}); entries O(1).
        out_bias: b_out, shape (k,) (zeros and frozen when the spec has no output bias).
    """

    w1: jax.Array
    thetas: tuple[jax.Array, ...]
    kernels: tuple[jax.Array, ...]
    out_bias: jax.Array
    acts: tuple[Activation, ...] = eqx.field(static=True)
    trainable_out_bias: bool = eqx.field(static=True)

    def __check_init__(self):
        L = len(self.acts)
        if len(self.thetas) != L or len(self.kernels) != L - 1:
            raise ValueError(
                f"MFNetwork: {L} activations need {L} thetas and {L - 1} kernels, "
                f"got {len(self.thetas)} and {len(self.kernels)}"
            )
        widths = self.widths
        for ell, (th, act) in enumerate(zip(self.thetas, self.acts), start=1):
            if th.shape != (widths[ell - 1], act.q):
                raise ValueError(
                    f"MFNetwork.thetas[{ell - 1}] has shape {th.shape}, expected {(widths[ell - 1], act.q)}"
                )
        for ell, w in enumerate(self.kernels, start=2):
            if w.shape != (widths[ell - 1], widths[ell - 2]):
                raise ValueError(
                    f"MFNetwork.kernels[{ell - 2}] (W_{ell}) has shape {w.shape}, expected {(widths[ell - 1], widths[ell - 2])}"
                )

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(int(t.shape[0]) for t in self.thetas)

    def __call__(self, x, *, with_preactivations: bool = False):
        """ŷ for a batch x of shape (B, d): (B, k) (and [h_1..h_L] if asked)."""
        mix = [1.0 / n for n in self.widths]
        return forward(
            self.acts,
            self.w1,
            self.thetas,
            self.kernels,
            self.out_bias,
            mix,
            x,
            with_preactivations=with_preactivations,
        )

    # --- the trainer's protocol (mfspec._trainable.Trainable) -------------------------------
    def params(self):
        """The trainable arrays (W_1, Θ, W_2..L, b_out) as a tuple pytree."""
        return (self.w1, self.thetas, self.kernels, self.out_bias)

    def with_params(self, p) -> MFNetwork:
        w1, thetas, kernels, out_bias = p
        return eqx.tree_at(
            lambda m: (m.w1, m.thetas, m.kernels, m.out_bias),
            self,
            (w1, tuple(thetas), tuple(kernels), out_bias),
        )

    def mf_scales(self):
        """The MF factors of Sec. 3.1, shaped like ``params()``: n_1 (W_1), n_ℓ (Θ_ℓ),
        n_ℓ n_{ℓ-1} (W_ℓ, ℓ ≥ 2), 1 (b_out; 0 when it is frozen)."""
        n = self.widths
        return (
            float(n[0]),
            tuple(float(m) for m in n),
            tuple(float(n[ell] * n[ell - 1]) for ell in range(1, len(n))),
            1.0 if self.trainable_out_bias else 0.0,
        )

    def lr_layers(self):
        """ξ_ℓ moves Θ_ℓ and the incoming W_ℓ (index ℓ-1); index L is the output bias's schedule."""
        L = len(self.acts)
        return (0, tuple(range(L)), tuple(range(1, L)), L)

    def param_names(self):
        L = len(self.acts)
        return (
            "W_1",
            tuple(f"theta_{ell}" for ell in range(1, L + 1)),
            tuple(f"W_{ell}" for ell in range(2, L + 1)),
            "b_out",
        )


def params(net):
    """The trainable arrays of a network (``net.params()``)."""
    return net.params()


def with_params(net, p):
    """``net`` with the trainable arrays ``p`` (``net.with_params(p)``)."""
    return net.with_params(p)


def batch_loss(net, loss, x, y):
    """Minibatch-mean loss (the quantity plain SGD differentiates, eq. 13-15), for any network."""
    return jnp.mean(loss(y, net(x)))


def scaled_gradients(net, loss, x, y):
    """∇̃ of the minibatch-mean loss (Sec. 3.1): each array's gradient times its MF factor.

    For an ``MFNetwork``: n_ℓ ∇_Θℓ, n_1 ∇_W1, n_ℓ n_{ℓ-1} ∇_Wℓ, ∇_bout, as a tuple (W_1, Θ tuple,
    W tuple, b_out) shaped like the parameters; for any other network, ``net.mf_scales()`` times
    the gradient, in the structure of ``net.params()``.
    """
    grads = jax.grad(lambda p: batch_loss(with_params(net, p), loss, x, y))(params(net))
    return jax.tree.map(lambda g, s: g * s, grads, net.mf_scales())


def init_network(spec, widths: tuple[int, ...], key, dtype=None) -> MFNetwork:
    """Draw a network from the spec's init law (prediction statement of Sec. 3.2).

    Layer-1 neurons (θ_{1,i}, w_{1,i}) are iid; layer-ℓ neurons θ_{ℓ,j} iid and
    W_ℓ[j, i] drawn from the kernel given θ_{ℓ,j} and θ_{ℓ-1,i}.
    """
    dtype = dtype or jnp.zeros(()).dtype
    init, acts = spec.init, spec.acts
    L = len(acts)
    keys = jax.random.split(key, 2 * L + 2)
    w1 = init.w1.sample(keys[0], widths[0] * spec.input_dim, 1).reshape(widths[0], spec.input_dim)
    thetas = tuple(
        init.theta[ell].sample(keys[1 + ell], widths[ell], acts[ell].q).astype(dtype) for ell in range(L)
    )
    kernels = tuple(
        init.kernels[ell - 1].sample(keys[1 + L + ell], thetas[ell], thetas[ell - 1]).astype(dtype)
        for ell in range(1, L)
    )
    k = spec.outputs
    out_bias = (
        init.out_bias.sample(keys[-1], k, 1).reshape(k).astype(dtype)
        if spec.output_bias
        else jnp.zeros((k,), dtype)
    )
    return MFNetwork(
        w1=w1.astype(dtype),
        thetas=thetas,
        kernels=kernels,
        out_bias=out_bias,
        acts=acts,
        trainable_out_bias=spec.output_bias,
    )
