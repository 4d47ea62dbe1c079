"""The interface every data source offers to the trainer and to the limit solver."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import Array, Float, PRNGKeyArray

#: A batch (x (B, d), y (B, k)) as the data sources return it.
Batch = tuple[Float[Array, "batch d"], Float[Array, "batch k"]]


class Dataset(eqx.Module):
    """A data law P of (x, y), x ∈ R^d, y ∈ R^k (±1 for one output, one-hot rows for classes).

    Subclasses implement:
        input_dim, outputs: d and k.
        minibatch(key, size): a training minibatch drawn with ``key`` (counter-based: step k uses
            ``fold_in(key, k)``, so a run is reproducible and needs no state).
        eval_sets(key, size): fixed evaluation samples {"train": (x, y), "test": (x, y)}; a
            sampler of the population law gives only "test".
        is_finite: True when P is the empirical law of stored training arrays (then the limit
            can take the expectation over P exactly).
    """

    @property
    def input_dim(self) -> int:
        raise NotImplementedError

    @property
    def outputs(self) -> int:
        raise NotImplementedError

    @property
    def is_finite(self) -> bool:
        return False

    def minibatch(self, key: PRNGKeyArray, size: int, dtype=None) -> Batch:
        raise NotImplementedError

    def eval_sets(self, key: PRNGKeyArray, size: int, dtype=None) -> dict[str, Batch]:
        raise NotImplementedError

    def training_batch(self, key, size, dtype):
        """The batch of one training step: ``minibatch(key, size)``, or for ``size="full"`` the whole
        training set (full-batch gradient descent, exact for a finite dataset)."""
        if size == "full":
            return self.full_batch(dtype)
        return self.minibatch(key, size, dtype=dtype)

    def full_batch(self, dtype):
        raise ValueError(
            f"batch_size='full' needs a finite dataset, but {type(self).__name__} samples fresh data"
        )
