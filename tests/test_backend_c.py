"""The compiled kernels (`autograd._kernels`) held to numpy, under every instruction set.

The raw kernels are loaded straight from the built extension file, so these tests need neither
the engine nor the backend wrapper: a broken engine cannot hide a kernel bug. The tests skip
(with the reason) when the extension has not been built, or fail if AUTOGRAD_REQUIRE_C is set.
"""
import glob
import importlib.machinery
import importlib.util
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _c_backend import before_a_guard_page


def _load_kernels():
    """`autograd._kernels` from the first sys.path entry that has it, without importing autograd."""
    if "autograd._kernels" in sys.modules:
        return sys.modules["autograd._kernels"]
    for entry in sys.path:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            for path in glob.glob(os.path.join(entry or ".", "autograd", "_kernels" + suffix)):
                loader = importlib.machinery.ExtensionFileLoader("autograd._kernels", path)
                spec = importlib.util.spec_from_file_location("autograd._kernels", path,
                                                              loader=loader)
                module = importlib.util.module_from_spec(spec)
                loader.exec_module(module)
                return module
    return None


K = _load_kernels()
if K is None:
    reason = "autograd._kernels is not built (pip install . or pip install -e .)"
    if os.environ.get("AUTOGRAD_REQUIRE_C"):  # CI sets this so a missing build cannot pass
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)
ffi, lib = K.ffi, K.lib

ISA_NAMES = {lib.AG_ISA_PORTABLE: "portable", lib.AG_ISA_AVX2: "avx2", lib.AG_ISA_AVX512: "avx512"}
DTYPES = [np.float32, np.float64]
UNARY = ["relu", "sigmoid", "tanh"]
BINARY = ["relu_backward", "sigmoid_backward", "tanh_backward"]
THRESHOLDS = (1 << 13, 1 << 15)  # AG_PARALLEL_MIN_EXP and _CHEAP in activations.c
SIZES = sorted({0, 1, 2, 3, 5, 7, 13, 31, 61, 127, 257, 1021,
                *(w + d for w in (4, 8, 16, 32, 64) for d in (-1, 0, 1)),
                *(t + d for t in THRESHOLDS for d in (-1, 0, 1, 63, 65)), 5 * THRESHOLDS[1] + 17})
SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-3, -1e-3, 1e-30, -1e-30, 5e-324, -5e-324, 1e-45, 1.5,
           17.0, -17.0, 20.0, -20.0, 40.0, -40.0, 88.0, -88.0, 89.0, -89.0, 104.0, -104.0,
           1e4, -1e4, 700.0, -700.0, 710.0, -710.0, 746.0, -746.0, 1e300, -1e300,
           np.inf, -np.inf, np.nan, -np.nan]


# ----------------------------------------------------------------- the numpy reference


def _reference(name, a, b=None):
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "relu":
            return np.maximum(a, 0)
        if name == "sigmoid":
            return np.where(a >= 0, 1 / (1 + np.exp(-a)), np.exp(a) / (1 + np.exp(a))).astype(a.dtype)
        if name == "tanh":
            return np.tanh(a)
        if name == "relu_backward":
            return a * (b > 0)
        if name == "sigmoid_backward":
            return a * b * (1 - b)
        if name == "tanh_backward":
            return a * (1 - b * b)
    raise KeyError(name)


def _ctype(dtype):
    return "float *" if np.dtype(dtype) == np.float32 else "double *"


def _kernel(name, dtype):
    return getattr(lib, f"ag_{name}_{'f32' if np.dtype(dtype) == np.float32 else 'f64'}")


def run(name, *arrays, out=None):
    """Call one kernel on contiguous arrays; returns the output (a fresh array unless given)."""
    dtype = arrays[0].dtype
    out = np.empty_like(arrays[0]) if out is None else out
    ptrs = [ffi.from_buffer(_ctype(dtype), a) for a in arrays]
    status = _kernel(name, dtype)(*ptrs, ffi.from_buffer(_ctype(dtype), out, require_writable=True),
                                  arrays[0].size)
    assert status == lib.AG_OK, f"{name}: status {status}"
    return out


def assert_same_bits(actual, expected):
    """Bitwise equal, except that any NaN matches any NaN (payloads depend on operand order)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), nan)
    uint = np.uint32 if actual.dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(actual[~nan].view(uint), expected[~nan].view(uint))


def assert_close(name, actual, expected):
    """relu and the backward ops are exact; sigmoid and tanh within a few ulp of numpy."""
    if name in ("sigmoid", "tanh"):
        rtol = 1e-6 if actual.dtype == np.float32 else 1e-14
        # atol covers subnormal outputs only, where a relative tolerance means nothing
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=np.finfo(actual.dtype).tiny)
        assert np.all((np.signbit(actual) == np.signbit(expected)) | np.isnan(expected))
    else:
        assert_same_bits(actual, expected)


def _inputs(name, x, rng):
    """x for a forward op; (g, x) or (g, y) for a backward op, y a valid forward output."""
    if name not in BINARY:
        return (x,)
    g = rng.standard_normal(x.size).astype(x.dtype)
    if name == "relu_backward":
        return g, x
    return g, _reference(name.replace("_backward", ""), x)


# ----------------------------------------------------------------- fixtures


def _levels():
    return [level for level in ISA_NAMES if level <= lib.ag_isa_detected()]


@pytest.fixture(params=_levels(), ids=lambda level: ISA_NAMES[level])
def isa(request):
    """Cap the dispatch at each level the CPU has; restore the previous level afterwards."""
    previous = lib.ag_isa()
    assert lib.ag_set_isa_cap(request.param) == request.param
    yield request.param
    lib.ag_set_isa_cap(previous)


@pytest.fixture
def threads():
    previous = lib.ag_get_num_threads()
    yield lib.ag_set_num_threads
    lib.ag_set_num_threads(previous)


# ----------------------------------------------------------------- correctness


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", UNARY + BINARY)
def test_sizes_against_numpy(isa, name, dtype):
    rng = np.random.default_rng(len(name))
    for n in SIZES:
        x = (rng.standard_normal(n) * 4).astype(dtype)
        args = _inputs(name, x, rng)
        assert_close(name, run(name, *args), _reference(name, *args))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", UNARY + BINARY)
def test_never_touches_past_the_arrays(isa, name, dtype):
    """Inputs and output each ending at an unreadable, unwritable page, at every length up to
    past two AVX-512 vectors (every tail): the same bits as elsewhere, and no fault (a masked
    vector access with too wide a mask is invisible to the sanitizer job)."""
    rng = np.random.default_rng(len(name))
    for n in range(1, 40):
        args = _inputs(name, (rng.standard_normal(n) * 4).astype(dtype), rng)
        expected = run(name, *args)
        guarded = [before_a_guard_page(a) for a in args]
        out, keep = before_a_guard_page(np.empty_like(args[0]))
        assert_same_bits(run(name, *(g for g, _ in guarded), out=out), expected)
        del guarded, out, keep


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", UNARY + BINARY)
def test_special_values(isa, name, dtype):
    with np.errstate(over="ignore"):
        values = np.array(SPECIAL, dtype=dtype)
    x = np.tile(values, 3)  # every value in a full vector, in a tail and at every lane
    rng = np.random.default_rng(1)
    for n in range(1, x.size + 1, 7):
        args = _inputs(name, x[:n].copy(), rng)
        assert_close(name, run(name, *args), _reference(name, *args))
    if name in BINARY:  # special values in g too, against special y
        g = np.repeat(values, values.size)
        y = np.tile(values, values.size)
        if name != "relu_backward":
            y = np.clip(y, -1, 1)
        assert_close(name, run(name, g, y), _reference(name, g, y))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sigmoid_and_tanh_limits(isa, dtype):
    x = np.array([-np.inf, -1e4, -800, 800, 1e4, np.inf], dtype=dtype)
    np.testing.assert_array_equal(run("sigmoid", x), [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(run("tanh", x), [-1, -1, -1, 1, 1, 1])
    zeros = np.array([0.0, -0.0], dtype=dtype)
    assert_same_bits(run("tanh", zeros), zeros)
    assert_same_bits(run("relu", zeros), np.zeros(2, dtype))
    np.testing.assert_array_equal(run("sigmoid", zeros), [0.5, 0.5])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(UNARY + BINARY), dtype=st.sampled_from(DTYPES),
       offset=st.integers(0, 15))
def test_property_against_numpy_without_touching_neighbours(data, name, dtype, offset):
    """Random values (specials included), unaligned starts, and guard zones around the output."""
    width = 32 if dtype == np.float32 else 64
    n = data.draw(st.integers(0, 300), label="n")
    elements = st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True)
    values = np.array(data.draw(st.lists(elements, min_size=n, max_size=n), label="x"), dtype=dtype)
    args = []
    for arg in _inputs(name, values, np.random.default_rng(n)):
        args.append(np.zeros(n + offset, dtype)[offset:])  # starts `offset` elements off alignment
        args[-1][...] = arg
    guard = 7
    out_buf = np.full(n + 2 * guard + offset, 12345.0, dtype)
    out = out_buf[guard + offset:guard + offset + n]
    for level in _levels():
        previous = lib.ag_set_isa_cap(level)
        try:
            run(name, *args, out=out)
        finally:
            lib.ag_set_isa_cap(previous)
        assert_close(name, out, _reference(name, *args))
        assert np.all(out_buf[:guard + offset] == 12345.0) and np.all(out_buf[guard + offset + n:] == 12345.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", UNARY + BINARY)
def test_in_place(isa, name, dtype):
    rng = np.random.default_rng(2)
    args = _inputs(name, (rng.standard_normal(1000) * 3).astype(dtype), rng)
    expected = run(name, *args)
    first = args[0].copy()
    run(name, first, *args[1:], out=first)
    assert_same_bits(first, expected)


STREAM_MIN_BYTES = 16 << 20  # AG_STREAM_MIN_BYTES in activations.c


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid_backward"])
def test_streamed_outputs_have_the_same_bits(isa, threads, n_threads, name, dtype):
    """From STREAM_MIN_BYTES the output is written past the caches after a head up to its first
    whole cache line: at every head length, the same bits as the same kernel on pieces too small
    to stream, nothing written outside the output; and under the vector ISAs (whose loops access
    memory only through unaligned vector loads and stores) an output one byte off its element
    alignment, which is never streamed."""
    rng = np.random.default_rng(9)
    itemsize = np.dtype(dtype).itemsize
    n = STREAM_MIN_BYTES // itemsize + 45
    args = _inputs(name, (rng.standard_normal(n) * 4).astype(dtype), rng)
    threads(n_threads)
    piece = n // 8 + 1
    expected = np.concatenate([run(name, *(a[i:i + piece] for a in args))
                               for i in range(0, n, piece)])
    guard = 16
    for offset in (0, 1, 5, 64 // itemsize - 1):
        buf = np.full(n + 2 * guard + offset, 12345.0, dtype)
        out = buf[guard + offset:guard + offset + n]
        assert_same_bits(run(name, *args, out=out), expected)
        assert np.all(buf[:guard + offset] == 12345.0) and np.all(buf[guard + offset + n:] == 12345.0)
    if isa == lib.AG_ISA_PORTABLE:  # its scalar stores through a misaligned pointer would be UB
        return
    raw = bytearray((n + 2) * itemsize)
    shifted = ffi.cast("char *", ffi.from_buffer(raw)) + 1
    status = _kernel(name, dtype)(*(ffi.from_buffer(_ctype(dtype), a) for a in args),
                                  ffi.cast(_ctype(dtype), shifted), n)
    assert status == lib.AG_OK
    got = np.frombuffer(bytes(raw)[1:1 + n * itemsize], dtype)
    assert_same_bits(got, expected)


# ----------------------------------------------------------------- determinism


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", UNARY + BINARY)
def test_one_and_two_threads_agree_bitwise(isa, threads, name, dtype):
    rng = np.random.default_rng(3)
    for n in (*THRESHOLDS, THRESHOLDS[0] + 1, THRESHOLDS[1] + 65, 7 * THRESHOLDS[1] + 37):
        args = _inputs(name, (rng.standard_normal(n) * 10).astype(dtype), rng)
        threads(1)
        one = run(name, *args)
        threads(2)
        assert_same_bits(run(name, *args), one)


@pytest.mark.skipif(lib.ag_isa_detected() < lib.AG_ISA_AVX512, reason="needs AVX-512")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", UNARY + BINARY)
def test_avx2_and_avx512_agree_bitwise(name, dtype):
    """Both run the same arithmetic (scalef and the two-factor scaling round alike)."""
    rng = np.random.default_rng(4)
    with np.errstate(over="ignore"):
        x = np.concatenate([rng.standard_normal(5000) * 30, rng.uniform(-800, 800, 5000),
                            np.array(SPECIAL)]).astype(dtype)
    args = _inputs(name, x, rng)
    previous = lib.ag_isa()
    try:
        lib.ag_set_isa_cap(lib.AG_ISA_AVX2)
        avx2 = run(name, *args)
        lib.ag_set_isa_cap(lib.AG_ISA_AVX512)
        assert_same_bits(run(name, *args), avx2)
    finally:
        lib.ag_set_isa_cap(previous)


# ----------------------------------------------------------------- the C contract


def test_status_codes():
    x = np.ones(8, np.float32)
    out = np.empty_like(x)
    px, pout = ffi.from_buffer("float *", x), ffi.from_buffer("float *", out)
    assert lib.ag_relu_f32(px, pout, -1) == lib.AG_ERR_SIZE
    assert lib.ag_relu_f32(ffi.NULL, pout, 8) == lib.AG_ERR_NULL
    assert lib.ag_relu_f32(px, ffi.NULL, 8) == lib.AG_ERR_NULL
    assert lib.ag_relu_backward_f32(px, ffi.NULL, pout, 8) == lib.AG_ERR_NULL
    assert lib.ag_relu_f32(ffi.NULL, ffi.NULL, 0) == lib.AG_OK
    assert lib.ag_relu_f64(ffi.cast("double *", px), ffi.cast("double *", pout), 2 ** 62) == lib.AG_ERR_SIZE
    assert lib.ag_relu_f32(px, px + 1, 7) == lib.AG_ERR_OVERLAP
    assert lib.ag_sigmoid_backward_f32(px, px + 2, px + 1, 4) == lib.AG_ERR_OVERLAP
    assert lib.ag_relu_f32(px, px, 8) == lib.AG_OK


def test_isa_cap():
    detected = lib.ag_isa_detected()
    previous = lib.ag_isa()
    try:
        for cap in (lib.AG_ISA_PORTABLE, lib.AG_ISA_AVX2, lib.AG_ISA_AVX512):
            assert lib.ag_set_isa_cap(cap) == min(cap, detected) == lib.ag_isa()
        assert lib.ag_set_isa_cap(3) == lib.AG_ERR_ARG
        assert lib.ag_set_isa_cap(-1) == lib.AG_ERR_ARG
        assert lib.ag_isa() == detected  # a rejected cap changes nothing
    finally:
        lib.ag_set_isa_cap(previous)


def test_threads_setting(threads):
    assert lib.ag_set_num_threads(0) == lib.AG_ERR_ARG
    assert lib.ag_set_num_threads(-3) == lib.AG_ERR_ARG
    assert lib.ag_set_num_threads(1025) == lib.AG_ERR_ARG
    assert threads(3) == lib.AG_OK
    assert lib.ag_get_num_threads() == 3


def test_build_info():
    info = ffi.string(lib.ag_build_info()).decode()
    assert "-O3" in info and "-std=c11" in info and "-march" not in info
    assert info.split()[0] in ("gcc", "clang")


def test_malloc_keeps_freed_memory_by_default_and_says_so():
    import platform
    import subprocess

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("only glibc's malloc is tuned")
    # the import-time setting again; refused where malloc is not glibc's (AddressSanitizer's)
    tunable = lib.ag_keep_freed_memory(256 << 20, 32 << 20) == lib.AG_OK
    code = "import autograd as ag; print(ag.backend.info()['malloc'])"
    for env, expected in (({}, "keeps up to 256 MiB freed" if tunable else "default"),
                          ({"AUTOGRAD_KEEP_FREED_MEMORY": "0"}, "default")):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, **env}, check=True)
        assert done.stdout.strip() == expected
    assert lib.ag_keep_freed_memory(-1, 0) == lib.AG_ERR_ARG
    assert lib.ag_keep_freed_memory(1 << 40, 0) == lib.AG_ERR_ARG
