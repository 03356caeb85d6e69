"""The C GEMM (csrc/gemm.c) held to a float64 numpy reference, and the backend's matmul and
linear built on it (layouts read in place, batches, routing).

Named test_backend_c_*.py so tools/asan_test.sh runs it under the sanitizers too. The kernel is
called through `autograd.backend._c.gemm`, BLAS-style: flat storage plus leading dimensions, so
every edge case (ld > width, transposes, sizes 0 and 1, every MR/NR/KC edge) is reachable.
Skips when the extension is not built, fails if AUTOGRAD_REQUIRE_C is set.
"""
import contextlib

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from _c_backend import before_a_guard_page, import_c_backend

_c = import_c_backend()

from autograd.backend import _numpy

lib = _c.lib
DTYPES = [np.float32, np.float64]
LEVELS = [name for name, level in _c.ISA_LEVELS.items() if level <= lib.ag_isa_detected()]


def _blocking(isa, dtype):
    out = np.zeros(5, np.int64)
    assert lib.ag_gemm_blocking(isa, int(dtype == np.float64), _c.ffi.from_buffer("int64_t[]", out,
                                                                                  require_writable=True)) == 0
    return dict(zip(("mr", "nr", "kc", "mc", "nc"), (int(v) for v in out)))


def _edges():
    """Every size around an MR, NR or KC boundary of every ISA and dtype, plus 0, 1 and primes."""
    sizes = {0, 1, 2, 3, 5, 7, 11, 13, 17, 31, 37, 61, 97}
    for name in _c.ISA_LEVELS:
        for dtype in DTYPES:
            b = _blocking(_c.ISA_LEVELS[name], dtype)
            for edge in (b["mr"], b["nr"], 2 * b["mr"], 2 * b["nr"]):
                sizes |= {edge - 1, edge, edge + 1}
    return sorted(sizes)


EDGES = _edges()
DEEP = sorted({_blocking(_c.ISA_LEVELS[n], d)["kc"] + e for n in LEVELS for d in DTYPES
               for e in (-1, 0, 1)})


ALL_LEVELS = pytest.mark.parametrize("isa", LEVELS)


@contextlib.contextmanager
def _capped(isa):
    """Run the kernels at the given ISA level (AUTOGRAD_ISA's cap), then restore the cap."""
    _c._set_isa_cap(isa)
    try:
        yield
    finally:
        _c._set_isa_cap(_c._SIMD_CAP)


def _storage(rng, rows, cols, pad, dtype, fill=None):
    """(flat storage, ld, the rows x cols view of it): ld = cols + pad, the padding poisoned."""
    ld = max(cols + pad, 1)
    flat = np.full(max(rows * ld, 1), np.nan, dtype)
    view = flat[:rows * ld].reshape(rows, ld)[:, :cols]
    view[...] = rng.standard_normal((rows, cols)) if fill is None else fill
    return flat, ld, view


def _run(rng, dtype, ta, tb, m, n, k, alpha=1.0, beta=0.0, pads=(0, 0, 0), c_fill=None):
    """Call the kernel; return (result view of C, float64 reference, error bound, C storage)."""
    fa, lda, a = _storage(rng, k if ta else m, m if ta else k, pads[0], dtype)
    fb, ldb, b = _storage(rng, n if tb else k, k if tb else n, pads[1], dtype)
    fc, ldc, c = _storage(rng, m, n, pads[2], dtype, c_fill)
    opa = (a.T if ta else a).astype(np.float64)
    opb = (b.T if tb else b).astype(np.float64)
    c0 = c.astype(np.float64)
    ref = alpha * (opa @ opb) + (beta * c0 if beta else 0.0)
    # the classic dot-product bound: each of the k + 2 roundings adds at most eps of the sum's
    # magnitude (beta = 0 leaves C out entirely: it may hold NaN)
    magnitude = abs(alpha) * (np.abs(opa) @ np.abs(opb)) + (abs(beta) * np.abs(c0) if beta else 0)
    bound = (k + 2) * np.finfo(dtype).eps * magnitude
    _c.gemm(ta, tb, m, n, k, alpha, fa, lda, fb, ldb, beta, fc, ldc)
    return c, ref, bound + np.finfo(dtype).tiny, fc, ldc


def _check(c, ref, bound, fc, ldc, m, n):
    assert np.all(np.abs(c - ref) <= bound), np.max(np.abs(c - ref) - bound)
    if ldc > n and m:  # the padding between rows is never written
        assert np.isnan(fc[:m * ldc].reshape(m, ldc)[:, n:]).all()


# ----------------------------------------------------------------- the kernel against numpy


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@given(m=st.sampled_from(EDGES), n=st.sampled_from(EDGES), k=st.sampled_from(EDGES),
       ta=st.integers(0, 1), tb=st.integers(0, 1), pads=st.tuples(*[st.sampled_from([0, 3])] * 3),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25)
def test_gemm_matches_numpy_at_every_edge(isa, dtype, m, n, k, ta, tb, pads, seed):
    with _capped(isa):
        rng = np.random.default_rng(seed)
        c, ref, bound, fc, ldc = _run(rng, dtype, ta, tb, m, n, k, pads=pads)
        _check(c, ref, bound, fc, ldc, m, n)


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@given(k=st.sampled_from(DEEP), m=st.sampled_from([1, 5, 13]), n=st.sampled_from([1, 17, 33]),
       beta=st.sampled_from([0.0, 1.0, -0.5]), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=10)
def test_gemm_across_k_blocks(isa, dtype, k, m, n, beta, seed):
    """k just below, at and past KC: the later k slices accumulate onto the first (beta 1)."""
    with _capped(isa):
        rng = np.random.default_rng(seed)
        c, ref, bound, fc, ldc = _run(rng, dtype, 1, 0, m, n, k, alpha=0.75, beta=beta, pads=(1, 2, 1))
        _check(c, ref, bound, fc, ldc, m, n)


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@given(small=st.integers(1, 33), big=st.sampled_from([1, 4, 5, 9, 33, 130]),
       k=st.sampled_from([31, 32, 33, 34, 37, 38, 47, 100, 129, 515]), swap=st.booleans(),
       ta=st.integers(0, 1), tb=st.integers(0, 1), alpha=st.sampled_from([1.0, 1.25]),
       beta=st.sampled_from([0.0, 0.5]), pads=st.tuples(*[st.sampled_from([0, 1, 16])] * 3),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=30)
def test_gemm_thin_products(isa, dtype, small, big, k, swap, ta, tb, alpha, beta, pads, seed):
    """n <= 32 (or m <= 32): the dot-product path of gemm_thin.c where it applies (both layouts:
    two columns per group for n <= 10, four past it; every k % 8, every group count, chunk of
    groups and row tile, B by rows and by columns, C by rows and by columns), and just past it."""
    with _capped(isa):
        m, n = (small, big) if swap else (big, small)
        rng = np.random.default_rng(seed)
        c, ref, bound, fc, ldc = _run(rng, dtype, ta, tb, m, n, k, alpha, beta, pads)
        _check(c, ref, bound, fc, ldc, m, n)



@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 3, 4, 5, 9, 10, 11, 12, 13, 16, 17, 31, 32])
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_gemm_thin_rows_stored_as_columns(isa, dtype, m, beta):
    """m <= 32 with B by columns (x @ W.T at a small batch): gemm_thin.c computes C^T = B^T A^T
    by dot products and stores C^T's 4 x 4 blocks into C's columns (every row count of a block,
    both layouts, beta reading C in the same places)."""
    with _capped(isa):
        rng = np.random.default_rng(m)
        for n, k in ((33, 37), (130, 100)):
            c, ref, bound, fc, ldc = _run(rng, dtype, 0, 1, m, n, k, 1.25, beta, (1, 3, 5))
            _check(c, ref, bound, fc, ldc, m, n)

def _avx2_packed_bits_on_1_2_3_threads(product):
    """product() with the kernels capped at AVX2 (the packed kernel): the bits that the default
    kernels must give on 1, 2 and 3 threads (asserted here), returned."""
    with _capped("avx2"):
        expected = product()
    threads = _c.get_num_threads()
    try:
        for t in (1, 2, 3):
            _c.set_num_threads(t)
            np.testing.assert_array_equal(product(), expected, err_msg=f"{t} threads")
    finally:
        _c.set_num_threads(threads)
    return expected


def _bitwise_the_packed_kernel(rng, m, n, k, ta, tb, alpha, mode, lda, ldb, ldc):
    """A random product (op(A) m x k, op(B) k x n, stored with the leading dimensions given; C
    NaN in its padding; mode "beta 0", "beta 0.5" or "bias") run by the default kernels: asserts
    that it is bit for bit the AVX2 packed kernel on 1, 2 and 3 threads, that C's padding is not
    written, and that it is within the float64 reference's bound."""
    a = rng.standard_normal((k if ta else m) * lda).astype(np.float32)
    b = rng.standard_normal((n if tb else k) * ldb).astype(np.float32)
    c0 = rng.standard_normal(m * ldc).astype(np.float32)
    c0.reshape(m, ldc)[:, n:] = np.nan
    bias = rng.standard_normal(n).astype(np.float32) if mode == "bias" else None
    beta = 0.5 if mode == "beta 0.5" else 0.0

    def product():
        c = c0.copy()
        _c.gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias=bias)
        return c

    expected = _avx2_packed_bits_on_1_2_3_threads(product)
    np.testing.assert_array_equal(np.isnan(expected.reshape(m, ldc)[:, n:]), True)
    opa = (a.reshape(k, lda)[:, :m].T if ta else a.reshape(m, lda)[:, :k]).astype(np.float64)
    opb = (b.reshape(n, ldb)[:, :k].T if tb else b.reshape(k, ldb)[:, :n]).astype(np.float64)
    ref = alpha * opa @ opb + (bias if bias is not None else beta * c0.reshape(m, ldc)[:, :n])
    np.testing.assert_allclose(expected.reshape(m, ldc)[:, :n], ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.skipif("avx512" not in LEVELS or "avx2" not in LEVELS, reason="needs AVX-512")
@pytest.mark.parametrize("m, n, k, tb", [(28, 300, 100, 1), (29, 100, 257, 1), (32, 512, 384, 1),
                                         (32, 37, 33, 1), (300, 28, 100, 0), (100, 31, 257, 0),
                                         (25, 32, 40, 0), (3, 29, 50, 0)])
@pytest.mark.parametrize("mode", ["beta 0", "beta 0.5", "bias"])
def test_gemm_rows_broadcast_in_place_are_bitwise_the_packed_kernel(m, n, k, tb, mode):
    """28 <= n <= 32, or m as x @ W.T at a batch of 28 to 32: gemm_thin.c broadcasts A's rows in
    place, each element the packed kernel's FMA chain over p in order, then alpha, then beta or
    the bias. So on one k slice it is bit for bit the AVX2 packed kernel (row tiles of 12, 8 and
    4, both vectors, C by rows and by columns), on 1, 2 and 3 threads, and never writes C's
    padding."""
    kc = min(_blocking(_c.ISA_LEVELS[isa], np.float32)["kc"] for isa in ("avx2", "avx512"))
    assert k <= kc  # one k slice: the packed kernel's chain is one FMA chain too
    _bitwise_the_packed_kernel(np.random.default_rng(m * n + k), m, n, k, 0, tb, 1.25, mode,
                               k + 3, (k if tb else n) + 1, n + 2)


@pytest.mark.skipif("avx512" not in LEVELS, reason="needs AVX-512")
@pytest.mark.parametrize("m, n, k", [(64, 37, 512), (60, 100, 515), (125, 33, 784), (256, 20, 600),
                                     (96, 512, 784)])
@pytest.mark.parametrize("mode", ["beta 0", "beta 0.5", "bias"])
def test_gemm_x_wt_at_batches_to_256_is_each_32_rows_alone(m, n, k, mode):
    """x @ W.T at a batch of up to 256 (k >= 512; the batch a multiple of 32 but for 4 rows at
    most): C^T = W x^T with W's rows broadcast in place, panel by panel of 32 batch rows. Each
    element is one FMA chain over k whatever the panel, so every block of 32 rows is bit for bit
    that block computed alone (the 28-32 row path, itself the packed kernel's bits: test above),
    on 1, 2 and 3 threads; within the float64 reference's bound; C's padding never written."""
    rng = np.random.default_rng(m * n + k)
    lda, ldb, ldc = k + 3, k + 1, n + 2
    a = rng.standard_normal(m * lda).astype(np.float32)
    b = rng.standard_normal(n * ldb).astype(np.float32)
    c0 = rng.standard_normal(m * ldc).astype(np.float32)
    c0.reshape(m, ldc)[:, n:] = np.nan
    bias = rng.standard_normal(n).astype(np.float32) if mode == "bias" else None
    beta = 0.5 if mode == "beta 0.5" else 0.0
    expected = c0.copy()
    for r0 in range(0, m, 32):  # each block of rows alone: a, c offset to the block's first row
        rows = min(32, m - r0)
        block = expected[r0 * ldc:]
        _c.gemm(0, 1, rows, n, k, 1.25, a[r0 * lda:], lda, b, ldb, beta, block, ldc, bias=bias)
    threads = _c.get_num_threads()
    try:
        for t in (1, 2, 3):
            _c.set_num_threads(t)
            c = c0.copy()
            _c.gemm(0, 1, m, n, k, 1.25, a, lda, b, ldb, beta, c, ldc, bias=bias)
            np.testing.assert_array_equal(c, expected, err_msg=f"{t} threads")
    finally:
        _c.set_num_threads(threads)
    opa = a.reshape(m, lda)[:, :k].astype(np.float64)
    opb = b.reshape(n, ldb)[:, :k].T.astype(np.float64)
    ref = 1.25 * opa @ opb + (bias if bias is not None else beta * c0.reshape(m, ldc)[:, :n])
    np.testing.assert_allclose(c.reshape(m, ldc)[:, :n], ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.parametrize("m, n, k", [(60, 33, 512), (64, 1, 513), (93, 17, 600)])
def test_gemm_x_wt_at_batches_to_256_never_reads_or_writes_past_its_operands(m, n, k):
    """The broadcast path's last panel of x (fewer than 32 rows), W's last rows and the bias,
    each ending at an unreadable page: the same bits as anywhere else, and no fault."""
    rng = np.random.default_rng(m + n + k)
    a = rng.standard_normal(m * k).astype(np.float32)
    b = rng.standard_normal(n * k).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    expected = np.empty(m * n, np.float32)
    _c.gemm(0, 1, m, n, k, 1.0, a, k, b, k, 0.0, expected, n, bias=bias)
    (ga, ka), (gb, kb), (gbias, kbias), (gc, kc) = (before_a_guard_page(x) for x in
                                                    (a, b, bias, np.zeros(m * n, np.float32)))
    _c.gemm(0, 1, m, n, k, 1.0, ga, k, gb, k, 0.0, gc, n, bias=gbias)
    np.testing.assert_array_equal(gc, expected)
    del ga, gb, gbias, gc, ka, kb, kbias, kc


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@given(k=st.integers(1, 17), n=st.sampled_from([16, 17, 31, 32, 33, 63, 64, 65, 100, 129]),
       m=st.sampled_from([1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 779]), ta=st.integers(0, 1),
       tb=st.integers(0, 1), alpha=st.sampled_from([1.0, 0.5]), beta=st.sampled_from([0.0, -1.5]),
       pads=st.tuples(*[st.sampled_from([0, 5])] * 3), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40)
def test_gemm_shallow_products(isa, dtype, k, n, m, ta, tb, alpha, beta, pads, seed):
    """k <= 16: gemm_thin.c's unpacked path where it applies: 6 x 64 and 12 x 32 tiles, short
    last tiles, column blocks of 1-4 vectors, c = ab and c = alpha ab + beta c, row blocks past
    768 rows (every last-tile height: test_gemm_shallow_tiles_of_every_height)."""
    with _capped(isa):
        rng = np.random.default_rng(seed)
        c, ref, bound, fc, ldc = _run(rng, dtype, ta, tb, m, n, k, alpha, beta, pads)
        _check(c, ref, bound, fc, ldc, m, n)


@pytest.mark.skipif("avx512" not in LEVELS, reason="the shallow path is AVX-512 float32")
@pytest.mark.parametrize("n", [20, 32, 64, 100])  # 12 x 32 tiles, 6 x 64, both
@pytest.mark.parametrize("m", range(1, 26))
def test_gemm_shallow_tiles_of_every_height(m, n):
    """k <= 16: every height of a last tile (1-5 rows under 6 x 64 tiles, 1-11 under 12 x 32),
    with c = ab and with c = alpha ab + beta c, and the padding between C's rows left alone."""
    rng = np.random.default_rng(m * 1000 + n)
    for alpha, beta in ((1.0, 0.0), (0.5, -1.5)):
        c, ref, bound, fc, ldc = _run(rng, np.float32, 0, 0, m, n, 7, alpha, beta, (1, 3, 5))
        _check(c, ref, bound, fc, ldc, m, n)


@pytest.mark.skipif("avx512" not in LEVELS or "avx2" not in LEVELS, reason="needs AVX-512")
@given(m=st.sampled_from([13, 17, 64, 97, 779]), n=st.sampled_from([16, 20, 33, 64, 65, 130, 300]),
       k=st.sampled_from([17, 31, 64, 100, 384, 385, 500, 769, 800]), ta=st.integers(0, 1),
       alpha=st.sampled_from([1.0, 1.25]), mode=st.sampled_from(["beta 0", "beta 0.5", "bias"]),
       pads=st.tuples(*[st.sampled_from([0, 3])] * 3), seed=st.integers(0, 2**32 - 1))
@example(m=64, n=64, k=64, ta=0, alpha=1.0, mode="beta 0", pads=(0, 0, 0), seed=0)
@example(m=779, n=65, k=800, ta=1, alpha=1.25, mode="bias", pads=(3, 3, 3), seed=1)
@example(m=64, n=300, k=500, ta=0, alpha=1.0, mode="beta 0.5", pads=(0, 0, 0), seed=2)  # columns
@settings(max_examples=40, deadline=None)
def test_gemm_a_read_in_place_is_bitwise_the_packed_kernel(m, n, k, ta, alpha, mode, pads, seed):
    """k > 16 with B by rows and m > 12 (n > 32 for a row-major A): gemm_thin.c's 6 x 64 and
    12 x 32 tiles read A in place, in the packed kernel's k slices (800 = 267 + 267 + 266; the
    first stores alpha ab + beta c or + bias, the later ones alpha ab + c). So every element is
    the packed kernel's arithmetic: bit for bit the AVX2 packed kernel, on 1, 2 and 3 threads
    (threads splitting rows, and columns where n has two 64-column blocks a thread), and C's
    padding is never written."""
    assume(ta or n > 32)  # n <= 32 with A by rows: dot products (the thin path), another order
    assume(m * n * k <= 1 << 26)  # gemm.c's AG_IN_PLACE_A_MAX_MNK: larger ones take the packed path
    kcs = {_blocking(_c.ISA_LEVELS[isa], np.float32)["kc"] for isa in ("avx2", "avx512")}
    assert len(kcs) == 1  # the same slices in both
    pa, pb, pc = pads
    _bitwise_the_packed_kernel(np.random.default_rng(seed), m, n, k, ta, 0, alpha, mode,
                               (m if ta else k) + pa, n + pb, n + pc)


def _a_by_rows_and_transposed(m, n, k, pad, seed):
    """op(A) @ B with A row-major (lda = k + pad) and with A^T stored k x m (lda = m): both
    results must be the same bits, and the product."""
    rng = np.random.default_rng(seed)
    a = np.zeros((m, k + pad), np.float32)
    a[:, :k] = rng.standard_normal((m, k))
    a_t = np.ascontiguousarray(a[:, :k].T)
    b = rng.standard_normal((k, n)).astype(np.float32)
    by_rows, transposed = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    _c.gemm(0, 0, m, n, k, 1.0, a, k + pad, b, n, 0.0, by_rows, n)
    _c.gemm(1, 0, m, n, k, 1.0, a_t, m, b, n, 0.0, transposed, n)
    np.testing.assert_array_equal(by_rows, transposed)
    np.testing.assert_allclose(by_rows, a[:, :k].astype(np.float64) @ b, rtol=1e-4,
                               atol=1e-4 * np.sqrt(k))


@pytest.mark.skipif("avx512" not in LEVELS, reason="the shallow path is AVX-512 float32")
@given(m=st.sampled_from([1, 2, 3, 5, 6, 7, 11, 12, 13, 128, 779]), n=st.sampled_from([33, 512]),
       k=st.integers(1, 16), pad=st.sampled_from([0, 3]), seed=st.integers(0, 2**32 - 1))
@example(m=128, n=512, k=10, pad=0, seed=0)  # g @ W of a 10-class layer
@settings(max_examples=40, deadline=None)
def test_gemm_shallow_reads_a_by_rows_like_a_by_columns(m, n, k, pad, seed):
    """k <= 16: A is read in place, a row-major A (lda = k + pad) along its rows and a transposed
    one across them; the same bits either way (full and short tiles, and past the 768-row
    blocks)."""
    _a_by_rows_and_transposed(m, n, k, pad, seed)


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@given(m=st.integers(1, 13), n=st.sampled_from([1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 100, 515]),
       k=st.sampled_from([17, 31, 32, 33, 100, 515]), ta=st.integers(0, 1), tb=st.integers(0, 1),
       alpha=st.sampled_from([1.0, -0.75]), beta=st.sampled_from([0.0, 1.0, 0.5]),
       pads=st.tuples(*[st.sampled_from([0, 1, 16])] * 3), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40)
def test_gemm_few_rows(isa, dtype, m, n, k, ta, tb, alpha, beta, pads, seed):
    """m <= 12 with B by rows: gemm_thin.c's few-rows path, which reads B in place (every row
    count, full and masked 32-column blocks of one and two vectors, A by rows and by columns),
    and m = 13 just past it."""
    with _capped(isa):
        rng = np.random.default_rng(seed)
        c, ref, bound, fc, ldc = _run(rng, dtype, ta, tb, m, n, k, alpha, beta, pads)
        _check(c, ref, bound, fc, ldc, m, n)


@pytest.mark.skipif("avx512" not in LEVELS, reason="the few-rows path is AVX-512 float32")
@given(m=st.integers(1, 12), n=st.sampled_from([33, 100, 512]), k=st.sampled_from([17, 128, 515]),
       beta=st.sampled_from([0.0, 0.5]), seed=st.integers(0, 2**32 - 1))
@example(m=10, n=512, k=128, beta=0.0, seed=0)  # a 10-class layer's weight gradient g.T @ x
@settings(max_examples=30, deadline=None)
def test_gemm_few_rows_reads_a_transposed_a_in_place(m, n, k, beta, seed):
    """op(A) = A^T stored k x m with lda = m (g.T for the gradient g of an m-class layer) is the
    few-rows path's packed layout already and is read in place: the same bits as with lda = m + 1,
    which is packed first, and the product. (n > 32: narrower, a row of A^T with lda = 1 takes
    the dot-product path instead.)"""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m)).astype(np.float32)
    padded = np.zeros((k, m + 1), np.float32)
    padded[:, :m] = a
    b = rng.standard_normal((k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    in_place, packed = c0.copy(), c0.copy()
    _c.gemm(1, 0, m, n, k, 1.0, a, m, b, n, beta, in_place, n)
    _c.gemm(1, 0, m, n, k, 1.0, padded, m + 1, b, n, beta, packed, n)
    np.testing.assert_array_equal(in_place, packed)
    np.testing.assert_allclose(in_place, a.T.astype(np.float64) @ b + beta * c0, rtol=1e-4,
                               atol=1e-4 * np.sqrt(k))


@pytest.mark.skipif("avx512" not in LEVELS, reason="the few-rows path is AVX-512 float32")
@given(m=st.integers(1, 12), n=st.sampled_from([33, 512]),
       k=st.sampled_from([17, 31, 32, 33, 47, 128, 515]), pad=st.sampled_from([0, 3]),
       seed=st.integers(0, 2**32 - 1))
@example(m=10, n=512, k=128, pad=0, seed=0)  # g^T @ x with g^T a contiguous copy
@settings(max_examples=40, deadline=None)
def test_gemm_few_rows_packs_a_by_rows_like_a_transposed_a(m, n, k, pad, seed):
    """A row-major (m x k, lda = k + pad) is packed 16 depths at a time by register transposes
    into the layout A^T stored k x m already has: the same bits as that A^T read in place, for
    every row count and for depths past, at and short of a multiple of 16."""
    _a_by_rows_and_transposed(m, n, k, pad, seed)


def _mostly_zero(rng, shape, zeros):
    """Standard normal values with about the fraction `zeros` of them 0 (a ReLU's gradient)."""
    values = rng.standard_normal(shape)
    values[rng.random(shape) < zeros] = 0.0
    return values


@pytest.mark.skipif("avx512" not in LEVELS or "avx2" not in LEVELS, reason="needs AVX-512")
@given(m=st.sampled_from([13, 16, 17, 31, 47, 100, 512]),
       n=st.sampled_from([128, 129, 143, 191, 208, 257, 784]),
       k=st.sampled_from([17, 31, 32, 33, 63, 64]), zeros=st.sampled_from([0.5, 0.7, 0.9, 1.0]),
       ta=st.integers(0, 1), mode=st.sampled_from(["plain", "alpha", "beta 0.5", "bias"]),
       pads=st.tuples(*[st.sampled_from([0, 3])] * 3), seed=st.integers(0, 2**32 - 1))
@example(m=512, n=784, k=32, zeros=0.5, ta=1, mode="plain", pads=(0, 0, 0), seed=0)  # g^T @ x
@example(m=512, n=784, k=64, zeros=0.5, ta=1, mode="plain", pads=(0, 0, 0), seed=1)
@settings(max_examples=40, deadline=None)
def test_gemm_with_mostly_zero_a_is_bitwise_the_packed_kernel(m, n, k, zeros, ta, mode, pads, seed):
    """k <= 64, n >= 128 and a quarter or more of A zero (a third past k = 32): gemm_thin.c
    skips the zero terms (tiles of 6 to 16 vectors, the last masked, A by rows and by columns,
    padded leading dimensions). Adding 0 * b changes no sum, so each element is the packed
    kernel's FMA chain over p in order, then alpha and beta or the bias: bit for bit the AVX2
    packed kernel, on 1, 2 and 3 threads; C's padding never written."""
    rng = np.random.default_rng(seed)
    lda, ldb, ldc = (m if ta else k) + pads[0], n + pads[1], n + pads[2]
    a = np.full((k if ta else m) * lda, np.nan, np.float32)
    a.reshape(-1, lda)[:, :m if ta else k] = _mostly_zero(rng, (k, m) if ta else (m, k), zeros)
    b = np.full(k * ldb, np.nan, np.float32)
    b.reshape(k, ldb)[:, :n] = rng.standard_normal((k, n))
    c0 = rng.standard_normal(m * ldc).astype(np.float32)
    c0.reshape(m, ldc)[:, n:] = np.nan
    alpha = -0.75 if mode == "alpha" else 1.0
    beta = 0.5 if mode == "beta 0.5" else 0.0
    bias = rng.standard_normal(n).astype(np.float32) if mode == "bias" else None

    def product():
        c = c0.copy()
        _c.gemm(ta, 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias=bias)
        return c

    expected = _avx2_packed_bits_on_1_2_3_threads(product)
    opa = a.reshape(-1, lda)[:, :m if ta else k].astype(np.float64)
    opa = opa.T if ta else opa
    add = bias if bias is not None else beta * c0.reshape(m, ldc)[:, :n]
    ref = alpha * opa @ b.reshape(k, ldb)[:, :n] + add
    np.testing.assert_allclose(expected.reshape(m, ldc)[:, :n], ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.skipif("avx512" not in LEVELS or "avx2" not in LEVELS, reason="needs AVX-512")
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_gemm_with_mostly_zero_a_still_meets_inf_and_nan_in_b(bad):
    """0 * inf is NaN: skipping A's zero terms would lose it, so a B holding an inf or a NaN
    takes the packed kernel, and C is NaN where IEEE arithmetic puts it (bitwise the AVX2
    packed kernel; the lone bad value in the last, masked column, where a scan could miss it)."""
    m, n, k = 40, 152, 32  # 152 = 4 x 32 + 24: no dot-product columns; 9 x 16 + 8: a masked vector
    rng = np.random.default_rng(7)
    a = _mostly_zero(rng, (m, k), 0.5).astype(np.float32)
    a[:, 5] = 0.0
    a[0, 5] = 1.0  # row 0 meets the bad value with a nonzero factor, the rest with 0
    b = rng.standard_normal((k, n)).astype(np.float32)
    b[5, n - 1] = bad

    def product():
        c = np.zeros((m, n), np.float32)
        _c.gemm(0, 0, m, n, k, 1.0, a, k, b, n, 0.0, c, n)
        return c

    with _capped("avx2"):
        expected = product()
    got = product()
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[:, n - 1]).all() if np.isnan(bad) else (
        np.isinf(got[0, n - 1]) and np.isnan(got[1:, n - 1]).all())


@pytest.mark.parametrize("m, n, k, ta", [(13, 129, 17, 0), (40, 130, 32, 1), (100, 143, 64, 0),
                                         (29, 784, 33, 1)])
def test_gemm_with_mostly_zero_a_never_reads_or_writes_past_its_operands(m, n, k, ta):
    """The zero-skipping path with A, B and C each ending at an unreadable, unwritable page (B's
    last, masked vector; A's last rows, by rows and by columns): the same bits as with the
    operands anywhere else, and no fault."""
    rng = np.random.default_rng(m + n + k)
    a = _mostly_zero(rng, m * k, 0.6).astype(np.float32)
    b = rng.standard_normal(k * n).astype(np.float32)
    c0 = rng.standard_normal(m * n).astype(np.float32)
    lda = m if ta else k
    expected = c0.copy()
    _c.gemm(ta, 0, m, n, k, 1.5, a, lda, b, n, 0.5, expected, n)
    (ga, ka), (gb, kb), (gc, kc) = (before_a_guard_page(x) for x in (a, b, c0))
    _c.gemm(ta, 0, m, n, k, 1.5, ga, lda, gb, n, 0.5, gc, n)
    np.testing.assert_array_equal(gc, expected)
    del ga, gb, gc, ka, kb, kc


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", range(1, 12))
@pytest.mark.parametrize("cols", [64, 72, 90, 95])
@pytest.mark.parametrize("ta", [0, 1])
def test_gemm_edge_tiles_are_bitwise_the_full_tiles_part(isa, dtype, rows, cols, ta):
    """Edge tiles: a last row panel of 1..11 rows (36 + rows in panels of 12) and a last column
    panel of 0, 8, 26 or 31 columns (AVX-512 computes them with 4, 8 or 12 rows and one or two
    vectors, stored with masks straight into C). Within the bound of the float64 reference, bit
    for bit the part of a product of whole tiles over the same storage, and nothing written
    past the edge (C's row padding keeps its values)."""
    with _capped(isa):
        rng = np.random.default_rng(rows * 100 + cols)
        k, m, full_m, full_n = 100, 36 + rows, 48, 96
        lda = full_m if ta else k
        a = rng.standard_normal((k, full_m) if ta else (full_m, k)).astype(dtype).ravel()
        b = rng.standard_normal((k, full_n)).astype(dtype).ravel()
        c0 = rng.standard_normal((full_m, full_n)).astype(dtype)
        for alpha, beta in ((1.0, 0.0), (-0.5, 1.5)):
            part, whole = c0.copy(), c0.copy()
            _c.gemm(ta, 0, m, cols, k, alpha, a, lda, b, full_n, beta, part.ravel(), full_n)
            _c.gemm(ta, 0, full_m, full_n, k, alpha, a, lda, b, full_n, beta, whole.ravel(), full_n)
            # (a last panel of at most 16 columns with A by rows goes to the dot-product path
            # instead, which sums in another order: only the bound holds there)
            if not (ta == 0 and 0 < cols % 32 <= 16):
                assert np.array_equal(part[:m, :cols], whole[:m, :cols])
            assert np.array_equal(part[:, cols:], c0[:, cols:]) and np.array_equal(part[m:], c0[m:])
            opa = (a.reshape(k, full_m).T if ta else a.reshape(full_m, k))[:m].astype(np.float64)
            opb = b.reshape(k, full_n)[:, :cols].astype(np.float64)
            ref = alpha * (opa @ opb) + beta * c0[:m, :cols]
            bound = (k + 2) * np.finfo(dtype).eps * (
                abs(alpha) * (np.abs(opa) @ np.abs(opb)) + abs(beta) * np.abs(c0[:m, :cols]))
            assert np.all(np.abs(part[:m, :cols] - ref) <= bound)


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (2.5, 0.0), (-1.0, 1.0), (0.5, -2.0),
                                        (0.0, 3.0), (0.0, 0.0), (1.0, 1.0)])
def test_gemm_alpha_beta(isa, dtype, alpha, beta):
    with _capped(isa):
        rng = np.random.default_rng(7)
        for ta, tb in [(0, 0), (0, 1), (1, 0), (1, 1)]:
            c, ref, bound, fc, ldc = _run(rng, dtype, ta, tb, 29, 37, 23, alpha, beta, (2, 0, 5))
            _check(c, ref, bound, fc, ldc, 29, 37)


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", [(29, 37, 23), (1, 1, 1), (40, 3, 500), (3, 70, 0), (10, 70, 200)])
def test_gemm_beta_zero_never_reads_c(isa, dtype, m, n, k):
    with _capped(isa):
        rng = np.random.default_rng(1)
        c, ref, bound, fc, ldc = _run(rng, dtype, 0, 1, m, n, k, pads=(0, 0, 2), c_fill=np.nan)
        assert not np.isnan(c).any()
        _check(c, ref, bound, fc, ldc, m, n)


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_alpha_zero_never_reads_a_or_b(isa, dtype):
    with _capped(isa):
        m, n, k = 9, 21, 30
        a, b = np.full(m * k, np.nan, dtype), np.full(k * n, np.inf, dtype)
        c = np.arange(m * n, dtype=dtype)
        _c.gemm(0, 0, m, n, k, 0.0, a, k, b, n, 2.0, c, n)
        np.testing.assert_array_equal(c, 2 * np.arange(m * n, dtype=dtype))


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=st.one_of(
           st.tuples(st.integers(150, 400), st.integers(100, 400), st.integers(50, 300)),
           st.tuples(st.integers(2000, 4000), st.integers(8, 32), st.integers(64, 200)),  # thin n
           st.tuples(st.integers(8, 32), st.integers(2000, 4000), st.integers(64, 200)),  # thin m
           st.tuples(st.integers(1000, 2000), st.integers(128, 400), st.integers(8, 16)),  # shallow
           st.tuples(st.integers(1, 12), st.integers(300, 2000), st.integers(600, 1200))),  # few rows
       ta=st.integers(0, 1), tb=st.integers(0, 1), seed=st.integers(0, 2**32 - 1))
@example(shape=(97, 203, 1001), ta=0, tb=0, seed=0)  # 9 x 7 tiles: 2 threads split a row panel
@example(shape=(12, 300, 200), ta=1, tb=0, seed=1)   # one row panel: threads split its columns
@example(shape=(10, 512, 1024), ta=1, tb=0, seed=2)  # a 10-class layer's weight gradient
@example(shape=(128, 512, 10), ta=0, tb=0, seed=3)  # shallow: threads split rows, 2-row last tiles
@example(shape=(6, 8192, 16), ta=0, tb=0, seed=4)  # shallow, one row tile: threads split columns
@settings(max_examples=12)
def test_gemm_bitwise_equal_across_thread_counts(isa, dtype, shape, ta, tb, seed):
    """Large enough to run threaded, in every path (packed, thin n or m, shallow k); with beta
    != 0 a tile that no thread or two threads computed would differ from the one-thread C."""
    m, n, k = shape
    with _capped(isa):
        rng = np.random.default_rng(seed)
        a = rng.standard_normal(m * k).astype(dtype)
        b = rng.standard_normal(k * n).astype(dtype)
        results = []
        threads = _c.get_num_threads()
        try:
            for t in (1, 2, 3):
                _c.set_num_threads(t)
                c = np.full(m * n, 0.5, dtype)
                _c.gemm(ta, tb, m, n, k, 1.5, a, m if ta else k, b, k if tb else n, 0.25, c, n)
                results.append(c)
        finally:
            _c.set_num_threads(threads)
        for other in results[1:]:
            np.testing.assert_array_equal(results[0], other)


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tb", [0, 1])
@pytest.mark.parametrize("m, n, k", [(97, 203, 1001), (64, 40, 500), (5, 33, 64), (130, 48, 32),
                                     (3, 561, 40), (40, 48, 31)])
def test_gemm_with_a_last_column_panel_mostly_padding(isa, dtype, tb, m, n, k):
    """n % 32 between 1 and 16 past the first panel: on AVX-512 float32 those last columns are a
    dot-product product of their own (k >= 32) and the rest full panels; against float64 with
    alpha, beta and padded leading dimensions, and bitwise the same on 1, 2 and 3 threads."""
    threads = _c.get_num_threads()
    with _capped(isa):
        try:
            runs = []
            for t in (1, 2, 3):
                _c.set_num_threads(t)
                c, ref, bound, fc, ldc = _run(np.random.default_rng(m * n + k), dtype, 0, tb, m, n, k,
                                              alpha=1.5, beta=0.5, pads=(3, 5, 7))
                _check(c, ref, bound, fc, ldc, m, n)
                runs.append(c.copy())
        finally:
            _c.set_num_threads(threads)
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)


def _batched(dtype, batch, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc):
    """The raw batched kernel on flat storage; returns its status."""
    fn, ctype = (lib.ag_sgemm_batched, "float[]") if dtype == np.float32 else (lib.ag_dgemm_batched, "double[]")
    buf = _c.ffi.from_buffer
    return fn(batch, ta, tb, m, n, k, alpha, buf(ctype, a), lda, sa, buf(ctype, b), ldb, sb, beta,
              buf(ctype, c, require_writable=True), ldc, sc)


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@given(batch=st.sampled_from([1, 2, 3, 5, 8, 9]), m=st.sampled_from(EDGES[:12]),
       n=st.sampled_from(EDGES[:12] + [121]), k=st.sampled_from([1, 9, 40, 288]),
       ta=st.integers(0, 1), tb=st.integers(0, 1), shared=st.sampled_from(["none", "a", "b"]),
       beta=st.sampled_from([0.0, 0.5]), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25)
def test_batched_gemm_is_bitwise_each_single_product_on_any_thread_count(
        isa, dtype, batch, m, n, k, ta, tb, shared, beta, seed):
    """One batched call == one ag_*gemm call per product, bit for bit, with 1, 2 and 3 threads;
    a shared operand (batch stride 0) and a gap between the C matrices (never written)."""
    rng = np.random.default_rng(seed)
    lda, ldb, ldc = (m if ta else k) + 1, (k if tb else n) + 2, n + 1
    sa = 0 if shared == "a" else (k if ta else m) * lda + 3
    sb = 0 if shared == "b" else (n if tb else k) * ldb
    sc = m * ldc + 5
    a = rng.standard_normal((batch - 1) * sa + (k if ta else m) * lda).astype(dtype)
    b = rng.standard_normal((batch - 1) * sb + (n if tb else k) * ldb).astype(dtype)
    c0 = np.full(max((batch - 1) * sc + m * ldc, 1), np.nan if beta == 0 else 0.25, dtype)
    expected = c0.copy()
    with _capped(isa):
        for q in range(batch):
            _c.gemm(ta, tb, m, n, k, 1.5, a[q * sa:], lda, b[q * sb:], ldb, beta, expected[q * sc:], ldc)
        threads = _c.get_num_threads()
        try:
            for t in (1, 2, 3):
                _c.set_num_threads(t)
                c = c0.copy()
                assert _batched(dtype, batch, ta, tb, m, n, k, 1.5, a, lda, sa, b, ldb, sb, beta, c, ldc, sc) == 0
                np.testing.assert_array_equal(c, expected, err_msg=f"{t} threads")
        finally:
            _c.set_num_threads(threads)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_gemm_rejects_overlapping_outputs_and_negative_strides(dtype):
    a, b, c = np.ones(64, dtype), np.ones(64, dtype), np.zeros(64, dtype)
    ok = (2, 0, 0, 2, 2, 2, 1.0, a, 2, 4, b, 2, 4, 0.0, c, 2, 4)
    assert _batched(dtype, *ok) == lib.AG_OK
    assert np.array_equal(c[:8], np.full(8, 2, dtype))
    assert _batched(dtype, *ok[:16], 3) == lib.AG_ERR_ARG    # C matrices overlap each other
    assert _batched(dtype, *ok[:9], -4, *ok[10:]) == lib.AG_ERR_SIZE  # negative stride
    assert _batched(dtype, -1, *ok[1:]) == lib.AG_ERR_SIZE
    assert _batched(dtype, 0, *ok[1:]) == lib.AG_OK
    assert _batched(dtype, 2, 0, 0, 2, 2, 2, 1.0, c, 2, 4, b, 2, 4, 0.0, c[4:], 2, 4) == lib.AG_ERR_OVERLAP


# (m, n, k, trans_b) reaching every path with a bias: packed (two k slices, edge tiles), thin n
# (both layouts) and thin m (C^T: the bias runs along its rows), a narrow C computed as C^T by
# the packed kernel, a mostly-padding last column panel (its own thin product), and the shapes
# the shallow-k and few-rows paths would take without a bias (they leave it to the packed path).
BIAS_SHAPES = [(150, 130, 400, 0), (97, 203, 300, 1), (100, 10, 64, 1), (100, 20, 64, 0),
               (20, 100, 64, 1), (5, 100, 40, 1), (100, 5, 20, 0), (40, 561, 40, 1),
               (300, 100, 8, 0), (7, 300, 100, 0), (1, 1, 1, 0), (13, 33, 33, 1)]


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n, k, tb", BIAS_SHAPES)
def test_gemm_bias_is_bitwise_the_product_onto_prefilled_rows(isa, dtype, m, n, k, tb):
    """ag_*gemm_bias == ag_*gemm with beta 1 onto C filled with the bias rows, bit for bit (the
    bias is added where the first k slice is stored), on 1, 2 and 3 threads, with alpha != 1
    and padded rows (never written)."""
    rng = np.random.default_rng(m * n + k)
    lda, ldb, ldc = k + 3, (k if tb else n) + 1, n + 2
    a = rng.standard_normal(m * lda).astype(dtype)
    b = rng.standard_normal((n if tb else k) * ldb).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    with _capped(isa):
        expected = np.full(m * ldc, np.nan, dtype)
        expected.reshape(m, ldc)[:, :n] = bias
        _c.gemm(0, tb, m, n, k, 1.5, a, lda, b, ldb, 1.0, expected, ldc)
        threads = _c.get_num_threads()
        try:
            for t in (1, 2, 3):
                _c.set_num_threads(t)
                c = np.full(m * ldc, np.nan, dtype)
                _c.gemm(0, tb, m, n, k, 1.5, a, lda, b, ldb, 0.0, c, ldc, bias=bias)
                np.testing.assert_array_equal(c, expected, err_msg=f"{t} threads")
        finally:
            _c.set_num_threads(threads)
    opa = a.reshape(m, lda)[:, :k].astype(np.float64)
    opb = (b.reshape(n, ldb)[:, :k].T if tb else b.reshape(k, ldb)[:, :n]).astype(np.float64)
    np.testing.assert_allclose(c.reshape(m, ldc)[:, :n], 1.5 * opa @ opb + bias,
                               rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4 * np.sqrt(k) if dtype == np.float32 else 1e-12)


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@given(m=st.sampled_from(EDGES[1:]), n=st.sampled_from(EDGES[1:]), k=st.sampled_from(EDGES[1:]),
       ta=st.integers(0, 1), tb=st.integers(0, 1), beta=st.sampled_from([0.0, 0.5]),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_gemm_never_touches_past_its_operands(isa, dtype, m, n, k, ta, tb, beta, seed):
    """A, B and C each ending at an unreadable, unwritable page, at every MR/NR/KC edge and in
    both layouts (every path: packed, thin, shallow, few rows, edge tiles): the same bits as
    with the operands anywhere else, and no fault."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(m * k).astype(dtype)
    b = rng.standard_normal(k * n).astype(dtype)
    c0 = rng.standard_normal(m * n).astype(dtype)
    lda, ldb = (m if ta else k), (k if tb else n)
    with _capped(isa):
        expected = c0.copy()
        _c.gemm(ta, tb, m, n, k, 1.5, a, lda, b, ldb, beta, expected, n)
        (ga, ka), (gb, kb), (gc, kc) = (before_a_guard_page(x) for x in (a, b, c0))
        _c.gemm(ta, tb, m, n, k, 1.5, ga, lda, gb, ldb, beta, gc, n)
    np.testing.assert_array_equal(gc, expected)
    del ga, gb, gc, ka, kb, kc


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta, tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("m, n, k", [(0, 5, 3), (4, 0, 3), (4, 5, 0), (1, 1, 1), (97, 203, 101),
                                     (128, 512, 10), (10, 512, 128)])
def test_matmul_entry_is_gemm_with_its_leading_dimensions_implied(isa, dtype, ta, tb, m, n, k):
    """ag_smatmul / ag_dmatmul (matmul's call): the bits of ag_sgemm / ag_dgemm with alpha 1,
    beta 0 and the tightest leading dimensions, every element of a NaN-filled C written, and
    nothing read or written past A, B or C (each ends at an unreadable, unwritable page)."""
    rng = np.random.default_rng(m + 7 * n + 31 * k)
    ctype = "float[]" if dtype == np.float32 else "double[]"
    entry, gemm = ((lib.ag_smatmul, lib.ag_sgemm) if dtype == np.float32
                   else (lib.ag_dmatmul, lib.ag_dgemm))
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    (ga, ka), (gb, kb), (gc, kc) = (before_a_guard_page(x)
                                    for x in (a, b, np.full((m, n), np.nan, dtype)))
    expected = np.full((m, n), np.nan, dtype)
    buf = _c.ffi.from_buffer
    with _capped(isa):
        status = entry(ta, tb, m, n, k, buf(ctype, ga), buf(ctype, gb), buf(ctype, gc, True))
        assert status == lib.AG_OK
        assert gemm(ta, tb, m, n, k, 1.0, buf(ctype, a), max(m if ta else k, 1), buf(ctype, b),
                    max(k if tb else n, 1), 0.0, buf(ctype, expected, True), max(n, 1)) == lib.AG_OK
    assert not np.isnan(gc).any()
    np.testing.assert_array_equal(gc.view(np.uint8), expected.view(np.uint8))
    assert entry(ta, tb, -1, n, k, buf(ctype, ga), buf(ctype, gb), buf(ctype, gc, True)) == lib.AG_ERR_SIZE
    del ga, gb, gc, ka, kb, kc


@ALL_LEVELS
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, n, k, tb", [(5, 33, 40, 1), (20, 34, 64, 1), (13, 35, 33, 1),
                                         (100, 5, 64, 1), (100, 13, 64, 0), (40, 37, 50, 1),
                                         (7, 47, 100, 0), (300, 33, 8, 0), (97, 203, 64, 1)])
def test_gemm_bias_is_never_read_past_its_end(isa, dtype, m, n, k, tb):
    """Every path's last, partial block of the bias (n % 4 = 1, 2, 3; per row of a transposed
    C^T and per column) with the bias ending at an unreadable page: same bits as with the bias
    anywhere else, and no fault."""
    rng = np.random.default_rng(n * k)
    lda, ldb = k, (k if tb else n)
    a = rng.standard_normal(m * lda).astype(dtype)
    b = rng.standard_normal((n if tb else k) * ldb).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)
    guarded, keep = before_a_guard_page(bias)
    with _capped(isa):
        expected, c = np.empty(m * n, dtype), np.empty(m * n, dtype)
        _c.gemm(0, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, expected, n, bias=bias)
        _c.gemm(0, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, n, bias=guarded)
    np.testing.assert_array_equal(c, expected)
    del guarded, keep


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_bias_without_products_and_bad_bias(dtype):
    """k = 0 or alpha = 0: C is the bias rows, A and B unread; a bias overlapping C or shorter
    than n is refused, naming the kernel."""
    name = "ag_sgemm_bias" if dtype == np.float32 else "ag_dgemm_bias"
    bias = np.arange(1, 6, dtype=dtype)
    for k, alpha, a in ((0, 1.0, np.zeros(1, dtype)), (4, 0.0, np.full(12, np.nan, dtype))):
        c = np.full(15, np.nan, dtype)
        _c.gemm(0, 0, 3, 5, k, alpha, a, max(k, 1), np.full(20, np.nan, dtype), 5, 0.0, c, 5,
                bias=bias)
        np.testing.assert_array_equal(c.reshape(3, 5), np.tile(bias, (3, 1)))
    c = np.zeros(15, dtype)
    with pytest.raises(_c.KernelError, match=f"{name}.*overlap"):
        _c.gemm(0, 0, 3, 5, 2, 1.0, np.ones(6, dtype), 2, np.ones(10, dtype), 5, 0.0, c, 5,
                bias=c[10:])
    with pytest.raises(_c.KernelError, match=f"{name}.*fewer than n = 5"):
        _c.gemm(0, 0, 3, 5, 2, 1.0, np.ones(6, dtype), 2, np.ones(10, dtype), 5, 0.0, c, 5,
                bias=bias[:4])


@pytest.mark.parametrize("kernel_dtype", DTYPES)
def test_gemm_rejects_invalid_arguments(kernel_dtype):
    name = "ag_sgemm" if kernel_dtype == np.float32 else "ag_dgemm"
    buf = np.zeros(64, kernel_dtype)
    bad = [
        (0, 0, 4, 4, 4, 3, 4, 4),    # lda < k
        (0, 0, 4, 4, 4, 4, 3, 4),    # ldb < n
        (0, 0, 4, 4, 4, 4, 4, 3),    # ldc < n
        (1, 0, 4, 4, 4, 3, 4, 4),    # trans_a: lda < m
        (0, 1, 4, 5, 4, 4, 3, 5),    # trans_b: ldb < k
        (0, 0, -1, 4, 4, 4, 4, 4),   # negative m
        (0, 0, 4, -2, 4, 4, 4, 4),   # negative n
        (0, 0, 4, 4, -3, 4, 4, 4),   # negative k
        (2, 0, 4, 4, 4, 4, 4, 4),    # trans flag not 0 or 1
    ]
    for ta, tb, m, n, k, lda, ldb, ldc in bad:
        with pytest.raises(_c.KernelError, match=name):
            _c.gemm(ta, tb, m, n, k, 1.0, buf, lda, buf.copy(), ldb, 0.0, buf.copy(), ldc)
    with pytest.raises(_c.KernelError, match=f"{name}.*fewer than"):
        _c.gemm(0, 0, 10, 10, 10, 1.0, buf, 10, buf.copy(), 10, 0.0, buf.copy(), 10)
    with pytest.raises(_c.KernelError, match=name):  # C overlapping A
        _c.gemm(0, 0, 4, 4, 4, 1.0, buf, 4, buf.copy(), 4, 0.0, buf, 4)


def test_blocking_rejects_unknown_levels():
    out = _c.ffi.new("int64_t[5]")
    assert lib.ag_gemm_blocking(3, 0, out) == lib.AG_ERR_ARG
    assert lib.ag_gemm_blocking(0, 2, out) == lib.AG_ERR_ARG
    assert lib.ag_gemm_blocking(0, 0, _c.ffi.NULL) == lib.AG_ERR_NULL


# ----------------------------------------------------------------- backend matmul and linear


@pytest.fixture
def always_c(monkeypatch):
    """Every product goes to C, however small (the crossover would route tiny ones to numpy)."""
    monkeypatch.setattr(_c, "MATMUL_MIN_MNK", 0)


def _views(rng, dtype):
    """(a, b) pairs of every layout the wrapper reads in place or must copy."""
    big = rng.standard_normal((3, 24, 40)).astype(dtype)
    other = rng.standard_normal((40, 19)).astype(dtype)
    yield big, other                                              # batched, folded into m
    yield big[1], other                                           # 2-d
    yield big[:, :, :17], other[:17]                              # row slices (ld > width)
    yield big.swapaxes(-1, -2)[:, :13], big[:, :, :17]            # transposed view, batched
    yield big[0].T, big[1]                                        # transposed @ plain
    yield big[0], big[1].T                                        # plain @ transposed
    yield big[:, ::2], other                                      # row step: read in place
    yield big[:, :, ::2], other[::2]                              # column step: copied
    yield big[0][::-1], other                                     # negative stride: copied
    yield big[::-1], other[None]                                  # reversed batch axis: copied
    yield rng.standard_normal((8, 5, 40)).astype(dtype), big[1].T[None]  # batch of 8: per thread
    yield np.broadcast_to(big[0], (2, 3, 24, 40)), other          # broadcast batch, stride 0
    yield big[:2], np.stack([other, other[::-1]])                 # batch against batch
    yield big[None, :, :5], rng.standard_normal((4, 1, 40, 3)).astype(dtype)  # both broadcast
    yield big[0, :1], other                                       # one row
    yield big[0, :, :1], other[:1]                                # k = 1
    yield big[0, :, :0], other[:0]                                # k = 0
    yield big[:, :0], other                                       # m = 0
    yield np.asfortranarray(big[0]), np.asfortranarray(other)     # Fortran order


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_matches_numpy_on_every_layout(always_c, dtype):
    rng = np.random.default_rng(0)
    for a, b in _views(rng, dtype):
        before = (a.copy(), b.copy())
        out = _c.matmul(a, b)
        ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
        assert out.shape == ref.shape and out.dtype == dtype
        np.testing.assert_allclose(out, ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-4 if dtype == np.float32 else 1e-12)
        np.testing.assert_array_equal(a, before[0])
        np.testing.assert_array_equal(b, before[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_transposed_views_and_row_slices_are_read_in_place(dtype):
    x = np.zeros((30, 50), dtype)
    for view, trans, ld in [(x, 0, 50), (x.T, 1, 50), (x[:, 3:20], 0, 50), (x[2:9].T, 1, 50),
                            (x[::3], 0, 150), (x[:1, :7], 0, 7)]:
        same, (t, lead) = _c._matrix(view)
        assert same is view and (t, lead) == (trans, ld)
    copied, layout = _c._matrix(x[:, ::2])
    assert copied.flags.c_contiguous and layout == (0, 25)


@pytest.mark.parametrize("a,b", [(np.ones((3, 4), np.int64), np.ones((4, 2), np.int64)),
                                 (np.ones((3, 4), np.float16), np.ones((4, 2), np.float16)),
                                 (np.ones((3, 4), np.float32), np.ones((4, 2), np.float64)),
                                 (np.ones(4), np.ones((4, 2))), (np.ones((3, 4)), np.ones(4))])
def test_matmul_routes_other_dtypes_and_vectors_to_numpy(always_c, a, b):
    out = _c.matmul(a, b)
    ref = np.matmul(a, b)
    assert out.dtype == ref.dtype and out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)


def test_matmul_errors_like_numpy(always_c):
    with pytest.raises(ValueError):
        _c.matmul(np.ones((3, 4)), np.ones((5, 2)))
    with pytest.raises(ValueError):
        _c.matmul(np.ones((2, 3, 4)), np.ones((3, 4, 2)))


@pytest.mark.parametrize("dtype", DTYPES)
@given(lead=st.lists(st.integers(0, 5), max_size=2), k=st.integers(1, 40), n=st.integers(1, 40),
       bias=st.booleans(), wt=st.booleans(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=20)
def test_linear_matches_numpy(dtype, lead, k, n, bias, wt, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, k)).astype(dtype)
    w = rng.standard_normal((k, n)).astype(dtype).T if wt else rng.standard_normal((n, k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype) if bias else None
    saved = _c.MATMUL_MIN_MNK
    _c.MATMUL_MIN_MNK = 0
    try:
        out = _c.linear(x, w, b)
    finally:
        _c.MATMUL_MIN_MNK = saved
    ref = _numpy.linear(x.astype(np.float64), w.astype(np.float64),
                        None if b is None else b.astype(np.float64))
    assert out.shape == ref.shape and out.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)


# ----------------------------------------------------------------- the linear op end to end


def test_linear_rejects_mismatched_shapes_naming_them():
    import autograd as ag
    from autograd.errors import ShapeError
    from autograd.ops.linalg import linear

    x, w = ag.ones((4, 3)), ag.ones((5, 2))
    with pytest.raises(ShapeError, match=r"linear: .*x \(4, 3\), weight \(5, 2\)"):
        linear(x, w)
    with pytest.raises(ShapeError, match=r"linear: expected bias of shape \(5,\)"):
        linear(ag.ones((4, 2)), w, ag.ones(4))
    # with a bias of the right shape too (a layer's call, checked by its own fast path)
    with pytest.raises(ShapeError, match=r"linear: .*x \(4, 3\), weight \(5, 2\), bias \(5,\)"):
        linear(x, w, ag.ones(5))
    with pytest.raises(ShapeError, match=r"linear: expected bias of shape \(5,\)"):
        linear(ag.ones((4, 2)), w, ag.ones((1, 5)))
    with pytest.raises(ShapeError, match=r"linear: .*x \(\), weight \(5, 2\)"):
        linear(ag.tensor(1.0), w, ag.ones(5))


@pytest.mark.parametrize("dtypes", [("float32",) * 3, ("float64",) * 3,
                                    ("float32", "float64", "float64"),
                                    ("float64", "float32", "float32")])
def test_linear_of_tensors_equals_linear_of_arrays(dtypes):
    """A layer's call (three tensors of one float dtype) takes a shorter path to the op than
    arrays or mixed dtypes do: the same values and gradients either way."""
    import autograd as ag
    from autograd.ops.linalg import linear

    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(s).astype(d) for s, d in zip(((6, 4), (3, 4), (3,)), dtypes)]
    tensors = [ag.tensor(a, requires_grad=True) for a in arrays]
    out = linear(*tensors)
    out.backward(ag.ones(out.shape, dtype=out.dtype))
    x = ag.tensor(arrays[0], requires_grad=True)
    expected = linear(x, arrays[1], arrays[2])  # arrays: the general path
    expected.backward(ag.ones(expected.shape, dtype=expected.dtype))
    assert out.dtype == expected.dtype == np.result_type(*arrays)
    np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())
    np.testing.assert_array_equal(tensors[0].grad.numpy(), x.grad.numpy())
    g = np.ones((6, 3), out.dtype)
    np.testing.assert_allclose(tensors[1].grad.numpy(), g.T @ arrays[0], rtol=1e-5)
    np.testing.assert_allclose(tensors[2].grad.numpy(), g.sum(axis=0), rtol=1e-6)


def test_only_products_openblas_runs_on_one_thread_route_to_numpy():
    """_small(m, n, k): numpy below 64^3 multiply-adds (OpenBLAS's single-thread range)."""
    assert _c._small(63, 64, 64) and _c._small(128, 10, 16) and _c._small(64, 10, 256)
    assert not _c._small(64, 64, 64) and not _c._small(128, 512, 10)
    assert not _c._small(2048, 1, 2048) and not _c._small(64, 64, 576)  # the CNN's Linear(576, 64)


def test_a_batch_of_small_products_goes_to_c_when_it_gives_each_thread_its_own(monkeypatch):
    """Small products run one per thread in C (numpy would run them one after another), only
    when the batch splits evenly over the threads or holds at least 4 per thread."""
    calls = []
    monkeypatch.setattr(_c, "_numpy", type("Spy", (), {"matmul": staticmethod(
        lambda a, b: calls.append(a.shape) or np.matmul(a, b))}))
    rng = np.random.default_rng(0)
    w, cols = rng.standard_normal((32, 9)), rng.standard_normal((64, 9, 676))
    threads = _c.get_num_threads()
    try:
        for n_threads, batch, to_numpy in ((2, 64, False), (2, 3, True), (2, 9, False), (1, 64, True)):
            _c.set_num_threads(n_threads)
            calls.clear()
            out = _c.matmul(w, cols[:batch])
            np.testing.assert_allclose(out, np.matmul(w, cols[:batch]), rtol=1e-12)
            assert bool(calls) == to_numpy, (n_threads, batch)
            assert lib.ag_gemm_batch_per_thread(batch) == (not to_numpy)
    finally:
        _c.set_num_threads(threads)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_gradients_agree_across_backends(always_c, dtype):
    """Products large enough for the C GEMM: forward and every gradient as on the numpy backend."""
    import autograd as ag
    from autograd.ops.linalg import linear

    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s).astype(dtype) for s in ((3, 40, 50), (30, 50), (30,))]
    results = {}
    for name in ("numpy", "c"):
        with ag.backend.use(name):
            leaves = [ag.tensor(a, requires_grad=True) for a in arrays]
            y = linear(*leaves)
            y.backward(ag.tensor(np.cos(y.data)))
            results[name] = [y.data] + [t.grad.numpy() for t in leaves]
    tol = 1e-4 if dtype == np.float32 else 1e-11
    for ours, ref in zip(results["c"], results["numpy"]):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol)
