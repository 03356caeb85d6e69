"""`autograd.backend._c` held to `autograd.backend._numpy` through the public functions.

test_backend_c.py checks the raw kernels; this file checks the wrapper around them: routing
(scalars, 0-d, other dtypes, sizes below the thresholds go to numpy), layouts (non-contiguous
views are copied, never misread), validation and error messages, the settings, and the engine
end to end on both backends. Skips when the extension is not built, fails if AUTOGRAD_REQUIRE_C.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _c_backend import import_c_backend

_c = import_c_backend()

import autograd as ag
from autograd.backend import _numpy
from autograd.errors import ShapeError

UNARY = ["relu", "sigmoid", "tanh"]
BINARY = ["relu_backward", "sigmoid_backward", "tanh_backward"]
FLOATS = [np.float32, np.float64]
ROUTED = [np.float16, np.int8, np.int32, np.int64, np.uint8]
LAYOUTS = ["contiguous", "step", "reversed", "transposed", "fortran"]
SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-30, 20.0, -20.0, 89.0, -89.0, 710.0, -746.0,
           np.inf, -np.inf, np.nan]


def _levels():
    """The ISA names this CPU supports, lowest first."""
    detected = _c.lib.ag_isa_detected()
    return [name for name, level in _c.ISA_LEVELS.items() if level <= detected]


def _restore_isa():
    _c._set_isa_cap(_c._SIMD_CAP)


def _threshold(kernel, dtype):
    return _c.MIN_SIZE[kernel][0 if np.dtype(dtype) == np.float32 else 1]


def _values(dtype, n, rng, special=True):
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return rng.integers(0, 100, n).astype(dtype)
    if dtype.kind == "i":
        return rng.integers(-60, 60, n).astype(dtype)
    with np.errstate(over="ignore"):
        x = (rng.standard_normal(n) * 4).astype(dtype)
        if special and n:
            picks = rng.integers(0, n, min(n, 3 * len(SPECIAL)))
            x[picks] = np.resize(np.array(SPECIAL, dtype), picks.size)
    return x


def _layout(x, layout, shape2d):
    """A view with the values of the 1-d array x, laid out in memory as asked (2-d for the last
    two layouts); the values are what a contiguous copy would hold."""
    if layout == "contiguous":
        return x.copy()
    if layout == "step":
        base = np.zeros(2 * x.size, x.dtype)
        base[::2] = x
        return base[::2]
    if layout == "reversed":
        return x[::-1].copy()[::-1]
    a, b = shape2d
    if layout == "transposed":
        return np.ascontiguousarray(x.reshape(a, b).T).T
    return np.asfortranarray(x.reshape(a, b))


def _inputs(kernel, x, rng):
    """(x,) for a forward kernel; (g, y) for a backward one, y a forward output (or x for relu)."""
    if kernel in UNARY:
        return (x,)
    g = _values(x.dtype, x.size, rng).reshape(x.shape)
    if x.dtype.kind != "f" or kernel == "relu_backward":
        return g, x
    with np.errstate(all="ignore"):
        return g, getattr(_numpy, kernel.replace("_backward", ""))(x)


def assert_matches(kernel, got, want):
    """Same type (scalar or array), dtype and shape; values bitwise equal (NaN matches NaN)
    except sigmoid and tanh in C, which are within a few ulp of numpy."""
    assert type(got) is type(want), (type(got), type(want))
    assert got.dtype == want.dtype and np.shape(got) == np.shape(want)
    got, want = np.asarray(got), np.asarray(want)
    if kernel in ("sigmoid", "tanh") and want.dtype in (np.float32, np.float64):
        rtol = 1e-6 if want.dtype == np.float32 else 1e-14
        np.testing.assert_allclose(got, want, rtol=rtol, atol=np.finfo(want.dtype).tiny)
        return
    nan = np.isnan(want) if want.dtype.kind == "f" else np.zeros(want.shape, bool)
    np.testing.assert_array_equal(np.isnan(got) if got.dtype.kind == "f" else nan, nan)
    uint = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[want.dtype.itemsize]
    np.testing.assert_array_equal(got[~nan].view(uint), want[~nan].view(uint))


def check(kernel, *args):
    """The public _c function against the reference on the same inputs; inputs left untouched."""
    before = [np.copy(a) for a in args]
    with np.errstate(all="ignore"):
        want = getattr(_numpy, kernel)(*args)
        got = getattr(_c, kernel)(*args)
    assert_matches(kernel, got, want)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)
    return got


# ----------------------------------------------------------------- routing and layouts


@st.composite
def cases(draw, dtypes):
    """(kernel, dtype, n, shape2d, layout, seed) with n near the kernel's threshold or small."""
    kernel = draw(st.sampled_from(UNARY + BINARY), label="kernel")
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    t = _threshold(kernel, dtype) if np.dtype(dtype) in (np.float32, np.float64) else 0
    t = t or 4096
    n = draw(st.one_of(st.integers(1, 40), st.integers(t - 2, t + 2), st.integers(1, 3 * t)),
             label="n")
    rows = draw(st.sampled_from([d for d in (1, 2, 3, 4, 8, 16, 64) if n % d == 0]), label="rows")
    layout = draw(st.sampled_from(LAYOUTS), label="layout")
    return kernel, dtype, n, (rows, n // rows), layout, draw(st.integers(0, 2 ** 32 - 1))


@settings(deadline=None)
@given(case=cases(FLOATS))
def test_floats_against_reference_every_isa_and_layout(case):
    kernel, dtype, n, shape2d, layout, seed = case
    rng = np.random.default_rng(seed)
    args = [_layout(a, layout, shape2d) for a in _inputs(kernel, _values(dtype, n, rng), rng)]
    try:
        for isa in _levels():
            _c._set_isa_cap(isa)
            check(kernel, *args)
    finally:
        _restore_isa()


@settings(deadline=None)
@given(case=cases(ROUTED))
def test_other_dtypes_are_routed_to_the_reference(case):
    kernel, dtype, n, shape2d, layout, seed = case
    rng = np.random.default_rng(seed)
    check(kernel, *[_layout(a, layout, shape2d) for a in _inputs(kernel, _values(dtype, n, rng), rng)])


@pytest.mark.parametrize("dtype", FLOATS + ROUTED, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kernel", UNARY + BINARY)
def test_scalars_and_0d_arrays(kernel, dtype):
    for value in [0, 1, -1, 3] + ([0.5, -0.0, 20.0, -746.0, np.nan, np.inf] if np.dtype(dtype).kind == "f" else []):
        if np.dtype(dtype).kind == "u" and value < 0:
            continue
        scalar = np.dtype(dtype).type(value)
        for x in (scalar, np.array(scalar)):
            if kernel in UNARY:
                check(kernel, x)
            else:
                check(kernel, np.dtype(dtype).type(3), x)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kernel", UNARY + BINARY)
def test_sizes_around_the_threshold(kernel, dtype):
    t = _threshold(kernel, dtype)
    rng = np.random.default_rng(7)
    for n in sorted({1, 2, 17, *(max(1, t + d) for d in (-1, 0, 1)), 40000}):
        check(kernel, *_inputs(kernel, _values(dtype, n, rng), rng))


def test_empty_arrays():
    for kernel in UNARY + BINARY:
        for dtype in FLOATS:
            x = np.zeros((0, 3), dtype)
            check(kernel, *([x] if kernel in UNARY else [x, x]))


def test_large_inputs_really_take_the_c_path(monkeypatch):
    """Above the thresholds the reference must not be called (routing is not silently numpy)."""
    def refuse(*args):
        raise AssertionError("the numpy reference was called")

    for kernel in UNARY + BINARY:
        for dtype in FLOATS:
            monkeypatch.setattr(_numpy, kernel, refuse)
            fresh = (_c._unary if kernel in UNARY else _c._binary)(kernel, _numpy.__dict__[kernel])
            x = np.linspace(-3, 3, max(50000, _threshold(kernel, dtype))).astype(dtype)
            fresh(*([x] if kernel in UNARY else [x, x]))
            monkeypatch.undo()


def test_float32_tanh_threshold_depends_on_the_thread_count(monkeypatch):
    """numpy's float32 tanh is about as fast per element as ours on one thread, so C takes it from
    MIN_SIZE there; from TANH_F32_THREADED_MIN elements C's on every core is faster."""
    calls = []
    real = _numpy.tanh
    monkeypatch.setattr(_numpy, "tanh", lambda x: calls.append(x.size) or real(x))
    fresh = _c._unary("tanh", _numpy.tanh)  # bound to the spy, like _c._tanh
    monkeypatch.setattr(_c, "_tanh", fresh)
    one_thread_min, two_threads_min = _c.MIN_SIZE["tanh"][0], _c.TANH_F32_THREADED_MIN
    assert two_threads_min < one_thread_min
    x = np.linspace(-5, 5, one_thread_min).astype(np.float32)
    threads = _c.get_num_threads()
    try:
        for n_threads, size, to_numpy in ((2, two_threads_min, False), (2, two_threads_min - 1, True),
                                          (1, two_threads_min, True), (1, one_thread_min - 1, True),
                                          (1, one_thread_min, False)):
            _c.set_num_threads(n_threads)
            calls.clear()
            got = _c.tanh(x[:size])
            assert bool(calls) == to_numpy, (n_threads, size)
            assert_matches("tanh", got, real(x[:size]))
    finally:
        _c.set_num_threads(threads)


def test_mixed_dtypes_follow_the_reference():
    rng = np.random.default_rng(3)
    for kernel in BINARY:
        for g_dtype, y_dtype in ((np.float64, np.float32), (np.float32, np.float64),
                                 (np.float32, np.int64), (np.float16, np.float32)):
            x = _values(np.float32, 50000, rng, special=False)
            check(kernel, x.astype(g_dtype), np.tanh(x).astype(y_dtype))


def test_shape_mismatch_names_kernel_shapes_and_dtypes():
    for kernel in BINARY:
        g, y = np.ones((3, 4), np.float32), np.ones((4, 3), np.float64)
        with pytest.raises(ShapeError, match=rf"{kernel}: .*\(3, 4\) float32 and \(4, 3\) float64"):
            getattr(_c, kernel)(g, y)
        with pytest.raises(ValueError, match=kernel):  # ShapeError is a ValueError
            getattr(_c, kernel)(np.ones(5000, np.float32), np.ones(5001, np.float32))


def test_status_codes_become_exceptions_naming_the_kernel_and_shapes():
    x = np.ones((2, 3), np.float32)
    _c._ensure(_c.lib.AG_OK, "relu", x)
    for status, words in ((_c.lib.AG_ERR_OVERLAP, "overlaps"), (_c.lib.AG_ERR_SIZE, "count"),
                          (_c.lib.AG_ERR_NULL, "NULL"), (_c.lib.AG_ERR_ARG, "argument")):
        with pytest.raises(_c.KernelError, match=rf"relu_backward: .*{words}.*\(2, 3\) float32"):
            _c._ensure(status, "relu_backward", x, x)
    with pytest.raises(MemoryError, match=r"ag_sgemm: .*scratch.*\(2, 3\) float32, \(2, 3\) float32"):
        _c._ensure(_c.lib.AG_ERR_NOMEM, "ag_sgemm", x, x)
    assert issubclass(_c.KernelError, ValueError) and issubclass(_c.KernelError, ag.AutogradError)


def test_results_are_fresh_arrays():
    x = np.linspace(-2, 2, 50000)
    for kernel in UNARY + BINARY:
        args = [x] if kernel in UNARY else [x, x]
        out = getattr(_c, kernel)(*args)
        assert out.flags.owndata and not np.shares_memory(out, x)


# ----------------------------------------------------------------- settings


def test_info_and_threads():
    info = _c.info()
    assert info["backend"] == "c" == _c.NAME
    assert info["isa"] in ("avx512", "avx2", "portable") and info["threads"] >= 1
    assert info["build"].split()[0] in ("gcc", "clang") and "-O3" in info["build"]
    assert info["simd_cap"] == os.environ.get("AUTOGRAD_ISA")
    before = _c.get_num_threads()
    try:
        _c.set_num_threads(1)
        assert _c.get_num_threads() == 1 == _c.info()["threads"]
        for bad in (0, -2):
            with pytest.raises(ValueError, match="at least one thread"):
                _c.set_num_threads(bad)
        with pytest.raises(ValueError, match="1024"):
            _c.set_num_threads(1025)
    finally:
        _c.set_num_threads(before)


def test_same_public_names_as_the_reference():
    public = {name for name in vars(_numpy) if not name.startswith("_") and callable(vars(_numpy)[name])}
    public -= {"np"}
    missing = [name for name in public if not callable(getattr(_c, name, None))]
    assert not missing


@pytest.mark.parametrize("value", ["portable", "avx2", "avx512"])
def test_isa_environment_variable(value):
    code = "import autograd as ag; i = ag.backend.info(); print(i['isa'], i['simd_cap'])"
    env = dict(os.environ, AUTOGRAD_ISA=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    expected = value if value in _levels() else _levels()[-1]
    assert out == [expected, value]


def test_bad_isa_environment_variable_fails_loudly():
    env = dict(os.environ, AUTOGRAD_ISA="sse9")
    proc = subprocess.run([sys.executable, "-c", "import autograd"], env=env, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "AUTOGRAD_ISA='sse9'" in proc.stderr


# ----------------------------------------------------------------- the engine on both backends


def _forward_backward(backend, method, x, g):
    with ag.backend.use(backend):
        t = ag.tensor(x, requires_grad=True)
        y = getattr(t, method)()
        y.backward(ag.tensor(g))
        return y.detach().numpy(), t.grad.numpy()


@settings(deadline=None)
@given(method=st.sampled_from(UNARY), dtype=st.sampled_from(FLOATS),
       shape=st.sampled_from([(), (1,), (7,), (3, 5), (64, 100), (2, 3000), (5000, 3)]),
       transposed=st.booleans(), seed=st.integers(0, 2 ** 32 - 1))
def test_engine_c_and_numpy_backends_agree(method, dtype, shape, transposed, seed):
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    x = _values(dtype, size, rng, special=False).reshape(shape)
    g = _values(dtype, size, rng, special=False).reshape(shape)
    if transposed:
        x, g = x.T, g.T
    y_c, grad_c = _forward_backward("c", method, x, g)
    y_np, grad_np = _forward_backward("numpy", method, x, g)
    assert y_c.dtype == y_np.dtype == grad_c.dtype == grad_np.dtype == np.dtype(dtype)
    rtol = 1e-6 if np.dtype(dtype) == np.float32 else 1e-14
    np.testing.assert_allclose(y_c, y_np, rtol=rtol, atol=np.finfo(dtype).tiny)
    # The gradients use each backend's own forward output, so they inherit its few-ulp difference,
    # amplified near |y| = 1 where 1 - y and 1 - y * y cancel: an absolute error of ~eps * |g|.
    atol = 8 * np.finfo(dtype).eps * max(1.0, float(np.max(np.abs(g), initial=0)))
    np.testing.assert_allclose(grad_c, grad_np, rtol=4 * rtol, atol=atol)


def test_engine_default_backend_is_c():
    if os.environ.get("AUTOGRAD_BACKEND", "c") == "c":
        assert ag.backend.name() == "c" and ag.backend.info()["backend"] == "c"


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("rows", [1, 63, 64, 65, 300])  # 64 x 64 = 4096: where relu goes to C
def test_linear_relu_is_the_relu_of_linear_in_place_on_its_output(dtype, rows):
    """The relu runs in place on linear's fresh output, in C from relu's threshold on (numpy's
    maximum in place below it): bitwise _c.relu(_c.linear(...)), NaN kept and -0 made +0 as
    relu does, on every ISA level."""
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, 48)).astype(dtype)
    w, b = rng.standard_normal((64, 48)).astype(dtype), rng.standard_normal(64).astype(dtype)
    x[0, 0], b[1] = np.nan, -np.inf  # a NaN row, a column at -inf
    for level in _levels():
        _c._set_isa_cap(level)
        try:
            want, got = _c.relu(_c.linear(x, w, b)), _c.linear_relu(x, w, b)
        finally:
            _restore_isa()
        assert got.dtype == dtype and got.shape == (rows, 64)
        np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"),
                                      err_msg=level)
        assert np.isnan(got[0]).all() and (got[1:, 1] == 0).all()
        assert rows == 1 or ((got[1:] > 0).any() and (got[1:] == 0).any())  # relu cut something


def test_relu_in_place_of_a_strided_array_takes_the_reference_in_place():
    base = np.random.default_rng(0).standard_normal((128, 128)).astype(np.float32)
    view = base[:, ::2]  # 8192 elements, enough for C, but not contiguous
    expected = np.maximum(view, 0)
    out = _c._relu_fresh(view)
    assert out is view and np.shares_memory(out, base)
    np.testing.assert_array_equal(view, expected)
    dense = base.copy()
    assert _c._relu_fresh(dense) is dense and (dense >= 0).all()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_runs_the_kernels_on_one_thread_with_the_same_bits():
    """After threaded kernels have started the pool, a fork() child (a multiprocessing worker)
    has none of its threads (with OpenMP's, libgomp's next parallel region waited for them
    forever). The child must finish a CNN training step's kernels on one thread, with the
    parent's bits."""
    import time

    def step():
        rng = np.random.default_rng(0)
        model = ag.nn.Sequential(ag.nn.Conv2d(1, 8, 3), ag.nn.ReLU(), ag.nn.MaxPool2d(2),
                                 ag.nn.Flatten(), ag.nn.Linear(8 * 13 * 13, 10))
        for p in model.parameters():
            p.data[...] = rng.standard_normal(p.shape).astype(np.float32) * 0.1
        x = ag.tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32))
        loss = ag.nn.functional.cross_entropy(model(x), ag.tensor(np.arange(64) % 10))
        loss.backward()
        big = rng.standard_normal((512, 512)).astype(np.float32)
        parts = [loss.detach().numpy(), _c.matmul(big, big), _c.relu(big)]
        return b"".join(np.ascontiguousarray(a).tobytes() for a in parts + [
            p.grad.numpy() for p in model.parameters()])

    threads = _c.get_num_threads()
    _c.set_num_threads(2)
    try:
        expected = step()  # on two threads: the pool's worker is running now
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report and leave without running the parent's cleanup
            try:
                got = step()
                os.write(write, bytes([_c.get_num_threads()]) + (b"same" if got == expected else b"diff"))
            finally:
                os._exit(0)
        os.close(write)
        deadline = time.monotonic() + 60
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child did not finish in 60 s (a parallel region waiting "
                            "for threads fork did not copy)")
            time.sleep(0.01)
        report = os.read(read, 16)
        os.close(read)
    finally:
        _c.set_num_threads(threads)
    assert report == bytes([1]) + b"same"


# ----------------------------------------------------------------- large outputs: kept blocks


@pytest.fixture
def small_blocks(monkeypatch):
    """Outputs from 1 MiB made over kept blocks (normally from 32 MiB), a 6 MiB budget, and no
    block kept from before; the kept blocks are let go afterwards."""
    _c.empty_cache()
    monkeypatch.setattr(_c, "MMAP_ABOVE_BYTES", 1 << 20)
    monkeypatch.setattr(_c, "_OUTPUT_BLOCK_MIN", (1 << 20) // 8)
    monkeypatch.setattr(_c, "KEEP_FREED_BYTES", 6 << 20)
    monkeypatch.setattr(_c, "_KEEP_FREED", True)
    yield
    _c.empty_cache()


def _address(a):
    return a.__array_interface__["data"][0]


def test_a_large_output_reuses_a_block_once_no_array_refers_to_it(small_blocks):
    x = np.linspace(-3, 3, 300_000, dtype=np.float32)  # 1.2 MB: a 2 MiB block
    tracked = len(_c._block_buffers)
    out = check("relu", x)
    assert len(_c._block_buffers) == tracked + 1
    assert type(out.base).__name__ == "buffer" and not out.flags.owndata
    assert out.flags.c_contiguous and out.flags.writeable and _address(out) % 64 == 0
    assert _c.owns_memory(out) and ag.backend.owns_memory(out) and _c.kept_bytes() == 0
    first = _address(out)
    del out
    assert _c.kept_bytes() == 2 << 20
    out = check("sigmoid", x)  # the same block, every element written again
    assert _address(out) == first and _c.kept_bytes() == 0
    view, values = out[10:], out[10:].copy()
    assert not _c.owns_memory(view)
    del out  # the view still refers to the block: it is not kept
    assert _c.kept_bytes() == 0
    other = check("tanh", x)
    assert _address(other) != first
    np.testing.assert_array_equal(view, values)  # untouched by the new output
    del view
    assert _c.kept_bytes() == 2 << 20
    del other
    assert _c.kept_bytes() == 4 << 20
    assert len(_c._block_buffers) == tracked  # blocks given back are no longer tracked
    ag.backend.empty_cache()
    assert _c.kept_bytes() == 0 and ag.backend.info()["kept_output_bytes"] == 0


def test_kept_blocks_stay_within_the_budget(small_blocks):
    x = np.ones(300_000, np.float32)
    outs = [_c.relu(x) for _ in range(5)]  # 5 blocks of 2 MiB, 6 MiB kept at most
    assert len({_address(o) for o in outs}) == 5
    del outs
    assert _c.kept_bytes() == 6 << 20
    big = _c.relu(np.ones(700_000, np.float32))  # 2.8 MB: another size, a new 4 MiB block
    assert _c.kept_bytes() == 6 << 20
    del big
    assert _c.kept_bytes() == 6 << 20  # it did not fit


def test_owned_memory_is_the_array_s_alone():
    x = np.ones(10)
    assert ag.backend.owns_memory(x) and not ag.backend.owns_memory(x[1:])
    assert not ag.backend.owns_memory(np.frombuffer(bytearray(80)))
    with ag.backend.use("numpy"):
        assert ag.backend.owns_memory(x)


def test_a_block_with_another_array_over_its_buffer_is_not_owned(small_blocks):
    out = _c.relu(np.ones(300_000, np.float32))
    alias = np.frombuffer(out.base, np.uint8)
    assert not _c.owns_memory(out)
    del alias
    assert _c.owns_memory(out)


def test_a_leaf_takes_its_block_gradient_without_a_copy(small_blocks):
    x = ag.tensor(np.linspace(-1, 1, 300_000, dtype=np.float32), requires_grad=True)
    ag.relu(x).sum().backward()
    assert type(x.grad.data.base).__name__ == "buffer"  # relu_backward's block, not a copy
    np.testing.assert_array_equal(x.grad.numpy(), (x.data > 0).astype(np.float32))
    held = _c.relu(np.ones(300_000, np.float32))  # a gradient the user still holds: copied
    y = ag.tensor(np.ones(300_000, np.float32), requires_grad=True)
    (y * 1.0).backward(ag.tensor(held))
    assert y.grad.data.flags.owndata and not np.shares_memory(y.grad.data, held)


@settings(deadline=None, max_examples=40)
@given(steps=st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 99)),
                      min_size=1, max_size=30))
def test_live_outputs_never_share_memory(steps):
    """Random making and dropping of outputs of a few sizes (some sharing a block size), and
    views of them: every live array keeps its own values."""
    sizes = [270_000, 300_000, 500_000, 1_100_000]  # floats: blocks of 2, 2, 2 and 6 MiB
    mp = pytest.MonkeyPatch()
    mp.setattr(_c, "MMAP_ABOVE_BYTES", 1 << 20)
    mp.setattr(_c, "KEEP_FREED_BYTES", 8 << 20)
    mp.setattr(_c, "_KEEP_FREED", True)
    _c.empty_cache()
    try:
        live = []  # (array, its fill value)
        for i, (make, size, pick) in enumerate(steps):
            if make or not live:
                a = _c._output((sizes[size],), np.float32)
                a.fill(i)
                live.append((a[pick:] if pick % 3 == 0 else a, i))  # sometimes only a view
            else:
                live.pop(pick % len(live))
            for a, value in live:
                assert a.min() == a.max() == value
        assert _c.kept_bytes() <= 8 << 20
    finally:
        mp.undo()
        _c.empty_cache()


def test_blocks_let_go_on_other_threads_are_kept_and_reused(small_blocks):
    import threading

    x = np.linspace(-3, 3, 300_000, dtype=np.float32)
    errors = []

    def work():
        try:
            for _ in range(50):
                out = _c.tanh(x)
                np.testing.assert_array_equal(out, _c.tanh(x))
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert 0 < _c.kept_bytes() <= 6 << 20


def test_every_kernel_output_over_a_block_matches_the_reference(monkeypatch):
    """With every output made over a kept block (threshold 0), a CNN step, batched and
    transposed products, and the losses give the numpy backend's values."""
    _c.empty_cache()
    monkeypatch.setattr(_c, "MMAP_ABOVE_BYTES", 0)
    monkeypatch.setattr(_c, "_OUTPUT_BLOCK_MIN", 0)
    monkeypatch.setattr(_c, "KEEP_FREED_BYTES", 64 << 20)
    monkeypatch.setattr(_c, "_KEEP_FREED", True)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((4, 1, 12, 12)).astype(np.float64)
    labels = rng.integers(0, 3, 4)

    def step(backend):
        with ag.backend.use(backend):
            ag.manual_seed(0)
            net = ag.nn.Sequential(ag.nn.Conv2d(1, 4, 3, padding=1), ag.nn.ReLU(),
                                   ag.nn.MaxPool2d(2), ag.nn.Conv2d(4, 4, 3), ag.nn.Sigmoid(),
                                   ag.nn.AvgPool2d(2), ag.nn.Flatten(), ag.nn.Linear(16, 3),
                                   ag.nn.Tanh()).to(ag.float64)
            x = ag.tensor(images, requires_grad=True)
            out = net(x)
            loss = (ag.nn.functional.cross_entropy(out, ag.tensor(labels))
                    + ag.nn.functional.mse_loss(out, ag.tensor(np.ones((4, 3))))
                    + ag.nn.functional.binary_cross_entropy_with_logits(out, ag.tensor(np.ones((4, 3)))))
            a = ag.tensor(rng_b.standard_normal((3, 5, 6)), requires_grad=True)
            b = ag.tensor(rng_b.standard_normal((6, 7)), requires_grad=True)
            loss = loss + (a @ b).sum() + (a.transpose(1, 2) @ a).mean()
            loss.backward()
            return [loss.item(), x.grad.numpy(), a.grad.numpy(), b.grad.numpy()] + [
                p.grad.numpy() for p in net.parameters()]

    rng_b = np.random.default_rng(1)
    ours = step("c")
    assert _c.kept_bytes() > 0  # the outputs did go through blocks
    rng_b = np.random.default_rng(1)
    reference = step("numpy")
    for got, want in zip(ours, reference):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    _c.empty_cache()


def test_large_outputs_are_plain_arrays_when_freed_memory_is_not_kept():
    code = ("import numpy as np; from autograd.backend import _c; "
            "a = _c.relu(np.ones(9 << 20, np.float32)); print(a.flags.owndata, _c.kept_bytes())")
    env = dict(os.environ, AUTOGRAD_KEEP_FREED_MEMORY="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "0"]
