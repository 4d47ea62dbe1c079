"""Images with a label a small CNN can learn, written in the CIFAR-10 binary format.

For the finite → limit study of App. C's CNN (docs/cnn_limit.md) the labels must be learnable at
n = 8..128 filters in a few hundred steps; random labels are not, and real CIFAR-10 is not on every
machine. Each image is a smooth random field (a few low-frequency Fourier modes per channel plus a
little pixel noise, quantized to bytes as CIFAR-10's are); its class is the argmax of a fixed random
linear function of the image averaged over 8×8 blocks (4 × 4 × 3 = 48 coarse features), a smooth
function of the image that a CNN's pooled features can represent. The classes are nearly balanced.

``write_learnable_cifar(folder, train=..., test=..., seed=...)`` writes ``data_batch_1..5.bin`` and
``test_batch.bin`` (``mf.data.cifar10`` reads them); ``scripts/make_learnable_cifar.py`` is the
command line. The same seed gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfspec.data._files import CLASSES, write_cifar_batch

SIDE, CHANNELS, BLOCK, MODES = 32, 3, 8, 4
PROBE = 1000  # images that center the class scores (part of the labelling rule: do not change)


def _fields(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3, 32, 32) smooth random fields in [0, 255] (float): Fourier modes k ≤ MODES."""
    grid = np.arange(SIDE) / SIDE
    out = np.zeros((n, CHANNELS, SIDE, SIDE))
    for kx in range(MODES + 1):
        for ky in range(MODES + 1):
            amp = rng.normal(size=(n, CHANNELS, 1, 1)) / (1.0 + kx * kx + ky * ky)
            phase = rng.uniform(0, 2 * np.pi, size=(n, CHANNELS, 1, 1))
            wave = np.cos(2 * np.pi * (kx * grid[:, None] + ky * grid[None, :]) + phase)
            out += amp * wave
    out += 0.05 * rng.normal(size=out.shape)
    out = (out - out.mean(axis=(1, 2, 3), keepdims=True)) / out.std(axis=(1, 2, 3), keepdims=True)
    return np.clip(127.5 + 50.0 * out, 0, 255)


def coarse_features(images: np.ndarray) -> np.ndarray:
    """(n, 48): the images (n, 3, 32, 32) averaged over 8×8 blocks, centered like the loader's x."""
    x = images / 255.0 * 2 - 1
    n = x.shape[0]
    blocks = x.reshape(n, CHANNELS, SIDE // BLOCK, BLOCK, SIDE // BLOCK, BLOCK).mean(axis=(3, 5))
    return blocks.reshape(n, -1)


def learnable_labels(images: np.ndarray, seed: int) -> np.ndarray:
    """The class of each image: argmax_c ⟨A_c, coarse features⟩ + b_c, A and b fixed by ``seed`` (b
    chosen on a large sample so that the classes are nearly balanced)."""
    rng = np.random.default_rng([seed, 1])
    a = rng.normal(size=(CLASSES, CHANNELS * (SIDE // BLOCK) ** 2))
    probe = coarse_features(_fields(np.random.default_rng([seed, 2]), PROBE)) @ a.T
    b = -np.median(probe, axis=0)  # each class's score centered: no class dominates
    return np.argmax(coarse_features(images) @ a.T + b, axis=1)


def write_learnable_cifar(folder, *, train: int = 2000, test: int = 1000, seed: int = 0) -> Path:
    """Write ``train`` training images over the five batch files and ``test`` test images."""
    for name, v in (("train", train), ("test", test)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 5:
            raise ValueError(f"write_learnable_cifar: {name} must be an int >= 5, got {v!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0])
    images = _fields(rng, train + test)
    pixels = np.rint(images).astype(np.uint8)
    labels = learnable_labels(pixels.astype(np.float64), seed)
    for i, part in enumerate(np.array_split(np.arange(train), 5), start=1):
        write_cifar_batch(folder / f"data_batch_{i}.bin", pixels[part], labels[part])
    write_cifar_batch(folder / "test_batch.bin", pixels[train:], labels[train:])
    return folder
