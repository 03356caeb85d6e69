"""The Tensor type: creation and dtype rules, attributes, numpy interop, promotion, in-place ops."""
import numpy as np
import pytest

import autograd as ag
from autograd import DTypeError, GraphError, ShapeError


def assert_tensor(t, values, dtype):
    """t is a Tensor holding exactly `values` with dtype `dtype`."""
    assert isinstance(t, ag.Tensor)
    assert t.dtype == dtype, f"dtype {t.dtype}, expected {np.dtype(dtype)}"
    np.testing.assert_array_equal(np.asarray(t.data), np.asarray(values, dtype=dtype))
    assert t.shape == np.shape(values)


# ---- ag.tensor dtype rules -----------------------------------------------------------------
@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32),
    ([1.0, 2.0], np.float32),
    ([[1, 2], [3, 4.5]], np.float32),          # mixed ints and floats: float
    (3, np.int64),
    ([1, 2, 3], np.int64),
    (True, np.bool_),
    ([True, False], np.bool_),
    (np.arange(3, dtype=np.int16), np.int16),  # numpy arrays keep their dtype
    (np.arange(3, dtype=np.int32), np.int32),
    (np.ones(2, dtype=np.float16), np.float16),
    (np.ones(2, dtype=np.float64), np.float64),
    (np.float64(2.5), np.float64),             # numpy scalars too
    (np.int32(7), np.int32),
    ([], np.float32),
])
def test_tensor_dtype_rules(data, dtype):
    t = ag.tensor(data)
    assert t.dtype == dtype
    assert t.shape == np.shape(data)
    np.testing.assert_array_equal(np.asarray(t), np.asarray(data, dtype=dtype))


def test_tensor_dtype_argument_overrides():
    assert_tensor(ag.tensor([1, 2], dtype=ag.float64), [1.0, 2.0], np.float64)
    assert_tensor(ag.tensor([1.5], dtype="float64"), [1.5], np.float64)
    assert_tensor(ag.tensor(np.ones(2), dtype=ag.float32), [1.0, 1.0], np.float32)
    assert ag.tensor(1.0, dtype=float).dtype == np.float32


def test_zero_dim_tensors_hold_numpy_scalars():
    t = ag.tensor(3.0)
    assert type(t.data) is np.float32
    assert t.shape == () and t.ndim == 0
    assert type(t.numpy()) is np.ndarray and t.numpy().shape == ()
    assert type(ag.tensor(2).data) is np.int64
    assert type((t * 2).data) is np.float32


def test_tensor_copies_numpy_input():
    a = np.array([1.0, 2.0])
    t = ag.tensor(a)
    a[0] = 9.0
    assert t.tolist() == [1.0, 2.0]
    assert not np.shares_memory(a, t.numpy())


def test_tensor_of_tensor_copies():
    a = ag.tensor([1.0, 2.0])
    b = ag.tensor(a)
    assert b.tolist() == [1.0, 2.0] and b.dtype == np.float32
    assert not np.shares_memory(a.numpy(), b.numpy())


def test_tensor_rejects_strings_and_ragged_lists():
    with pytest.raises(DTypeError, match="str"):
        ag.tensor("abc")
    with pytest.raises(ValueError):
        ag.tensor([[1, 2], [3]])


# ---- factories -----------------------------------------------------------------------------
def test_zeros_ones_full_empty():
    assert_tensor(ag.zeros(2, 3), np.zeros((2, 3)), np.float32)
    assert_tensor(ag.zeros((2, 3)), np.zeros((2, 3)), np.float32)
    assert_tensor(ag.zeros(()), 0.0, np.float32)
    assert_tensor(ag.ones(2, dtype=ag.float64), [1.0, 1.0], np.float64)
    assert_tensor(ag.ones(3, dtype=ag.int64), [1, 1, 1], np.int64)
    assert_tensor(ag.full((2,), 7), [7, 7], np.int64)
    assert_tensor(ag.full((2,), 7.0), [7.0, 7.0], np.float32)
    assert_tensor(ag.full(3, 2.5), [2.5, 2.5, 2.5], np.float32)
    assert_tensor(ag.full((2,), True), [True, True], np.bool_)
    assert_tensor(ag.full((1, 2), 0.5, dtype=ag.float64), [[0.5, 0.5]], np.float64)
    e = ag.empty(4, 5)
    assert e.shape == (4, 5) and e.dtype == np.float32


def test_factories_requires_grad():
    for t in (ag.zeros(2, requires_grad=True), ag.ones(2, requires_grad=True),
              ag.full((2,), 1.0, requires_grad=True), ag.rand(2, requires_grad=True),
              ag.randn(2, requires_grad=True), ag.eye(2, requires_grad=True)):
        assert t.requires_grad and t.is_leaf and t.grad_fn is None
    with pytest.raises(DTypeError, match="int64"):
        ag.zeros(2, dtype=ag.int64, requires_grad=True)


def test_like_factories_keep_dtype_and_shape():
    i = ag.tensor([[1, 2, 3]])
    d = ag.tensor([1.0, 2.0], dtype=ag.float64)
    assert_tensor(ag.zeros_like(i), [[0, 0, 0]], np.int64)
    assert_tensor(ag.ones_like(d), [1.0, 1.0], np.float64)
    assert_tensor(ag.zeros_like(d, dtype=ag.float32), [0.0, 0.0], np.float32)
    assert_tensor(ag.full_like(d, 3.0), [3.0, 3.0], np.float64)


def test_arange_linspace_eye():
    assert_tensor(ag.arange(5), [0, 1, 2, 3, 4], np.int64)
    assert_tensor(ag.arange(1, 7, 2), [1, 3, 5], np.int64)
    assert_tensor(ag.arange(0, 1, 0.25), [0.0, 0.25, 0.5, 0.75], np.float32)
    assert_tensor(ag.arange(3, dtype=ag.float64), [0.0, 1.0, 2.0], np.float64)
    assert_tensor(ag.linspace(0, 1, 5), [0.0, 0.25, 0.5, 0.75, 1.0], np.float32)
    assert_tensor(ag.eye(3), np.eye(3), np.float32)
    assert_tensor(ag.eye(2, 3), [[1, 0, 0], [0, 1, 0]], np.float32)


def test_rand_randn_manual_seed_reproducible():
    ag.manual_seed(1234)
    a, b = ag.rand(3, 4), ag.randn(2, 5)
    ag.manual_seed(1234)
    c, d = ag.rand(3, 4), ag.randn(2, 5)
    assert a.tolist() == c.tolist() and b.tolist() == d.tolist()
    assert a.dtype == b.dtype == np.float32
    assert a.shape == (3, 4) and b.shape == (2, 5)
    assert 0.0 <= a.numpy().min() and a.numpy().max() < 1.0
    ag.manual_seed(1235)
    assert ag.rand(3, 4).tolist() != a.tolist()
    ag.manual_seed(0)
    big = ag.randn(20000, dtype=ag.float64).numpy()
    assert abs(big.mean()) < 0.03 and abs(big.std() - 1.0) < 0.03


# ---- attributes ----------------------------------------------------------------------------
def test_shape_attributes():
    t = ag.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dim() == 3
    assert t.numel() == 24 and isinstance(t.numel(), int)
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert len(t) == 2
    assert t.dtype == np.float64 == ag.float64
    np.testing.assert_array_equal(t.T.numpy(), np.arange(24.0).reshape(2, 3, 4).T)
    np.testing.assert_array_equal(t.mT.numpy(), np.swapaxes(np.arange(24.0).reshape(2, 3, 4), -1, -2))
    m = ag.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert m.T.tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_graph_attributes():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    c = ag.tensor([1.0, 2.0])
    assert x.is_leaf and x.requires_grad and x.grad_fn is None and x.grad is None
    assert c.is_leaf and not c.requires_grad
    y = x * 2
    assert not y.is_leaf and y.requires_grad and y.grad_fn is not None
    assert type(y.grad_fn).__name__ == "Mul" and repr(y.grad_fn) == "<MulBackward>"
    z = c * 2
    assert z.is_leaf and not z.requires_grad and z.grad_fn is None


def test_requires_grad_():
    t = ag.tensor([1.0])
    assert t.requires_grad_() is t and t.requires_grad
    assert t.requires_grad_(False) is t and not t.requires_grad
    with pytest.raises(DTypeError, match="int64"):
        ag.tensor([1, 2]).requires_grad_()
    with pytest.raises(DTypeError):
        ag.tensor([1, 2], requires_grad=True)
    with pytest.raises(DTypeError):
        ag.tensor([True]).requires_grad_(True)
    y = ag.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(GraphError, match="detach"):
        y.requires_grad_(False)


# ---- conversion ----------------------------------------------------------------------------
def test_numpy_item_tolist():
    t = ag.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = t.numpy()
    assert type(a) is np.ndarray and a.dtype == np.float32
    assert np.shares_memory(a, t.data)
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert type(t.tolist()[0][0]) is float
    assert ag.tensor(2.5).item() == 2.5 and type(ag.tensor(2.5).item()) is float
    assert ag.tensor(7).item() == 7 and type(ag.tensor(7).item()) is int
    assert ag.tensor(True).item() is True
    assert ag.tensor([[[4.0]]]).item() == 4.0
    assert ag.tensor(3.0).tolist() == 3.0
    with pytest.raises(ShapeError, match=r"\(2, 2\)"):
        t.item()


def test_numpy_on_requires_grad_raises():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 2.0]


def test_array_protocol():
    t = ag.tensor([1.0, 2.0])
    a = np.asarray(t)
    assert type(a) is np.ndarray and a.dtype == np.float32 and a.tolist() == [1.0, 2.0]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.array(t).tolist() == [1.0, 2.0]
    c = np.array(t, copy=True)
    c[0] = 5
    assert t.tolist() == [1.0, 2.0]
    s = np.asarray(ag.tensor(2.0))
    assert type(s) is np.ndarray and s.shape == () and s == 2.0


def test_python_number_conversions():
    assert float(ag.tensor(2.5)) == 2.5
    assert int(ag.tensor(3)) == 3
    assert int(ag.tensor([3.7])) == 3
    assert [10, 20, 30][ag.tensor(1)] == 20  # __index__
    with pytest.raises(TypeError, match="integer"):
        [10, 20][ag.tensor(1.0)]


def test_from_numpy_shares_memory_both_ways():
    a = np.arange(3.0)
    t = ag.from_numpy(a)
    assert t.dtype == np.float64
    a[0] = 9.0
    assert t.tolist() == [9.0, 1.0, 2.0]
    t[1] = 7.0
    assert a.tolist() == [9.0, 7.0, 2.0]
    t += 1.0
    assert a.tolist() == [10.0, 8.0, 3.0]
    assert np.shares_memory(t.numpy(), a)
    i = np.array([1, 2], dtype=np.int32)
    assert ag.from_numpy(i).dtype == np.int32
    with pytest.raises(TypeError, match="list"):
        ag.from_numpy([1.0, 2.0])


def test_from_numpy_refuses_an_array_not_aligned_for_its_dtype_and_tensor_copies_it():
    """An array at an odd byte offset (np.frombuffer, a packed record's field) cannot be shared:
    the C kernels read elements as their type. The error says why and what copies it."""
    buf = np.zeros(4 * 6 + 1, np.uint8)
    a = np.frombuffer(buf.data, np.float32, 6, offset=1).reshape(2, 3)
    assert not a.flags.aligned
    with pytest.raises(ValueError, match=r"from_numpy: the array \(2, 3\) float32 starts 1 bytes "
                                         r"past .* alignment \(4\).*ag.tensor\(a\) copies it"):
        ag.from_numpy(a)
    t = ag.tensor(a)
    assert t.numpy().flags.aligned and t.shape == (2, 3) and float(t.sum()) == 0.0
    assert ag.from_numpy(np.frombuffer(buf.data, np.uint8, 6, offset=1)).shape == (6,)


# ---- numpy operands on the left, dtype promotion -------------------------------------------
def test_numpy_scalar_on_left_gives_tensor():
    t = ag.tensor([1.0, 2.0, 3.0])
    r = np.float64(2) * t
    assert_tensor(r, [2.0, 4.0, 6.0], np.float32)
    assert_tensor(np.float64(1) + t, [2.0, 3.0, 4.0], np.float32)
    assert_tensor(np.int64(1) - t, [0.0, -1.0, -2.0], np.float32)
    assert_tensor(np.float64(2) ** t, [2.0, 4.0, 8.0], np.float32)
    assert_tensor(np.float32(6) * t, [6.0, 12.0, 18.0], np.float32)


@pytest.mark.parametrize("scalar", [6.0, 6, np.float32(6), np.float64(6)])
def test_scalar_divided_by_tensor(scalar):
    assert_tensor(scalar / ag.tensor([1.0, 2.0, 3.0]), [6.0, 3.0, 2.0], np.float32)


def test_numpy_array_on_left_gives_tensor():
    t = ag.tensor([1.0, 2.0, 3.0])
    # A float64 array is a float64 operand, as torch.from_numpy(a) + t is float64 in PyTorch.
    assert_tensor(np.ones(3) + t, [2.0, 3.0, 4.0], np.float64)
    assert_tensor(np.ones(3, dtype=np.float32) + t, [2.0, 3.0, 4.0], np.float32)
    assert_tensor(np.array([2, 2, 2]) * t, [2.0, 4.0, 6.0], np.float32)  # int array: float wins
    m = ag.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert_tensor(np.eye(2, dtype=np.float32) @ m, [[1.0, 2.0], [3.0, 4.0]], np.float32)
    cmp = np.array([2.0, 2.0, 2.0]) < t
    assert_tensor(cmp, [False, False, True], np.bool_)


def test_numpy_on_left_records_gradient():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = np.float64(3) * x + np.array([1.0, 1.0], dtype=np.float32)
    assert y.requires_grad
    y.sum().backward()
    assert_tensor(x.grad, [3.0, 3.0], np.float32)


@pytest.mark.parametrize("expr, values, dtype", [
    (lambda f, i: f * 2.5, [2.5, 5.0], np.float32),
    (lambda f, i: 2.5 * f, [2.5, 5.0], np.float32),
    (lambda f, i: f * np.float64(0.5), [0.5, 1.0], np.float32),
    (lambda f, i: f + 1, [2.0, 3.0], np.float32),
    (lambda f, i: i + f, [2.0, 4.0], np.float32),
    (lambda f, i: f - i, [0.0, 0.0], np.float32),
    (lambda f, i: i + 1, [2, 3], np.int64),
    (lambda f, i: i * i, [1, 4], np.int64),
    (lambda f, i: i / 2, [0.5, 1.0], np.float32),
    (lambda f, i: f.double() * f, [1.0, 4.0], np.float64),
])
def test_pytorch_promotion(expr, values, dtype):
    f = ag.tensor([1.0, 2.0])
    i = ag.tensor([1, 2])
    assert_tensor(expr(f, i), values, dtype)


@pytest.mark.parametrize("expr", [lambda i: i * 0.5, lambda i: 0.5 * i, lambda i: i * np.float64(0.5),
                                  lambda i: i / 2.0])
def test_int_tensor_times_float_scalar_is_float32(expr):
    assert expr(ag.tensor([1, 2])).dtype == np.float32


def test_int_true_division_is_float32():
    r = ag.tensor([1, 3]) / ag.tensor([2, 4])
    assert_tensor(r, [0.5, 0.75], np.float32)


def test_comparisons_give_bool_tensors_without_grad():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = ag.tensor([3.0, 2.0, 1.0])
    cases = [(x < y, [True, False, False]), (x <= y, [True, True, False]),
             (x > y, [False, False, True]), (x >= y, [False, True, True]),
             (x == y, [False, True, False]), (x != y, [True, False, True]),
             (x < 2, [True, False, False]), (2.0 <= x, [False, True, True])]
    for r, expected in cases:
        assert_tensor(r, expected, np.bool_)
        assert not r.requires_grad and r.grad_fn is None
    assert_tensor(~(x < 2), [False, True, True], np.bool_)
    assert_tensor((x > 1) & (x < 3), [False, True, False], np.bool_)
    assert_tensor((x < 2) | (x > 2), [True, False, True], np.bool_)


# ---- casting, copying, repr ----------------------------------------------------------------
def test_astype_to_float_double():
    x = ag.tensor([1.5, 2.5], requires_grad=True)
    d = x.double()
    assert_tensor(d.detach(), [1.5, 2.5], np.float64)
    assert x.astype(ag.float64).dtype == np.float64
    assert x.to("float64").dtype == np.float64
    assert x.to(ag.float32) is x  # same dtype: no new node
    assert_tensor(ag.tensor([1, 2]).float(), [1.0, 2.0], np.float32)
    assert_tensor(ag.tensor([1.7, -1.7]).astype(ag.int64), [1, -1], np.int64)
    (d * ag.tensor([2.0, 3.0], dtype=ag.float64)).sum().backward()
    assert_tensor(x.grad, [2.0, 3.0], np.float32)  # the gradient comes back in the leaf's dtype


def test_detach_shares_data_and_cuts_graph():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.data, x.data)
    with ag.no_grad():
        d[0] = 5.0
    assert x.tolist() == [5.0, 2.0]
    x2 = ag.tensor([3.0, 4.0], requires_grad=True)
    (x2.detach() * x2).sum().backward()
    assert_tensor(x2.grad, [3.0, 4.0], np.float32)  # only the non-detached path counts


def test_clone_copies_and_keeps_gradient():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert not np.shares_memory(c.data, x.data)
    assert type(c.grad_fn).__name__ == "Clone"
    (c * 3).sum().backward()
    assert_tensor(x.grad, [3.0, 3.0], np.float32)
    p = ag.tensor([1.0])
    q = p.clone()
    q += 1
    assert p.tolist() == [1.0] and q.tolist() == [2.0]


def test_repr():
    assert repr(ag.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(ag.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(ag.tensor(2.5)) == "tensor(2.5)"
    assert repr(ag.tensor([True])) == "tensor([ True])"
    assert repr(ag.tensor([1.0], dtype=ag.float64)) == "tensor([1.], dtype=float64)"
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward>)"
    assert repr(ag.tensor([[1.0, 2.0], [3.0, 4.0]])) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert str(ag.tensor([1.0])) == "tensor([1.])"


def test_len_and_iteration():
    t = ag.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert len(t) == 3
    rows = list(t)
    assert len(rows) == 3 and all(isinstance(r, ag.Tensor) for r in rows)
    assert [r.tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert [e.item() for e in ag.tensor([7, 8])] == [7, 8]
    with pytest.raises(TypeError, match="0-d"):
        len(ag.tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        iter(ag.tensor(1.0))


def test_iteration_keeps_gradient():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    total = None
    for k, e in enumerate(x):
        total = e * (k + 1) if total is None else total + e * (k + 1)
    total.backward()
    assert_tensor(x.grad, [1.0, 2.0, 3.0], np.float32)


def test_bool():
    assert bool(ag.tensor(2.0)) is True
    assert bool(ag.tensor([0.0])) is False
    assert bool(ag.tensor([[1]])) is True
    with pytest.raises(ValueError, match="ambiguous"):
        bool(ag.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        if ag.tensor([1.0, 2.0]) > 0:
            pass


# ---- in-place ops --------------------------------------------------------------------------
def test_inplace_ops_on_plain_tensors():
    t = ag.tensor([1.0, 2.0])
    ident = id(t)
    t += 1
    t *= ag.tensor([2.0, 3.0])
    t -= 1
    t /= 2
    assert id(t) == ident
    assert_tensor(t, [1.5, 4.0], np.float32)
    assert t.zero_() is t and t.tolist() == [0.0, 0.0]
    assert t.fill_(3.0) is t and t.tolist() == [3.0, 3.0]
    assert t.copy_(ag.tensor([5.0, 6.0])) is t and t.tolist() == [5.0, 6.0]
    t[1] = 9.0
    assert t.tolist() == [5.0, 9.0]
    s = ag.tensor(2.0)
    s += 1
    assert_tensor(s, 3.0, np.float32)
    assert type(s.data) is np.float32


def test_inplace_errors():
    with pytest.raises(DTypeError, match="int64"):
        t = ag.tensor([1, 2])
        t += 0.5
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2,\)"):
        ag.tensor([1.0, 2.0]).copy_(ag.tensor([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("op", [
    lambda t: t.__iadd__(1.0), lambda t: t.__isub__(1.0), lambda t: t.__imul__(2.0),
    lambda t: t.__itruediv__(2.0), lambda t: t.zero_(), lambda t: t.fill_(1.0),
    lambda t: t.copy_(ag.tensor([0.0, 0.0])), lambda t: t.__setitem__(0, 1.0),
])
def test_inplace_on_requires_grad_raises_unless_no_grad(op):
    x = ag.tensor([4.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match="no_grad"):
        op(x)
    assert x.tolist() == [4.0, 2.0]
    y = x * 1
    with pytest.raises(GraphError, match="in-place"):
        op(y)
    with ag.no_grad():
        op(x)
    assert x.tolist() != [4.0, 2.0]
    assert x.requires_grad and x.is_leaf
