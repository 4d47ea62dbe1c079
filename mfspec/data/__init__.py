"""Data sources: samplers with fresh data per step, and in-memory arrays (local files only)."""

from mfspec.data._arrays import ArrayData, one_hot
from mfspec.data._base import Dataset
from mfspec.data._files import cifar10, mnist, write_cifar_batch, write_idx
from mfspec.data._isotropic import IsotropicGaussians
from mfspec.data._local import DATA_ENV, data_dir, digits, features
from mfspec.data._npz import arrays
from mfspec.data._stand_ins import write_stand_ins

__all__ = [
    "DATA_ENV",
    "data_dir",
    "digits",
    "features",
    "ArrayData",
    "arrays",
    "Dataset",
    "IsotropicGaussians",
    "cifar10",
    "mnist",
    "one_hot",
    "write_cifar_batch",
    "write_idx",
    "write_stand_ins",
]
