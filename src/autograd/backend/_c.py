"""The compiled backend: `autograd._kernels` (csrc/, cffi API mode) behind the names of `_numpy`.

Every function here has the signature and the semantics of its namesake in `_numpy.py`, which
stays the oracle. The C kernels take contiguous float32/float64 buffers; everything else goes to
the reference explicitly:

* numpy scalars and 0-d arrays, dtypes other than float32/float64 (ints, float16, big-endian),
  mixed dtypes (float64 gradient, float32 output): the numpy reference;
* fewer elements than `MIN_SIZE[kernel]`: the numpy reference, which is faster there (cffi's
  per-call cost, ~1 us, exceeds the work; measured with `python -m autograd.backend._c`);
* non-contiguous arrays (slices with a step, transposes): copied to C order first.

Importing this module raises ImportError when the extension is not built; `backend/__init__`
then falls back to `_numpy`. AUTOGRAD_ISA=avx512|avx2|portable caps the instruction set.
"""
import functools
import math
import os
import sys
import weakref

import numpy as np

from .. import _kernels  # ImportError propagates: the caller falls back to the numpy backend
from ..errors import AutogradError, ShapeError
from . import _numpy

ffi, lib = _kernels.ffi, _kernels.lib
# cffi array types made once: from_buffer given a type string looks it up on every call.
_FLOATS, _DOUBLES = ffi.typeof("float[]"), ffi.typeof("double[]")
# Bound once for the per-call paths below (the wrappers, matmul, linear).
_ndarray, _empty, _empty_like, _from_buffer = np.ndarray, np.empty, np.empty_like, ffi.from_buffer

NAME = "c"

ISA_LEVELS = {"portable": lib.AG_ISA_PORTABLE, "avx2": lib.AG_ISA_AVX2, "avx512": lib.AG_ISA_AVX512}
ISA_NAMES = {level: name for name, level in ISA_LEVELS.items()}
_STATUS = {lib.AG_ERR_NULL: "a required pointer is NULL", lib.AG_ERR_SIZE: "invalid element count",
           lib.AG_ERR_ARG: "invalid argument", lib.AG_ERR_OVERLAP: "output partially overlaps an input"}


class KernelError(AutogradError, ValueError):
    """A C kernel rejected its arguments (a status code other than AG_OK)."""


def _ensure(status: int, kernel: str, *arrays) -> None:
    """Turn a C status code into an exception that names the kernel and the operands: MemoryError
    when a scratch buffer could not be allocated, KernelError for the rest."""
    if status != lib.AG_OK:
        shapes = ", ".join(f"{tuple(a.shape)} {a.dtype}" for a in arrays)
        if status == lib.AG_ERR_NOMEM:
            raise MemoryError(f"{kernel}: its scratch buffers could not be allocated (status "
                              f"{status}) for operands {shapes}")
        what = _STATUS.get(status, "unknown status")
        raise KernelError(f"{kernel}: {what} (status {status}) for operands {shapes}")


def _set_isa_cap(value):
    """Cap the instruction set at "avx512", "avx2" or "portable" (None: no cap); returns the level
    in use. An unknown name raises ValueError rather than silently running something else."""
    if value is None:
        return lib.ag_set_isa_cap(lib.AG_ISA_AVX512)
    if value not in ISA_LEVELS:
        raise ValueError(f"AUTOGRAD_ISA={value!r}: expected one of {', '.join(ISA_LEVELS)}")
    return lib.ag_set_isa_cap(ISA_LEVELS[value])


_SIMD_CAP = os.environ.get("AUTOGRAD_ISA") or None
_set_isa_cap(_SIMD_CAP)

# glibc's malloc would hand the memory of each training step's temporaries back to the kernel
# and page-fault it in again next step (csrc/cpu.c, ag_keep_freed_memory): keep up to 256 MiB
# of freed heap in the process instead. AUTOGRAD_KEEP_FREED_MEMORY=0 leaves malloc alone.
KEEP_FREED_BYTES, MMAP_ABOVE_BYTES = 256 << 20, 32 << 20
_KEEP_FREED = os.environ.get("AUTOGRAD_KEEP_FREED_MEMORY", "1") != "0"
_KEEPS_FREED_MEMORY = (_KEEP_FREED
                       and lib.ag_keep_freed_memory(KEEP_FREED_BYTES, MMAP_ABOVE_BYTES) == lib.AG_OK)

# An array of MMAP_ABOVE_BYTES or more is a mapping of its own, made by np.empty and unmapped
# when freed: every new one page-faults all its memory in again, zeroed by the kernel, as it is
# first written. tanh over 10^7 float32 took 4.0 ms on one thread into a new output and 1.6 ms
# into a reused one; on two threads 2.7 and 1.2 ms, and every ~2 s one call 7-40 ms (two threads
# faulting at once on this virtual machine). So such outputs are made over blocks kept for reuse:
# when the last array over a block is gone, the block is kept (up to KEEP_FREED_BYTES of them)
# and the next output of its size takes it. The array's base is a cffi buffer over the block;
# a weak reference to that buffer both marks it as a block's (owns_memory) and, when no array
# refers to it any more (views refer to the array), hands the block back.
_BLOCK_ROUNDING = 2 << 20  # block sizes in whole huge pages, so that near sizes share blocks
_OUTPUT_BLOCK_MIN = MMAP_ABOVE_BYTES // 8  # elements: fewer, and no float array needs _output
_free_blocks: dict = {}    # block size -> blocks (uint8 arrays) no array uses
_block_buffers: dict = {}  # id -> weak reference, for the buffer of each block in use


def kept_bytes() -> int:
    """Bytes of the blocks kept for large outputs (see _output) that no array uses."""
    return sum(size * len(blocks) for size, blocks in _free_blocks.copy().items())


def empty_cache() -> None:
    """Let go of the blocks kept for large outputs: their memory goes back to the system."""
    _free_blocks.clear()


def _keep_block(key, block, free_blocks=_free_blocks) -> None:
    """The last array over `block` is gone (its buffer's weak reference calls this, on whichever
    thread dropped it): forget the buffer and keep the block within the budget, else let it go.
    No lock: dict and list operations are atomic, and two releases racing can overshoot the
    budget by a block at most."""
    _block_buffers.pop(key, None)
    if kept_bytes() + block.size <= KEEP_FREED_BYTES:
        free_blocks.setdefault(block.size, []).append(block)


def _output(shape: tuple, dtype) -> np.ndarray:
    """np.empty(shape, dtype), in C order; from MMAP_ABOVE_BYTES over a block kept for reuse,
    64-byte aligned (AUTOGRAD_KEEP_FREED_MEMORY=0: always np.empty)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MMAP_ABOVE_BYTES or not _KEEP_FREED:
        return np.empty(shape, dtype)
    size = -(-(nbytes + 64) // _BLOCK_ROUNDING) * _BLOCK_ROUNDING
    try:
        block = _free_blocks[size].pop()
    except (KeyError, IndexError):
        block = np.empty(size, np.uint8)
    data = _from_buffer("char[]", block, True)
    buffer = ffi.buffer(data, size)
    key = id(buffer)
    _block_buffers[key] = weakref.ref(buffer,
                                      lambda _, key=key, block=block: _keep_block(key, block))
    return np.ndarray(shape, dtype, buffer, -int(ffi.cast("uintptr_t", data)) % 64)


def _output_like(a: np.ndarray) -> np.ndarray:
    """_output(a.shape, a.dtype) for a C-ordered `a`, with np.empty_like's speed below the
    threshold (per-call paths: _output's size arithmetic costs ~0.2 us)."""
    return _empty_like(a) if a.nbytes < MMAP_ABOVE_BYTES else _output(a.shape, a.dtype)


def owns_memory(a: np.ndarray) -> bool:
    """Whether nothing but `a` (and views of it) refers to its memory: numpy allocated it for
    `a`, or it is an _output block whose buffer only `a` holds."""
    base = a.base
    if base is None:
        return True
    ref = _block_buffers.get(id(base))
    return ref is not None and ref() is base and sys.getrefcount(base) <= 3  # a, base, the call's


# ------------------------------------------------------------------ elementwise kernels

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
# An output buffer is ffi.from_buffer(ctype, out, True): require_writable passed by position,
# as the keyword costs cffi ~0.14 us more per call (0.26 against 0.12 us).

# Below these many elements (float32, float64) the numpy reference is at least as fast as cffi
# plus C: cffi's per-call cost (~1 us: two from_buffer, empty_like, the call) exceeds the work.
# Each is the smallest power of two from which C is faster (1.05-1.15x there; medians of
# interleaved runs on the 2-core Zen 5 host, one thread, sizes 2^4..2^20);
# `python -m autograd.backend._c [threads]` prints the numpy/C time ratios they come from.
# numpy's float32 tanh is vectorised (SVML) and about as fast per element as ours (0.164 against
# 0.153 ns in L2), so on one thread C wins only where the call's cost is spread over enough
# elements (numpy/C 0.99 at 2^16, 1.01-1.02 at 2^17, 1.06-1.07 at 2^18-2^20); on two or more
# threads ours runs on every core and wins from 2^14 elements (see tanh below).
MIN_SIZE = {
    "relu": (2048, 2048),
    "sigmoid": (0, 0),  # numpy needs five passes for the two-branch formula: C wins at any size
    "tanh": (1 << 17, 4096),
    "relu_backward": (2048, 2048),
    "sigmoid_backward": (2048, 1024),
    "tanh_backward": (2048, 1024),
}


def _table(kernel, thresholds=True):
    """{dtype: (C function, cffi array type, smallest size sent to C)} for one kernel."""
    f32, f64 = (MIN_SIZE.get(kernel) or MIN_SIZE_PARAMS[kernel]) if thresholds else (1, 1)
    return {_F32: (getattr(lib, f"ag_{kernel}_f32"), _FLOATS, f32),
            _F64: (getattr(lib, f"ag_{kernel}_f64"), _DOUBLES, f64)}


def _unary(kernel, reference, thresholds=True, in_place=False):
    """The C kernel behind one name; in_place: into x itself, an array no one else holds (then
    a non-contiguous x goes to the reference, which must work in place too)."""
    table = _table(kernel, thresholds)
    def run(x, *params):
        entry = table.get(x.dtype) if type(x) is _ndarray else None
        if (entry is None or x.size < entry[2] or x.ndim == 0
                or (in_place and not x.flags.c_contiguous)):
            return reference(x, *params)
        fn, ctype, _ = entry
        if in_place:
            out = x
            px = pout = _from_buffer(ctype, x, True)  # the kernels allow out to be x exactly
        else:
            if not x.flags.c_contiguous:
                x = np.ascontiguousarray(x)
            out = _output_like(x)
            px, pout = _from_buffer(ctype, x), _from_buffer(ctype, out, True)
        status = fn(px, pout, x.size, *map(float, params))
        if status:
            _ensure(status, kernel, x)
        return out

    run.__name__ = run.__qualname__ = kernel
    run.__doc__ = f"{kernel}(x, ...) in C; same semantics as autograd.backend._numpy.{kernel}."
    return run


def _binary(kernel, reference, thresholds=True):
    table = _table(kernel, thresholds)
    def run(g, y, *params):
        if type(g) is not _ndarray or type(y) is not _ndarray:
            return reference(g, y, *params)
        if g.shape != y.shape:
            raise ShapeError(f"{kernel}: the gradient and the saved array must have the same "
                             f"shape, got {g.shape} {g.dtype} and {y.shape} {y.dtype}")
        entry = table.get(g.dtype)
        if entry is None or y.dtype != g.dtype or g.size < entry[2] or g.ndim == 0:
            return reference(g, y, *params)
        fn, ctype, _ = entry
        if not g.flags.c_contiguous:
            g = np.ascontiguousarray(g)
        if not y.flags.c_contiguous:
            y = np.ascontiguousarray(y)
        out = _output_like(g)
        status = fn(_from_buffer(ctype, g), _from_buffer(ctype, y),
                    _from_buffer(ctype, out, True), g.size, *map(float, params))
        if status:
            _ensure(status, kernel, g, y)
        return out

    run.__name__ = run.__qualname__ = kernel
    run.__doc__ = f"{kernel}(g, y, ...) in C; same semantics as autograd.backend._numpy.{kernel}."
    return run


relu = _unary("relu", _numpy.relu)
sigmoid = _unary("sigmoid", _numpy.sigmoid)
_tanh, _tanh_any_size = _unary("tanh", _numpy.tanh), _unary("tanh", _numpy.tanh, thresholds=False)
# From here, with 2 threads, our kernel beats numpy's tanh on float32: numpy/C time 0.88 at
# 2^13, 1.16 at 2^14, 1.45-1.90 at 2^15-2^17, 2.05-2.08 at 2^18-2^20 (interleaved medians; the
# tanh float32 row of `python -m autograd.backend._c 2` prints the same crossover).
TANH_F32_THREADED_MIN = 1 << 14


def tanh(x):
    """tanh in C (float32: from MIN_SIZE["tanh"][0] elements on one thread, from
    TANH_F32_THREADED_MIN on two or more); as _numpy.tanh."""
    if (type(x) is np.ndarray and x.dtype == _F32 and x.size >= TANH_F32_THREADED_MIN
            and lib.ag_get_num_threads() > 1):
        return _tanh_any_size(x)
    return _tanh(x)
relu_backward = _binary("relu_backward", _numpy.relu_backward)
sigmoid_backward = _binary("sigmoid_backward", _numpy.sigmoid_backward)
tanh_backward = _binary("tanh_backward", _numpy.tanh_backward)


# ------------------------------------------------------------------ GEMM: matmul and linear

_GEMM = {_F32: (lib.ag_sgemm, "float *", _FLOATS, "ag_sgemm"),
         _F64: (lib.ag_dgemm, "double *", _DOUBLES, "ag_dgemm")}
_GEMM_BATCHED = {_F32: lib.ag_sgemm_batched, _F64: lib.ag_dgemm_batched}
_GEMM_BIAS = {_F32: lib.ag_sgemm_bias, _F64: lib.ag_dgemm_bias}
# matmul's call: its leading dimensions implied, five arguments fewer through cffi
_MATMUL = {_F32: (lib.ag_smatmul, _FLOATS, "ag_smatmul"), _F64: (lib.ag_dmatmul, _DOUBLES, "ag_dmatmul")}

# Below this many multiply-adds (m n k) per product numpy's matmul goes first. One thread,
# numpy is faster on small products (OpenBLAS has unpacked small-matrix kernels; our wrapper
# costs ~4 us more, cffi and layout): numpy/C time 0.4 at 32^3, 0.5-0.65 at 64^3-112^3, ~1 from
# 128^3 (`OPENBLAS_NUM_THREADS=1 python benchmarks/bench_gemm.py --crossover`). But from 64^3 on
# OpenBLAS runs products on its own thread pool, whose threads then spin while ours want
# the same two cores: a CNN step at batch 32, whose Linear(576, 64) products fell under 128^3,
# took 130 ms instead of 27 ms. So numpy gets only the products it runs on one thread
# (m n k < 64^3, OpenBLAS's own threading threshold), where the gap is microseconds.
MATMUL_MIN_MNK = 64 * 64 * 64


def _small(m, n, k):
    """True when the product goes to numpy's matmul (see MATMUL_MIN_MNK)."""
    return m * n * k < MATMUL_MIN_MNK


def _layout(rows, cols, rs, cs, es):
    """(trans, ld) when a rows x cols matrix with byte strides rs, cs is a row-major matrix
    (trans 0) or the transpose of one (trans 1) with a leading dimension the kernel accepts;
    None otherwise. The stride of an axis of length 1 is never used, so it is not looked at."""
    if rows <= 1:
        rs = max(cols, 1) * es
    if cols <= 1:
        cs = es if rs != es else max(rows, 1) * es
    if cs == es and rs > 0 and rs % es == 0 and rs >= cols * es:
        return 0, max(rs // es, 1)
    if rs == es and cs > 0 and cs % es == 0 and cs >= rows * es:
        return 1, max(cs // es, 1)
    return None


def _operand(x, ptype, ctype):
    """(x or a C-ordered copy, trans, ld, pointer) for the last two axes of x: read in place when
    they are a row-major matrix or the transpose of one, copied otherwise. C- and F-ordered
    arrays (the common cases) are recognised from their flags alone."""
    if x.flags.c_contiguous:
        return x, 0, max(x.shape[-1], 1), ffi.from_buffer(ctype, x)
    if x.ndim == 2 and x.flags.f_contiguous:
        return x, 1, max(x.shape[0], 1), ffi.from_buffer(ctype, x.T)
    layout = _layout(*x.shape[-2:], *x.strides[-2:], x.itemsize)
    if layout is None:
        x = np.ascontiguousarray(x)
        return x, 0, max(x.shape[-1], 1), ffi.from_buffer(ctype, x)
    return x, layout[0], layout[1], ffi.cast(ptype, x.__array_interface__["data"][0])


def _matrix(x):
    """x (or its copy) and (trans, ld) of its last two axes, as _operand decides (for tests)."""
    x, trans, ld, _ = _operand(x, "float *", _FLOATS)
    return x, (trans, ld)


def _gemm(a, b, out, beta, batch=(), bias=None):
    """out[i] = a[i] @ b[i] + beta * out[i] for every batch index i; out is C-contiguous with
    shape batch + (m, n), a and b broadcast to batch + (m, k) and batch + (k, n). With a bias
    (C-contiguous, (n,); no batch, beta 0): out = a @ b + bias, added in the same pass."""
    fn, ptype, ctype, kernel = _GEMM[out.dtype]
    # The batched kernel takes non-negative batch strides: a reversed batch axis is copied.
    if batch and any(s < 0 for s in a.strides[:-2]):
        a = np.ascontiguousarray(a)
    if batch and any(s < 0 for s in b.strides[:-2]):
        b = np.ascontiguousarray(b)
    a, ta, lda, pa = _operand(a, ptype, ctype)
    b, tb, ldb, pb = _operand(b, ptype, ctype)
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    pc = ffi.from_buffer(ctype, out, True)
    if bias is not None:
        status = _GEMM_BIAS[out.dtype](ta, tb, m, n, k, 1.0, pa, lda, pb, ldb,
                                       ffi.from_buffer(ctype, bias), pc, max(n, 1))
        if status:
            _ensure(status, kernel + "_bias", a, b, bias, out)
        return
    if not batch:
        status = fn(ta, tb, m, n, k, 1.0, pa, lda, pb, ldb, beta, pc, max(n, 1))
        if status:
            _ensure(status, kernel, a, b, out)
        return
    # One batched call per index of the leading batch axes, over the last one.
    batched = _GEMM_BATCHED[out.dtype]
    es = out.itemsize
    sa = np.broadcast_to(a, batch + a.shape[-2:]).strides[:-2]
    sb = np.broadcast_to(b, batch + b.shape[-2:]).strides[:-2]
    inner = batch[-1]
    for i, index in enumerate(np.ndindex(*batch[:-1])):
        oa = sum(j * s for j, s in zip(index, sa)) // es
        ob = sum(j * s for j, s in zip(index, sb)) // es
        status = batched(inner, ta, tb, m, n, k, 1.0, pa + oa, lda, sa[-1] // es, pb + ob, ldb,
                         sb[-1] // es, beta, pc + i * inner * m * n, max(n, 1), m * n)
        if status:
            _ensure(status, kernel + "_batched", a, b, out)


def gemm(trans_a: int, trans_b: int, m: int, n: int, k: int, alpha: float, a, lda: int, b,
         ldb: int, beta: float, c, ldc: int, bias=None) -> None:
    """The raw BLAS-style call, c = alpha op(a) op(b) + beta c in place, for tests and tuning:
    a, b, c are C-contiguous storage arrays of one float dtype, addressed by the leading
    dimensions exactly as in ag_sgemm/ag_dgemm. The kernel validates every size; a rejected call
    raises KernelError naming the kernel. The storage must hold what the sizes address. With a
    bias (n elements), c = alpha op(a) op(b) + bias in every row (ag_sgemm_bias; beta unused)."""
    fn, _, ctype, kernel = _GEMM[c.dtype]
    operands = (a, b, c) if bias is None else (a, b, c, bias)
    if bias is not None:
        kernel += "_bias"
    for x in operands:
        if type(x) is not np.ndarray or x.dtype != c.dtype or not x.flags.c_contiguous:
            raise KernelError(f"{kernel}: operands must be C-contiguous arrays of one dtype, got "
                              + ", ".join(f"{np.shape(x)} {getattr(x, 'dtype', type(x))}"
                                          for x in operands))
    if bias is not None and bias.size < n:
        raise KernelError(f"{kernel}: the bias holds {bias.size} elements, fewer than n = {n}")
    ra, ca = (k, m) if trans_a else (m, k)
    rb, cb = (n, k) if trans_b else (k, n)
    for name, x, rows, cols, ld in (("a", a, ra, ca, lda), ("b", b, rb, cb, ldb), ("c", c, m, n, ldc)):
        if min(rows, cols) > 0 and ld >= cols >= 0 and x.size < (rows - 1) * ld + cols:
            raise KernelError(f"{kernel}: {name} holds {x.size} elements, fewer than the "
                              f"{rows} x {cols} matrix with leading dimension {ld} addresses")
    pa, pb, pc = ffi.from_buffer(ctype, a), ffi.from_buffer(ctype, b), ffi.from_buffer(ctype, c, True)
    if bias is None:
        status = fn(trans_a, trans_b, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc)
    else:
        status = _GEMM_BIAS[c.dtype](trans_a, trans_b, m, n, k, alpha, pa, lda, pb, ldb,
                                     ffi.from_buffer(ctype, bias), pc, ldc)
    if status:
        _ensure(status, f"{kernel}(trans_a={trans_a}, trans_b={trans_b}, m={m}, n={n}, k={k}, "
                        f"lda={lda}, ldb={ldb}, ldc={ldc})", *operands)


def _gemm_ready(*arrays):
    """True when the C GEMM takes these operands: ndarrays of one float32/float64 dtype."""
    dtype = arrays[0].dtype if type(arrays[0]) is np.ndarray else None
    return dtype in _GEMM and all(type(x) is np.ndarray and x.dtype == dtype for x in arrays)


def matmul(a, b):
    """Batched matrix product with numpy's semantics (np.matmul). Float32/float64 operands with
    at least two dimensions go to the C GEMM, transposed views and row slices in place; 1-d
    operands, other dtypes and products below MATMUL_MIN_MNK go to the numpy reference."""
    if type(a) is _ndarray and type(b) is _ndarray and a.ndim == 2 and b.ndim == 2:
        dtype = a.dtype  # the common case first, with as few Python operations as it takes
        if dtype is b.dtype and (dtype is _F32 or dtype is _F64):
            m, k = a.shape
            k_b, n = b.shape
            if k != k_b or (m * n * k < MATMUL_MIN_MNK and _small(m, n, k)):
                return _numpy.matmul(a, b)
            # Each operand one row-major block (C order) or the transpose of one (Fortran
            # order: a transposed view such as g.T); other strides go through _operand.
            fa, fb = a.flags, b.flags
            ta, tb = not fa.c_contiguous, not fb.c_contiguous
            out = _empty((m, n), dtype) if m * n < _OUTPUT_BLOCK_MIN else _output((m, n), dtype)
            if (ta and not fa.f_contiguous) or (tb and not fb.f_contiguous):
                _gemm(a, b, out, 0.0)
                return out
            fn, ctype, kernel = _MATMUL[dtype]
            status = fn(ta, tb, m, n, k, _from_buffer(ctype, a.T if ta else a),
                        _from_buffer(ctype, b.T if tb else b), _from_buffer(ctype, out, True))
            if status:
                _ensure(status, kernel, a, b, out)
            return out
    if not _gemm_ready(a, b) or a.ndim < 2 or b.ndim < 2:
        return _numpy.matmul(a, b)
    (m, k), (k2, n) = a.shape[-2:], b.shape[-2:]
    if k != k2:
        return _numpy.matmul(a, b)  # numpy's error names the mismatched dimensions
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        return _numpy.matmul(a, b)
    # Small products stay with numpy, unless there are enough of them to give every thread its
    # own (the batched kernel's one-product-per-thread mode; numpy runs them one after another).
    if _small(m, n, k) and not lib.ag_gemm_batch_per_thread(batch[-1] if batch else 1):
        return _numpy.matmul(a, b)
    out = _output(batch + (m, n), a.dtype)
    if batch and b.ndim == 2 and a.flags.c_contiguous:  # one product with the batch folded into m
        _gemm(a.reshape(-1, k), b, out.reshape(-1, n), 0.0)
    else:
        _gemm(a, b, out, 0.0, batch)
    return out


def linear(x, w, b=None):
    """x @ w.T + b (same semantics as autograd.backend._numpy.linear) as one GEMM: w is read
    transposed in place and b, when given, is added as each tile of the output is first stored
    (ag_sgemm_bias: no pass over the output to prefill it)."""
    if type(x) is _ndarray and type(w) is _ndarray and x.ndim == 2 and w.ndim == 2:
        dtype = x.dtype  # the common case (a layer's 2-d input and weight) without _gemm's checks
        m, k = x.shape
        n = w.shape[0]
        if (dtype is w.dtype and (dtype is _F32 or dtype is _F64) and k == w.shape[1]
                and (b is None or (type(b) is _ndarray and b.dtype is dtype and b.shape == (n,)
                                   and b.flags.c_contiguous))):
            if _small(m, n, k):
                return _numpy.linear(x, w, b)
            if x.flags.c_contiguous and w.flags.c_contiguous:
                fn, _, ctype, kernel = _GEMM[dtype]
                out = _empty((m, n), dtype) if m * n < _OUTPUT_BLOCK_MIN else _output((m, n), dtype)
                px, pw = _from_buffer(ctype, x), _from_buffer(ctype, w)
                pout = _from_buffer(ctype, out, True)
                if b is None:
                    status = fn(0, 1, m, n, k, 1.0, px, k or 1, pw, k or 1, 0.0, pout, n or 1)
                else:
                    status = _GEMM_BIAS[dtype](0, 1, m, n, k, 1.0, px, k or 1, pw, k or 1,
                                               _from_buffer(ctype, b), pout, n or 1)
                if status:
                    _ensure(status, kernel, x, w, out)
                return out
    arrays = (x, w) if b is None else (x, w, b)
    if not _gemm_ready(*arrays) or x.ndim < 1 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
        return _numpy.linear(x, w, b)
    n, k = w.shape
    if b is not None and b.shape != (n,):
        return _numpy.linear(x, w, b)
    x2 = x.reshape(-1, k)
    if _small(x2.shape[0], n, k):
        return _numpy.linear(x, w, b)
    out = _output((x2.shape[0], n), x.dtype)
    _gemm(x2, w.T, out, 0.0, bias=None if b is None else np.ascontiguousarray(b))
    return out.reshape(x.shape[:-1] + (n,))


_relu_fresh = _unary("relu", _numpy._relu_fresh, in_place=True)


def linear_relu(x, w, b=None):
    """relu(linear(x, w, b)) (as _numpy.linear_relu): the relu runs in place on the GEMM's fresh
    output while it is in cache, with no second array."""
    return _relu_fresh(linear(x, w, b))


# ------------------------------------------------------------------ settings


def info() -> dict:
    return {
        "backend": NAME,
        "isa": ISA_NAMES.get(lib.ag_isa(), str(lib.ag_isa())),
        "isa_detected": ISA_NAMES.get(lib.ag_isa_detected(), str(lib.ag_isa_detected())),
        "threads": lib.ag_get_num_threads(),
        "build": ffi.string(lib.ag_build_info()).decode(),
        "simd_cap": _SIMD_CAP,
        "malloc": (f"keeps up to {KEEP_FREED_BYTES >> 20} MiB freed" if _KEEPS_FREED_MEMORY
                   else "default"),
        "kept_output_bytes": kept_bytes(),
    }


def set_num_threads(n: int) -> None:
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: need at least one thread, got {n}")
    if lib.ag_set_num_threads(n) != lib.AG_OK:
        raise ValueError(f"set_num_threads: at most 1024 threads, got {n}")


def get_num_threads() -> int:
    return lib.ag_get_num_threads()


def _crossover_table(threads: int = 1, repeat: int = 15) -> None:
    """Print numpy time / C time per kernel, dtype and size (> 1: C is faster)."""
    import statistics
    import time

    def once(fn, args, number):
        start = time.perf_counter()
        for _ in range(number):
            fn(*args)
        return (time.perf_counter() - start) / number

    set_num_threads(threads)
    rng = np.random.default_rng(0)
    for kernel in MIN_SIZE:
        for dtype in (_F32, _F64):
            ratios = []
            for k in range(4, 21):
                x = (rng.standard_normal(1 << k) * 3).astype(dtype)
                args = (x, np.tanh(x)) if kernel.endswith("_backward") else (x,)
                make = _unary if len(args) == 1 else _binary
                ours = make(kernel, None, thresholds=False)
                number = max(3, 50000 >> k)
                c, r = [], []
                for _ in range(repeat):  # interleaved, so load changes hit both alike
                    c.append(once(ours, args, number))
                    r.append(once(getattr(_numpy, kernel), args, number))
                ratios.append(f"2^{k}:{statistics.median(r) / statistics.median(c):.2f}")
            print(f"{kernel:17} {dtype.name:8} " + " ".join(ratios), flush=True)


if __name__ == "__main__":
    import sys

    _crossover_table(int(sys.argv[1]) if len(sys.argv) > 1 else 1)


# ------------------------------------------------------------------ convolution and pooling
# The C kernels take contiguous NCHW float32/float64 buffers and the full geometry, output size
# included, which they check against the window sizes; the shapes of every buffer passed are
# checked here, so C never indexes past one. Other dtypes and empty arrays go to the reference.

_CONV_CTYPES = {_F32: _FLOATS, _F64: _DOUBLES}


def _conv_fn(kernel, dtype):
    suffix = "f32" if dtype == _F32 else "f64"
    return getattr(lib, f"ag_{kernel}_{suffix}")


def _conv_geometry(kernel, x_shape, kernel_size, stride, padding):
    """(n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow) as Python ints, for the C call."""
    if len(x_shape) != 4:
        raise ShapeError(f"{kernel}: expected an NCHW shape, got {tuple(x_shape)}")
    n, c, h, w = (int(v) for v in x_shape)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = _numpy._out_size(h, kh, sh, ph), _numpy._out_size(w, kw, sw, pw)
    return n, c, h, w, int(kh), int(kw), int(sh), int(sw), int(ph), int(pw), oh, ow


def _c_ok(*arrays):
    """All arrays numpy, non-empty, of one float dtype the kernels have."""
    first = arrays[0]
    return (all(type(a) is np.ndarray and a.dtype == first.dtype and a.size for a in arrays)
            and first.dtype in _CONV_CTYPES)


def _expect_shape(kernel, name, array, shape):
    if tuple(array.shape) != tuple(shape):
        raise ShapeError(f"{kernel}: {name} must have shape {tuple(shape)}, got "
                         f"{tuple(array.shape)} {array.dtype}")


def _call_conv(kernel, geometry, *arrays):
    """Call ag_<kernel>_<dtype> on buffers (the float ones as the first array's ctype)."""
    ctype = _CONV_CTYPES[arrays[0].dtype]
    ptrs = [ffi.from_buffer("int64_t[]" if a.dtype == np.int64 else ctype, a,
                            a.flags.writeable) for a in arrays]
    status = _conv_fn(kernel, arrays[0].dtype)(*ptrs, *geometry)
    if status:
        _ensure(status, kernel, *arrays)


def im2col(x, kernel_size, stride, padding, batch_major=False):
    """im2col in C; same semantics as autograd.backend._numpy.im2col."""
    if not _c_ok(x) or x.ndim != 4:
        return _numpy.im2col(x, kernel_size, stride, padding, batch_major)
    geo = _conv_geometry("im2col", x.shape, kernel_size, stride, padding)
    n, c, kh, kw, oh, ow = geo[0], geo[1], geo[4], geo[5], geo[10], geo[11]
    shape = (c * kh * kw, n * oh * ow) if batch_major else (n, c * kh * kw, oh * ow)
    cols = _output(shape, x.dtype)
    _call_conv("im2col_bm" if batch_major else "im2col", geo, np.ascontiguousarray(x), cols)
    return cols


def col2im(cols, x_shape, kernel_size, stride, padding, batch_major=False):
    """col2im in C; same semantics as autograd.backend._numpy.col2im."""
    if not _c_ok(cols) or 0 in tuple(x_shape):
        return _numpy.col2im(cols, x_shape, kernel_size, stride, padding, batch_major)
    geo = _conv_geometry("col2im", x_shape, kernel_size, stride, padding)
    n, c, kh, kw, oh, ow = geo[0], geo[1], geo[4], geo[5], geo[10], geo[11]
    _expect_shape("col2im", "cols", cols,
                  (c * kh * kw, n * oh * ow) if batch_major else (n, c * kh * kw, oh * ow))
    x = _output(tuple(x_shape), cols.dtype)
    _call_conv("col2im_bm" if batch_major else "col2im", geo, np.ascontiguousarray(cols), x)
    return x


def conv2d(x, weight, stride, padding):
    """conv2d in C, image by image (csrc/conv2d.c); same semantics as
    autograd.backend._numpy.conv2d."""
    if not _c_ok(x, weight) or x.ndim != 4 or weight.ndim != 4 or weight.shape[1] != x.shape[1]:
        return _numpy.conv2d(x, weight, stride, padding)
    geo = _conv_geometry("conv2d", x.shape, weight.shape[2:], stride, padding)
    out = _output((geo[0], weight.shape[0], geo[10], geo[11]), x.dtype)
    _call_conv("conv2d", geo + (weight.shape[0],), np.ascontiguousarray(x),
               np.ascontiguousarray(weight), out)
    return out


def conv2d_grad_input(g, weight, x_shape, stride, padding):
    """conv2d's input gradient in C; same semantics as autograd.backend._numpy.conv2d_grad_input."""
    if not _c_ok(g, weight) or weight.ndim != 4 or len(x_shape) != 4 or 0 in tuple(x_shape):
        return _numpy.conv2d_grad_input(g, weight, x_shape, stride, padding)
    geo = _conv_geometry("conv2d_grad_input", x_shape, weight.shape[2:], stride, padding)
    _expect_shape("conv2d_grad_input", "weight", weight, (weight.shape[0], geo[1]) + weight.shape[2:])
    _expect_shape("conv2d_grad_input", "g", g, (geo[0], weight.shape[0], geo[10], geo[11]))
    gx = _output(tuple(x_shape), g.dtype)
    _call_conv("conv2d_grad_input", geo + (weight.shape[0],), np.ascontiguousarray(g),
               np.ascontiguousarray(weight), gx)
    return gx


def conv2d_grad_weight(x, g, kernel_size, stride, padding):
    """conv2d's weight gradient in C, summed in fixed image groups (the same bits for any thread
    count); same semantics as autograd.backend._numpy.conv2d_grad_weight."""
    if not _c_ok(x, g) or x.ndim != 4 or g.ndim != 4:
        return _numpy.conv2d_grad_weight(x, g, kernel_size, stride, padding)
    geo = _conv_geometry("conv2d_grad_weight", x.shape, kernel_size, stride, padding)
    out_c = g.shape[1]
    _expect_shape("conv2d_grad_weight", "g", g, (geo[0], out_c, geo[10], geo[11]))
    gw = _output((out_c, geo[1], geo[4], geo[5]), x.dtype)
    _call_conv("conv2d_grad_weight", geo + (out_c,), np.ascontiguousarray(x),
               np.ascontiguousarray(g), gw)
    return gw


def add_channel_bias(out, bias):
    """add_channel_bias in C, threaded; same semantics as autograd.backend._numpy.add_channel_bias."""
    if (not _c_ok(out, bias) or out.ndim < 2 or bias.shape != out.shape[1:2]
            or not out.flags.c_contiguous or not out.flags.writeable):
        return _numpy.add_channel_bias(out, bias)
    n, c = out.shape[:2]
    _call_channels("add_channel_bias", out, np.ascontiguousarray(bias), n, c, out.size // (n * c))
    return out


_SUM_ROWS = {_F32: (lib.ag_sum_rows_f32, _FLOATS), _F64: (lib.ag_sum_rows_f64, _DOUBLES)}


def channel_sum(g):
    """channel_sum in C, threaded; same semantics as autograd.backend._numpy.channel_sum (which
    takes what is not an array, such as create_graph's Tensors). A linear layer's (n, c) goes to
    reduce.c's row sum, bitwise numpy's g.sum(axis=0) (~1 us sooner on a small batch), unless
    its columns are contiguous (a single one, or Fortran order): numpy sums those pairwise."""
    if type(g) is np.ndarray and g.ndim == 2:  # checked first, with few operations: every step
        entry = _SUM_ROWS.get(g.dtype)
        if entry is None or g.shape[1] == 1 or not g.flags.c_contiguous:
            return _numpy.channel_sum(g)
        fn, ctype = entry
        n, c = g.shape
        out = np.empty(c, g.dtype)
        status = fn(ffi.from_buffer(ctype, g), n, c, ffi.from_buffer(ctype, out, True))
        if status:
            _ensure(status, "channel_sum (rows)", g)
        return out
    if not _c_ok(g) or g.ndim < 2:
        return _numpy.channel_sum(g)
    g = np.ascontiguousarray(g)
    n, c = g.shape[:2]
    out = np.empty(c, g.dtype)
    _call_channels("channel_sum", g, out, n, c, g.size // (n * c))
    return out


_RELU_SUM_ROWS = {_F32: (lib.ag_relu_backward_sum_rows_f32, _FLOATS),
                  _F64: (lib.ag_relu_backward_sum_rows_f64, _DOUBLES)}


def relu_backward_and_sum(g, y):
    """(relu_backward(g, y), its channel_sum) in one pass of reduce.c over 2-d C-ordered arrays
    of one float dtype, bitwise the two kernels; other cases as _numpy.relu_backward_and_sum."""
    if type(g) is np.ndarray and type(y) is np.ndarray and g.ndim == 2:
        if g.shape != y.shape:
            raise ShapeError(f"relu_backward_and_sum: the gradient and the saved array must have "
                             f"the same shape, got {g.shape} {g.dtype} and {y.shape} {y.dtype}")
        entry = _RELU_SUM_ROWS.get(g.dtype)
        if (entry is not None and y.dtype == g.dtype and g.shape[1] > 1 and g.flags.c_contiguous
                and y.flags.c_contiguous):
            fn, ctype = entry
            rows, cols = g.shape
            masked, out = _output_like(g), np.empty(cols, g.dtype)
            status = fn(ffi.from_buffer(ctype, g), ffi.from_buffer(ctype, y),
                        ffi.from_buffer(ctype, masked, True), rows, cols,
                        ffi.from_buffer(ctype, out, True))
            if status:
                _ensure(status, "relu_backward_and_sum", g, y)
            return masked, out
    masked = relu_backward(g, y)  # each half in C where it would be on its own
    return masked, channel_sum(masked)


def _call_channels(kernel, x, y, n, c, hw):
    ctype = _CONV_CTYPES[x.dtype]
    status = _conv_fn(kernel, x.dtype)(ffi.from_buffer(ctype, x, x.flags.writeable),
                                       ffi.from_buffer(ctype, y, y.flags.writeable),
                                       n, c, hw)
    if status:
        _ensure(status, kernel, x, y)


def max_pool2d(x, kernel_size, stride, padding):
    """max_pool2d in C; same semantics as autograd.backend._numpy.max_pool2d."""
    if not _c_ok(x) or x.ndim != 4:
        return _numpy.max_pool2d(x, kernel_size, stride, padding)
    geo = _conv_geometry("max_pool2d", x.shape, kernel_size, stride, padding)
    out_shape = geo[:2] + geo[10:]
    out = _output(out_shape, x.dtype)
    idx = _output(out_shape, np.int64)
    _call_conv("max_pool2d", geo, np.ascontiguousarray(x), out, idx)
    return out, idx


def max_pool2d_backward(g, idx, x_shape, kernel_size, stride, padding):
    """max_pool2d_backward in C; same semantics as autograd.backend._numpy.max_pool2d_backward."""
    if not _c_ok(g) or 0 in tuple(x_shape) or type(idx) is not np.ndarray:
        return _numpy.max_pool2d_backward(g, idx, x_shape, kernel_size, stride, padding)
    geo = _conv_geometry("max_pool2d_backward", x_shape, kernel_size, stride, padding)
    out_shape = geo[:2] + geo[10:]
    _expect_shape("max_pool2d_backward", "the gradient", g, out_shape)
    _expect_shape("max_pool2d_backward", "the indices", idx, out_shape)
    gx = _output(tuple(x_shape), g.dtype)
    _call_conv("max_pool2d_backward", geo, np.ascontiguousarray(g),
               np.ascontiguousarray(idx, dtype=np.int64), gx)
    return gx


def avg_pool2d(x, kernel_size, stride, padding):
    """avg_pool2d in C; same semantics as autograd.backend._numpy.avg_pool2d."""
    if not _c_ok(x) or x.ndim != 4:
        return _numpy.avg_pool2d(x, kernel_size, stride, padding)
    geo = _conv_geometry("avg_pool2d", x.shape, kernel_size, stride, padding)
    out = _output(geo[:2] + geo[10:], x.dtype)
    _call_conv("avg_pool2d", geo, np.ascontiguousarray(x), out)
    return out


def avg_pool2d_backward(g, x_shape, kernel_size, stride, padding):
    """avg_pool2d_backward in C; same semantics as autograd.backend._numpy.avg_pool2d_backward."""
    if not _c_ok(g) or 0 in tuple(x_shape):
        return _numpy.avg_pool2d_backward(g, x_shape, kernel_size, stride, padding)
    geo = _conv_geometry("avg_pool2d_backward", x_shape, kernel_size, stride, padding)
    _expect_shape("avg_pool2d_backward", "the gradient", g, geo[:2] + geo[10:])
    gx = _output(tuple(x_shape), g.dtype)
    _call_conv("avg_pool2d_backward", geo, np.ascontiguousarray(g), gx)
    return gx

# ------------------------------------------------------------------ parametrised activations, losses

# As MIN_SIZE, for the kernels with parameters (kept apart: _crossover_table calls kernels without
# them). Their numpy references need three to eight passes (np.where of both branches), so C won
# at every size measured, 2^4..2^14 (interleaved medians, one thread: 1.5-3x at 16 elements).
MIN_SIZE_PARAMS = {
    "leaky_relu": (0, 0),
    "leaky_relu_backward": (0, 0),
    "elu": (0, 0),
    "elu_backward": (0, 0),
    "softplus": (0, 0),
    "softplus_backward": (0, 0),
}


leaky_relu = _unary("leaky_relu", _numpy.leaky_relu)
elu = _unary("elu", _numpy.elu)
softplus = _unary("softplus", _numpy.softplus)
leaky_relu_backward = _binary("leaky_relu_backward", _numpy.leaky_relu_backward)
elu_backward = _binary("elu_backward", _numpy.elu_backward)
softplus_backward = _binary("softplus_backward", _numpy.softplus_backward)

_CTYPES = {_F32: (_FLOATS, "f32"), _F64: (_DOUBLES, "f64")}


def _floats(x):
    """x's cffi array type and kernel suffix, or None when C does not take x (-> the reference)."""
    return _CTYPES.get(x.dtype) if type(x) is np.ndarray else None


def softmax_cross_entropy(logits, target, reduction="mean", label_smoothing=0.0,
                          ignore_index=-100, with_grad=False):
    """As _numpy.softmax_cross_entropy, in one C pass over the rows (the gradient for an
    upstream 1 in the same pass); an index out of range is found in that pass (KernelError,
    before anything is written; the op then names it)."""
    kind = _floats(logits)
    if kind is None or logits.ndim != 2 or target.dtype.kind not in "iuf":
        return _numpy.softmax_cross_entropy(logits, target, reduction, label_smoothing,
                                            ignore_index, with_grad)
    ctype, suffix = kind
    x = np.ascontiguousarray(logits)
    n, c = x.shape
    labels = target.dtype.kind in "iu"
    t = np.ascontiguousarray(target, dtype=np.int64 if labels else x.dtype)
    if not (n and c):  # no classes or no rows: the reference's conventions (NaN or empty)
        return _numpy.softmax_cross_entropy(logits, target, reduction, label_smoothing,
                                            ignore_index, with_grad)
    loss, stats, summary = np.empty(n, x.dtype), np.empty((n, 2), x.dtype), np.empty(2)
    grad = _output_like(x) if with_grad and reduction != "none" else None
    status = (lib.ag_softmax_xent_f32 if suffix == "f32" else lib.ag_softmax_xent_f64)(
        ffi.from_buffer(ctype, x), n, c,
        ffi.from_buffer("int64_t[]", t) if labels else ffi.NULL,
        ffi.NULL if labels else ffi.from_buffer(ctype, t), float(label_smoothing),
        int(ignore_index), ffi.from_buffer(ctype, loss, True),
        ffi.from_buffer(ctype, stats, True),
        ffi.from_buffer(_DOUBLES, summary, True), reduction == "mean",
        ffi.NULL if grad is None else ffi.from_buffer(ctype, grad, True))
    if status:
        _ensure(status, "softmax_cross_entropy", x, t)
    # The kernel sums the rows and counts the targets (row order, in double): the reductions
    # need no more passes over the rows here.
    total, count = summary.tolist()
    count = int(count)
    saved = (x, t, stats, reduction, label_smoothing, ignore_index, count, grad)
    return _numpy._reduce(loss, reduction, count, total), saved


def softmax_cross_entropy_backward(g, saved):
    x, t, stats, reduction, eps, ignore_index, count, _ = saved
    kind = _floats(x)
    if (kind is None or x.size == 0 or type(stats) is not np.ndarray or stats.dtype != x.dtype
            or not stats.flags.c_contiguous):
        return _numpy.softmax_cross_entropy_backward(g, saved)
    ctype, suffix = kind
    n, c = x.shape
    labels = t.dtype.kind in "iu"
    if reduction == "none":
        scale, stride = np.ascontiguousarray(g, dtype=x.dtype).reshape(n), 1
    else:
        s, dtype = g, x.dtype.type
        if reduction == "mean" and count:  # plain scalars: np.errstate and np.full cost ~2 us
            s = dtype(g) / dtype(count)
        elif reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                s = np.asarray(g, dtype=x.dtype) / dtype(count)
        scale, stride = np.array([s], dtype=x.dtype), 0
    grad = _output_like(x)
    status = getattr(lib, f"ag_softmax_xent_backward_{suffix}")(
        ffi.from_buffer(ctype, x), ffi.from_buffer(ctype, stats), n, c,
        ffi.from_buffer("int64_t[]", t) if labels else ffi.NULL,
        ffi.NULL if labels else ffi.from_buffer(ctype, t), float(eps), int(ignore_index),
        ffi.from_buffer(ctype, scale), stride, ffi.from_buffer(ctype, grad, True))
    if status:
        _ensure(status, "softmax_cross_entropy_backward", x, t)
    return grad


def _pair(kernel, x, target):
    """An elementwise loss kernel on x and target (same shape and dtype), or None to fall back."""
    kind = _floats(x)
    if kind is None or type(target) is not np.ndarray or target.shape != x.shape or x.ndim == 0:
        return None
    ctype, suffix = kind
    x = np.ascontiguousarray(x)
    t = np.ascontiguousarray(target, dtype=x.dtype)
    out = _output_like(x)
    status = getattr(lib, f"ag_{kernel}_{suffix}")(ffi.from_buffer(ctype, x), ffi.from_buffer(ctype, t),
                                                   ffi.from_buffer(ctype, out, True),
                                                   x.size)
    if status:
        _ensure(status, kernel, x, t)
    return out


def bce_with_logits(x, target, reduction="mean"):
    rows = _pair("bce_with_logits", x, target)
    if rows is None:
        return _numpy.bce_with_logits(x, target, reduction)
    return _numpy._reduce(rows, reduction, x.size)


def bce_with_logits_backward(g, x, target, reduction="mean"):
    d = _pair("bce_with_logits_backward", x, target)
    if d is None:
        return _numpy.bce_with_logits_backward(g, x, target, reduction)
    scale = _numpy._elementwise_scale(g, reduction, x)
    return scale * d, -scale * x


def mse(x, target, reduction="mean"):
    rows = _pair("mse", x, target)
    if rows is None:
        return _numpy.mse(x, target, reduction)
    return _numpy._reduce(rows, reduction, x.size)


def mse_backward(g, x, target, reduction="mean"):
    d = _pair("mse_backward", x, target)
    if d is None:
        return _numpy.mse_backward(g, x, target, reduction)
    gx = _numpy._elementwise_scale(g, reduction, x) * d
    return gx, -gx


# ------------------------------------------------------------------ optimizer updates

# addcdiv_, addcmul_ and lerp_ stay numpy's (Adagrad's and RMSprop's steps, not a hot path).
addcdiv_, addcmul_, lerp_ = _numpy.addcdiv_, _numpy.addcmul_, _numpy.lerp_

_ADD_SCALED = {_F32: (lib.ag_add_scaled_f32, _FLOATS), _F64: (lib.ag_add_scaled_f64, _DOUBLES)}


def add_scaled(out, x, alpha: float, y, tmp):
    """out = x + alpha * y in one pass in C, bitwise _numpy.add_scaled (which needs two and tmp).

    Contiguous arrays of one float dtype and shape only; anything else, or out overlapping x or
    y other than exactly, takes the numpy path."""
    dtype, shape = out.dtype, out.shape
    entry = _ADD_SCALED.get(dtype)
    if (entry is None or type(out) is not np.ndarray or type(x) is not np.ndarray or type(y) is not np.ndarray
            or x.dtype != dtype or y.dtype != dtype or x.shape != shape or y.shape != shape):
        return _numpy.add_scaled(out, x, alpha, y, tmp)
    fn, ctype = entry
    try:  # from_buffer takes C-contiguous arrays only (out writable): the flags checks, for free
        cout = ffi.from_buffer(ctype, out, True)
        cx, cy = ffi.from_buffer(ctype, x), ffi.from_buffer(ctype, y)
    except ValueError:
        return _numpy.add_scaled(out, x, alpha, y, tmp)
    status = fn(cout, cx, alpha, cy, out.size)
    if status == lib.AG_ERR_OVERLAP:  # checked before any write
        return _numpy.add_scaled(out, x, alpha, y, tmp)
    _ensure(status, "add_scaled", out, x, y)
    return out

_SGD = {_F32: (lib.ag_sgd_f32, _FLOATS), _F64: (lib.ag_sgd_f64, _DOUBLES)}


def sgd_step(param, grad, buf, lr: float, momentum: float, dampening: float,
             weight_decay: float, nesterov: bool, maximize: bool, first: bool) -> None:
    """One SGD step in place in C (one pass); same semantics as autograd.backend._numpy.sgd_step.

    param and buf must be contiguous, writable arrays of one float dtype and shape (parameters
    and the state made from them are); anything else, or buffers sharing memory, take the numpy
    path, so no update is lost."""
    entry = _SGD.get(param.dtype)
    if (entry is None or type(grad) is not np.ndarray or grad.dtype != param.dtype
            or grad.shape != param.shape
            or (buf is not None and (type(buf) is not np.ndarray or buf.dtype != param.dtype
                                     or buf.shape != param.shape))):
        return _numpy.sgd_step(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov,
                               maximize, first)
    fn, ctype = entry
    try:  # from_buffer takes C-contiguous arrays only (param and buf writable)
        cparam, cgrad = ffi.from_buffer(ctype, param, True), ffi.from_buffer(ctype, grad)
        cbuf = ffi.NULL if buf is None else ffi.from_buffer(ctype, buf, True)
    except ValueError:
        return _numpy.sgd_step(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov,
                               maximize, first)
    status = fn(cparam, cgrad, cbuf, param.size, lr, momentum, dampening, weight_decay,
                bool(nesterov), bool(maximize), bool(first))
    if status == lib.AG_ERR_OVERLAP:  # checked before any write: the numpy order handles aliases
        return _numpy.sgd_step(param, grad, buf, lr, momentum, dampening, weight_decay, nesterov,
                               maximize, first)
    _ensure(status, "sgd_step", param, grad)


_ADAM = {_F32: (lib.ag_adam_f32, _FLOATS), _F64: (lib.ag_adam_f64, _DOUBLES)}


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, avg_weight: float, beta2: float,
              neg_step_size: float, bias_correction2_sqrt: float, eps: float) -> None:
    """One Adam step in place in C (one pass); same semantics as autograd.backend._numpy.adam_step.

    The updated buffers must be contiguous arrays of one float dtype and shape (parameters and
    the state made from them are); anything else takes the numpy path, so no update is lost."""
    state = (param, exp_avg, exp_avg_sq) + (() if max_exp_avg_sq is None else (max_exp_avg_sq,))
    entry = _ADAM.get(param.dtype)
    if (entry is None or type(grad) is not np.ndarray or grad.dtype != param.dtype
            or grad.shape != param.shape
            or any(type(a) is not np.ndarray or a.dtype != param.dtype or a.shape != param.shape
                   or not a.flags.c_contiguous or not a.flags.writeable for a in state)):
        return _numpy.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, avg_weight,
                                beta2, neg_step_size, bias_correction2_sqrt, eps)
    fn, ctype = entry
    grad = np.ascontiguousarray(grad)
    buf = functools.partial(ffi.from_buffer, ctype, require_writable=True)
    status = fn(buf(param), ffi.from_buffer(ctype, grad), buf(exp_avg), buf(exp_avg_sq),
                ffi.NULL if max_exp_avg_sq is None else buf(max_exp_avg_sq), param.size,
                avg_weight, beta2, 1 - beta2, neg_step_size, bias_correction2_sqrt, eps)
    if status == lib.AG_ERR_OVERLAP:  # checked before any write: the numpy order handles aliases
        _numpy.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, avg_weight, beta2,
                         neg_step_size, bias_correction2_sqrt, eps)
    elif status:
        _ensure(status, "adam_step", *state, grad)
