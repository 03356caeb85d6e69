"""The image datasets of the lectures: MNIST, Fashion-MNIST and Sign Language MNIST.

Each reads the published files from `root` (or `root/<folder>`, e.g. `root/mnist`), checks
their SHA-256 against the values embedded below, decodes them once per process, and serves
`(image, label)`: the image float32 (1, 28, 28) in [0, 1], the label an int64 class index.
`.data` (uint8, (N, 28, 28), read-only) and `.targets` (int64, (N,)) hold the whole split for
vectorised use. `download=True` fetches missing or bad files from the public mirrors, verified.
"""
from __future__ import annotations

import pathlib
import warnings
from typing import Callable, Optional, Tuple, Union

import numpy as np

from ._files import (DatasetIntegrityError, DatasetNotFoundError, FileSpec, cached, check_file,
                     default_root, download, locate)
from .dataset import Dataset

__all__ = ["MNIST", "FashionMNIST", "SignMNIST", "DatasetNotFoundError", "DatasetIntegrityError"]

_NEWLINE_TO_COMMA = bytes.maketrans(b"\n", b",")
_SCALE = np.arange(256, dtype=np.float32) / np.float32(255)  # uint8 -> [0, 1] by table lookup


class _ImageDataset(Dataset):
    folder = ""
    classes: Tuple[str, ...] = ()
    _files: dict = {}

    def __init__(self, root: Union[str, pathlib.Path, None] = None, train: bool = True,
                 download: bool = False, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None) -> None:
        self.root = pathlib.Path(root) if root is not None else default_root()
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        self.data, self.targets = self._load(self._files["train" if train else "test"], download)

    def _read(self, choices: Tuple[FileSpec, ...], fetch: bool, decode):
        owner = type(self).__name__
        dirs = [self.root / self.folder, self.root]
        try:
            path, _ = locate(owner, dirs, choices)
        except DatasetNotFoundError:
            if not fetch:
                raise
            path = download(owner, choices[-1], self.root / self.folder)

        def verified_decode(p: pathlib.Path):
            check_file(owner, p, [s for s in choices if s.name == p.name])
            return decode(p)

        try:
            return cached(path, verified_decode)
        except DatasetIntegrityError:
            if not fetch:
                raise
            # choices[-1] is the form the mirrors serve
            return cached(download(owner, choices[-1], path.parent), verified_decode)

    def __len__(self) -> int:
        return self.targets.shape[0]

    def __getitem__(self, index):
        image = _SCALE[self.data[index]][None]
        label = self.targets[index]
        return self._apply(image, label)

    def __getitems__(self, indices: np.ndarray) -> tuple:
        # One gather for the batch; the transform sees the whole batch (N, 1, 28, 28).
        return self._apply(_SCALE[self.data[indices]][:, None], self.targets[indices])

    def _apply(self, image, label):
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(root={str(self.root)!r}, {split}, {len(self)} images)"


# ---- IDX (MNIST, Fashion-MNIST) ---------------------------------------------------------------
def _decode_idx(path: pathlib.Path, ndim: int) -> np.ndarray:
    import gzip  # here, not at the top: `import autograd` stays lean

    raw = gzip.decompress(path.read_bytes())
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else -1
    if magic != 0x0800 | ndim:
        raise DatasetIntegrityError(f"{path}: not an IDX file of uint8 with {ndim} dimensions "
                                    f"(magic {magic:#010x}, expected {0x0800 | ndim:#010x})")
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(dims)):
        raise DatasetIntegrityError(f"{path}: IDX header says {dims}, which needs "
                                    f"{header + int(np.prod(dims))} bytes, found {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


class _IDXDataset(_ImageDataset):
    def _load(self, pair, fetch: bool):
        images = self._read((pair[0],), fetch, lambda p: _decode_idx(p, 3))
        labels = self._read((pair[1],), fetch, lambda p: _decode_idx(p, 1).astype(np.int64))
        if images.shape[0] != labels.shape[0]:
            raise DatasetIntegrityError(f"{type(self).__name__}: {images.shape[0]} images but "
                                        f"{labels.shape[0]} labels")
        labels.setflags(write=False)
        return images, labels


def _idx_files(base_urls, checksums) -> dict:
    specs = {name: FileSpec(name, size, sha, tuple(u + name for u in base_urls))
             for name, (size, sha) in checksums.items()}
    return {"train": (specs["train-images-idx3-ubyte.gz"], specs["train-labels-idx1-ubyte.gz"]),
            "test": (specs["t10k-images-idx3-ubyte.gz"], specs["t10k-labels-idx1-ubyte.gz"])}


class MNIST(_IDXDataset):
    """The MNIST handwritten digits: 60000 training and 10000 test images, classes 0..9."""
    folder = "mnist"
    classes = tuple(str(d) for d in range(10))
    _files = _idx_files(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",
         "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        {"train-images-idx3-ubyte.gz":
            (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
         "train-labels-idx1-ubyte.gz":
            (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
         "t10k-images-idx3-ubyte.gz":
            (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
         "t10k-labels-idx1-ubyte.gz":
            (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")})


class FashionMNIST(_IDXDataset):
    """Zalando's Fashion-MNIST: 60000 training and 10000 test images of 10 kinds of clothing."""
    folder = "fashion-mnist"
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
    _files = _idx_files(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        {"train-images-idx3-ubyte.gz":
            (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
         "train-labels-idx1-ubyte.gz":
            (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
         "t10k-images-idx3-ubyte.gz":
            (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
         "t10k-labels-idx1-ubyte.gz":
            (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5")})


# ---- CSV (Sign Language MNIST) ----------------------------------------------------------------
def _decode_sign_csv(path: pathlib.Path) -> Tuple[np.ndarray, np.ndarray]:
    """label,pixel1..pixel784 rows of integers 0..255 (CRLF or LF line ends)."""
    text = path.read_bytes()
    if path.suffix == ".gz":
        import gzip

        text = gzip.decompress(text)
    start = text.find(b"\n") + 1
    if not text.startswith(b"label,pixel1,") or start == 0:
        raise DatasetIntegrityError(f"{path}: expected a header row 'label,pixel1,...,pixel784'")
    body = text[start:]
    lines = body.count(b"\n") + (len(body) > 0 and not body.endswith(b"\n"))
    # numpy's C text parser, once line ends are commas (a '\r' left over counts as blank), reads
    # the 83 MB training file in about a second; a CSV module takes many.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # older numpy warns and stops early; the count sees it
            values = np.fromstring(body.translate(_NEWLINE_TO_COMMA), dtype=np.int32, sep=",")
    except ValueError:  # newer numpy raises on text that is not an integer
        values = np.zeros(0, dtype=np.int32)
    if values.size != lines * 785 or values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise DatasetIntegrityError(f"{path}: expected {lines} data rows of 785 integers 0..255 "
                                    f"(label, then 784 pixels), read {values.size} values")
    rows = values.reshape(-1, 785)
    images = rows[:, 1:].astype(np.uint8).reshape(-1, 28, 28)
    labels = rows[:, 0].astype(np.int64)
    if np.isin(labels, (9, 25)).any() or labels.max(initial=0) > 24:
        raise DatasetIntegrityError(f"{path}: labels must be 0..24 without 9 (J) and 25 (Z)")
    labels -= labels > 9  # close the gap left by J: 0..24 -> 0..23
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


_SIGN_REPO = ("https://raw.githubusercontent.com/16snathan/18794-final-project/"
              "1143857e16004ead4ee57a3e50b80b09ee39caa8/")
_SIGN_PAGE = "https://www.kaggle.com/datasets/datamunge/sign-language-mnist"


def _sign_files(split: str, gz: tuple, crlf: tuple, lf: tuple) -> Tuple[FileSpec, ...]:
    name = f"sign_mnist_{split}.csv"
    return (FileSpec(name + ".gz", *gz, (_SIGN_PAGE,)),
            FileSpec(name, *lf, (_SIGN_PAGE,)),
            FileSpec(name, *crlf, (_SIGN_REPO + name, _SIGN_PAGE)))


class SignMNIST(_ImageDataset):
    """Sign Language MNIST (the American alphabet in hand signs): 27455 training and 7172 test
    images; 24 classes, the letters A..Y without J (J and Z need motion). Labels are 0..23,
    `classes` names the letters. Reads `sign_mnist_{train,test}.csv.gz` or the plain `.csv`
    (with CRLF or LF line ends, as both circulate)."""
    folder = "sign-mnist"
    classes = tuple(chr(ord("A") + i) for i in range(25) if i != 9)
    _files = {
        "train": _sign_files(
            "train",
            (23594322, "0f49c09740db130b21d5c6a3d21af62ca57a5763e28db012437a4bdd3874df4a"),
            (83281065, "4c2897f19fab2b0ae2a7e4fa82e969043315d9f3a1a9cc0948b576bf1189a7e5"),
            (83253609, "b7ff39ad5f1210fa765ce11aa5f20c2e97fe467ffc22231aac923c863eef75c4")),
        "test": _sign_files(
            "test",
            (6126288, "fbd4604f78ddf95189da6d0812993d0f398d8422fbdfe59617e336c973a1c036"),
            (21777485, "0e9d67bae23e67f40728e0b63bf15ad4bd5175947b8a9fac5dd9f17ce133c47b"),
            (21770312, "178c0dd21c4b0e86d58df12f14ea1e9efa795ad19d146802b3b28094a16d56ae")),
    }

    def _load(self, choices, fetch: bool):
        return self._read(choices, fetch, _decode_sign_csv)
