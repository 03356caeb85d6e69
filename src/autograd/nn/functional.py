"""`ag.nn.functional` (as F): activations, layers and losses as functions of tensors.

Ops with their own `Function` (cross-entropy, both binary cross-entropies, MSE, leaky ReLU,
ELU, softplus, conv and pooling, linear) live in `autograd.ops` and are re-exported here; the
rest are compositions of existing ops, so their gradients come from the engine.

>>> import autograd as ag
>>> import autograd.nn.functional as F
>>> F.l1_loss(ag.tensor([1.0, 2.0]), ag.tensor([0.0, 4.0])).item()
1.5
"""
from __future__ import annotations

import warnings
from typing import Iterable

import numpy as np

from ..creation import default_generator
from ..errors import DTypeError, ShapeError
from ..ops import (abs, log_softmax, relu, reshape, sigmoid, sign, softmax,  # noqa: A004
                   tanh, where)
from ..ops.activation import elu, leaky_relu, softplus
from ..ops.conv import avg_pool2d, conv2d, max_pool2d
from ..ops.linalg import linear
from ..ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                        mse_loss)
from ..ops._common import as_tensor
from ..tensor import Tensor

__all__ = [
    "relu", "sigmoid", "tanh", "sign", "softmax", "log_softmax", "leaky_relu", "elu", "softplus",
    "prelu", "linear", "dropout", "conv2d", "max_pool2d", "avg_pool2d", "mse_loss", "l1_loss",
    "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "nll_loss", "l1_penalty", "l2_penalty",
]

def _broadcasts(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _same_shape(input: Tensor, target: Tensor, op: str, strict: bool = True) -> None:  # noqa: A002
    if input.shape == target.shape:
        return
    if not strict and _broadcasts(input.shape, target.shape):
        # PyTorch broadcasts these losses with a warning; so do we.
        warnings.warn(f"{op}: target shape {target.shape} differs from input shape "
                      f"{input.shape}; they are broadcast, which is rarely what was meant",
                      UserWarning, stacklevel=3)
        return
    raise ShapeError(f"{op}: input and target must have the same shape, got input "
                     f"{input.shape} {input.dtype} and target {target.shape} {target.dtype}")


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
def l1_loss(input, target, reduction: str = "mean") -> Tensor:  # noqa: A002
    """|input - target|, reduced."""
    input, target = as_tensor(input), as_tensor(target)  # noqa: A001
    _same_shape(input, target, "l1_loss", strict=False)
    return _reduce(abs(input - target), reduction, "l1_loss")


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:  # noqa: A002
    """0.5 d^2 where |d| < delta, else delta (|d| - delta/2), with d = input - target."""
    input, target = as_tensor(input), as_tensor(target)  # noqa: A001
    _same_shape(input, target, "huber_loss", strict=False)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    d = input - target
    ad = abs(d)
    loss = where(ad.data < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    return _reduce(loss, reduction, "huber_loss")


def nll_loss(input, target, weight=None, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    """-input[n, target[n]] for log-probabilities input (N, C) or (N, C, d...); the mean divides
    by the summed weights of the targets that are not ignore_index, as PyTorch does."""
    input = as_tensor(input)  # noqa: A001
    target = np.asarray(getattr(target, "data", target))
    if target.dtype.kind not in "iu":
        raise DTypeError(f"nll_loss: target must hold integer class indices, got {target.dtype}")
    if input.ndim < 1 or input.ndim == 1 and target.ndim != 0 or input.ndim > 1 and (
            target.shape != input.shape[:1] + input.shape[2:]):
        raise ShapeError(f"nll_loss: input {input.shape} {input.dtype} and target "
                         f"{target.shape} {target.dtype} do not fit: target must be the input's "
                         f"shape without the class axis (1)")
    if input.ndim == 1:
        input, target = reshape(input, 1, -1), target.reshape(1)  # noqa: A001
    n_classes = input.shape[1]
    if input.ndim > 2:  # classes last, then one row per position
        input = input.permute(0, *range(2, input.ndim), 1).reshape(-1, n_classes)  # noqa: A001
    flat = target.reshape(-1)
    valid = flat != ignore_index
    bad = flat[valid & ((flat < 0) | (flat >= n_classes))]
    if bad.size:
        raise IndexError(f"nll_loss: target index {int(bad[0])} is out of range for "
                         f"{n_classes} classes (input {input.shape})")
    safe = np.where(valid, flat, 0)
    w = np.ones(n_classes, dtype=input.dtype) if weight is None else np.asarray(
        getattr(weight, "data", weight), dtype=input.dtype)
    row_w = np.where(valid, w[safe], 0).astype(input.dtype)
    picked = input[np.arange(flat.size), safe] * Tensor._make(row_w)
    loss = -picked
    if reduction == "none":
        return reshape(loss, target.shape)
    if reduction == "mean":
        return loss.sum() / row_w.sum()
    return _reduce(loss, reduction, "nll_loss")


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
