"""autograd: a reverse-mode automatic differentiation engine with C kernels, PyTorch-shaped.

>>> import autograd as ag
>>> x = ag.tensor(2.0, requires_grad=True)
>>> y = x * x + 3 * x
>>> y.backward()
>>> x.grad.item()
7.0
"""
from . import backend
from .creation import (arange, default_generator, empty, eye, from_numpy, full, full_like, linspace,
                       manual_seed, ones, ones_like, rand, randint, randn, tensor, zeros, zeros_like)
from .dtypes import bool_, float32, float64, get_default_dtype, int32, int64
from .engine import backward, grad
from .errors import (AnomalyError, AutogradError, DTypeError, GradcheckError, GraphError, ShapeError,
                     StateDictError, StateDictShapeError)
from .function import Function
from .gradcheck import gradcheck, gradgradcheck
from .grad_mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .ops import (abs, add, argmax, argmin, astype, broadcast_to, cat, clip, clone, concatenate, cos,
                  div, exp, expand, flatten, log, log_softmax, logsumexp, matmul, max, maximum,
                  mean, min, minimum, mul, neg, pad, permute, pow, relu, reshape, sigmoid, sign, sin,
                  softmax, split, sqrt, squeeze, stack, std, sub, sum, swapaxes, tanh, transpose,
                  unsqueeze, var, where)
from .tensor import Tensor

clamp = clip

__version__ = "0.1.0"


def __getattr__(name):
    # `ag.testing` needs hypothesis, a test-only dependency: import it on first use.
    if name == "testing":
        import importlib

        return importlib.import_module(".testing", __name__)
    raise AttributeError(f"module 'autograd' has no attribute {name!r}")

# The layers above the ops (they import the names above, so they come last).
from . import data, ensemble, model_selection, nn, optim, train  # noqa: E402
from .ops import avg_pool2d, conv2d, max_pool2d  # noqa: E402
from .serialization import SerializationError, load, save  # noqa: E402

# ---- parametrised activations and losses ----
from .ops import (binary_cross_entropy_with_logits, cross_entropy, elu, leaky_relu,  # noqa: E402
                  mse_loss, softplus)
