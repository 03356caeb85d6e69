"""Hypothesis strategies for property tests of tensors and gradients.

The project's own tests use these; so can yours:

    from hypothesis import given
    from autograd.testing import strategies as ags

    @given(ags.tensors(shape=ags.shapes(max_dims=3), dtype="float64"))
    def test_double_negation(x):
        assert ((-(-x)).numpy() == x.numpy()).all()
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..tensor import Tensor

#: Values that trip up kernels and gradients: zero, ties, the edges of exp's range.
SPECIAL_VALUES = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-7, -1e-7, 20.0, -20.0, 88.0, -88.0)


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """Array shapes, including 0-d (`()`) and size-1 axes by default."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4):
    """Tuples of `num_shapes` shapes that broadcast together (size-1 axes, missing leading axes)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             min_side=min_side, max_side=max_side).map(lambda b: b.input_shapes)


@st.composite
def matmul_shapes(draw, max_batch_dims: int = 2, max_side: int = 5, allow_vectors: bool = True):
    """A pair of shapes that numpy's matmul accepts: batched, broadcasting, or 1-d operands."""
    m, k, n = (draw(st.integers(1, max_side)) for _ in range(3))
    batch_a, batch_b = draw(broadcastable_shapes(2, 0, max_batch_dims, 1, 3))
    a = batch_a + (m, k)
    b = batch_b + (k, n)
    if allow_vectors and draw(st.booleans()):
        a = (k,)
    elif allow_vectors and draw(st.booleans()):
        b = (k,)
    return a, b


def elements(dtype="float64", min_value: float = -10.0, max_value: float = 10.0, special: bool = True):
    """Finite floats in [min_value, max_value], sometimes exactly one of SPECIAL_VALUES."""
    width = 32 if np.dtype(dtype) == np.float32 else 64
    base = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=width)
    if not special:
        return base
    picks = [v for v in SPECIAL_VALUES if min_value <= v <= max_value]
    return st.one_of(base, st.sampled_from(picks)) if picks else base


def arrays(shape, dtype="float64", elements=None):
    """numpy arrays of `shape` (a tuple or a strategy)."""
    return hnp.arrays(np.dtype(dtype), shape, elements=elements if elements is not None else globals()["elements"](dtype))


@st.composite
def tensors(draw, shape=None, dtype="float64", elements=None, requires_grad: bool = False):
    """Tensors of a shape (tuple or strategy; default `shapes()`), float64 by default."""
    if shape is None:
        shape = shapes()
    if not isinstance(shape, tuple):
        shape = draw(shape)
    data = draw(arrays(shape, dtype, elements))
    t = Tensor(data)
    if requires_grad:
        t.requires_grad_(True)
    return t


@st.composite
def tied_arrays(draw, shape=None, dtype="float64"):
    """Arrays with repeated values, to exercise ties in max/min/maximum."""
    if shape is None:
        shape = draw(shapes(min_dims=1))
    values = draw(st.lists(elements(dtype, special=False), min_size=1, max_size=3))
    return draw(hnp.arrays(np.dtype(dtype), shape, elements=st.sampled_from(values)))
