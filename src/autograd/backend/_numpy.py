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
    if type(x) is not np.ndarray and type(g) is not np.ndarray:  # numpy scalars: a numpy bool
        return g if x > 0 else g * 0  # operand (g * (x > 0)) takes numpy's ~20x slower path
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
    out = np.matmul(x, w.swapaxes(-1, -2))  # the method: np.swapaxes costs ~0.4 us more
    return out if b is None else out + b


def linear_relu(x, w, b=None):
    """relu(linear(x, w, b)), the relu in place on the product's fresh output."""
    return _relu_fresh(linear(x, w, b))


def _relu_fresh(out):
    """relu(out) for an array no one else holds: in place, except for bools (relu of bools is
    numpy's maximum with 0: an int array)."""
    return relu(out) if out.dtype.kind == "b" else np.maximum(out, 0, out=out)

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


def im2col(x, kernel_size, stride, padding, batch_major=False):
    """(n, c, h, w) -> cols (n, c * kh * kw, oh * ow); row (ci * kh + i) * kw + j holds input
    (oh * sh - ph + i, ow * sw - pw + j) of channel ci, zero in the padding. batch_major: the
    same as (c * kh * kw, n * oh * ow), image i's positions in columns i * oh * ow onwards."""
    n, c, oh, ow = _geometry(x.shape, kernel_size, stride, padding)
    win = _windows(_padded(x, padding), kernel_size, stride, (oh, ow))
    k = c * kernel_size[0] * kernel_size[1]
    if batch_major:
        return np.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3)).reshape(k, n * oh * ow)
    return np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3)).reshape(n, k, oh * ow)


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


def col2im(cols, x_shape, kernel_size, stride, padding, batch_major=False):
    """The adjoint of im2col: each cols entry added to the input position it was read from."""
    n, c, oh, ow = _geometry(x_shape, kernel_size, stride, padding)
    kh, kw = kernel_size
    if batch_major:
        cols6 = cols.reshape(c, kh, kw, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)
    else:
        cols6 = cols.reshape(n, c, kh, kw, oh, ow)
    return _scatter_windows(cols6, x_shape, kernel_size, stride, padding)


def conv2d(x, weight, stride, padding):
    """x (n, c, h, w) and weight (out, c, kh, kw) -> (n, out, oh, ow), no bias: the weights as
    (out, c kh kw) times each image's im2col."""
    out_c, kernel_size = weight.shape[0], weight.shape[2:]
    n, _, oh, ow = _geometry(x.shape, kernel_size, stride, padding)
    cols = im2col(x, kernel_size, stride, padding)
    return matmul(weight.reshape(out_c, -1), cols).reshape(n, out_c, oh, ow)


def conv2d_grad_input(g, weight, x_shape, stride, padding):
    """conv2d's input gradient for output gradient g: col2im of weight^T @ each image's g."""
    n, out_c, oh, ow = g.shape
    gcols = matmul(weight.reshape(out_c, -1).T, g.reshape(n, out_c, oh * ow))
    return col2im(gcols, x_shape, weight.shape[2:], stride, padding)


def conv2d_grad_weight(x, g, kernel_size, stride, padding):
    """conv2d's weight gradient (out, c, kh, kw): sum over images of g_i @ im2col(x_i)^T."""
    n, out_c, oh, ow = g.shape
    cols = im2col(x, kernel_size, stride, padding)
    gw = matmul(g.reshape(n, out_c, oh * ow), cols.swapaxes(-1, -2)).sum(axis=0)
    return gw.reshape((out_c, x.shape[1]) + tuple(kernel_size))


def add_channel_bias(out, bias):
    """out (n, c, ...) += bias (c,) along axis 1, in place (out is the caller's own new array);
    returns out."""
    return np.add(out, bias.reshape((-1,) + (1,) * (out.ndim - 2)), out=out)


def channel_sum(g):
    """The gradient of a per-channel bias: g (n, c, ...) summed over every axis but 1 (a linear
    layer's (n, c): over the batch). The batch first: numpy sums a leading axis 2x faster than
    axes (0, 2, 3)."""
    if g.ndim == 2:
        return g.sum(axis=0)
    return g.sum(axis=0).reshape(g.shape[1], math.prod(g.shape[2:])).sum(axis=1)


def relu_backward_and_sum(g, y):
    """(relu_backward(g, y), channel_sum of it) for 2-d g and y: the gradients of a LinearReLU's
    pre-activation and bias."""
    masked = relu_backward(g, y)
    return masked, channel_sum(masked)


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

# ---- parametrised activations and fused losses (PyTorch's semantics; parameters in x's dtype) ----


def _scalar_out(out):
    return out if out.ndim else out[()]


def leaky_relu(x, negative_slope):
    x = np.asarray(x)
    return _scalar_out(np.where(x > 0, x, x * x.dtype.type(negative_slope)))


def leaky_relu_backward(g, x, negative_slope):
    x = np.asarray(x)
    return g * np.where(x > 0, x.dtype.type(1), x.dtype.type(negative_slope))


def elu(x, alpha):
    x = np.asarray(x)
    return _scalar_out(np.where(x > 0, x, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0))))


def elu_backward(g, x, alpha):
    x = np.asarray(x)
    return np.where(x > 0, g, g * (x.dtype.type(alpha) * np.exp(np.minimum(x, 0))))


def softplus(x, beta, threshold):
    # log1p(e^t) / beta as max(t, 0) + log1p(e^-|t|): PyTorch's value, with no overflow
    x = np.asarray(x)
    t = x * x.dtype.type(beta)
    soft = (np.maximum(t, 0) + np.log1p(np.exp(-np.abs(t)))) / x.dtype.type(beta)
    return _scalar_out(np.where(t > x.dtype.type(threshold), x, soft))


def softplus_backward(g, x, beta, threshold):
    x = np.asarray(x)
    t = x * x.dtype.type(beta)
    return np.where(t > x.dtype.type(threshold), g, g * sigmoid(t))


def _reduce(rows, reduction, count, total=None):
    """A loss from its per-row (or per-element) values; "mean" divides by `count`. `total`:
    the rows' sum when the caller has it already (the C cross-entropy kernel adds them up)."""
    if reduction == "none":
        return rows
    dtype = rows.dtype.type
    if total is None:
        total = rows.sum(dtype=rows.dtype)
    if reduction == "sum":
        return dtype(total)
    if count == 0:  # PyTorch: nothing counted gives NaN (tested here, not with np.errstate: ~1 us)
        return dtype(np.nan)
    # In total's precision, then one rounding: a kernel's double total is not rounded twice.
    return dtype(total / count)


def _row_scale(g, reduction, count, n, dtype):
    """The upstream gradient as one factor per row: g itself, or g / count for "mean"."""
    if reduction == "none":
        return np.asarray(g, dtype=dtype).reshape(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.asarray(g, dtype=dtype) / dtype.type(count) if reduction == "mean" else g
    return np.full(n, s, dtype=dtype)


def softmax_cross_entropy(logits, target, reduction="mean", label_smoothing=0.0,
                          ignore_index=-100, with_grad=False):
    """Cross-entropy of softmax(logits) over rows: logits (n, c); target int64 class indices (n,)
    (each in [0, c) or ignore_index, else IndexError) or probabilities (n, c). Returns
    (loss, saved) where saved feeds softmax_cross_entropy_backward: (logits, target,
    stats (n, 2) = each row's max and log-sum-exp after subtracting it, reduction,
    label_smoothing, ignore_index, the count "mean" divides by, and with_grad (reduction "mean"
    or "sum") the gradient for an upstream gradient of 1, else None)."""
    x = np.asarray(logits)
    n, c = x.shape
    if target.dtype.kind in "iu" and ((target != ignore_index) & ((target < 0) | (target >= c))).any():
        raise IndexError(f"softmax_cross_entropy: a class index outside [0, {c}) that is not "
                         f"ignore_index={ignore_index}")  # the op then names it
    eps = label_smoothing
    m = x.max(axis=1, keepdims=True) if x.size else np.zeros((n, 1), x.dtype)
    d = x - m
    big = np.log(np.exp(d).sum(axis=1))
    if target.dtype.kind in "iu":
        keep = target != ignore_index
        dt = np.take_along_axis(d, np.where(keep, target, 0)[:, None], axis=1)[:, 0]
        rows = np.where(keep, big - (1 - eps) * dt - eps / c * d.sum(axis=1), 0).astype(x.dtype)
        count = int(keep.sum())
    else:
        p = target.astype(x.dtype, copy=False)
        total = (1 - eps) * p.sum(axis=1) + eps
        rows = big * total - ((1 - eps) * (p * d).sum(axis=1) + eps / c * d.sum(axis=1))
        count = n
    # (m, L) per row, not m + L: rounded to float32 that sum would cost the softmax its precision
    saved = (x, target, np.stack([m[:, 0], big], axis=1), reduction, eps, ignore_index, count,
             None)
    if with_grad and reduction != "none":
        saved = saved[:-1] + (softmax_cross_entropy_backward(x.dtype.type(1), saved),)
    return _reduce(rows, reduction, count), saved


def softmax_cross_entropy_backward(g, saved):
    """The gradient with respect to the logits: row scale * (softmax - smoothed target)."""
    x, target, stats, reduction, eps, ignore_index, count, _ = saved
    n, c = x.shape
    scale = _row_scale(g, reduction, count, n, x.dtype)
    p = np.exp((x - stats[:, :1]) - stats[:, 1:])
    if target.dtype.kind in "iu":
        keep = target != ignore_index
        onehot = np.arange(c) == np.where(keep, target, -1)[:, None]
        grad = p - (1 - eps) * onehot - eps / c
        # ignored rows get exactly 0, also when nothing counts and the scale is g / 0
        return (grad * np.where(keep, scale, 0)[:, None]).astype(x.dtype, copy=False)
    q = target.astype(x.dtype, copy=False)
    total = (1 - eps) * q.sum(axis=1) + eps
    return (scale[:, None] * (p * total[:, None] - (1 - eps) * q - eps / c)).astype(x.dtype, copy=False)


def bce_with_logits(x, target, reduction="mean"):
    """Binary cross-entropy of sigmoid(x) against target, elementwise then reduced; stable for
    any logit: max(x, 0) - x t + log1p(e^-|x|) (PyTorch's (1 - t) x + log(1 + e^-x))."""
    x = np.asarray(x)
    rows = np.maximum(x, 0) - x * target + np.log1p(np.exp(-np.abs(x)))
    return _reduce(np.asarray(rows, dtype=x.dtype), reduction, x.size)


def bce_with_logits_backward(g, x, target, reduction="mean"):
    """(d/dx, d/dtarget): scale (sigmoid(x) - t) and -scale x."""
    x = np.asarray(x)
    scale = _elementwise_scale(g, reduction, x)
    return scale * (sigmoid(x) - target), -scale * x


def mse(x, target, reduction="mean"):
    x = np.asarray(x)
    return _reduce(np.asarray((x - target) ** 2, dtype=x.dtype), reduction, x.size)


def mse_backward(g, x, target, reduction="mean"):
    """(d/dx, d/dtarget) of the squared error: +-2 scale (x - t)."""
    x = np.asarray(x)
    gx = 2 * _elementwise_scale(g, reduction, x) * (x - target)
    return gx, -gx


def _elementwise_scale(g, reduction, x):
    g = np.asarray(g, dtype=x.dtype)
    return g / x.dtype.type(x.size) if reduction == "mean" else g


# ------------------------------------------------------------------ optimizer updates (in place)

def add_scaled(out: np.ndarray, x: np.ndarray, alpha: float, y: np.ndarray, tmp: np.ndarray):
    """out = x + alpha * y (torch's add(x, y, alpha=alpha)); the product rounds before the add."""
    np.multiply(y, alpha, out=tmp)
    np.add(x, tmp, out=out)
    return out


def sgd_step(param, grad, buf, lr: float, momentum: float, dampening: float,
             weight_decay: float, nesterov: bool, maximize: bool, first: bool) -> None:
    """One torch.optim.SGD step in place, its single-tensor algorithm operation by operation
    (ag_sgd_f32 in csrc/ag_kernels.h states it); buf: the momentum buffer (None without
    momentum), set to the gradient when `first`."""
    tmp = np.empty_like(param)
    if maximize:
        grad = np.negative(grad)
    if weight_decay != 0:
        grad = add_scaled(np.empty_like(param), grad, weight_decay, param, tmp)
    if buf is not None:
        if first:
            np.copyto(buf, grad)
        else:
            np.multiply(buf, momentum, out=buf)
            add_scaled(buf, buf, 1 - dampening, grad, tmp)
        grad = add_scaled(np.empty_like(param), grad, momentum, buf, tmp) if nesterov else buf
    add_scaled(param, param, -lr, grad, tmp)


def addcmul_(x: np.ndarray, value: float, t1: np.ndarray, t2: np.ndarray, tmp: np.ndarray):
    """x += value * t1 * t2, evaluated left to right as torch's addcmul_ does."""
    np.multiply(t1, value, out=tmp)
    np.multiply(tmp, t2, out=tmp)
    np.add(x, tmp, out=x)
    return x


def addcdiv_(x: np.ndarray, value: float, t1: np.ndarray, t2: np.ndarray, tmp: np.ndarray):
    """x += value * t1 / t2, evaluated left to right as torch's addcdiv_ does."""
    np.multiply(t1, value, out=tmp)
    np.divide(tmp, t2, out=tmp)
    np.add(x, tmp, out=x)
    return x


def lerp_(x: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> np.ndarray:
    """x.lerp_(end, weight), with torch's two formulas (each exact at its own end)."""
    np.subtract(end, x, out=tmp)
    if weight < 0.5:
        np.multiply(tmp, weight, out=tmp)
        np.add(x, tmp, out=x)
    else:
        np.multiply(tmp, 1 - weight, out=tmp)
        np.subtract(end, tmp, out=x)
    return x


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, avg_weight: float, beta2: float,
              neg_step_size: float, bias_correction2_sqrt: float, eps: float) -> None:
    """One Adam step in place, torch.optim.Adam's single-tensor algorithm operation by operation
    (ag_adam_f32 in csrc/ag_kernels.h states it)."""
    tmp, denom = np.empty_like(param), np.empty_like(param)
    lerp_(exp_avg, grad, avg_weight, tmp)
    np.multiply(exp_avg_sq, beta2, out=exp_avg_sq)
    addcmul_(exp_avg_sq, 1 - beta2, grad, grad, tmp)
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    np.sqrt(exp_avg_sq if max_exp_avg_sq is None else max_exp_avg_sq, out=denom)
    np.divide(denom, bias_correction2_sqrt, out=denom)
    np.add(denom, eps, out=denom)
    addcdiv_(param, neg_step_size, exp_avg, denom, tmp)
