"""Shared generated datasets for spec files (made here from a fixed seed: nothing is downloaded)."""

import math

import numpy as np

import mfspec as mf


def nonlinear_boundary_data(n_train: int = 512, n_test: int = 512, dim: int = 8, seed: int = 0):
    """A finite task with a smooth nonlinear class boundary: x ~ N(0, I_d),
    y = sign(⟨x, 1⟩/√d + (x_1² − 1)/2).

    Finite, so the limit's expectation over P is exact (full batch); not rotation invariant, so the
    limit runs on d-dimensional particles.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_train + n_test, dim)).astype(np.float32)
    y = np.sign(x.sum(1) / math.sqrt(dim) + (x[:, 0] ** 2 - 1) / 2).astype(np.float32)[:, None]
    return mf.data.ArrayData(x[:n_train], y[:n_train], x[n_train:], y[n_train:])
