"""optim.c (the one-pass Adam and SGD steps, and add_scaled) held bitwise to the numpy reference.

Hypothesis draws sizes (0, 1, primes, around the vector widths and the threading threshold),
float32 and float64, the hyper-parameters (both lerp branches), amsgrad on and off, special
values, and a strided gradient; every ISA level and one and two threads must give the reference's
exact bits. Runs under ASan (tools/asan_test.sh).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _c_backend import import_c_backend

_c = import_c_backend()

from autograd.backend import _numpy

from test_backend_c import ISA_NAMES, isa, threads  # noqa: E402,F401  (pytest fixtures)

lib = _c.lib
SIZES = st.sampled_from([0, 1, 2, 7, 15, 16, 17, 31, 33, 63, 65, 101, 1 << 15, (1 << 15) + 3])
SPECIAL = [0.0, -0.0, 1e-30, 1e30, 3.0, -2.5]


def _state(rng, n, dtype, amsgrad, special):
    param, grad = rng.standard_normal(n).astype(dtype), rng.standard_normal(2 * n)[::2].astype(dtype)
    if special and n:
        grad[: min(n, len(SPECIAL))] = SPECIAL[: min(n, len(SPECIAL))]
    exp_avg = (rng.standard_normal(n) * 0.1).astype(dtype)
    exp_avg_sq = (rng.random(n) * 0.01).astype(dtype)
    vmax = (rng.random(n) * 0.01).astype(dtype) if amsgrad else None
    return param, grad, exp_avg, exp_avg_sq, vmax


def _each_isa_and_thread_count():
    """Yields (ISA name, thread count) with the C library set to each; restores it after."""
    previous_isa, previous_threads = lib.ag_isa(), lib.ag_get_num_threads()
    try:
        for level in [lv for lv in ISA_NAMES if lv <= lib.ag_isa_detected()]:
            for n_threads in (1, 2):
                lib.ag_set_isa_cap(level)
                lib.ag_set_num_threads(n_threads)
                yield ISA_NAMES[level], n_threads
    finally:
        lib.ag_set_isa_cap(previous_isa)
        lib.ag_set_num_threads(previous_threads)


def _assert_same_bits(a, b, message):
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"), err_msg=message)


def _copies(arrays):
    return [None if a is None else a.copy() for a in arrays]


@pytest.mark.parametrize("layout", ["strided out", "strided x", "fortran y", "all fortran"])
def test_add_scaled_takes_the_numpy_path_for_layouts_c_cannot_take(layout):
    """Each operand C cannot take as a flat buffer sends the update to numpy, whose result it is."""
    rng = np.random.default_rng(1)
    base = rng.standard_normal((4, 12)).astype(np.float32)
    x, y = rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal((4, 6)).astype(np.float32)
    out = np.zeros((4, 6), np.float32)
    if layout == "strided out":
        out = base[:, ::2]
    elif layout == "strided x":
        x = base[:, 1::2]
    elif layout == "fortran y":
        y = np.asfortranarray(y)
    else:
        out, x, y = np.asfortranarray(out), np.asfortranarray(x), np.asfortranarray(y)
    expected = _numpy.add_scaled(np.empty((4, 6), np.float32), x, -0.5, y, np.empty((4, 6), np.float32))
    assert _c.add_scaled(out, x, -0.5, y, np.empty((4, 6), np.float32)) is out
    _assert_same_bits(out, expected, layout)


def test_add_scaled_into_a_read_only_array_raises_and_writes_nothing():
    x = np.ones(8, np.float32)
    out = np.zeros(8, np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _c.add_scaled(out, x, 1.0, x, np.empty(8, np.float32))
    assert not out.any()


@pytest.mark.filterwarnings("ignore:overflow encountered")
@settings(max_examples=30)
@given(n=SIZES, dtype=st.sampled_from([np.float32, np.float64]), amsgrad=st.booleans(),
       special=st.booleans(), beta1=st.sampled_from([0.0, 0.3, 0.5, 0.9, 0.99]),
       beta2=st.sampled_from([0.0, 0.9, 0.999]), step=st.integers(1, 50),
       lr=st.sampled_from([1e-3, 0.1]), seed=st.integers(0, 2**16))
def test_adam_step_bitwise_equal_to_numpy_on_every_isa_and_thread_count(
        n, dtype, amsgrad, special, beta1, beta2, step, lr, seed):
    rng = np.random.default_rng(seed)
    arrays = _state(rng, n, dtype, amsgrad, special)
    scalars = (1 - beta1, beta2, -(lr / (1 - beta1 ** step)), (1 - beta2 ** step) ** 0.5, 1e-8)
    expected = _copies(arrays)
    _numpy.adam_step(*expected, *scalars)
    for isa_name, n_threads in _each_isa_and_thread_count():
        got = _copies(arrays)
        _c.adam_step(*got, *scalars)
        for name, a, b in zip(("param", "grad", "exp_avg", "exp_avg_sq", "max"), got, expected):
            if a is not None:
                _assert_same_bits(a, b, f"{name} ({isa_name}, {n_threads} threads)")


def test_adam_step_moves_the_parameter_against_the_gradient_by_lr():
    """The first Adam step is lr * sign(grad) (bias corrections cancel), a hand-checked value."""
    param, grad = np.array([1.0, 2.0, -1.0]), np.array([0.5, -4.0, 1e-3])
    m, v = np.zeros(3), np.zeros(3)
    _c.adam_step(param, grad, m, v, None, 0.1, 0.999, -(0.01 / 0.1), 0.001 ** 0.5, 1e-8)
    np.testing.assert_allclose(param, [0.99, 2.01, -1.01], rtol=0, atol=1e-7)
    np.testing.assert_allclose(m, 0.1 * grad)
    np.testing.assert_allclose(v, 0.001 * grad ** 2)


def test_adam_step_takes_the_numpy_path_for_layouts_c_cannot_update_in_place():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 6))
    param = base[:, ::2]  # not contiguous: C would have to copy, and the copy would be lost
    grad, m, v = rng.standard_normal((4, 3)), np.zeros((4, 3)), np.zeros((4, 3))
    expected = [param.copy(), grad, m.copy(), v.copy()]
    _numpy.adam_step(*expected, None, 0.1, 0.999, -0.01, 0.0316, 1e-8)
    _c.adam_step(param, grad, m, v, None, 0.1, 0.999, -0.01, 0.0316, 1e-8)
    np.testing.assert_array_equal(base[:, ::2], expected[0])
    np.testing.assert_array_equal(m, expected[2])


def test_adam_step_with_aliased_buffers_matches_numpy_instead_of_failing():
    param = np.linspace(-1, 1, 40)
    expected = param.copy()
    _numpy.adam_step(expected, expected, np.zeros(40), np.zeros(40), None, 0.1, 0.999, -0.01, 0.03, 1e-8)
    _c.adam_step(param, param, np.zeros(40), np.zeros(40), None, 0.1, 0.999, -0.01, 0.03, 1e-8)
    np.testing.assert_array_equal(param, expected)


def test_raw_kernel_rejects_null_and_negative_sizes():
    x = np.zeros(4, np.float32)
    buf = _c.ffi.from_buffer("float[]", x, require_writable=True)
    null = _c.ffi.NULL
    args = (0.1, 0.999, 0.001, -0.01, 0.03, 1e-8)
    assert lib.ag_adam_f32(buf, null, buf, buf, null, 4, *args) == lib.AG_ERR_NULL
    assert lib.ag_adam_f32(buf, buf, buf, buf, null, -1, *args) == lib.AG_ERR_SIZE
    assert lib.ag_adam_f32(null, null, null, null, null, 0, *args) == lib.AG_OK
    assert lib.ag_adam_f32(buf, buf, buf, buf, null, 4, *args) == lib.AG_ERR_OVERLAP


@pytest.mark.filterwarnings("ignore:overflow encountered")
@settings(max_examples=30)
@given(n=SIZES, dtype=st.sampled_from([np.float32, np.float64]), special=st.booleans(),
       alpha=st.sampled_from([-0.1, -1e-3, 0.0, 1.0, 0.9, -3e38]), into=st.sampled_from(["new", "x", "y"]),
       seed=st.integers(0, 2**16))
def test_add_scaled_bitwise_equal_to_numpy_on_every_isa_and_thread_count(n, dtype, special, alpha, into, seed):
    """out = x + alpha * y, written into a new array or in place over x (SGD's step) or y."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(n).astype(dtype), rng.standard_normal(2 * n)[::2].astype(dtype)
    if special and n:
        y[: min(n, len(SPECIAL))] = SPECIAL[: min(n, len(SPECIAL))]
    y = np.ascontiguousarray(y)
    expected = _numpy.add_scaled(np.empty_like(x), x, alpha, y, np.empty_like(x))
    for isa_name, n_threads in _each_isa_and_thread_count():
        gx, gy = x.copy(), y.copy()
        out = {"new": np.full_like(x, np.nan), "x": gx, "y": gy}[into]
        assert _c.add_scaled(out, gx, alpha, gy, None) is out
        _assert_same_bits(out, expected, f"add_scaled into {into} ({isa_name}, {n_threads} threads)")


def test_add_scaled_of_a_hand_computed_sgd_step():
    param, grad = np.array([1.0, -2.0, 0.5], np.float32), np.array([10.0, 0.0, -5.0], np.float32)
    _c.add_scaled(param, param, -0.1, grad, None)
    np.testing.assert_array_equal(param, np.array([0.0, -2.0, 1.0], np.float32))


@pytest.mark.parametrize("layout", ["strided out", "strided y", "shifted overlap", "mixed dtypes"])
def test_add_scaled_takes_the_numpy_path_where_c_cannot_write_in_place(layout):
    rng = np.random.default_rng(1)
    base = rng.standard_normal(40)
    x, y, out = base[:20].copy(), base[20:].copy(), np.zeros(20)
    if layout == "strided out":
        out = np.zeros(40)[::2]
    elif layout == "strided y":
        y = base[::2]
    elif layout == "shifted overlap":
        out, x = base[1:21], base[:20]  # out[i] is x[i + 1]: C would read values already written
    else:
        y = y.astype(np.float32)
    expected = x + (y * -0.5)
    got = _c.add_scaled(out, x, -0.5, y, np.empty(20))
    np.testing.assert_array_equal(got, expected)
    assert got is out


def test_raw_add_scaled_rejects_null_negative_sizes_and_shifted_overlap():
    x = np.zeros(8, np.float32)
    buf = _c.ffi.from_buffer("float[]", x, require_writable=True)
    shifted = _c.ffi.from_buffer("float[]", x[1:], require_writable=True)
    null = _c.ffi.NULL
    assert lib.ag_add_scaled_f32(buf, null, 1.0, buf, 4) == lib.AG_ERR_NULL
    assert lib.ag_add_scaled_f32(buf, buf, 1.0, buf, -1) == lib.AG_ERR_SIZE
    assert lib.ag_add_scaled_f32(null, null, 1.0, null, 0) == lib.AG_OK
    assert lib.ag_add_scaled_f32(buf, buf, 1.0, buf, 4) == lib.AG_OK
    assert lib.ag_add_scaled_f32(shifted, buf, 1.0, buf, 4) == lib.AG_ERR_OVERLAP


SGD_SETTINGS = st.fixed_dictionaries(dict(
    lr=st.sampled_from([0.1, 1e-3, 0.0, 3.0]), momentum=st.sampled_from([0.0, 0.9, 0.5]),
    dampening=st.sampled_from([0.0, 0.1]), weight_decay=st.sampled_from([0.0, 1e-2, 0.5]),
    nesterov=st.booleans(), maximize=st.booleans(), first=st.booleans()))


@pytest.mark.filterwarnings("ignore:overflow encountered")
@settings(max_examples=40)
@given(n=SIZES, dtype=st.sampled_from([np.float32, np.float64]), s=SGD_SETTINGS,
       special=st.booleans(), seed=st.integers(0, 2**16))
def test_sgd_step_bitwise_equal_to_numpy_on_every_isa_and_thread_count(n, dtype, s, special, seed):
    """Momentum (first step and later), dampening, Nesterov, weight decay and maximize: each
    combination gives the numpy reference's exact bits for the parameter and the buffer."""
    rng = np.random.default_rng(seed)
    param, grad = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    if special and n:
        grad[: min(n, len(SPECIAL))] = SPECIAL[: min(n, len(SPECIAL))]
    buf = rng.standard_normal(n).astype(dtype) if s["momentum"] else None
    args = (s["lr"], s["momentum"], s["dampening"], s["weight_decay"], s["nesterov"], s["maximize"],
            s["first"])
    expected = _copies([param, buf])
    _numpy.sgd_step(expected[0], grad, expected[1], *args)
    for isa_name, n_threads in _each_isa_and_thread_count():
        got = _copies([param, buf])
        gg = grad.copy()
        _c.sgd_step(got[0], gg, got[1], *args)
        where = f"({isa_name}, {n_threads} threads, {s})"
        _assert_same_bits(got[0], expected[0], "parameter " + where)
        if buf is not None:
            _assert_same_bits(got[1], expected[1], "momentum buffer " + where)
        _assert_same_bits(gg, grad, "the gradient is read only " + where)


def test_sgd_step_by_hand():
    """p = 1, g = 2, buffer 3, lr 0.1, momentum 0.5, dampening 0.5, weight decay 1: the decayed
    gradient is 3, the buffer 3 * 0.5 + 3 * 0.5 = 3, Nesterov's step 3 + 3 * 0.5 = 4.5."""
    for nesterov, step in ((False, 3.0), (True, 4.5)):
        param, buf = np.array([1.0]), np.array([3.0])
        _c.sgd_step(param, np.array([2.0]), buf, 0.1, 0.5, 0.5, 1.0, nesterov, False, False)
        np.testing.assert_allclose(buf, [3.0], rtol=0, atol=1e-15)
        np.testing.assert_allclose(param, [1.0 - 0.1 * step], rtol=0, atol=1e-15)
    param, buf = np.array([1.0]), np.array([123.0])  # the first step: the buffer is the gradient
    _c.sgd_step(param, np.array([2.0]), buf, 0.1, 0.9, 0.0, 0.0, False, True, True)
    np.testing.assert_array_equal(buf, [-2.0])  # maximize: the negated gradient
    np.testing.assert_allclose(param, [1.2], rtol=0, atol=1e-15)


@pytest.mark.parametrize("layout", ["strided buffer", "fortran parameter", "buffer is the gradient",
                                    "mixed dtypes"])
def test_sgd_step_takes_the_numpy_path_where_c_cannot_update_in_place(layout):
    rng = np.random.default_rng(4)
    param, grad = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    buf = rng.standard_normal((4, 6))
    if layout == "strided buffer":
        buf = rng.standard_normal((4, 12))[:, ::2]
    elif layout == "fortran parameter":
        param = np.asfortranarray(param)
    elif layout == "buffer is the gradient":  # aliases: C refuses them before writing anything
        buf = grad
    else:
        grad = grad.astype(np.float32)
    expected = _copies([param, buf])
    _numpy.sgd_step(expected[0], grad.copy(), expected[1], 0.1, 0.9, 0.0, 0.01, True, False, False)
    _c.sgd_step(param, grad, buf, 0.1, 0.9, 0.0, 0.01, True, False, False)
    np.testing.assert_array_equal(param, expected[0])
    if layout != "buffer is the gradient":
        np.testing.assert_array_equal(buf, expected[1])


def test_raw_sgd_rejects_null_negative_sizes_and_overlap():
    x = np.zeros(8, np.float32)
    fb = _c.ffi.from_buffer
    p, g, b = (fb("float[]", x[i:i + 2], require_writable=True) for i in (0, 2, 4))
    shifted = fb("float[]", x[1:], require_writable=True)
    null = _c.ffi.NULL
    args = (0.1, 0.9, 0.0, 0.0, 0, 0, 0)
    assert lib.ag_sgd_f32(null, g, b, 2, *args) == lib.AG_ERR_NULL
    assert lib.ag_sgd_f32(p, null, b, 2, *args) == lib.AG_ERR_NULL
    assert lib.ag_sgd_f32(p, g, b, -1, *args) == lib.AG_ERR_SIZE
    assert lib.ag_sgd_f32(null, null, null, 0, *args) == lib.AG_OK
    assert lib.ag_sgd_f32(p, g, b, 2, *args) == lib.AG_OK
    assert lib.ag_sgd_f32(p, g, null, 2, *args) == lib.AG_OK  # no momentum: no buffer
    assert lib.ag_sgd_f32(shifted, g, b, 2, *args) == lib.AG_ERR_OVERLAP
    assert lib.ag_sgd_f32(p, p, b, 2, *args) == lib.AG_ERR_OVERLAP
