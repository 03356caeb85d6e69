"""The ops: one `Function` per primitive, forward and backward side by side, plus compositions."""
from ._common import as_tensor, compare, raw, unwrap_index
from .elementwise import (abs, add, astype, clip, clone, cos, div, exp, log, maximum, minimum, mul, neg,
                          pow, relu, sigmoid, sign, sin, sqrt, sub, tanh, where)
from .linalg import matmul
from .nn import log_softmax, softmax
from .reduce import argmax, argmin, logsumexp, max, mean, min, std, sum, var
from .shape import (broadcast_to, cat, concatenate, expand, flatten, getitem, pad, permute, reshape,
                    split, squeeze, stack, swapaxes, transpose, unsqueeze, view)

# Tensor methods that are the functions above with the tensor as first argument.
_METHODS = (
    "exp log sqrt sin cos tanh sigmoid relu abs sign clip maximum minimum pow "
    "sum mean max min var std logsumexp argmax argmin "
    "reshape view transpose permute swapaxes flatten squeeze unsqueeze broadcast_to expand "
    "matmul softmax log_softmax astype clone split"
).split()


def _to(self, dtype):
    return astype(self, dtype)


def _float(self):
    return astype(self, "float32")


def _double(self):
    return astype(self, "float64")


def _where(self, condition, other):
    return where(condition, self, other)  # PyTorch's Tensor.where: self where condition, else other


_OPERATORS = {"__add__": "add", "__sub__": "sub", "__mul__": "mul", "__truediv__": "div",
              "__pow__": "pow", "__matmul__": "matmul", "__neg__": "neg", "__abs__": "abs"}


def install_methods(tensor_class) -> None:
    namespace = globals()
    for dunder, name in _OPERATORS.items():
        setattr(tensor_class, dunder, namespace[name])
    for name in _METHODS:
        setattr(tensor_class, name, namespace[name])
    tensor_class.clamp = clip
    tensor_class.where = _where
    tensor_class.to = _to
    tensor_class.float = _float
    tensor_class.double = _double

# ---- the fused linear op (ops/linalg.py; F.linear builds on it)
from .linalg import linear  # noqa: E402

# ---- convolution and pooling (ops/conv.py) ----------------------------------------------------
from .conv import avg_pool2d, conv2d, max_pool2d  # noqa: E402

# ---- parametrised activations and losses (ops/activation.py, class_loss.py, loss.py) ----
from .activation import elu, leaky_relu, softplus  # noqa: E402
from .class_loss import cross_entropy  # noqa: E402
from .loss import binary_cross_entropy_with_logits, mse_loss  # noqa: E402
