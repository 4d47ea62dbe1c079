"""What the trainer needs from a network: its trainable arrays and, per array, the MF factor of
Sec. 3.1 and the layer whose learning-rate schedule ξ_ℓ(t) moves it (paper eq. 13-15).

``mfspec.train`` runs MF-scaled SGD on any network with this protocol: the fully connected
``MFNetwork`` (eq. 38) and the convolutional ``mf.conv.ConvNetwork`` (App. C). Every method
returns a pytree with the structure of ``params()``, so the step is one ``jax.tree.map``:

    p ← p − α ξ_{lr_layer(p)}(t) · mf_scale(p) · ∇_p (minibatch-mean loss).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

PyTree = Any


@runtime_checkable
class Trainable(Protocol):
    """A network trainable by ``mfspec.train``.

    Methods:
        __call__(x): ŷ for a batch of flat inputs x, shape (B, d) → (B, k).
        params(): the trainable arrays, a tuple pytree.
        with_params(p): the same network with the arrays ``p`` (structure of ``params()``).
        mf_scales(): per array, the float its plain gradient is multiplied by (Sec. 3.1); 0 freezes it.
        lr_layers(): per array, an int ℓ-1 in [0, L) picks the schedule ξ_ℓ of layer ℓ, L picks
            the output bias's schedule (``LearningRate.for_output_bias``).
        param_names(): per array, a name for messages (e.g. which arrays became non-finite).

    Optional attribute:
        scan_steps: False to run each SGD step as its own compiled call rather than inside a
            ``lax.scan`` of a chunk (default True). XLA:CPU leaves a convolution's weight gradient
            in a slow, non-canonical form inside a loop body, so the CNN sets it to False.
    """

    def __call__(self, x: jax.Array) -> jax.Array: ...

    def params(self) -> PyTree: ...

    def with_params(self, p: PyTree) -> Trainable: ...

    def mf_scales(self) -> PyTree: ...

    def lr_layers(self) -> PyTree: ...

    def param_names(self) -> PyTree: ...


def param_dtype(p: PyTree):
    """The dtype of the parameters (the first leaf's): data and time t are cast to it."""
    return jax.tree.leaves(p)[0].dtype
