"""What every op module shares: turning operands into tensors, dtype promotion, axes."""
import numbers

import numpy as np

from ..dtypes import get_default_dtype
from ..errors import ShapeError
from ..tensor import Tensor

_make = Tensor._make


def raw(x):
    """The array inside a Tensor; anything else as it is."""
    return x.data if isinstance(x, Tensor) else x


def as_tensor(x, dtype=None) -> Tensor:
    """A Tensor for x, without copying when x already is one (dtype None keeps x's dtype)."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    return Tensor(x, dtype=dtype)


def _is_python_scalar(x) -> bool:
    return isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, np.ndarray)


_FLOAT_SCALAR_TYPES = frozenset({np.float16, np.float32, np.float64, np.longdouble})


def _is_float_data(data) -> bool:
    return type(data) in _FLOAT_SCALAR_TYPES or (type(data) is np.ndarray and data.dtype.kind == "f")


def binary_operands(a, b):
    """Operands for an arithmetic op, promoted the way PyTorch promotes.

    Python and numpy scalars are "weak": a float32 tensor times 0.5 (or np.float64(0.5)) stays
    float32. Between tensors, a float operand wins over an integer one (int64 + float32 is
    float32, where numpy would say float64); otherwise numpy's rules hold.
    """
    # Fast paths first: this runs for every arithmetic operator.
    if type(a) is Tensor:
        tb = type(b)
        if tb is Tensor:
            da, db = a.data, b.data
            if type(da) is type(db) and (type(da) is not np.ndarray or da.dtype is db.dtype):
                return a, b
        elif (tb is float or tb is int) and _is_float_data(a.data):
            return a, b
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb:
        da, db = a.data.dtype, b.data.dtype
        if da is db or da == db:
            return a, b
        fa, fb = da.kind == "f", db.kind == "f"
        if fa and not fb:
            return a, b.astype(da)
        if fb and not fa:
            return a.astype(db), b
        return a, b
    if ta:
        b = _weak_scalar(b, a)
        return (_float_for_scalar(a) if isinstance(b, float) else a), b
    if tb:
        a = _weak_scalar(a, b)
        return a, (_float_for_scalar(b) if isinstance(a, float) else b)
    return as_tensor(a), as_tensor(b) if not _is_python_scalar(b) else b


def _weak_scalar(x, like: Tensor):
    """A Python/numpy scalar as numpy should see it next to `like`; arrays become tensors."""
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, (bool, int, float)):
        return x
    if isinstance(x, complex):
        raise TypeError(f"complex operands are not supported (got {x!r})")
    t = as_tensor(x)
    if t.dtype != like.dtype and t.dtype.kind != "f" and like.dtype.kind == "f":
        t = t.astype(like.dtype)
    return t


def _float_for_scalar(t: Tensor) -> Tensor:
    """An integer tensor meeting a float scalar becomes float32 first, as in PyTorch (numpy
    would make int64 * 0.5 float64)."""
    return t if t.data.dtype.kind in "fc" else t.astype(get_default_dtype())


def normalize_axis(axis, ndim: int, op: str):
    """axis as None or a sorted tuple of non-negative ints; clear error when out of range."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        ax = int(ax)
        if not -ndim <= ax < max(ndim, 1) or (ndim == 0 and ax not in (0, -1)):
            raise ShapeError(f"{op}: axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(ax % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def pick_axis(axis, dim, default=None):
    """numpy's `axis` or PyTorch's `dim`, whichever was given (an `axis` equal to the caller's
    `default` counts as not given, so `f(x, dim=1)` works when f's signature has `axis=0`)."""
    if dim is not None:
        if axis is not None and axis != dim and axis != default:
            raise TypeError("give either axis or dim, not both")
        return dim
    return default if axis is None else axis


def compare(ufunc, a, b) -> Tensor:
    """Elementwise comparison: a bool tensor with no gradient."""
    a, b = binary_operands(a, b)
    try:
        return _make(ufunc(raw(a), raw(b)))
    except ValueError as e:
        raise ShapeError(f"{ufunc.__name__}: shapes {np.shape(raw(a))} and {np.shape(raw(b))} "
                         f"do not broadcast: {e}") from None


def unwrap_index(index):
    """An index with Tensors replaced by their arrays (integer and boolean index tensors)."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray([raw(i) for i in index])
    return index
