"""Activations with parameters: leaky_relu, elu, softplus (relu, sigmoid, tanh are elementwise).

Each is one `Function` over a backend kernel pair, with PyTorch's definitions and conventions:

| op                         | forward                                   | derivative at the kink |
| -------------------------- | ----------------------------------------- | ---------------------- |
| leaky_relu(x, s)           | x if x > 0 else s x                       | s at x = 0             |
| elu(x, a)                  | x if x > 0 else a (e^x - 1)               | a at x = 0             |
| softplus(x, beta, thresh)  | x if beta x > thresh else log(1 + e^(beta x)) / beta | -           |

The backward passes take the input (not the output), as PyTorch's do. With create_graph they
are written with tensor ops, so gradients of gradients work.
"""
import numpy as np

from .. import backend as _backend
from ..function import Function
from ..tensor import Tensor
from ..errors import DTypeError
from ._common import as_tensor, raw
from .elementwise import Exp, Sigmoid, Where


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, a, negative_slope):
        ctx.save_for_backward(a)
        ctx.slope = negative_slope
        return _backend.active.leaky_relu(a, negative_slope)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        if isinstance(g, Tensor):  # piecewise linear: the slope is a constant of the graph
            x = np.asarray(raw(a))
            return g * np.where(x > 0, x.dtype.type(1), x.dtype.type(ctx.slope)), None
        return _backend.active.leaky_relu_backward(g, a, ctx.slope), None


class Elu(Function):
    @staticmethod
    def forward(ctx, a, alpha):
        ctx.save_for_backward(a)
        ctx.alpha = alpha
        return _backend.active.elu(a, alpha)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        if isinstance(g, Tensor):
            positive = np.asarray(raw(a)) > 0
            # e^x only where x <= 0 (elsewhere e^0): no overflow in the branch Where drops
            negative_part = g * (ctx.alpha * Exp.apply(Where.apply(positive, 0.0, a)))
            return Where.apply(positive, g, negative_part), None
        return _backend.active.elu_backward(g, a, ctx.alpha), None


class Softplus(Function):
    @staticmethod
    def forward(ctx, a, beta, threshold):
        ctx.save_for_backward(a)
        ctx.params = (beta, threshold)
        return _backend.active.softplus(a, beta, threshold)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        beta, threshold = ctx.params
        if isinstance(g, Tensor):
            linear = np.asarray(raw(a)) * beta > threshold
            return Where.apply(linear, g, g * Sigmoid.apply(a * beta)), None, None
        return _backend.active.softplus_backward(g, a, beta, threshold), None, None


def _floating(x, op: str) -> Tensor:
    x = as_tensor(x)
    if x.dtype.kind != "f":  # as PyTorch: the parameters would be truncated to integers
        raise DTypeError(f"{op}: the input must be floating point, got {x.shape} {x.dtype}")
    return x


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x (PyTorch's F.leaky_relu).

    >>> import autograd as ag
    >>> ag.leaky_relu(ag.tensor([-2.0, 3.0]), 0.5).tolist()
    [-1.0, 3.0]
    """
    return LeakyRelu.apply(_floating(x, "leaky_relu"), float(negative_slope))


def elu(x, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha * (e^x - 1) (PyTorch's F.elu).

    >>> import autograd as ag
    >>> round(ag.elu(ag.tensor(-1.0)).item(), 6)
    -0.632121
    """
    return Elu.apply(_floating(x, "elu"), float(alpha))


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's F.softplus).

    >>> import autograd as ag
    >>> round(ag.softplus(ag.tensor(0.0)).item(), 6)
    0.693147
    """
    return Softplus.apply(_floating(x, "softplus"), float(beta), float(threshold))
