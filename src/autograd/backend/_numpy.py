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
