"""Seeded synthetic data for the lectures' small problems; each returns numpy (X, y).

Features are float32 (the default dtype of the library), class labels int64. `seed` is an int,
a numpy Generator, or None (then the global generator of `ag.manual_seed` is used).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..creation import Seed, generator_from



def _check_n(fn: str, n_samples: int, minimum: int = 1) -> int:
    if int(n_samples) != n_samples or n_samples < minimum:
        raise ValueError(f"{fn}: n_samples must be an integer >= {minimum}, got {n_samples!r}")
    return int(n_samples)


def make_linear(n_samples: int = 100, n_features: int = 1, coef: Optional[Sequence[float]] = None,
                bias: float = 0.0, noise: float = 0.0, seed: Seed = None,
                return_coef: bool = False, dtype=np.float32):
    """A linear regression problem y = X @ coef + bias + noise * N(0, 1).

    X is standard normal (n_samples, n_features); `coef` defaults to draws from U(-5, 5) (give it
    to pose a known problem, e.g. the price of a house from its size and rooms). With
    `return_coef=True` the result is (X, y, coef), coef the true coefficients as float64.

    >>> X, y, w = make_linear(4, 2, coef=[2.0, -1.0], bias=3.0, seed=0, return_coef=True)
    >>> X.shape, y.shape, w.tolist()
    ((4, 2), (4,), [2.0, -1.0])
    >>> bool(abs(y - (X @ w + 3.0)).max() < 1e-5)
    True
    """
    n = _check_n("make_linear", n_samples)
    rng = generator_from(seed)
    X = rng.standard_normal((n, int(n_features)))
    if coef is None:
        w = rng.uniform(-5.0, 5.0, int(n_features))
    else:
        w = np.asarray(coef, dtype=np.float64).reshape(-1)
        if w.shape[0] != n_features:
            raise ValueError(f"make_linear: coef has {w.shape[0]} values for {n_features} features")
    y = X @ w + float(bias)
    if noise:
        y = y + float(noise) * rng.standard_normal(n)
    X, y = X.astype(dtype), y.astype(dtype)
    return (X, y, w) if return_coef else (X, y)


def make_xor(n_samples: int = 4, noise: float = 0.0, seed: Seed = None, shuffle: bool = False):
    """The XOR problem: points at the corners of the unit square (plus N(0, noise) jitter),
    labelled x0 XOR x1. Corners cycle (0,0), (0,1), (1,0), (1,1), so `make_xor()` is exactly
    the truth table.

    >>> X, y = make_xor()
    >>> X.tolist(), y.tolist()
    ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
    """
    n = _check_n("make_xor", n_samples)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    idx = np.arange(n) % 4
    rng = generator_from(seed) if (noise or shuffle) else None
    if shuffle:
        idx = rng.permutation(idx)
    X = corners[idx]
    if noise:
        X = X + float(noise) * rng.standard_normal(X.shape)
    y = (idx == 1) | (idx == 2)
    return X.astype(np.float32), y.astype(np.int64)


def make_spirals(n_samples: int = 300, n_classes: int = 2, noise: float = 0.2,
                 turns: float = 0.75, seed: Seed = None):
    """Interleaved spiral arms, one per class (the CS231n toy problem): `n_samples` split as
    evenly as possible among the arms, each arm `turns` revolutions from the centre outwards,
    the angle jittered by N(0, noise) radians.

    >>> X, y = make_spirals(6, n_classes=3, seed=0)
    >>> X.shape, y.tolist()
    ((6, 2), [0, 0, 1, 1, 2, 2])
    """
    n = _check_n("make_spirals", n_samples)
    rng = generator_from(seed)
    k = int(n_classes)
    y = np.repeat(np.arange(k), [n // k + (c < n % k) for c in range(k)])
    X = np.empty((n, 2))
    for c in range(k):
        m = int((y == c).sum())
        r = np.linspace(0.0, 1.0, m) if m > 1 else np.ones(m)
        theta = 2 * np.pi * (turns * r + c / k) + float(noise) * rng.standard_normal(m)
        X[y == c] = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return X.astype(np.float32), y.astype(np.int64)


def make_moons(n_samples: int = 100, noise: float = 0.0, seed: Seed = None, shuffle: bool = True):
    """Two interleaving half circles (as scikit-learn's make_moons): class 0 the upper arc of the
    unit circle, class 1 the lower half of the unit circle centred at (1, 0.5); N(0, noise)
    jitter on both axes.

    >>> X, y = make_moons(4, shuffle=False)
    >>> X.round(3).tolist(), y.tolist()
    ([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.5], [2.0, 0.5]], [0, 0, 1, 1])
    """
    n = _check_n("make_moons", n_samples)
    n_out, n_in = n - n // 2, n // 2
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    X = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                        np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], 1)])
    y = np.repeat([0, 1], [n_out, n_in])
    if shuffle or noise:
        rng = generator_from(seed)
        if shuffle:
            order = rng.permutation(n)
            X, y = X[order], y[order]
        if noise:
            X = X + float(noise) * rng.standard_normal(X.shape)
    return X.astype(np.float32), y.astype(np.int64)


def make_blobs(n_samples: int = 100, centers=3, n_features: int = 2, cluster_std=1.0,
               center_box: tuple = (-10.0, 10.0), seed: Seed = None, shuffle: bool = True,
               return_centers: bool = False):
    """Gaussian blobs: `centers` an int (drawn uniformly in `center_box`) or an array
    (n_centers, n_features); `cluster_std` a float or one per centre; samples shared out as
    evenly as possible, the first n % n_centers blobs one larger.

    >>> X, y = make_blobs(5, centers=[[0, 0], [10, 10]], cluster_std=0.0, shuffle=False)
    >>> X.tolist(), y.tolist()
    ([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [10.0, 10.0], [10.0, 10.0]], [0, 0, 0, 1, 1])
    """
    n = _check_n("make_blobs", n_samples)
    rng = generator_from(seed)
    if np.ndim(centers) == 0:
        lo, hi = center_box
        c = rng.uniform(lo, hi, (int(centers), int(n_features)))
    else:
        c = np.asarray(centers, dtype=np.float64)
        if c.ndim != 2:
            raise ValueError(f"make_blobs: centers must be an int or a 2-d array, "
                             f"got shape {c.shape}")
    k = c.shape[0]
    std = np.broadcast_to(np.asarray(cluster_std, dtype=np.float64), (k,))
    y = np.repeat(np.arange(k), [n // k + (i < n % k) for i in range(k)])
    X = c[y] + std[y, None] * rng.standard_normal((n, c.shape[1]))
    if shuffle:
        order = rng.permutation(n)
        X, y = X[order], y[order]
    X, y = X.astype(np.float32), y.astype(np.int64)
    return (X, y, c) if return_centers else (X, y)
