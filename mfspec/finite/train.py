"""MF-scaled SGD (paper eq. 13-15, Sec. 3.1), fused in ``lax.scan``, with metrics at log-spaced steps.

Step k (t = kα) draws minibatch B_k with ``fold_in(data_key, k)`` and moves each tensor by
α ξ_ℓ(t) times its scaled gradient: factor n_1 for W_1, n_ℓ for Θ_ℓ, n_ℓ n_{ℓ-1} for W_ℓ (ℓ ≥ 2),
1 for b_out. The network (``mf.MFNetwork``) supplies these factors and the ξ_ℓ of each tensor
(``mf_scales``, ``lr_layers``), whatever its layer kinds. Steps run in compiled chunks (a
``lax.scan``; one compiled call per step for a network whose ``scan_steps`` is False, a CNN);
between chunks the host checks for divergence, reports progress and may save, so a long run never
loses what it finished.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from mfspec.common.seedwise import seedwise_products
from mfspec.declaration.spec import Spec
from mfspec.finite.curves import Curve, eval_iterations, evaluate, metric_names
from mfspec.finite.gradients import batch_loss
from mfspec.network.particles import MFNetwork

Params = tuple


def param_dtype(p: Params):
    """The dtype of the parameters (the first leaf's): data and time t are cast to it."""
    return jax.tree.leaves(p)[0].dtype


def _sgd_step(spec, net: MFNetwork, p, key, k):
    """One SGD step of eq. 13-15; returns the new parameters and the minibatch loss.

    Each array moves by α ξ(t) · (MF factor) · (its plain gradient), with the factor and the
    schedule the network assigns to it (``mf_scales``, ``lr_layers``).
    """
    alpha = spec.lr.alpha
    dtype = param_dtype(p)
    t = k.astype(dtype) * alpha  # in the parameters' dtype, so float32 runs stay float32
    x, y = spec.data.training_batch(jax.random.fold_in(key, k), spec.batch_size, dtype)
    loss, g = jax.value_and_grad(lambda q: batch_loss(net.with_params(q), spec.loss, x, y))(p)
    xi = (*spec.lr.for_layers(spec.num_layers), spec.lr.for_output_bias())
    rate = [alpha * sched(t) for sched in xi]
    p = jax.tree.map(lambda a, ga, s, ell: a - rate[ell] * s * ga, p, g, net.mf_scales(), net.lr_layers())
    return p, loss


def _step(spec, net: MFNetwork, key, eval_sets, c, xs):
    """Step k of a run: record metrics in ``slot`` first if ``slot >= 0``, then SGD; flag a non-finite loss."""
    p, buf, bad = c
    k, slot = xs
    with seedwise_products():  # the same products, batched over seeds or not (mfspec.finite.seeds)
        buf = jax.lax.cond(
            slot >= 0,
            lambda b: b.at[slot].set(evaluate(net.with_params(p), spec.loss, eval_sets)),
            lambda b: b,
            buf,
        )
        p, loss = _sgd_step(spec, net, p, key, k)
    bad = jnp.where((bad < 0) & ~jnp.isfinite(loss), k, bad)
    return (p, buf, bad), None


@eqx.filter_jit
def _run_chunk(spec, net: MFNetwork, carry, steps, slots, key, eval_sets):
    """Scan SGD over ``steps``; where ``slots[i] >= 0`` record metrics before that step."""
    carry, _ = jax.lax.scan(functools.partial(_step, spec, net, key, eval_sets), carry, (steps, slots))
    return carry


@eqx.filter_jit
def _run_one(spec, net: MFNetwork, carry, k, slot, key, eval_sets):
    """One step as its own compiled call, for networks that ask not to be scanned (``scan_steps``)."""
    return _step(spec, net, key, eval_sets, carry, (k, slot))[0]


@eqx.filter_jit
def _evaluate_jit(spec, net: MFNetwork, eval_sets):
    return evaluate(net, spec.loss, eval_sets)


def _nonfinite_params(net: MFNetwork, p) -> list[str]:
    """Names of the arrays of ``p`` holding a NaN or an infinity."""
    named = zip(jax.tree.leaves(net.param_names()), jax.tree.leaves(p))
    return [name for name, a in named if not bool(jnp.all(jnp.isfinite(a)))]


def train(
    spec: Spec,
    net: MFNetwork,
    key: PRNGKeyArray,
    *,
    iterations: int,
    num_evals: int = 30,
    eval_sets: dict,
    chunk: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> tuple[MFNetwork, Curve]:
    """Train ``net`` by MF-scaled SGD for ``iterations`` steps.

    Arguments:
        spec: the ``mf.Spec`` (loss, data law, learning rates, batch size).
        net: the initial network (``spec.network(width, key)``), an ``mf.MFNetwork``.
        key: the data key; step k uses ``fold_in(key, k)``.
        iterations: number of SGD steps.
        num_evals: number of log-spaced evaluation iterations (0 and ``iterations`` included).
        eval_sets: fixed evaluation samples, ``spec.data.eval_sets(key, size)``.
        chunk: steps per compiled scan; the host checks divergence between chunks.
        progress: called with the number of steps finished after each chunk.

    Returns:
        The trained network and its ``Curve``. A run whose loss stops being finite ends at the
        chunk where that happened, with the curve up to the last finite evaluation and
        ``Curve.diverged`` naming the step and the quantities that blew up.
    """
    evals, slot_of = eval_slots(iterations, num_evals)
    names = metric_names(spec)
    dtype = param_dtype(net.params())
    buf = jnp.full((len(evals), len(names)), jnp.nan, dtype)
    carry = (net.params(), buf, jnp.asarray(-1, jnp.int32))
    diverged = None
    done = 0
    while done < iterations:
        stop = min(done + chunk, iterations)
        if net.scan_steps:
            steps = jnp.arange(done, stop, dtype=jnp.int32)
            carry = _run_chunk(spec, net, carry, steps, jnp.asarray(slot_of[done:stop]), key, eval_sets)
        else:
            for k in range(done, stop):
                carry = _run_one(spec, net, carry, jnp.int32(k), jnp.asarray(slot_of[k]), key, eval_sets)
                if progress is not None and (k + 1) % 10 == 0 and k + 1 < stop:
                    jax.block_until_ready(carry[2])
                    progress(k + 1)
        done = stop
        if progress is not None:
            progress(done)
        bad = int(carry[2])
        if bad >= 0:
            diverged = divergence_message(spec, net, carry[0], bad, done)
            break
    p, buf, _ = carry
    return finish(spec, net.with_params(p), buf, evals, eval_sets, diverged, bad)


def finish(spec, net: MFNetwork, buf, evals, eval_sets, diverged: str | None, bad: int):
    """(net, its ``Curve``) from a finished run's metric buffer: the last evaluation added, or the
    curve cut at the last finite evaluation when the run diverged at step ``bad``."""
    names = metric_names(spec)
    buf = np.array(buf)
    if diverged is None:
        buf[-1] = np.asarray(_evaluate_jit(spec, net, eval_sets))
        kept = len(evals)
    else:
        finite = np.all(np.isfinite(buf), axis=1) & (np.asarray(evals) <= bad)
        kept = int(np.argmin(finite)) if not finite.all() else len(evals)
    its = np.asarray(evals[:kept])
    curve = Curve(
        iterations=its,
        t=its * spec.lr.alpha,
        metrics={name: buf[:kept, j] for j, name in enumerate(names)},
        diverged=diverged,
    )
    return net, curve


def divergence_message(spec, net: MFNetwork, p, bad: int, done: int) -> str:
    """What a run that diverged at step ``bad`` (noticed after step ``done``) reports."""
    blown = _nonfinite_params(net, p)
    return (
        f"training diverged at step {bad} (t = {bad * spec.lr.alpha:g}): the minibatch loss "
        f"became non-finite; non-finite parameters at step {done}: {', '.join(blown) or 'none'}"
    )


def eval_slots(iterations: int, num_evals: int):
    """The evaluation iterations and, per step, the metric slot recorded before it (−1: none)."""
    if iterations < 1:
        raise ValueError(f"train: iterations must be >= 1, got {iterations}")
    evals = eval_iterations(iterations, num_evals)
    slot_of = np.full(iterations, -1, np.int32)
    for i, it in enumerate(evals):
        if it < iterations:
            slot_of[it] = i
    return evals, slot_of
