"""Local-file loaders: MNIST (IDX), CIFAR-10 (binary version) and plain arrays (.npz / .npy), on tiny
generated files."""

from __future__ import annotations

import gzip
import re
import sys

import numpy as np
import pytest

from mfspec.data import ArrayData, arrays, cifar10, digits, mnist
from mfspec.data._files import write_cifar_batch, write_idx

MNIST_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
CIFAR_TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]


def _images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random bytes with both normalization endpoints (0 and 255) always present."""
    imgs = np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    imgs.reshape(n, -1)[0, :2] = (0, 255)
    return imgs


def _write_mnist(directory, n_train=5, n_test=3, gz=False, skip=()):
    suffix = ".gz" if gz else ""
    arrays = {
        "x_train": _images(n_train, (28, 28), 0),
        "y_train": np.arange(n_train, dtype=np.uint8) % 10,
        "x_test": _images(n_test, (28, 28), 1),
        "y_test": (9 - np.arange(n_test, dtype=np.uint8)) % 10,
    }
    for key, arr in arrays.items():
        if key not in skip:
            write_idx(directory / (MNIST_NAMES[key] + suffix), arr)
    return arrays


def _write_cifar(directory, per_batch=2, n_test=3, skip=()):
    directory.mkdir(parents=True, exist_ok=True)
    train_x, train_y = [], []
    for i, name in enumerate(CIFAR_TRAIN):
        imgs = _images(per_batch, (3, 32, 32), 10 + i)
        labels = (np.arange(per_batch) + i) % 10
        if name not in skip:
            write_cifar_batch(directory / name, imgs, labels)
        train_x.append(imgs)
        train_y.append(labels)
    test_x, test_y = _images(n_test, (3, 32, 32), 20), np.arange(n_test) % 10
    if "test_batch.bin" not in skip:
        write_cifar_batch(directory / "test_batch.bin", test_x, test_y)
    return np.concatenate(train_x), np.concatenate(train_y), test_x, test_y


def _expected_x(imgs: np.ndarray) -> np.ndarray:
    return imgs.reshape(imgs.shape[0], -1).astype(np.float32) / 255 * 2 - 1


def _idx_header(dtype_code: int, *dims: int, magic: bytes = b"\x00\x00") -> bytes:
    return magic + bytes([dtype_code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


# --------------------------------------------------------------------------- MNIST


def test_mnist_round_trip(tmp_path):
    arrays = _write_mnist(tmp_path)
    data = mnist(tmp_path)
    assert isinstance(data, ArrayData)
    assert data.x_train.shape == (5, 784) and data.x_test.shape == (3, 784)
    np.testing.assert_allclose(np.asarray(data.x_train), _expected_x(arrays["x_train"]), rtol=0, atol=1e-7)
    np.testing.assert_allclose(np.asarray(data.x_test), _expected_x(arrays["x_test"]), rtol=0, atol=1e-7)
    # Pixel 0 → exactly -1 and 255 → exactly 1 (Sec. 4.2.1 normalization).
    assert float(data.x_train[0, 0]) == -1.0 and float(data.x_train[0, 1]) == 1.0
    assert float(data.x_train.min()) >= -1.0 and float(data.x_train.max()) <= 1.0
    np.testing.assert_array_equal(np.asarray(data.y_train), np.eye(10, dtype=np.float32)[arrays["y_train"]])
    np.testing.assert_array_equal(np.asarray(data.y_test).argmax(1), arrays["y_test"])
    assert data.outputs == 10 and data.input_dim == 784


def test_mnist_hand_built_bytes(tmp_path):
    # Built byte by byte, independently of write_idx: image 0 is all 0 except pixel
    # (0, 1) = 255 and (27, 27) = 51; image 1 is all 255. Labels 7 and 0.
    img0 = bytearray(784)
    img0[1], img0[783] = 255, 51
    images = _idx_header(0x08, 2, 28, 28) + bytes(img0) + b"\xff" * 784
    assert images[:4] == b"\x00\x00\x08\x03" and len(images) == 16 + 2 * 784
    labels = b"\x00\x00\x08\x01" + b"\x00\x00\x00\x02" + bytes([7, 0])
    for split in ("train", "t10k"):
        (tmp_path / f"{split}-images-idx3-ubyte").write_bytes(images)
        (tmp_path / f"{split}-labels-idx1-ubyte").write_bytes(labels)
    data = mnist(tmp_path)
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    assert x[0, 0] == -1.0 and x[0, 1] == 1.0 and x[0, 783] == pytest.approx(51 / 255 * 2 - 1)
    assert (x[1] == 1.0).all()
    np.testing.assert_array_equal(y.argmax(1), [7, 0])
    assert (y.sum(1) == 1).all()


def test_write_idx_bytes(tmp_path):
    path = write_idx(tmp_path / "a", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8))
    assert path.read_bytes() == _idx_header(0x08, 2, 3) + bytes([1, 2, 3, 4, 5, 6])


def test_mnist_gz(tmp_path):
    arrays = _write_mnist(tmp_path, gz=True)
    assert gzip.decompress((tmp_path / "train-labels-idx1-ubyte.gz").read_bytes())[:4] == b"\x00\x00\x08\x01"
    data = mnist(str(tmp_path))
    np.testing.assert_allclose(np.asarray(data.x_train), _expected_x(arrays["x_train"]), rtol=0, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(data.y_test).argmax(1), arrays["y_test"])


def test_mnist_gz_name_with_plain_content(tmp_path):
    # A browser that decompressed the download but kept the ".gz" name.
    arrays = _write_mnist(tmp_path)
    for name in MNIST_NAMES.values():
        (tmp_path / name).rename(tmp_path / f"{name}.gz")
    data = mnist(tmp_path)
    np.testing.assert_array_equal(np.asarray(data.y_train).argmax(1), arrays["y_train"])


def test_mnist_limits(tmp_path):
    arrays = _write_mnist(tmp_path, n_train=6, n_test=4)
    data = mnist(tmp_path, train_limit=2, test_limit=3)
    assert data.x_train.shape == (2, 784) and data.x_test.shape == (3, 784)
    np.testing.assert_allclose(
        np.asarray(data.x_train), _expected_x(arrays["x_train"][:2]), rtol=0, atol=1e-7
    )
    np.testing.assert_array_equal(np.asarray(data.y_test).argmax(1), arrays["y_test"][:3])
    assert mnist(tmp_path, train_limit=100).x_train.shape == (6, 784)
    with pytest.raises(ValueError, match="train_limit"):
        mnist(tmp_path, train_limit=0)


def test_mnist_missing_files(tmp_path):
    _write_mnist(tmp_path, skip=("y_train", "x_test"))
    with pytest.raises(FileNotFoundError) as info:
        mnist(tmp_path)
    msg = str(info.value)
    assert "train-labels-idx1-ubyte" in msg and "t10k-images-idx3-ubyte" in msg
    assert "missing train-images" not in msg and str(tmp_path) in msg and "download" in msg


def test_mnist_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="download"):
        mnist(tmp_path / "nowhere")


def test_mnist_bad_magic(tmp_path):
    _write_mnist(tmp_path)
    bad = tmp_path / MNIST_NAMES["x_train"]
    bad.write_bytes(b"\x12\x34" + bad.read_bytes()[2:])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*magic number 0x12340803"):
        mnist(tmp_path)


def test_mnist_bad_dtype(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / MNIST_NAMES["y_test"]).write_bytes(_idx_header(0x0D, 3) + bytes(12))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.*0x0D"):
        mnist(tmp_path)


def test_mnist_truncated(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / MNIST_NAMES["x_test"]
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: truncated"):
        mnist(tmp_path)
    path.write_bytes(path.read_bytes()[:9])  # inside the header
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: truncated"):
        mnist(tmp_path)
    write_idx(path, np.zeros((3, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")  # longer than its header says
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: 1 bytes past the end"):
        mnist(tmp_path)


def test_mnist_truncated_gz(tmp_path):
    _write_mnist(tmp_path, gz=True)
    path = tmp_path / (MNIST_NAMES["x_train"] + ".gz")
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.gz: truncated or corrupt gzip"):
        mnist(tmp_path)


def test_mnist_label_out_of_range(tmp_path):
    _write_mnist(tmp_path)
    write_idx(tmp_path / MNIST_NAMES["y_train"], np.array([0, 1, 10, 3, 4], dtype=np.uint8))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: label 10 at index 2"):
        mnist(tmp_path)


def test_mnist_size_mismatches(tmp_path):
    _write_mnist(tmp_path)
    write_idx(tmp_path / MNIST_NAMES["y_train"], np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match="4 labels but train-images-idx3-ubyte holds 5 images"):
        mnist(tmp_path)
    _write_mnist(tmp_path)
    write_idx(tmp_path / MNIST_NAMES["x_test"], np.zeros((3, 27, 27), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: expected images of shape"):
        mnist(tmp_path)


def test_write_idx_rejects_non_bytes(tmp_path):
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        write_idx(tmp_path / "a", np.array([0, 256]))
    with pytest.raises(ValueError, match="dtype float"):
        write_idx(tmp_path / "a", np.array([0.5]))


# --------------------------------------------------------------------------- CIFAR-10


def test_cifar_round_trip(tmp_path):
    x_tr, y_tr, x_te, y_te = _write_cifar(tmp_path)
    data = cifar10(tmp_path)
    assert isinstance(data, ArrayData)
    assert data.x_train.shape == (10, 3072) and data.x_test.shape == (3, 3072)
    np.testing.assert_allclose(np.asarray(data.x_train), _expected_x(x_tr), rtol=0, atol=1e-7)
    np.testing.assert_allclose(np.asarray(data.x_test), _expected_x(x_te), rtol=0, atol=1e-7)
    assert float(data.x_train[0, 0]) == -1.0 and float(data.x_train[0, 1]) == 1.0
    # Channel-major order kept: value 1024 is the green plane's top-left pixel.
    assert float(data.x_test[1, 1024]) == pytest.approx(x_te[1, 1, 0, 0] / 255 * 2 - 1)
    np.testing.assert_array_equal(np.asarray(data.y_train), np.eye(10, dtype=np.float32)[y_tr])
    np.testing.assert_array_equal(np.asarray(data.y_test).argmax(1), y_te)


def test_cifar_hand_built_bytes(tmp_path):
    # Independent of write_cifar_batch: record = label byte, then R, G, B planes.
    red = bytes([255]) + bytes(1023)  # red top-left pixel at full intensity
    green = bytes(1024)
    blue = bytes([0] * 1023 + [51])  # blue bottom-right pixel
    record_a = bytes([3]) + red + green + blue
    record_b = bytes([9]) + b"\xff" * 3072
    assert len(record_a) == len(record_b) == 3073
    for name in [*CIFAR_TRAIN, "test_batch.bin"]:
        (tmp_path / name).write_bytes(record_a + record_b)
    data = cifar10(tmp_path)
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    assert x.shape == (10, 3072)
    assert x[0, 0] == 1.0 and x[0, 1] == -1.0 and x[0, 1024] == -1.0
    assert x[0, 3071] == pytest.approx(51 / 255 * 2 - 1)
    assert (x[1] == 1.0).all()
    np.testing.assert_array_equal(y.argmax(1), [3, 9] * 5)


def test_write_cifar_batch_bytes(tmp_path):
    imgs = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    imgs[0, 2, 31, 31] = 7
    raw = write_cifar_batch(tmp_path / "b.bin", imgs, [4]).read_bytes()
    assert raw == bytes([4]) + bytes(3071) + bytes([7])


def test_cifar_subfolder(tmp_path):
    _, y_tr, _, _ = _write_cifar(tmp_path / "cifar-10-batches-bin")
    data = cifar10(tmp_path)
    np.testing.assert_array_equal(np.asarray(data.y_train).argmax(1), y_tr)
    assert cifar10(tmp_path / "cifar-10-batches-bin").x_train.shape == (10, 3072)


def test_cifar_limits(tmp_path):
    x_tr, y_tr, x_te, _ = _write_cifar(tmp_path, per_batch=2, n_test=4)
    data = cifar10(tmp_path, train_limit=3, test_limit=1)  # crosses the batch 1 / 2 boundary
    assert data.x_train.shape == (3, 3072) and data.x_test.shape == (1, 3072)
    np.testing.assert_allclose(np.asarray(data.x_train), _expected_x(x_tr[:3]), rtol=0, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(data.y_train).argmax(1), y_tr[:3])
    np.testing.assert_allclose(np.asarray(data.x_test), _expected_x(x_te[:1]), rtol=0, atol=1e-7)
    assert cifar10(tmp_path, train_limit=1000).x_train.shape == (10, 3072)
    with pytest.raises(ValueError, match="test_limit"):
        cifar10(tmp_path, test_limit=-1)


def test_cifar_missing_files(tmp_path):
    _write_cifar(tmp_path, skip=("data_batch_4.bin", "test_batch.bin"))
    with pytest.raises(FileNotFoundError) as info:
        cifar10(tmp_path, train_limit=1)  # all files are required even when one suffices
    msg = str(info.value)
    assert "data_batch_4.bin" in msg and "test_batch.bin" in msg and "data_batch_1.bin" not in msg
    assert str(tmp_path) in msg and "download" in msg and "binary version" in msg


def test_cifar_missing_reports_subfolder(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-bin", skip=("data_batch_2.bin",))
    with pytest.raises(FileNotFoundError, match=r"missing data_batch_2\.bin \(looked in"):
        cifar10(tmp_path)


def test_cifar_python_version_hint(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(FileNotFoundError, match="python version; this loader reads the binary version"):
        cifar10(tmp_path)


def test_cifar_truncated(tmp_path):
    _write_cifar(tmp_path)
    path = tmp_path / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(
        ValueError, match=r"data_batch_3\.bin: size 6145 bytes is not a positive multiple of the 3073"
    ):
        cifar10(tmp_path)


def test_cifar_label_out_of_range(tmp_path):
    _write_cifar(tmp_path)
    raw = bytearray((tmp_path / "test_batch.bin").read_bytes())
    raw[3073] = 10  # label byte of record 1
    (tmp_path / "test_batch.bin").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"test_batch\.bin: label 10 in record 1"):
        cifar10(tmp_path)


def test_write_cifar_batch_validates(tmp_path):
    with pytest.raises(ValueError, match="channels last"):
        write_cifar_batch(tmp_path / "b.bin", np.zeros((1, 32, 32, 3), dtype=np.uint8), [0])
    with pytest.raises(ValueError, match="labels must lie"):
        write_cifar_batch(tmp_path / "b.bin", np.zeros((1, 3072), dtype=np.uint8), [10])
    with pytest.raises(ValueError, match="labels must be 1 integers"):
        write_cifar_batch(tmp_path / "b.bin", np.zeros((1, 3072), dtype=np.uint8), [0, 1])


# --------------------------------------------------------------------------- plain arrays (.npz / .npy)


def _int_task():
    """Train labels 0..2, test labels reaching 3: the inferred number of classes is 4."""
    rng = np.random.default_rng(5)
    return {
        "x_train": rng.normal(size=(6, 2, 3)).astype(np.float32),  # images of shape (2, 3): d = 6
        "y_train": np.array([0, 1, 2, 0, 1, 2]),
        "x_test": rng.normal(size=(3, 2, 3)).astype(np.float32),
        "y_test": np.array([3, 0, 1], dtype=np.int32),
    }


def test_arrays_npz_integer_labels(tmp_path):
    a = _int_task()
    np.savez(tmp_path / "task.npz", **a)
    data = arrays(tmp_path / "task.npz")
    assert isinstance(data, ArrayData) and data.input_dim == 6 and data.outputs == 4
    np.testing.assert_array_equal(np.asarray(data.x_train), a["x_train"].reshape(6, 6))
    np.testing.assert_array_equal(np.asarray(data.x_test), a["x_test"].reshape(3, 6))
    np.testing.assert_array_equal(
        np.asarray(data.y_train),
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]],
    )
    np.testing.assert_array_equal(np.asarray(data.y_test), [[0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]])
    wide = arrays(str(tmp_path / "task.npz"), classes=10)
    assert wide.outputs == 10 and np.asarray(wide.y_test)[0, 3] == 1 and np.asarray(wide.y_test).sum() == 3


def test_arrays_float_targets_are_kept(tmp_path):
    x = np.arange(8, dtype=np.float64).reshape(4, 2)
    np.savez(tmp_path / "pm.npz", x_train=x, y_train=np.array([1.0, -1.0, -1.0, 1.0]))
    data = arrays(tmp_path / "pm.npz")
    assert data.outputs == 1 and data.x_test is None
    np.testing.assert_array_equal(np.asarray(data.y_train), [[1.0], [-1.0], [-1.0], [1.0]])
    np.testing.assert_array_equal(np.asarray(data.x_train), x)
    y2 = np.array([[0.5, 2.0], [1.0, -3.0], [0.0, 0.0], [7.0, 1.5]], dtype=np.float32)
    np.savez(tmp_path / "reg.npz", x_train=x, y_train=y2)
    np.testing.assert_array_equal(np.asarray(arrays(tmp_path / "reg.npz").y_train), y2)


def test_arrays_npy_folder_and_prefix(tmp_path):
    a = _int_task()
    (tmp_path / "folder").mkdir()
    for k, v in a.items():
        np.save(tmp_path / "folder" / f"{k}.npy", v)
        np.save(tmp_path / f"my_{k}.npy", v)
    for path in (tmp_path / "folder", tmp_path / "my"):
        data = arrays(path)
        assert data.x_train.shape == (6, 6) and data.x_test.shape == (3, 6) and data.outputs == 4
        np.testing.assert_array_equal(np.asarray(data.y_test).argmax(1), [3, 0, 1])


def test_arrays_test_option(tmp_path):
    a = _int_task()
    np.savez(tmp_path / "both.npz", **a)
    np.savez(tmp_path / "train.npz", x_train=a["x_train"], y_train=a["y_train"])
    assert arrays(tmp_path / "train.npz").x_test is None
    only_train = arrays(tmp_path / "both.npz", test=False)
    assert only_train.x_test is None and only_train.outputs == 3  # classes from the train labels only
    assert arrays(tmp_path / "both.npz", test=True).x_test.shape == (3, 6)
    with pytest.raises(ValueError, match=r"test=True but file .*train\.npz lacks arrays x_test, y_test"):
        arrays(tmp_path / "train.npz", test=True)
    with pytest.raises(TypeError, match="test must be None, True or False"):
        arrays(tmp_path / "both.npz", test=100)


def test_arrays_missing_file_and_arrays(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.npz not found"):
        arrays(tmp_path / "nowhere.npz")
    a = _int_task()
    np.savez(tmp_path / "noy.npz", x_train=a["x_train"])
    with pytest.raises(ValueError, match=r"noy\.npz lacks array y_train"):
        arrays(tmp_path / "noy.npz")
    np.savez(tmp_path / "half.npz", x_train=a["x_train"], y_train=a["y_train"], x_test=a["x_test"])
    with pytest.raises(ValueError, match=r"half\.npz has x_test but lacks array y_test"):
        arrays(tmp_path / "half.npz")
    assert arrays(tmp_path / "half.npz", test=False).x_test is None
    np.save(tmp_path / "p_x_train.npy", a["x_train"])
    with pytest.raises(FileNotFoundError) as info:
        arrays(tmp_path / "p")
    msg = str(info.value)
    assert "y_train" in msg and str(tmp_path / "p_y_train.npy") in msg and "p_x_train.npy" not in msg
    np.save(tmp_path / "p_y_train.npy", a["y_train"])
    np.save(tmp_path / "p_y_test.npy", a["y_test"])
    with pytest.raises(ValueError, match=r"has y_test but lacks x_test \(.*p_x_test\.npy\)"):
        arrays(tmp_path / "p")


def test_arrays_bad_labels(tmp_path):
    x = np.zeros((3, 2), np.float32)
    cases = {
        "neg": (np.array([0, -1, 1]), {}, r"y_train holds the negative label -1 at index 1"),
        "big": (
            np.array([0, 5, 1]),
            {"classes": 3},
            r"y_train holds the label 5 at index 1, outside \[0, classes=3\)",
        ),
        "int2d": (np.zeros((3, 2), np.int64), {}, r"integer y_train must be class indices of shape \(N,\)"),
        "short": (np.array([0, 1]), {}, r"y_train must have shape \(3,\) or \(3, k\)"),
        "floatk": (np.ones(3), {"classes": 2}, r"classes=2 is for integer labels"),
    }
    for name, (y, kw, pattern) in cases.items():
        np.savez(tmp_path / f"{name}.npz", x_train=x, y_train=y)
        with pytest.raises(ValueError, match=pattern):
            arrays(tmp_path / f"{name}.npz", **kw)
    np.savez(tmp_path / "mixed.npz", x_train=x, y_train=np.array([0, 1, 0]), x_test=x, y_test=np.ones(3))
    with pytest.raises(ValueError, match="y_train is int64 but y_test is float64"):
        arrays(tmp_path / "mixed.npz")
    with pytest.raises(ValueError, match="classes must be a positive int, got 0"):
        arrays(tmp_path / "mixed.npz", classes=0)


def test_digits_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # `import` of it now raises ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'mfspec[digits]'")):
        digits()
