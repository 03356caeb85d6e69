"""`ag.nn.functional` (as F): activations, layers and losses as functions of tensors.

Ops with their own `Function` (cross-entropy, both binary cross-entropies, MSE, leaky ReLU,
ELU, softplus, conv and pooling, linear) live in `autograd.ops` and are re-exported here, and so
does nll_loss, which shares cross-entropy's class-index handling; the rest are compositions of
existing ops, so their gradients come from the engine.

>>> import autograd as ag
>>> import autograd.nn.functional as F
>>> F.l1_loss(ag.tensor([1.0, 2.0]), ag.tensor([0.0, 4.0])).item()
1.5
"""
from __future__ import annotations

from typing import Iterable

from ..creation import default_generator
from ..errors import ShapeError
from ..ops import (abs, log_softmax, relu, reshape, sigmoid, sign, softmax,  # noqa: A004
                   tanh, where)
from ..ops.activation import elu, leaky_relu, softplus
from ..ops.conv import avg_pool2d, conv2d, max_pool2d
from ..ops.linalg import linear
from ..ops.class_loss import cross_entropy, nll_loss
from ..ops.loss import (_broadcast_target, _reduction, _weighted, binary_cross_entropy,
                        binary_cross_entropy_with_logits, mse_loss)
from ..ops._common import as_tensor
from ..tensor import Tensor

__all__ = [
    "relu", "sigmoid", "tanh", "sign", "softmax", "log_softmax", "leaky_relu", "elu", "softplus",
    "prelu", "linear", "dropout", "conv2d", "max_pool2d", "avg_pool2d", "mse_loss", "l1_loss",
    "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "nll_loss", "l1_penalty", "l2_penalty",
]


# ---- activations and layers --------------------------------------------------------------
def prelu(x, weight) -> Tensor:
    """max(0, x) + weight * min(0, x), with one slope per channel (axis 1) or one shared."""
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 1 or (weight.shape[0] != 1 and (x.ndim < 2 or x.shape[1] != weight.shape[0])):
        if x.ndim < 2:  # as torch: a 0-d or 1-d input has no channel axis, so one shared slope
            fits = f"a {x.ndim}-d input has no channel axis, so weight must have shape (1,)"
        else:
            fits = (f"weight must have shape (1,) (one shared slope) or ({x.shape[1]},) (one "
                    f"per channel, the input's axis 1)")
        raise ShapeError(f"prelu: weight of shape {weight.shape} {weight.dtype} does not fit "
                         f"input of shape {x.shape} {x.dtype}: {fits}")
    if weight.shape[0] != 1:
        weight = reshape(weight, (-1,) + (1,) * (x.ndim - 2))
    return where(x.data > 0, x, weight * x)


def dropout(x, p: float = 0.5, training: bool = True, generator=None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout),
    so nothing changes at evaluation. The mask comes from the seeded generator."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    rng = generator if generator is not None else default_generator()
    keep = rng.random(x.shape) >= p
    mask = (keep / (1.0 - p)).astype(x.dtype)
    return x * Tensor._make(mask)


# ---- losses -------------------------------------------------------------------------------
def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",  # noqa: A002
            weight=None) -> Tensor:
    """|input - target|, reduced, with PyTorch's arguments in PyTorch's order; `weight` (the
    input's shape) rescales each element and makes "mean" divide by the weights' sum, as torch.

    >>> import autograd as ag
    >>> x, y = ag.tensor([1.0, 2.0]), ag.tensor([0.0, 4.0])
    >>> ag.nn.functional.l1_loss(x, y, weight=ag.tensor([3.0, 1.0])).item()  # (3 + 2) / 4
    1.25
    """
    reduction = _reduction("l1_loss", reduction, size_average, reduce)
    input, target = as_tensor(input), as_tensor(target)  # noqa: A001
    _broadcast_target("l1_loss", input, target)
    return _weighted("l1_loss", abs(input - target), weight, input, reduction, True)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0,  # noqa: A002
               weight=None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - delta/2), with d = input - target, reduced;
    `weight` (the input's shape) rescales each element, and "mean" still divides by the number
    of elements (as torch, unlike mse_loss and l1_loss)."""
    reduction = _reduction("huber_loss", reduction)
    input, target = as_tensor(input), as_tensor(target)  # noqa: A001
    _broadcast_target("huber_loss", input, target)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    d = input - target
    ad = abs(d)
    loss = where(ad.data < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    return _weighted("huber_loss", loss, weight, input, reduction, mean_by_weights=False)


# ---- penalties ----------------------------------------------------------------------------
def l1_penalty(params: Iterable) -> Tensor:
    """The sum of |w| over all parameters (multiply by lambda and add to the loss)."""
    terms = [abs(p).sum() for p in params]
    return _total(terms, "l1_penalty")


def l2_penalty(params: Iterable) -> Tensor:
    """The sum of w^2 over all parameters (multiply by lambda and add to the loss)."""
    terms = [(p * p).sum() for p in params]
    return _total(terms, "l2_penalty")


def _total(terms: list, op: str) -> Tensor:
    if not terms:
        raise ValueError(f"{op}: no parameters given")
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total
