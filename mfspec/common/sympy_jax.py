"""SymPy → JAX compilation: the one place where symbolic expressions become array code.

Activations and losses are declared once as SymPy expressions (the single source of truth);
both the finite network and the limit system call the JAX functions made here, and the
symbolic derivation (``mfspec.symbolic``) differentiates the very same expressions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp
import jax.scipy.special as jsp
import sympy as sp

# SymPy's stock "jax" printer misses several functions we need (erf, Heaviside, Max/Min on
# arrays); an explicit table keeps the mapping visible and testable.
_JAX_FUNCTIONS: dict[str, Callable] = {
    "Max": lambda *a: _fold(jnp.maximum, a),
    "Min": lambda *a: _fold(jnp.minimum, a),
    "Heaviside": lambda z, h0=0.5: jnp.heaviside(z, h0),
    "erf": jsp.erf,
    "erfc": jsp.erfc,
    "exp": jnp.exp,
    "log": jnp.log,
    "tanh": jnp.tanh,
    "sqrt": jnp.sqrt,
    "Abs": jnp.abs,
    "sign": jnp.sign,
    "sin": jnp.sin,
    "cos": jnp.cos,
    "cosh": jnp.cosh,
    "sinh": jnp.sinh,
    "atan": jnp.arctan,
}


def _fold(op: Callable, args: Sequence) -> object:
    out = args[0]
    for a in args[1:]:
        out = op(out, a)
    return out


def to_jax(args: Sequence[sp.Symbol], exprs: Sequence[sp.Expr]) -> Callable:
    """Compile ``exprs`` (a sequence) into ``f(*args) -> tuple`` of broadcast JAX arrays."""
    fn = sp.lambdify(list(args), list(exprs), modules=[_JAX_FUNCTIONS, "jax"], cse=True)

    def compiled(*values):
        outs = fn(*values)
        shape = jnp.broadcast_shapes(*(jnp.shape(v) for v in values)) if values else ()
        # A constant expression compiles to a Python number; broadcast it so callers can stack.
        return tuple(jnp.broadcast_to(jnp.asarray(o, dtype=jnp.result_type(*values)), shape) for o in outs)

    return compiled
