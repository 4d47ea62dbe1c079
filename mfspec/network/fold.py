"""The two folds over a network's layers: the forward pass (eq. 38 / 39) and its scaled backward
(the Δ quantities of eq. 39), for any layer kinds (``mfspec.layers.base``).

Forward: ``Upstream(x)`` enters layer 1; layer ℓ returns H_ℓ = ``kind.preactivation(state, up)`` and
hands layer ℓ + 1 ``Upstream(σ_ℓ(θ, H_ℓ), π_ℓ, H_ℓ)``; the last layer's ``head_output`` gives ŷ:

    a_0 = x,   H_ℓ = kind_ℓ.preactivation(state_ℓ, (a_{ℓ−1}, π_{ℓ−1}, H_{ℓ−1})),   a_ℓ = σ_ℓ(θ_ℓ, H_ℓ),
    ŷ = Σ_j π_{L,j} a_{L,j} + b_out.

Backward: each layer has a cotangent slot for its outputs a and one for its pre-activation H. The
head starts from the direction e (B, k) (s_b ∂_2L for the rates); at layer ℓ < L the neurons turn
the a-slot (B_ℓ) into Σ_b ⟨B_ℓ, Δ_θ⟩ and ⟨B_ℓ, ∂_hσ⟩, to which the H-slot (a skip connection from
layer ℓ + 1) is added, giving ⟨e, Δ_{H,ℓ}⟩; the kind's ``weight_pullback`` then gives its weight
rate and a ``Back`` for layer ℓ − 1's slots. Every cotangent is scaled (no π of its own layer), so
nothing is divided by a weight.
"""

from __future__ import annotations

import jax.numpy as jnp

from mfspec.layers.base import LayerState, Upstream


def preactivations(kinds, layers, x):
    """The forward fold up to H_L: (the ``Upstream`` of every layer, [H_1..H_L])."""
    up, ups, hs = Upstream(x), [], []
    for i, (kind, state) in enumerate(zip(kinds, layers)):
        ups.append(up)
        hs.append(kind.preactivation(state, up))
        if i + 1 < len(kinds):
            up = Upstream(kind.activate(state, hs[-1]), state.mix, hs[-1])
    return ups, hs


def forward(kinds, layers, readout, out_bias, x):
    """(ŷ (B, k), [H_1..H_L]): the forward fold of eq. 38 (π = 1/n) and eq. 39 (π the weights)."""
    _, hs = preactivations(kinds, layers, x)
    return kinds[-1].head_output(layers[-1], hs[-1], readout, out_bias), hs


def pullback(kinds, layers, readout, out_bias, x, cotangent):
    """Σ_b ⟨cot_b, Δ_•(x_b)⟩ for every moving coordinate: (one ``LayerState`` of rates per layer,
    the rate of b_out). ``cotangent`` maps ŷ (B, k) to the per-sample direction e (B, k)."""
    ups, hs = preactivations(kinds, layers, x)
    last = len(layers) - 1
    yhat, head_pull = kinds[last].head_pullback(layers[last], hs[last], readout, out_bias)
    e = cotangent(yhat)
    slot_a, slot_h = [None] * len(layers), [None] * len(layers)
    grads = [None] * len(layers)
    for i in range(last, -1, -1):
        kind, state = kinds[i], layers[i]
        if i == last:
            g_theta, d_h = head_pull(e)
        else:  # B_ℓ from layer ℓ+1 is the cotangent of σ_ℓ's one output
            g_theta, d_h = kind.neuron_pullback(state, hs[i], slot_a[i])
        if slot_h[i] is not None:  # a skip connection of layer ℓ+1 reads H_ℓ itself
            d_h = d_h + slot_h[i]
        g_w, back = kind.weight_pullback(state, ups[i], d_h)
        if i > 0:
            slot_a[i - 1], slot_h[i - 1] = back.a, back.h
        grads[i] = LayerState(g_w, g_theta, _zeros(state.pi), _zeros(state.omega))
    return tuple(grads), readout.bias_rate(e)


def _zeros(a):
    return None if a is None else jnp.zeros_like(a)
