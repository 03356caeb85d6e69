"""Adadelta (torch.optim.Adadelta)."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, add_scaled, addcmul_, check_nonnegative, decayed_grad, scratch


class Adadelta(Optimizer):
    """s = rho s + (1 - rho) g^2; d = sqrt(u + eps) / sqrt(s + eps) * g;
    u = rho u + (1 - rho) d^2; p -= lr * d."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        check_nonnegative("Adadelta", eps=group["eps"], weight_decay=group["weight_decay"])
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Adadelta: invalid rho value {group['rho']}")

    def _update(self, param, grad, state, group) -> None:
        rho, eps = group["rho"], group["eps"]
        if group["maximize"]:
            grad = np.negative(grad)
        if "square_avg" not in state:
            state["step"] = 0.0
            state["square_avg"] = np.zeros_like(param)
            state["acc_delta"] = np.zeros_like(param)
        state["step"] += 1
        grad = decayed_grad(param, grad, group["weight_decay"], state)
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        tmp = scratch(state, "_tmp", param)
        std = scratch(state, "_std", param)
        delta = scratch(state, "_delta", param)
        np.multiply(square_avg, rho, out=square_avg)
        addcmul_(square_avg, 1 - rho, grad, grad, tmp)
        np.add(square_avg, eps, out=std)
        np.sqrt(std, out=std)
        np.add(acc_delta, eps, out=delta)
        np.sqrt(delta, out=delta)
        np.divide(delta, std, out=delta)
        np.multiply(delta, grad, out=delta)
        np.multiply(acc_delta, rho, out=acc_delta)
        addcmul_(acc_delta, 1 - rho, delta, delta, tmp)
        add_scaled(param, param, -group["lr"], delta, tmp)
