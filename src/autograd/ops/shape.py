"""Shape ops: reshape, permute, broadcast, concatenate, pad, indexing, and their compositions."""
import numbers

import numpy as np

from ..errors import ShapeError
from ..function import Function
from ..tensor import Tensor
from ._common import as_tensor, normalize_axis, pick_axis, unwrap_index


class Reshape(Function):
    _output_is_view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = np.shape(a)
        try:
            return np.reshape(a, shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {np.shape(a)} "
                             f"({np.size(a)} elements) into shape {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    _output_is_view = True

    @staticmethod
    def forward(ctx, a, axes):
        ctx.inverse = tuple(np.argsort(axes))
        return np.transpose(a, axes)

    @staticmethod
    def backward(ctx, g):
        return Permute.apply(g, ctx.inverse), None


class BroadcastTo(Function):
    _output_is_view = True

    @staticmethod
    def forward(ctx, a, shape):
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise ShapeError(f"broadcast_to: cannot broadcast shape {np.shape(a)} to {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g, None  # the engine sums the gradient back to the input's shape


class Concatenate(Function):
    @staticmethod
    def forward(ctx, axis, *arrays):
        ctx.axis = axis
        ctx.sizes = [np.shape(a)[axis] for a in arrays]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        grads, start = [None], 0
        lead = (slice(None),) * ctx.axis
        for n in ctx.sizes:
            grads.append(g[lead + (slice(start, start + n),)])
            start += n
        return tuple(grads)


class Pad(Function):
    @staticmethod
    def forward(ctx, a, pad_width, value):
        ctx.inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, np.shape(a)))
        # `or 0`: a 0-d input has no widths (an empty tuple, which np.pad rejects); numpy returns it as is.
        return np.pad(a, pad_width or 0, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.inner], None, None


def _is_basic(index) -> bool:
    """True for indexes without integer/boolean arrays: those select each element at most once."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, numbers.Integral)) for i in items)


class GetItem(Function):
    _output_is_view = True

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.dtype, ctx.index = np.shape(a), a.dtype, index
        return a[index]

    @staticmethod
    def backward(ctx, g):
        return IndexAdd.apply(g, ctx.index, ctx.shape, ctx.dtype), None


class IndexAdd(Function):
    """zeros(shape) with g added at `index` (repeated indices accumulate): getitem's backward."""

    @staticmethod
    def forward(ctx, g, index, shape, dtype):
        ctx.index = index
        out = np.zeros(shape, dtype=dtype)
        if _is_basic(index):
            out[index] = g
        else:
            np.add.at(out, index, g)
        return out

    @staticmethod
    def backward(ctx, gg):
        return GetItem.apply(gg, ctx.index), None, None, None


# ---- public functions ---------------------------------------------------------------------
def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(x, *shape) -> Tensor:
    """Same data, new shape (one dimension may be -1)."""
    x = as_tensor(x)
    shape = _shape_arg(shape)
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape)


def view(x, *shape) -> Tensor:
    return reshape(x, *shape)


def permute(x, *axes) -> Tensor:
    """Reorder the axes: out.shape[i] == x.shape[axes[i]]."""
    x = as_tensor(x)
    axes = _shape_arg(axes)
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ShapeError(f"permute: {axes} is not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Permute.apply(x, tuple(a % x.ndim for a in axes))


def transpose(x, *axes) -> Tensor:
    """PyTorch's transpose(dim0, dim1) swaps two axes; with no axes, reverses them all (numpy);
    with one axis per dimension (other than two), permutes them (numpy)."""
    x = as_tensor(x)
    axes = _shape_arg(axes)
    if not axes:
        return permute(x, tuple(range(x.ndim - 1, -1, -1)))
    if len(axes) == 2:
        return swapaxes(x, *axes)
    return permute(x, axes)


def swapaxes(x, axis0: int, axis1: int) -> Tensor:
    x = as_tensor(x)
    a0, a1 = (normalize_axis(a, x.ndim, "swapaxes")[0] for a in (axis0, axis1))
    order = list(range(x.ndim))
    order[a0], order[a1] = order[a1], order[a0]
    return Permute.apply(x, tuple(order))


def flatten(x, start=0, end=-1, *, start_dim=None, end_dim=None) -> Tensor:
    """Merge axes start..end (inclusive) into one."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, 1)
    start = normalize_axis(pick_axis(start, start_dim, default=0), x.ndim, "flatten")[0]
    end = normalize_axis(pick_axis(end, end_dim, default=-1), x.ndim, "flatten")[0]
    if start > end:
        raise ShapeError(f"flatten: start axis {start} comes after end axis {end} (shape {x.shape})")
    shape = x.shape[:start] + (int(np.prod(x.shape[start:end + 1])),) + x.shape[end + 1:]
    return reshape(x, shape)


def squeeze(x, axis=None, *, dim=None) -> Tensor:
    """Drop size-1 axes (all of them, or the given ones; a given axis of size > 1 is kept, as in PyTorch)."""
    x = as_tensor(x)
    axes = normalize_axis(pick_axis(axis, dim), x.ndim, "squeeze")
    if axes is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def unsqueeze(x, axis=None, *, dim=None) -> Tensor:
    """Insert a size-1 axis at `axis` (negative counts from the end of the result)."""
    x = as_tensor(x)
    axis = pick_axis(axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: missing the axis (or dim) argument")
    axis = normalize_axis(axis, x.ndim + 1, "unsqueeze")[0]
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def broadcast_to(x, *shape) -> Tensor:
    x = as_tensor(x)
    shape = _shape_arg(shape)
    if shape == x.shape:
        return x
    return BroadcastTo.apply(x, shape)


def expand(x, *sizes) -> Tensor:
    """PyTorch's expand: broadcast_to where -1 keeps that dimension's size."""
    x = as_tensor(x)
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


def concatenate(tensors, axis=0, *, dim=None) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ShapeError("concatenate: zero-dimensional tensors cannot be concatenated")
    axis = normalize_axis(pick_axis(axis, dim, default=0), ndim, "concatenate")[0]
    for t in tensors[1:]:
        if t.ndim != ndim or t.shape[:axis] + t.shape[axis + 1:] != tensors[0].shape[:axis] + tensors[0].shape[axis + 1:]:
            shapes = ", ".join(str(u.shape) for u in tensors)
            raise ShapeError(f"concatenate: shapes {shapes} differ outside axis {axis}")
    dtype = np.result_type(*[t.dtype for t in tensors])
    return Concatenate.apply(axis, *[t.astype(dtype) for t in tensors])


cat = concatenate


def stack(tensors, axis=0, *, dim=None) -> Tensor:
    """Join tensors of one shape along a new axis."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ShapeError(f"stack: all tensors need one shape, got {', '.join(str(t.shape) for t in tensors)}")
    axis = pick_axis(axis, dim, default=0)
    return concatenate([unsqueeze(t, axis) for t in tensors], axis)


def split(x, split_size_or_sections, axis=0, *, dim=None) -> list:
    """PyTorch's split: an int is the size of each chunk (the last may be smaller), a list the sizes."""
    x = as_tensor(x)
    axis = normalize_axis(pick_axis(axis, dim, default=0), x.ndim, "split")[0]
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError(f"split: chunk size must be positive, got {step}")
        sizes = [min(step, n - s) for s in range(0, n, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} do not add up to {n} (axis {axis} of shape {x.shape})")
    lead = (slice(None),) * axis
    out, start = [], 0
    for s in sizes:
        out.append(x[lead + (slice(start, start + s),)])
        start += s
    return out


def pad(x, pad_width, value=0.0) -> Tensor:
    """Constant padding, numpy-style widths: an int, a (before, after) pair, or one pair per axis."""
    x = as_tensor(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int).reshape(-1, 2) if np.ndim(pad_width) else
                             np.full((1, 2), int(pad_width)), (x.ndim, 2))
    if (widths < 0).any():
        raise ValueError(f"pad: widths must be non-negative, got {pad_width}")
    return Pad.apply(x, tuple(map(tuple, widths.tolist())), value)


def getitem(x, index) -> Tensor:
    """Basic, slice, integer-array and boolean indexing; repeated indices accumulate gradients."""
    return GetItem.apply(as_tensor(x), unwrap_index(index))
