"""The image datasets: counts, labels and pixels of the real files; checksums; clear errors;
downloads (with the network replaced); the CSV parser."""
import gzip
import io
import os

import numpy as np
import pytest

import autograd as ag
from autograd.data import DataLoader, DatasetIntegrityError, DatasetNotFoundError, datasets
from autograd.data import _files
from autograd.data.datasets import _decode_sign_csv

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
SIGN_TRAIN_COUNTS = [1126, 1010, 1144, 1196, 957, 1204, 1090, 1013, 1162, 1114, 1241, 1055,
                     1151, 1196, 1088, 1279, 1294, 1199, 1186, 1161, 1082, 1225, 1164, 1118]
SIGN_TEST_COUNTS = [331, 432, 310, 245, 498, 247, 348, 436, 288, 331, 209, 394, 291, 246, 347,
                    164, 144, 246, 248, 266, 346, 206, 267, 332]


def _needs(root, folder):
    if not (root / folder).is_dir():
        pytest.skip(f"{root / folder} not found (set AUTOGRAD_DATASETS to the datasets folder)")


@pytest.mark.parametrize("cls, folder, counts, mean", [
    (datasets.MNIST, "mnist", (MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS), (33.3184, 33.7912)),
    (datasets.FashionMNIST, "fashion-mnist", ([6000] * 10, [1000] * 10), (72.9404, 73.1466)),
])
def test_idx_datasets_match_their_published_statistics(datasets_dir, cls, folder, counts, mean):
    _needs(datasets_dir, folder)
    for train, want_counts, want_mean in zip((True, False), counts, mean):
        ds = cls(datasets_dir, train=train)
        assert len(ds) == sum(want_counts) and ds.data.shape == (len(ds), 28, 28)
        assert ds.data.dtype == np.uint8 and ds.targets.dtype == np.int64
        assert np.bincount(ds.targets).tolist() == want_counts
        assert round(float(ds.data.mean()), 4) == want_mean
        assert ds.data.min() == 0 and ds.data.max() == 255 and len(ds.classes) == 10
        image, label = ds[7]
        assert image.shape == (1, 28, 28) and image.dtype == np.float32
        np.testing.assert_array_equal(image[0] * 255, ds.data[7].astype(np.float32))
        assert label == ds.targets[7] and label.dtype == np.int64
    assert datasets.FashionMNIST.classes[9] == "Ankle boot"


def test_mnist_root_may_be_the_folder_itself_and_loads_fast_once_cached(datasets_dir):
    _needs(datasets_dir, "mnist")
    a = datasets.MNIST(datasets_dir / "mnist", train=False)
    b = datasets.MNIST(datasets_dir, train=False)
    assert a.data is b.data  # decoded once per process
    with pytest.raises(ValueError):
        a.data[0, 0, 0] = 1  # shared arrays are read-only


def test_sign_mnist_labels_letters_and_counts(datasets_dir):
    _needs(datasets_dir, "sign-mnist")
    train = datasets.SignMNIST(datasets_dir, train=True)
    test = datasets.SignMNIST(datasets_dir, train=False)
    assert (len(train), len(test)) == (27455, 7172)
    assert np.bincount(train.targets, minlength=24).tolist() == SIGN_TRAIN_COUNTS
    assert np.bincount(test.targets, minlength=24).tolist() == SIGN_TEST_COUNTS
    assert len(train.classes) == 24 and "J" not in train.classes and "Z" not in train.classes
    assert train.classes[8:10] == ("I", "K")  # the file's label 10 (K) is class 9
    assert train.data.min() == 0 and train.data.max() == 255
    image, label = test[0]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert 0 <= image.min() <= image.max() <= 1


def test_loader_over_a_dataset_batches_with_the_transform(datasets_dir):
    _needs(datasets_dir, "mnist")
    seen = []

    def transform(x):
        seen.append(x.shape)
        return x * 2
    ds = datasets.MNIST(datasets_dir, train=False, transform=transform)
    xb, yb = next(iter(DataLoader(ds, batch_size=64, shuffle=True, seed=0)))
    order = np.random.default_rng(0).permutation(10000)[:64]
    np.testing.assert_array_equal(yb.numpy(), ds.targets[order])
    np.testing.assert_allclose(xb.numpy()[:, 0], ds.data[order] / 255 * 2, rtol=1e-6)
    assert seen == [(64, 1, 28, 28)]  # one vectorised call for the batch


# ---- errors -----------------------------------------------------------------------------
def _copy_mnist_test(src, dst, mutate=None):
    """dst/mnist holding the two MNIST test files, the labels changed by `mutate`."""
    (dst / "mnist").mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        data = (src / "mnist" / name).read_bytes()
        if mutate and "labels" in name:
            data = mutate(data)
        (dst / "mnist" / name).write_bytes(data)


def test_missing_files_say_which_what_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        datasets.MNIST(tmp_path, train=False)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and str(tmp_path) in msg
    assert "download=True" in msg and "https://" in msg and "9fb6" not in msg
    assert "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6" in msg
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ag.AutogradError)
    with pytest.raises(DatasetNotFoundError, match=r"train\.csv\.gz or sign_mnist_train\.csv "):
        datasets.SignMNIST(tmp_path)


@pytest.mark.parametrize("mutate, words", [
    (lambda b: b[:-100], ["truncated", "4442 bytes, expected 4542"]),
    (lambda b: b[:500] + bytes([b[500] ^ 1]) + b[501:], ["corrupt", "sha256", "f7ae60f9"]),
    (lambda b: b + b"x", ["too long"]),
])
def test_damaged_files_are_refused(datasets_dir, tmp_path, mutate, words):
    _needs(datasets_dir, "mnist")
    _copy_mnist_test(datasets_dir, tmp_path, mutate)
    with pytest.raises(DatasetIntegrityError) as err:
        datasets.MNIST(tmp_path, train=False)
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "download=True" in msg
    assert all(w in msg for w in words), msg
    assert isinstance(err.value, ValueError)


# ---- downloads, with the network replaced -------------------------------------------------
class _FakeWeb:
    def __init__(self, files):
        self.files, self.requests = files, []

    def __call__(self, url, timeout=60.0):
        self.requests.append(url)
        if url not in self.files:
            raise OSError(f"404 {url}")
        return io.BytesIO(self.files[url])


def test_download_fetches_verifies_and_caches(datasets_dir, tmp_path, monkeypatch):
    _needs(datasets_dir, "mnist")
    images, labels = datasets.MNIST._files["test"]
    good = {spec.urls[1]: (datasets_dir / "mnist" / spec.name).read_bytes()
            for spec in (images, labels)}
    # the first mirror serves damaged bytes, the second the real files
    bad = {spec.urls[0]: b"not the file" for spec in (images, labels)}
    web = _FakeWeb({**good, **bad})
    monkeypatch.setattr(_files, "open_url", web)
    ds = datasets.MNIST(tmp_path, train=False, download=True)
    assert len(ds) == 10000 and np.bincount(ds.targets).tolist() == MNIST_TEST_COUNTS
    assert sorted(os.listdir(tmp_path / "mnist")) == sorted([images.name, labels.name])
    assert len(web.requests) == 4
    datasets.MNIST(tmp_path, train=False, download=True)  # present and verified: no requests
    assert len(web.requests) == 4


def test_download_refuses_wrong_bytes_and_leaves_nothing_behind(tmp_path, monkeypatch):
    images, _ = datasets.MNIST._files["test"]
    web = _FakeWeb({url: b"\x1f\x8b" + b"0" * 100 for url in images.urls})
    monkeypatch.setattr(_files, "open_url", web)
    with pytest.raises(DatasetIntegrityError, match="could not download t10k-images") as err:
        datasets.MNIST(tmp_path, train=False, download=True)
    assert "102 bytes" in str(err.value) and images.sha256 in str(err.value)
    assert os.listdir(tmp_path / "mnist") == []


def test_download_replaces_a_corrupt_file(datasets_dir, tmp_path, monkeypatch):
    _needs(datasets_dir, "mnist")
    _copy_mnist_test(datasets_dir, tmp_path, lambda b: b[:-1])
    _, labels = datasets.MNIST._files["test"]
    web = _FakeWeb({labels.urls[0]: (datasets_dir / "mnist" / labels.name).read_bytes()})
    monkeypatch.setattr(_files, "open_url", web)
    ds = datasets.MNIST(tmp_path, train=False, download=True)
    assert web.requests == [labels.urls[0]] and len(ds.targets) == 10000


def test_sign_mnist_downloads_the_plain_csv_and_reads_either_line_end(datasets_dir, tmp_path,
                                                                       monkeypatch):
    _needs(datasets_dir, "sign-mnist")
    crlf = gzip.decompress((datasets_dir / "sign-mnist" / "sign_mnist_test.csv.gz").read_bytes())
    served = datasets.SignMNIST._files["test"][-1]
    web = _FakeWeb({served.urls[0]: crlf})
    monkeypatch.setattr(_files, "open_url", web)
    fetched = datasets.SignMNIST(tmp_path / "a", train=False, download=True)
    assert (tmp_path / "a" / "sign-mnist" / "sign_mnist_test.csv").stat().st_size == len(crlf)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "sign_mnist_test.csv").write_bytes(crlf.replace(b"\r\n", b"\n"))
    lf = datasets.SignMNIST(tmp_path / "b", train=False)
    assert np.bincount(lf.targets).tolist() == SIGN_TEST_COUNTS
    np.testing.assert_array_equal(lf.data, fetched.data)


# ---- the CSV parser ---------------------------------------------------------------------
def _csv(rows, newline):
    header = "label," + ",".join(f"pixel{i}" for i in range(1, 785))
    return (newline.join([header] + [",".join(map(str, r)) for r in rows]) + newline).encode()


def test_sign_csv_parser_reads_crlf_lf_and_gz_alike(tmp_path):
    rng = np.random.default_rng(0)
    labels = [0, 8, 10, 24]
    rows = [[lab] + rng.integers(0, 256, 784).tolist() for lab in labels]
    (tmp_path / "a.csv").write_bytes(_csv(rows, "\r\n"))
    (tmp_path / "b.csv").write_bytes(_csv(rows, "\n")[:-1])  # no final line end
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(_csv(rows, "\n")))
    for name in ("a.csv", "b.csv", "c.csv.gz"):
        images, targets = _decode_sign_csv(tmp_path / name)
        assert targets.tolist() == [0, 8, 9, 23]
        np.testing.assert_array_equal(images.reshape(4, -1), np.array(rows)[:, 1:])


@pytest.mark.parametrize("rows, match", [
    ([[9] + [0] * 784], "without 9"),
    ([[1] + [256] + [0] * 783], "0..255"),
    ([[1] + [0] * 783], "785"),
    ([[1] + [0] * 785], "785"),
])
def test_sign_csv_parser_refuses_bad_rows(tmp_path, rows, match):
    (tmp_path / "x.csv").write_bytes(_csv(rows, "\n"))
    with pytest.raises(DatasetIntegrityError, match=match):
        _decode_sign_csv(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_bytes(_csv([[1] + [0] * 784], "\n").replace(b",0,", b",0.5,", 1))
    with pytest.raises(DatasetIntegrityError, match="785"):
        _decode_sign_csv(tmp_path / "y.csv")
    (tmp_path / "z.csv").write_bytes(b"no header\n1,2\n")
    with pytest.raises(DatasetIntegrityError, match="header"):
        _decode_sign_csv(tmp_path / "z.csv")


