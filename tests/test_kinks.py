"""The conventions at kinks and infinities, each tested at exactly that point with exact values.

The table lives in the docstring of src/autograd/ops/elementwise.py (API.md repeats it):
relu'(0) = 0, abs'(0) = 0, sign' = 0, clip passes the gradient strictly inside its bounds, ties in
max/min reductions and in maximum/minimum share the gradient evenly, `where` never lets a NaN or
inf from the unselected branch into a gradient, a zero upstream gradient stays zero through ops
whose local derivative is infinite, and softmax/log_softmax/logsumexp are stable for huge logits.

Every gradient is checked in both backward modes: the plain one (arrays) and create_graph=True
(tensors), since ops compute their backward through different code in the two.
"""
import numpy as np
import pytest

import autograd as ag

DTYPES = [np.float32, np.float64]
MODES = pytest.mark.parametrize("create_graph", [False, True], ids=["arrays", "create_graph"])


def grads(fn, *values, dtype=np.float64, upstream=None, create_graph=False):
    """d sum(upstream * fn(*xs)) / d xs, as numpy arrays (upstream defaults to ones)."""
    xs = [ag.tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in values]
    y = fn(*xs)
    g = np.ones(y.shape, dtype=y.dtype) if upstream is None else np.asarray(upstream, dtype=y.dtype)
    out = ag.grad(y, xs, ag.tensor(g), create_graph=create_graph)
    return [o.detach().numpy() for o in out]


def exactly(got, expected):
    """Bitwise-equal values (NaN never matches: expected values are finite or +-inf)."""
    expected = np.asarray(expected, dtype=np.asarray(got).dtype)
    assert np.asarray(got).shape == expected.shape
    assert not np.isnan(got).any(), f"NaN in {got}"
    np.testing.assert_array_equal(got, expected)


# ---- relu, abs, sign -------------------------------------------------------------------------------
@MODES
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_derivative_at_zero_is_zero(backend, dtype, create_graph):
    x = [-1.0, -0.0, 0.0, 2.0]
    exactly(ag.relu(ag.tensor(np.array(x, dtype=dtype))).numpy(), [0, 0, 0, 2])
    (g,) = grads(ag.relu, x, dtype=dtype, upstream=[5, 5, 5, 5], create_graph=create_graph)
    exactly(g, [0, 0, 0, 5])
    (g,) = grads(ag.relu, 0.0, dtype=dtype, create_graph=create_graph)  # 0-d
    exactly(g, 0)


def test_relu_second_derivative_at_zero_is_zero():
    x = ag.tensor([0.0, 1.0], dtype=ag.float64, requires_grad=True)
    (g,) = ag.grad(ag.relu(x * x).sum(), x, create_graph=True)  # 2x where x > 0
    (gg,) = ag.grad(g.sum(), x)
    exactly(gg.numpy(), [0, 2])


@MODES
@pytest.mark.parametrize("dtype", DTYPES)
def test_abs_derivative_at_zero_is_zero(dtype, create_graph):
    (g,) = grads(ag.abs, [-2.0, -0.0, 0.0, 3.0], dtype=dtype, create_graph=create_graph)
    exactly(g, [-1, 0, 0, 1])
    (g,) = grads(abs, 0.0, dtype=dtype, create_graph=create_graph)
    exactly(g, 0)


@MODES
def test_sign_derivative_is_zero_everywhere(create_graph):
    x = [-2.0, -0.0, 0.0, 1e-300, 3.0]
    exactly(ag.sign(ag.tensor(np.array(x))).numpy(), [-1, 0, 0, 1, 1])
    (g,) = grads(ag.sign, x, create_graph=create_graph)
    exactly(g, [0, 0, 0, 0, 0])


# ---- clip: gradient strictly inside the bounds only --------------------------------------------------
CLIP_X = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]


@MODES
@pytest.mark.parametrize("kwargs, value, grad", [
    ({"min": -1.0, "max": 1.0}, [-1, -1, -0.5, 0, 0.5, 1, 1], [0, 0, 1, 1, 1, 0, 0]),
    ({"min": 0.0}, [0, 0, 0, 0, 0.5, 1, 2], [0, 0, 0, 0, 1, 1, 1]),
    ({"max": 0.0}, [-2, -1, -0.5, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0]),
    ({"min": 0.5, "max": 0.5}, [0.5] * 7, [0] * 7),
])
def test_clip_passes_gradient_strictly_inside(kwargs, value, grad, create_graph):
    exactly(ag.clip(ag.tensor(np.array(CLIP_X)), **kwargs).numpy(), value)
    (g,) = grads(lambda x: ag.clip(x, **kwargs), CLIP_X, create_graph=create_graph)
    exactly(g, grad)
    (g,) = grads(lambda x: x.clamp(**kwargs), CLIP_X, dtype=np.float32, create_graph=create_graph)
    exactly(g, grad)


@MODES
def test_clip_tensor_bounds_get_the_gradient_where_they_are_the_output(create_graph):
    # At a tie the bound is the output (x's gradient passes strictly inside only): the
    # gradient is never lost or counted twice.
    x = [-2.0, -1.0, 0.0, 1.0, 2.0]
    gx, glo, ghi = grads(lambda x, lo, hi: ag.clip(x, lo, hi), x, -1.0, [1.0, 1.0, 1.0, 1.0, 0.0],
                         create_graph=create_graph)
    exactly(gx, [0, 0, 1, 0, 0])
    exactly(glo, 2)
    exactly(ghi, [0, 0, 0, 1, 1])
    # lo > hi: hi is the output everywhere, as in np.clip
    gx, glo, ghi = grads(lambda x, lo, hi: ag.clip(x, lo, hi), x, 1.0, -1.0, create_graph=create_graph)
    exactly(gx, [0] * 5)
    exactly(glo, 0)
    exactly(ghi, 5)


# ---- ties: max/min reductions and maximum/minimum share the gradient evenly ---------------------------
@MODES
@pytest.mark.parametrize("fn, x, expected", [
    (lambda x: ag.max(x), [1.0, 3.0, 3.0], [0, 0.5, 0.5]),
    (lambda x: x.min(), [2.0, 2.0, 2.0, 5.0], [1 / 3, 1 / 3, 1 / 3, 0]),
    (lambda x: ag.max(x), [0.0, -0.0], [0.5, 0.5]),  # -0.0 == 0.0: a tie
    (lambda x: ag.max(x), 3.0, 1.0),
    (lambda x: ag.max(x, axis=1), [[1.0, 1.0, 1.0], [2.0, 5.0, 5.0]], [[1 / 3] * 3, [0, 0.5, 0.5]]),
    (lambda x: x.max(dim=1, keepdim=True), [[4.0, 4.0], [2.0, 5.0]], [[0.5, 0.5], [0, 1]]),
    (lambda x: ag.min(x, axis=0), [[1.0, 4.0], [1.0, 3.0]], [[0.5, 0], [0.5, 1]]),
    (lambda x: ag.max(x, axis=(0, 1)), [[7.0, 1.0], [7.0, 7.0]], [[1 / 3, 0], [1 / 3, 1 / 3]]),
])
def test_max_min_reductions_split_ties_evenly(fn, x, expected, create_graph):
    (g,) = grads(fn, x, create_graph=create_graph)
    np.testing.assert_allclose(g, expected, rtol=1e-15, atol=0)
    assert g.sum() == pytest.approx(np.size(fn(ag.tensor(np.array(x))).numpy()))


def test_max_reduction_tie_share_scales_with_upstream():
    (g,) = grads(lambda x: ag.max(x, axis=1), [[1.0, 1.0, 1.0], [2.0, 5.0, 5.0]], upstream=[3.0, 4.0])
    np.testing.assert_allclose(g, [[1, 1, 1], [0, 2, 2]], rtol=1e-15, atol=0)


@MODES
@pytest.mark.parametrize("dtype", DTYPES)
def test_maximum_minimum_split_ties_evenly(dtype, create_graph):
    for fn in (ag.maximum, ag.minimum):
        exactly(fn(ag.tensor(np.array(2.0, dtype)), ag.tensor(np.array(2.0, dtype))).numpy(), 2.0)
        ga, gb = grads(fn, 2.0, 2.0, dtype=dtype, create_graph=create_graph)
        exactly(ga, 0.5)
        exactly(gb, 0.5)
    ga, gb = grads(ag.maximum, [1.0, 2.0, 3.0], [3.0, 2.0, 1.0], dtype=dtype, create_graph=create_graph)
    exactly(ga, [0, 0.5, 1])
    exactly(gb, [1, 0.5, 0])
    ga, gb = grads(ag.minimum, [1.0, 2.0, 3.0], [3.0, 2.0, 1.0], dtype=dtype, create_graph=create_graph)
    exactly(ga, [1, 0.5, 0])
    exactly(gb, [0, 0.5, 1])


@MODES
def test_maximum_tie_with_a_broadcast_operand(create_graph):
    gx, gb = grads(ag.maximum, [1.0, 2.0, 2.0], 2.0, create_graph=create_graph)
    exactly(gx, [0, 0.5, 0.5])
    exactly(gb, 2.0)  # 1 (b wins over a = 1) + 0.5 + 0.5 (ties), summed back to the 0-d operand
    (gx,) = grads(lambda x: x.maximum(0.0), [-1.0, 0.0, 1.0], create_graph=create_graph)
    exactly(gx, [0, 0.5, 1])


# ---- where: nothing from the unselected branch --------------------------------------------------------
@MODES
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn, x, expected", [
    (lambda x: ag.where(x > 0, ag.log(x), 0.0), [0.0, 1.0, 2.0], [0, 1, 0.5]),
    (lambda x: ag.where(x > 0, ag.sqrt(x), 0.0), [0.0, 1.0, 4.0], [0, 0.5, 0.25]),
    (lambda x: ag.where(x > 0, ag.log(x), 0.0), 0.0, 0.0),
    (lambda x: ag.where(x > 0, ag.sqrt(x), 0.0), 0.0, 0.0),
    (lambda x: ag.where(x > 0, 1.0 / x, x), [0.0, 2.0], [1, -0.25]),
])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's log(0) / 1/0 in the forward branch
def test_where_unselected_branch_contributes_exactly_zero(fn, x, expected, dtype, create_graph):
    (g,) = grads(fn, x, dtype=dtype, create_graph=create_graph)
    exactly(g, expected)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_where_second_derivative_at_the_masked_point_is_zero():
    x = ag.tensor([0.0, 1.0, 2.0], dtype=ag.float64, requires_grad=True)
    (g,) = ag.grad(ag.where(x > 0, ag.log(x), 0.0).sum(), x, create_graph=True)
    (gg,) = ag.grad(g.sum(), x)
    exactly(gg.numpy(), [0, -1, -0.25])


@MODES
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # exp(1000) overflows in the forward
def test_where_with_an_overflowing_unselected_branch(create_graph):
    # The branch exp(x) * x is inf at x = 1000, and so is its derivative; it is not selected there.
    (g,) = grads(lambda x: ag.where(x < 100, ag.exp(x) * x, x), [1.0, 1000.0], create_graph=create_graph)
    exactly(g, [2 * np.e, 1])
    (g,) = grads(lambda x: ag.where(x > 100, x, ag.exp(x) * x), 1000.0, create_graph=create_graph)
    exactly(g, 1)
    # NOTE: where(x < 100, x, exp(x) * x) at x = 1000 *selects* exp(x) * x, whose value and true
    # derivative are +inf: the gradient must be inf (not NaN), and x < 100 still gets exactly 1.
    (g,) = grads(lambda x: ag.where(x < 100, x, ag.exp(x) * x), [1.0, 1000.0], create_graph=create_graph)
    exactly(g, [1, np.inf])


# ---- a zero upstream gradient stays zero where the local derivative is infinite -----------------------
@MODES
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("fn, values", [
    (ag.log, [[0.0, 4.0]]),
    (ag.sqrt, [[0.0, 4.0]]),
    (lambda x: ag.exp(x), [[1000.0, 1.0]]),
    (lambda x: x ** 0.5, [[0.0, 4.0]]),
    (lambda x: x ** -1, [[0.0, 2.0]]),
    (lambda a, b: a / b, [[1.0, 1.0], [0.0, 2.0]]),
    (lambda a, b: a * b, [[1.0, 1.0], [np.inf, 2.0]]),
])
def test_zero_upstream_gradient_stays_zero(fn, values, create_graph):
    gs = grads(fn, *values, upstream=[0.0, 1.0], create_graph=create_graph)
    for g in gs:
        assert g[0] == 0 and not np.isnan(g).any(), gs
        assert np.isfinite(g[1]) and g[1] != 0


# ---- pow at base 0 -------------------------------------------------------------------------------------
@MODES
@pytest.mark.parametrize("fn, x, expected", [
    (lambda x: x ** 0, [0.0, -2.0, 3.0], [0, 0, 0]),
    (lambda x: x ** 0.0, 0.0, 0.0),
    (lambda x: ag.pow(x, 0), 0.0, 0.0),
    (lambda x: x ** ag.tensor(0.0, dtype=ag.float64), [0.0, 2.0], [0, 0]),
    (lambda x: x ** 1, [0.0, -2.0], [1, 1]),
    (lambda x: x ** 2, [0.0, -2.0], [0, -4]),
    (lambda x: x ** 3, 0.0, 0.0),
    (lambda x: x ** 0.5, 0.0, np.inf),  # the true derivative; inf, not NaN
])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pow_derivative_in_the_base_at_zero(fn, x, expected, create_graph):
    (g,) = grads(fn, x, create_graph=create_graph)
    exactly(g, expected)


@MODES
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pow_tensor_exponent_at_base_zero_has_zero_exponent_gradient(create_graph):
    (gb,) = grads(lambda b: ag.tensor(0.0, dtype=ag.float64) ** b, 2.0, create_graph=create_graph)
    exactly(gb, 0)  # d/db 0**b = 0**b log 0, whose limit is 0 for b > 0 (PyTorch gives 0 too)
    ga, gb = grads(lambda a, b: a ** b, [0.0, 2.0], [3.0, 3.0], create_graph=create_graph)
    exactly(ga, [0, 12])
    np.testing.assert_allclose(gb, [0, 8 * np.log(2.0)], rtol=1e-15, atol=0)
    assert gb[0] == 0
    (gb,) = grads(lambda b: ag.tensor([0.0], dtype=ag.float64) ** b, [0.0], create_graph=create_graph)
    exactly(gb, [0])  # 0 ** 0 = 1; the exponent's gradient is still 0 at base 0


# ---- stable softmax family at huge logits ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_family_values_at_huge_logits(dtype):
    t = ag.tensor(np.array([1e4, -1e4, 0.0], dtype=dtype))
    exactly(ag.softmax(t).numpy(), [1, 0, 0])
    exactly(ag.log_softmax(t).numpy(), [0, -2e4, -1e4])
    exactly(ag.logsumexp(t).numpy(), 1e4)
    for big in (1e4, -1e4):
        t = ag.tensor(np.array([big, big], dtype=dtype))
        exactly(ag.softmax(t).numpy(), [0.5, 0.5])
        np.testing.assert_allclose(ag.log_softmax(t).numpy(), [-np.log(2)] * 2, rtol=1e-6)
        np.testing.assert_allclose(ag.logsumexp(t).numpy(), big + np.log(2), rtol=1e-7)
    t = ag.tensor(np.array([[1e4, 0.0], [-1e4, -1e4]], dtype=dtype))
    exactly(ag.softmax(t, axis=-1).numpy(), [[1, 0], [0.5, 0.5]])
    np.testing.assert_allclose(ag.logsumexp(t, axis=1).numpy(), [1e4, -1e4 + np.log(2)], rtol=1e-7)


@MODES
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_family_gradients_at_huge_logits(dtype, create_graph):
    x = [1e4, -1e4, 0.0]
    (g,) = grads(ag.logsumexp, x, dtype=dtype, create_graph=create_graph)
    exactly(g, [1, 0, 0])  # the gradient of logsumexp is softmax
    (g,) = grads(ag.log_softmax, x, dtype=dtype, create_graph=create_graph)
    exactly(g, [-2, 1, 1])  # 1 - 3 * softmax
    (g,) = grads(ag.softmax, x, dtype=dtype, upstream=[1.0, 2.0, 3.0], create_graph=create_graph)
    exactly(g, [0, 0, 0])
    for big in (1e4, -1e4):
        # exp(x - logsumexp(x)) loses |x| * eps to cancellation (PyTorch's formula too: its float32
        # gradient here is 0.4999); finite, and right to that precision.
        (g,) = grads(ag.logsumexp, [big, big], dtype=dtype, create_graph=create_graph)
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, [0.5, 0.5], rtol=4 * np.finfo(dtype).eps * abs(big))
    (g,) = grads(lambda t: ag.softmax(t, axis=0)[0], [[1e4, -1e4], [1e4, 1e4]], dtype=dtype,
                 create_graph=create_graph)
    # columns [.5, .5] and [0, 1], upstream [1, 0] each: s * (g - s . g) = [.25, -.25] and [0, 0]
    exactly(g, [[0.25, 0], [-0.25, 0]])
