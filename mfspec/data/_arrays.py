"""In-memory array datasets (the empirical law of a training set, plus an optional test set)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Float32, PRNGKeyArray

from mfspec.data._base import Batch, Dataset


def one_hot(labels, classes: int) -> Float32[np.ndarray, "n classes"]:
    """Integer class labels → one-hot float32 rows."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"one_hot: labels must be a 1-D integer array, got shape {labels.shape} dtype {labels.dtype}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"one_hot: labels must lie in [0, {classes}), got range [{labels.min()}, {labels.max()}]"
        )
    return np.eye(classes, dtype=np.float32)[labels]


def _check_xy(name: str, x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2:
        raise ValueError(f"ArrayData.x_{name} must be 2-D (samples, d), got shape {x.shape}")
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"ArrayData.y_{name} must have shape ({x.shape[0]}, k), got {y.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"ArrayData.x_{name} holds no samples")
    for field, arr in (("x", x), ("y", y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"ArrayData.{field}_{name} holds {int(bad.sum())} non-finite values "
                f"(first at index {idx}: {arr[idx]})"
            )
    return x, y


class ArrayData(Dataset):
    """Training (and optional test) arrays. Minibatches are drawn uniformly with replacement.

    Arguments:
        x_train: (N, d) inputs; y_train: (N, k) float labels (or (N,) for k = 1).
        x_test, y_test: optional held-out set.
    """

    x_train: Float[Array, "n d"]
    y_train: Float[Array, "n k"]
    x_test: Float[Array, "n_test d"] | None = None
    y_test: Float[Array, "n_test k"] | None = None

    def __init__(self, x_train, y_train, x_test=None, y_test=None):
        xt, yt = _check_xy("train", x_train, y_train)
        self.x_train, self.y_train = jnp.asarray(xt), jnp.asarray(yt)
        if (x_test is None) != (y_test is None):
            raise ValueError("ArrayData: give both x_test and y_test, or neither")
        if x_test is not None:
            xs, ys = _check_xy("test", x_test, y_test)
            if xs.shape[1] != xt.shape[1] or ys.shape[1] != yt.shape[1]:
                raise ValueError(
                    f"ArrayData: test shapes {xs.shape}, {ys.shape} do not match train {xt.shape}, {yt.shape}"
                )
            self.x_test, self.y_test = jnp.asarray(xs), jnp.asarray(ys)
        else:
            self.x_test = self.y_test = None

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def outputs(self) -> int:
        return int(self.y_train.shape[1])

    @property
    def is_finite(self) -> bool:
        return True

    def minibatch(self, key: PRNGKeyArray, size: int, dtype=jnp.float32) -> Batch:
        idx = jax.random.randint(key, (size,), 0, self.x_train.shape[0])
        return self.x_train[idx].astype(dtype), self.y_train[idx].astype(dtype)

    def full_batch(self, dtype=jnp.float32) -> Batch:
        """The whole training set (full-batch gradient descent)."""
        return self.x_train.astype(dtype), self.y_train.astype(dtype)

    def eval_sets(self, key: PRNGKeyArray, size: int, dtype=jnp.float32) -> dict[str, Batch]:
        out = {"train": _subsample(key, self.x_train, self.y_train, size, dtype)}
        if self.x_test is not None:
            out["test"] = _subsample(jax.random.fold_in(key, 1), self.x_test, self.y_test, size, dtype)
        return out


def _subsample(key, x, y, size, dtype):
    if x.shape[0] <= size:
        return x.astype(dtype), y.astype(dtype)
    idx = jax.random.choice(key, x.shape[0], (size,), replace=False)
    return x[idx].astype(dtype), y[idx].astype(dtype)
