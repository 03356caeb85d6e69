"""ag.data: TensorDataset, Subset, DataLoader (batching, shuffling, seeds) and synthetic data."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
from autograd.data import DataLoader, Dataset, Subset, TensorDataset
from autograd.data import make_blobs, make_linear, make_moons, make_spirals, make_xor


# ---- datasets -------------------------------------------------------------------------------
def test_tensor_dataset_items_and_length():
    X = np.arange(12.0).reshape(4, 3)
    y = ag.tensor([3, 1, 2, 0])
    ds = TensorDataset(X, y)
    assert len(ds) == 4
    x1, y1 = ds[1]
    np.testing.assert_array_equal(x1, [3.0, 4.0, 5.0])
    assert y1 == 1 and isinstance(y1, np.integer)


def test_tensor_dataset_rejects_unequal_first_dims_naming_shapes():
    with pytest.raises(ag.ShapeError, match=r"\(4, 3\) float64, \(5,\) int64"):
        TensorDataset(np.zeros((4, 3)), np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(np.float64(1.0))


def test_subset_reads_the_given_indices_in_order():
    ds = TensorDataset(np.arange(10) * 10)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3 and sub[0][0] == 70
    np.testing.assert_array_equal(sub.__getitems__(np.array([2, 0]))[0], [50, 70])
    with pytest.raises(IndexError):
        Subset(ds, [10])


# ---- DataLoader ---------------------------------------------------------------------------------
@given(n=st.integers(0, 40), batch=st.integers(1, 12), drop_last=st.booleans())
def test_loader_batches_cover_the_data_in_order(n, batch, drop_last):
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader) == (n // batch if drop_last else -(-n // batch))
    for xb, yb in batches:
        assert isinstance(xb, ag.Tensor) and xb.dtype == np.float32 and yb.dtype == np.int64
        assert xb.shape[0] == yb.shape[0] <= batch
    if batches:
        seen = np.concatenate([yb.numpy() for _, yb in batches])
        np.testing.assert_array_equal(seen, np.arange(seen.size))
        stacked = np.concatenate([xb.numpy() for xb, _ in batches])
        np.testing.assert_array_equal(stacked, X[:seen.size])
        assert seen.size == (n - n % batch if drop_last else n)


def test_loader_shuffles_anew_each_epoch_and_reproducibly():
    ds = TensorDataset(np.arange(50))
    loader = DataLoader(ds, batch_size=7, shuffle=True, seed=123)
    epoch1 = np.concatenate([b[0].numpy() for b in loader])
    epoch2 = np.concatenate([b[0].numpy() for b in loader])
    assert sorted(epoch1.tolist()) == list(range(50)) == sorted(epoch2.tolist())
    assert not np.array_equal(epoch1, epoch2) and not np.array_equal(epoch1, np.arange(50))
    again = DataLoader(ds, batch_size=7, shuffle=True, seed=123)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in again]), epoch1)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in again]), epoch2)


def test_loader_without_seed_follows_manual_seed():
    ds = TensorDataset(np.arange(30))
    loader = DataLoader(ds, batch_size=30, shuffle=True)
    ag.manual_seed(7)
    first = next(iter(loader))[0].numpy()
    ag.manual_seed(7)
    second = next(iter(loader))[0].numpy()
    ag.manual_seed(8)
    third = next(iter(loader))[0].numpy()
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, third)


class _Counting(Dataset):
    """Records how it is read."""

    def __init__(self, n, batched):
        self.x = np.arange(n, dtype=np.float64) * 2
        self.item_calls, self.batch_calls = 0, 0
        if batched:
            self.__getitems__ = self._getitems

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.item_calls += 1
        return self.x[i], np.int64(i)

    def _getitems(self, idx):
        self.batch_calls += 1
        return self.x[idx], idx.astype(np.int64)


def test_loader_reads_a_batch_with_one_index_array_when_it_can():
    fast, slow = _Counting(10, batched=True), _Counting(10, batched=False)
    got_fast = [tuple(t.numpy() for t in b) for b in DataLoader(fast, batch_size=4)]
    got_slow = [tuple(t.numpy() for t in b) for b in DataLoader(slow, batch_size=4)]
    assert (fast.batch_calls, fast.item_calls) == (3, 0)
    assert (slow.batch_calls, slow.item_calls) == (0, 10)
    for (xf, yf), (xs, ys) in zip(got_fast, got_slow):
        np.testing.assert_array_equal(xf, xs)
        np.testing.assert_array_equal(yf, ys)
    np.testing.assert_array_equal(got_slow[2][0], [16.0, 18.0])


def test_loader_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(np.zeros(3)), batch_size=0)


# ---- synthetic data -------------------------------------------------------------------------
def test_make_linear_is_the_stated_linear_model():
    X, y, w = make_linear(200, 3, coef=[2.0, -1.0, 0.5], bias=4.0, seed=1, return_coef=True)
    assert X.shape == (200, 3) and y.shape == (200,) and X.dtype == y.dtype == np.float32
    np.testing.assert_allclose(y, X @ w + 4.0, rtol=1e-5, atol=1e-5)
    Xn, yn = make_linear(2000, 2, coef=[3.0, 1.5], bias=-2.0, noise=0.1, seed=2)
    A = np.c_[Xn, np.ones(len(Xn))].astype(np.float64)
    fit = np.linalg.lstsq(A, yn, rcond=None)[0]
    np.testing.assert_allclose(fit, [3.0, 1.5, -2.0], atol=0.02)
    assert np.std(yn - A @ fit) == pytest.approx(0.1, rel=0.1)


def test_synthetic_data_is_seeded():
    for make in (make_linear, make_spirals, make_moons, make_blobs):
        a, b, c = make(seed=5), make(seed=5), make(seed=6)
        np.testing.assert_array_equal(a[0], b[0])
        assert not np.array_equal(a[0], c[0]), make.__name__
    ag.manual_seed(11)
    first = make_blobs()[0]
    ag.manual_seed(11)
    np.testing.assert_array_equal(make_blobs()[0], first)


def test_make_xor_truth_table_and_noisy_copies():
    X, y = make_xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    Xn, yn = make_xor(400, noise=0.05, seed=0, shuffle=True)
    corner = np.round(Xn).astype(int)
    np.testing.assert_array_equal(yn, corner[:, 0] ^ corner[:, 1])
    assert np.bincount(yn).tolist() == [200, 200] and 0.03 < np.std(Xn - corner) < 0.07


def test_make_spirals_arms():
    X, y = make_spirals(301, n_classes=3, noise=0.0, seed=0)
    assert np.bincount(y).tolist() == [101, 100, 100] and X.dtype == np.float32
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() == pytest.approx(1.0) and r.min() == pytest.approx(0.0, abs=1e-6)
    # noise-free arms are one curve turned by a third of a revolution
    X, y = make_spirals(300, n_classes=3, noise=0.0)
    c, s = np.cos(2 * np.pi / 3), np.sin(2 * np.pi / 3)
    turned = X[y == 0] @ np.array([[c, s], [-s, c]]).T
    np.testing.assert_allclose(turned, X[y == 1], atol=1e-6)


def test_make_moons_points_lie_on_the_two_half_circles():
    X, y = make_moons(101, noise=0.0, seed=0)
    assert np.bincount(y).tolist() == [51, 50]
    top, bottom = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(*top.T), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(bottom[:, 0] - 1, bottom[:, 1] - 0.5), 1.0, atol=1e-6)
    assert top[:, 1].min() >= -1e-6 and bottom[:, 1].max() <= 0.5 + 1e-6


def test_make_blobs_centres_and_spread():
    centers = [[0.0, 0.0], [10.0, -5.0], [-8.0, 3.0]]
    X, y, c = make_blobs(3001, centers=centers, cluster_std=[0.5, 1.0, 2.0], seed=3,
                         return_centers=True)
    assert np.bincount(y).tolist() == [1001, 1000, 1000]
    for k, std in enumerate([0.5, 1.0, 2.0]):
        np.testing.assert_allclose(X[y == k].mean(0), centers[k], atol=0.15)
        np.testing.assert_allclose(X[y == k].std(0), std, rtol=0.1)
    X2, _, c2 = make_blobs(50, centers=4, n_features=3, seed=0, return_centers=True)
    assert c2.shape == (4, 3) and np.all(np.abs(c2) <= 10) and X2.shape == (50, 3)


def test_loader_batches_train_a_model_end_to_end():
    """Standardized blobs through a shuffled loader fit a softmax regression with the engine."""
    from autograd.data.transforms import Standardize
    from autograd.model_selection import train_test_split

    X, y = make_blobs(600, centers=[[0.0, 0.0], [6.0, 6.0], [0.0, 6.0]], seed=0)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, seed=0)
    scale = Standardize().fit(X_tr)
    loader = DataLoader(TensorDataset(scale(X_tr), y_tr), batch_size=32, shuffle=True, seed=0)
    w = ag.zeros(2, 3, requires_grad=True)
    b = ag.zeros(3, requires_grad=True)
    for _ in range(5):
        for xb, yb in loader:
            logp = ag.log_softmax(xb @ w + b, axis=1)
            loss = -logp[np.arange(yb.shape[0]), yb.numpy()].mean()
            w.grad = b.grad = None
            loss.backward()
            with ag.no_grad():
                w -= 0.5 * w.grad
                b -= 0.5 * b.grad
    pred = (ag.tensor(scale(X_te)) @ w + b).detach().numpy().argmax(1)
    assert (pred == y_te).mean() > 0.95
