"""reduce.c's row sum (channel_sum of a linear layer's (n, c) gradient: its bias gradient) held
bitwise to numpy's x.sum(axis=0), and the same sum fused with relu_backward (a LinearReLU's
gradients) held bitwise to numpy's g * (y > 0) and its sum.

Hypothesis draws row and column counts (0, 1, primes, around the vector widths, the 256-column
block and the threading threshold), float32 and float64 and special values; every ISA level and
one to three threads must give numpy's exact bits. Runs under ASan (tools/asan_test.sh).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _c_backend import before_a_guard_page, import_c_backend

_c = import_c_backend()

from autograd.backend import _numpy  # noqa: E402
from autograd.errors import ShapeError  # noqa: E402

from test_backend_c_optim import _assert_same_bits, _each_isa_and_thread_count  # noqa: E402

lib, ffi = _c.lib, _c.ffi
ROWS = st.sampled_from([0, 1, 2, 3, 7, 32, 33, 129, 600])
COLS = st.sampled_from([0, 1, 5, 10, 15, 16, 17, 31, 33, 64, 255, 256, 257, 300, 513])
SPECIAL = [0.0, -0.0, 1e30, -1e30, 3.0, np.inf, np.nan]


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, cols=COLS, dtype=st.sampled_from([np.float32, np.float64]),
       special=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_sum_rows_bitwise_equal_to_numpy_on_every_isa_and_thread_count(rows, cols, dtype, special, seed):
    rng = np.random.default_rng(seed)
    # magnitudes that spread over many exponents, so that any change of order changes bits
    x = (rng.standard_normal((rows, cols)) * 10.0 ** rng.integers(-3, 4, (rows, cols))).astype(dtype)
    if special and x.size:
        flat = x.reshape(-1)
        flat[rng.integers(0, x.size, 3)] = rng.choice(SPECIAL, 3)
    expected = x.sum(axis=0)
    for isa_name, n_threads in _each_isa_and_thread_count():
        _assert_same_bits(_c.channel_sum(x), expected, f"({isa_name}, {n_threads} threads)")


def test_sum_rows_splits_columns_across_threads_without_changing_bits():
    """Big enough (rows x cols >= 2^17) for the threads to share the columns, at an odd width."""
    x = np.random.default_rng(0).standard_normal((700, 333)).astype(np.float32)
    previous = lib.ag_get_num_threads()
    try:
        for n_threads in (1, 2, 3):
            lib.ag_set_num_threads(n_threads)
            _assert_same_bits(_c.channel_sum(x), x.sum(axis=0), f"{n_threads} threads")
    finally:
        lib.ag_set_num_threads(previous)


def test_sum_rows_by_hand_and_the_empty_sum():
    x = np.array([[1.0, -0.0, 2.5], [2.0, -0.0, -2.5], [4.0, -0.0, 1e-8]], np.float32)
    out = _c.channel_sum(x)
    # numpy starts from +0: a column of -0 sums to +0
    assert out.tolist() == [7.0, 0.0, np.float32(1e-8)] and not np.signbit(out[1])
    assert _c.channel_sum(np.zeros((0, 4), np.float64)).tolist() == [0.0] * 4
    assert _c.channel_sum(np.zeros((3, 0), np.float32)).shape == (0,)


@pytest.mark.parametrize("layout", ["fortran", "strided rows", "int64", "one column"])
def test_sum_rows_of_other_layouts_and_dtypes_are_still_numpys(layout):
    """Layouts other than C order, a single column and int64 take the reference: numpy sums
    contiguous columns (Fortran order, one column) pairwise, which the kernel would not."""
    rng = np.random.default_rng(4)
    base = (rng.standard_normal((600, 4)) * 10.0 ** rng.integers(-3, 4, (600, 4))).astype(np.float32)
    x = {"fortran": np.asfortranarray(base), "strided rows": base[::2], "int64": np.arange(12).reshape(3, 4),
         "one column": base[:, :1]}[layout]
    _assert_same_bits(_c.channel_sum(x), x.sum(axis=0), layout)
    _assert_same_bits(_numpy.channel_sum(x), x.sum(axis=0), layout)


def test_sum_rows_reads_nothing_past_the_matrix():
    for rows, cols in ((1, 17), (5, 33), (3, 257)):
        values = np.random.default_rng(rows).standard_normal(rows * cols).astype(np.float32)
        x, keep = before_a_guard_page(values)
        x = x.reshape(rows, cols)
        np.testing.assert_array_equal(_c.channel_sum(x), values.reshape(rows, cols).sum(axis=0))
        del x, keep


def test_raw_sum_rows_rejects_null_negative_sizes_and_overlap():
    x = np.ones((4, 8), np.float32)
    out = np.empty(8, np.float32)
    px, po = ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", out, True)
    assert lib.ag_sum_rows_f32(ffi.NULL, 4, 8, po) == lib.AG_ERR_NULL
    assert lib.ag_sum_rows_f32(px, 4, 8, ffi.NULL) == lib.AG_ERR_NULL
    assert lib.ag_sum_rows_f32(px, -1, 8, po) == lib.AG_ERR_SIZE
    assert lib.ag_sum_rows_f32(px, 4, -8, po) == lib.AG_ERR_SIZE
    assert lib.ag_sum_rows_f32(px, 4, 8, px + 24) == lib.AG_ERR_OVERLAP  # into its last row
    assert lib.ag_sum_rows_f32(ffi.NULL, 4, 0, ffi.NULL) == lib.AG_OK  # no columns: nothing to do
    assert lib.ag_sum_rows_f32(px, 4, 8, po) == lib.AG_OK and out.tolist() == [4.0] * 8


def _relu_case(rows, cols, dtype, seed, special=True):
    """g spread over many exponents (special values included) and a saved relu output y: zeros
    where the unit was off, positive elsewhere, and NaN in places (a NaN input stays NaN)."""
    rng = np.random.default_rng(seed)
    g = (rng.standard_normal((rows, cols)) * 10.0 ** rng.integers(-3, 4, (rows, cols))).astype(dtype)
    y = np.where(rng.random((rows, cols)) < 0.5, 0.0, rng.random((rows, cols)) + 0.1).astype(dtype)
    if special and g.size:
        g.reshape(-1)[rng.integers(0, g.size, 3)] = rng.choice(SPECIAL, 3)
        y.reshape(-1)[rng.integers(0, y.size, 2)] = [np.nan, -0.0]
    return g, y


def _assert_same_bits_any_nan(a, b, message):
    """Bitwise, except that a NaN matches any NaN: 0 * inf in the mask makes a NaN of the other
    sign, and which of two NaNs a sum keeps is the compiler's operand order (IEEE leaves it
    open; numpy's own loops differ by layout)."""
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b), err_msg=message)
    _assert_same_bits(np.where(nan, 0, a), np.where(nan, 0, b), message)


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, cols=COLS, dtype=st.sampled_from([np.float32, np.float64]),
       special=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_relu_backward_and_sum_bitwise_the_two_kernels_on_every_isa_and_thread_count(rows, cols, dtype,
                                                                                 special, seed):
    g, y = _relu_case(rows, cols, dtype, seed, special)
    with np.errstate(invalid="ignore"):
        masked = g * (y > 0)  # numpy's relu_backward: NaN and -0 in g survive a mask of 1, 0 * inf is NaN
    want = (masked, masked.sum(axis=0))
    with np.errstate(invalid="ignore"):
        _assert_same_bits(_numpy.relu_backward_and_sum(g, y)[0], masked, "reference")
    for isa_name, n_threads in _each_isa_and_thread_count():
        with np.errstate(invalid="ignore"):  # one column goes to numpy: 0 * inf there too
            got = _c.relu_backward_and_sum(g, y)
        _assert_same_bits(got[0], masked, f"masked ({isa_name}, {n_threads} threads)")
        _assert_same_bits_any_nan(got[1], want[1], f"sum ({isa_name}, {n_threads} threads)")


def test_relu_backward_and_sum_splits_columns_across_threads_without_changing_bits():
    g, y = _relu_case(700, 333, np.float32, 5, special=False)
    masked = g * (y > 0)
    previous = lib.ag_get_num_threads()
    try:
        for n_threads in (1, 2, 3):
            lib.ag_set_num_threads(n_threads)
            got = _c.relu_backward_and_sum(g, y)
            _assert_same_bits(got[0], masked, f"{n_threads} threads")
            _assert_same_bits(got[1], masked.sum(axis=0), f"{n_threads} threads")
    finally:
        lib.ag_set_num_threads(previous)


@pytest.mark.parametrize("layout", ["transposed", "strided rows", "one column", "mixed dtypes"])
def test_relu_backward_and_sum_of_other_layouts_and_dtypes_match_the_reference(layout):
    g, y = _relu_case(40, 6, np.float32, 7, special=False)
    g, y = {"transposed": (g.T, y.T), "strided rows": (g[::2], y[::2]), "one column": (g[:, :1], y[:, :1]),
            "mixed dtypes": (g, y.astype(np.float64))}[layout]
    masked = g * (y > 0)
    got = _c.relu_backward_and_sum(g, y)
    _assert_same_bits(got[0], masked, layout)
    _assert_same_bits(got[1], masked.sum(axis=0), layout)


def test_relu_backward_and_sum_by_hand_and_bad_shapes():
    g = np.array([[1.0, -2.0, 3.0], [4.0, -0.0, 6.0]], np.float32)
    y = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]], np.float32)
    masked, sums = _c.relu_backward_and_sum(g, y)
    assert masked.tolist() == [[0.0, -2.0, 3.0], [4.0, 0.0, 0.0]] and sums.tolist() == [4.0, -2.0, 3.0]
    with pytest.raises(ShapeError, match=r"relu_backward_and_sum: .*\(2, 3\) float32 and \(3, 2\) float32"):
        _c.relu_backward_and_sum(g, y.T.copy())


def test_relu_backward_and_sum_reads_and_writes_nothing_past_the_arrays():
    for rows, cols in ((1, 17), (5, 33), (3, 257)):
        gv, yv = _relu_case(rows, cols, np.float32, rows, special=False)
        g, keep_g = before_a_guard_page(gv.reshape(-1))
        y, keep_y = before_a_guard_page(yv.reshape(-1))
        masked, sums = _c.relu_backward_and_sum(g.reshape(rows, cols), y.reshape(rows, cols))
        np.testing.assert_array_equal(masked, gv * (yv > 0))
        np.testing.assert_array_equal(sums, (gv * (yv > 0)).sum(axis=0))
        del g, y, keep_g, keep_y


def test_raw_relu_backward_and_sum_rejects_null_negative_sizes_and_overlap():
    g, y = np.ones((4, 8), np.float32), np.ones((4, 8), np.float32)
    masked, out = np.empty((4, 8), np.float32), np.empty(8, np.float32)
    pg, py = ffi.from_buffer("float[]", g, True), ffi.from_buffer("float[]", y)
    pm, po = ffi.from_buffer("float[]", masked, True), ffi.from_buffer("float[]", out, True)
    fn, null = lib.ag_relu_backward_sum_rows_f32, ffi.NULL
    assert fn(null, py, pm, 4, 8, po) == lib.AG_ERR_NULL
    assert fn(pg, null, pm, 4, 8, po) == lib.AG_ERR_NULL
    assert fn(pg, py, null, 4, 8, po) == lib.AG_ERR_NULL
    assert fn(pg, py, pm, 4, 8, null) == lib.AG_ERR_NULL
    assert fn(pg, py, pm, -1, 8, po) == lib.AG_ERR_SIZE
    assert fn(pg, py, pm, 4, -8, po) == lib.AG_ERR_SIZE
    assert fn(pg, py, pm, 4, 8, pg + 24) == lib.AG_ERR_OVERLAP  # the sums into g's last row
    assert fn(pg, py, pm, 4, 8, pm + 8) == lib.AG_ERR_OVERLAP   # the sums into masked
    assert fn(pg, py, pg + 1, 4, 8, po) == lib.AG_ERR_OVERLAP   # masked one element into g
    assert fn(null, null, null, 4, 0, null) == lib.AG_OK        # no columns: nothing to do
    g[0, 0], y[1, 1] = 5.0, 0.0
    assert fn(pg, py, pg, 4, 8, po) == lib.AG_OK                # masked onto g itself
    assert g[0].tolist() == [5.0] + [1.0] * 7 and g[1, 1] == 0.0
    assert out.tolist() == [8.0, 3.0] + [4.0] * 6
