"""A CNN in MF scaling (paper App. C) as an ``mf.Spec`` of convolutional layer kinds.

``ConvSpec(...)`` builds the spec: one ``mf.Conv`` kind per row of ``layers`` (default Table 1's
8-layer CNN on 32×32×3 images: seven 3×3 convolutions with n filters each, strides 2, 2, 1, 1, 1, 1,
1, ReLU, a 3×3 max pool of stride 2 after layers 5 and 7, and the fully connected output FC(k, 4n)),
the paper's init as an ``mf.init.Init``, the loss, data and rates. Counting as the fully connected
specs do, the CNN has L = 7 layers of neurons (the filters), and the output weights β belong to
layer L's filters. Everything that takes an ``mf.Spec`` takes it: ``mf.train``, ``mf.solve_limit``,
``mfspec run | limit | equations | verify``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from mfspec.common.validate import finite_number, nonnegative_number, positive_int, positive_number
from mfspec.data._base import Dataset
from mfspec.declaration.spec import Spec, check_batch_size, check_name
from mfspec.init import Atom, Init, Normal
from mfspec.layers._conv_ops import TABLE1, ConvLayer, spatial_sides
from mfspec.layers.conv import Conv
from mfspec.loss import Loss
from mfspec.lr import LearningRate

__all__ = ["ConvSpec"]


def ConvSpec(  # noqa: N802 (a builder named as the spec it builds; Table 1 stays one line)
    *,
    name: str,
    data: Dataset,
    loss: Loss | Callable[[int], Loss],
    lr: LearningRate,
    input_shape: Sequence[int] = (3, 32, 32),
    layers: Sequence[ConvLayer] = TABLE1,
    outputs: int | None = None,
    batch_size: int | str = 100,
    w1_var: float | None = None,
    w_mean: float = 1.0,
    w_var: float = 0.1,
    output_bias: bool = True,
    fan_in: bool = False,
) -> Spec:
    """The ``mf.Spec`` of a CNN in MF scaling (App. C) and how it is trained.

    h_1 = W_1 ⊛ x + b_1, h_ℓ = (1/n_{ℓ-1}) W_ℓ ⊛ σ_{ℓ-1}(h_{ℓ-1}) + b_ℓ (ℓ = 2..L),
    ŷ = (1/n_L) ⟨β, σ_L(h_L)⟩ + b_out, where (W ⊛ u)_i = Σ_j w_ij * u_j sums over input channels,
    σ_ℓ is ReLU followed by layer ℓ's pool, and ⟨β, ·⟩ sums over filters and spatial positions.

    Arguments:
        name: a label used in results and figures.
        data: the data (``mf.data.cifar10(...)``, or any source whose flat inputs are images of
            ``input_shape`` in channel-major order, as the CIFAR-10 files store them).
        loss: a ``Loss`` with k outputs, or a factory ``k -> Loss`` (``mf.loss.cross_entropy``).
        lr: ``mf.lr.annealed(0.08)`` for Fig. 12; a per-layer schedule needs L = len(layers) entries.
        input_shape: (channels d, height, width) of an image (CIFAR-10: (3, 32, 32)).
        layers: the convolutional layers (default: Table 1).
        outputs: k, the number of outputs (default: the data's); checked against data and loss.
        batch_size: SGD minibatch size (paper: 100), or "full" (full-batch gradient descent).
        w1_var: variance of W_1's entries (default 2/(s² d), the paper's N(0, 2/(9d)) for s = 3).
        w_mean, w_var: mean and variance of the entries of W_2..W_L and β (paper: N(1, 0.1),
            read in its N(mean, variance) notation of Sec. 4.2.1); every bias starts at 0.
        output_bias: whether ŷ has the trainable bias b_out (zero at init, as every bias is).
        fan_in: divide by the whole fan-in, s² n_{ℓ-1} in layer ℓ ≥ 2 and P n_L at the output,
            instead of App. C's n_{ℓ-1} and n_L. The factors are constants, so the MF scaling in n
            and the SGD factors are the same; but App. C's form leaves each s × s sum of mean-1
            weights undivided, so at init h_ℓ grows up to s² = 9 times per layer (Table 1 on
            random images: 3-8.5 times, ŷ ~ 5·10^5), while with ``fan_in`` every h_ℓ stays at the
            scale of h_1 and the logits start nearly equal.
    """
    name = check_name(name, "ConvSpec.name")
    shape, layers, sides = _geometry(input_shape, layers)
    if not isinstance(data, Dataset):
        raise TypeError(f"ConvSpec.data must be an mf.data source, got {data!r}")
    d = math.prod(shape)
    if data.input_dim != d:
        raise ValueError(
            f"ConvSpec.input_shape {shape} has {d} values per image but ConvSpec.data has "
            f"input dimension {data.input_dim}"
        )
    k = data.outputs
    if outputs is not None and positive_int(outputs, "ConvSpec.outputs") != k:
        raise ValueError(f"ConvSpec.outputs = {outputs} but ConvSpec.data has labels with k = {k}")
    if not isinstance(loss, Loss):
        loss = loss(k)
    if loss.k != k:
        raise ValueError(f"ConvSpec.loss {loss.name!r} is for k = {loss.k} outputs but the data has k = {k}")
    if not isinstance(lr, LearningRate):
        raise TypeError(f"ConvSpec.lr must be an mf.lr.LearningRate, got {lr!r}")
    lr.for_layers(len(layers))  # validates per-layer schedules against L
    check_batch_size(batch_size, data, "ConvSpec.batch_size")
    s1 = layers[0].kernel
    w1_var = 2.0 / (s1 * s1 * shape[0]) if w1_var is None else positive_number(w1_var, "ConvSpec.w1_var")
    w_mean = finite_number(w_mean, "ConvSpec.w_mean")
    w_var = nonnegative_number(w_var, "ConvSpec.w_var")
    kinds = _kinds(shape, layers, k, sides[-1] ** 2, bool(fan_in))
    init = _paper_init(kinds, w1_var, w_mean, w_var)
    return Spec(name=name, input_dim=d, layers=kinds, loss=loss, init=init, data=data, lr=lr,
                batch_size=batch_size, output_bias=bool(output_bias))  # fmt: skip


def _geometry(input_shape, layers) -> tuple[tuple[int, int, int], tuple[ConvLayer, ...], tuple[int, ...]]:
    """(the image shape, the layers, every layer's output side), checked."""
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"ConvSpec.input_shape must be (channels, height, width), got {input_shape!r}")
    for what, v in zip(("channels", "height", "width"), shape):
        positive_int(v, f"ConvSpec.input_shape {what}")
    if shape[1] != shape[2]:
        raise ValueError(f"ConvSpec.input_shape must be a square image (height = width), got {shape}")
    layers = tuple(layers)
    if not layers:
        raise ValueError("ConvSpec.layers must list at least one ConvLayer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, ConvLayer):
            raise TypeError(f"ConvSpec.layers[{i}] (layer {i + 1}) must be a ConvLayer, got {layer!r}")
    return shape, layers, spatial_sides(shape[1], layers, "ConvSpec.layers")


def _kinds(shape, layers, k: int, positions: int, fan_in: bool) -> tuple[Conv, ...]:
    """One ``Conv`` kind per row: layer 1 reads the image, layer L carries β (k outputs × P positions)."""
    L = len(layers)
    return tuple(
        Conv(layer=layer, role="head" if ell == L else ("first" if ell == 1 else "hidden"), input_shape=shape,
             outputs=k if ell == L else 1, positions=positions if ell == L else 1, fan_in=fan_in,
             reads_image=ell == 1)
        for ell, layer in enumerate(layers, start=1)
    )  # fmt: skip


def _paper_init(kinds, w1_var: float, w_mean: float, w_var: float) -> Init:
    """App. C's init: W_1 taps N(0, w1_var), W_ℓ taps and β entries N(w_mean, w_var), biases 0."""
    head = kinds[-1]
    extra = head.outputs * head.positions if head.role == "head" else 0
    theta = tuple(Atom(0.0) for _ in kinds[:-1]) + (
        Normal((0.0,) + (w_mean,) * extra, (0.0,) + (math.sqrt(w_var),) * extra),
    )
    return Init(w1=Normal(0.0, math.sqrt(w1_var)), theta=theta,
                kernels=tuple(Normal(w_mean, math.sqrt(w_var)) for _ in kinds[1:]), out_bias=Atom(0.0))  # fmt: skip
