"""MNIST and CIFAR-10 read from local files (nothing is ever downloaded at run time).

The experiments of Nguyen (2019), Sec. 4.2.1, train on MNIST and CIFAR-10 with pixels
normalized to [-1, 1]; the loaders here reproduce that preprocessing (x / 255 * 2 - 1),
flatten each image and one-hot encode the 10 classes, returning an :class:`ArrayData`.

Formats:
    MNIST: the four IDX files of the MNIST page, gzipped or not.
    CIFAR-10: the "CIFAR-10 binary version" (``data_batch_1.bin`` .. ``data_batch_5.bin``,
        ``test_batch.bin``), records of 1 label byte + 3072 pixel bytes (R, G, B planes of
        32 x 32, row-major).

:func:`write_idx` and :func:`write_cifar_batch` write the same formats, so tests and
examples can build small stand-in data sets.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from mfspec.data._arrays import ArrayData, one_hot

__all__ = ["cifar10", "mnist", "write_cifar_batch", "write_idx"]

CLASSES = 10

# ---------------------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------------------


def _normalize(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels → float32 in [-1, 1], as in Nguyen (2019), Sec. 4.2.1."""
    # Dividing first keeps both endpoints exact in float32 (0 → -1, 255 → 1).
    return pixels.astype(np.float32) / np.float32(255) * np.float32(2) - np.float32(1)


def _check_limit(name: str, limit) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"{name} must be a positive int or None, got {limit!r}")
    return int(limit)


def _directory(loader: str, path) -> Path:
    directory = Path(os.fspath(path)).expanduser()
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(
            f"{loader}: expected a directory holding the data files, got the file {directory}"
        )
    return directory


def _as_bytes(name: str, values) -> np.ndarray:
    """Integer array with values in [0, 255] → uint8, refusing anything a cast would mangle."""
    arr = np.asarray(values)
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers in [0, 255] (raw pixel bytes), got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"{name} must hold integers in [0, 255], got range [{arr.min()}, {arr.max()}]")
    return arr.astype(np.uint8)


# ---------------------------------------------------------------------------------------
# IDX (MNIST)
# ---------------------------------------------------------------------------------------

_IDX_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_MNIST_SIDE = 28


def write_idx(path, array) -> Path:
    """Write ``array`` (integers in [0, 255]) as an IDX file of unsigned bytes (type code 0x08).

    The layout is the one MNIST uses: 2 zero bytes, the type code, the number of dimensions,
    each dimension as a big-endian int32, then the values in C order. A path ending in ``.gz``
    is gzip-compressed, like the files the MNIST page distributes.

    Returns the path written.
    """
    data = _as_bytes("write_idx: array", array)
    if not 1 <= data.ndim <= 255:
        raise ValueError(f"write_idx: array must have 1 to 255 dimensions, got shape {data.shape}")
    header = bytes([0, 0, _IDX_UBYTE, data.ndim]) + np.asarray(data.shape, dtype=">i4").tobytes()
    payload = header + np.ascontiguousarray(data).tobytes()
    path = Path(os.fspath(path))
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def _read_maybe_gzip(file: Path) -> bytes:
    raw = file.read_bytes()
    # Sniff the content rather than trust the suffix: browsers often decompress a download
    # but keep its ".gz" name, and some mirrors serve gzipped files without the suffix.
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as err:
        raise ValueError(f"{file}: truncated or corrupt gzip data ({err}); download the file again") from err


def _read_idx(file: Path) -> np.ndarray:
    """Parse an IDX file of unsigned bytes into an array of the shape its header declares."""
    raw = _read_maybe_gzip(file)
    if len(raw) < 4:
        raise ValueError(
            f"{file}: truncated IDX file, {len(raw)} bytes is shorter than the 4-byte magic number"
        )
    if raw[0] != 0 or raw[1] != 0:
        magic = int.from_bytes(raw[:4], "big")
        raise ValueError(
            f"{file}: bad IDX magic number 0x{magic:08X}; an IDX file starts with two zero bytes "
            f"(MNIST: 0x00000801 for labels, 0x00000803 for images). Is this an IDX file?"
        )
    if raw[2] != _IDX_UBYTE:
        raise ValueError(
            f"{file}: IDX data type code 0x{raw[2]:02X}, expected 0x{_IDX_UBYTE:02X} "
            f"(unsigned byte) as MNIST uses"
        )
    ndim = raw[3]
    header_len = 4 + 4 * ndim
    if ndim == 0:
        raise ValueError(f"{file}: IDX header declares 0 dimensions")
    if len(raw) < header_len:
        raise ValueError(
            f"{file}: truncated IDX file, {len(raw)} bytes is shorter than the "
            f"{header_len}-byte header of {ndim} dims"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if min(dims) < 0:
        raise ValueError(f"{file}: IDX header declares a negative dimension, dims {dims}")
    # Python ints: the product of int32 dims can overflow a fixed-width integer.
    expected = int(np.prod(dims, dtype=object))
    got = len(raw) - header_len
    if got < expected:
        raise ValueError(
            f"{file}: truncated IDX file, {got} data bytes but the header's dims {dims} need {expected}; "
            f"download the file again"
        )
    if got > expected:
        raise ValueError(
            f"{file}: {got - expected} bytes past the end that the header's dims {dims} declare; "
            f"not a valid IDX file"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def _find_mnist_files(directory: Path) -> dict[str, Path]:
    found, missing = {}, []
    for key, name in _MNIST_FILES.items():
        # The uncompressed file wins when both are present: it is cheaper to read.
        candidates = [directory / name, directory / f"{name}.gz"]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            missing.append(name)
        else:
            found[key] = hit
    if missing:
        raise FileNotFoundError(
            f"MNIST: missing {', '.join(f'{m}[.gz]' for m in missing)} in {directory}. "
            f"Nothing is downloaded at run time: download the four IDX files "
            f"({', '.join(f'{n}.gz' for n in _MNIST_FILES.values())}) from the MNIST page "
            f"(Yann LeCun's site, yann.lecun.com/exdb/mnist, or a mirror) and place them in {directory} "
            f"(gzipped or not)."
        )
    return found


def _mnist_split(images_file: Path, labels_file: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    images, labels = _read_idx(images_file), _read_idx(labels_file)
    if images.ndim != 3 or images.shape[1:] != (_MNIST_SIDE, _MNIST_SIDE):
        raise ValueError(
            f"{images_file}: expected images of shape (N, {_MNIST_SIDE}, {_MNIST_SIDE}), got {images.shape}"
        )
    if labels.ndim != 1:
        raise ValueError(f"{labels_file}: expected a 1-D label array, got shape {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"MNIST: {labels_file.name} holds {labels.shape[0]} labels but {images_file.name} "
            f"holds {images.shape[0]} images"
        )
    if labels.size and labels.max() >= CLASSES:
        at = int(np.argmax(labels >= CLASSES))
        raise ValueError(
            f"{labels_file}: label {labels[at]} at index {at}; MNIST labels are 0..{CLASSES - 1}"
        )
    images, labels = images[:limit], labels[:limit]
    return _normalize(images.reshape(images.shape[0], -1)), one_hot(labels, CLASSES)


def mnist(path, *, train_limit: int | None = None, test_limit: int | None = None) -> ArrayData:
    """MNIST from the four IDX files in the local directory ``path``.

    Expects ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
    and ``t10k-labels-idx1-ubyte``, each possibly gzipped (with or without a ``.gz`` suffix).
    Images are flattened to 784 values normalized to [-1, 1] (x / 255 * 2 - 1, as Nguyen
    (2019), Sec. 4.2.1, does); labels are one-hot rows over the 10 digits.

    Arguments:
        path: the directory holding the files.
        train_limit, test_limit: keep only the first N samples of each split (small CPU
            presets); None, or a value above the split size, keeps them all.

    Raises:
        FileNotFoundError: a file is missing (the message says what to download, and where).
        ValueError: a file is not a well-formed MNIST IDX file.
    """
    train_limit = _check_limit("mnist: train_limit", train_limit)
    test_limit = _check_limit("mnist: test_limit", test_limit)
    files = _find_mnist_files(_directory("MNIST", path))
    x_train, y_train = _mnist_split(files["x_train"], files["y_train"], train_limit)
    x_test, y_test = _mnist_split(files["x_test"], files["y_test"], test_limit)
    return ArrayData(x_train, y_train, x_test, y_test)


# ---------------------------------------------------------------------------------------
# CIFAR-10 binary version
# ---------------------------------------------------------------------------------------

_CIFAR_PIXELS = 3 * 32 * 32
_CIFAR_RECORD = 1 + _CIFAR_PIXELS
_CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_CIFAR_TEST = "test_batch.bin"
_CIFAR_SUBDIR = "cifar-10-batches-bin"


def write_cifar_batch(path, images_uint8, labels) -> Path:
    """Write a file in the CIFAR-10 binary format: per image, 1 label byte then 3072 pixel bytes.

    Arguments:
        path: the file to write (e.g. ``data_batch_1.bin``).
        images_uint8: (N, 3, 32, 32) channel-major images, or (N, 3072) rows already in that
            order (the R plane, then G, then B, each 32 x 32 row-major); integers in [0, 255].
        labels: (N,) integer classes in [0, 10).

    Returns the path written.
    """
    images = _as_bytes("write_cifar_batch: images_uint8", images_uint8)
    if images.ndim == 4 and images.shape[1:] == (32, 32, 3):
        raise ValueError(
            "write_cifar_batch: images_uint8 has shape (N, 32, 32, 3) (channels last); CIFAR-10 stores "
            "channels first, pass images.transpose(0, 3, 1, 2)"
        )
    if images.shape[1:] not in ((3, 32, 32), (_CIFAR_PIXELS,)):
        raise ValueError(
            f"write_cifar_batch: images_uint8 must be (N, 3, 32, 32) or (N, 3072), got {images.shape}"
        )
    labels = np.asarray(labels)
    if labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"write_cifar_batch: labels must be {images.shape[0]} integers, "
            f"got shape {labels.shape} dtype {labels.dtype}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= CLASSES):
        raise ValueError(
            f"write_cifar_batch: labels must lie in [0, {CLASSES}), got [{labels.min()}, {labels.max()}]"
        )
    records = np.empty((images.shape[0], _CIFAR_RECORD), dtype=np.uint8)
    records[:, 0] = labels
    records[:, 1:] = images.reshape(images.shape[0], -1)
    path = Path(os.fspath(path))
    path.write_bytes(records.tobytes())
    return path


def _cifar_directory(directory: Path) -> Path:
    """``directory`` itself, or its ``cifar-10-batches-bin`` subfolder (what the tarball unpacks to)."""
    names = (*_CIFAR_TRAIN, _CIFAR_TEST)
    candidates = [directory, directory / _CIFAR_SUBDIR]
    present = [sum((c / n).is_file() for n in names) for c in candidates]
    # With neither complete, report against the folder that holds more, which is most
    # likely where the user put the data.
    return candidates[1] if present[1] > present[0] else candidates[0]


def _check_cifar_files(directory: Path, root: Path) -> None:
    missing = [n for n in (*_CIFAR_TRAIN, _CIFAR_TEST) if not (directory / n).is_file()]
    if not missing:
        return
    looked = f"{root} and {root / _CIFAR_SUBDIR}"
    hint = ""
    if (directory / "data_batch_1").is_file() or (root / "cifar-10-batches-py").is_dir():
        # The Python (pickle) version is the more common download; say so rather than
        # leave the user wondering why files that look right are "missing".
        hint = " (found the CIFAR-10 python version; this loader reads the binary version)"
    raise FileNotFoundError(
        f"CIFAR-10: missing {', '.join(missing)} (looked in {looked}){hint}. "
        f"Nothing is downloaded at run time: download the 'CIFAR-10 binary version' "
        f"(cifar-10-binary.tar.gz) from the University of Toronto CIFAR page "
        f"(www.cs.toronto.edu/~kriz/cifar.html), extracted into {root} (it unpacks to "
        f"{_CIFAR_SUBDIR}/; either that folder or its parent may be given)."
    )


def _read_cifar_file(file: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` (default all) records of one batch file: (n, 3072) pixels, (n,) labels."""
    size = file.stat().st_size
    if size == 0 or size % _CIFAR_RECORD:
        raise ValueError(
            f"{file}: size {size} bytes is not a positive multiple of the {_CIFAR_RECORD}-byte CIFAR-10 "
            f"record (1 label byte + {_CIFAR_PIXELS} pixel bytes); the file is truncated or not the "
            f"CIFAR-10 binary version"
        )
    n = size // _CIFAR_RECORD if limit is None else min(limit, size // _CIFAR_RECORD)
    # Reading only the records needed keeps small presets fast on the 30 MB batches.
    records = np.fromfile(file, dtype=np.uint8, count=n * _CIFAR_RECORD).reshape(n, _CIFAR_RECORD)
    labels = records[:, 0]
    if labels.max() >= CLASSES:
        at = int(np.argmax(labels >= CLASSES))
        raise ValueError(
            f"{file}: label {labels[at]} in record {at}; CIFAR-10 labels are 0..{CLASSES - 1} "
            f"(is this a CIFAR-100 file?)"
        )
    return records[:, 1:], labels


def _cifar_split(files: list[Path], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    pixels, labels, count = [], [], 0
    for file in files:
        if limit is not None and count >= limit:
            break
        p, lab = _read_cifar_file(file, None if limit is None else limit - count)
        pixels.append(p)
        labels.append(lab)
        count += lab.shape[0]
    return _normalize(np.concatenate(pixels)), one_hot(np.concatenate(labels), CLASSES)


def cifar10(path, *, train_limit: int | None = None, test_limit: int | None = None) -> ArrayData:
    """CIFAR-10 from the binary version in the local directory ``path``.

    ``path`` holds ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``, or
    holds the ``cifar-10-batches-bin/`` folder that contains them. Each image is flattened to
    3072 values in the file's channel-major order (R plane, G plane, B plane) and normalized
    to [-1, 1] (x / 255 * 2 - 1, as Nguyen (2019), Sec. 4.2.1, does); labels are one-hot rows
    over the 10 classes.

    Arguments:
        path: the directory holding the files (or their ``cifar-10-batches-bin`` folder).
        train_limit, test_limit: keep only the first N samples of each split (small CPU
            presets), reading batches in order and only as far as needed; None, or a value
            above the split size, keeps them all. All six files must be present regardless.

    Raises:
        FileNotFoundError: a file is missing (the message says what to download, and where).
        ValueError: a file is not a well-formed CIFAR-10 binary batch.
    """
    train_limit = _check_limit("cifar10: train_limit", train_limit)
    test_limit = _check_limit("cifar10: test_limit", test_limit)
    root = _directory("CIFAR-10", path)
    directory = _cifar_directory(root)
    _check_cifar_files(directory, root)
    x_train, y_train = _cifar_split([directory / n for n in _CIFAR_TRAIN], train_limit)
    x_test, y_test = _cifar_split([directory / _CIFAR_TEST], test_limit)
    return ArrayData(x_train, y_train, x_test, y_test)
