"""softmax and log_softmax: own ops for a stable forward and a cheap, exact backward."""
import numpy as np

from ..function import Function
from ..tensor import Tensor
from ._common import as_tensor, normalize_axis, pick_axis


def _shifted(a, axis):
    a = np.asarray(a)
    m = np.amax(a, axis=axis, keepdims=True)
    return a - np.where(np.isfinite(m), m, 0)


class Softmax(Function):
    @staticmethod
    def forward(ctx, a, axis):
        e = np.exp(_shifted(a, axis))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return out * (g - (g * out).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, axis):
        z = _shifted(a, axis)
        with np.errstate(divide="ignore"):
            out = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        from .elementwise import Exp

        (out,) = ctx.saved_tensors
        return g - Exp.apply(out) * g.sum(axis=ctx.axis, keepdims=True), None


def _axis(x, axis, dim, name):
    return normalize_axis(pick_axis(axis, dim, default=-1), x.ndim, name)[0] if x.ndim else None


def softmax(x, axis=-1, *, dim=None) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`, computed without overflow."""
    x = as_tensor(x)
    return Softmax.apply(x, _axis(x, axis, dim, "softmax"))


def log_softmax(x, axis=-1, *, dim=None) -> Tensor:
    """log(softmax(x)) along `axis`, stable for any logits."""
    x = as_tensor(x)
    return LogSoftmax.apply(x, _axis(x, axis, dim, "log_softmax"))
