"""conv.c (im2col, col2im, max and average pooling) held to the numpy reference.

Through `autograd.backend._c` (which validates and lays out the buffers) against
`autograd.backend._numpy`: hypothesis-drawn geometries (sizes 0 and 1, odd sizes, strides,
padding), float32 and float64, non-contiguous inputs; NaN and -inf in max pooling; results
bitwise independent of the thread count and of the ISA cap; and the raw kernels' status codes
for arguments that would otherwise index out of bounds. Runs under ASan (tools/asan_test.sh).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _c_backend import before_a_guard_page, import_c_backend

_c = import_c_backend()

from autograd.backend import _numpy
from autograd.errors import ShapeError

ffi, lib = _c.ffi, _c.lib
DTYPES = [np.float32, np.float64]
# The ISA-cap and thread-count fixtures are the raw kernel tests' own (same extension module).
from test_backend_c import ISA_NAMES, isa, threads  # noqa: E402,F401  (pytest fixtures)


def _close(actual, expected):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    rtol = 1e-6 if actual.dtype == np.float32 else 1e-14
    scale = float(np.max(np.abs(expected), initial=1.0))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def _layout(x, how):
    """x itself, or the same values in a non-contiguous array (a strided view or a transpose)."""
    if how == "strided":
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if how == "transposed":
        return np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    return x


@st.composite
def geometry(draw, pool):
    """(x shape, kernel, stride, padding): the window fits; pooling pads at most half of it."""
    n, c = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    h, w = draw(st.integers(1, 13)), draw(st.integers(1, 13))
    if pool:
        kh, kw = draw(st.integers(1, min(4, h))), draw(st.integers(1, min(4, w)))
        ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    else:
        ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        kh, kw = draw(st.integers(1, min(5, h + 2 * ph))), draw(st.integers(1, min(5, w + 2 * pw)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (n, c, h, w), (kh, kw), stride, (ph, pw)


def _out_shape(shape, kernel, stride, padding):
    return shape[:2] + tuple(_numpy._out_size(shape[2 + a], kernel[a], stride[a], padding[a])
                             for a in (0, 1))


LAYOUTS = st.sampled_from(["contiguous", "strided", "transposed"])


# the isa fixture holds one cap for all of a run's examples, which is what is wanted here
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(geo=geometry(pool=False), dtype=st.sampled_from(DTYPES), layout=LAYOUTS,
       batch_major=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_im2col_col2im(isa, geo, dtype, layout, batch_major, seed):
    """Per image (n, c*kh*kw, oh*ow) or batch-major (c*kh*kw, n*oh*ow), at every ISA cap (AVX-512
    copies rows with masked vectors); planes of up to 64 outputs without padding take the
    small-plane (offset table) path, larger ones the row loop."""
    shape, kernel, stride, padding = geo
    rng = np.random.default_rng(seed)
    x = _layout(rng.standard_normal(shape).astype(dtype), layout)
    cols = _c.im2col(x, kernel, stride, padding, batch_major)
    np.testing.assert_array_equal(cols, _numpy.im2col(x, kernel, stride, padding, batch_major))
    if batch_major:  # the same values, the batch moved next to the positions
        per_image = _numpy.im2col(x, kernel, stride, padding)
        n, k, l = per_image.shape
        np.testing.assert_array_equal(cols, per_image.swapaxes(0, 1).reshape(k, n * l))
    g = _layout(rng.standard_normal(cols.shape).astype(dtype)[..., None], "strided")[..., 0]
    _close(_c.col2im(g, shape, kernel, stride, padding, batch_major),
           _numpy.col2im(g, shape, kernel, stride, padding, batch_major))


@settings(max_examples=60, deadline=None)
@given(geo=geometry(pool=True), dtype=st.sampled_from(DTYPES), layout=LAYOUTS,
       seed=st.integers(0, 2 ** 16), ties=st.booleans())
def test_pooling(geo, dtype, layout, seed, ties):
    shape, kernel, stride, padding = geo
    rng = np.random.default_rng(seed)
    values = rng.integers(-2, 3, shape) if ties else rng.standard_normal(shape)  # ties: first wins
    x = _layout(values.astype(dtype), layout)
    out, idx = _c.max_pool2d(x, kernel, stride, padding)
    ref_out, ref_idx = _numpy.max_pool2d(x, kernel, stride, padding)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(idx, ref_idx)
    assert out.dtype == dtype and idx.dtype == np.int64
    g = _layout(rng.standard_normal(out.shape).astype(dtype), layout)
    _close(_c.max_pool2d_backward(g, idx, shape, kernel, stride, padding),
           _numpy.max_pool2d_backward(g, idx, shape, kernel, stride, padding))
    _close(_c.avg_pool2d(x, kernel, stride, padding), _numpy.avg_pool2d(x, kernel, stride, padding))
    _close(_c.avg_pool2d_backward(g, shape, kernel, stride, padding),
           _numpy.avg_pool2d_backward(g, shape, kernel, stride, padding))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(2, 9), w=st.sampled_from([2, 3, 4, 31, 32, 33, 34, 63, 64, 65, 66]),
       dtype=st.sampled_from(DTYPES), special=st.sampled_from(["none", "ties", "nan", "inf"]),
       seed=st.integers(0, 2 ** 16))
def test_max_pool_2x2_rows_at_every_isa(isa, h, w, dtype, special, seed):
    """max_pool2d(x, 2) and its backward: the row kernels (AVX-512 float32: 16 windows per step,
    a masked tail) equal the reference bit for bit, ties going to the first and NaN winning
    where it comes first; -0.0 gradients sum to +0.0 as in the scatter-add."""
    rng = np.random.default_rng(seed)
    x = (rng.integers(-2, 3, (2, 3, h, w)) if special == "ties" else rng.standard_normal((2, 3, h, w)))
    x = x.astype(dtype)
    if special in ("nan", "inf"):
        x.ravel()[rng.integers(0, x.size, max(1, x.size // 5))] = np.nan if special == "nan" else -np.inf
    out, idx = _c.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    ref_out, ref_idx = _numpy.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(out.view(f"u{out.itemsize}"), ref_out.view(f"u{out.itemsize}"))
    np.testing.assert_array_equal(idx, ref_idx)
    # the backward (AVX-512 float32: whole rows written, 0 + g where the index points)
    g = rng.standard_normal(out.shape).astype(dtype)
    g.ravel()[::3] = -0.0
    if idx.size > 1:  # an index elsewhere in the plane than its window: the scalar scatter's sum
        idx = idx.copy()
        idx[0, 0, 0, 0] = idx.reshape(2, 3, -1)[0, 0, -1]
    got = _c.max_pool2d_backward(g, idx, x.shape, (2, 2), (2, 2), (0, 0))
    ref = _numpy.max_pool2d_backward(g, idx, x.shape, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), ref.view(f"u{ref.itemsize}"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(2, 9), w=st.sampled_from([2, 3, 4, 15, 16, 17, 31, 32, 33, 34, 65, 66]),
       dtype=st.sampled_from(DTYPES), special=st.sampled_from(["none", "signed zeros", "nan", "inf"]),
       seed=st.integers(0, 2 ** 16))
def test_avg_pool_2x2_rows_at_every_isa(isa, h, w, dtype, special, seed):
    """avg_pool2d(x, 2) and its backward (loops without bounds for this geometry) equal the
    reference bit for bit: 0 + the window in (i, j) order, then / 4 (a window of -0.0 gives
    +0.0, as the general loop does); an odd last row or column is left out (floor mode)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, h, w)).astype(dtype)
    if special == "signed zeros":  # windows of -0.0 (first image), and of -0.0 next to +0.0
        x[0] = -0.0
        x[1, :, ::2] = -0.0
        x[1, :, 1::2] = 0.0
    elif special in ("nan", "inf"):
        x.ravel()[rng.integers(0, x.size, max(1, x.size // 5))] = np.nan if special == "nan" else -np.inf
    got = _c.avg_pool2d(x, (2, 2), (2, 2), (0, 0))
    ref = _numpy.avg_pool2d(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), ref.view(f"u{ref.itemsize}"))
    # the backward: each input element one share, 0 + g / 4 (a -0.0 gradient gives +0.0), and
    # the row and column no window covers zero (the output is not zero-filled first)
    g = rng.standard_normal(got.shape).astype(dtype)
    g.ravel()[::3] = -0.0
    got = _c.avg_pool2d_backward(g, x.shape, (2, 2), (2, 2), (0, 0))
    ref = _numpy.avg_pool2d_backward(g, x.shape, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), ref.view(f"u{ref.itemsize}"))


def _same_with_guarded_inputs(fn, *arrays):
    """fn's results equal, bit for bit, with each input array copied to end at an unreadable
    page (a read past the end faults)."""
    want = fn(*arrays)
    guarded = [before_a_guard_page(a) for a in arrays]
    got = fn(*(g for g, _ in guarded))
    for w, o in zip(want if isinstance(want, tuple) else (want,),
                    got if isinstance(got, tuple) else (got,)):
        np.testing.assert_array_equal(o, w)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_kernels_never_read_past_their_inputs(isa, dtype):
    """im2col, col2im, both poolings and their backward passes with the input (and the pooling
    indices) ending at an unreadable page, at widths around every vector tail: the same bits as
    elsewhere, and no fault (masked vector loads are invisible to the sanitizer job)."""
    rng = np.random.default_rng(8)
    same = _same_with_guarded_inputs
    # AVX-512 rows take 16 windows (32 columns) a step, AVX2 rows 8 (16 columns): tails of each
    for h, w in [(2, 2), (3, 5), (2, 12), (2, 14), (2, 17), (4, 26), (2, 30), (2, 31), (4, 33),
                 (3, 34), (2, 63), (5, 65), (2, 66)]:
        shape = (2, 3, h, w)
        x = rng.standard_normal(shape).astype(dtype)
        for kernel, stride, padding in [((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1))]:
            if kernel[0] > h + 2 * padding[0]:
                continue
            same(lambda a: _c.im2col(a, kernel, stride, padding), x)
            cols = _c.im2col(x, kernel, stride, padding)
            same(lambda g: _c.col2im(g, shape, kernel, stride, padding),
                 rng.standard_normal(cols.shape).astype(dtype))
            same(lambda a: _c.max_pool2d(a, kernel, stride, padding), x)
            same(lambda a: _c.avg_pool2d(a, kernel, stride, padding), x)
            out, idx = _c.max_pool2d(x, kernel, stride, padding)
            g = rng.standard_normal(out.shape).astype(dtype)
            same(lambda gg, ii: _c.max_pool2d_backward(gg, ii, shape, kernel, stride, padding),
                 g, idx)
            same(lambda gg: _c.avg_pool2d_backward(gg, shape, kernel, stride, padding), g)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_max_pool_nan_and_infinities(isa, dtype):
    """The first NaN of a window wins; an all -inf window picks a real element, never padding."""
    x = np.full((1, 2, 5, 5), -np.inf, dtype=dtype)
    x[0, 1, 1, 2], x[0, 1, 1, 3], x[0, 1, 3, 3] = np.nan, np.nan, np.inf
    for kernel, stride, padding in [((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (1, 0))]:
        out, idx = _c.max_pool2d(x, kernel, stride, padding)
        ref_out, ref_idx = _numpy.max_pool2d(x, kernel, stride, padding)
        np.testing.assert_array_equal(out, ref_out)
        np.testing.assert_array_equal(idx, ref_idx)
        assert idx.min() >= 0 and idx.max() < 25
    out, idx = _c.max_pool2d(x, (3, 3), (2, 2), (1, 1))
    assert np.isneginf(out[0, 0]).all() and np.isnan(out[0, 1, 0, 1]) and idx[0, 1, 0, 1] == 7


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_bitwise_same_for_threads_and_isa(isa, threads, dtype):
    """The CNN's shapes: every kernel gives the same bits on one thread and on two."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 8, 26, 26)).astype(dtype)
    geo = ((3, 3), (1, 1), (1, 1))
    pool = ((2, 2), (2, 2), (0, 0))
    results = []
    for n in (1, 2, 3):
        threads(n)
        cols = _c.im2col(x, *geo)
        out, idx = _c.max_pool2d(x, *pool)
        g = np.ones_like(out)
        results.append([cols, _c.col2im(cols, x.shape, *geo), out, idx,
                        _c.max_pool2d_backward(g, idx, x.shape, *pool), _c.avg_pool2d(x, *pool),
                        _c.avg_pool2d_backward(out, x.shape, *pool)])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    _close(results[0][1], _numpy.col2im(results[0][0], x.shape, *geo))


# ---- the raw kernels refuse what would read or write out of bounds -------------------------------
def _raw(kernel, *arrays, geometry):
    ptrs = [ffi.from_buffer("int64_t[]" if a.dtype == np.int64 else "double[]", a) for a in arrays]
    return getattr(lib, f"ag_{kernel}_f64")(*ptrs, *geometry)


def test_raw_kernels_check_their_geometry():
    x = np.zeros((1, 1, 4, 4))
    out, idx = np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), dtype=np.int64)
    good = (1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 2, 2)
    assert _raw("max_pool2d", x, out, idx, geometry=good) == lib.AG_OK
    assert _raw("max_pool2d", x, out, idx, geometry=good[:10] + (3, 2)) == lib.AG_ERR_ARG  # oh
    assert _raw("max_pool2d", x, out, idx, geometry=good[:4] + (2, 2, 2, 2, 2, 0, 4, 2)) == \
        lib.AG_ERR_ARG  # padding more than half the window
    assert _raw("max_pool2d", x, out, idx, geometry=(-1,) + good[1:]) == lib.AG_ERR_SIZE
    assert _raw("im2col", x, np.zeros(16), geometry=(1, 1, 4, 4, 5, 1, 1, 1, 0, 0, 0, 4)) == \
        lib.AG_ERR_ARG  # kernel larger than the input
    assert _raw("im2col", x, np.zeros(16), geometry=(1, 1, 4, 4, 1, 1, 0, 1, 0, 0, 4, 4)) == \
        lib.AG_ERR_ARG  # zero stride
    idx[0, 0, 1, 1] = 16  # outside the 4 x 4 plane
    assert _raw("max_pool2d_backward", out, idx, x, geometry=good) == lib.AG_ERR_ARG
    idx[0, 0, 1, 1] = -1
    assert _raw("max_pool2d_backward", out, idx, x, geometry=good) == lib.AG_ERR_ARG


def test_wrapper_checks_buffer_shapes():
    with pytest.raises(ShapeError, match=r"col2im: cols must have shape \(1, 4, 9\)"):
        _c.col2im(np.zeros((1, 4, 8)), (1, 1, 4, 4), (2, 2), (1, 1), (0, 0))
    with pytest.raises(ShapeError, match="max_pool2d_backward: the indices"):
        _c.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 1), np.int64),
                               (1, 1, 4, 4), (2, 2), (2, 2), (0, 0))
    with pytest.raises(_c.KernelError, match="max_pool2d_backward: invalid argument"):
        _c.max_pool2d_backward(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 99, np.int64),
                               (1, 1, 4, 4), (2, 2), (2, 2), (0, 0))


# ---- a convolution's per-channel bias and its gradient -------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(1, 7), st.integers(1, 7)),
       dtype=st.sampled_from(DTYPES), layout=st.sampled_from(["contiguous", "strided", "transposed"]),
       seed=st.integers(0, 2**16))
def test_channel_bias_and_sum(threads, shape, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    x = _layout(rng.standard_normal(shape).astype(dtype), layout)
    bias = rng.standard_normal(shape[1]).astype(dtype)
    expected = _numpy.add_channel_bias(x.copy(), bias)
    np.testing.assert_array_equal(expected, x + bias[:, None, None])  # the reference itself
    for n in (1, 2):
        threads(n)
        out = x.copy()  # C-contiguous, as conv2d's own output is
        assert _c.add_channel_bias(out, bias) is out
        np.testing.assert_array_equal(out, expected)  # one rounding per element: exact
        total = _c.channel_sum(x)
        assert total.shape == (shape[1],) and total.dtype == dtype
        # within rounding of the exact sum: float32 (or 64) additions, each off by at most one
        # unit of the running sum, bounded by the sum of the terms' magnitudes
        exact = x.astype(np.float64).sum(axis=(0, 2, 3))
        terms = shape[0] * shape[2] * shape[3]
        bound = np.finfo(dtype).eps * terms * np.abs(x).astype(np.float64).sum(axis=(0, 2, 3))
        for got in (total, _numpy.channel_sum(x)):
            assert np.all(np.abs(got - exact) <= bound + np.abs(exact) * np.finfo(dtype).eps)


@pytest.mark.parametrize("shape", [(64, 32, 26, 26), (3, 5, 61, 67)], ids=["cnn", "long-planes"])
def test_channel_sum_is_bitwise_the_same_for_any_thread_count(threads, shape):
    """The first CNN layer's gradient (channels in groups of three, the last group short), and
    planes of 4,087 elements (each summed in two blocks)."""
    g = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    sums = []
    for n in (1, 2, 3):
        threads(n)
        sums.append(_c.channel_sum(g))
    np.testing.assert_array_equal(sums[0], sums[1])
    np.testing.assert_array_equal(sums[0], sums[2])
    # within float32 rounding of the exact sum (43,264 terms of about 1 for the CNN's)
    np.testing.assert_allclose(sums[0], g.astype(np.float64).sum(axis=(0, 2, 3)), rtol=0, atol=2e-4)


def test_channel_raw_kernels_check_sizes():
    x, b = np.zeros(12), np.zeros(3)
    px, pb = ffi.from_buffer("double[]", x), ffi.from_buffer("double[]", b)
    assert lib.ag_add_channel_bias_f64(px, pb, 2, 3, 2) == lib.AG_OK
    assert lib.ag_add_channel_bias_f64(px, pb, -1, 3, 2) == lib.AG_ERR_SIZE
    assert lib.ag_channel_sum_f64(px, pb, 2, -3, 2) == lib.AG_ERR_SIZE
    assert lib.ag_channel_sum_f64(ffi.NULL, pb, 2, 3, 2) == lib.AG_ERR_NULL
    assert lib.ag_channel_sum_f64(px, pb, 0, 3, 2) == lib.AG_OK and not b.any()  # empty sum: 0


# ---- conv2d image by image (conv2d.c) --------------------------------------------------------
def _conv_reference(x, w, g, geo):
    """conv2d and its gradients in float64 by the numpy reference, and the same on absolute
    values: the size of the terms each result element sums, which scales its rounding error."""
    kernel, stride, padding = geo
    x64, w64, g64 = (np.asarray(a, np.float64) for a in (x, w, g))
    exact = (_numpy.conv2d(x64, w64, stride, padding),
             _numpy.conv2d_grad_input(g64, w64, x.shape, stride, padding),
             _numpy.conv2d_grad_weight(x64, g64, kernel, stride, padding))
    x64, w64, g64 = abs(x64), abs(w64), abs(g64)
    bound = (_numpy.conv2d(x64, w64, stride, padding),
             _numpy.conv2d_grad_input(g64, w64, x.shape, stride, padding),
             _numpy.conv2d_grad_weight(x64, g64, kernel, stride, padding))
    return exact, bound


def _conv_all(x, w, g, geo):
    kernel, stride, padding = geo
    return (_c.conv2d(x, w, stride, padding), _c.conv2d_grad_input(g, w, x.shape, stride, padding),
            _c.conv2d_grad_weight(x, g, kernel, stride, padding))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv2d_never_reads_past_its_inputs(isa, threads, dtype):
    """conv2d and both gradients with x, w and g each ending at an unreadable page, the seeds'
    CNN layer shapes and odd ones, one and two threads: the same bits, and no fault."""
    rng = np.random.default_rng(9)
    for (n, c, h, w), out_c, k, stride, padding in [((2, 1, 28, 28), 32, 3, (1, 1), (0, 0)),
                                                    ((3, 32, 13, 13), 64, 3, (1, 1), (0, 0)),
                                                    ((2, 3, 7, 9), 5, 3, (2, 1), (1, 1)),
                                                    ((9, 2, 5, 5), 3, 2, (1, 2), (0, 1)),
                                                    ((30, 64, 5, 5), 64, 3, (1, 1), (0, 0))]:
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
        wt = rng.standard_normal((out_c, c, k, k)).astype(dtype)
        oh, ow = _out_shape(x.shape, (k, k), stride, padding)[2:]
        g = rng.standard_normal((n, out_c, oh, ow)).astype(dtype)
        for t in (1, 2):
            threads(t)
            _same_with_guarded_inputs(lambda a, b: _c.conv2d(a, b, stride, padding), x, wt)
            _same_with_guarded_inputs(
                lambda a, b: _c.conv2d_grad_input(a, b, x.shape, stride, padding), g, wt)
            _same_with_guarded_inputs(
                lambda a, b: _c.conv2d_grad_weight(a, b, (k, k), stride, padding), x, g)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(geo=geometry(pool=False), n=st.sampled_from([1, 2, 3, 9, 17]), out_c=st.integers(1, 4),
       dtype=st.sampled_from(DTYPES), layout=LAYOUTS, seed=st.integers(0, 2**16))
def test_conv2d_and_gradients(isa, threads, geo, n, out_c, dtype, layout, seed):
    """Forward, input and weight gradient against the float64 reference, within rounding of the
    terms summed; 9 and 17 images make two and three groups of the weight gradient's sum."""
    shape, kernel, stride, padding = geo
    shape = (n, max(shape[1], 1)) + shape[2:]
    oh, ow = _out_shape(shape, kernel, stride, padding)[2:]
    rng = np.random.default_rng(seed)
    x = _layout(rng.standard_normal(shape).astype(dtype), layout)
    w = _layout(rng.standard_normal((out_c, shape[1]) + kernel).astype(dtype), layout)
    g = _layout(rng.standard_normal((n, out_c, oh, ow)).astype(dtype), layout)
    exact, bound = _conv_reference(x, w, g, (kernel, stride, padding))
    tol = 1e-4 if dtype == np.float32 else 1e-12
    results = []
    for t in (1, 2):
        threads(t)
        results.append(_conv_all(x, w, g, (kernel, stride, padding)))
        for got, want, size in zip(results[-1], exact, bound):
            assert got.dtype == dtype and got.shape == want.shape
            assert np.all(np.abs(got - want) <= tol * size + 1e-30), (got, want)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape, out_c, padding", [((64, 32, 13, 13), 64, 0), ((19, 3, 28, 28), 8, 1),
                                                   ((37, 64, 5, 5), 64, 0)],
                         ids=["cnn-conv2", "padded-19-images", "cnn-conv3-37-images"])
def test_conv2d_bitwise_the_same_for_any_thread_count(isa, threads, dtype, shape, out_c, padding):
    """The seeds' second conv layer at batch 64 (8 groups of the weight gradient over 1, 2 or 3
    threads), 19 padded images (groups of 8, 8 and 3), and the third layer's 3 x 3 outputs over
    37 images (thin per-image products; groups of 8, ..., 5)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((out_c, shape[1], 3, 3)).astype(dtype)
    geo = ((3, 3), (1, 1), (padding, padding))
    g = rng.standard_normal(_c.conv2d(x, w, geo[1], geo[2]).shape).astype(dtype)
    runs = []
    for t in (1, 2, 3):
        threads(t)
        runs.append(_conv_all(x, w, g, geo))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)
    exact, bound = _conv_reference(x, w, g, geo)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for got, want, size in zip(runs[0], exact, bound):
        assert np.all(np.abs(got - want) <= tol * size)


def test_conv2d_raw_kernels_check_arguments_and_fill_empty_sums():
    x, w = np.ones((2, 1, 4, 4)), np.ones((3, 1, 2, 2))
    out, gx, gw = np.full((2, 3, 3, 3), 7.0), np.full((2, 1, 4, 4), 7.0), np.full((3, 1, 2, 2), 7.0)
    good = (2, 1, 4, 4, 2, 2, 1, 1, 0, 0, 3, 3)
    assert _raw("conv2d", x, w, out, geometry=good + (3,)) == lib.AG_OK and (out == 4).all()
    assert _raw("conv2d", x, w, out, geometry=good + (-1,)) == lib.AG_ERR_SIZE
    assert _raw("conv2d", x, w, out, geometry=good[:10] + (4, 3) + (3,)) == lib.AG_ERR_ARG  # oh
    assert _raw("conv2d_grad_input", out, w, gx, geometry=(-2,) + good[1:] + (3,)) == lib.AG_ERR_SIZE
    px = ffi.from_buffer("double[]", x)
    assert lib.ag_conv2d_grad_weight_f64(px, ffi.NULL, ffi.from_buffer("double[]", gw), *good, 3) \
        == lib.AG_ERR_NULL
    # empty sums: no output channels (input gradient 0), no images (weight gradient 0)
    assert _raw("conv2d_grad_input", out, w, gx, geometry=good + (0,)) == lib.AG_OK and not gx.any()
    assert _raw("conv2d_grad_weight", x, out, gw, geometry=(0,) + good[1:] + (3,)) == lib.AG_OK
    assert not gw.any()
    # and no input channels: the forward's sum is empty
    assert _raw("conv2d", x, w, out, geometry=(2, 0) + good[2:] + (3,)) == lib.AG_OK and not out.any()


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 2), h=st.integers(1, 40), w=st.integers(1, 40),
       kernel=st.tuples(st.integers(1, 6), st.integers(1, 6)), sh=st.integers(1, 3),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)), batch_major=st.booleans(),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_col2im_row_builder_matches_the_scatter_bitwise(n, c, h, w, kernel, sh, padding,
                                                        batch_major, dtype, seed):
    """With unit column stride, AVX-512 col2im builds each input row in registers (16 or 8
    columns at a time; rows up to 40 wide take several); the portable scatter adds the same
    terms in the same order, so the two agree bit for bit, signs of zeros included."""
    if lib.ag_isa() != lib.AG_ISA_AVX512:
        pytest.skip("the row builder is the AVX-512 path; this CPU has no AVX-512")
    kh, kw = min(kernel[0], h + 2 * padding[0]), min(kernel[1], w + 2 * padding[1])
    oh, ow = (h + 2 * padding[0] - kh) // sh + 1, w + 2 * padding[1] - kw + 1
    shape = (c * kh * kw, n * oh * ow) if batch_major else (n, c * kh * kw, oh * ow)
    cols = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    cols[..., ::5] = -0.0
    args = ((n, c, h, w), (kh, kw), (sh, 1), padding, batch_major)
    fast = _c.col2im(cols, *args)
    lib.ag_set_isa_cap(lib.AG_ISA_PORTABLE)
    try:
        portable = _c.col2im(cols, *args)
    finally:
        lib.ag_set_isa_cap(lib.AG_ISA_AVX512)
    np.testing.assert_array_equal(fast, portable)
    np.testing.assert_array_equal(np.signbit(fast), np.signbit(portable))
    _close(fast, _numpy.col2im(cols, *args))


def _avx512_planes_match_the_portable_path(n, c, h, w, args, seed):
    """im2col and col2im (float32, AVX-512) against the same calls capped to the portable loops:
    the same bits, signs of zeros included; and im2col against the reference."""
    (kh, kw), stride = args[:2]
    oh, ow = (h - kh) // stride[0] + 1, (w - kw) // stride[1] + 1
    batch_major = args[3]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    shape = (c * kh * kw, n * oh * ow) if batch_major else (n, c * kh * kw, oh * ow)
    cols = rng.standard_normal(shape).astype(np.float32)
    cols[..., ::3] = -0.0
    fast = _c.im2col(x, *args), _c.col2im(cols, (n, c, h, w), *args)
    lib.ag_set_isa_cap(lib.AG_ISA_PORTABLE)
    try:
        portable = _c.im2col(x, *args), _c.col2im(cols, (n, c, h, w), *args)
    finally:
        lib.ag_set_isa_cap(lib.AG_ISA_AVX512)
    for a, b in zip(fast, portable):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
    np.testing.assert_array_equal(fast[0], _numpy.im2col(x, *args))


@settings(max_examples=80, deadline=None)
@given(h=st.integers(1, 8), w=st.integers(1, 8), kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), n=st.integers(1, 3),
       c=st.integers(1, 2), batch_major=st.booleans(), seed=st.integers(0, 2**16))
def test_tiny_planes_match_the_portable_path_bitwise(h, w, kernel, stride, n, c, batch_major,
                                                     seed):
    """Float planes of at most 32 elements with at most 16 outputs and no padding move as two
    AVX-512 registers (a permute per kernel offset; col2im sums the plane in registers): the
    same copies as the portable offset table, and the same additions in the same order."""
    if lib.ag_isa() != lib.AG_ISA_AVX512:
        pytest.skip("the two-register planes are the AVX-512 path; this CPU has no AVX-512")
    kh, kw = min(kernel[0], h), min(kernel[1], w)
    args = ((kh, kw), stride, (0, 0), batch_major)
    _avx512_planes_match_the_portable_path(n, c, h, w, args, seed)


@settings(max_examples=80, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 16), kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       n=st.integers(1, 3), c=st.integers(1, 3), batch_major=st.booleans(), seed=st.integers(0, 2**16))
def test_short_rows_match_the_portable_path_bitwise(h, w, kernel, n, c, batch_major, seed):
    """Float planes up to 16 wide, unit stride, no padding (a 3 x 3 layer on 13 x 13 planes)
    that are not tiny: im2col copies each output row as one masked vector, col2im builds each
    input row in one register over (i, j) in order; both equal the portable loops bit for bit
    (signs of zeros included), and im2col equals the reference."""
    if lib.ag_isa() != lib.AG_ISA_AVX512:
        pytest.skip("the short-row paths are AVX-512; this CPU has no AVX-512")
    kh, kw = min(kernel[0], h), min(kernel[1], w)
    args = ((kh, kw), (1, 1), (0, 0), batch_major)
    _avx512_planes_match_the_portable_path(n, c, h, w, args, seed)


def test_short_rows_touch_nothing_past_the_plane():
    """The last plane's last row read by im2col, and the last window row read by col2im, end
    exactly at an unreadable page (a full vector there would fault)."""
    for h, w, k in ((13, 13, 3), (7, 16, 2), (5, 9, 4)):
        values = np.random.default_rng(h).standard_normal(2 * 3 * h * w).astype(np.float32)
        x, keep = before_a_guard_page(values)
        x = x.reshape(2, 3, h, w)
        cols = _c.im2col(x, (k, k), (1, 1), (0, 0))
        np.testing.assert_array_equal(cols, _numpy.im2col(values.reshape(2, 3, h, w), (k, k), (1, 1), (0, 0)))
        g, keep_g = before_a_guard_page(cols.reshape(-1))
        _close(_c.col2im(g.reshape(cols.shape), (2, 3, h, w), (k, k), (1, 1), (0, 0)),
               _numpy.col2im(cols, (2, 3, h, w), (k, k), (1, 1), (0, 0)))
        del x, keep, g, keep_g


def test_conv2d_wrappers_check_shapes_and_hand_the_rest_to_the_reference():
    x, w = np.ones((2, 3, 6, 6)), np.ones((4, 3, 3, 3))
    geo = ((1, 1), (0, 0))
    with pytest.raises(ShapeError, match=r"conv2d_grad_input: g must have shape \(2, 4, 4, 4\)"):
        _c.conv2d_grad_input(np.ones((2, 4, 4, 5)), w, x.shape, *geo)
    with pytest.raises(ShapeError, match=r"conv2d_grad_input: weight must have shape \(4, 3, 3, 3\)"):
        _c.conv2d_grad_input(np.ones((2, 4, 4, 4)), np.ones((4, 2, 3, 3)), x.shape, *geo)
    with pytest.raises(ShapeError, match=r"conv2d_grad_weight: g must have shape \(2, 4, 4, 4\)"):
        _c.conv2d_grad_weight(x, np.ones((2, 4, 3, 4)), (3, 3), *geo)
    # empty batches and dtypes without a kernel: the numpy reference, same results
    for args in ((np.ones((0, 3, 6, 6)), w), (x.astype(np.float16), w.astype(np.float16))):
        out = _c.conv2d(*args, *geo)
        np.testing.assert_array_equal(out, _numpy.conv2d(*args, *geo))
        assert out.dtype == args[0].dtype and out.shape == (args[0].shape[0], 4, 4, 4)
    gw = _c.conv2d_grad_weight(np.ones((0, 3, 6, 6)), np.ones((0, 4, 4, 4)), (3, 3), *geo)
    assert gw.shape == w.shape and not gw.any()  # an empty sum
