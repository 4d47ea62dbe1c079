"""The finite network trained: MF-scaled SGD (paper eq. 13-15, Sec. 3.1) and its curves.

gradients.py   the minibatch-mean loss and its scaled gradients ∇̃ (Sec. 3.1)
train.py       ``mf.train``: SGD in compiled chunks, metrics at log-spaced iterations
seeds.py       the seeds of one width as one vmapped program (``mfspec run --batch-seeds``)
curves.py      ``Curve``, the evaluation grid and the metrics both systems record
"""

from mfspec.finite.curves import Curve, eval_iterations, eval_sets_for, evaluate, metric_names
from mfspec.finite.gradients import batch_loss, scaled_gradients
from mfspec.finite.seeds import train_seeds
from mfspec.finite.train import train

__all__ = [
    "Curve",
    "batch_loss",
    "eval_iterations",
    "eval_sets_for",
    "evaluate",
    "metric_names",
    "scaled_gradients",
    "train",
    "train_seeds",
]
