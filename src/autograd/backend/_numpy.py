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


def _reduce(rows, reduction, count):
    """A loss from its per-row (or per-element) values; "mean" divides by `count`."""
    if reduction == "none":
        return rows
    total = rows.sum(dtype=rows.dtype)
    if reduction == "sum":
        return total
    with np.errstate(invalid="ignore", divide="ignore"):  # PyTorch: nothing counted gives NaN
        return rows.dtype.type(total / rows.dtype.type(count))


def _row_scale(g, reduction, count, n, dtype):
    """The upstream gradient as one factor per row: g itself, or g / count for "mean"."""
    if reduction == "none":
        return np.asarray(g, dtype=dtype).reshape(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.asarray(g, dtype=dtype) / dtype.type(count) if reduction == "mean" else g
    return np.full(n, s, dtype=dtype)


def softmax_cross_entropy(logits, target, reduction="mean", label_smoothing=0.0,
                          ignore_index=-100):
    """Cross-entropy of softmax(logits) over rows: logits (n, c); target int64 class indices (n,)
    (each in [0, c) or ignore_index, checked by the caller) or probabilities (n, c). Returns
    (loss, saved) where saved feeds softmax_cross_entropy_backward: (logits, target,
    stats (n, 2) = each row's max and log-sum-exp after subtracting it, reduction,
    label_smoothing, ignore_index, the count "mean" divides by)."""
    x = np.asarray(logits)
    n, c = x.shape
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
    saved = (x, target, np.stack([m[:, 0], big], axis=1), reduction, eps, ignore_index, count)
    return _reduce(rows, reduction, count), saved


def softmax_cross_entropy_backward(g, saved):
    """The gradient with respect to the logits: row scale * (softmax - smoothed target)."""
    x, target, stats, reduction, eps, ignore_index, count = saved
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
