"""The finite CNN of App. C in MF scaling, its MF factors for SGD (Sec. 3.1), and its init.

Forward (App. C, Table 1), with (W ⊛ u)_i = Σ_j w_ij * u_j summed over input channels j:

    h_1 = W_1 ⊛ x + b_1                               (d input channels: fixed, no division)
    h_ℓ = (1/n_{ℓ-1}) W_ℓ ⊛ σ_{ℓ-1}(h_{ℓ-1}) + b_ℓ     (ℓ = 2..L)
    ŷ   = (1/n_L) ⟨β, σ_L(h_L)⟩ + b_out               (β ∈ R^{k × n_L × P}: FC(k, P n))

σ_ℓ = ReLU then layer ℓ's max pool. Only sums over filters are divided: the spatial sizes and the
s × s receptive fields stay fixed as n → ∞ (App. C: "the number of filters n_ℓ → ∞ while all other
dimensions are kept constant"), so they play the part of the fixed input dimension d.

MF factors (Sec. 3.1), derived as for the fully connected net. A filter i of layer ℓ is one
"neuron": its map h_{ℓ,i} reaches the output only through averages (1/n_ℓ) Σ_i over the filters
of layer ℓ (in h_{ℓ+1}, or in ŷ for ℓ = L), so ∂ŷ/∂h_{ℓ,i} = O(1/n_ℓ) per position. Hence, for the
plain gradient of the minibatch-mean loss,

    b_ℓ,i      enters h_{ℓ,i} directly                      ∂/∂b_ℓ    = O(1/n_ℓ)         → × n_ℓ
    W_1[i, c]  enters h_{1,i} directly (no 1/d)             ∂/∂W_1    = O(1/n_1)         → × n_1
    W_ℓ[i, j]  enters h_{ℓ,i} with 1/n_{ℓ-1} (ℓ ≥ 2)        ∂/∂W_ℓ    = O(1/(n_ℓ n_{ℓ-1})) → × n_ℓ n_{ℓ-1}
    β[:, i, :] enters ŷ with 1/n_L                          ∂/∂β      = O(1/n_L)         → × n_L
    b_out      enters ŷ directly                            ∂/∂b_out  = O(1)             → × 1

Multiplying each gradient by its factor makes every filter's (and every weight entry's) SGD move
O(1), independent of the widths, which is what makes the dynamics have a limit as n → ∞; β is a
per-filter parameter of layer L (like the head's θ_L in eq. 38), so it takes ξ_L's schedule.
``fan_in=True`` divides by s² n_{ℓ-1} and P n_L instead (constants times the same powers of n: the
same factors).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from mfspec.conv._spec import ConvLayer
from mfspec.layers.conv import conv_maps, images, max_pool


class ConvNetwork(eqx.Module):
    """The CNN of App. C in MF scaling (see the module docstring), trainable by ``mf.train``.

    Fields:
        kernels: W_1..W_L, shapes (s_ℓ, s_ℓ, n_{ℓ-1}, n_ℓ) (HWIO; n_0 = d, the image's channels).
        biases: b_1..b_L, shapes (n_ℓ,), one per filter.
        beta: β, shape (k, n_L, P): output, filter of layer L, spatial position (row-major, P = side²).
        out_bias: b_out, shape (k,) (zeros and frozen when the spec has no output bias).
        input_shape: (d, H, W); a flat input of length d·H·W is read channel-major (CIFAR-10's order).
        layers: the ``ConvLayer`` of each layer (stride, padding, pool).
        fan_in: divide by the whole fan-in, s_ℓ² n_{ℓ-1} in layer ℓ ≥ 2 and P n_L in the output,
            instead of App. C's n_{ℓ-1} and n_L (a constant factor per layer; see ``ConvSpec``).
        eval_batch: inputs beyond this many per call are evaluated in chunks of it (memory).
    """

    kernels: tuple[jax.Array, ...]
    biases: tuple[jax.Array, ...]
    beta: jax.Array
    out_bias: jax.Array
    input_shape: tuple[int, int, int] = eqx.field(static=True)
    layers: tuple[ConvLayer, ...] = eqx.field(static=True)
    trainable_out_bias: bool = eqx.field(static=True, default=True)
    fan_in: bool = eqx.field(static=True, default=False)
    eval_batch: int = eqx.field(static=True, default=500)
    # XLA:CPU (jax 0.10) keeps a convolution's weight gradient in a non-canonical, naive form
    # inside a while-loop body: the scanned step measured 4-5x slower than the same step as its
    # own compiled call (n = 16: ~200 vs ~45 ms). The trainer runs this network step by step.
    scan_steps: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        L = len(self.layers)
        if len(self.kernels) != L or len(self.biases) != L:
            raise ValueError(
                f"ConvNetwork: {L} layers need {L} kernels and {L} biases, "
                f"got {len(self.kernels)} and {len(self.biases)}"
            )
        n_in = self.input_shape[0]
        for ell, (w, b, layer) in enumerate(zip(self.kernels, self.biases, self.layers), start=1):
            n = b.shape[0] if b.ndim == 1 else -1
            want = (layer.kernel, layer.kernel, n_in, n)
            if b.ndim != 1 or w.shape != want:
                raise ValueError(
                    f"ConvNetwork.kernels[{ell - 1}] (W_{ell}) has shape {w.shape} and biases[{ell - 1}] "
                    f"shape {b.shape}; expected ({layer.kernel}, {layer.kernel}, {n_in}, n_{ell}) and (n_{ell},)"
                )
            n_in = n
        if self.beta.ndim != 3 or self.beta.shape[1] != n_in or self.beta.shape[0] != self.out_bias.shape[0]:
            raise ValueError(
                f"ConvNetwork.beta has shape {self.beta.shape}, expected (k, n_L = {n_in}, positions) "
                f"with k = {self.out_bias.shape[0]} (out_bias)"
            )

    @property
    def widths(self) -> tuple[int, ...]:
        """n_1..n_L, the number of filters of each layer."""
        return tuple(int(b.shape[0]) for b in self.biases)

    def _forward(self, x):
        """ŷ (B, k) and [h_1..h_L] (NHWC maps) for flat inputs x (B, d·H·W)."""
        # lax.conv does not promote dtypes: the images take the parameters' dtype.
        u = images(x, self.input_shape).astype(self.kernels[0].dtype)
        hs = []
        for ell, (w, b, layer) in enumerate(zip(self.kernels, self.biases, self.layers)):
            # 1/n_{ℓ-1} on the (small) kernel rather than on the (large) output map.
            w = w if ell == 0 else w * (1.0 / (w.shape[2] * (w.shape[0] * w.shape[1] if self.fan_in else 1)))
            h = conv_maps(u, w, layer) + b
            hs.append(h)
            u = max_pool(jax.nn.relu(h), layer)
        a = u.reshape(u.shape[0], -1, u.shape[-1])  # (B, P, n_L), positions row-major
        head = a.shape[-1] * (a.shape[1] if self.fan_in else 1)
        yhat = jnp.einsum("bpj,kjp->bk", a, self.beta) * (1.0 / head) + self.out_bias
        return yhat, hs

    def __call__(self, x, *, with_preactivations: bool = False):
        """ŷ for a batch x of shape (B, d·H·W): (B, k) (and [h_1..h_L], each (B, side, side, n_ℓ))."""
        if with_preactivations:
            return self._forward(x)
        m = self.eval_batch
        if x.shape[0] <= m:
            return self._forward(x)[0]
        q = x.shape[0] // m
        head = lax.map(lambda c: self._forward(c)[0], x[: q * m].reshape(q, m, x.shape[1]))
        parts = [head.reshape(q * m, -1)]
        if x.shape[0] > q * m:
            parts.append(self._forward(x[q * m :])[0])
        return jnp.concatenate(parts)

    # --- the trainer's protocol (mfspec._trainable.Trainable) -------------------------------
    def params(self):
        """The trainable arrays ((W_1..W_L), (b_1..b_L), β, b_out)."""
        return (self.kernels, self.biases, self.beta, self.out_bias)

    def with_params(self, p) -> ConvNetwork:
        kernels, biases, beta, out_bias = p
        return eqx.tree_at(
            lambda m: (m.kernels, m.biases, m.beta, m.out_bias),
            self,
            (tuple(kernels), tuple(biases), beta, out_bias),
        )

    def mf_scales(self):
        """n_1 (W_1), n_ℓ n_{ℓ-1} (W_ℓ, ℓ ≥ 2), n_ℓ (b_ℓ), n_L (β), 1 (b_out; 0 when frozen)."""
        n = self.widths
        return (
            tuple(float(n[0]) if ell == 0 else float(n[ell] * n[ell - 1]) for ell in range(len(n))),
            tuple(float(m) for m in n),
            float(n[-1]),
            1.0 if self.trainable_out_bias else 0.0,
        )

    def lr_layers(self):
        """ξ_ℓ moves W_ℓ and b_ℓ (index ℓ-1) and ξ_L moves β; index L is the output bias's."""
        L = len(self.layers)
        return (tuple(range(L)), tuple(range(L)), L - 1, L)

    def param_names(self):
        L = len(self.layers)
        return (
            tuple(f"W_{ell}" for ell in range(1, L + 1)),
            tuple(f"b_{ell}" for ell in range(1, L + 1)),
            "beta",
            "b_out",
        )


def init_conv_network(spec, widths: tuple[int, ...], key, dtype=None) -> ConvNetwork:
    """Draw a CNN from the paper's init (App. C): W_1 entries N(0, w1_var) (default 2/(9d)),
    W_2..W_L and β entries N(w_mean, w_var) (default N(1, 0.1)), all biases zero.

    The Gaussians come from NumPy's generator seeded by the JAX key (same key, same network; a
    float32 network is the float64 one rounded): XLA:CPU takes seconds to compile a threefry
    draw for each new shape, longer than the draw itself at any width here.
    """
    dtype = jnp.dtype(dtype or jnp.zeros(()).dtype)
    raw = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    rng = np.random.default_rng(np.asarray(raw, np.uint32).ravel())
    d, k = spec.input_shape[0], spec.outputs
    kernels = []
    for ell, (layer, n) in enumerate(zip(spec.layers, widths)):
        shape = (layer.kernel, layer.kernel, d if ell == 0 else widths[ell - 1], n)
        law = (0.0, spec.w1_var) if ell == 0 else (spec.w_mean, spec.w_var)
        kernels.append(_gaussian(rng, shape, law, dtype))
    beta = _gaussian(rng, (k, widths[-1], spec.positions), (spec.w_mean, spec.w_var), dtype)
    return ConvNetwork(
        kernels=tuple(kernels),
        biases=tuple(jnp.zeros((n,), dtype) for n in widths),
        beta=beta,
        out_bias=jnp.zeros((k,), dtype),
        input_shape=spec.input_shape,
        layers=spec.layers,
        trainable_out_bias=spec.output_bias,
        fan_in=spec.fan_in,
    )


def _gaussian(rng: np.random.Generator, shape, law: tuple[float, float], dtype):
    """An array of iid N(mean, var) entries (law = (mean, variance))."""
    mean, var = law
    return jnp.asarray(mean + math.sqrt(var) * rng.standard_normal(shape), dtype)
