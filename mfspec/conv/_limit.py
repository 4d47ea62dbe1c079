"""The CNN of App. C as the limit solver sees it: layer kinds, particles, and a finite CNN's
empirical measure (docs/formal_system.md sec. 8).

``ConvSpec.limit_spec()`` gives the ``ConvLimitSpec``: the same loss, rates, data and readout, with
the layers as ``mfspec.layers.conv.Conv`` kinds, so that ``mf.solve_limit``, the error bar,
``spec_particles`` and ``FormalSystem`` (eq. 39's rates) work on a CNN unchanged — the state is a
``Particles`` whose layers hold filters.

``conv_particles`` rearranges a ``ConvNetwork``'s arrays (or any pytree shaped like its
``params()``, such as its scaled gradients) into that state: W_1 (s, s, d, n) → (n, s, s, d),
W_ℓ (s, s, n', n) → F (n, n', s, s), b_ℓ → θ_ℓ = (b,), and at the head θ_L = (b, β_j) with
β (k, n, P) → (n, k·P). With π = 1/n it is the network's empirical measure (identity E1).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from mfspec.init import Atom
from mfspec.layers._base import LayerState
from mfspec.layers.conv import Conv, conv_kinds
from mfspec.layers.readout import Readout


@dataclasses.dataclass(frozen=True)
class ConvLimitSpec:
    """A ``ConvSpec`` read as the limit machinery reads an ``mf.Spec`` (see the module docstring)."""

    name: str
    layers: tuple[Conv, ...]
    readout: Readout
    loss: object
    lr: object
    data: object
    input_dim: int
    outputs: int
    batch_size: object
    conv: object  # the ConvSpec itself

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def output_bias(self) -> bool:
        return self.readout.bias


def limit_spec(spec) -> ConvLimitSpec:
    """The ``ConvLimitSpec`` of a ``ConvSpec`` (b_out, when trained, starts at 0 as every bias)."""
    return ConvLimitSpec(
        name=spec.name,
        layers=conv_kinds(spec),
        readout=Readout(bias=spec.output_bias, law=Atom(0.0)),
        loss=spec.loss,
        lr=spec.lr,
        data=spec.data,
        input_dim=spec.input_dim,
        outputs=spec.outputs,
        batch_size=spec.batch_size,
        conv=spec,
    )


def conv_particles(net, arrays=None, *, explicit_pi: bool = True):
    """The ``Particles`` of a ``ConvNetwork`` ``net``: its empirical measure (π = 1/n as arrays, so
    the particle code path runs; ``explicit_pi=False``: π a scalar, the finite path).

    ``arrays``: a pytree shaped like ``net.params()`` to rearrange instead of the network's own (its
    scaled gradients, to compare with the formal system's Δ's and rates in the same layout).
    """
    from mfspec._state import Particles

    kernels, biases, beta, out_bias = net.params() if arrays is None else arrays
    spec_like = _KindsOf(net)
    kinds = conv_kinds(spec_like)
    L = len(kinds)
    layers = []
    for ell, (w, b) in enumerate(zip(kernels, biases)):
        n = w.shape[-1]
        w = w.transpose(3, 0, 1, 2) if ell == 0 else w.transpose(3, 2, 0, 1)
        theta = b[:, None]
        if ell == L - 1:
            theta = jnp.concatenate([theta, beta.transpose(1, 0, 2).reshape(n, -1)], axis=1)
        pi = jnp.full((n,), 1.0 / n, w.dtype) if explicit_pi else None
        layers.append(LayerState(w, theta, pi))
    readout = Readout(bias=net.trainable_out_bias, law=Atom(0.0))
    return Particles(tuple(layers), out_bias, kinds, readout)


@dataclasses.dataclass(frozen=True)
class _KindsOf:
    """What ``conv_kinds`` reads, taken from a ``ConvNetwork`` (its init laws do not matter here)."""

    net: object

    @property
    def num_layers(self):
        return len(self.net.layers)

    @property
    def layers(self):
        return self.net.layers

    @property
    def input_shape(self):
        return self.net.input_shape

    @property
    def outputs(self):
        return self.net.beta.shape[0]

    @property
    def positions(self):
        return self.net.beta.shape[2]

    @property
    def fan_in(self):
        return self.net.fan_in

    w_mean, w_var, w1_var = 0.0, 1.0, 1.0
