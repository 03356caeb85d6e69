"""Reductions with numpy's `axis`/`keepdims` (PyTorch's `dim`/`keepdim` accepted too)."""
import builtins

import numpy as np

from ..function import Function
from ..tensor import Tensor
from ._common import as_tensor, normalize_axis, pick_axis, raw
from .shape import BroadcastTo


def _kept_shape(shape, axes):
    """The shape of a reduction over `axes` with keepdims=True."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _reduced_shape(shape, axes):
    """The shape of a reduction over `axes` with keepdims=False."""
    return () if axes is None else tuple(n for i, n in enumerate(shape) if i not in axes)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        ctx.shape, ctx.axes = np.shape(a), axes
        return np.sum(a, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        g = g.reshape(_kept_shape(ctx.shape, ctx.axes))
        return BroadcastTo.apply(g, ctx.shape), None, None


class _Extremum(Function):
    """max / min over axes; tied elements share the gradient evenly."""

    _reduce = None

    @classmethod
    def forward(cls, ctx, a, axes, keepdims):
        if np.size(a) == 0:
            raise ValueError(f"{cls.__name__.lower()}: reduction of an empty tensor of shape {np.shape(a)}")
        out = cls._reduce(a, axis=axes, keepdims=keepdims)
        ctx.save_for_backward(a, out)
        ctx.axes = axes
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        a = np.asarray(raw(a))
        kept = _kept_shape(a.shape, ctx.axes)
        hit = a == np.reshape(raw(out), kept)
        share = hit / hit.sum(axis=ctx.axes, keepdims=True)
        return g.reshape(kept) * share.astype(a.dtype), None, None


class Max(_Extremum):
    _reduce = staticmethod(np.amax)


class Min(_Extremum):
    _reduce = staticmethod(np.amin)


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdims):
        x = np.asarray(a)
        kept = _kept_shape(x.shape, axes)
        m = np.amax(x, axis=axes, keepdims=True) if x.size else np.zeros(kept, x.dtype)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        out = out if keepdims else out.reshape(_reduced_shape(x.shape, axes))
        # Save the input and the output themselves, so create_graph sees them as graph values.
        ctx.save_for_backward(a, out)
        ctx.kept = kept
        return out

    @staticmethod
    def backward(ctx, g):
        from .elementwise import Exp

        a, out = ctx.saved_tensors
        # d/da logsumexp(a) = softmax(a) = exp(a - logsumexp(a))
        return g.reshape(ctx.kept) * Exp.apply(a - out.reshape(ctx.kept)), None, None


def _reduction(fn_class, x, axis, keepdims, name):
    x = as_tensor(x)
    axes = normalize_axis(axis, x.ndim, name)
    return fn_class.apply(x, axes, bool(keepdims))


def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Sum over `axis` (all axes when None)."""
    return _reduction(Sum, x, pick_axis(axis, dim), keepdims or bool(keepdim), "sum")


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
    x = as_tensor(x)
    axis = pick_axis(axis, dim)
    axes = normalize_axis(axis, x.ndim, "mean")
    count = x.numel() if axes is None else int(np.prod([x.shape[i] for i in axes]))
    total = Sum.apply(x if x.dtype.kind == "f" else x.astype(np.float32), axes, keepdims or bool(keepdim))
    return total / count


def var(x, axis=None, keepdims=False, *, dim=None, keepdim=None, correction=1, ddof=None) -> Tensor:
    """Variance; unbiased (correction=1) by default as in PyTorch. `ddof` is numpy's name."""
    x = as_tensor(x)
    axis = pick_axis(axis, dim)
    axes = normalize_axis(axis, x.ndim, "var")
    correction = correction if ddof is None else ddof
    count = x.numel() if axes is None else int(np.prod([x.shape[i] for i in axes]))
    centered = x - mean(x, axes, keepdims=True)
    return sum(centered * centered, axes, keepdims or bool(keepdim)) / builtins.max(count - correction, 0)


def std(x, axis=None, keepdims=False, *, dim=None, keepdim=None, correction=1, ddof=None) -> Tensor:
    """Standard deviation, the square root of `var` (same arguments)."""
    return var(x, axis, keepdims, dim=dim, keepdim=keepdim, correction=correction, ddof=ddof).sqrt()


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Largest value over `axis`; tied maxima share the gradient evenly."""
    return _reduction(Max, x, pick_axis(axis, dim), keepdims or bool(keepdim), "max")


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Smallest value over `axis`; tied minima share the gradient evenly."""
    return _reduction(Min, x, pick_axis(axis, dim), keepdims or bool(keepdim), "min")


def logsumexp(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
    """log(sum(exp(x))) computed without overflow."""
    return _reduction(LogSumExp, x, pick_axis(axis, dim), keepdims or bool(keepdim), "logsumexp")


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
    """Index of the largest value (no gradient); over the flattened tensor when axis is None."""
    data = np.asarray(raw(x))
    axes = normalize_axis(pick_axis(axis, dim), data.ndim, "argmax")
    return Tensor._make(np.argmax(data, axis=None if axes is None else axes[0], keepdims=keepdims or bool(keepdim)))


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Tensor:
    """Index of the smallest value (no gradient)."""
    data = np.asarray(raw(x))
    axes = normalize_axis(pick_axis(axis, dim), data.ndim, "argmin")
    return Tensor._make(np.argmin(data, axis=None if axes is None else axes[0], keepdims=keepdims or bool(keepdim)))
