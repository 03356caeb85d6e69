"""Datasets: indexable collections of samples, each sample a tuple of numpy arrays."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import AutogradError, ShapeError
from ..tensor import Tensor


class NotFittedError(AutogradError, RuntimeError):
    """A fitted transform (Standardize, MinMaxScale, PCA) used before `fit`."""


class Dataset:
    """A map-style dataset: `len(ds)` samples, `ds[i]` one sample (a tuple of arrays).

    A subclass that can gather many samples at once defines `__getitems__(indices)` returning a
    tuple of batched arrays; `DataLoader` then takes a whole batch with one index array.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")

    def __getitem__(self, index: int):
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")


def _as_array(a) -> np.ndarray:
    if isinstance(a, Tensor):
        return np.asarray(a.data)
    return np.asarray(a)


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays (numpy arrays or Tensors).

    >>> import numpy as np
    >>> ds = TensorDataset(np.zeros((3, 2)), np.arange(3))
    >>> len(ds), ds[1][1]
    (3, np.int64(1))
    """

    def __init__(self, *arrays) -> None:
        if not arrays:
            raise ShapeError("TensorDataset: give at least one array")
        self.arrays = tuple(_as_array(a) for a in arrays)
        for i, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ShapeError(f"TensorDataset: array {i} is 0-d; each array needs a first "
                                 "(sample) axis")
        lengths = [a.shape[0] for a in self.arrays]
        if len(set(lengths)) > 1:
            shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
            raise ShapeError(f"TensorDataset: arrays must have the same first dimension, "
                             f"got {shapes}")

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def __getitems__(self, indices: np.ndarray) -> tuple:
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order (for splits and cross-validation)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(f"Subset: indices out of range for a dataset of {n} samples")

    def __len__(self) -> int:
        return self.indices.shape[0]

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices: np.ndarray) -> tuple:
        return fetch_batch(self.dataset, self.indices[indices])


def fetch_batch(dataset, indices: np.ndarray) -> tuple:
    """The samples at `indices` stacked along a new first axis, one array per field."""
    getitems = getattr(dataset, "__getitems__", None)
    if getitems is not None:
        return tuple(getitems(indices))
    samples = [dataset[int(i)] for i in indices]
    if not samples:
        raise ValueError("fetch_batch: empty batch from a dataset without __getitems__")
    if not isinstance(samples[0], tuple):
        return (np.stack([_as_array(s) for s in samples]),)
    return tuple(np.stack([_as_array(s[k]) for s in samples]) for k in range(len(samples[0])))
