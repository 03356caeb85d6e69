"""Elementwise ops: arithmetic with numpy broadcasting, math functions, activations.

Conventions at kinks and infinities (each tested at exactly that point, see README):

| op                  | convention                                                      |
| ------------------- | --------------------------------------------------------------- |
| relu'(0)            | 0                                                               |
| abs'(0)             | 0                                                               |
| sign'               | 0 everywhere                                                    |
| clip(x, lo, hi)'    | 1 strictly inside (lo, hi), 0 at and beyond the bounds; a       |
|                     | tensor bound gets it where it is the output, at a tie too       |
| maximum / minimum   | ties split the gradient evenly: 0.5 to each operand             |
| where(c, a, b)      | gradient goes only to the selected branch, never NaN from the other |
| zero upstream grad  | gives a zero gradient through mul, div, pow, exp, log, sqrt even  |
|                     | where the local derivative is infinite (so `where` never leaks)  |
"""
import numpy as np

from .. import backend as _backend
from ..function import Function
from ..tensor import Tensor
from ._common import as_tensor, binary_operands, raw


class _StrongZero(Function):
    """Ops whose local derivative can be infinite: the engine keeps 0 * inf at 0."""

    _guard_zero_grad = True


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g


# A Python number operand is a constant (a tensor's values are numpy arrays or numpy scalars).
_PY_NUMBERS = frozenset({float, int, bool})


class Mul(_StrongZero):
    @staticmethod
    def forward(ctx, a, b):
        # A constant factor is all backward needs (x * 0.5 keeps one value, not a pair).
        if type(b) in _PY_NUMBERS:
            ctx.save_for_backward(b)
        elif type(a) in _PY_NUMBERS:
            ctx.save_for_backward(a)
        else:
            ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        saved = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if len(saved) == 1:  # a constant factor c: the other operand's gradient is g * c
            (c,) = saved
            return (g * c if need_a else None), (g * c if need_b else None)
        a, b = saved
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(_StrongZero):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        gb = -g * a / (b * b) if need_b else None
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(_StrongZero):
    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            # NOTE: x ** 0 has derivative 0 everywhere, also at x = 0 where 0 * x**-1 is NaN.
            if _is_zero_scalar(b):
                ga = g * 0
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    ga = g * b * a ** (b - 1)
                if isinstance(b, (Tensor, np.ndarray, np.generic)) and np.any(raw(b) == 0):
                    # a tensor exponent: mask only 0 ** 0 (NaN), so d/db stays right elsewhere
                    ga = Where.apply((raw(b) == 0) & (raw(a) == 0), 0, ga)
        if need_b:
            with np.errstate(divide="ignore", invalid="ignore"):
                # NOTE: d/db a**b = a**b log a; at a = 0 the limit for b > 0 is 0 (PyTorch too).
                gb = Where.apply(raw(a) == 0, 0, g * out * Log.apply(a))
        return ga, gb


def _is_zero_scalar(b) -> bool:
    return not isinstance(b, (Tensor, np.ndarray)) and b == 0


class Exp(_StrongZero):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Log(_StrongZero):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Sqrt(_StrongZero):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * Cos.apply(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g * Sin.apply(a)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = _backend.active.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        if isinstance(g, Tensor):
            return g * (1 - out * out)
        return _backend.active.tanh_backward(g, out)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        out = _backend.active.sigmoid(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        if isinstance(g, Tensor):
            return g * out * (1 - out)
        return _backend.active.sigmoid_backward(g, out)


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        out = _backend.active.relu(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return relu_grad(g, out)


def relu_grad(g, out):
    """The gradient through relu given its output (also linalg.LinearReLU's): relu(x) > 0 exactly
    where x > 0, so the output serves as the mask, and relu'(0) = 0."""
    if isinstance(g, Tensor):
        return g * (raw(out) > 0)
    return _backend.active.relu_backward(g, out)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.sign(raw(a))


class Sign(Function):
    @staticmethod
    def forward(ctx, a):
        return np.sign(a)

    @staticmethod
    def backward(ctx, g):
        return g * 0


class Clip(Function):
    """min(max(a, lo), hi); a bound is None (absent), a number or a tensor (which may need grad)."""

    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a, lo, hi)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        a, lo, hi = (raw(v) for v in ctx.saved_tensors)
        need_a, need_lo, need_hi = ctx.needs_input_grad
        inside = (a > lo if lo is not None else True) & (a < hi if hi is not None else True)
        # A bound gets the gradient where it is the output, at a tie too (a gets it strictly
        # inside only): hi where max(a, lo) >= hi, lo where a <= lo and hi is not the output.
        at_hi = (np.maximum(a, lo) if lo is not None else a) >= hi if hi is not None else False
        ga = g * inside if need_a else None
        glo = g * ((a <= lo) & ~at_hi) if need_lo else None
        ghi = g * at_hi if need_hi else None
        return ga, glo, ghi


class Maximum(Function):
    _pick = staticmethod(np.maximum)

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return cls._pick(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a, b = raw(a), raw(b)
        wins = (a > b) if type(ctx) is Maximum else (a < b)
        # NOTE: on a tie each operand gets half the gradient, as JAX and torch.amax do.
        share_a = wins + 0.5 * (a == b)
        need_a, need_b = ctx.needs_input_grad
        return (g * share_a if need_a else None), (g * (1 - share_a) if need_b else None)


class Minimum(Maximum):
    _pick = staticmethod(np.minimum)


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        c = ctx.cond
        need = ctx.needs_input_grad
        # Select, never multiply by the mask: inf * 0 from the other branch would be NaN.
        ga = Where.apply(c, g, 0) if need[1] else None
        gb = Where.apply(c, 0, g) if need[2] else None
        return None, ga, gb


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.source_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.source_dtype), None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return np.array(a, copy=True) if isinstance(a, np.ndarray) else a

    @staticmethod
    def backward(ctx, g):
        return g


# ---- public functions (also Tensor methods) ----------------------------------------------
def _unary(op, name: str, doc: str):
    """The public function of a one-input op (also installed as a Tensor method)."""

    def function(x) -> Tensor:
        return op.apply(x if isinstance(x, Tensor) else as_tensor(x))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return function


def _binary(op, name: str, doc: str):
    """The public function of a two-input op, with PyTorch's operand promotion."""

    def function(a, b) -> Tensor:
        a, b = binary_operands(a, b)
        return op.apply(a, b)  # not apply(*...): see Function.apply

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return function


add = _binary(Add, "add", "a + b with numpy broadcasting, elementwise.")


sub = _binary(Sub, "sub", "a - b with numpy broadcasting, elementwise.")


mul = _binary(Mul, "mul", "a * b with numpy broadcasting, elementwise.")


def div(a, b) -> Tensor:
    a, b = binary_operands(a, b)
    if np.result_type(raw(a)).kind != "f" and np.result_type(raw(b)).kind != "f":
        # true division of integers is float32, as in PyTorch (numpy says float64)
        a, b = as_tensor(a).astype(np.float32), as_tensor(b).astype(np.float32)
    return Div.apply(a, b)


pow = _binary(Pow, "pow", "a ** b with numpy broadcasting, elementwise.")


neg = _unary(Neg, "neg", "-x, elementwise.")

exp = _unary(Exp, "exp", "e ** x, elementwise.")

log = _unary(Log, "log", "The natural logarithm, elementwise.")

sqrt = _unary(Sqrt, "sqrt", "The square root, elementwise.")

sin = _unary(Sin, "sin", "The sine, elementwise.")

cos = _unary(Cos, "cos", "The cosine, elementwise.")

tanh = _unary(Tanh, "tanh", "The hyperbolic tangent, elementwise.")

sigmoid = _unary(Sigmoid, "sigmoid", "1 / (1 + e ** -x), computed without overflow, elementwise.")

relu = _unary(Relu, "relu", "max(x, 0); relu'(0) = 0, elementwise.")

abs = _unary(Abs, "abs", "|x|; abs'(0) = 0, elementwise.")

sign = _unary(Sign, "sign", "-1, 0 or 1; its gradient is 0 everywhere, elementwise.")

def clip(x, min=None, max=None) -> Tensor:  # noqa: A002
    """Limit values to [min, max] (numbers or tensors, broadcast); x's gradient passes only
    strictly inside the bounds, a tensor bound's where it is the output."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    return Clip.apply(as_tensor(x), min, max)


maximum = _binary(Maximum, "maximum", "The larger of a and b; ties share the gradient evenly, elementwise.")


minimum = _binary(Minimum, "minimum", "The smaller of a and b; ties share the gradient evenly, elementwise.")


def where(cond, a, b) -> Tensor:
    """Elementwise `a if cond else b`; the unselected branch gets exactly zero gradient."""
    a, b = binary_operands(a, b)
    return Where.apply(np.asarray(raw(cond), dtype=bool), a, b)


def astype(x, dtype) -> Tensor:
    from ..dtypes import as_dtype

    x = as_tensor(x)
    dtype = as_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Cast.apply(x, dtype)


clone = _unary(Clone, "clone", "A copy that stays in the graph, elementwise.")
