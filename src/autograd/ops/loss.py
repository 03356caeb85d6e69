"""Losses: fused softmax cross-entropy, negative log-likelihood, binary cross-entropy (of
probabilities and of logits), mean squared error.

PyTorch's semantics and arguments in PyTorch's order (`reduction` "mean" | "sum" | "none", the
deprecated `size_average` / `reduce` mapped onto it with a warning, `label_smoothing`,
`ignore_index` for class targets, `weight`). Each is one `Function`; all but
binary_cross_entropy (of probabilities) run a fused backend kernel: the forward never
materialises the softmax or log-probabilities, the backward recomputes what it needs in one
pass. With create_graph the backward is written with tensor ops instead, so gradients of
gradients work. Cross-entropy with class weights is composed from log-softmax instead, as the
kernel has no weights, and nll_loss is that composition's second half.

`cross_entropy` takes logits (N, C), (C,) or (N, C, d1, ...) and either class indices (an
integer tensor of the shape without C; each in [0, C) or `ignore_index`) or class
probabilities (the logits' shape); `nll_loss` takes log-probabilities and class indices.

| reduction "mean"      | divides by                                                  |
| --------------------- | ----------------------------------------------------------- |
| class targets, nll    | the number of targets that are not ignore_index (all: NaN); |
|                       | with `weight`, the sum of those targets' class weights      |
| probability targets   | the number of rows (N times d1 ...)                         |
| bce, mse              | the number of elements                                      |
"""
import math
import warnings

import numpy as np

from .. import backend as _backend
from ..errors import AutogradError, DTypeError, ShapeError
from ..function import Function
from ..tensor import Tensor
from ._common import as_tensor, binary_operands, raw
from .activation import Softplus
from .elementwise import Exp, Log, Sigmoid, Where
from .nn import LogSoftmax

REDUCTIONS = ("none", "mean", "sum")


class TargetIndexError(AutogradError, IndexError):
    """A class index outside [0, classes) that is not ignore_index."""


def _scale(g, reduction, count, shape):
    """The upstream gradient as a factor broadcastable to the per-row (or element) losses."""
    if reduction == "none":
        return g.reshape(shape)
    return g / count if reduction == "mean" else g


class CrossEntropy(Function):
    """Softmax cross-entropy over the rows of (n, c) logits; target (n,) ints or (n, c) floats."""

    @staticmethod
    def forward(ctx, logits, target, reduction, label_smoothing, ignore_index):
        loss, saved = _backend.active.softmax_cross_entropy(logits, target, reduction,
                                                            label_smoothing, ignore_index)
        ctx.save_for_backward(logits, target)
        ctx.kernel_saved = saved
        return loss

    @staticmethod
    def backward(ctx, g):
        x, target = ctx.saved_tensors
        _, _, stats, reduction, eps, ignore, count = ctx.kernel_saved
        need_x, need_t = ctx.needs_input_grad[:2]
        n, c = np.shape(raw(x))
        if isinstance(g, Tensor):
            return _cross_entropy_graph(x, target, g, ctx.kernel_saved, need_t) + (None,) * 3
        gx = _backend.active.softmax_cross_entropy_backward(g, ctx.kernel_saved) if need_x else None
        gt = None
        if need_t:  # probabilities: d loss / d p = -(1 - eps) scale log_softmax(x)
            s = np.asarray(_scale(np.asarray(g), reduction, count, (n, 1)), dtype=stats.dtype)
            gt = -(1 - eps) * s * ((np.asarray(x) - stats[:, :1]) - stats[:, 1:])
        return gx, gt, None, None, None


def _cross_entropy_graph(x, target, g, saved, need_t):
    """The backward of CrossEntropy with tensor ops (create_graph)."""
    _, _, _, reduction, eps, ignore, count = saved
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


def _reduction(op: str, reduction: str, size_average=None, reduce=None) -> str:
    """The checked reduction; torch's deprecated size_average / reduce pair decides it when
    either is given, with a warning as in torch."""
    if size_average is not None or reduce is not None:
        for name, flag in (("size_average", size_average), ("reduce", reduce)):
            # anything else is likely an argument in our former order (a reduction string,
            # an ignore_index): refuse it rather than silently pick another reduction
            if flag is not None and not (isinstance(flag, (bool, np.bool_, int, np.integer))
                                         and flag in (0, 1)):
                raise TypeError(f"{op}: {name} must be True, False or None, got {flag!r} "
                                f"(PyTorch's argument order; pass reduction by keyword)")
        reduce = True if reduce is None else reduce
        size_average = True if size_average is None else size_average
        reduction = ("mean" if size_average else "sum") if reduce else "none"
        warnings.warn(f"{op}: size_average and reduce are deprecated (as in PyTorch); use "
                      f"reduction={reduction!r} instead", UserWarning, stacklevel=3)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {', '.join(REDUCTIONS)}, "
                         f"got {reduction!r}")
    return reduction


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
                   ignore_index: int) -> np.ndarray:
    """The class-index target, flat, checked against the input's batch shape and classes."""
    if t.shape != batch:
        raise ShapeError(f"{op}: class-index target of shape {t.shape} does not fit "
                         f"input {x.shape} {x.dtype}: expected shape {batch}")
    idx = np.asarray(raw(t), dtype=np.int64).reshape(-1)
    bad = (idx < 0) | (idx >= c)
    bad &= idx != ignore_index
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise TargetIndexError(
            f"{op}: target index {int(idx[k])} (at position {k}) is out of range "
            f"for {c} classes; input {x.shape} {x.dtype}, target {t.shape} {t.dtype}; expected "
            f"0 <= index < {c} or ignore_index={ignore_index}")
    return idx


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
    if t.dtype.kind in "iub":
        tgt = _class_indices("cross_entropy", t, x, c, batch, ignore_index)
    else:
        if t.shape != x.shape:
            raise ShapeError(f"cross_entropy: probability target of shape {t.shape} must have the "
                             f"input's shape {x.shape} ({x.dtype})")
        tgt = _class_rows(t.astype(x.dtype))
        if not tgt.requires_grad:
            tgt = tgt.data
    if weight is None:
        out = CrossEntropy.apply(rows, tgt, reduction, float(label_smoothing), int(ignore_index))
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


class BCEWithLogits(Function):
    @staticmethod
    def forward(ctx, x, target, reduction):
        ctx.save_for_backward(x, target)
        ctx.reduction = reduction
        return _backend.active.bce_with_logits(x, target, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        if isinstance(g, Tensor):
            s = _scale(g, ctx.reduction, np.size(raw(x)), np.shape(raw(x)))
            gx = s * (Sigmoid.apply(x) - t)
            return gx, -s * x, None
        gx, gt = _backend.active.bce_with_logits_backward(g, x, t, ctx.reduction)
        return gx, gt, None


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """Binary cross-entropy of sigmoid(input) against target in [0, 1], finite for any logit,
    with PyTorch's arguments in PyTorch's order: elementwise
    -weight (pos_weight y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), then reduced. `weight`
    broadcasts to the input's shape; so does `pos_weight`, usually one value per class along the
    last axis.

    >>> import autograd as ag
    >>> round(ag.binary_cross_entropy_with_logits(ag.tensor([0.0]), ag.tensor([1.0])).item(), 6)
    0.693147
    >>> round(ag.binary_cross_entropy_with_logits(ag.tensor([0.0]), ag.tensor([1.0]),
    ...                                           pos_weight=ag.tensor([3.0])).item(), 6)
    2.079442
    """
    op = "binary_cross_entropy_with_logits"
    reduction = _reduction(op, reduction, size_average, reduce)
    x, t = binary_operands(as_tensor(input), as_tensor(target))
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: the input must be floating point, got {x.shape} {x.dtype}")
    if x.shape != t.shape:
        raise ShapeError(f"{op}: target {t.shape} {t.dtype} must have the input's shape "
                         f"{x.shape} {x.dtype}")
    if weight is None and pos_weight is None:
        return BCEWithLogits.apply(x, t, reduction)
    # the fused kernel has no weights: torch's formula (1 - y) x - (1 + (pw - 1) y) log sigmoid(x)
    # from differentiable ops, with -log sigmoid(x) = softplus(-x) computed as
    # max(-x, 0) + log1p(e^-|x|) (no threshold: exact for every x, finite at +-1e4)
    w = _elementwise_weight(op, "weight", weight, x)
    pw = _elementwise_weight(op, "pos_weight", pos_weight, x)
    minus_log_sigmoid = Softplus.apply(-x, 1.0, math.inf)
    log_weight = 1 if pw is None else 1 + (pw - 1) * t
    loss = (1 - t) * x + log_weight * minus_log_sigmoid
    return _reduce(loss if w is None else loss * w, reduction)


def _elementwise_weight(op: str, name: str, weight, x: Tensor, exact: bool = False):
    """`weight` as a tensor of the input's dtype that broadcasts to (with `exact`: has) the
    input's shape; None stays None."""
    if weight is None:
        return None
    if isinstance(weight, str):
        raise TypeError(f"{op}: {name} must be a tensor or None, got {weight!r} (PyTorch's "
                        f"argument order; pass reduction by keyword)")
    w = as_tensor(weight)
    if w.shape != x.shape and (exact or not _broadcasts_to(w.shape, x.shape)):
        fits = "have" if exact else "broadcast to"
        raise ShapeError(f"{op}: {name} {w.shape} {w.dtype} must {fits} the input's shape "
                         f"{x.shape} {x.dtype}")
    return w if w.dtype == x.dtype else w.astype(x.dtype)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if loss.numel() == 0:  # torch's NaN, without numpy's warnings about 0 / 0
        return loss.sum() * math.nan
    return loss.mean()


# torch's EPSILON in the BCE backward is a C float: 1e-12 rounded to float32, whatever the dtype.
_BCE_EPS = float(np.float32(1e-12))


class BinaryCrossEntropy(Function):
    """-w (y log p + (1 - y) log(1 - p)) elementwise, then reduced, with torch's clamps: each log
    is at least -100, so p = 0 or 1 gives a finite loss."""

    _guard_zero_grad = True  # d/dy = -logit(p) is infinite at p = 0 and p = 1

    @staticmethod
    def forward(ctx, p, y, weight, reduction):
        ctx.save_for_backward(p, y, weight)
        ctx.reduction = reduction
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped just below
            loss = ((y - 1) * np.maximum(np.log1p(-p), -100.0)
                    - y * np.maximum(np.log(p), -100.0))
        if weight is not None:
            loss = loss * weight
        loss = np.asarray(loss, dtype=p.dtype)
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "sum":
            return total
        with np.errstate(invalid="ignore"):  # an empty input's mean is NaN, as in torch
            return p.dtype.type(total / p.dtype.type(loss.size))

    @staticmethod
    def backward(ctx, g):
        p, y, weight = ctx.saved_tensors
        need_p, need_y, need_w = ctx.needs_input_grad[:3]
        scale = g / np.size(raw(p)) if ctx.reduction == "mean" else g
        gp = gy = gw = None
        # NOTE: as torch, (p - y) / max((1 - p) p, eps) rather than the exact (p - y) / ((1 - p) p):
        # finite (about +-1e12) at p = 0 and p = 1, where the clamped forward is flat.
        if need_p:
            rp = raw(p)
            tiny = (1 - rp) * rp < _BCE_EPS
            gp = scale * (p - y) / Where.apply(tiny, _BCE_EPS, (1 - p) * p)
        with np.errstate(divide="ignore"):  # -logit(p): +inf at p = 0, -inf at p = 1, as torch
            if need_y:
                gy = -scale * Log.apply(p / (1 - p))
            if need_w:  # torch refuses a weight that requires grad; its gradient is the loss
                gw = scale * BinaryCrossEntropy.apply(p, y, None, "none")
        if weight is not None:
            gp = None if gp is None else gp * weight
            gy = None if gy is None else gy * weight
        return gp, gy, gw, None


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities `input` against `target` in [0, 1]; `weight`
    rescales each element (it broadcasts to the input's shape). Gradients are torch's: the one
    for the input is (p - y) / max((1 - p) p, 1e-12), finite at 0 and 1; the one for the target
    is -logit(p), infinite there.

    >>> import autograd as ag
    >>> F = ag.nn.functional
    >>> round(F.binary_cross_entropy(ag.tensor([0.5]), ag.tensor([1.0])).item(), 6)
    0.693147
    """
    reduction = _reduction("binary_cross_entropy", reduction)
    x, t = as_tensor(input), as_tensor(target)
    if x.dtype.kind != "f":
        raise DTypeError(f"binary_cross_entropy: the input must be floating point, got {x.dtype}")
    if x.shape != t.shape:
        raise ShapeError(f"binary_cross_entropy: input and target must have the same shape, got "
                         f"input {x.shape} {x.dtype} and target {t.shape} {t.dtype}")
    data = np.asarray(x.data)
    if data.size and (np.nanmin(data) < 0 or np.nanmax(data) > 1):
        raise ValueError("binary_cross_entropy: input values must be probabilities in [0, 1]; "
                         "use binary_cross_entropy_with_logits for logits")
    if t.dtype != x.dtype:
        t = t.astype(x.dtype)
    weight = _elementwise_weight("binary_cross_entropy", "weight", weight, x)
    return BinaryCrossEntropy.apply(x, t, weight, reduction)


def _broadcasts_to(shape, target) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


class MSELoss(Function):
    @staticmethod
    def forward(ctx, x, target, reduction):
        ctx.save_for_backward(x, target)  # the inputs themselves, so create_graph sees them
        ctx.reduction = reduction
        return _backend.active.mse(*np.broadcast_arrays(x, target), reduction)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        shape = np.broadcast_shapes(np.shape(raw(x)), np.shape(raw(t)))
        if isinstance(g, Tensor):
            s = _scale(g, ctx.reduction, int(np.prod(shape)), shape)
            gx = 2 * s * (x - t)
            return gx, -gx, None
        # gradients in the broadcast shape: the engine sums them back to each input's shape
        gx, gt = _backend.active.mse_backward(g, *np.broadcast_arrays(x, t), ctx.reduction)
        return gx, gt, None


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """The squared error (input - target)^2, reduced; the two broadcast as in PyTorch.

    >>> import autograd as ag
    >>> ag.mse_loss(ag.tensor([1.0, 3.0]), ag.tensor([0.0, 0.0])).item()
    5.0
    """
    reduction = _reduction("mse_loss", reduction)
    x, t = binary_operands(as_tensor(input), as_tensor(target))
    try:
        np.broadcast_shapes(x.shape, t.shape)
    except ValueError:
        raise ShapeError(f"mse_loss: input {x.shape} {x.dtype} and target {t.shape} {t.dtype} "
                         "do not broadcast") from None
    return MSELoss.apply(x, t, reduction)
