"""SGD with momentum, dampening, Nesterov momentum and weight decay (torch.optim.SGD)."""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from .optimizer import Optimizer, check_nonnegative


class SGD(Optimizer):
    """v = momentum * v + (1 - dampening) * g (v = g on the first step); p -= lr * v, or with
    nesterov p -= lr * (g + momentum * v).

    >>> import autograd as ag
    >>> w = ag.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = ag.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0.8, 1.6], requires_grad=True)
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        check_nonnegative("SGD", momentum=group["momentum"], weight_decay=group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")

    def _update(self, param, grad, state, group) -> None:
        momentum = group["momentum"]
        buf, first = None, False
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # the first step: the buffer starts as the gradient (torch's clone)
                buf = state["momentum_buffer"] = np.empty_like(param)
                first = True
        _backend.active.sgd_step(param, grad, buf, group["lr"], momentum, group["dampening"],
                                 group["weight_decay"], group["nesterov"], group["maximize"],
                                 first)
