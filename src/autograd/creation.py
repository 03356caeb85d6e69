"""Factories: tensors from data, filled tensors, ranges, and the seeded random generator."""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from .dtypes import as_dtype, get_default_dtype
from .errors import DTypeError
from .tensor import Tensor


def _to_array(data, dtype=None):
    """numpy data for a new tensor: Python numbers and lists become float32 (ints int64, bools
    bool); numpy arrays keep their dtype; 0-d values become numpy scalars (see tensor.py)."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = as_dtype(dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data, dtype=dtype, copy=True)
    else:
        arr = np.array(data, dtype=dtype)
        if dtype is None:
            if arr.dtype.kind == "f":
                arr = arr.astype(get_default_dtype())
            elif arr.dtype.kind in "iu":
                arr = arr.astype(np.int64)
            elif arr.dtype.kind not in "b":
                raise DTypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                                 f"(numpy sees dtype {arr.dtype})")
    return arr[()] if arr.ndim == 0 else arr


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new tensor (a copy of `data`).

    >>> import autograd as ag
    >>> ag.tensor([1, 2]).dtype, ag.tensor([1.5]).dtype
    (dtype('int64'), dtype('float32'))
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def from_numpy(a: np.ndarray) -> Tensor:
    """A tensor sharing memory with the array `a` (writes to either show in both)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(a).__name__}")
    if not a.flags.aligned:
        # Every other tensor's data is numpy's own allocation, aligned for its dtype; the C
        # kernels read elements as their type, which needs that alignment (UBSan reported the
        # misaligned loads).
        raise ValueError(f"from_numpy: the array {a.shape} {a.dtype} starts "
                         f"{a.ctypes.data % a.dtype.alignment} bytes past a multiple of its "
                         f"dtype's alignment ({a.dtype.alignment}), so it cannot be shared; "
                         f"ag.tensor(a) copies it")
    return Tensor._make(a)


def _shape(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _filled(array, requires_grad) -> Tensor:
    t = Tensor._make(array[()] if array.ndim == 0 else array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def full(shape, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = get_default_dtype() if isinstance(fill_value, float) else np.asarray(fill_value).dtype
        dtype = np.int64 if np.dtype(dtype).kind in "iu" else dtype
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _filled(np.full(shape, fill_value, dtype=as_dtype(dtype)), requires_grad)


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.zeros(_shape(shape), dtype=as_dtype(dtype or get_default_dtype())), requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.ones(_shape(shape), dtype=as_dtype(dtype or get_default_dtype())), requires_grad)


def empty(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.empty(_shape(shape), dtype=as_dtype(dtype or get_default_dtype())), requires_grad)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    return zeros(np.shape(t), dtype=dtype or _dtype_of(t), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    return ones(np.shape(t), dtype=dtype or _dtype_of(t), requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    return full(np.shape(t), fill_value, dtype=dtype or _dtype_of(t), requires_grad=requires_grad)


def _dtype_of(t):
    return t.dtype if isinstance(t, Tensor) else np.asarray(t).dtype


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """Values start, start+step, ... below end (int64 for integer arguments, else float32)."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else get_default_dtype()
    return _filled(np.arange(start, end, step, dtype=as_dtype(dtype)), requires_grad)


def linspace(start, end, steps: int, dtype=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.linspace(start, end, int(steps), dtype=as_dtype(dtype or get_default_dtype())),
                   requires_grad)


def eye(n: int, m: Optional[int] = None, dtype=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.eye(n, m, dtype=as_dtype(dtype or get_default_dtype())), requires_grad)


# ---- randomness: one seeded generator drives init, dropout and shuffling --------------------
class _GeneratorHolder:
    generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the generator behind rand, randn, initialisation, dropout and shuffling."""
    _GeneratorHolder.generator = np.random.default_rng(int(seed))
    return _GeneratorHolder.generator


def default_generator() -> np.random.Generator:
    return _GeneratorHolder.generator


Seed = Union[None, int, np.random.Generator]


def generator_from(seed: Seed) -> np.random.Generator:
    """The generator a `seed=` argument names: None is the global one (ag.manual_seed), an int a
    fresh generator seeded with it, a Generator itself."""
    if seed is None:
        return default_generator()
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(int(seed))


def rand(*shape, dtype=None, requires_grad: bool = False, generator=None) -> Tensor:
    """Uniform samples in [0, 1)."""
    rng = generator or _GeneratorHolder.generator
    return _filled(rng.random(_shape(shape)).astype(as_dtype(dtype or get_default_dtype())), requires_grad)


def randn(*shape, dtype=None, requires_grad: bool = False, generator=None) -> Tensor:
    """Standard normal samples."""
    rng = generator or _GeneratorHolder.generator
    return _filled(rng.standard_normal(_shape(shape)).astype(as_dtype(dtype or get_default_dtype())),
                   requires_grad)


def randint(low, high=None, size=(), dtype=None, generator=None) -> Tensor:
    rng = generator or _GeneratorHolder.generator
    if high is None:
        low, high = 0, low
    return _filled(np.asarray(rng.integers(low, high, size=size), dtype=as_dtype(dtype or np.int64)), False)
