"""Model selection: train/test splits and cross-validation splitters (scikit-learn's semantics).

Splitters yield `(train_indices, test_indices)` as int64 arrays, both in increasing order, the
same folds scikit-learn gives for the same arguments (shuffled folds use our generator, so
they differ from scikit-learn's but follow the same rules).
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

from .creation import Seed, generator_from
from .errors import ShapeError
from .tensor import Tensor

Split = Tuple[np.ndarray, np.ndarray]

__all__ = ["train_test_split", "KFold", "StratifiedKFold", "LeaveOneOut", "cross_validate"]


def _num_samples(X) -> int:
    if isinstance(X, int):
        return X
    shape = getattr(X, "shape", None)
    if shape is not None:
        if len(shape) == 0:
            raise ShapeError("split: expected an array with a first (sample) axis, got a 0-d array")
        return int(shape[0])
    return len(X)


def _take(a, idx: np.ndarray):
    if isinstance(a, (np.ndarray, Tensor)):
        return a[idx]
    if isinstance(a, (list, tuple)):
        return [a[i] for i in idx]
    return np.asarray(a)[idx]


def _labels(y, fn: str) -> np.ndarray:
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    if y.ndim != 1:
        raise ShapeError(f"{fn}: class labels must be 1-d, got shape {y.shape}")
    return y


def _n_test_train(n: int, test_size, train_size) -> Tuple[int, int]:
    def count(size, name):
        if isinstance(size, float):
            if not 0 < size < 1:
                raise ValueError(f"train_test_split: {name}={size} must be in (0, 1) as a fraction")
            return size
        if not 0 < size < n:
            raise ValueError(f"train_test_split: {name}={size} must be in [1, {n - 1}] for "
                             f"{n} samples")
        return int(size)

    if test_size is None and train_size is None:
        test_size = 0.25
    test = count(test_size, "test_size") if test_size is not None else None
    train = count(train_size, "train_size") if train_size is not None else None
    # as scikit-learn: a fractional test size rounds up, a fractional train size down
    n_test = math.ceil(test * n) if isinstance(test, float) else test
    n_train = math.floor(train * n) if isinstance(train, float) else train
    if n_test is None:
        n_test = n - n_train
    if n_train is None:
        n_train = n - n_test
    if n_train + n_test > n or n_train < 1 or n_test < 1:
        raise ValueError(f"train_test_split: {n_train} train + {n_test} test samples do not fit in "
                         f"{n} samples (each needs at least 1)")
    return n_test, n_train


def _allocate(counts: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """`total` draws shared among classes in proportion to `counts`: floors first, then the
    leftover one each to the classes with the largest remainders (ties broken at random)."""
    exact = counts * total / counts.sum()
    share = np.floor(exact).astype(np.int64)
    left = total - share.sum()
    if left:
        remainder = exact - share
        order = np.lexsort((rng.random(counts.size), -remainder))
        share[order[:left]] += 1
    return share


def train_test_split(*arrays, test_size: Union[float, int, None] = None,
                     train_size: Union[float, int, None] = None, stratify=None, seed: Seed = None,
                     shuffle: bool = True) -> list:
    """Split arrays (numpy, Tensors or lists of equal length) into random train and test parts:
    returns [a_train, a_test, b_train, b_test, ...]. `test_size` is a fraction (rounded up) or a
    count, 0.25 by default; `stratify` gives class labels whose proportions both parts keep.

    >>> X, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.4, seed=0)
    >>> X_tr.shape, X_te.shape, sorted(y_tr.tolist() + y_te.tolist())
    ((3, 2), (2, 2), [0, 1, 2, 3, 4])
    """
    if not arrays:
        raise ValueError("train_test_split: give at least one array")
    lengths = [_num_samples(a) for a in arrays]
    if len(set(lengths)) > 1:
        raise ShapeError(f"train_test_split: arrays have different lengths {lengths}")
    n = lengths[0]
    n_test, n_train = _n_test_train(n, test_size, train_size)
    if not shuffle:
        if stratify is not None:
            raise ValueError("train_test_split: stratify needs shuffle=True")
        train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    elif stratify is None:
        perm = generator_from(seed).permutation(n)
        test, train = perm[:n_test], perm[n_test:n_test + n_train]
    else:
        train, test = _stratified_split(_labels(stratify, "train_test_split"), n_test, n_train,
                                        generator_from(seed))
    out = []
    for a in arrays:
        out += [_take(a, train), _take(a, test)]
    return out


def _stratified_split(y: np.ndarray, n_test: int, n_train: int, rng) -> Split:
    classes, y_idx, counts = np.unique(y, return_inverse=True, return_counts=True)
    if counts.min() < 2:
        raise ValueError(f"train_test_split: class {classes[counts.argmin()]!r} has only 1 sample; "
                         "stratifying needs at least 2 per class")
    if n_test < classes.size or n_train < classes.size:
        raise ValueError(f"train_test_split: {n_train} train and {n_test} test samples cannot "
                         f"hold all {classes.size} classes")
    test_counts = _allocate(counts, n_test, rng)
    train_counts = _allocate(counts - test_counts, n_train, rng)
    train, test = [], []
    for k in range(classes.size):
        members = rng.permutation(np.flatnonzero(y_idx == k))
        test.append(members[:test_counts[k]])
        train.append(members[test_counts[k]:test_counts[k] + train_counts[k]])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


class _Splitter:
    def get_n_splits(self, X=None, y=None) -> int:
        return self.n_splits

    def split(self, X, y=None) -> Iterator[Split]:
        n = _num_samples(X)
        for test_mask in self._test_masks(n, y):
            yield np.flatnonzero(~test_mask), np.flatnonzero(test_mask)


class KFold(_Splitter):
    """k consecutive folds (after one shuffle if `shuffle`); each fold is the test set once.
    The first n % k folds hold one sample more.

    >>> [t.tolist() for _, t in KFold(3).split(np.zeros(7))]
    [[0, 1, 2], [3, 4], [5, 6]]
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = False, seed: Seed = None) -> None:
        if int(n_splits) != n_splits or n_splits < 2:
            raise ValueError(f"{type(self).__name__}: n_splits must be an integer >= 2, "
                             f"got {n_splits!r}")
        self.n_splits, self.shuffle, self.seed = int(n_splits), bool(shuffle), seed

    def _order(self, n: int) -> np.ndarray:
        return generator_from(self.seed).permutation(n) if self.shuffle else np.arange(n)

    def _test_masks(self, n: int, y) -> Iterator[np.ndarray]:
        if self.n_splits > n:
            raise ValueError(f"KFold: cannot have n_splits={self.n_splits} greater than the "
                             f"number of samples {n}")
        order = self._order(n)
        sizes = np.full(self.n_splits, n // self.n_splits)
        sizes[:n % self.n_splits] += 1
        stops = np.cumsum(sizes)
        for start, stop in zip(stops - sizes, stops):
            mask = np.zeros(n, dtype=bool)
            mask[order[start:stop]] = True
            yield mask


class StratifiedKFold(KFold):
    """k folds keeping each class's share: per class, in order of first appearance, samples are
    dealt to folds the way scikit-learn deals them (the sorted labels taken round-robin over
    the folds fix how many of each class every fold gets; within a class, the earliest samples
    go to the first folds, or in shuffled order if `shuffle`).

    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> [t.tolist() for _, t in StratifiedKFold(3).split(y, y)]
    [[0, 3], [1, 4], [2, 5]]
    """

    def _test_masks(self, n: int, y) -> Iterator[np.ndarray]:
        if y is None:
            raise ValueError("StratifiedKFold.split: needs the class labels y")
        y = _labels(y, "StratifiedKFold")
        if y.shape[0] != n:
            raise ShapeError(f"StratifiedKFold: X has {n} samples but y has {y.shape[0]}")
        _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
        rank = np.argsort(np.argsort(first))  # classes numbered by first appearance
        y_enc = rank[inverse.reshape(-1)]
        counts = np.bincount(y_enc)
        if self.n_splits > counts.max():
            raise ValueError(f"StratifiedKFold: n_splits={self.n_splits} is greater than the "
                             f"number of members in every class (largest: {counts.max()})")
        if self.n_splits > counts.min():
            warnings.warn(f"StratifiedKFold: the smallest class has only {counts.min()} members, "
                          f"fewer than n_splits={self.n_splits}", UserWarning, stacklevel=3)
        k = self.n_splits
        sorted_y = np.sort(y_enc)
        per_fold = np.stack([np.bincount(sorted_y[i::k], minlength=counts.size) for i in range(k)])
        fold_of = np.empty(n, dtype=np.int64)
        rng = generator_from(self.seed) if self.shuffle else None
        for c in range(counts.size):
            folds = np.repeat(np.arange(k), per_fold[:, c])
            if rng is not None:
                rng.shuffle(folds)
            fold_of[y_enc == c] = folds
        for i in range(k):
            yield fold_of == i


class LeaveOneOut(_Splitter):
    """n folds, each testing one sample.

    >>> [(tr.tolist(), te.tolist()) for tr, te in LeaveOneOut().split(np.zeros(3))]
    [([1, 2], [0]), ([0, 2], [1]), ([0, 1], [2])]
    """

    def get_n_splits(self, X=None, y=None) -> int:
        if X is None:
            raise ValueError("LeaveOneOut.get_n_splits: needs X (one split per sample)")
        return _num_samples(X)

    def _test_masks(self, n: int, y) -> Iterator[np.ndarray]:
        if n < 2:
            raise ValueError(f"LeaveOneOut: needs at least 2 samples, got {n}")
        for i in range(n):
            mask = np.zeros(n, dtype=bool)
            mask[i] = True
            yield mask


def cross_validate(make_model: Callable[[], object], dataset, cv: Union[int, _Splitter],
                   fit_fn: Callable, score_fn: Callable, y: Optional[Sequence] = None) -> dict:
    """Score a fresh model per fold: for each (train, test) split of `dataset`, build
    `model = make_model()`, call `fit_fn(model, train_subset)`, then record
    `score_fn(model, test_subset)` (a number). `cv` is a splitter or an int k (StratifiedKFold(k)
    when class labels `y` are given, else KFold(k)). Returns {"scores", "mean", "std"} (std with
    ddof=0).

    >>> from autograd.data import TensorDataset
    >>> def fit(model, train):            # "learn" the mean of the training fold
    ...     model["mean"] = np.mean([train[i][0] for i in range(len(train))])
    >>> r = cross_validate(dict, TensorDataset(np.arange(6.0)), 3, fit, lambda m, test: m["mean"])
    >>> r["scores"].tolist(), r["mean"]
    ([3.5, 2.5, 1.5], 2.5)
    """
    from .data.dataset import Subset

    if isinstance(cv, (int, np.integer)):
        splitter = StratifiedKFold(int(cv)) if y is not None else KFold(int(cv))
    else:
        splitter = cv
    scores = []
    for train, test in splitter.split(np.empty(len(dataset)), y):
        model = make_model()
        fit_fn(model, Subset(dataset, train))
        scores.append(float(score_fn(model, Subset(dataset, test))))
    scores = np.asarray(scores)
    return {"scores": scores, "mean": float(scores.mean()), "std": float(scores.std())}
