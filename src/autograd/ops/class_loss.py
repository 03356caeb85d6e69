"""Losses over class indices or class probabilities: fused softmax cross-entropy and the
negative log-likelihood.

PyTorch's semantics and arguments in PyTorch's order (`label_smoothing`, `ignore_index` for
class targets, per-class `weight`, and the reductions of loss.py). Cross-entropy is one
`Function` over a fused backend kernel: the forward never materialises the softmax or
log-probabilities, the backward recomputes what it needs in one pass (and when the logits want
a gradient, the forward's pass also writes the one for an upstream 1, which a plain
loss.backward() takes as it is); with create_graph the backward is written with tensor ops
instead, so gradients of gradients work. Cross-entropy with class weights is composed from
log-softmax instead, as the kernel has no weights, and nll_loss is that composition's second
half.

`cross_entropy` takes logits (N, C), (C,) or (N, C, d1, ...) and either class indices (an
integer tensor of the shape without C; each in [0, C) or `ignore_index`) or class
probabilities (the logits' shape); `nll_loss` takes log-probabilities and class indices.

| reduction "mean"      | divides by                                                  |
| --------------------- | ----------------------------------------------------------- |
| class targets, nll    | the number of targets that are not ignore_index (all: NaN); |
|                       | with `weight`, the sum of those targets' class weights      |
| probability targets   | the number of rows (N times d1 ...)                         |
"""
import numpy as np

from .. import backend as _backend
from ..errors import AutogradError, DTypeError, ShapeError
from ..function import Function
from ..grad_mode import _grad_enabled
from ..tensor import Tensor
from ._common import as_tensor, raw
from .elementwise import Exp, Where
from .loss import _reduction, _scale
from .nn import LogSoftmax


class TargetIndexError(AutogradError, IndexError):
    """A class index outside [0, classes) that is not ignore_index."""


class CrossEntropy(Function):
    """Softmax cross-entropy over the rows of (n, c) logits; target (n,) ints or (n, c) floats;
    options (reduction, label_smoothing, ignore_index), one argument: two inputs fewer for
    apply and the engine to walk on every step."""

    @staticmethod
    def forward(ctx, logits, target, options):
        reduction, label_smoothing, ignore_index = options
        # When the logits will want a gradient, the kernel also writes the one for an upstream
        # gradient of 1 (loss.backward() on the loss itself), which backward then hands on: no
        # second pass over the rows, nor a second call (~4 us of a batch-32 MLP step). Not when
        # the target wants one too: backward then runs its own pass for both anyway.
        need_x, need_t = ctx.needs_input_grad[:2]
        with_grad = need_x and not need_t and _grad_enabled.get()
        loss, saved = _backend.active.softmax_cross_entropy(logits, target, reduction,
                                                            label_smoothing, ignore_index,
                                                            with_grad)
        ctx.save_for_backward(logits, target)
        ctx.kernel_saved = saved
        return loss

    @staticmethod
    def backward(ctx, g):
        x, target = ctx.saved_tensors  # (raises if they were modified in place since)
        saved = ctx.kernel_saved
        need_x, need_t = ctx.needs_input_grad[:2]
        ready = saved[-1]
        if ready is not None and not need_t and not isinstance(g, Tensor) and g == 1:
            ctx.kernel_saved = saved[:-1] + (None,)  # handed on once; another backward recomputes
            return ready, None, None
        _, _, stats, reduction, eps, ignore, count, _ = saved
        n, c = raw(x).shape
        if isinstance(g, Tensor):
            return _cross_entropy_graph(x, target, g, saved, need_t) + (None,)
        gx = _backend.active.softmax_cross_entropy_backward(g, saved) if need_x else None
        gt = None
        if need_t:  # probabilities: d loss / d p = -(1 - eps) scale log_softmax(x)
            s = np.asarray(_scale(np.asarray(g), reduction, count, (n, 1)), dtype=stats.dtype)
            gt = -(1 - eps) * s * ((np.asarray(x) - stats[:, :1]) - stats[:, 1:])
        return gx, gt, None


def _cross_entropy_graph(x, target, g, saved, need_t):
    """The backward of CrossEntropy with tensor ops (create_graph)."""
    _, _, _, reduction, eps, ignore, count, _ = saved
    n, c = x.shape
    dtype = x.dtype.type
    logp = LogSoftmax.apply(x, 1)
    s = _scale(g, reduction, count, (n, 1))
    labels = raw(target)
    if labels.dtype.kind in "iu":
        keep = labels != ignore
        onehot = np.arange(c) == np.where(keep, labels, -1)[:, None]
        smoothed = ((1 - eps) * onehot + eps / c).astype(x.dtype)
        # select, never multiply: with nothing counted the "mean" scale is g / 0
        return Where.apply(keep[:, None], (Exp.apply(logp) - smoothed) * s, 0.0), None
    total = (1 - eps) * target.sum(axis=1, keepdims=True) + dtype(eps)
    gx = (Exp.apply(logp) * total - ((1 - eps) * target + dtype(eps / c))) * s
    return gx, (-(1 - eps) * logp * s if need_t else None)


def _class_input(op: str, input) -> tuple:
    """(input, number of classes, batch shape) for (C,), (N, C) or (N, C, d...) scores."""
    x = as_tensor(input)
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: the input must be floating point, got {x.shape} {x.dtype}")
    if x.ndim == 0:
        raise ShapeError(f"{op}: the input must have a class dimension, got a 0-d tensor")
    if x.ndim == 1:
        return x, x.shape[0], ()
    return x, x.shape[1], x.shape[:1] + x.shape[2:]


def _class_rows(x: Tensor) -> Tensor:
    """(C,), (N, C) or (N, C, d...) as (rows, C): the class axis last, one row per (n, d...)."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    return x if x.ndim == 2 else x.permute(0, *range(2, x.ndim), 1).reshape(-1, x.shape[1])


def _class_indices(op: str, t: Tensor, x: Tensor, c: int, batch: tuple,
                   ignore_index: int, check_range: bool = True) -> np.ndarray:
    """The class-index target, flat, checked against the input's batch shape and (unless the
    caller leaves that to the fused kernel) the number of classes."""
    if t.shape != batch:
        raise ShapeError(f"{op}: class-index target of shape {t.shape} does not fit "
                         f"input {x.shape} {x.dtype}: expected shape {batch}")
    idx = np.asarray(raw(t), dtype=np.int64).reshape(-1)
    if check_range:
        _check_class_range(op, idx, t, x, c, ignore_index)
    return idx


def _check_class_range(op: str, idx: np.ndarray, t: Tensor, x: Tensor, c: int,
                       ignore_index: int) -> None:
    """TargetIndexError naming the first index outside [0, c) that is not ignore_index."""
    # the common case in one pass: read as unsigned, a negative index is past any class count
    if not idx.size or np.maximum.reduce(idx.view(np.uint64)) < c:
        return
    bad = (idx < 0) | (idx >= c)
    bad &= idx != ignore_index
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise TargetIndexError(
            f"{op}: target index {int(idx[k])} (at position {k}) is out of range "
            f"for {c} classes; input {x.shape} {x.dtype}, target {t.shape} {t.dtype}; expected "
            f"0 <= index < {c} or ignore_index={ignore_index}")


def _class_weight(op: str, weight, x: Tensor, c: int) -> Tensor:
    w = as_tensor(weight)
    if w.shape != (c,):
        raise ShapeError(f"{op}: weight of shape {w.shape} {w.dtype} must have one "
                         f"value per class, shape ({c},), for input {x.shape} {x.dtype}")
    return w.astype(x.dtype)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits against class indices or class probabilities, with
    PyTorch's arguments in PyTorch's order. `weight` (C,) scales each class's terms; with class
    indices the "mean" then divides by the summed weights of the counted targets, with
    probabilities still by the number of rows (as torch).

    >>> import autograd as ag
    >>> x = ag.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> round(ag.cross_entropy(x, ag.tensor([0, 2])).item(), 6)
    0.669079
    >>> round(ag.cross_entropy(x, ag.tensor([0, 2]), weight=[1.0, 1.0, 3.0]).item(), 6)
    0.883845
    """
    reduction = _reduction("cross_entropy", reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    x, c, batch = _class_input("cross_entropy", input)
    t = target if isinstance(target, Tensor) else as_tensor(np.asarray(target))
    rows = _class_rows(x)
    labels = t.dtype.kind in "iub"
    if labels:
        # The fused kernel checks the range itself, in its pass over the rows (~2 us saved on
        # a batch of 32); the weighted composition indexes with the targets, so check first.
        tgt = _class_indices("cross_entropy", t, x, c, batch, ignore_index,
                             check_range=weight is not None)
    else:
        if t.shape != x.shape:
            raise ShapeError(f"cross_entropy: probability target of shape {t.shape} must have the "
                             f"input's shape {x.shape} ({x.dtype})")
        tgt = _class_rows(t.astype(x.dtype))
        if not tgt.requires_grad:
            tgt = tgt.data
    if weight is None:
        try:
            out = CrossEntropy.apply(rows, tgt, (reduction, float(label_smoothing),
                                                 int(ignore_index)))
        except (IndexError, AutogradError):  # the backend found an index out of range: name it
            if labels:
                _check_class_range("cross_entropy", tgt, t, x, c, int(ignore_index))
            raise
    else:
        w = _class_weight("cross_entropy", weight, x, c)
        out = _weighted_cross_entropy(rows, tgt, w, reduction, float(label_smoothing),
                                      int(ignore_index))
    return out.reshape(batch) if reduction == "none" else out


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """The negative log-likelihood -w[t] input[n, t] of log-probabilities (N, C), (C,) or
    (N, C, d...) against class indices t, with PyTorch's arguments in PyTorch's order; ignored
    targets count 0 and the "mean" divides by the summed weights of the others (all ignored:
    NaN, as torch).

    >>> import autograd as ag
    >>> logp = ag.tensor([[-0.5, -1.0], [-2.0, -0.25]])
    >>> ag.nn.functional.nll_loss(logp, [0, 1], weight=[1.0, 3.0]).item()
    0.3125
    """
    reduction = _reduction("nll_loss", reduction, size_average, reduce)
    x, c, batch = _class_input("nll_loss", input)
    t = target if isinstance(target, Tensor) else as_tensor(np.asarray(target))
    if t.dtype.kind not in "iu":
        raise DTypeError(f"nll_loss: target must hold integer class indices, got {t.shape} "
                         f"{t.dtype} for input {x.shape} {x.dtype}")
    idx = _class_indices("nll_loss", t, x, c, batch, ignore_index)
    if weight is None:
        w = Tensor._make(np.ones(c, dtype=x.dtype))
    else:
        w = _class_weight("nll_loss", weight, x, c)
    out = _nll(_class_rows(x), idx, w, reduction, 0.0, int(ignore_index))
    return out.reshape(batch) if reduction == "none" else out


def _weighted_cross_entropy(rows, tgt, w, reduction, eps, ignore):
    """torch's class-weighted cross-entropy of (n, c) logits, composed from log-softmax (the
    fused kernel has no weights). Row r's loss is (1 - eps) w[t] (-logp[r, t]) + eps / c
    sum_k w[k] (-logp[r, k]) for a class index t, -sum_k w[k] q[k] logp[r, k] for
    probabilities q (smoothed to (1 - eps) q + eps / c)."""
    n, c = rows.shape
    logp = LogSoftmax.apply(rows, 1)
    if isinstance(tgt, np.ndarray) and tgt.dtype.kind in "iu":
        return _nll(logp, tgt, w, reduction, eps, ignore)
    q = tgt * (1 - eps) + eps / c if eps else tgt
    return _mean_over(-(logp * q * w).sum(axis=1), rows.dtype.type(n), reduction)


def _nll(logp, idx, w, reduction, eps, ignore):
    """The weighted negative log-likelihood of (n, c) log-probabilities against flat class
    indices, plus cross-entropy's smoothing term eps / c sum_k w[k] (-logp[r, k])."""
    n, c = logp.shape
    keep = idx != ignore
    safe = np.where(keep, idx, 0)
    w_t = w[safe]
    loss = -logp[np.arange(n), safe] * w_t
    if eps:
        loss = (1 - eps) * loss + (-(logp * w).sum(axis=1)) * (eps / c)
    # select, never multiply by 0: with nothing counted the "mean" scale below is 1 / 0
    loss = Where.apply(keep, loss, 0.0)
    return _mean_over(loss, Where.apply(keep, w_t, 0.0).sum(), reduction)


def _mean_over(loss, count, reduction):
    """The reduced loss, "mean" dividing by `count` (a total weight, or a number of rows)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    with np.errstate(invalid="ignore", divide="ignore"):
        # nothing counted: 0 * (1 / 0) is NaN, as in torch, and the gradient stays 0
        return total * (1 / count)
