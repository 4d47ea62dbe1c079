"""Where the limit's arrays live: a device mesh for ``solve_limit``, and the processes of a job.

The rates of the formal system (paper eq. 39; App. A eq. 48-52) are, per moving coordinate, an
expectation over P — a weighted sum over the B samples of the ``WeightedBatch`` — of quantities
that depend on every layer-1 particle only through sums over particles (the forward pass of eq. 39
integrates layer ℓ over ρ_ℓ). Both sums can be cut into pieces:

- the **data** axis of the mesh holds a share of the B samples (x, y, weights); every rate is then
  a sum of per-share partial rates, and XLA all-reduces the rates of the coordinates each share
  holds in full (the replicated ones): that all-reduce is the communication of one rates call;
- the **particles** axis holds a share of the M_1 layer-1 particles (w_1, θ_1, π_1 along their
  first axis); the forward's sums over particles become partial sums that XLA all-reduces, and the
  layer-1 rates are computed where their particles live.

Nothing here changes the equations: the arrays are given a ``NamedSharding`` and the vector field
pins its views of them (``jax.lax.with_sharding_constraint``); XLA's partitioner inserts the
reductions. The ODE state itself (the packed vector of ``mfspec.network.pack``) stays replicated, so
Diffrax's step arithmetic and checkpoints see one ordinary vector; its per-step cost is O(state),
against O(B · M_1 · d) for the rates.

The same mesh spans several processes (``jax.distributed``, ``initialize``): each holds the shards
of its own devices (``jax.make_array_from_callback``: every process builds the same batch from the
same spec and seed, then keeps its part), and the results come back replicated, so that process 0
writes them (``is_writer``).

Only the summation order differs from a one-device solve: the curves agree to rounding
(tests/test_distributed.py: ≤ 1e-10 relative in float64).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from mfspec.common.validate import is_int
from mfspec.layers.base import LayerState
from mfspec.limit.formal import WeightedBatch
from mfspec.network.particles import Particles, pack, unpack

DATA, PARTICLES = "data", "particles"


def limit_mesh(devices=None, *, particles: int = 1) -> Mesh:
    """A 2-D mesh (data, particles) over ``devices`` (default: every device of every process),
    with ``particles`` of them along the layer-1 particle axis and the rest along the data axis."""
    devices = list(jax.devices() if devices is None else devices)
    n = len(devices)
    if not is_int(particles) or particles < 1 or n % particles:
        raise ValueError(
            f"limit_mesh: particles must be a positive divisor of the {n} devices, got {particles!r}"
        )
    return Mesh(np.asarray(devices, dtype=object).reshape(n // particles, particles), (DATA, PARTICLES))


def _sharding(mesh: Mesh, *axes) -> NamedSharding:
    return NamedSharding(mesh, P(*axes))


def check_mesh_fits(mesh: Mesh, particles: Particles) -> None:
    """A ValueError unless the layer-1 particles split evenly over the mesh's particle axis (the
    batch needs no such check: ``pad_batch`` pads it with weightless samples)."""
    k, m = mesh.shape[PARTICLES], particles.layers[0].size
    if m % k:
        raise ValueError(
            f"solve_limit: the {m} layer-1 particles do not split over the mesh's {k} particle shards; "
            f"use a particle axis that divides {m} (or 1)"
        )


def pad_batch(batch: WeightedBatch, multiple: int) -> WeightedBatch:
    """``batch`` with copies of its first sample at weight 0 appended, up to a multiple of
    ``multiple`` samples: a weight-0 sample adds exactly 0 to every expectation (its cotangent is
    s_b ∂_2L = 0), and a copy of a real sample keeps every intermediate finite."""
    b = batch.x.shape[0]
    extra = -b % multiple
    if extra == 0:
        return batch
    rep = lambda a: jnp.concatenate([a, jnp.repeat(a[:1], extra, axis=0)])  # noqa: E731
    weights = jnp.concatenate([batch.weights, jnp.zeros((extra,), batch.weights.dtype)])
    return WeightedBatch(rep(batch.x), rep(batch.y), weights)


def _first_axis(a, mesh: Mesh, axis: str) -> NamedSharding:
    return _sharding(mesh, axis, *([None] * (a.ndim - 1)))


def global_array(a, sharding: NamedSharding) -> jax.Array:
    """The array ``a`` (the same value in every process) as one array over the mesh: each process
    keeps the shards of its own devices."""
    host = np.asarray(a)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def place(tree, mesh: Mesh):
    """Every array leaf of ``tree``, replicated over the mesh (system arrays, the π of deeper layers)."""
    rep = _sharding(mesh)
    return jax.tree.map(lambda a: global_array(a, rep) if eqx.is_array(a) else a, tree)


def place_batch(batch: WeightedBatch, mesh: Mesh) -> WeightedBatch:
    """The batch padded to the data axis and cut along B over it."""
    batch = pad_batch(batch, mesh.shape[DATA])
    return jax.tree.map(lambda a: global_array(a, _first_axis(a, mesh, DATA)), batch)


def place_particles(p: Particles, mesh: Mesh) -> Particles:
    """Layer 1's w, θ, π (and ϖ) cut along M_1 over the particle axis; the rest replicated."""
    check_mesh_fits(mesh, p)
    one = jax.tree.map(lambda a: global_array(a, _first_axis(a, mesh, PARTICLES)), p.layers[0])
    rest = place((p.layers[1:], p.out_bias), mesh)
    return Particles((one, *rest[0]), rest[1], p.kinds, p.readout)


class ShardedField(eqx.Module):
    """The packed vector field of ``mfspec.limit.solve.packed_vector_field`` with the arrays pinned to
    the mesh: the batch along B, layer 1's particles along M_1, the packed rates replicated."""

    mesh: Mesh = eqx.field(static=True)

    def __call__(self, t, y, args):
        system, template, batch = args
        pin = jax.lax.with_sharding_constraint
        batch = jax.tree.map(lambda a: pin(a, _first_axis(a, self.mesh, DATA)), batch)
        p = unpack(y, template)
        one = p.layers[0]
        one = LayerState(*(None if a is None else pin(a, _first_axis(a, self.mesh, PARTICLES))
                           for a in (one.w, one.theta, one.pi, one.omega)))  # fmt: skip
        p = Particles((one, *p.layers[1:]), p.out_bias, p.kinds, p.readout)
        return pin(pack(system.rates(t, p, batch)), _sharding(self.mesh))


def sharded_solve_inputs(mesh: Mesh, system, y0: Particles, batch: WeightedBatch):
    """(vector field, packed state, args) of ``solve_limit`` on ``mesh``: the ODE's inputs as
    global arrays (see the module docstring)."""
    p = place_particles(y0, mesh)
    args = (place(system, mesh), p, place_batch(batch, mesh))
    return ShardedField(mesh), global_array(pack(y0), _sharding(mesh)), args


def replicated(tree, mesh: Mesh):
    """Every array leaf of ``tree`` (outputs of a sharded solve) as a local array of this
    process: gathered to every device first, so that each process holds the whole value."""
    rep = _sharding(mesh)
    gather = jax.jit(lambda a: a, out_shardings=rep)
    return jax.tree.map(lambda a: jnp.asarray(np.asarray(gather(a))) if isinstance(a, jax.Array) else a, tree)
