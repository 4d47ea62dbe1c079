"""Small random files in the layouts the file loaders read (MNIST IDX, CIFAR-10 binary, VGG features
.npz), for tests and benchmarks that run the bundled spec files without the real datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfspec.data._files import write_cifar_batch, write_idx
from mfspec.data._learnable import write_learnable_cifar


def write_stand_ins(root: str | Path, seed: int = 0) -> Path:
    """Write stand-in datasets under ``root`` (the layout of ``$MFSPEC_DATA``) and return it.

    ``root/mnist``: 30 train and 12 test 28×28 images; ``root/cifar10``: the six binary batches with
    4 images each; ``root/learnable_cifar``: 20 + 8 images of ``mfspec.data._learnable``;
    ``root/cifar10_vgg16.npz``: 20 + 8 random 8192-dim features. Labels are uniform
    over 10 classes. The pixels are noise: the files exercise the loaders and the spec files'
    plumbing, not learning.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 30), ("t10k", 12)):
        write_idx(root / "mnist" / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(root / "mnist" / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n))
    (root / "cifar10").mkdir(exist_ok=True)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        write_cifar_batch(root / "cifar10" / name, rng.integers(0, 256, (4, 3072)), rng.integers(0, 10, 4))
    write_learnable_cifar(root / "learnable_cifar", train=20, test=8, seed=seed)
    np.savez(
        root / "cifar10_vgg16.npz",
        x_train=rng.normal(size=(20, 8192)).astype(np.float32),
        y_train=rng.integers(0, 10, 20),
        x_test=rng.normal(size=(8, 8192)).astype(np.float32),
        y_test=rng.integers(0, 10, 8),
    )
    return root
