"""matmul (batched and broadcasting like numpy; 1-d operands are promoted and the axis dropped) and
linear (PyTorch's F.linear, one fused GEMM)."""
import numpy as np

from .. import backend as _backend
from ..errors import DTypeError, ShapeError
from ..function import Function
from ..tensor import Tensor
from ._common import as_tensor, binary_operands
from .elementwise import relu_grad
from .shape import reshape


class MatMul(Function):
    """(..., m, k) @ (..., k, n); the batch dims broadcast and the engine sums them back."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _backend.active.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        mm = _product(g)
        ga = mm(g, b.swapaxes(-1, -2)) if need_a else None
        gb = mm(a.swapaxes(-1, -2), g) if need_b else None
        return ga, gb


def _product(g):
    """The matrix product for a backward given g: the op itself when g is a Tensor (create_graph:
    the product is recorded), else the backend's, which is what the op runs on arrays without
    its ~0.6 us of recording machinery (three products per MLP step)."""
    return MatMul.apply if isinstance(g, Tensor) else _backend.active.matmul


def _check(a: Tensor, b: Tensor) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least one dimension, got shapes {a.shape} and {b.shape}")
    if a.dtype.kind not in "fiub" or b.dtype.kind not in "fiub":
        raise DTypeError(f"matmul: unsupported dtypes {a.dtype} and {b.dtype}")
    ka, kb = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        da, db = a.ndim - 1, (b.ndim - 2 if b.ndim > 1 else 0)
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                         f"{ka} (dim {da}) != {kb} (dim {db})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(f"matmul: batch dimensions of {a.shape} and {b.shape} do not broadcast") from None


def matmul(a, b) -> Tensor:
    """Matrix product with numpy's rules (batched, broadcasting, 1-d operands promoted)."""
    a, b = binary_operands(a, b)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise ShapeError("matmul: both operands need at least one dimension (a scalar was given)")
    _check(a, b)
    if a.ndim >= 2 and b.ndim >= 2:
        return MatMul.apply(a, b)
    a2 = reshape(a, 1, a.shape[0]) if a.ndim == 1 else a
    b2 = reshape(b, b.shape[0], 1) if b.ndim == 1 else b
    out = MatMul.apply(a2, b2)
    shape = out.shape
    if a.ndim == 1:
        shape = shape[:-2] + shape[-1:]
    if b.ndim == 1:
        shape = shape[:-1]
    return reshape(out, shape)


class Linear(Function):
    """x (..., in) @ w.T + b with w (out, in): forward is one GEMM reading w transposed in place,
    b added as the output is first stored (the backend's linear)."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return _backend.active.linear(x, w, b)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return _linear_grads(ctx, g, x, w)


class LinearReLU(Function):
    """relu(x (..., in) @ w.T + b): a Linear layer and the ReLU after it as one node, which
    nn.Sequential runs for that pair. The relu is applied in place on the GEMM's output (no second
    array), and the pair costs one node's recording and one backward step instead of two; the
    values and gradients are those of the two ops, bit for bit."""

    @staticmethod
    def forward(ctx, x, w, b):
        out = _backend.active.linear_relu(x, w, b)
        ctx.save_for_backward(x, w, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, w, out = ctx.saved_tensors
        if isinstance(g, Tensor) or not ctx.needs_input_grad[2]:
            return _linear_grads(ctx, relu_grad(g, out), x, w)
        # the bias gradient summed in the pass that masks g
        n = out.shape[-1]
        g, gb = _backend.active.relu_backward_and_sum(g.reshape(-1, n), out.reshape(-1, n))
        return _linear_grads(ctx, g, x, w, gb)


def _linear_grads(ctx, g, x, w, gb=None):
    """(gx, gw, gb) of x @ w.T + b given the output's gradient g (None where not needed); gb
    is summed from g unless given."""
    need_x, need_w, need_b = ctx.needs_input_grad
    n, k = w.shape
    shape = x.shape
    if x.ndim != 2:  # leading axes folded into one: every product below is 2-d
        g, x = g.reshape(-1, n), x.reshape(-1, k)
    mm = _product(g)
    gx = mm(g, w).reshape(shape) if need_x else None
    # g.T is a transposed view: the GEMM reads it in place (trans_a), no copy
    gw = mm(g.T, x) if need_w else None
    if need_b and gb is None:
        gb = _backend.active.channel_sum(g)
    return gx, gw, gb


_FLOATS = frozenset(map(np.dtype, (np.float16, np.float32, np.float64)))


def linear(x, weight, bias=None) -> Tensor:
    """PyTorch's F.linear: x (..., in) @ weight.T + bias, weight (out, in), bias (out,) or None.

    >>> import autograd as ag
    >>> x = ag.tensor([[1.0, 2.0]])
    >>> w = ag.tensor([[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]])
    >>> linear(x, w, ag.tensor([0.0, 0.5, 1.0])).tolist()
    [[3.0, 2.5, 3.0]]
    """
    return _apply_linear(Linear, x, weight, bias)


def linear_relu(x, weight, bias=None) -> Tensor:
    """relu(linear(x, weight, bias)) as one op (LinearReLU), with linear's checks and errors:
    what nn.Sequential runs for a Linear followed by a ReLU.

    >>> import autograd as ag
    >>> x = ag.tensor([[1.0, -2.0]])
    >>> w = ag.tensor([[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]])
    >>> linear_relu(x, w, ag.tensor([0.0, 0.5, 1.0])).tolist()
    [[0.0, 0.0, 3.0]]
    """
    return _apply_linear(LinearReLU, x, weight, bias)


def _apply_linear(op, x, weight, bias):
    """op (Linear or LinearReLU) applied to x, weight, bias once they pass linear's checks."""
    if isinstance(x, Tensor) and isinstance(weight, Tensor) and isinstance(bias, Tensor):
        # A layer's call, float arrays whose shapes fit, straight to the op: the general checks
        # below cost ~0.6 us of a small layer's ~3 us.
        xd, wd, bd = x.data, weight.data, bias.data
        dtype = xd.dtype
        if (type(wd) is np.ndarray and type(bd) is np.ndarray and dtype in _FLOATS
                and wd.dtype is dtype and bd.dtype is dtype and wd.ndim == 2 and xd.ndim
                and xd.shape[-1] == wd.shape[1] and bd.shape == wd.shape[:1]):
            return op.apply(x, weight, bias)
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    for t in (x, weight) if bias is None else (x, weight, bias):
        if t.dtype.kind not in "fiub":
            raise DTypeError(f"linear: unsupported dtypes x {x.dtype}, weight {weight.dtype}"
                             + ("" if bias is None else f", bias {bias.dtype}"))
    if x.ndim < 1 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: expected x (..., in), weight (out, in) with the same `in`, "
                         f"got {_linear_shapes(x, weight, bias)}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ShapeError(f"linear: expected bias of shape ({weight.shape[0]},), got "
                         f"{_linear_shapes(x, weight, bias)}")
    return op.apply(x, weight, bias)


def _linear_shapes(x, weight, bias) -> str:
    """For error messages only: formatting it on every call cost ~1 us of a 16 us small layer."""
    return f"x {x.shape}, weight {weight.shape}, bias {None if bias is None else bias.shape}"
