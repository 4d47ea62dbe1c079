"""The radially reduced limit (docs/formal_system.md sec. 3, symmetry reduction) against the general formal system.

Exact check: in d = 2, a full particle system whose layer-1 directions and data directions sit on
the same equispaced circle grid is exactly rotation symmetric (under the grid's rotations), so the
radial system with U-nodes cos(2πj/M − δ) and weights 1/M must reproduce its rates to roundoff.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tiny_isotropic_spec

import mfspec as mf
from mfspec.layers import LayerState
from mfspec.limit.formal import FormalSystem, WeightedBatch
from mfspec.limit.radial import RadialSystem, chi_nodes, direction_nodes, radial_setup
from mfspec.network.particles import Particles


def _full_from_compact(p, m, offset):
    """Layer-1 particles (a, m) with w = s_a e(φ_m), φ_m = 2πm/M; F_2 columns repeated."""
    phi = 2 * np.pi * np.arange(m) / m
    e = np.stack([np.cos(phi), np.sin(phi)], axis=1)  # (M, 2)
    one, two = p.layers[:2]
    a = one.size
    w1 = (one.w[:, :1, None] * e[None]).reshape(a * m, 2)
    layers = (
        LayerState(jnp.asarray(w1), jnp.repeat(one.theta, m, axis=0), jnp.repeat(one.pi, m) / m),
        LayerState(jnp.repeat(two.w, m, axis=1), two.theta, two.pi),
        *p.layers[2:],
    )
    return Particles(layers, p.out_bias, p.kinds, p.readout), e


@pytest.mark.parametrize("phi", [mf.act.tanh, mf.act.relu], ids=["tanh", "relu"])
def test_radial_rates_equal_full_symmetric_system(phi):
    spec = tiny_isotropic_spec(depth=3, dim=2, tau2=0.5, tau3=0.4, phi=phi)
    res = mf.Resolution(s_nodes=3, u_nodes=4, r_nodes=3, theta_nodes=2)
    system, p0, batch = radial_setup(spec, resolution=res)
    # Move off the initial symmetric state so every term is exercised (rates are equivariant
    # for any compact state).
    rng = np.random.default_rng(0)
    p0 = jax.tree.map(lambda a: a + 0.1 * jnp.asarray(rng.normal(size=a.shape)), p0)
    layers = tuple(LayerState(s.w, s.theta, jnp.abs(s.pi) / jnp.abs(s.pi).sum()) for s in p0.layers)
    p0 = Particles(layers, p0.out_bias, p0.kinds, p0.readout)
    # Data directions half a grid step from the neurons': the discrete set is invariant under the
    # grid's rotations *and* a reflection, as the continuous law is (that kills the tangential part).
    m = 7
    offset = np.pi / m
    u = np.cos(2 * np.pi * np.arange(m) / m - offset)
    radial = RadialSystem(system.system, jnp.asarray(u), jnp.full(m, 1.0 / m))
    full, e = _full_from_compact(p0, m, offset)
    psi = 2 * np.pi * np.arange(m) / m + offset
    dirs = np.stack([np.cos(psi), np.sin(psi)], axis=1)
    r = np.asarray(batch.x[:, 0])
    x = (r[:, None, None] * dirs[None]).reshape(-1, 2)
    fbatch = WeightedBatch(
        x=jnp.asarray(x),
        y=jnp.repeat(batch.y, m, axis=0),
        weights=jnp.repeat(batch.weights, m) / m,
    )
    g_rad = radial.rates(0.0, p0, batch)
    g_full = FormalSystem.from_spec(spec).rates(0.0, full, fbatch)
    a = p0.layers[0].size
    gw = np.asarray(g_full.layers[0].w).reshape(a, m, 2)
    radial_part = np.einsum("amd,md->am", gw, e)
    tangential = np.einsum("amd,md->am", gw, np.stack([-e[:, 1], e[:, 0]], axis=1))
    scale = np.abs(radial_part).max()
    assert np.abs(tangential).max() < 1e-12 * max(scale, 1.0)  # w stays on its ray
    np.testing.assert_allclose(
        radial_part, np.repeat(np.asarray(g_rad.layers[0].w), m, axis=1), rtol=1e-10, atol=1e-13
    )
    th = np.asarray(g_full.layers[0].theta).reshape(a, m, -1)
    np.testing.assert_allclose(
        th, np.repeat(np.asarray(g_rad.layers[0].theta)[:, None], m, axis=1), rtol=1e-10, atol=1e-13
    )
    # F_2's full rate is the same for every direction copy; the compact one is their mean.
    f2 = np.asarray(g_full.layers[1].w).reshape(-1, a, m)
    np.testing.assert_allclose(
        f2, np.repeat(np.asarray(g_rad.layers[1].w)[:, :, None], m, axis=2), rtol=1e-10, atol=1e-13
    )
    rest = [g_rad.layers[1].theta, *(a for s in g_rad.layers[2:] for a in s.moving())]
    rest_full = [g_full.layers[1].theta, *(a for s in g_full.layers[2:] for a in s.moving())]
    for gr, gf in zip(rest, rest_full):
        np.testing.assert_allclose(gr, gf, rtol=1e-10, atol=1e-13)
    # ŷ on the grid inputs equals the radial forward at |x|.
    np.testing.assert_allclose(
        FormalSystem.from_spec(spec).forward(full, jnp.asarray(x)),
        radial.forward(p0, jnp.asarray(x)),
        rtol=1e-10,
        atol=1e-13,
    )


def test_chi_and_direction_nodes_reproduce_moments():
    d = 7
    r, w = chi_nodes(6, d, scale=1.5)
    # E R² = d s², E R⁴ = d (d + 2) s⁴ for R = s χ_d.
    assert np.sum(w * r**2) == pytest.approx(d * 1.5**2, rel=1e-12)
    assert np.sum(w * r**4) == pytest.approx(d * (d + 2) * 1.5**4, rel=1e-12)
    u, om = direction_nodes(5, d)
    # U = ⟨e, u⟩: E U² = 1/d, E U⁴ = 3/(d (d + 2)); odd moments vanish.
    assert np.sum(om * u**2) == pytest.approx(1 / d, rel=1e-12)
    assert np.sum(om * u**4) == pytest.approx(3 / (d * (d + 2)), rel=1e-12)
    assert abs(np.sum(om * u**3)) < 1e-14
    # Monte Carlo cross-check of the U law itself.
    rng = np.random.default_rng(0)
    v = rng.normal(size=(200_000, d))
    uu = v[:, 0] / np.linalg.norm(v, axis=1)
    assert np.mean(uu**4) == pytest.approx(3 / (d * (d + 2)), rel=0.02)
    assert math.isclose(np.sum(om), 1.0)
