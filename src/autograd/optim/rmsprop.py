"""RMSprop with momentum and the centered variant (torch.optim.RMSprop)."""
from __future__ import annotations

import numpy as np

from .optimizer import (Optimizer, add_scaled, addcdiv_, addcmul_, check_nonnegative, decayed_grad,
                        lerp_, scratch)


class RMSprop(Optimizer):
    """s = alpha s + (1 - alpha) g^2; d = sqrt(s) + eps (centered: sqrt(s - mean(g)^2) + eps);
    p -= lr * g / d, or with momentum b = momentum b + g / d and p -= lr * b."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        check_nonnegative("RMSprop", alpha=group["alpha"], eps=group["eps"],
                          weight_decay=group["weight_decay"], momentum=group["momentum"])

    def _update(self, param, grad, state, group) -> None:
        alpha, eps, lr, momentum = group["alpha"], group["eps"], group["lr"], group["momentum"]
        if group["maximize"]:
            grad = np.negative(grad)
        if "square_avg" not in state:
            state["step"] = 0.0
            state["square_avg"] = np.zeros_like(param)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param)
        state["step"] += 1
        grad = decayed_grad(param, grad, group["weight_decay"], state)
        tmp = scratch(state, "_tmp", param)
        avg = scratch(state, "_avg", param)
        square_avg = state["square_avg"]
        np.multiply(square_avg, alpha, out=square_avg)
        addcmul_(square_avg, 1 - alpha, grad, grad, tmp)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            lerp_(grad_avg, grad, 1 - alpha, tmp)
            np.copyto(avg, square_avg)
            addcmul_(avg, -1, grad_avg, grad_avg, tmp)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(square_avg, out=avg)
        np.add(avg, eps, out=avg)
        if momentum > 0:
            buf = state["momentum_buffer"]
            np.multiply(buf, momentum, out=buf)
            addcdiv_(buf, 1, grad, avg, tmp)
            add_scaled(param, param, -lr, buf, tmp)
        else:
            addcdiv_(param, -lr, grad, avg, tmp)
