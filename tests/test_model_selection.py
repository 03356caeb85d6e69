"""ag.model_selection: folds written out by hand as scikit-learn gives them; split properties."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
from autograd.data import TensorDataset
from autograd.model_selection import (KFold, LeaveOneOut, StratifiedKFold, cross_validate,
                                      train_test_split)


def _folds(splitter, X, y=None):
    return [(tr.tolist(), te.tolist()) for tr, te in splitter.split(X, y)]


def test_kfold_as_scikit_learn():
    # scikit-learn's documented example: KFold(n_splits=2) on 4 samples
    assert _folds(KFold(2), np.zeros((4, 2))) == [([2, 3], [0, 1]), ([0, 1], [2, 3])]
    # 10 samples, 3 folds: the first 10 % 3 = 1 fold is one larger
    assert _folds(KFold(3), np.zeros(10)) == [
        ([4, 5, 6, 7, 8, 9], [0, 1, 2, 3]),
        ([0, 1, 2, 3, 7, 8, 9], [4, 5, 6]),
        ([0, 1, 2, 3, 4, 5, 6], [7, 8, 9])]
    assert [len(te) for _, te in KFold(4).split(np.zeros(11))] == [3, 3, 3, 2]
    assert KFold(4).get_n_splits() == 4


def test_stratified_kfold_as_scikit_learn():
    # scikit-learn's documented example: y = [0, 0, 1, 1], 2 folds
    y = np.array([0, 0, 1, 1])
    assert _folds(StratifiedKFold(2), np.zeros((4, 2)), y) == [([1, 3], [0, 2]), ([0, 2], [1, 3])]
    # unequal classes: sorted labels dealt round-robin give fold 0 two of each class
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    tests = [te for _, te in _folds(StratifiedKFold(3), y, y)]
    assert tests == [[0, 1, 4, 5], [2, 6, 7], [3, 8, 9]]
    # three classes, interleaved, one class larger
    y = np.array([2, 0, 1, 2, 0, 1, 2, 0, 1, 1])
    tests = [te for _, te in _folds(StratifiedKFold(3), y, y)]
    assert tests == [[0, 1, 2, 5], [3, 4, 8], [6, 7, 9]]
    # string labels work like any others
    ys = np.array(["b", "a", "b", "a", "a", "b", "b"])
    assert [te for _, te in _folds(StratifiedKFold(2), ys, ys)] == [[0, 1, 2, 3], [4, 5, 6]]


@pytest.mark.filterwarnings("ignore:StratifiedKFold")
@given(y=st.lists(st.integers(0, 3), min_size=6, max_size=60), k=st.integers(2, 5),
       shuffle=st.booleans())
def test_stratified_kfold_partitions_and_keeps_proportions(y, k, shuffle):
    y = np.array(y)
    counts = np.bincount(y)
    if k > counts.max():
        with pytest.raises(ValueError, match="n_splits"):
            list(StratifiedKFold(k).split(y, y))
        return
    folds = list(StratifiedKFold(k, shuffle=shuffle, seed=0).split(y, y))
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(len(y)))
    for tr, te in folds:
        assert np.intersect1d(tr, te).size == 0 and tr.size + te.size == len(y)
        assert np.all(np.diff(te) > 0) and np.all(np.diff(tr) > 0)
        # each class spread over the folds as evenly as possible
        assert np.all(np.abs(np.bincount(y[te], minlength=counts.size) - counts / k) < 1 + 1e-9)
        # fold sizes as KFold's: differ by at most one
    sizes = [te.size for _, te in folds]
    assert max(sizes) - min(sizes) <= 1


@given(n=st.integers(2, 40), k=st.integers(2, 6), seed=st.integers(0, 10))
def test_shuffled_kfold_partitions_reproducibly(n, k, seed):
    if k > n:
        with pytest.raises(ValueError, match=f"n_splits={k}"):
            list(KFold(k).split(np.zeros(n)))
        return
    folds = _folds(KFold(k, shuffle=True, seed=seed), np.zeros(n))
    assert folds == _folds(KFold(k, shuffle=True, seed=seed), np.zeros(n))
    assert sorted(sum((te for _, te in folds), [])) == list(range(n))
    sizes = [len(te) for _, te in folds]
    assert sizes == [n // k + (i < n % k) for i in range(k)]
    for tr, te in folds:
        assert te == sorted(te) and sorted(tr + te) == list(range(n))


def test_leave_one_out():
    assert _folds(LeaveOneOut(), np.zeros(3)) == [([1, 2], [0]), ([0, 2], [1]), ([0, 1], [2])]
    assert LeaveOneOut().get_n_splits(np.zeros(7)) == 7
    with pytest.raises(ValueError):
        list(LeaveOneOut().split(np.zeros(1)))


def test_train_test_split_sizes_alignment_and_seed():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10) * 10
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, seed=0)
    assert (len(X_tr), len(X_te)) == (7, 3)  # a fractional test size rounds up
    np.testing.assert_array_equal(X_tr[:, 0] * 5, y_tr)  # rows stay together
    np.testing.assert_array_equal(X_te[:, 0] * 5, y_te)
    assert sorted(np.r_[y_tr, y_te].tolist()) == y.tolist()
    again = train_test_split(X, y, test_size=0.25, seed=0)
    np.testing.assert_array_equal(again[3], y_te)
    assert [len(a) for a in train_test_split(X, test_size=4, seed=1)] == [6, 4]
    assert [len(a) for a in train_test_split(X, train_size=0.55, test_size=0.2, seed=1)] == [5, 2]
    tr, te = train_test_split(list("abcdefghij"), shuffle=False, test_size=0.3)
    assert tr == list("abcdefg") and te == list("hij")
    t_tr, t_te = train_test_split(ag.tensor(X), seed=0)
    assert isinstance(t_tr, ag.Tensor) and t_tr.shape == (7, 2)
    with pytest.raises(ag.ShapeError, match=r"\[10, 9\]"):
        train_test_split(X, y[:9])
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(X, test_size=1.5)


@given(sizes=st.lists(st.integers(2, 30), min_size=2, max_size=4), test_size=st.floats(0.1, 0.6),
       seed=st.integers(0, 5))
def test_stratified_split_keeps_class_proportions(sizes, test_size, seed):
    y = np.repeat(np.arange(len(sizes)), sizes)
    n = len(y)
    n_test = int(np.ceil(test_size * n))
    if n_test < len(sizes) or n - n_test < len(sizes):
        with pytest.raises(ValueError):
            train_test_split(y, test_size=test_size, stratify=y, seed=seed)
        return
    y_tr, y_te = train_test_split(y, test_size=test_size, stratify=y, seed=seed)
    assert len(y_te) == n_test and len(y_tr) == n - n_test
    want = np.array(sizes) * n_test / n
    assert np.all(np.abs(np.bincount(y_te, minlength=len(sizes)) - want) < 1)
    np.testing.assert_array_equal(np.bincount(y_tr, minlength=len(sizes)) + np.bincount(
        y_te, minlength=len(sizes)), sizes)


def test_stratified_split_exact_shares_and_errors():
    y = np.array([0] * 60 + [1] * 40)
    _, y_te = train_test_split(y, test_size=0.5, stratify=y, seed=3)
    assert np.bincount(y_te).tolist() == [30, 20]
    with pytest.raises(ValueError, match="only 1 sample"):
        train_test_split(np.arange(5), stratify=np.array([0, 0, 1, 1, 2]), seed=0)


def test_cross_validate_scores_every_fold_with_a_fresh_model():
    X = np.arange(12.0)
    y = (X >= 6).astype(np.int64)
    ds = TensorDataset(X, y)
    made = []

    def make_model():
        made.append({})
        return made[-1]

    def fit(model, train):
        xs, ys = train.__getitems__(np.arange(len(train)))
        model["threshold"] = xs[ys == 1].min() if (ys == 1).any() else np.inf

    def accuracy(model, test):
        xs, ys = test.__getitems__(np.arange(len(test)))
        return np.mean((xs >= model["threshold"]) == ys)

    # test folds [0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]: the first learns threshold 8
    r = cross_validate(make_model, ds, StratifiedKFold(3), fit, accuracy, y=y)
    assert len(made) == 3 and r["scores"].tolist() == [0.5, 1.0, 1.0]
    assert r["mean"] == pytest.approx(5 / 6) and r["std"] == pytest.approx(np.sqrt(1 / 18))
    # KFold(4): the fold testing [6, 7, 8] learns threshold 9 and misses all three
    assert cross_validate(make_model, ds, 4, fit, accuracy)["scores"].tolist() == [1, 1, 0, 1]
    # an int with labels means stratified folds
    assert cross_validate(make_model, ds, 3, fit, accuracy, y=y)["scores"].tolist() == [0.5, 1, 1]


def test_stratified_kfold_warns_when_a_class_is_smaller_than_k():
    y = np.array([0, 0, 0, 1, 1])
    with pytest.warns(UserWarning, match="only 2 members"):
        folds = list(StratifiedKFold(3).split(y, y))
    assert [te.tolist() for _, te in folds] == [[0, 3], [1, 4], [2]]
