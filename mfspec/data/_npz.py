"""Plain NumPy arrays from local files: ``mf.data.arrays(path)``.

Two layouts, chosen from ``path``:

* ``data/my.npz``: one archive with arrays ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test``
  (``numpy.savez(path, x_train=..., y_train=..., ...)``);
* ``data/my``: ``.npy`` files — in the folder ``data/my`` if it is one (``data/my/x_train.npy``, ...),
  else next to the prefix (``data/my_x_train.npy``, ``data/my_y_train.npy``, ``data/my_x_test.npy``, ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfspec.data._arrays import ArrayData, one_hot

_TRAIN = ("x_train", "y_train")
_TEST = ("x_test", "y_test")


def arrays(path, *, classes: int | None = None, test: bool | None = None) -> ArrayData:
    """An ``mf.data.ArrayData`` from a ``.npz`` archive or a set of ``.npy`` files (layouts above).

    Inputs of any shape (N, ...) are flattened to (N, d) and used as they are (no normalization).
    Integer labels of shape (N,) are class indices, made one-hot with ``classes`` columns (default:
    the largest label + 1, over train and test); float labels of shape (N,) or (N, k) are kept as
    targets (regression, or ±1 for a binary task).

    Arguments:
        path: the ``.npz`` file, the folder of ``.npy`` files, or their prefix.
        classes: number of classes of integer labels.
        test: ``None`` reads the test arrays if both are there, ``True`` requires them, ``False``
            ignores them.
    """
    if test not in (None, True, False):
        raise TypeError(f"arrays: test must be None, True or False, got {test!r}")
    if classes is not None and (isinstance(classes, bool) or not isinstance(classes, int) or classes < 1):
        raise ValueError(f"arrays: classes must be a positive int, got {classes!r}")
    path = Path(path)
    found, where = _read_npz(path) if path.suffix == ".npz" else _read_npy(path)
    missing = [k for k in _TRAIN if k not in found]
    if missing:
        raise ValueError(f"arrays: {where} lacks {_listing(missing, path)}")
    have_test = [k for k in _TEST if k in found]
    if test is True and len(have_test) < 2:
        raise ValueError(
            f"arrays: test=True but {where} lacks {_listing([k for k in _TEST if k not in found], path)}"
        )
    if test is not False and len(have_test) == 1:
        other = next(k for k in _TEST if k not in found)
        raise ValueError(
            f"arrays: {where} has {have_test[0]} but lacks {_listing([other], path)}: give both or neither "
            f"(or pass test=False to ignore it)"
        )
    splits = ("train", "test") if test is not False and len(have_test) == 2 else ("train",)
    xs, ys = {}, {}
    for split in splits:
        x, y = found[f"x_{split}"], found[f"y_{split}"]
        if x.ndim < 2:
            raise ValueError(f"arrays: {where}: x_{split} must have shape (N, d) or (N, ...), got {x.shape}")
        if y.ndim not in (1, 2) or len(y) != len(x):
            raise ValueError(
                f"arrays: {where}: y_{split} must have shape ({len(x)},) or ({len(x)}, k) to match "
                f"x_{split} {x.shape}, got {y.shape}"
            )
        xs[split], ys[split] = x.reshape(len(x), -1), y
    ys = _labels(ys, classes, where)
    test_xy = (xs["test"], ys["test"]) if "test" in xs else (None, None)
    return ArrayData(xs["train"], ys["train"], *test_xy)


def _listing(names, path: Path) -> str:
    """The missing arrays, with their file names for the .npy layout."""
    if path.suffix == ".npz":
        return "array" + ("s " if len(names) > 1 else " ") + ", ".join(names)
    return ", ".join(f"{k} ({_npy_file(path, k)})" for k in names)


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], str]:
    if not path.is_file():
        raise FileNotFoundError(
            f"arrays: file {path} not found (save it with numpy.savez(path, x_train=..., y_train=..., "
            "x_test=..., y_test=...))"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in (*_TRAIN, *_TEST) if k in f.files}, f"file {path}"
    except (ValueError, OSError) as err:
        raise ValueError(f"arrays: cannot read {path} as a .npz archive: {err}") from None


def _npy_file(path: Path, name: str) -> Path:
    return path / f"{name}.npy" if path.is_dir() else path.with_name(f"{path.name}_{name}.npy")


def _read_npy(path: Path) -> tuple[dict[str, np.ndarray], str]:
    files = {k: _npy_file(path, k) for k in (*_TRAIN, *_TEST)}
    where = f"folder {path}" if path.is_dir() else f"prefix {path}"
    absent = [f"{k} ({files[k]})" for k in _TRAIN if not files[k].is_file()]
    if absent:
        raise FileNotFoundError(
            f"arrays: missing {', '.join(absent)} for the .npy {where} (a folder holds x_train.npy, "
            f"y_train.npy, ...; a prefix data/my means data/my_x_train.npy, data/my_y_train.npy, ...)"
        )
    found = {}
    for k, f in files.items():
        if f.is_file():
            try:
                found[k] = np.load(f, allow_pickle=False)
            except (ValueError, OSError) as err:
                raise ValueError(f"arrays: cannot read {f} as a .npy array: {err}") from None
    return found, where


def _labels(ys: dict[str, np.ndarray], classes: int | None, where: str) -> dict[str, np.ndarray]:
    """Integer class labels → one-hot with a common number of classes; float targets as they are."""
    kinds = {s: np.issubdtype(y.dtype, np.integer) for s, y in ys.items()}
    if len(set(kinds.values())) > 1:
        raise ValueError(
            f"arrays: {where}: y_train is {ys['train'].dtype} but y_test is {ys['test'].dtype}: "
            "give integer class labels in both or float targets in both"
        )
    if not kinds["train"]:
        if classes is not None:
            raise ValueError(
                f"arrays: classes={classes} is for integer labels, but {where} holds float y_train "
                f"({ys['train'].dtype}), used as targets"
            )
        return {s: y.astype(np.float32) for s, y in ys.items()}
    for s, y in ys.items():
        if y.ndim != 1:
            raise ValueError(
                f"arrays: {where}: integer y_{s} must be class indices of shape (N,), got {y.shape} "
                "(save (N, k) targets as floats)"
            )
        if y.size and y.min() < 0:
            raise ValueError(
                f"arrays: {where}: y_{s} holds the negative label {y.min()} at index {int(np.argmin(y))}; "
                "class indices lie in [0, classes) (save ±1 targets as floats)"
            )
    top = max((int(y.max()) for y in ys.values() if y.size), default=0) + 1
    k = top if classes is None else classes
    for s, y in ys.items():
        if y.size and y.max() >= k:
            raise ValueError(
                f"arrays: {where}: y_{s} holds the label {y.max()} at index {int(np.argmax(y))}, "
                f"outside [0, classes={k})"
            )
    return {s: one_hot(y.astype(np.int64), k) for s, y in ys.items()}
