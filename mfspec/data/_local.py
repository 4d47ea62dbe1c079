"""Local datasets that need no download: scikit-learn's bundled digits, feature files, and the
folder convention for user-provided files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mfspec.data._arrays import ArrayData, one_hot

#: Environment variable naming the folder that holds the user's datasets (default ``./data``).
DATA_ENV = "MFSPEC_DATA"


def data_dir(name: str) -> Path:
    """``$MFSPEC_DATA/name`` (default ``data/name``): where spec files look for local data."""
    return Path(os.environ.get(DATA_ENV, "data")) / name


def digits(*, test_size: int = 497) -> ArrayData:
    """The 8×8 handwritten digits bundled with scikit-learn (1,797 images, 10 classes, d = 64).

    Pixels (0..16) are scaled to [−1, 1] as the paper does for MNIST (Sec. 4.2.1); the last
    ``test_size`` images are the test set (a fixed split, so runs are comparable).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("mf.data.digits needs scikit-learn: pip install 'mfspec[digits]'") from err
    bunch = load_digits()
    x = bunch.data.astype(np.float32) / 16.0 * 2.0 - 1.0
    y = one_hot(bunch.target.astype(np.int64), 10)
    if not 0 < test_size < len(x):
        raise ValueError(f"digits: test_size must lie in (0, {len(x)}), got {test_size}")
    n = len(x) - test_size
    return ArrayData(x[:n], y[:n], x[n:], y[n:])


def features(
    path, *, classes: int = 10, train_limit: int | None = None, test_limit: int | None = None
) -> ArrayData:
    """Precomputed features (e.g. VGG16 conv features of CIFAR-10, Fig. 11) from a local ``.npz``
    with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test`` (integer labels).

    Features are used as they are (no normalization), as the paper feeds VGG16's outputs directly.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"features file {path} not found: compute the features yourself (e.g. CIFAR-10 images "
            "upscaled to 128×128 through VGG16's convolutional layers, d = 8192, as in Sec. 4.2.1) and "
            "save them with numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
        )
    with np.load(path) as f:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f]
        if missing:
            raise ValueError(f"features file {path} lacks arrays {missing}")
        xt, yt, xs, ys = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    xt, yt = xt[:train_limit].reshape(len(xt[:train_limit]), -1), yt[:train_limit]
    xs, ys = xs[:test_limit].reshape(len(xs[:test_limit]), -1), ys[:test_limit]
    return ArrayData(xt, one_hot(yt.astype(np.int64), classes), xs, one_hot(ys.astype(np.int64), classes))
