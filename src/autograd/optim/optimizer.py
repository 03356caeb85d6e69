"""`Optimizer`: parameter groups, state, zero_grad and state dicts; subclasses write `_update`.

Updates follow torch.optim's single-tensor algorithms operation for operation, in place in the
parameter's own array, and build no graph. SGD and Adam run one C pass per parameter, which
allocates nothing; the others are numpy ufuncs with `out=`, whose temporaries live in
per-parameter scratch arrays after the first step.
"""
from __future__ import annotations

import copy
from typing import Callable, Optional

import numpy as np

from .. import backend as _backend
from ..backend._numpy import addcdiv_, addcmul_, lerp_  # noqa: F401  (the optimizers' in-place steps)
from ..errors import DTypeError, GraphError
from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor


class Optimizer:
    """Base class: `param_groups` is a list of dicts, each with its "params" and its settings
    (a group's own value wins over the optimizer's default)."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}
        self.param_groups: list = []
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        name = type(self).__name__
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameters must be Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise GraphError(f"{name}: can't optimize a non-leaf tensor of shape {p.shape}")
            if p.dtype.kind != "f":
                raise DTypeError(f"{name}: parameters must be floating point, got {p.dtype}")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in group["params"]]
        if len(set(ids)) != len(ids) or existing.intersection(ids):
            raise ValueError(f"{name}: a parameter appears twice (in one group or in two)")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate a group's settings (subclasses raise ValueError naming the setting)."""
        if group["lr"] < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {group['lr']}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif isinstance(p.grad.data, np.ndarray):  # in place, as torch: no new memory,
                    p.grad.data.fill(0)                    # and whoever holds .grad sees zeros
                else:  # a 0-d gradient held as a numpy scalar, which is immutable
                    p.grad.data = p.grad.data.dtype.type(0)

    @no_grad()
    def step(self, closure: Optional[Callable] = None):
        """One update of every parameter that has a gradient; returns closure()'s loss if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                param = _array_of(p)
                grad = p.grad.data
                if type(grad) is not np.ndarray:  # a 0-d gradient held as a numpy scalar
                    grad = np.asarray(grad)
                if grad.shape != param.shape:
                    raise ValueError(f"{type(self).__name__}: gradient of shape {grad.shape} for "
                                     f"a parameter of shape {param.shape}")
                if grad.dtype is not param.dtype:
                    grad = grad.astype(param.dtype, copy=False)
                self._update(param, grad, self.state.setdefault(p, {}), group)
                p._mark_modified()
        return loss

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    # ---- state dicts: positions instead of tensors, as torch.optim does ----------------------
    def state_dict(self) -> dict:
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _copy(v) for k, v in self.state[p].items()
                                           if not k.startswith("_")}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        name = type(self).__name__
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: {len(groups)} parameter groups in the "
                             f"state dict, {len(self.param_groups)} in the optimizer")
        params = {}
        for saved, own in zip(groups, self.param_groups):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(f"{name}.load_state_dict: a group with {len(saved['params'])} "
                                 f"parameters does not fit one with {len(own['params'])}")
            for i, p in zip(saved["params"], own["params"]):
                params[int(i)] = p
        self.state = {}
        for key, values in state_dict["state"].items():
            p = params[int(key)]
            entry = {}
            for k, v in values.items():
                v = _copy(v)
                if isinstance(v, np.ndarray) and v.shape != p.shape and v.ndim:
                    raise ValueError(f"{name}.load_state_dict: state {k!r} of shape {v.shape} for "
                                     f"a parameter of shape {p.shape}")
                if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.shape == p.shape:
                    v = v.astype(p.dtype)
                entry[k] = v
            self.state[p] = entry
        for saved, own in zip(groups, self.param_groups):
            own.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _array_of(p: Tensor) -> np.ndarray:
    # A 0-d tensor holds a numpy scalar, which cannot be written in place: give it an array.
    if type(p.data) is not np.ndarray:
        p.data = np.array(p.data)
    return p.data


def _copy(v):
    if isinstance(v, Tensor):
        return np.array(v.data)
    if isinstance(v, np.ndarray):
        return v.copy()
    return copy.deepcopy(v)


def scratch(state: dict, name: str, like: np.ndarray) -> np.ndarray:
    """A per-parameter temporary, allocated once (not saved in state dicts)."""
    buf = state.get(name)
    if buf is None:
        buf = state[name] = np.empty_like(like)
    return buf


def add_scaled(out: np.ndarray, x: np.ndarray, alpha: float, y: np.ndarray, tmp: np.ndarray):
    """out = x + alpha * y (torch's add(x, y, alpha=alpha)), in one pass on the C backend."""
    return _backend.active.add_scaled(out, x, alpha, y, tmp)


def decayed_grad(param, grad, weight_decay: float, state: dict) -> np.ndarray:
    """grad + weight_decay * param (L2 regularisation folded into the gradient)."""
    if weight_decay == 0:
        return grad
    tmp = scratch(state, "_tmp", param)
    return add_scaled(scratch(state, "_grad", param), grad, weight_decay, param, tmp)


def check_nonnegative(name: str, **values) -> None:
    for key, value in values.items():
        if value < 0:
            raise ValueError(f"{name}: invalid {key} value {value}")
