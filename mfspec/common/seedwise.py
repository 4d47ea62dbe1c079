"""Products that give each seed of a batched run (``mfspec.finite.seeds``) the arithmetic of its run alone.

Batched over seeds with ``jax.vmap``, a matrix product whose operands both carry the seed axis is
one batched ``dot_general``, whose slices XLA:CPU computes as the single product. Two things break
that, and a ``seedwise`` product undoes both when it is batched:

- a product with one *shared* operand (the input x of layer 1, the readout's π) is folded into one
  larger product, whose cache blocking — and so its summation order — differs: the batching rule
  here broadcasts the shared operand, so the product stays a batched one;
- XLA fuses the elementwise work around a product (σ before it, π after it, the backward's
  reductions) differently with the seed axis, and a fused multiply can round differently from a
  separate one: optimization barriers fence the product's inputs and outputs, batched *and* not,
  so that both programs materialize the same arrays.

Both hold forward and, through ``jax.custom_vjp``, backward, inside ``seedwise_products()`` — the
training step, batched or not: the fences are in the sequential path's program too, which computes
the same operations, but the last bit of a few curves moved when they came in (docs/batched_seeds.md,
with how far bitwise equality goes). Outside it a ``seedwise`` function is the function itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools

import jax
import jax.numpy as jnp

_fence = jax.lax.optimization_barrier
_ACTIVE = contextvars.ContextVar("mfspec_seedwise", default=False)


@contextlib.contextmanager
def seedwise_products():
    """While tracing inside this block, ``seedwise`` functions are fenced (the training step of
    ``mf.train`` and ``mfspec.finite.seeds``); elsewhere — the limit's rates, forward-mode checks — they
    are the plain function (a ``custom_vjp`` has no forward-mode derivative)."""
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _batched_alike(fn):
    """``fn`` fenced, whose vmap broadcasts unbatched arguments and maps it over all of them."""

    def fenced(*args):
        return _fence(fn(*_fence(args)))

    wrapped = jax.custom_batching.custom_vmap(fenced)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, *args):
        args = [a if b else jnp.broadcast_to(a, (axis_size, *jnp.shape(a))) for a, b in zip(args, in_batched)]
        out = jax.vmap(fenced)(*args)
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


def seedwise(fn):
    """``fn`` (arrays to an array) computed per seed as alone when batched, forward and backward."""
    forward = _batched_alike(fn)
    backward = _batched_alike(lambda *a: jax.vjp(fn, *a[:-1])[1](a[-1]))

    @jax.custom_vjp
    @functools.wraps(fn)
    def call(*args):
        return forward(*args)

    def fwd(*args):
        return forward(*args), args

    def bwd(args, cot):
        return tuple(backward(*args, cot))

    call.defvjp(fwd, bwd)

    @functools.wraps(fn)
    def dispatch(*args):
        return call(*args) if _ACTIVE.get() else fn(*args)

    return dispatch
