"""E1 on the JAX formal system (docs/formal_system.md sec. 4; paper App. B.1), for any spec.

For a finite network of the spec with distinct neurons, the formal system that ``mf.solve_limit``
integrates (``FormalSystem``, on the network's empirical measure: π = 1/n as explicit weights,
F_ℓ = W_ℓ) must reproduce, in float64 and to roundoff:

- ŷ: the particle forward pass (π per particle) against the network's (π a scalar 1/n);
- the Δ's: for every sample x_b and output c, the contracted backward with direction e_c,
  Σ⟨e_c, Δ_•(x_b)⟩, against the network's scaled gradient ∇̃ŷ_c(x_b) by reverse-mode autodiff
  times the MF factors of Sec. 3.1;
- the rates: G_•(t) against −ξ_•(t) ∇̃_• of the full-batch mean loss (the SGD step per unit time).

The backward of the formal system is written per layer kind (``LayerKind.weight_pullback``) and
never differentiates the forward, so this compares two independent computations of the same
numbers, for every kind in the spec.
"""

from __future__ import annotations

import functools
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from mfspec.finite.gradients import scaled_gradients
from mfspec.layers.base import tied_widths
from mfspec.limit.formal import FormalSystem, WeightedBatch
from mfspec.loss import Loss
from mfspec.network.particles import Particles, empirical_particles
from mfspec.symbolic._report import Check

#: The default relative tolerance: the identities are exact up to summation order in float64.
TOL = 1e-10
#: The time at which the rates are compared (distinct, time-dependent schedules must land right).
T_EVAL = 0.37


@functools.cache
def _linear_loss(k: int):
    """L(y, ŷ) = ⟨y, ŷ⟩: with y = e_c, ∇̃ of the loss at one sample is ∇̃ŷ_c."""
    y = sp.symbols(f"y1:{k + 1}", real=True)
    yh = sp.symbols(f"yh1:{k + 1}", real=True)
    return Loss(sum(a * b for a, b in zip(y, yh)), y=y, yhat=yh)


def default_widths(spec) -> tuple[int, ...]:
    """Small, unequal widths (5, 4, 3, 3, ...; tied where a kind keeps the width below): every matrix
    non-square, every layer cheap."""
    return tied_widths(spec.layers, [max(5 - i, 3) for i in range(spec.num_layers)])


def random_network(spec, widths, key, *, spread: float = 0.5):
    """A float64 network of the spec drawn from its init law, every array then moved by N(0, spread²)
    noise, so that neurons are distinct (an atomic init law makes them equal) and kinks are avoided."""
    net = spec.network(widths, key, dtype=jnp.float64)
    leaves, tree = jax.tree.flatten(net.params())
    keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
    moved = [a + spread * jax.random.normal(k, a.shape, a.dtype) for a, k in zip(leaves, keys)]
    if not spec.output_bias:
        moved[-1] = leaves[-1]
    return type(net).with_params(net, jax.tree.unflatten(tree, moved))


@eqx.filter_jit
def _pairs(system, net, x, y, linear, loss):
    """(formal system, network) pairs for every identity, one compilation per architecture."""
    p = empirical_particles(net)
    out = {"yhat": (system.forward(p, x), net(x))}
    k = y.shape[1]
    eye = jnp.eye(k, dtype=x.dtype)

    def in_layout(arrays):  # the network's scaled gradients as a state, in the formal system's order
        return Particles.with_params(net, arrays).params()

    def delta(xb, e):
        formal = system.pullback(p, xb[None], lambda yhat: e[None]).params()
        return formal, in_layout(scaled_gradients(net, linear, xb[None], e[None]))

    per = jax.vmap(lambda xb: jax.vmap(lambda e: delta(xb, e))(eye))(x)
    out["Delta"] = per
    t = jnp.asarray(T_EVAL, x.dtype)
    rates = system.rates(t, p, WeightedBatch.uniform(x, y)).params()
    scaled = in_layout(scaled_gradients(net, loss, x, y))
    xi = tuple((s(t), s(t)) for s in system.schedules)
    out["G"] = (rates, jax.tree.map(lambda g, c: -c * g, scaled, (xi, system.out_schedule(t))))
    return out


def e1_residuals(spec, *, widths=None, samples: int = 5, seed: int = 0) -> dict[str, float]:
    """max relative error of each E1 identity, per quantity: {"yhat": …, "Delta W_2": …, "G theta_1": …}.

    Relative to the largest entry of the network's side of that quantity.
    """
    widths = default_widths(spec) if widths is None else tuple(widths)
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(seed)
        net = random_network(spec, widths, key)
        x, y = spec.data.minibatch(jax.random.fold_in(key, 2), samples, dtype=jnp.float64)
        system = FormalSystem.from_spec(spec)
        pairs = _pairs(system, net, x, y, _linear_loss(spec.outputs), spec.loss)
        names = [f"{a} {b}" for a, b in _names(spec.layers)]
        res = {"yhat": _rel(*pairs["yhat"])}
        for what in ("Delta", "G"):
            got, want = pairs[what]
            for name, g, w in zip(names, jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
                res[f"{what} {name}"] = _rel(g, w)
    return res


def _names(kinds):
    for ell in range(1, len(kinds) + 1):
        yield "W", ell
        yield "theta", ell
    yield "b", "out"


def _rel(got, want) -> float:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        raise ValueError(f"E1: shapes differ, {got.shape} vs {want.shape}")
    if want.size == 0:
        return 0.0
    scale = float(np.max(np.abs(want)))
    err = float(np.max(np.abs(got - want)))
    return err / scale if scale > 0 else err


def check_e1(spec, *, widths=None, samples: int = 5, seed: int = 0, tol: float = TOL) -> Check:
    """E1 as a ``Check`` for ``mfspec verify``: every identity within ``tol`` (relative)."""
    start = time.perf_counter()
    widths = default_widths(spec) if widths is None else tuple(widths)
    res = e1_residuals(spec, widths=widths, samples=samples, seed=seed)
    worst = max(res, key=res.get)
    kinds = ", ".join(kind.kind_name for kind in spec.layers)
    passed = bool(np.isfinite(res[worst]) and res[worst] <= tol)
    detail = (
        f"{len(res)} quantities (ŷ, every Δ per sample and output, every rate G) in float64 on the "
        f"formal system the solver integrates; layers: {kinds}; worst: {worst}"
    )
    return Check(f"E1 JAX formal system L={len(widths)} n={widths}", res[worst], tol, passed, detail,
                 time.perf_counter() - start)  # fmt: skip
