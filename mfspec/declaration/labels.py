"""Labels against the loss's classification-error rule: refuse the combinations that make a metric
silently meaningless, drop the error metric (with a warning) for regression targets.

- "sign" error (k = 1; ``squared``, ``logistic``): y·ŷ < 0 counts an error, so labels must be ±1.
  Labels in {0, 1} would count every y = 0 as correct (an error rate that looks great and means
  nothing) and are refused; other real targets are a regression: allowed under the squared loss,
  with no classification error recorded. The logistic loss log(1 + e^{−yŷ}) needs ±1 labels.
- "argmax" error (k ≥ 2): labels must be one-hot rows; cross-entropy also accepts probability rows
  (non-negative, summing to 1). Other targets under the squared loss are a regression: no
  classification error recorded.
"""

from __future__ import annotations

import numpy as np

from mfspec.common.warnings import warn
from mfspec.loss import Loss


def labels_of(data) -> np.ndarray | None:
    """The stored labels of a finite dataset (train and test stacked), None for a sampler."""
    ys = [getattr(data, name, None) for name in ("y_train", "y_test")]
    ys = [np.asarray(y) for y in ys if y is not None]
    return np.concatenate(ys) if ys else None


def fit_loss_to_labels(loss: Loss, data, where: str = "Spec.data") -> Loss:
    """``loss``, or ``loss`` without its error rule when the labels make it meaningless (warned);
    raises ValueError for labels that make the loss or its metric silently wrong."""
    y = labels_of(data)
    if y is None:
        return loss
    values = np.unique(y)
    if loss.error == "sign":
        if np.all(np.isin(values, (-1.0, 1.0))):
            return loss
        shown = _show(values)
        if np.all(np.isin(values, (0.0, 1.0))):
            raise ValueError(
                f"{where} has labels in {{0, 1}} but Spec.loss {loss.name!r} counts a sign error (y·ŷ < 0), "
                f"which would call every y = 0 correct: give ±1 labels (y = 2·label − 1), or k = 2 one-hot "
                f"labels with mf.loss.cross_entropy"
            )
        if loss.name == "logistic":
            raise ValueError(f"{where} has labels {shown} but Spec.loss 'logistic' needs y ∈ {{−1, +1}}")
        warn(
            f"{where} has real-valued targets {shown}, not ±1: a regression, so no classification error "
            f"is recorded (the sign error of Spec.loss {loss.name!r} would mean nothing)"
        )
        return loss.without_error()
    if loss.error == "argmax":
        one_hot = np.all(np.isin(values, (0.0, 1.0))) and np.all(y.sum(axis=1) == 1)
        if one_hot:
            return loss
        if loss.name == "cross_entropy":
            rows = y.sum(axis=1)
            bad = int(np.argmax(np.abs(rows - 1) > 1e-6)) if np.any(np.abs(rows - 1) > 1e-6) else None
            if np.any(y < 0) or bad is not None:
                where_row = (
                    f"row {bad} sums to {rows[bad]:g}" if bad is not None else "some entries are negative"
                )
                raise ValueError(
                    f"{where}: cross-entropy needs one-hot (or probability) label rows, but {where_row}; "
                    f"integer class labels become one-hot rows with mf.data.one_hot(labels, k)"
                )
            return loss
        warn(
            f"{where} has targets that are not one-hot rows: a regression, so no classification error is "
            f"recorded (the argmax error of Spec.loss {loss.name!r} would mean nothing)"
        )
        return loss.without_error()
    return loss


def _show(values: np.ndarray) -> str:
    head = ", ".join(f"{v:g}" for v in values[:4])
    return f"{{{head}{', …' if len(values) > 4 else ''}}} ({len(values)} distinct values)"
