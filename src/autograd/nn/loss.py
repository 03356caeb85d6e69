"""Loss modules: torch.nn's MSELoss, L1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss,
CrossEntropyLoss and NLLLoss, with torch's constructor arguments.

A loss module only keeps its arguments; `forward` calls the loss function of `functional`,
where the maths and its gradient are defined once. `weight` and `pos_weight` are buffers, as in
torch, so they follow `Module.to` and are saved in `state_dict`.

>>> import autograd as ag
>>> loss_fn = ag.nn.CrossEntropyLoss(weight=ag.tensor([1.0, 3.0]))
>>> round(loss_fn(ag.tensor([[0.0, 0.0]]), ag.tensor([1])).item(), 6)
0.693147
>>> list(loss_fn.state_dict())
['weight']
"""
from __future__ import annotations

from typing import Optional

from ..ops.loss import _reduction
from ..tensor import Tensor
from . import functional as F
from .module import Module


class _Loss(Module):
    """The reduction of every loss module, and its optional weight buffers."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 **buffers: Optional[Tensor]) -> None:
        super().__init__()
        # frames up: _reduction, this __init__, the loss module's __init__, then the user's line
        self.reduction = _reduction(type(self).__name__, reduction, size_average, reduce,
                                    stacklevel=4)
        for name, value in buffers.items():
            self.register_buffer(name, value)


class MSELoss(_Loss):
    """The mean (or sum) of squared errors: `F.mse_loss`."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """The mean (or sum) of absolute errors: `F.l1_loss`."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """Squared error below `delta`, absolute error above (robust to outliers): `F.huber_loss`."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        if not isinstance(delta, (float, int)):  # as torch; its sign is F.huber_loss's check
            raise TypeError(f"HuberLoss: delta must be a float or int, got "
                            f"{type(delta).__name__} {delta!r}")
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities: `F.binary_cross_entropy`."""

    def __init__(self, weight: Optional[Tensor] = None, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction, weight=weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, finite for any logit:
    `F.binary_cross_entropy_with_logits`."""

    def __init__(self, weight: Optional[Tensor] = None, size_average=None, reduce=None,
                 reduction: str = "mean", pos_weight: Optional[Tensor] = None) -> None:
        super().__init__(size_average, reduce, reduction, weight=weight, pos_weight=pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against class indices or probabilities:
    `F.cross_entropy`."""

    def __init__(self, weight: Optional[Tensor] = None, size_average=None,
                 ignore_index: int = -100, reduce=None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(size_average, reduce, reduction, weight=weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities against class indices: `F.nll_loss`."""

    def __init__(self, weight: Optional[Tensor] = None, size_average=None,
                 ignore_index: int = -100, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction, weight=weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)
