"""Tests run in float64 so that exact identities can be checked to roundoff (docs/formal_system.md sec. 4).
Code paths that matter in float32 pass dtype explicitly."""

import jax

jax.config.update("jax_enable_x64", True)
