"""The reference backend: the simplest correct numpy code for each kernel, and the test oracle.

Every function takes numpy arrays (or numpy scalars for 0-d values) and returns a new array of
the input's dtype. `autograd.backend._c` has the same names and must agree with these.
"""
import math

import numpy as np

NAME = "numpy"


def relu(x):
    if type(x) is not np.ndarray:  # numpy scalar: operators are ~10x faster than ufuncs here
        return x if x > 0 else x * 0
    return np.maximum(x, 0)


def relu_backward(g, x):
    return g * (x > 0)


def sigmoid(x):
    # Two branches so that exp never overflows: exp(-|x|) is at most 1.
    if type(x) is not np.ndarray:  # numpy scalar: math is faster, and exact to double rounding
        v = float(x)
        e = math.exp(-abs(v))
        return type(x)(1 / (1 + e) if v >= 0 else e / (1 + e))
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return out if out.ndim else out[()]


def sigmoid_backward(g, y):
    return g * y * (1 - y)


def tanh(x):
    if type(x) is not np.ndarray:
        return type(x)(math.tanh(x))
    return np.tanh(x)


def tanh_backward(g, y):
    return g * (1 - y * y)


def matmul(a, b):
    return np.matmul(a, b)


def info() -> dict:
    return {"backend": NAME, "isa": "numpy", "threads": 1, "build": f"numpy {np.__version__}"}


def set_num_threads(n: int) -> None:
    if int(n) < 1:
        raise ValueError(f"set_num_threads: need at least one thread, got {n}")


def get_num_threads() -> int:
    return 1


# ------------------------------------------------------------------ linear (GEMM family)


def linear(x, w, b=None):
    """x @ w.T + b (PyTorch's F.linear): x (..., in), w (out, in), b (out,) or None."""
    out = np.matmul(x, np.swapaxes(w, -1, -2))
    return out if b is None else out + b

# ------------------------------------------------------------------ convolution and pooling
# NCHW arrays; kernel_size, stride and padding are (rows, columns) pairs of ints, already
# validated (ops/conv.py). Output sizes are PyTorch's floor mode. Loops run over the kh * kw
# window offsets only (never over the batch), in the order the C kernels add in.


def _out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _windows(xp, kernel_size, stride, out_hw):
    """(n, c, oh, ow, kh, kw) strided view of the padded input, one window per output."""
    (kh, kw), (sh, sw), (oh, ow) = kernel_size, stride, out_hw
    view = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return view[:, :, ::sh, ::sw][:, :, :oh, :ow]


def _padded(x, padding, value=0.0):
    (ph, pw) = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _geometry(shape, kernel_size, stride, padding):
    n, c, h, w = shape
    return n, c, _out_size(h, kernel_size[0], stride[0], padding[0]), \
        _out_size(w, kernel_size[1], stride[1], padding[1])


def im2col(x, kernel_size, stride, padding):
    """(n, c, h, w) -> cols (n, c * kh * kw, oh * ow); row (ci * kh + i) * kw + j holds input
    (oh * sh - ph + i, ow * sw - pw + j) of channel ci, zero in the padding."""
    n, c, oh, ow = _geometry(x.shape, kernel_size, stride, padding)
    win = _windows(_padded(x, padding), kernel_size, stride, (oh, ow))
    return np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3)).reshape(
        n, c * kernel_size[0] * kernel_size[1], oh * ow)


def _scatter_windows(cols6, x_shape, kernel_size, stride, padding):
    """Sum cols6 (n, c, kh, kw, oh, ow) back onto the (unpadded) input positions."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = cols6.shape[-2:]
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols6.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += cols6[:, :, i, j]
    return np.ascontiguousarray(xp[:, :, ph:ph + h, pw:pw + w])


def col2im(cols, x_shape, kernel_size, stride, padding):
    """The adjoint of im2col: each cols entry added to the input position it was read from."""
    n, c, oh, ow = _geometry(x_shape, kernel_size, stride, padding)
    cols6 = cols.reshape(n, c, kernel_size[0], kernel_size[1], oh, ow)
    return _scatter_windows(cols6, x_shape, kernel_size, stride, padding)


def max_pool2d(x, kernel_size, stride, padding):
    """(out, idx): each window's maximum (first one, or first NaN) and its offset ih * w + iw in
    the input plane (int64). Padding never wins: it is -inf and loses ties to real elements."""
    n, c, oh, ow = _geometry(x.shape, kernel_size, stride, padding)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    win = _windows(_padded(x, padding, -np.inf), kernel_size, stride, (oh, ow))
    win = win.reshape(n, c, oh, ow, kh * kw)
    arg = np.argmax(win, axis=-1)
    out = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    rows = np.arange(oh)[:, None] * sh - ph + arg // kw
    cols = np.arange(ow)[None, :] * sw - pw + arg % kw
    inside = (rows >= 0) & (rows < x.shape[2]) & (cols >= 0) & (cols < x.shape[3])
    if not inside.all():  # an all -inf window whose first -inf is padding: take its first element
        valid = _windows(_padded(np.ones(x.shape[2:], bool)[None, None], padding, False),
                         kernel_size, stride, (oh, ow)).reshape(1, 1, oh, ow, kh * kw)
        first = np.argmax(valid, axis=-1)
        arg = np.where(inside, arg, first)
        rows = np.arange(oh)[:, None] * sh - ph + arg // kw
        cols = np.arange(ow)[None, :] * sw - pw + arg % kw
    return out, (rows * x.shape[3] + cols).astype(np.int64)


def max_pool2d_backward(g, idx, x_shape, kernel_size, stride, padding):
    """Each output gradient added to its window's argmax, in output order (the window geometry
    is not needed here; the C kernel checks it)."""
    n, c, h, w = x_shape
    planes = np.arange(n * c, dtype=np.int64).reshape(n, c, 1, 1) * (h * w)
    flat = (planes + idx).ravel()
    gx = np.zeros(n * c * h * w, dtype=g.dtype)
    np.add.at(gx, flat, g.ravel())
    return gx.reshape(x_shape)


def avg_pool2d(x, kernel_size, stride, padding):
    """Window means, dividing by kh * kw (PyTorch's count_include_pad=True)."""
    n, c, oh, ow = _geometry(x.shape, kernel_size, stride, padding)
    (kh, kw), (sh, sw) = kernel_size, stride
    xp = _padded(x, padding)
    acc = np.zeros((n, c, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            acc += xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    return acc / x.dtype.type(kh * kw)


def avg_pool2d_backward(g, x_shape, kernel_size, stride, padding):
    """g / (kh * kw) spread over each window."""
    kh, kw = kernel_size
    share = g / g.dtype.type(kh * kw)
    cols6 = np.broadcast_to(share[:, :, None, None], g.shape[:2] + (kh, kw) + g.shape[2:])
    return _scatter_windows(cols6, x_shape, kernel_size, stride, padding)
