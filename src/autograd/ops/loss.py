"""Losses of elementwise targets: binary cross-entropy (of probabilities and of logits), mean
squared error; and what every loss shares: the reduction, torch's deprecated size_average /
reduce, elementwise weights. The class-target losses are in class_loss.py.

PyTorch's semantics and arguments in PyTorch's order (`reduction` "mean" | "sum" | "none", the
deprecated `size_average` / `reduce` mapped onto it with a warning, `weight`, `pos_weight`).
Each is one `Function`; all but binary_cross_entropy (of probabilities) run a fused backend
kernel; with create_graph the backward is written with tensor ops instead, so gradients of
gradients work. binary_cross_entropy_with_logits with weights is composed from softplus
instead, as the kernel has no weights. "mean" divides by the number of elements.
"""
import math
import warnings

import numpy as np

from .. import backend as _backend
from ..errors import DTypeError, ShapeError
from ..function import Function
from ..tensor import Tensor
from ._common import as_tensor, binary_operands, raw
from .activation import Softplus
from .elementwise import Log, Sigmoid, Where

REDUCTIONS = ("none", "mean", "sum")


def _scale(g, reduction, count, shape):
    """The upstream gradient as a factor broadcastable to the per-row (or element) losses."""
    if reduction == "none":
        return g.reshape(shape)
    return g / count if reduction == "mean" else g


def _reduction(op: str, reduction: str, size_average=None, reduce=None,
               stacklevel: int = 3) -> str:
    """The checked reduction; torch's deprecated size_average / reduce pair decides it when
    either is given, with a warning as in torch, pointing `stacklevel` frames up: at the user's
    line (from a loss function, the default; a loss module's constructor sits deeper)."""
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
                      f"reduction={reduction!r} instead", UserWarning, stacklevel=stacklevel)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {', '.join(REDUCTIONS)}, "
                         f"got {reduction!r}")
    return reduction


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


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities `input` against `target` in [0, 1], with PyTorch's
    arguments in PyTorch's order; `weight` rescales each element (it broadcasts to the input's
    shape) and "mean" divides by the number of elements. Gradients are torch's: the one
    for the input is (p - y) / max((1 - p) p, 1e-12), finite at 0 and 1; the one for the target
    is -logit(p), infinite there.

    >>> import autograd as ag
    >>> F = ag.nn.functional
    >>> round(F.binary_cross_entropy(ag.tensor([0.5]), ag.tensor([1.0])).item(), 6)
    0.693147
    """
    reduction = _reduction("binary_cross_entropy", reduction, size_average, reduce)
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


def _broadcast_shape(a: tuple, b: tuple):
    """The shape a and b broadcast to, or None when they do not."""
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        return None


def _broadcasts_to(shape, target) -> bool:
    return _broadcast_shape(shape, target) == target


def _broadcast_target(op: str, x: Tensor, t: Tensor) -> None:
    """A target of another shape than the input's broadcasts, as in torch, and with torch's
    warning: it is rarely meant, as (N, 1) predictions against (N,) targets give an (N, N)
    loss whose mean is silently wrong."""
    if x.shape == t.shape:
        return
    if _broadcast_shape(x.shape, t.shape) is None:
        raise ShapeError(f"{op}: input {x.shape} {x.dtype} and target {t.shape} {t.dtype} "
                         "do not broadcast")
    warnings.warn(f"{op}: using a target size {t.shape} that is different to the input size "
                  f"{x.shape}. This will likely lead to incorrect results due to broadcasting. "
                  "Please ensure they have the same size.", UserWarning, stacklevel=3)


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


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
             weight=None) -> Tensor:
    """The squared error (input - target)^2, reduced, with PyTorch's arguments in PyTorch's
    order; a target of another shape broadcasts, with a warning, as in PyTorch. `weight` (the
    input's shape) rescales each element and makes "mean" divide by the weights' sum, as torch
    does.

    >>> import autograd as ag
    >>> ag.mse_loss(ag.tensor([1.0, 3.0]), ag.tensor([0.0, 0.0])).item()
    5.0
    >>> ag.mse_loss(ag.tensor([1.0, 3.0]), ag.tensor([0.0, 0.0]), weight=[3.0, 1.0]).item()
    3.0
    """
    reduction = _reduction("mse_loss", reduction, size_average, reduce)
    x, t = binary_operands(as_tensor(input), as_tensor(target))
    _broadcast_target("mse_loss", x, t)
    if weight is None:
        return MSELoss.apply(x, t, reduction)
    d = x - t  # the fused kernel has no weights
    return _weighted("mse_loss", d * d, weight, x, reduction, mean_by_weights=True)


def _weighted(op: str, loss: Tensor, weight, x: Tensor, reduction: str,
              mean_by_weights: bool) -> Tensor:
    """An elementwise loss rescaled by torch's optional per-element `weight` (the input's shape),
    then reduced; "mean" divides by the weights' sum for mse and l1, as torch does (huber: by
    the number of elements)."""
    w = _elementwise_weight(op, "weight", weight, x, exact=True)
    if w is not None:
        loss = loss * w
        if reduction == "mean" and mean_by_weights and loss.numel():  # empty: _reduce's NaN
            return loss.sum() / w.sum()
    return _reduce(loss, reduction)
