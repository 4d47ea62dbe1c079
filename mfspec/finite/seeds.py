"""The seeds of one width trained as one program: ``jax.vmap`` over seeds of the SGD scan.

``train_seeds`` runs the same MF-scaled SGD as ``mf.train`` (paper eq. 13-15) for S networks of one
width at once: one compilation, one ``lax.scan`` per chunk, every array carrying a leading seed
axis. Each seed trains as ``mf.train`` would train it alone: on the default spec its curve and final
network are bitwise those of ``mf.train`` (float64 and float32); on other architectures the last
bit can differ (XLA:CPU rounds some batched fusions differently), within 1e-12 relative on every
layer kind of the test catalogue (tests/test_seeds.py; docs/batched_seeds.md). The products whose
batched form would round differently are ``seedwise`` (``mfspec.common.seedwise``).

What it buys: S seeds share one compilation and the loop's fixed cost per step (bench/bench_seeds.py). A seed that diverges stops contributing as in ``mf.train``:
its curve ends at its last finite evaluation and its network is the one at the end of the chunk
where it diverged; the other seeds go on.

With several local devices (GPUs, or XLA host devices) the seed axis is cut over a 1-D
``jax.sharding.Mesh`` of them (``NamedSharding``): each device trains its share of the seeds, and
nothing crosses devices, since the seeds never interact. The seed axis is padded to a multiple of
the device count with copies of the last seed, whose results are dropped. On the default spec the
curves on 2 host devices are bitwise those on one (tests/test_seeds.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from mfspec.finite.curves import Curve, metric_names
from mfspec.finite.train import _step, divergence_message, eval_slots, finish, param_dtype
from mfspec.network.particles import MFNetwork

SEEDS = "seeds"


@eqx.filter_jit
def _run_chunk_seeds(spec, net: MFNetwork, carries, steps, slots, keys, eval_sets, mesh=None):
    """``_run_chunk`` of mfspec.finite.train, vmapped over the seed axis of ``carries`` and ``keys``
    (that axis kept cut over ``mesh``'s devices, when there is a mesh)."""

    def one(carry, key):
        step = functools.partial(_step, spec, net, key, eval_sets)
        return jax.lax.scan(step, carry, (steps, slots))[0]

    out = jax.vmap(one)(carries, keys)
    return out if mesh is None else jax.lax.with_sharding_constraint(out, NamedSharding(mesh, P(SEEDS)))


def seed_mesh(devices=None) -> Mesh | None:
    """The 1-D mesh that cuts the seed axis over ``devices`` (default: this process's devices), or
    None on one device (the one-device program, unchanged)."""
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ValueError("train_seeds: devices must name at least one device, got none")
    return None if len(devices) == 1 else Mesh(np.asarray(devices, dtype=object), (SEEDS,))


def _on_mesh(tree, mesh: Mesh, spec: P):
    return jax.device_put(tree, NamedSharding(mesh, spec))


def batchable(net: MFNetwork) -> bool:
    """Whether ``train_seeds`` can batch this network (not one that asks for a step per call)."""
    return net.scan_steps


def train_seeds(
    spec,
    nets: list[MFNetwork],
    keys: list,
    *,
    iterations: int,
    num_evals: int = 30,
    eval_sets: dict,
    chunk: int = 2000,
    progress: Callable[[int], None] | None = None,
    devices=None,
) -> list[tuple[MFNetwork, Curve]]:
    """Train networks of one architecture and width, each with its data key, as one program.

    Arguments as for ``mf.train``, with ``nets`` and ``keys`` one per seed (same length, same
    shapes and dtype); ``progress`` is called with the steps finished *per seed*. ``devices``
    (default: this process's local devices) share the seeds; one device trains them all.

    Returns:
        [(trained network, ``Curve``)] in the order of ``nets``, each equal (to the last bit on the
        default spec, to roundoff elsewhere: module docstring) to
        ``mf.train(spec, nets[i], keys[i], ...)``.
    """
    if len(nets) != len(keys) or not nets:
        raise ValueError(f"train_seeds: need as many keys as networks (≥ 1), got {len(nets)} and {len(keys)}")
    if not all(batchable(n) for n in nets):
        raise ValueError(
            "train_seeds: this network steps one call at a time (scan_steps=False); use mf.train"
        )
    template = nets[0]
    shapes = jax.tree.map(jnp.shape, template.params())
    for i, n in enumerate(nets[1:], start=1):
        if jax.tree.map(jnp.shape, n.params()) != shapes:
            raise ValueError(
                f"train_seeds: nets[{i}] has other shapes than nets[0]; batch one width at a time"
            )
    evals, slot_of = eval_slots(iterations, num_evals)
    names = metric_names(spec)
    dtype = param_dtype(template.params())
    stack = lambda xs: jax.tree.map(lambda *a: jnp.stack(a), *xs)  # noqa: E731
    buf = jnp.full((len(evals), len(names)), jnp.nan, dtype)
    carries = stack([(n.params(), buf, jnp.asarray(-1, jnp.int32)) for n in nets])
    keys = jnp.stack([jnp.asarray(k) for k in keys])
    mesh, real = seed_mesh(devices), len(nets)
    run_evals = eval_sets
    if mesh is not None:  # pad with copies of the last seed to a multiple of the devices, then cut
        extra = -real % mesh.size
        pad = lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)])  # noqa: E731
        carries = _on_mesh(jax.tree.map(pad, carries), mesh, P(SEEDS))
        keys = _on_mesh(pad(keys), mesh, P(SEEDS))
        run_evals = _on_mesh(eval_sets, mesh, P())
    stopped: dict[int, tuple] = {}  # seed → (its carry at the end of the chunk it diverged in, step, message)
    done = 0
    while done < iterations and len(stopped) < real:
        stop = min(done + chunk, iterations)
        steps = jnp.arange(done, stop, dtype=jnp.int32)
        carries = _run_chunk_seeds(
            spec, template, carries, steps, jnp.asarray(slot_of[done:stop]), keys, run_evals, mesh
        )
        done = stop
        if progress is not None:
            progress(done)
        for i, bad in enumerate(jax.device_get(carries[2]).tolist()[:real]):
            if bad >= 0 and i not in stopped:
                mine = jax.tree.map(lambda a, i=i: jnp.asarray(np.asarray(a[i])), carries)
                stopped[i] = (mine, bad, divergence_message(spec, template, mine[0], bad, done))
    if mesh is not None:  # back to this process's default device, as the one-device path leaves them
        carries = jax.tree.map(lambda a: jnp.asarray(np.asarray(a)[:real]), carries)
    out = []
    for i, net in enumerate(nets):
        if i in stopped:
            (p, b, _), bad, message = stopped[i]
        else:
            p, b, _ = jax.tree.map(lambda a, i=i: a[i], carries)
            bad, message = -1, None
        out.append(finish(spec, net.with_params(p), b, evals, eval_sets, message, bad))
    return out
