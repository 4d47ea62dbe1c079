"""The head's two paths (``mfspec.layers._pullbacks``): matrix products for σ_L = β φ(θ', h), and the
generic pullback of σ_L's k outputs. E1 (tests/test_formal_e1.py) checks each against the finite
network's autodiff; here the two paths are checked against each other on one state, and the
factorization ``Activation.output_weights`` is checked on what it must and must not accept."""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import mfspec as mf
from mfspec.layers._pullbacks import head_pullback


def _without_factorization(act: mf.Activation) -> mf.Activation:
    plain = copy.copy(act)
    object.__setattr__(plain, "_split", None)
    return plain


@pytest.mark.parametrize("outputs", [1, 4])
def test_factored_head_equals_generic_pullback(outputs):
    with jax.enable_x64(True):
        kind = mf.Dense(mf.head(mf.act.tanh, outputs=outputs))
        generic = mf.Dense(_without_factorization(kind.act))
        assert kind.act.output_weights is not None and generic.act.output_weights is None
        rng = np.random.default_rng(0)
        m, b = 7, 5
        state = mf.LayerState(jnp.zeros((m, 2)), jnp.asarray(rng.normal(size=(m, outputs + 1))),
                              jnp.asarray(rng.dirichlet(np.ones(m))))  # fmt: skip
        h = jnp.asarray(rng.normal(size=(b, m)))
        e = jnp.asarray(rng.normal(size=(b, outputs)))
        bias = jnp.asarray(rng.normal(size=outputs))
        results = []
        for k in (kind, generic):
            yhat, pull = head_pullback(k, state, h, mf.Readout(), bias)
            results.append((yhat, *pull(e)))
        for fast, slow in zip(*results):
            np.testing.assert_allclose(fast, slow, rtol=1e-13, atol=1e-15)


def test_output_weights_factorization():
    a, b, c, h = sp.symbols("a b c h", real=True)
    head = mf.head(mf.act.relu, outputs=3)
    beta_idx, phi = head.output_weights
    assert beta_idx == (0, 1, 2) and str(phi.exprs[0]) == "Max(0, b + h)" and phi.theta == head.theta[3:]
    # β may sit anywhere in θ, φ may hold any other θ component
    assert mf.Activation(b * c * sp.tanh(h), theta=(c, b), h=h).output_weights[0] == (0,)
    for exprs in (
        [a * sp.tanh(a * h)],  # φ depends on β
        [a * sp.tanh(h), a * sp.sin(h)],  # one β for two outputs, two different φ
        [a * sp.tanh(h), b * sp.sin(h)],  # different φ per output
        [sp.tanh(a * h + b)],  # not linear in any component
        [a + sp.tanh(h)],  # affine, not linear
    ):
        assert mf.Activation(exprs, theta=(a, b), h=h).output_weights is None, exprs
