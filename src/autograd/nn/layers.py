"""Layers with parameters or state: Linear, Conv2d, pooling, Flatten, Dropout, BatchNorm,
Identity and the Sequential container. Each `forward` calls `functional`."""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ..dtypes import as_dtype, get_default_dtype
from ..errors import ShapeError
from ..grad_mode import no_grad
from ..ops import flatten, reshape, sqrt
from ..ops.linalg import linear_relu
from ..tensor import Tensor
from . import functional as F
from . import init
from .activation import ReLU
from .module import Module, Parameter, _recorders


def _pair(v, name: str) -> tuple:
    pair = (int(v), int(v)) if np.ndim(v) == 0 else tuple(int(x) for x in v)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v!r}")
    return pair


def _empty(*shape, dtype=None) -> np.ndarray:
    return np.zeros(shape, dtype=as_dtype(dtype or get_default_dtype()))


class Identity(Module):
    def forward(self, x):
        return x


class Linear(Module):
    """y = x W^T + b with W (out_features, in_features); PyTorch's default initialisation:
    W and b uniform in +-1/sqrt(in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(_empty(out_features, in_features, dtype=dtype))
        self.bias = Parameter(_empty(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _default_init(self.weight, self.bias)

    def forward(self, x):
        return self._run(F.linear, x)

    def _run(self, op, x):
        """op(x, weight, bias): F.linear, or linear_relu when nn.Sequential runs this layer and the
        ReLU after it as one op; a mismatched input's error names the layer."""
        # The parameters from their table: self.weight goes through Module.__getattr__ (0.4 us a
        # lookup, as long as a small layer's GEMM); with bias=False, bias is a plain attribute.
        params = self._parameters
        try:
            return op(x, params["weight"], params["bias"] if "bias" in params else self.bias)
        except ShapeError:
            shape = np.shape(getattr(x, "data", x))
            if shape[-1:] == (self.in_features,):
                raise
        raise ShapeError(f"Linear({self.in_features}, {self.out_features}): input of shape "
                         f"{shape} {getattr(x, 'dtype', '')} needs {self.in_features} features "
                         f"in its last axis")

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _default_init(weight: Parameter, bias) -> None:
    # kaiming_uniform_(a=sqrt(5)) is U(+-1/sqrt(fan_in)), torch's Linear and Conv default.
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Conv2d(Module):
    """2-d convolution over NCHW input, weight (out_channels, in_channels, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, dtype=None):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride, self.padding = _pair(stride, "stride"), _pair(padding, "padding")
        self.weight = Parameter(_empty(out_channels, in_channels, *self.kernel_size, dtype=dtype))
        self.bias = Parameter(_empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _default_init(self.weight, self.bias)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding = _pair(padding, "padding")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class Flatten(Module):
    """Flattens axes start_dim..end_dim (by default all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout in training mode, the identity in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _BatchNorm(Module):
    _input_ndims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=as_dtype(dtype or get_default_dtype())))
            self.bias = Parameter(_empty(num_features, dtype=dtype))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._make(_empty(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor._make(
                np.ones(num_features, dtype=as_dtype(dtype or get_default_dtype()))))
            self.register_buffer("num_batches_tracked", Tensor._make(np.zeros((), np.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self._input_ndims or x.shape[1] != self.num_features:
            raise ShapeError(f"{name}({self.num_features}): expected input with "
                             f"{' or '.join(map(str, self._input_ndims))} dimensions and "
                             f"{self.num_features} channels in axis 1, got {tuple(x.shape)} {x.dtype}")
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            count = x.data.size // self.num_features
            if self.training and count <= 1:
                raise ShapeError(f"{name}: expected more than 1 value per channel when training, "
                                 f"got input {tuple(x.shape)}")
            mean = x.mean(axis=axes, keepdims=True)
            var = x.var(axis=axes, keepdims=True, correction=0)
            if self.training and self.track_running_stats:
                self._update_running(mean.data, var.data, count)
        else:
            mean = reshape(self.running_mean, shape)
            var = reshape(self.running_var, shape)
        out = (x - mean) / sqrt(var + self.eps)
        if self.affine:
            out = out * reshape(self.weight, shape) + reshape(self.bias, shape)
        return out

    def _update_running(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        with no_grad():
            self.num_batches_tracked.data = self.num_batches_tracked.data + 1
            factor = (1.0 / float(self.num_batches_tracked.data) if self.momentum is None
                      else self.momentum)
            unbiased = var.reshape(-1) * (count / (count - 1))  # torch stores the unbiased var
            rm, rv = self.running_mean.data, self.running_var.data
            rm[...] = (1 - factor) * rm + factor * mean.reshape(-1)
            rv[...] = (1 - factor) * rv + factor * unbiased

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input, per channel C."""

    _input_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, per channel C."""

    _input_ndims = (4,)


class Sequential(Module):
    """Modules applied in order; indexable, sliceable, iterable.

    >>> import autograd as ag
    >>> net = ag.nn.Sequential(ag.nn.Linear(2, 3), ag.nn.ReLU())
    >>> len(net), type(net[0]).__name__
    (2, 'Linear')
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(str(name), m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        modules = tuple(self._modules.values())
        last = len(modules) - 1
        i = 0
        while i <= last:
            m = modules[i]
            # A Linear and the ReLU after it run as one op (ops.linalg.LinearReLU): the same values
            # and gradients, one graph node instead of two. Not while summary() records what each
            # layer outputs.
            if type(m) is Linear and i < last and type(modules[i + 1]) is ReLU and not _recorders:
                x = m._run(linear_relu, x)
                i += 2
            else:
                x = m(x)
                i += 1
        return x

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[index][1]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self
