"""Principal component analysis by the SVD of the centred data."""
from __future__ import annotations

from typing import Union

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .dataset import NotFittedError


class PCA:
    """Project data onto its `n_components` directions of largest variance.

    `n_components` is an int, None (all: min(n_samples, n_features)) or a float in (0, 1): the
    fewest components whose explained variance ratios sum to at least that fraction. Signs are
    deterministic: each component's largest-magnitude coordinate is positive.

    >>> X = np.array([[0.0, 0.0], [2.0, 2.0], [4.0, 4.0]])
    >>> p = PCA(1).fit(X)
    >>> p.components_.round(4).tolist(), p.explained_variance_.tolist()
    ([[0.7071, 0.7071]], [8.0])
    >>> p.inverse_transform(p.transform(X)).round(6).tolist() == X.tolist()
    True
    """

    def __init__(self, n_components: Union[int, float, None] = None) -> None:
        if n_components is not None and not (
                (isinstance(n_components, (int, np.integer)) and n_components >= 1)
                or (isinstance(n_components, float) and 0 < n_components < 1)):
            raise ValueError(f"PCA: n_components must be an int >= 1, a float in (0, 1) or None, "
                             f"got {n_components!r}")
        self.n_components = n_components

    def fit(self, X) -> "PCA":
        a = _matrix("fit", X)
        n, d = a.shape
        if n < 2:
            raise ShapeError(f"PCA.fit: need at least 2 samples, got shape {a.shape}")
        k_max = min(n, d)
        k = self.n_components
        if isinstance(k, (int, np.integer)) and k > k_max:
            raise ShapeError(f"PCA.fit: n_components={k} exceeds min(n_samples, n_features) = "
                             f"{k_max} for data of shape {a.shape}")
        a64 = a.astype(np.float64)
        self.mean_ = a64.mean(axis=0)
        _, s, vt = np.linalg.svd(a64 - self.mean_, full_matrices=False)
        # NOTE: SVD signs are arbitrary; fixing them makes results reproducible across LAPACKs.
        pivots = np.abs(vt).argmax(axis=1)
        vt *= np.sign(vt[np.arange(vt.shape[0]), pivots])[:, None]
        var = s ** 2 / (n - 1)
        total = var.sum()
        ratio = var / total if total > 0 else np.zeros_like(var)
        if k is None:
            k = k_max
        elif isinstance(k, float):
            k = int(np.searchsorted(np.cumsum(ratio), k - 1e-12) + 1)
            k = min(k, k_max)
        self.n_components_ = int(k)
        self.components_ = vt[:k]
        self.explained_variance_ = var[:k]
        self.explained_variance_ratio_ = ratio[:k]
        self.singular_values_ = s[:k]
        self._dtype = a.dtype
        return self

    def _fitted(self, op: str, a: np.ndarray, width: int) -> None:
        if not hasattr(self, "components_"):
            raise NotFittedError(f"PCA.{op}: call fit(training data) first")
        if a.shape[1] != width:
            raise ShapeError(f"PCA.{op}: expected {width} features, got input of shape {a.shape}")

    def transform(self, X):
        a = _matrix("transform", X)
        self._fitted("transform", a, self.mean_.shape[0])
        out = ((a - self.mean_) @ self.components_.T).astype(_out_dtype(a))
        return Tensor._make(out) if isinstance(X, Tensor) else out

    def inverse_transform(self, Z):
        z = _matrix("inverse_transform", Z)
        self._fitted("inverse_transform", z, self.n_components_)
        out = (z @ self.components_ + self.mean_).astype(_out_dtype(z))
        return Tensor._make(out) if isinstance(Z, Tensor) else out

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    __call__ = transform


def _matrix(op: str, X) -> np.ndarray:
    a = np.asarray(X.data if isinstance(X, Tensor) else X)
    if a.ndim != 2:
        raise ShapeError(f"PCA.{op}: expected a 2-d array (n_samples, n_features), "
                         f"got shape {a.shape}")
    return a


def _out_dtype(a: np.ndarray) -> np.dtype:
    return a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)


