"""Activation layers: modules around the functions of `functional`."""
from __future__ import annotations

import numpy as np

from ..dtypes import as_dtype, get_default_dtype
from . import functional as F
from .module import Module, Parameter


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sign(Module):
    """-1, 0 or 1 (the perceptron's step); its gradient is zero everywhere."""

    def forward(self, x):
        return F.sign(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class PReLU(Module):
    """max(0, x) + a * min(0, x) with a learnable slope a: one shared, or one per channel."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype=None):
        super().__init__()
        self.num_parameters = int(num_parameters)
        self.weight = Parameter(np.full(self.num_parameters, init,
                                        dtype=as_dtype(dtype or get_default_dtype())))

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class _AxisModule(Module):
    def __init__(self, axis: int = -1, *, dim=None):
        super().__init__()
        self.axis = axis if dim is None else dim

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Softmax(_AxisModule):
    def forward(self, x):
        return F.softmax(x, self.axis)


class LogSoftmax(_AxisModule):
    def forward(self, x):
        return F.log_softmax(x, self.axis)
