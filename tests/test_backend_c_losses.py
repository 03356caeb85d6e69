"""The parametrised activation kernels and losses.c held to the numpy reference, under every ISA.

Like test_backend_c.py, the raw kernels are called straight through cffi (this file also runs
under AddressSanitizer in tools/asan_test.sh): sizes 0, 1 and every SIMD edge, unaligned
starts with guard zones around the outputs, special values, float32 and float64, one and two
threads bitwise equal, and the status codes. The wrapper (`backend._c`) is checked on
non-contiguous inputs and against bad class indices.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _c_backend import before_a_guard_page
from test_backend_c import SPECIAL, THRESHOLDS, _levels, ffi, isa, lib, threads  # noqa: F401

from autograd.backend import _numpy  # noqa: E402

DTYPES = [np.float32, np.float64]
PARAMS = {"leaky_relu": (0.07,), "elu": (1.3,), "softplus": (1.7, 9.0)}
SIZES = sorted({0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 1021,
                *(t + d for t in THRESHOLDS for d in (-1, 0, 1, 65))})


def _suffix(dtype):
    return "f32" if np.dtype(dtype) == np.float32 else "f64"


def _ptr(a, writable=False):
    ctype = {np.dtype(np.float32): "float *", np.dtype(np.float64): "double *",
             np.dtype(np.int64): "int64_t *"}[a.dtype]
    return ffi.from_buffer(ctype, a, require_writable=writable)


def _activation(name, args, params, out):
    """One activation kernel (forward: args = (x,), backward: (g, x)) into `out`."""
    fn = getattr(lib, f"ag_{name}_{_suffix(out.dtype)}")
    status = fn(*[_ptr(a) for a in args], _ptr(out, True), out.size, *params)
    assert status == lib.AG_OK, f"{name}: status {status}"
    return out


def _reference(name, args, params):
    with np.errstate(all="ignore"):
        return np.asarray(getattr(_numpy, name)(*args, *params), dtype=args[0].dtype)


def _assert_close(name, got, want):
    if name.startswith("leaky_relu"):  # exact: one multiplication
        np.testing.assert_array_equal(got, want)
        return
    rtol = 2e-6 if got.dtype == np.float32 else 1e-14
    np.testing.assert_allclose(got, want, rtol=rtol, atol=np.finfo(got.dtype).tiny)


def _args(name, x, rng):
    if not name.endswith("_backward"):
        return (x,)
    return (rng.standard_normal(x.size).astype(x.dtype), x)


NAMES = [n for base in PARAMS for n in (base, base + "_backward")]


def _params(name):
    return PARAMS[name.replace("_backward", "")]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_activation_sizes_and_specials(isa, name, dtype):
    rng = np.random.default_rng(len(name))
    with np.errstate(over="ignore"):
        special = np.array(SPECIAL, dtype=dtype)
    for n in SIZES:
        x = (rng.standard_normal(n) * 12).astype(dtype)
        x[: min(n, special.size)] = special[: min(n, special.size)]
        args = _args(name, x, rng)
        got = _activation(name, args, _params(name), np.empty_like(x))
        _assert_close(name, got, _reference(name, args, _params(name)))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), name=st.sampled_from(NAMES), dtype=st.sampled_from(DTYPES),
       offset=st.integers(0, 15), a=st.floats(0.05, 3.0), b=st.floats(1.0, 30.0))
def test_activation_property_without_touching_neighbours(data, name, dtype, offset, a, b):
    """Random values (specials too), drawn parameters, unaligned starts and guard zones."""
    width = 32 if dtype == np.float32 else 64
    n = data.draw(st.integers(0, 200), label="n")
    elements = st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True)
    values = np.array(data.draw(st.lists(elements, min_size=n, max_size=n), label="x"), dtype=dtype)
    params = (a, b) if name.startswith("softplus") else (a,)
    args = []
    for arg in _args(name, values, np.random.default_rng(n)):
        args.append(np.zeros(n + offset, dtype)[offset:])
        args[-1][...] = arg
    guard = 5
    buf = np.full(n + 2 * guard + offset, 4321.0, dtype)
    out = buf[guard + offset:guard + offset + n]
    for level in _levels():
        previous = lib.ag_set_isa_cap(level)
        try:
            _activation(name, args, params, out)
        finally:
            lib.ag_set_isa_cap(previous)
        _assert_close(name, out, _reference(name, args, params))
        assert np.all(buf[:guard + offset] == 4321.0) and np.all(buf[guard + offset + n:] == 4321.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_activation_threads_agree_bitwise(isa, threads, name, dtype):
    rng = np.random.default_rng(3)
    for n in (THRESHOLDS[0] + 1, 3 * THRESHOLDS[1] + 37):
        args = _args(name, (rng.standard_normal(n) * 10).astype(dtype), rng)
        threads(1)
        one = _activation(name, args, _params(name), np.empty(n, dtype))
        threads(2)
        np.testing.assert_array_equal(_activation(name, args, _params(name), np.empty(n, dtype)), one)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_activation_never_touches_past_the_arrays(isa, name, dtype):
    """Inputs and output each ending at an unreadable, unwritable page, every length to 39:
    the same bits as elsewhere, and no fault (test_backend_c.py says why)."""
    rng = np.random.default_rng(len(name))
    for n in range(1, 40):
        args = _args(name, (rng.standard_normal(n) * 4).astype(dtype), rng)
        want = _activation(name, args, _params(name), np.empty_like(args[0]))
        guarded = [before_a_guard_page(a) for a in args]
        out, keep = before_a_guard_page(np.empty_like(args[0]))
        got = _activation(name, [g for g, _ in guarded], _params(name), out)
        np.testing.assert_array_equal(got, want)
        del guarded, out, keep


# ----------------------------------------------------------------- softmax cross-entropy


def _xent(x, labels, probs, eps, ignore, summary=None, grad=None, grad_mean=False):
    """The forward kernel: (per-row losses, (rows, 2) stats); fills `summary` and the gradient
    for an upstream 1 of the mean (grad_mean) or sum into `grad` when given."""
    n, c = x.shape
    loss, stats = np.full(n, 777.0, x.dtype), np.full((n, 2), 777.0, x.dtype)
    status = getattr(lib, f"ag_softmax_xent_{_suffix(x.dtype)}")(
        _ptr(x), n, c, ffi.NULL if labels is None else _ptr(labels),
        ffi.NULL if probs is None else _ptr(probs), eps, ignore, _ptr(loss, True), _ptr(stats, True),
        ffi.NULL if summary is None else _ptr(summary, True), grad_mean,
        ffi.NULL if grad is None else _ptr(grad, True))
    return status, loss, stats


def _xent_backward(x, stats, labels, probs, eps, ignore, scale, stride):
    grad = np.empty_like(x)
    status = getattr(lib, f"ag_softmax_xent_backward_{_suffix(x.dtype)}")(
        _ptr(x), _ptr(stats), x.shape[0], x.shape[1], ffi.NULL if labels is None else _ptr(labels),
        ffi.NULL if probs is None else _ptr(probs), eps, ignore, _ptr(scale), stride, _ptr(grad, True))
    assert status == lib.AG_OK
    return grad


def _xent_case(rng, n, c, dtype, labels, scale=8.0, ignore=-100):
    x = (rng.standard_normal((n, c)) * scale).astype(dtype)
    if labels:
        t = rng.integers(0, c, n).astype(np.int64)
        t[::5] = ignore
        return x, t, None
    p = rng.random((n, c)).astype(dtype)
    return x, None, p


def _check_xent(x, labels, probs, eps, ignore=-100):
    """Kernel forward (per row) and backward (per-row scale) against the numpy reference."""
    target = labels if labels is not None else probs
    summary = np.full(2, 777.0)
    status, loss, stats = _xent(x, labels, probs, eps, ignore, summary)
    assert status == lib.AG_OK
    want, saved = _numpy.softmax_cross_entropy(x, target, "none", eps, ignore)
    tol = dict(rtol=3e-6, atol=3e-6) if x.dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(loss, want, **tol)
    np.testing.assert_allclose(stats, saved[2], **tol)
    # the summary: the stored row losses added in row order in double (cumsum adds in that
    # order too), and the rows that count (the reference's count)
    assert summary[0] == (np.cumsum(loss.astype(np.float64))[-1] if len(loss) else 0.0)
    assert summary[1] == saved[6]
    # and without one: the same rows
    status, loss_alone, stats_alone = _xent(x, labels, probs, eps, ignore)
    assert status == lib.AG_OK
    np.testing.assert_array_equal(loss_alone, loss)
    np.testing.assert_array_equal(stats_alone, stats)
    g = np.random.default_rng(0).standard_normal(x.shape[0]).astype(x.dtype)
    grad = _xent_backward(x, stats, labels, probs, eps, ignore, g, 1)
    np.testing.assert_allclose(grad, _numpy.softmax_cross_entropy_backward(g, saved), **tol)
    # one scale for every row (stride 0), as "mean" and "sum" pass it
    one = np.array([0.5], x.dtype)
    grad = _xent_backward(x, stats, labels, probs, eps, ignore, one, 0)
    want = _numpy.softmax_cross_entropy_backward(np.full(x.shape[0], 0.5, x.dtype), saved)
    np.testing.assert_allclose(grad, want, **tol)
    # the forward's own gradient for an upstream 1: bit for bit the backward's from the stats,
    # with the scale the op passes (1 / the rows counted, rounded to the dtype, or 1); the
    # loss and stats unchanged by writing it
    counted = x.shape[0] if labels is None else int((labels != ignore).sum())
    with np.errstate(divide="ignore"):  # nothing counted: the scale is inf, and unused
        mean_scale = x.dtype.type(1) / x.dtype.type(counted)
    for mean, scale in ((True, mean_scale), (False, 1.0)):
        grad = np.full_like(x, 777.0)
        status, loss_g, stats_g = _xent(x, labels, probs, eps, ignore, grad=grad, grad_mean=mean)
        assert status == lib.AG_OK
        np.testing.assert_array_equal(loss_g, loss)
        np.testing.assert_array_equal(stats_g, stats)
        want = _xent_backward(x, stats, labels, probs, eps, ignore, np.array([scale], x.dtype), 0)
        np.testing.assert_array_equal(grad, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("labels", [True, False], ids=["labels", "probabilities"])
def test_xent_sizes(isa, dtype, labels):
    rng = np.random.default_rng(4)
    for n, c in [(1, 1), (1, 2), (3, 7), (2, 16), (5, 17), (4, 31), (2, 33), (7, 100), (40, 1000)]:
        x, t, p = _xent_case(rng, n, c, dtype, labels)
        for eps in (0.0, 0.3):
            _check_xent(x, t, p, eps)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 12), c=st.integers(1, 40), dtype=st.sampled_from(DTYPES),
       labels=st.booleans(), eps=st.sampled_from([0.0, 0.1, 1.0]), seed=st.integers(0, 99),
       scale=st.sampled_from([1.0, 30.0, 1e4]))
def test_xent_property(n, c, dtype, labels, eps, seed, scale):
    ignore = 1 if seed % 2 else -100
    x, t, p = _xent_case(np.random.default_rng(seed), n, c, dtype, labels, scale, ignore)
    for level in _levels():
        previous = lib.ag_set_isa_cap(level)
        try:
            if n == 0:
                assert _xent(x, t, p, eps, -100)[0] == lib.AG_OK
            else:
                _check_xent(x, t, p, eps, ignore)
        finally:
            lib.ag_set_isa_cap(previous)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("labels", [True, False], ids=["labels", "probabilities"])
def test_xent_never_touches_past_the_arrays(isa, dtype, labels):
    """Forward and backward with every input and output ending at an unreadable, unwritable
    page, rows of every tail length: the same bits as elsewhere, and no fault."""
    rng = np.random.default_rng(6)
    fwd = getattr(lib, f"ag_softmax_xent_{_suffix(dtype)}")
    bwd = getattr(lib, f"ag_softmax_xent_backward_{_suffix(dtype)}")
    for n, c in [(1, 1), (2, 3), (3, 15), (2, 17), (3, 31), (2, 33), (1, 47)]:
        x, t, p = _xent_case(rng, n, c, dtype, labels)
        _, want_loss, want_stats = _xent(x, t, p, 0.1, -100)
        scale = rng.standard_normal(n).astype(dtype)
        want_grad = _xent_backward(x, want_stats, t, p, 0.1, -100, scale, 1)
        keep = []

        def guard(a):
            guarded, owner = before_a_guard_page(a)
            keep.append(owner)
            return guarded
        gx, gt, gp, gs = guard(x), None if t is None else guard(t), None if p is None else guard(p), guard(scale)
        loss, stats, grad = guard(np.zeros(n, dtype)), guard(np.zeros((n, 2), dtype)), guard(np.zeros_like(x))
        target = (ffi.NULL if gt is None else _ptr(gt)), (ffi.NULL if gp is None else _ptr(gp))
        assert fwd(_ptr(gx), n, c, *target, 0.1, -100, _ptr(loss, True), _ptr(stats, True),
                   ffi.NULL, 0, ffi.NULL) == lib.AG_OK
        assert bwd(_ptr(gx), _ptr(stats), n, c, *target, 0.1, -100, _ptr(gs), 1,
                   _ptr(grad, True)) == lib.AG_OK
        np.testing.assert_array_equal(loss, want_loss)
        np.testing.assert_array_equal(stats, want_stats)
        np.testing.assert_array_equal(grad, want_grad)
        # the forward's gradient too (of the sum: scale 1), into a guarded output
        fgrad = guard(np.zeros_like(x))
        assert fwd(_ptr(gx), n, c, *target, 0.1, -100, _ptr(loss, True), _ptr(stats, True),
                   ffi.NULL, 0, _ptr(fgrad, True)) == lib.AG_OK
        np.testing.assert_array_equal(
            fgrad, _xent_backward(x, want_stats, t, p, 0.1, -100, np.ones(1, dtype), 0))
        del gx, gt, gp, gs, loss, stats, grad, fgrad, keep


def test_xent_bad_labels_are_rejected_before_any_work():
    x = np.zeros((3, 4), np.float32)
    for bad in (4, -1, -101, 2 ** 62, -2 ** 63):
        labels = np.array([0, bad, 1], np.int64)
        status, loss, stats = _xent(x, labels, None, 0.0, -100)
        assert status == lib.AG_ERR_ARG
        assert np.all(loss == 777.0) and np.all(stats == 777.0)  # nothing was written
        grad = np.full_like(x, 5.0)
        status = lib.ag_softmax_xent_backward_f32(
            _ptr(x), _ptr(stats), 3, 4, _ptr(labels), ffi.NULL, 0.0, -100,
            _ptr(np.ones(1, np.float32)), 0, _ptr(grad, True))
        assert status == lib.AG_ERR_ARG and np.all(grad == 5.0)


def test_xent_status_codes():
    x = np.zeros((2, 3), np.float64)
    labels = np.zeros(2, np.int64)
    loss, stats = np.empty(2), np.empty((2, 2))
    f = lib.ag_softmax_xent_f64
    assert f(_ptr(x), 2, 3, ffi.NULL, ffi.NULL, 0.0, -100, _ptr(loss, True), _ptr(stats, True), ffi.NULL, 0, ffi.NULL) == lib.AG_ERR_NULL
    assert f(_ptr(x), 2, 3, _ptr(labels), _ptr(x), 0.0, -100, _ptr(loss, True), _ptr(stats, True), ffi.NULL, 0, ffi.NULL) == lib.AG_ERR_NULL
    assert f(_ptr(x), -1, 3, _ptr(labels), ffi.NULL, 0.0, -100, _ptr(loss, True), _ptr(stats, True), ffi.NULL, 0, ffi.NULL) == lib.AG_ERR_SIZE
    assert f(_ptr(x), 2, 0, _ptr(labels), ffi.NULL, 0.0, -100, _ptr(loss, True), _ptr(stats, True), ffi.NULL, 0, ffi.NULL) == lib.AG_ERR_ARG
    summary = np.full(2, 777.0)  # no rows: a summary of nothing
    assert f(ffi.NULL, 0, 3, ffi.NULL, ffi.NULL, 0.0, -100, ffi.NULL, ffi.NULL, _ptr(summary, True), 0, ffi.NULL) == lib.AG_OK
    assert summary.tolist() == [0.0, 0.0]
    assert f(_ptr(x), 2 ** 62, 2 ** 62, _ptr(labels), ffi.NULL, 0.0, -100, _ptr(loss, True),
             _ptr(stats, True), ffi.NULL, 0, ffi.NULL) == lib.AG_ERR_SIZE
    g = np.ones(1)
    assert lib.ag_softmax_xent_backward_f64(_ptr(x), _ptr(stats), 2, 3, _ptr(labels), ffi.NULL, 0.0,
                                            -100, _ptr(g), -1, _ptr(x, True)) == lib.AG_ERR_ARG
    assert lib.ag_mse_f64(_ptr(x), ffi.NULL, _ptr(loss, True), 2) == lib.AG_ERR_NULL
    assert lib.ag_mse_f64(_ptr(x), _ptr(x), _ptr(loss, True), -2) == lib.AG_ERR_SIZE


@pytest.mark.parametrize("labels", [True, False], ids=["labels", "probabilities"])
def test_xent_threads_agree_bitwise(isa, threads, labels):
    x, t, p = _xent_case(np.random.default_rng(6), 301, 97, np.float32, labels)
    threads(1)
    _, loss1, stats1 = _xent(x, t, p, 0.1, -100)
    g = np.ones(301, np.float32)
    grad1 = _xent_backward(x, stats1, t, p, 0.1, -100, g, 1)
    threads(2)
    _, loss2, stats2 = _xent(x, t, p, 0.1, -100)
    np.testing.assert_array_equal(loss2, loss1)
    np.testing.assert_array_equal(stats2, stats1)
    np.testing.assert_array_equal(_xent_backward(x, stats1, t, p, 0.1, -100, g, 1), grad1)


# ----------------------------------------------------------------- BCE with logits, MSE


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["bce_with_logits", "bce_with_logits_backward", "mse", "mse_backward"])
def test_pair_losses(threads, name, dtype):
    rng = np.random.default_rng(7)
    for n in (0, 1, 5, 17, 5000, 70001):
        x = (rng.standard_normal(n) * 10).astype(dtype)
        x[: min(n, 4)] = np.array([1e4, -1e4, 0.0, 40.0], dtype)[: min(n, 4)]
        t = rng.random(n).astype(dtype)
        out = np.full(n, 9.0, dtype)
        assert getattr(lib, f"ag_{name}_{_suffix(dtype)}")(_ptr(x), _ptr(t), _ptr(out, True), n) == lib.AG_OK
        base = name.replace("_backward", "")
        if name.endswith("_backward"):
            want = getattr(_numpy, f"{base}_backward")(np.ones(n, dtype), x, t, "none")[0]
        else:
            want = getattr(_numpy, base)(x, t, "none")
        tol = dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(out, want, **tol)
        assert np.all(np.isfinite(out))


# ----------------------------------------------------------------- the wrapper


def test_xent_mean_rounds_the_double_total_once():
    """The wrapper's float32 "mean" is the kernel's double row total over the count, rounded
    once (seed 6 is a case where rounding the total to float32 first gives the next float)."""
    from autograd.backend import _c

    rng = np.random.default_rng(6)
    x, t = (rng.standard_normal((7, 5)) * 3).astype(np.float32), rng.integers(0, 5, 7)
    rows, _ = _c.softmax_cross_entropy(x, t, "none")
    total = np.cumsum(rows.astype(np.float64))[-1]
    mean, _ = _c.softmax_cross_entropy(x, t, "mean")
    assert mean.dtype == np.float32 and mean == np.float32(total / 7)
    assert np.float32(np.float32(total) / np.float32(7)) != mean  # the case still tells them apart


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_wrapper_non_contiguous_and_errors(dtype):
    from autograd.backend import _c

    rng = np.random.default_rng(8)
    x = (rng.standard_normal((9, 6)) * 3).astype(dtype).T  # (6, 9), transposed view
    labels = rng.integers(0, 9, 6)
    probs = rng.random((9, 6)).astype(dtype).T
    for target in (labels, labels.astype(np.int32), probs):
        for reduction in ("none", "mean", "sum"):
            got, gs = _c.softmax_cross_entropy(x, target, reduction, 0.2, -100)
            want, ws = _numpy.softmax_cross_entropy(x, target, reduction, 0.2, -100)
            tol = 3e-6 if dtype == np.float32 else 1e-13
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
            g = np.ones(6, dtype) if reduction == "none" else dtype(1.5)
            np.testing.assert_allclose(_c.softmax_cross_entropy_backward(g, gs),
                                       _numpy.softmax_cross_entropy_backward(g, ws), rtol=tol, atol=tol)
    for name in PARAMS:
        y = np.asarray(rng.standard_normal((7, 5)), dtype)[:, ::2]
        _assert_close(name, getattr(_c, name)(y, *PARAMS[name]), _reference(name, (y,), PARAMS[name]))
    with pytest.raises(_c.KernelError, match="softmax_cross_entropy"):
        _c.softmax_cross_entropy(x, np.array([0, 1, 2, 3, 4, 99]), "mean", 0.0, -100)
