"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW), with AMSGrad."""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from .optimizer import Optimizer, check_nonnegative, decayed_grad


class Adam(Optimizer):
    """m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2;
    p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    weight_decay adds weight_decay * p to g (L2); AdamW decays p itself instead."""

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        name = type(self).__name__
        check_nonnegative(name, eps=group["eps"], weight_decay=group["weight_decay"])
        for i, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {beta}")

    def _update(self, param, grad, state, group) -> None:
        beta1, beta2 = group["betas"]
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        if group["maximize"]:
            grad = np.negative(grad)
        if "exp_avg" not in state:
            state["step"] = 0.0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        step = state["step"]
        if self._decoupled:
            np.multiply(param, 1 - lr * wd, out=param)
        else:
            grad = decayed_grad(param, grad, wd, state)
        _backend.active.adam_step(
            param, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
            1 - beta1, beta2, -(lr / (1 - beta1 ** step)), (1 - beta2 ** step) ** 0.5, eps)


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
