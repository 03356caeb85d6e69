"""Adagrad with learning-rate decay (torch.optim.Adagrad)."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, addcdiv_, addcmul_, check_nonnegative, decayed_grad, scratch


class Adagrad(Optimizer):
    """s += g^2; p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))
        # torch creates the accumulators at construction, so they show in state_dict at once.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state.setdefault(p, {}), p.shape, p.dtype, group)

    @staticmethod
    def _init_state(state: dict, shape, dtype, group: dict) -> None:
        if "sum" not in state:
            state["step"] = 0.0
            state["sum"] = np.full(shape, group["initial_accumulator_value"], dtype=dtype)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        check_nonnegative("Adagrad", lr_decay=group["lr_decay"], eps=group["eps"],
                          weight_decay=group["weight_decay"],
                          initial_accumulator_value=group["initial_accumulator_value"])

    def _update(self, param, grad, state, group) -> None:
        if group["maximize"]:
            grad = np.negative(grad)
        self._init_state(state, param.shape, param.dtype, group)  # groups added after __init__
        state["step"] += 1
        grad = decayed_grad(param, grad, group["weight_decay"], state)
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        tmp = scratch(state, "_tmp", param)
        total = state["sum"]
        addcmul_(total, 1, grad, grad, tmp)
        std = scratch(state, "_std", param)
        np.sqrt(total, out=std)
        np.add(std, group["eps"], out=std)
        addcdiv_(param, -clr, grad, std, tmp)
