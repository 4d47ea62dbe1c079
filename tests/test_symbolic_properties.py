"""Property tests over random small architectures: E2 symbolically, and the generated JAX
code against SymPy numerically. L ∈ {1, 2, 3}, q ∈ {0, 1, 2}, k ∈ {1, 2}, σ's from the library,
compositions of them, mf.layer / mf.head / user-written mf.Activation, squared or cross-entropy."""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mfspec as mf
from mfspec.symbolic import check_e2, check_jax

PHIS = ["relu", "tanh", "sigmoid", "erf", "softplus", "identity"]
_z = sp.Symbol("z", real=True)


@st.composite
def nonlinearity(draw):
    """A library φ, or a composition φ1(φ2(z)) of two."""
    names = draw(st.lists(st.sampled_from(PHIS), min_size=1, max_size=2))
    expr = _z
    for name in reversed(names):
        expr = mf.act.NONLINEARITIES[name](expr)
    return sp.Lambda(_z, expr)


@st.composite
def hidden_layer(draw):
    phi = draw(nonlinearity())
    q = draw(st.integers(0, 2))
    if q < 2:
        return mf.layer(phi, bias=q == 1)
    # q = 2, user-written: σ(θ, h) = a φ(h + b).
    a, b, h = sp.symbols("a b h", real=True)
    return mf.Activation(a * phi(h + b), theta=(a, b), h=h, roles=("weight", "bias"), name="a*phi(h+b)")


@st.composite
def architectures(draw):
    L = draw(st.integers(1, 3))
    k = draw(st.integers(1, 2))
    hidden = [draw(hidden_layer()) for _ in range(L - 1)]
    head = mf.head(draw(nonlinearity()), outputs=k, bias=draw(st.booleans()))  # q = k + 1 or k
    loss = draw(st.sampled_from(["squared", "cross_entropy"])) if k == 2 else "squared"
    d = 1  # d enters only through ⟨w, x⟩; d = 2 is covered by the default-spec checks
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, d))
    y = np.eye(k)[np.arange(6) % k] if k > 1 else np.sign(x[:, :1])
    spec = mf.Spec(
        name="random",
        input_dim=d,
        hidden=hidden,
        head=head,
        loss=getattr(mf.loss, loss),
        init=mf.init.usual(),
        data=mf.data.ArrayData(x, y),
        lr=mf.lr.constant(1e-2),
        output_bias=draw(st.booleans()),
    )
    widths = tuple(draw(st.integers(1, 2)) for _ in range(L))
    return spec, widths, d


FAST = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@FAST
@given(architectures())
def test_e2_random_architectures(arch):
    spec, widths, d = arch
    check = check_e2(spec, widths, d)
    assert check.passed, str(check)


@FAST
@given(architectures())
def test_jax_matches_sympy_random_architectures(arch):
    spec, widths, d = arch
    check = check_jax(spec, widths, d)
    assert check.passed, str(check)
