"""conv2d, max_pool2d, avg_pool2d (ops/conv.py): forward and gradients against naive loops
(always) and torch.nn.functional (when installed), on both backends; argument errors; second
order; the CNN of the seeds end to end."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd as ag
from op_specs import naive_conv2d, naive_pool2d

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the naive references still run
    torch = F = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _naive_grads(fn, arrays, g, eps=1e-6):
    """Central differences of sum(fn(*arrays) * g), element by element (small inputs only)."""
    grads = []
    for k, a in enumerate(arrays):
        grad = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            hi = [b.copy() for b in arrays]
            lo = [b.copy() for b in arrays]
            hi[k][i] += eps
            lo[k][i] -= eps
            grad[i] = (np.sum(fn(*hi) * g) - np.sum(fn(*lo) * g)) / (2 * eps)
        grads.append(grad)
    return grads


CONV_CASES = [  # x shape, weight shape, stride, padding
    ((2, 2, 5, 4), (3, 2, 3, 2), (2, 1), (1, 2)),
    ((1, 1, 5, 5), (1, 1, 5, 5), 1, 0),
    ((3, 2, 4, 9), (2, 2, 1, 3), (1, 3), (0, 1)),
    ((1, 2, 1, 1), (3, 2, 3, 3), 1, 1),
    ((3, 2, 8, 9), (2, 2, 3, 3), 1, 1),  # 72 positions per image: the per-image kernels
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
def test_conv2d_against_naive_loops(x_shape, w_shape, stride, padding, backend):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    tx, tw, tb = (ag.tensor(a, requires_grad=True) for a in (x, w, b))
    y = ag.conv2d(tx, tw, tb, stride, padding)
    want = naive_conv2d(x, w, b, stride, padding)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(want.shape)
    y.backward(g)
    conv = lambda *a: naive_conv2d(*a, stride=stride, padding=padding)  # noqa: E731
    expected = _naive_grads(conv, [x, w, b], g)
    for t, e in zip((tx, tw, tb), expected):
        np.testing.assert_allclose(t.grad.numpy(), e, rtol=1e-6, atol=1e-6)


POOL_CASES = [((2, 3, 7, 6), 3, 2, 1), ((1, 2, 5, 4), (2, 3), None, (1, 0)),
              ((1, 1, 1, 1), 1, None, 0), ((2, 1, 6, 6), 2, None, 0)]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
def test_pool_against_naive_loops(kind, x_shape, kernel, stride, padding, backend):
    rng = np.random.default_rng(1)
    x = rng.permutation(np.prod(x_shape)).reshape(x_shape) * 0.5  # distinct: no ties
    tx = ag.tensor(x, requires_grad=True)
    y = getattr(ag, f"{kind}_pool2d")(tx, kernel, stride, padding)
    want = naive_pool2d(x, kernel, stride, padding, kind=kind)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-12)
    g = rng.standard_normal(want.shape)
    y.backward(g)
    pool = lambda a: naive_pool2d(a, kernel, stride, padding, kind=kind)  # noqa: E731
    (expected,) = _naive_grads(pool, [x], g)
    np.testing.assert_allclose(tx.grad.numpy(), expected, rtol=1e-6, atol=1e-6)


@st.composite
def _conv_case(draw):
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    kh, kw = draw(st.integers(1, min(5, h + 2 * ph))), draw(st.integers(1, min(5, w + 2 * pw)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (n, c, h, w), (o, c, kh, kw), stride, (ph, pw)


@needs_torch
@settings(max_examples=15, deadline=None)
@given(case=_conv_case(), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 99), use_c=st.booleans())
def test_conv2d_against_torch(case, dtype, seed, use_c):
    x_shape, w_shape, stride, padding = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in (x_shape, w_shape, w_shape[:1])]
    mine = [ag.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    with ag.backend.use("c" if use_c and "c" in ag.backend.available() else "numpy"):
        y = ag.conv2d(*mine, stride=stride, padding=padding)
        g = rng.standard_normal(y.shape).astype(dtype)
        y.backward(g)
    ty = F.conv2d(*theirs, stride=stride, padding=padding)
    ty.backward(torch.tensor(g))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol)
    for m, t in zip(mine, theirs):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), **tol)


@needs_torch
@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 11),
                       st.integers(1, 11)),
       data=st.data(), dtype=st.sampled_from(["float32", "float64"]), use_c=st.booleans())
def test_pooling_against_torch(shape, data, dtype, use_c):
    kernel = (data.draw(st.integers(1, min(4, shape[2]))),
              data.draw(st.integers(1, min(4, shape[3]))))
    padding = (data.draw(st.integers(0, kernel[0] // 2)), data.draw(st.integers(0, kernel[1] // 2)))
    stride = data.draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(dtype)  # distinct values
    for kind in ("max", "avg"):
        mine, theirs = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        with ag.backend.use("c" if use_c and "c" in ag.backend.available() else "numpy"):
            y = getattr(ag, f"{kind}_pool2d")(mine, kernel, stride, padding)
            g = rng.standard_normal(y.shape).astype(dtype)
            y.backward(g)
        ty = getattr(F, f"{kind}_pool2d")(theirs, kernel, stride, padding)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5)
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_max_pool_ties_go_to_the_first_element():
    x = ag.ones((1, 1, 2, 2), requires_grad=True)
    ag.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1.0, 0.0], [0.0, 0.0]])


def test_overlapping_windows_accumulate():
    x = ag.zeros((1, 1, 3, 3), requires_grad=True)
    ag.max_pool2d(x, 2, stride=1).sum().backward()  # every window's first element
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_conv2d_per_image_path_gradcheck(backend):
    """Outputs of SMALL_OUTPUT positions or more take the backend's per-image conv2d and its
    gradient kernels (the rest one 2-D product): gradcheck in float64 over images of the first
    weight-gradient group and past it."""
    from autograd.ops.conv import SMALL_OUTPUT
    rng = np.random.default_rng(8)
    for n in (1, 10):
        x, w, b = (ag.tensor(rng.standard_normal(s), requires_grad=True)
                   for s in ((n, 2, 8, 8), (3, 2, 3, 2), (3,)))
        assert 8 * 9 >= SMALL_OUTPUT
        assert ag.gradcheck(lambda x, w, b: ag.conv2d(x, w, b, padding=1), [x, w, b], fast_mode=n > 1)


@pytest.mark.parametrize("x_shape", [(0, 2, 9, 9), (0, 2, 3, 3)])  # per image and 2-D products
def test_conv2d_on_an_empty_batch(x_shape, backend):
    x = ag.zeros(x_shape, requires_grad=True)
    w, b = ag.ones((3, 2, 2, 2), requires_grad=True), ag.ones(3, requires_grad=True)
    y = ag.conv2d(x, w, b, padding=1)
    assert y.shape == (0, 3, x_shape[2] + 1, x_shape[3] + 1)
    y.sum().backward()
    assert x.grad.shape == x_shape
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((3, 2, 2, 2), np.float32))
    np.testing.assert_array_equal(b.grad.numpy(), np.zeros(3, np.float32))


@pytest.mark.parametrize("x_shape", [(1, 2, 5, 5), (1, 1, 8, 9)])  # 2-D and batched products
def test_second_order_through_conv_and_pools(x_shape):
    rng = np.random.default_rng(5)
    x = ag.tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = ag.tensor(rng.standard_normal((2, x_shape[1], 3, 3)), requires_grad=True)

    def net(x, w):
        h = ag.conv2d(x, w, padding=1)
        return ag.avg_pool2d(ag.max_pool2d(h * h, 2, 1), 2)

    assert ag.gradgradcheck(net, [x, w])


@pytest.mark.parametrize("call, match", [
    (lambda: ag.conv2d(ag.ones((3, 4, 4)), ag.ones((1, 3, 2, 2))), r"conv2d: expected a 4-d"),
    (lambda: ag.conv2d(ag.ones((1, 3, 4, 4)), ag.ones((1, 2, 2, 2))), r"must be \(out, 3, kh"),
    (lambda: ag.conv2d(ag.ones((1, 1, 2, 2)), ag.ones((1, 1, 3, 3))), r"\(3, 3\) is larger"),
    (lambda: ag.conv2d(ag.ones((1, 1, 4, 4)), ag.ones((2, 1, 3, 3)), ag.ones(3)), r"bias must"),
    (lambda: ag.max_pool2d(ag.ones((1, 1, 2, 2)), 3), r"max_pool2d: kernel \(3, 3\) is larger"),
    (lambda: ag.avg_pool2d(ag.ones((2, 2)), 1), r"avg_pool2d: expected a 4-d NCHW input, got "
                                                r"shape \(2, 2\) float32"),
])
def test_shape_errors_name_the_op_and_shapes(call, match):
    with pytest.raises(ag.ShapeError, match=match):
        call()


def test_argument_errors():
    x = ag.ones((1, 1, 4, 4))
    with pytest.raises(ag.DTypeError, match="conv2d: input, weight and bias must share"):
        ag.conv2d(x, ag.ones((1, 1, 2, 2), dtype=ag.float64))
    with pytest.raises(ag.DTypeError, match="max_pool2d: expected floating-point"):
        ag.max_pool2d(ag.tensor(np.ones((1, 1, 2, 2), np.int64)), 2)
    with pytest.raises(ValueError, match="padding .* at most half"):
        ag.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        ag.conv2d(x, ag.ones((1, 1, 2, 2)), stride=0)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        ag.avg_pool2d(x, (2, 2, 2))


def test_empty_batch(backend):
    x = ag.zeros((0, 2, 5, 5), requires_grad=True)
    w = ag.ones((3, 2, 3, 3), requires_grad=True)
    y = ag.max_pool2d(ag.conv2d(x, w, padding=1), 2)
    assert y.shape == (0, 3, 2, 2)
    y.sum().backward()
    assert x.grad.shape == x.shape and float(np.abs(w.grad.numpy()).sum()) == 0.0


def test_seed_cnn_trains(backend):
    """The benchmark's network: one SGD step on a fixed batch lowers its loss."""
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    from bench_cnn import Trainer

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 4)
    ag.manual_seed(0)
    net = Trainer(ag, x, y)
    first = net.step()
    last = net.step()
    assert last < first
