"""The seeds of one width trained as one program: ``jax.vmap`` over seeds of the SGD scan.

``train_seeds`` runs the same MF-scaled SGD as ``mf.train`` (paper eq. 13-15) for S networks of one
width at once: one compilation, one ``lax.scan`` per chunk, every array carrying a leading seed
axis. Each seed trains as ``mf.train`` would train it alone: on the default spec its curve and final
network are bitwise those of ``mf.train`` (float64 and float32); on other architectures the last
bit can differ (XLA:CPU rounds some batched fusions differently), within 1e-12 relative on every
layer kind of the test catalogue (tests/test_seeds.py; docs/batched_seeds.md). The products whose
batched form would round differently are ``seedwise`` (``mfspec._seedwise``).

What it buys: S seeds share one compilation and the loop's fixed cost per step; at n = 50 on two
cores, 8 seeds take 21.7 s instead of 27.7 s (bench/bench_seeds.py). A seed that diverges stops contributing as in ``mf.train``:
its curve ends at its last finite evaluation and its network is the one at the end of the chunk
where it diverged; the other seeds go on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from mfspec._curves import Curve, metric_names
from mfspec._train import _step, divergence_message, eval_slots, finish
from mfspec._trainable import Trainable, param_dtype


@eqx.filter_jit
def _run_chunk_seeds(spec, net: Trainable, carries, steps, slots, keys, eval_sets):
    """``_run_chunk`` of mfspec._train, vmapped over the seed axis of ``carries`` and ``keys``."""

    def one(carry, key):
        step = functools.partial(_step, spec, net, key, eval_sets)
        return jax.lax.scan(step, carry, (steps, slots))[0]

    return jax.vmap(one)(carries, keys)


def batchable(net: Trainable) -> bool:
    """Whether ``train_seeds`` can batch this network (not one that asks for a step per call)."""
    return getattr(net, "scan_steps", True)


def train_seeds(
    spec,
    nets: list[Trainable],
    keys: list,
    *,
    iterations: int,
    num_evals: int = 30,
    eval_sets: dict,
    chunk: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[Trainable, Curve]]:
    """Train networks of one architecture and width, each with its data key, as one program.

    Arguments as for ``mf.train``, with ``nets`` and ``keys`` one per seed (same length, same
    shapes and dtype); ``progress`` is called with the steps finished *per seed*.

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
    stopped: dict[int, tuple] = {}  # seed → (its carry at the end of the chunk it diverged in, step, message)
    done = 0
    while done < iterations and len(stopped) < len(nets):
        stop = min(done + chunk, iterations)
        steps = jnp.arange(done, stop, dtype=jnp.int32)
        carries = _run_chunk_seeds(
            spec, template, carries, steps, jnp.asarray(slot_of[done:stop]), keys, eval_sets
        )
        done = stop
        if progress is not None:
            progress(done)
        for i, bad in enumerate(jax.device_get(carries[2]).tolist()):
            if bad >= 0 and i not in stopped:
                mine = jax.tree.map(lambda a, i=i: a[i], carries)
                stopped[i] = (mine, bad, divergence_message(spec, template, mine[0], bad, done))
    out = []
    for i, net in enumerate(nets):
        if i in stopped:
            (p, b, _), bad, message = stopped[i]
        else:
            p, b, _ = jax.tree.map(lambda a, i=i: a[i], carries)
            bad, message = -1, None
        out.append(finish(spec, net.with_params(p), b, evals, eval_sets, message, bad))
    return out
