"""Learning rates: α and the schedules ξ(t) of paper eq. 13-15 / Sec. 2.4.

SGD step k (k = 0, 1, ...) sits at time t = kα and moves every parameter by α ξ_•(kα) times its
scaled gradient; the limit ODE has the same ξ_•(t) in front of each G_• (docs/formal_system.md sec. 2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp


class Schedule(eqx.Module):
    """ξ(t), a positive function of ODE time (abstract)."""

    def __call__(self, t):
        raise NotImplementedError


class Constant(Schedule):
    """ξ(t) = c."""

    c: float = eqx.field(static=True, default=1.0)

    def __call__(self, t):
        return jnp.asarray(self.c, dtype=jnp.result_type(t, float)) * jnp.ones_like(
            t, dtype=jnp.result_type(t, float)
        )


class Annealed(Schedule):
    """ξ(t) = (t/α + 1)^(−p): step k (0-based) gets α (k+1)^(−p), the paper's α_k = α k^(−0.1)
    for its 1-based k (Fig. 10)."""

    alpha: float = eqx.field(static=True)
    power: float = eqx.field(static=True, default=0.1)

    def __check_init__(self):
        if not (isinstance(self.power, (int, float)) and math.isfinite(self.power) and self.power >= 0):
            raise ValueError(
                f"annealed: power must be a finite number >= 0 (α_k = α k^-power decays), got {self.power!r}"
            )
        if not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"annealed: alpha must be a finite number > 0, got {self.alpha!r}")

    def __call__(self, t):
        return (t / self.alpha + 1.0) ** (-self.power)


class LearningRate(eqx.Module):
    """α with a schedule per layer.

    Arguments:
        alpha: the step size α > 0 (time per SGD step).
        xi: one schedule for every layer, or
        layer_xi: one schedule per layer ℓ = 1..L (applied to θ_ℓ and the incoming W_ℓ), and
        out_xi: the schedule of the output bias (defaults to ``xi``).
    """

    alpha: float = eqx.field(static=True)
    xi: Schedule = Constant()
    layer_xi: tuple[Schedule, ...] | None = None
    out_xi: Schedule | None = None

    def __check_init__(self):
        if not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"LearningRate.alpha must be a finite number > 0, got {self.alpha!r}")

    def for_layers(self, num_layers: int) -> tuple[Schedule, ...]:
        if self.layer_xi is None:
            return (self.xi,) * num_layers
        if len(self.layer_xi) != num_layers:
            raise ValueError(
                f"LearningRate.layer_xi has {len(self.layer_xi)} schedules but the spec has L = {num_layers} layers"
            )
        return tuple(self.layer_xi)

    def for_output_bias(self) -> Schedule:
        return self.out_xi if self.out_xi is not None else self.xi


def constant(alpha: float) -> LearningRate:
    """Constant step α (ξ ≡ 1)."""
    return LearningRate(alpha)


def annealed(alpha: float, power: float = 0.1) -> LearningRate:
    """α_k = α k^(−power), the annealed rates of Fig. 10."""
    return LearningRate(alpha, xi=Annealed(alpha, power))


def per_layer(alpha: float, schedules: Sequence[Schedule], out: Schedule | None = None) -> LearningRate:
    """Different ξ_ℓ(t) per layer."""
    return LearningRate(alpha, layer_xi=tuple(schedules), out_xi=out)
