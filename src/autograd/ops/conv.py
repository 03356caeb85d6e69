"""conv2d, max_pool2d and avg_pool2d over NCHW tensors, with PyTorch's floor-mode output sizes.

conv2d is im2col followed by a matmul: `weight.reshape(out, c*kh*kw) @ cols[i]`, with cols
(n, c*kh*kw, oh*ow), gives image i's (out, oh*ow), which is already NCHW, so neither the output
nor the upstream gradient is transposed in memory. The backward products use the same layout:
grad weight = sum over the batch of g[i] @ cols[i].T, grad input = col2im(weight2d.T @ g[i]).
The backend runs these per image (`conv2d`, `conv2d_grad_input`, `conv2d_grad_weight`: in C,
each image's cols in a buffer that stays in cache, none kept for backward). For small outputs
(few positions per image) per-image products are too thin, and one 2-D product over the batch
wins, with cols batch-major and kept (see SMALL_OUTPUT).

Each backward is written with `Function.apply`, so `create_graph` records it and higher
derivatives work: im2col and col2im are each other's adjoint, and so are avg_pool2d and its
backward; max_pool2d's backward scatters by the saved argmax, whose adjoint is a gather
(getitem).
"""
from typing import Optional, Tuple, Union

import numpy as np

from .. import backend as _backend
from ..errors import DTypeError, ShapeError
from ..function import Function
from ..tensor import Tensor
from ._common import as_tensor
from .linalg import MatMul
from .shape import GetItem

IntPair = Union[int, Tuple[int, int]]


class Im2Col(Function):
    """(n, c, h, w) -> (n, c*kh*kw, oh*ow) patches, or batch-major (c*kh*kw, n*oh*ow); linear,
    its adjoint is Col2Im."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, batch_major=False):
        ctx.geometry = (x.shape, kernel_size, stride, padding, batch_major)
        return _backend.active.im2col(x, kernel_size, stride, padding, batch_major)

    @staticmethod
    def backward(ctx, g):
        return Col2Im.apply(g, *ctx.geometry), None, None, None, None


class Col2Im(Function):
    """Patches summed back onto the input positions they came from; adjoint of Im2Col."""

    @staticmethod
    def forward(ctx, cols, x_shape, kernel_size, stride, padding, batch_major=False):
        ctx.geometry = (kernel_size, stride, padding, batch_major)
        return _backend.active.col2im(cols, x_shape, kernel_size, stride, padding, batch_major)

    @staticmethod
    def backward(ctx, g):
        return Im2Col.apply(g, *ctx.geometry), None, None, None, None, None


# Below this many output positions per image, the batched products (one small GEMM per image,
# oh*ow columns each) lose to one 2-D GEMM over the whole batch, with cols batch-major
# (c*kh*kw, n*oh*ow) straight from im2col and only the gradient and the output transposed
# (out_c rows each). Measured on the CNN's layers: at oh*ow = 9 the 2-D form is several times
# faster, at 121 they tie, at 676 the batched form is 1.5-3x faster.
SMALL_OUTPUT = 64


def _batch_major(g):
    """(n, k, l) -> (k, n*l): one 2-D operand for the whole batch (a copy)."""
    n, k, l = g.shape
    return g.swapaxes(0, 1).reshape(k, n * l)


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        (n, out_c), (kh, kw) = (x.shape[0], weight.shape[0]), weight.shape[2:]
        oh = (x.shape[2] + 2 * padding[0] - kh) // stride[0] + 1
        ow = (x.shape[3] + 2 * padding[1] - kw) // stride[1] + 1
        batched = oh * ow >= SMALL_OUTPUT
        cols = None  # per image, the backend's conv2d makes its own and keeps none
        if batched:
            out = _backend.active.conv2d(x, weight, stride, padding)
        else:  # batch-major cols (c*kh*kw, n*oh*ow), one product for the batch
            cols = _backend.active.im2col(x, (kh, kw), stride, padding, True)
            out = _backend.active.matmul(weight.reshape(out_c, -1), cols)
            out = out.reshape(out_c, n, oh * ow).swapaxes(0, 1).reshape(n, out_c, oh, ow)
        if bias is not None:  # in place: out is this op's own new array
            _backend.active.add_channel_bias(out, bias)
        ctx.save_for_backward(x, weight)
        ctx.cols, ctx.geometry = cols, ((kh, kw), stride, padding, not batched)
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        n, out_c, oh, ow = g.shape
        batched = oh * ow >= SMALL_OUTPUT
        gx = gw = gb = None
        if need_b:  # create_graph's Tensors go to the reference (tensor methods only: recorded)
            gb = _backend.active.channel_sum(g)
        graph = isinstance(x, Tensor)  # create_graph: the products below are recorded
        if batched and not graph:
            kernel_size, stride, padding = ctx.geometry[:3]
            if need_w:
                gw = _backend.active.conv2d_grad_weight(x, g, kernel_size, stride, padding)
            if need_x:
                gx = _backend.active.conv2d_grad_input(g, weight, x.shape, stride, padding)
            return gx, gw, gb, None, None
        # im2col again from x under create_graph, so cols are part of the graph
        cols = Im2Col.apply(x, *ctx.geometry) if graph else ctx.cols
        g3 = g.reshape(n, out_c, oh * ow)
        g2 = g3 if batched else _batch_major(g3)  # (out_c, n*oh*ow) for the 2-D products
        if need_w:
            gw = MatMul.apply(g2, cols.swapaxes(-1, -2))
            gw = (gw.sum(axis=0) if batched else gw).reshape(weight.shape)
        if need_x:
            gcols = MatMul.apply(weight.reshape(out_c, -1).swapaxes(-1, -2), g2)
            gx = Col2Im.apply(gcols, x.shape, *ctx.geometry)
        return gx, gw, gb, None, None


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        out, idx = _backend.active.max_pool2d(x, kernel_size, stride, padding)
        ctx.idx, ctx.geometry = idx, (x.shape, kernel_size, stride, padding)
        return out

    @staticmethod
    def backward(ctx, g):
        return MaxPool2dBackward.apply(g, ctx.idx, *ctx.geometry), None, None, None


class MaxPool2dBackward(Function):
    """Scatter-add of the output gradient onto each window's argmax; its adjoint gathers."""

    @staticmethod
    def forward(ctx, g, idx, x_shape, kernel_size, stride, padding):
        ctx.idx = idx
        return _backend.active.max_pool2d_backward(g, idx, x_shape, kernel_size, stride, padding)

    @staticmethod
    def backward(ctx, gg):
        n, c, oh, ow = ctx.idx.shape
        planes = np.arange(n * c).reshape(n * c, 1)
        flat = gg.reshape(n * c, gg.shape[2] * gg.shape[3])
        gathered = GetItem.apply(flat, (planes, ctx.idx.reshape(n * c, oh * ow)))
        return gathered.reshape(n, c, oh, ow), None, None, None, None, None


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        ctx.geometry = (x.shape, kernel_size, stride, padding)
        return _backend.active.avg_pool2d(x, kernel_size, stride, padding)

    @staticmethod
    def backward(ctx, g):
        return AvgPool2dBackward.apply(g, *ctx.geometry), None, None, None


class AvgPool2dBackward(Function):
    """g / (kh*kw) spread over each window: the adjoint of AvgPool2d, and AvgPool2d of it."""

    @staticmethod
    def forward(ctx, g, x_shape, kernel_size, stride, padding):
        ctx.geometry = (kernel_size, stride, padding)
        return _backend.active.avg_pool2d_backward(g, x_shape, kernel_size, stride, padding)

    @staticmethod
    def backward(ctx, gg):
        return AvgPool2d.apply(gg, *ctx.geometry), None, None, None, None


# ---- argument checks ----------------------------------------------------------------------
def _pair(value, op: str, name: str, minimum: int) -> Tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_input(op: str, x: Tensor, *others) -> None:
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected a 4-d NCHW input, got shape {x.shape} {x.dtype}")
    for t in (x,) + others:
        if t.dtype.kind != "f":
            raise DTypeError(f"{op}: expected floating-point tensors, got {t.shape} {t.dtype}")


def _check_window(op: str, x: Tensor, kernel: Tuple[int, int], padding: Tuple[int, int]) -> None:
    for axis, k, p in ((2, kernel[0], padding[0]), (3, kernel[1], padding[1])):
        if k > x.shape[axis] + 2 * p:
            raise ShapeError(f"{op}: kernel {kernel} is larger than the padded input: input "
                             f"{x.shape} {x.dtype} padded by {padding}")


def _pool_args(op, x, kernel_size, stride, padding):
    x = as_tensor(x)
    _check_input(op, x)
    kernel = _pair(kernel_size, op, "kernel_size", 1)
    stride = kernel if stride is None else _pair(stride, op, "stride", 1)
    padding = _pair(padding, op, "padding", 0)
    if 2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel {kernel}")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ShapeError(f"{op}: empty spatial dimensions in input {x.shape} {x.dtype}")
    _check_window(op, x, kernel, padding)
    return x, kernel, stride, padding


# ---- public functions ---------------------------------------------------------------------
def conv2d(x, weight, bias=None, stride: IntPair = 1, padding: IntPair = 0) -> Tensor:
    """2-d cross-correlation (PyTorch's conv2d): x (n, c, h, w), weight (out, c, kh, kw).

    >>> import autograd as ag
    >>> x = ag.ones((1, 1, 3, 3))
    >>> conv2d(x, ag.ones((2, 1, 2, 2)), ag.tensor([0.0, 1.0])).shape
    (1, 2, 2, 2)
    """
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    _check_input("conv2d", x, weight, *(() if bias is None else (bias,)))
    if weight.ndim != 4 or weight.shape[1] != x.shape[1]:
        raise ShapeError(f"conv2d: weight must be (out, {x.shape[1]}, kh, kw) for input "
                         f"{x.shape} {x.dtype}, got {weight.shape} {weight.dtype}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ShapeError(f"conv2d: bias must have shape ({weight.shape[0]},) for weight "
                         f"{weight.shape}, got {bias.shape} {bias.dtype}")
    dtypes = {x.dtype, weight.dtype} | (set() if bias is None else {bias.dtype})
    if len(dtypes) != 1:
        raise DTypeError(f"conv2d: input, weight and bias must share a dtype, got "
                         f"{x.dtype}, {weight.dtype}" + ("" if bias is None else f", {bias.dtype}"))
    stride, padding = _pair(stride, "conv2d", "stride", 1), _pair(padding, "conv2d", "padding", 0)
    _check_window("conv2d", x, weight.shape[2:], padding)
    return Conv2d.apply(x, weight, bias, stride, padding)


def max_pool2d(x, kernel_size: IntPair, stride: Optional[IntPair] = None,
               padding: IntPair = 0) -> Tensor:
    """Maximum over each window (padding never wins); stride defaults to kernel_size.

    >>> import autograd as ag
    >>> max_pool2d(ag.arange(16.0).reshape(1, 1, 4, 4), 2).numpy().ravel().tolist()
    [5.0, 7.0, 13.0, 15.0]
    """
    x, kernel, stride, padding = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2d.apply(x, kernel, stride, padding)


def avg_pool2d(x, kernel_size: IntPair, stride: Optional[IntPair] = None,
               padding: IntPair = 0) -> Tensor:
    """Mean over each window, padding counted as zeros (count_include_pad=True).

    >>> import autograd as ag
    >>> avg_pool2d(ag.arange(16.0).reshape(1, 1, 4, 4), 2).numpy().ravel().tolist()
    [2.5, 4.5, 10.5, 12.5]
    """
    x, kernel, stride, padding = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d.apply(x, kernel, stride, padding)
