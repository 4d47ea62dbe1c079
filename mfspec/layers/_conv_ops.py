"""The geometry of a convolutional layer (one row of App. C's Table 1) and the array operations of
the ``Conv`` kind: convolution, patches, the filters' rate, max pool, images from flat inputs.

Layouts: feature maps NHWC (B, side, side, channels), kernels HWIO for ``lax.conv`` (as fast as
NCHW on XLA:CPU, measured, and the natural layout).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
from jax import lax

from mfspec.common.validate import nonnegative_int, positive_int
from mfspec.layers._pullbacks import batch_contraction

_DIMS = ("NHWC", "HWIO", "NHWC")


class ConvLayer(eqx.Module):
    """One row of Table 1: CONV-(s, s, n) with a stride, ReLU, then an optional max POOL.

    Paddings are symmetric. The paper applies "appropriate paddings"; the defaults, ⌊s/2⌋ on each
    side (``kernel // 2`` for the convolution, ``pool // 2`` for the pool, whose padding never wins
    the max), give Table 1's spatial sizes 16, 8, 8, 8, 4, 4, 2 from a 32×32 image.

    Arguments:
        kernel: the receptive field s (s × s).
        stride: the convolution's stride (both dimensions).
        pool: the max pool's window (pool × pool); 0 for no pool.
        pool_stride: the pool's stride.
        padding: zeros added on each side before the convolution (default ``kernel // 2``).
        pool_padding: padding on each side before the pool, at most ``pool // 2`` so that every
            window holds a real value (default ``pool // 2``).
    """

    kernel: int = eqx.field(static=True, default=3)
    stride: int = eqx.field(static=True, default=1)
    pool: int = eqx.field(static=True, default=0)
    pool_stride: int = eqx.field(static=True, default=2)
    padding: int | None = eqx.field(static=True, default=None)
    pool_padding: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        positive_int(self.kernel, "ConvLayer.kernel")
        positive_int(self.stride, "ConvLayer.stride")
        nonnegative_int(self.pool, "ConvLayer.pool (0: no pool)")
        positive_int(self.pool_stride, "ConvLayer.pool_stride")
        if self.padding is not None:
            nonnegative_int(self.padding, "ConvLayer.padding")
        if self.pool_padding is not None:
            nonnegative_int(self.pool_padding, "ConvLayer.pool_padding")
            if self.pool_padding > self.pool // 2:
                raise ValueError(
                    f"ConvLayer.pool_padding must be at most pool // 2 = {self.pool // 2}, got {self.pool_padding!r}"
                )

    @property
    def pad(self) -> int:
        """The convolution's padding on each side."""
        return self.kernel // 2 if self.padding is None else self.padding

    @property
    def pool_pad(self) -> int:
        """The pool's padding on each side."""
        return self.pool // 2 if self.pool_padding is None else self.pool_padding

    def out_size(self, side: int) -> tuple[int, int]:
        """(after the convolution, after the pool) spatial side for an input of side ``side``."""
        conv = (side + 2 * self.pad - self.kernel) // self.stride + 1
        if not self.pool or conv < 1:
            return conv, conv
        return conv, (conv + 2 * self.pool_pad - self.pool) // self.pool_stride + 1


#: Table 1 (App. C): layers 1-7 of the paper's 8-layer CNN; layer 8 is the FC output.
TABLE1 = (
    ConvLayer(stride=2),
    ConvLayer(stride=2),
    ConvLayer(),
    ConvLayer(),
    ConvLayer(pool=3),
    ConvLayer(),
    ConvLayer(pool=3),
)


def spatial_sides(side: int, layers: Sequence[ConvLayer], where: str) -> tuple[int, ...]:
    """The image side, then each layer's output side (after its pool); raise if one is < 1."""
    sides = [side]
    for i, layer in enumerate(layers):
        conv, pooled = layer.out_size(sides[-1])
        if conv < 1:
            raise ValueError(
                f"{where}[{i}] (layer {i + 1}): a {layer.kernel}x{layer.kernel} convolution of "
                f"stride {layer.stride}, padding {layer.pad} on a {sides[-1]}x{sides[-1]} input gives "
                f"spatial size {conv}"
            )
        if pooled < 1:
            raise ValueError(
                f"{where}[{i}] (layer {i + 1}): a {layer.pool}x{layer.pool} pool of stride "
                f"{layer.pool_stride}, padding {layer.pool_pad} on a {conv}x{conv} map gives spatial "
                f"size {pooled}"
            )
        sides.append(pooled)
    return tuple(sides)


def conv_maps(u, kernel, layer: ConvLayer):
    """Σ_i kernel[:, :, i, j] ⋆ u[..., i]: NHWC maps u, an HWIO kernel, the layer's stride and padding."""
    pad = ((layer.pad, layer.pad), (layer.pad, layer.pad))
    return lax.conv_general_dilated(u, kernel, (layer.stride,) * 2, pad, dimension_numbers=_DIMS)


def patches(u, layer: ConvLayer):
    """The s × s patches of NHWC maps u at the layer's stride and padding, flattened: (B·H'·W', C·s·s),
    feature index c·s² + ky·s + kx (the order of ``lax.conv_general_dilated_patches``)."""
    pad = ((layer.pad, layer.pad), (layer.pad, layer.pad))
    p = lax.conv_general_dilated_patches(
        u, (layer.kernel, layer.kernel), (layer.stride,) * 2, pad, dimension_numbers=("NHWC", "OIHW", "NHWC")
    )
    return p.reshape(-1, p.shape[-1])


def filter_rates(d_h, u, layer: ConvLayer):
    """Σ_{b, positions} d_h[b, y, x, j] u[b, y·stride + ky − pad, ..., c]: (M, C·s·s), index c·s² + ky·s + kx.

    The weight half of a convolution's backward as one matrix product of the patches with d_h.
    Differentiating ``conv_maps`` for it instead gave XLA:CPU's naive weight-gradient convolution
    inside the solver's while loop: 2.2 s per Heun step of a 128-image, 256-particle CNN limit.
    """
    return batch_contraction(d_h.reshape(-1, d_h.shape[-1]), patches(u, layer))


def max_pool(u, layer: ConvLayer):
    """Layer's max pool of NHWC maps (its padding never wins the max); u itself without a pool."""
    if not layer.pool:
        return u
    p = layer.pool_pad
    return lax.reduce_window(
        u,
        -jnp.inf,
        lax.max,
        (1, layer.pool, layer.pool, 1),
        (1, layer.pool_stride, layer.pool_stride, 1),
        ((0, 0), (p, p), (p, p), (0, 0)),
    )


def images(x, input_shape):
    """Flat inputs (B, d·H·W), channel-major as CIFAR-10 stores them, as NHWC maps."""
    d, H, W = input_shape
    return x.reshape(x.shape[0], d, H, W).transpose(0, 2, 3, 1)
