"""The op table: one row per public op (and per spelling of its arguments); it drives test_ops.py.

A row says how to call the op (`fn`), the simplest correct numpy formula for it (`ref`, written
from the maths, not from our source), how to draw its inputs (`inputs`: broadcasting shapes,
domain restrictions, and non-tensor arguments such as indices or conditions drawn alongside),
and what to expect (differentiable, higher-order, output dtype, tolerances, C kernels).

`fn(*tensors, **params)` and `ref(*arrays, **params)` get the same drawn `params`. Inputs are
drawn in float64; the forward test runs every row in float32 too. Adding an op means adding its
row here: test_ops.py fails for any `Function` in `autograd.ops` that no row exercises, and for
any public op function that no row names in `api`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np
from hypothesis import strategies as st

import autograd as ag
from autograd.testing import strategies as ags


@dataclass(frozen=True)
class Limits:
    """How large drawn shapes may get (finite differences cost one forward per element)."""

    max_dims: int = 3
    max_side: int = 4


FORWARD = Limits(3, 4)    # forward, gradcheck and invariants (test_op)
GRADGRAD = Limits(2, 3)   # second order: every numeric difference runs a create_graph backward
LARGE = Limits(2, 12)     # random-projection gradcheck and backend parity


@dataclass(frozen=True)
class OpSpec:
    name: str
    fn: Callable              # fn(*tensors, **params) -> Tensor, or a tuple/list of them
    ref: Callable             # ref(*float64 arrays, **params) -> array, or a tuple/list of them
    inputs: Callable          # inputs(limits) -> strategy of (arrays tuple, params dict)
    api: tuple = ()           # the public names this row exercises
    differentiable: bool = True
    higher_order: Union[bool, str] = True   # a str marks gradgradcheck as a known failure (xfail)
    out_dtype: Optional[str] = None         # None: the inputs' float dtype (float32 in, float32 out)
    kernels: bool = False     # uses backend kernels: held C against numpy
    atol32: float = 1e-4      # forward, float32 result vs the float64 reference (plus rtol 1e-4)
    eps: float = 1e-6         # gradcheck
    atol: float = 1e-5
    rtol: float = 1e-3

    def __repr__(self):
        return self.name


# ---- element domains (float64; the float32 tests cast what was drawn) --------------------------
REAL = ags.elements("float64", -10.0, 10.0)       # SPECIAL_VALUES within range: 0, +-1, 0.5, +-1e-7
SMALL = ags.elements("float64", -3.0, 3.0)
POSITIVE = ags.elements("float64", 0.1, 10.0)     # log, sqrt, base of pow


def away_from(*points, margin=0.1):
    """Reals at least `margin` from each kink, so central differences do not straddle one."""
    return REAL.filter(lambda v: all(abs(v - p) >= margin for p in points))


NONZERO = away_from(0.0)
# Two interleaved grids: a value from one is never within 0.5 of one from the other, so
# maximum/minimum of a drawn pair are never tied (ties are tested exactly in test_kinks.py).
GRID_A = st.integers(-8, 8).map(lambda k: k + 0.25)
GRID_B = st.integers(-8, 8).map(lambda k: k + 0.75)


def distinct(a):
    """The drawn array's ordering as values 0.75 apart: no ties (max/min/std stay differentiable)."""
    ranks = np.argsort(np.argsort(a, axis=None, kind="stable")).reshape(np.shape(a))
    return (ranks - (np.size(a) - 1) / 2) * 0.75


# ---- input builders --------------------------------------------------------------------------
def _shapes(lim, min_dims=0, max_dims=None, min_side=1):
    top = lim.max_dims if max_dims is None else min(max_dims, lim.max_dims)
    return ags.shapes(min_dims, max(min_dims, top), min_side, max(min_side, lim.max_side))


def _array(draw, shape, elements):
    return draw(ags.arrays(shape, "float64", elements))


def unary(elements=REAL, *, min_dims=0, max_dims=None, min_side=1, post=None, params=None):
    """One tensor; `params(draw, a)` may draw non-tensor arguments that depend on it."""
    def inputs(lim):
        @st.composite
        def case(draw):
            a = _array(draw, _shapes(lim, min_dims, max_dims, min_side), elements)
            a = post(a) if post else a
            return (a,), (params(draw, a) if params else {})
        return case()
    return inputs


def binary(ea=REAL, eb=REAL):
    """Two tensors of mutually broadcastable shapes (0-d, size-1 and missing axes), or, half the
    time, of one shape (where an op's backward may hand both inputs the same array)."""
    def inputs(lim):
        @st.composite
        def case(draw):
            sa, sb = draw(ags.broadcastable_shapes(2, 0, lim.max_dims, 1, lim.max_side))
            if draw(st.booleans()):
                sb = sa
            return (_array(draw, sa, ea), _array(draw, sb, eb)), {}
        return case()
    return inputs


def where_inputs(ea=REAL, eb=REAL):
    """cond (a drawn bool array, passed as `cond`), a and b: three broadcastable shapes."""
    def inputs(lim):
        @st.composite
        def case(draw):
            sc, sa, sb = draw(ags.broadcastable_shapes(3, 0, lim.max_dims, 1, lim.max_side))
            cond = draw(ags.arrays(sc, "bool", st.booleans()))
            return (_array(draw, sa, ea), _array(draw, sb, eb)), {"cond": cond}
        return case()
    return inputs


def clip_bounds_inputs():
    """x, lo and hi of three broadcastable shapes, x never within 0.5 of a bound and lo < hi
    (ties with tensor bounds are tested exactly in test_kinks.py)."""
    def inputs(lim):
        @st.composite
        def case(draw):
            sx, slo, shi = draw(ags.broadcastable_shapes(3, 0, lim.max_dims, 1, lim.max_side))
            lo = draw(ags.arrays(slo, "float64", st.integers(-8, -1).map(lambda k: k + 0.75)))
            hi = draw(ags.arrays(shi, "float64", st.integers(0, 8).map(lambda k: k + 0.75)))
            return (_array(draw, sx, GRID_A), lo, hi), {}
        return case()
    return inputs


def same_shape(n, elements=REAL, min_dims=0):
    def inputs(lim):
        @st.composite
        def case(draw):
            shape = draw(_shapes(lim, min_dims))
            return tuple(_array(draw, shape, elements) for _ in range(n)), {}
        return case()
    return inputs


def along_axis(n, axis, min_dims=1):
    """n tensors whose shapes agree except along `axis` (for concatenate)."""
    def inputs(lim):
        @st.composite
        def case(draw):
            shape = list(draw(_shapes(lim, min_dims)))
            arrays = []
            for _ in range(n):
                shape[axis] = draw(st.integers(1, max(1, lim.max_side)))
                arrays.append(_array(draw, tuple(shape), REAL))
            return tuple(arrays), {}
        return case()
    return inputs


def matmul_inputs(vectors=True, kind="general"):
    def inputs(lim):
        @st.composite
        def case(draw):
            if kind == "vectors":
                k = draw(st.integers(1, lim.max_side))
                sa, sb = (k,), (k,)
            elif kind == "transposed":  # a is (k, m): the op sees a non-contiguous a.T
                k, m, n = (draw(st.integers(1, lim.max_side)) for _ in range(3))
                sa, sb = (k, m), (k, n)
            else:
                sa, sb = draw(ags.matmul_shapes(lim.max_dims - 1, lim.max_side, vectors))
            return (_array(draw, sa, SMALL), _array(draw, sb, SMALL)), {}
        return case()
    return inputs


def _as_param(builder, name):
    """The first drawn array becomes a constant (non-tensor) argument `name`."""
    def inputs(lim):
        return builder(lim).map(lambda case: (case[0][1:], {**case[1], name: case[0][0]}))
    return inputs


# ---- index params --------------------------------------------------------------------------------
def _ints(draw, shape, n):
    return draw(ags.arrays(shape, "int64", st.integers(-n, n - 1)))


def int_index(draw, a):
    """An integer array into axis 0 with at least one repeated entry (gradients accumulate)."""
    idx = _ints(draw, st.sampled_from([(2,), (4,), (2, 3)]), a.shape[0])
    idx.flat[-1] = idx.flat[0]
    return {"index": idx}


def two_int_indices(draw, a):
    k = draw(st.integers(1, 4))
    return {"i": _ints(draw, (k,), a.shape[0]), "j": _ints(draw, (k,), a.shape[1])}


def axis1_index(draw, a):
    return {"index": _ints(draw, st.sampled_from([(1,), (3,)]), a.shape[1])}


def bool_mask(draw, a):
    return {"mask": draw(ags.arrays(a.shape, "bool", st.booleans()))}


def bool_mask0(draw, a):
    return {"mask": draw(ags.arrays((a.shape[0],), "bool", st.booleans()))}


# ---- numpy references (from the maths; no shared code with src/) -------------------------------
def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _softmax(a, axis=-1):
    axis = axis if np.ndim(a) else None
    e = np.exp(a)
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(a, axis=-1):
    axis = axis if np.ndim(a) else None
    return a - np.log(np.sum(np.exp(a), axis=axis, keepdims=True))


def _logsumexp(a, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))


def _matmul(a, b):
    """Via einsum (independent of np.matmul): 1-d operands promoted, then the added axis dropped."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    out = np.einsum("...ij,...jk->...ik", a2, b2)
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


def _squeeze_some(a, axes):
    axes = {ax % a.ndim for ax in axes}
    return a.reshape([n for i, n in enumerate(a.shape) if not (i in axes and n == 1)])


def _bigger(shape):
    """A shape that `shape` broadcasts to: one more leading axis, size-1 axes grown to 3."""
    return (2,) + tuple(3 if n == 1 else n for n in shape)


def _pad_widths(ndim):
    return [(i % 2, 1) for i in range(ndim)]


# ---- the rows ------------------------------------------------------------------------------------
R = OpSpec
SPECS = [
    # arithmetic (operators, functions, scalars on either side; numpy scalars are weak like Python's)
    R("add", lambda a, b: a + b, np.add, binary(), api=("__add__",)),
    R("add:fn scalar", lambda a: ag.add(a, 2.5), lambda a: a + 2.5, unary(), api=("add",)),
    R("radd:numpy scalar", lambda a: np.float64(2.0) + a, lambda a: 2.0 + a, unary(), api=("__radd__",)),
    R("sub", lambda a, b: a - b, np.subtract, binary(), api=("__sub__",)),
    R("sub:fn", lambda a, b: ag.sub(a, b), np.subtract, binary(), api=("sub",)),
    R("rsub:scalar", lambda a: 1.5 - a, lambda a: 1.5 - a, unary(), api=("__rsub__",)),
    R("mul", lambda a, b: a * b, np.multiply, binary(), api=("__mul__",)),
    R("mul:fn scalar", lambda a: ag.mul(a, 0.5), lambda a: a * 0.5, unary(), api=("mul",)),
    # A Python number factor is the one value Mul keeps, on either side.
    R("mul:fn scalar on the left", lambda a: ag.mul(-1.5, a), lambda a: -1.5 * a, unary(), api=("mul",)),
    R("mul:fn int scalar", lambda a: ag.mul(a, 3), lambda a: a * 3, unary(), api=("mul",)),
    R("rmul:numpy scalar", lambda a: np.float64(3.0) * a, lambda a: 3.0 * a, unary(), api=("__rmul__",)),
    R("div", lambda a, b: a / b, np.divide, binary(REAL, NONZERO), api=("__truediv__",)),
    R("div:fn", lambda a, b: ag.div(a, b), np.divide, binary(REAL, NONZERO), api=("div",)),
    R("rdiv:scalar", lambda a: 1.0 / a, lambda a: 1.0 / a, unary(NONZERO), api=("__rtruediv__",)),
    R("neg", lambda a: -a, np.negative, unary(), api=("__neg__",)),
    R("neg:fn", lambda a: ag.neg(a), np.negative, unary(), api=("neg",)),
    R("pow", lambda a, b: a ** b, np.power, binary(POSITIVE, SMALL), api=("__pow__",)),
    R("pow:fn tensors", lambda a, b: ag.pow(a, b), np.power, binary(POSITIVE, SMALL), api=("pow",)),
    R("pow:2", lambda a: ag.pow(a, 2), lambda a: a * a, unary(), api=("pow",)),
    R("pow:method 3", lambda a: a.pow(3), lambda a: a * a * a, unary()),
    R("pow:0.5", lambda a: a ** 0.5, np.sqrt, unary(POSITIVE)),
    R("pow:-1", lambda a: a ** -1, lambda a: 1.0 / a, unary(NONZERO)),
    R("pow:0", lambda a: a ** 0, np.ones_like, unary()),
    R("rpow:scalar base", lambda a: 2.0 ** a, lambda a: np.exp(a * np.log(2.0)), unary(SMALL),
      api=("__rpow__",)),
    # elementwise math and activations
    R("exp", lambda a: ag.exp(a), np.exp, unary(), api=("exp",)),
    R("log", lambda a: a.log(), np.log, unary(POSITIVE), api=("log",)),
    R("sqrt", lambda a: ag.sqrt(a), np.sqrt, unary(POSITIVE), api=("sqrt",)),
    R("sin", lambda a: ag.sin(a), np.sin, unary(), api=("sin",)),
    R("cos", lambda a: a.cos(), np.cos, unary(), api=("cos",)),
    R("tanh", lambda a: ag.tanh(a), np.tanh, unary(), api=("tanh",), kernels=True),
    R("sigmoid", lambda a: a.sigmoid(), _sigmoid, unary(), api=("sigmoid",), kernels=True),
    R("relu", lambda a: ag.relu(a), lambda a: np.where(a > 0, a, 0.0), unary(NONZERO), api=("relu",),
      kernels=True),
    R("relu:non-contiguous", lambda a: a.T.relu(), lambda a: np.where(a.T > 0, a.T, 0.0),
      unary(NONZERO, min_dims=2), kernels=True),
    R("abs", lambda a: ag.abs(a), np.abs, unary(NONZERO), api=("abs",)),
    R("abs:builtin", lambda a: abs(a), np.abs, unary(NONZERO), api=("__abs__",)),
    R("sign", lambda a: ag.sign(a), np.sign, unary(NONZERO), api=("sign",)),
    R("clip", lambda a: ag.clip(a, -1.0, 1.0), lambda a: np.minimum(np.maximum(a, -1.0), 1.0),
      unary(away_from(-1.0, 1.0)), api=("clip",)),
    R("clip:min only", lambda a: a.clip(min=0.0), lambda a: np.maximum(a, 0.0), unary(NONZERO)),
    R("clip:tensor bounds", lambda a, lo, hi: ag.clip(a, lo, hi),
      lambda a, lo, hi: np.minimum(np.maximum(a, lo), hi), clip_bounds_inputs(), api=("clip",)),
    R("clamp:tensor min", lambda a, lo: a.clamp(min=lo), np.maximum,
      lambda lim: clip_bounds_inputs()(lim).map(lambda c: (c[0][:2], {}))),
    R("clamp:max only", lambda a: a.clamp(max=0.5), lambda a: np.minimum(a, 0.5),
      unary(away_from(0.5)), api=("clamp",)),
    R("clamp:fn", lambda a: ag.clamp(a, -2.0, 2.0), lambda a: np.minimum(np.maximum(a, -2.0), 2.0),
      unary(away_from(-2.0, 2.0)), api=("clamp",)),
    R("maximum", lambda a, b: ag.maximum(a, b), lambda a, b: np.where(a > b, a, b),
      binary(GRID_A, GRID_B), api=("maximum",)),
    R("minimum", lambda a, b: ag.minimum(a, b), lambda a, b: np.where(a < b, a, b),
      binary(GRID_A, GRID_B), api=("minimum",)),
    R("maximum:method scalar", lambda a: a.maximum(0.0), lambda a: np.where(a > 0, a, 0.0),
      unary(NONZERO)),
    R("where", lambda a, b, cond: ag.where(cond, a, b), lambda a, b, cond: np.where(cond, a, b),
      where_inputs(), api=("where",)),
    R("where:method (PyTorch order)", lambda a, b, cond: a.where(cond, b),
      lambda a, b, cond: np.where(cond, a, b), where_inputs()),
    R("where:tensor cond from comparison", lambda a, b: ag.where(a > 0, a, b),
      lambda a, b: np.where(a > 0, a, b), binary(NONZERO, REAL)),
    R("where:tensor cond, scalar branch", lambda a, mask: ag.where(ag.tensor(mask), a, 0.0),
      lambda a, mask: np.where(mask, a, 0.0), unary(params=bool_mask)),
    R("astype:float32", lambda a: a.astype(ag.float32), lambda a: a, unary(), api=("astype",),
      out_dtype="float32", eps=1e-2),
    R("astype:float/double roundtrip", lambda a: a.float().double(),
      lambda a: a.astype(np.float32).astype(np.float64), unary(),
      out_dtype="float64", eps=1e-2),
    R("astype:to float64", lambda a: a.to(ag.float64), lambda a: a, unary(), out_dtype="float64"),
    R("astype:int64 (no grad)", lambda a: ag.astype(a, "int64"), lambda a: a.astype(np.int64),
      unary(), differentiable=False, out_dtype="int64"),
    R("clone", lambda a: ag.clone(a), np.copy, unary(), api=("clone",)),
    R("clone:method", lambda a: a.clone(), np.copy, unary()),
    # comparisons: bool results, no gradient
    R("lt", lambda a, b: a < b, np.less, binary(), api=("__lt__",), differentiable=False, out_dtype="bool"),
    R("le", lambda a, b: a <= b, np.less_equal, binary(), api=("__le__",), differentiable=False,
      out_dtype="bool"),
    R("gt", lambda a, b: a > b, np.greater, binary(), api=("__gt__",), differentiable=False,
      out_dtype="bool"),
    R("ge", lambda a, b: a >= b, np.greater_equal, binary(), api=("__ge__",), differentiable=False,
      out_dtype="bool"),
    R("eq", lambda a, b: a == b, np.equal, binary(), api=("__eq__",), differentiable=False,
      out_dtype="bool"),
    R("ne", lambda a, b: a != b, np.not_equal, binary(), api=("__ne__",), differentiable=False,
      out_dtype="bool"),
]


# ---- reductions: every op with axis None / int / negative / tuple, keepdims both ways, dim/keepdim
REDUCTION_VARIANTS = [  # (label, our kwargs, numpy kwargs, min_dims)
    ("all", {}, {}, 0),
    ("all keepdims", {"keepdims": True}, {"keepdims": True}, 0),
    ("axis=0", {"axis": 0}, {"axis": 0}, 1),
    ("axis=-1 keepdims", {"axis": -1, "keepdims": True}, {"axis": -1, "keepdims": True}, 1),
    ("axis=(0,-1)", {"axis": (0, -1)}, {"axis": (0, -1)}, 2),
    ("dim=1 keepdim (method)", {"dim": 1, "keepdim": True}, {"axis": 1, "keepdims": True}, 2),
]
REDUCTIONS = {  # name: (numpy reference, element domain, post-processing, min_side)
    "sum": (np.sum, REAL, None, 1),
    "mean": (np.mean, REAL, None, 1),
    "max": (np.max, REAL, distinct, 1),
    "min": (np.min, REAL, distinct, 1),
    "logsumexp": (_logsumexp, REAL, None, 1),
    # PyTorch's default correction=1; needs 2+ elements per reduction (std: distinct, so var > 0)
    "var": (lambda a, **k: np.var(a, ddof=1, **k), REAL, None, 2),
    "std": (lambda a, **k: np.std(a, ddof=1, **k), REAL, distinct, 2),
}


def _reduction_row(name, label, kw, np_kw, min_dims):
    ref, elements, post, min_side = REDUCTIONS[name]
    if "dim" in kw:
        fn = lambda a: getattr(a, name)(**kw)  # noqa: E731
    else:
        fn = lambda a: getattr(ag, name)(a, **kw)  # noqa: E731
    if min_side > 1:
        min_dims = max(min_dims, 1)
    return R(f"{name}[{label}]", fn, lambda a: ref(a, **np_kw),
             unary(elements, min_dims=min_dims, min_side=min_side, post=post), api=(name,),
             atol32=1e-3 if name in ("var", "std") else 1e-4)


SPECS += [_reduction_row(name, *variant) for name in REDUCTIONS for variant in REDUCTION_VARIANTS]
SPECS += [
    R("var[ddof=0]", lambda a: ag.var(a, ddof=0), np.var, unary(min_dims=1), api=("var",), atol32=1e-3),
    R("var[correction=0 dim=0]", lambda a: a.var(dim=0, correction=0), lambda a: np.var(a, axis=0),
      unary(min_dims=1), atol32=1e-3),
    R("std[ddof=0 axis=-1]", lambda a: ag.std(a, axis=-1, ddof=0), lambda a: np.std(a, axis=-1),
      unary(min_dims=1, min_side=2, post=distinct), api=("std",), atol32=1e-3),
    R("std[correction=1 keepdim]", lambda a: a.std(dim=0, keepdim=True),
      lambda a: np.std(a, axis=0, ddof=1, keepdims=True), unary(min_dims=1, min_side=2, post=distinct),
      atol32=1e-3),
]
for _name, _np in (("argmax", np.argmax), ("argmin", np.argmin)):
    SPECS += [
        R(f"{_name}[all]", lambda a, n=_name: getattr(ag, n)(a), _np, unary(),
          api=(_name,), differentiable=False, out_dtype="int64"),
        R(f"{_name}[axis=0]", lambda a, n=_name: getattr(ag, n)(a, axis=0),
          lambda a, f=_np: f(a, axis=0), unary(min_dims=1), differentiable=False, out_dtype="int64"),
        R(f"{_name}[dim=-1 keepdim]", lambda a, n=_name: getattr(a, n)(dim=-1, keepdim=True),
          lambda a, f=_np: f(a, axis=-1, keepdims=True), unary(min_dims=1), differentiable=False,
          out_dtype="int64"),
    ]

# ---- shape ops -------------------------------------------------------------------------------------
SPECS += [
    R("reshape:reversed shape", lambda a: ag.reshape(a, a.shape[::-1]), lambda a: a.reshape(a.shape[::-1]),
      unary(), api=("reshape",)),
    R("reshape:method varargs -1", lambda a: a.reshape(1, -1), lambda a: a.reshape(1, -1), unary()),
    R("view", lambda a: a.view(-1), lambda a: a.reshape(-1), unary(), api=("view",)),
    R("transpose:swap two (PyTorch)", lambda a: a.transpose(0, -1), lambda a: np.swapaxes(a, 0, -1),
      unary(min_dims=1), api=("transpose",)),
    R("transpose:reverse all (numpy)", lambda a: ag.transpose(a), np.transpose, unary(), api=("transpose",)),
    R("transpose:permutation (numpy)", lambda a: ag.transpose(a, (2, 0, 1)),
      lambda a: np.transpose(a, (2, 0, 1)), unary(min_dims=3, max_dims=3)),
    R("T", lambda a: a.T, lambda a: a.T, unary(), api=("T",)),
    R("permute:varargs", lambda a: a.permute(2, 0, 1), lambda a: np.transpose(a, (2, 0, 1)),
      unary(min_dims=3, max_dims=3), api=("permute",)),
    R("permute:negative tuple", lambda a: ag.permute(a, (-1, 0)), lambda a: a.T,
      unary(min_dims=2, max_dims=2), api=("permute",)),
    R("swapaxes", lambda a: ag.swapaxes(a, 0, -1), lambda a: np.swapaxes(a, 0, -1), unary(min_dims=1),
      api=("swapaxes",)),
    R("swapaxes:method", lambda a: a.swapaxes(-1, -2), lambda a: np.swapaxes(a, -1, -2), unary(min_dims=2)),
    R("flatten", lambda a: ag.flatten(a), lambda a: a.reshape(-1), unary(), api=("flatten",)),
    R("flatten:start=1", lambda a: a.flatten(1), lambda a: a.reshape(a.shape[0], -1), unary(min_dims=2)),
    R("flatten:start_dim/end_dim", lambda a: ag.flatten(a, start_dim=0, end_dim=-2),
      lambda a: a.reshape((-1,) + a.shape[-1:]), unary(min_dims=2)),
    R("squeeze", lambda a: ag.squeeze(a), np.squeeze, unary(), api=("squeeze",)),
    R("squeeze:axis=0", lambda a: a.squeeze(0), lambda a: _squeeze_some(a, (0,)), unary(min_dims=1)),
    R("squeeze:dim=(0,-1)", lambda a: ag.squeeze(a, dim=(0, -1)), lambda a: _squeeze_some(a, (0, -1)),
      unary(min_dims=2)),
    R("unsqueeze:0", lambda a: ag.unsqueeze(a, 0), lambda a: np.expand_dims(a, 0), unary(),
      api=("unsqueeze",)),
    R("unsqueeze:dim=-1", lambda a: a.unsqueeze(dim=-1), lambda a: np.expand_dims(a, -1), unary()),
    R("broadcast_to", lambda a: ag.broadcast_to(a, _bigger(a.shape)),
      lambda a: np.broadcast_to(a, _bigger(a.shape)), unary(), api=("broadcast_to",)),
    R("broadcast_to:method", lambda a: a.broadcast_to(_bigger(a.shape)),
      lambda a: np.broadcast_to(a, _bigger(a.shape)), unary()),
    R("expand:-1 keeps", lambda a: a.expand(2, *[3 if n == 1 else -1 for n in a.shape]),
      lambda a: np.broadcast_to(a, _bigger(a.shape)), unary(), api=("expand",)),
    R("concatenate:axis=0", lambda a, b: ag.concatenate([a, b], axis=0),
      lambda a, b: np.concatenate([a, b], axis=0), along_axis(2, 0), api=("concatenate",)),
    R("concatenate:axis=1", lambda a, b: ag.concatenate((a, b), 1),
      lambda a, b: np.concatenate([a, b], axis=1), along_axis(2, 1, min_dims=2)),
    R("cat:dim=-1 three", lambda a, b, c: ag.cat([a, b, c], dim=-1),
      lambda a, b, c: np.concatenate([a, b, c], axis=-1), along_axis(3, -1), api=("cat",)),
    R("stack:axis=0", lambda a, b: ag.stack([a, b]), lambda a, b: np.stack([a, b]), same_shape(2),
      api=("stack",)),
    R("stack:dim=-1 three", lambda a, b, c: ag.stack([a, b, c], dim=-1),
      lambda a, b, c: np.stack([a, b, c], axis=-1), same_shape(3)),
    R("split:size 2", lambda a: tuple(ag.split(a, 2)),
      lambda a: tuple(a[i:i + 2] for i in range(0, a.shape[0], 2)), unary(min_dims=1), api=("split",)),
    R("split:sections dim=-1", lambda a: tuple(ag.split(a, [1, a.shape[-1] - 1], dim=-1)),
      lambda a: (a[..., :1], a[..., 1:]), unary(min_dims=1)),
    R("split:method size 1", lambda a: tuple(a.split(1, dim=-1)),
      lambda a: tuple(a[..., i:i + 1] for i in range(a.shape[-1])), unary(min_dims=1)),
    R("pad:int", lambda a: ag.pad(a, 1), lambda a: np.pad(a, 1), unary(), api=("pad",)),
    R("pad:per-axis value", lambda a: ag.pad(a, _pad_widths(a.ndim), value=2.5),
      lambda a: np.pad(a, _pad_widths(a.ndim), constant_values=2.5), unary(min_dims=1)),
    # indexing: basic, slices, integer arrays (repeated entries accumulate), booleans
    R("getitem:int", lambda a: a[-1], lambda a: a[-1], unary(min_dims=1), api=("__getitem__", "getitem")),
    R("getitem:slices", lambda a: a[1:, ::-2], lambda a: a[1:, ::-2], unary(min_dims=2)),
    R("getitem:ellipsis None int", lambda a: a[..., None, 0], lambda a: a[..., None, 0], unary(min_dims=1)),
    R("getitem:int array repeated", lambda a, index: a[index], lambda a, index: a[index],
      unary(min_dims=1, params=int_index)),
    R("getitem:list repeated", lambda a: a[[0, -1, 0]], lambda a: a[[0, -1, 0]], unary(min_dims=1)),
    R("getitem:two int tensors", lambda a, i, j: a[ag.tensor(i), ag.tensor(j)], lambda a, i, j: a[i, j],
      unary(min_dims=2, params=two_int_indices)),
    R("getitem:slice + int array", lambda a, index: a[:, index], lambda a, index: a[:, index],
      unary(min_dims=2, params=axis1_index)),
    R("getitem:bool mask", lambda a, mask: a[mask], lambda a, mask: a[mask], unary(params=bool_mask)),
    R("getitem:bool tensor axis 0", lambda a, mask: a[ag.tensor(mask)], lambda a, mask: a[mask],
      unary(min_dims=1, params=bool_mask0)),
    # matmul: batched, broadcasting, 1-d operands
    R("matmul:@", lambda a, b: a @ b, _matmul, matmul_inputs(), api=("__matmul__",), kernels=True),
    R("matmul:fn batched", lambda a, b: ag.matmul(a, b), _matmul, matmul_inputs(vectors=False),
      api=("matmul",), kernels=True),
    R("rmatmul:numpy array @ tensor", lambda b, left: left.astype(b.dtype) @ b,
      lambda b, left: _matmul(left, b), _as_param(matmul_inputs(), "left"), api=("__rmatmul__",)),
    R("matmul:vector @ vector", lambda a, b: a @ b, _matmul, matmul_inputs(kind="vectors"), kernels=True),
    R("matmul:method transposed operand", lambda a, b: a.transpose(-1, -2).matmul(b),
      lambda a, b: _matmul(a.T, b), matmul_inputs(kind="transposed"), kernels=True),
    # softmax family (logsumexp is with the reductions)
    R("softmax", lambda a: ag.softmax(a), _softmax, unary(), api=("softmax",)),
    R("softmax:axis=0", lambda a: ag.softmax(a, axis=0), lambda a: _softmax(a, 0), unary(min_dims=1)),
    R("softmax:method dim=1", lambda a: a.softmax(dim=1), lambda a: _softmax(a, 1), unary(min_dims=2)),
    R("log_softmax", lambda a: ag.log_softmax(a), _log_softmax, unary(), api=("log_softmax",)),
    R("log_softmax:axis=0", lambda a: ag.log_softmax(a, axis=0), lambda a: _log_softmax(a, 0),
      unary(min_dims=1)),
    R("log_softmax:method dim=1", lambda a: a.log_softmax(dim=1), lambda a: _log_softmax(a, 1),
      unary(min_dims=2)),
]

assert len({s.name for s in SPECS}) == len(SPECS), "row names must be unique"

DIFFERENTIABLE = [s for s in SPECS if s.differentiable]
KERNEL_ROWS = [s for s in SPECS if s.kernels]


# ---- linear (the fused GEMM op, ops/linalg.py): appended rows, so the derived lists are rebuilt
def linear_inputs(bias=True):
    """x (..., in) with 0-2 leading axes, weight (out, in) and, with `bias`, bias (out,)."""
    def inputs(lim):
        @st.composite
        def case(draw):
            lead = draw(_shapes(lim, 0, lim.max_dims - 1))
            k, n = draw(st.integers(1, lim.max_side)), draw(st.integers(1, lim.max_side))
            arrays = (_array(draw, lead + (k,), SMALL), _array(draw, (n, k), SMALL))
            return (arrays + (_array(draw, (n,), SMALL),) if bias else arrays), {}
        return case()
    return inputs


def _linear(x, w, b=None):
    """Via einsum, independently of our matmul: x (..., in) w (out, in)^T + b."""
    out = np.einsum("...k,nk->...n", x, w)
    return out if b is None else out + b


SPECS += [
    R("linear", lambda x, w, b: ag.ops.linalg.linear(x, w, b), _linear, linear_inputs(),
      api=("linear",), kernels=True),
    R("linear:no bias", lambda x, w: ag.ops.linear(x, w), _linear, linear_inputs(bias=False),
      kernels=True),
]


INTEGERS = ags.elements("float64", -3.0, 3.0).map(np.round)


def linear_relu_inputs(bias=True):
    """As linear_inputs, with whole numbers in x and weight and half-odd ones in the bias, so
    every pre-activation is a multiple of 0.5 away from relu's kink at 0. Without a bias, x's
    last feature is 1 and weight's last column half-odd: the bias folded into the product."""
    def inputs(lim):
        @st.composite
        def case(draw):
            lead = draw(_shapes(lim, 0, lim.max_dims - 1))
            k, n = draw(st.integers(1, lim.max_side)), draw(st.integers(1, lim.max_side))
            x, w = _array(draw, lead + (k,), INTEGERS), _array(draw, (n, k), INTEGERS)
            if bias:
                return (x, w, _array(draw, (n,), INTEGERS) + 0.5), {}
            x[..., -1] = 1.0
            w[:, -1] += 0.5
            return (x, w), {}
        return case()
    return inputs


SPECS += [
    R("linear_relu", lambda x, w, b: ag.ops.linalg.linear_relu(x, w, b),
      lambda x, w, b: np.maximum(_linear(x, w, b), 0.0), linear_relu_inputs(), kernels=True),
    R("linear_relu:no bias", lambda x, w: ag.ops.linalg.linear_relu(x, w),
      lambda x, w: np.maximum(_linear(x, w), 0.0), linear_relu_inputs(bias=False), kernels=True),
]
assert len({s.name for s in SPECS}) == len(SPECS), "row names must be unique"
DIFFERENTIABLE = [s for s in SPECS if s.differentiable]
KERNEL_ROWS = [s for s in SPECS if s.kernels]

# ---- convolution and pooling (ops/conv.py) -------------------------------------------------------
# References written from the definitions, one output element at a time (PyTorch's floor mode).
def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_hw(x_shape, kernel, stride, padding):
    return tuple((x_shape[2 + a] + 2 * padding[a] - kernel[a]) // stride[a] + 1 for a in (0, 1))


def naive_conv2d(x, w, b=None, stride=1, padding=0):
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = w.shape[2:]
    oh, ow = _out_hw(x.shape, (kh, kw), (sh, sw), (ph, pw))
    out = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for r in range(oh):
        for q in range(ow):
            patch = xp[:, :, r * sh:r * sh + kh, q * sw:q * sw + kw]
            out[:, :, r, q] = np.einsum("nchw,ochw->no", patch, w)
    return out if b is None else out + b[:, None, None]


def naive_pool2d(x, kernel_size, stride=None, padding=0, kind="max"):
    kernel = _pair(kernel_size)
    (sh, sw), (ph, pw) = _pair(kernel_size if stride is None else stride), _pair(padding)
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh, ow = _out_hw(x.shape, kernel, (sh, sw), (ph, pw))
    out = np.zeros(x.shape[:2] + (oh, ow))
    for r in range(oh):
        for q in range(ow):
            patch = xp[:, :, r * sh:r * sh + kernel[0], q * sw:q * sw + kernel[1]]
            out[:, :, r, q] = patch.max(axis=(2, 3)) if kind == "max" else patch.mean(axis=(2, 3))
    return out


def conv_inputs(bias):
    """x (n, c, h, w), weight (o, c, kh, kw)[, bias (o,)], with stride and padding drawn so the
    kernel fits the padded input."""
    def inputs(lim):
        @st.composite
        def case(draw):
            side = max(2, lim.max_side)
            n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
            h, w = draw(st.integers(1, side)), draw(st.integers(1, side))
            ph, pw = draw(st.integers(0, 1)), draw(st.integers(0, 1))
            kh, kw = draw(st.integers(1, min(3, h + 2 * ph))), draw(st.integers(1, min(3, w + 2 * pw)))
            stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            arrays = (_array(draw, (n, c, h, w), SMALL), _array(draw, (o, c, kh, kw), SMALL))
            if bias:
                arrays += (_array(draw, (o,), SMALL),)
            return arrays, {"stride": stride, "padding": (ph, pw)}
        return case()
    return inputs


def pool_inputs(elements=SMALL, post=None):
    """x (n, c, h, w), kernel_size, stride (None half the time) and padding <= kernel / 2."""
    def inputs(lim):
        @st.composite
        def case(draw):
            side = max(2, lim.max_side)
            n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            h, w = draw(st.integers(1, side)), draw(st.integers(1, side))
            kernel = (draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w))))
            padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
            stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 2), st.integers(1, 2))))
            x = _array(draw, (n, c, h, w), elements)
            x = post(x) if post else x
            return (x,), {"kernel_size": kernel, "stride": stride, "padding": padding}
        return case()
    return inputs


SPECS += [
    R("conv2d", lambda x, w, stride, padding: ag.conv2d(x, w, stride=stride, padding=padding),
      naive_conv2d, conv_inputs(bias=False), api=("conv2d",), kernels=True),
    R("conv2d:bias", lambda x, w, b, stride, padding: ag.conv2d(x, w, b, stride, padding),
      naive_conv2d, conv_inputs(bias=True), kernels=True),
    R("max_pool2d", lambda x, **p: ag.max_pool2d(x, **p), lambda x, **p: naive_pool2d(x, **p),
      pool_inputs(post=distinct), api=("max_pool2d",), kernels=True),
    R("avg_pool2d", lambda x, **p: ag.avg_pool2d(x, **p),
      lambda x, **p: naive_pool2d(x, kind="avg", **p), pool_inputs(), api=("avg_pool2d",),
      kernels=True),
]
DIFFERENTIABLE = [s for s in SPECS if s.differentiable]
KERNEL_ROWS = [s for s in SPECS if s.kernels]

# ---- parametrised activations and losses (ops/activation.py, class_loss.py, loss.py) -------------
def _log_softmax_rows(x):
    """log_softmax over axis 1 (axis 0 for a 1-d input), from the maths: x - log sum e^x."""
    axis = 0 if x.ndim == 1 else 1
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def _reduced(rows, reduction, count):
    if reduction == "none":
        return rows
    return np.sum(rows) / (count if reduction == "mean" else 1)


def _xent_labels_ref(a, target, reduction="mean", label_smoothing=0.0, ignore_index=-100):
    """-(1 - eps) log p[target] - eps/C sum_c log p[c] per target; ignored targets count 0."""
    logp = _log_softmax_rows(a)
    axis = 0 if a.ndim == 1 else 1
    c = a.shape[axis]
    keep = target != ignore_index
    picked = np.take_along_axis(logp, np.expand_dims(np.where(keep, target, 0), axis), axis)
    rows = -(1 - label_smoothing) * np.squeeze(picked, axis) - label_smoothing / c * logp.sum(axis)
    return _reduced(np.where(keep, rows, 0.0), reduction, keep.sum())


def _xent_probs_ref(a, p, reduction="mean", label_smoothing=0.0):
    axis = 0 if a.ndim == 1 else 1
    c = a.shape[axis]
    q = (1 - label_smoothing) * p + label_smoothing / c
    rows = -(q * _log_softmax_rows(a)).sum(axis)
    return _reduced(rows, reduction, rows.size)


def class_targets(draw, a):
    """Class indices for logits `a` (class axis 1, or 0 when 1-d), some equal to ignore_index."""
    c = a.shape[0 if a.ndim == 1 else 1]
    shape = () if a.ndim == 1 else a.shape[:1] + a.shape[2:]
    target = draw(ags.arrays(shape, "int64", st.integers(0, c - 1)))
    if target.size > 1:
        target.flat[-1] = -100
    return {"target": target}


WEIGHT = ags.elements("float64", 0.1, 2.0)


def weighted_class_targets(draw, a):
    """class_targets and a positive weight per class."""
    c = a.shape[0 if a.ndim == 1 else 1]
    weight = draw(ags.arrays((c,), "float64", WEIGHT))
    return {**class_targets(draw, a), "weight": weight}


def _nll_ref(a, target, weight, reduction="mean", ignore_index=-100):
    """-weight[t] a[t] per target; the mean divides by the counted targets' weights."""
    axis = 0 if a.ndim == 1 else 1
    keep = target != ignore_index
    safe = np.where(keep, target, 0)
    picked = np.squeeze(np.take_along_axis(a, np.expand_dims(safe, axis), axis), axis)
    w = np.where(keep, weight[safe], 0.0)
    return _reduced(-picked * w, reduction, w.sum())


def _softplus_ref(a, beta=1.0, threshold=20.0):
    return np.where(a * beta > threshold, a, np.log(1 + np.exp(a * beta)) / beta)


def _mse(a, b, **kwargs):
    """mse_loss over the table's broadcastable shapes, where torch's warning about a target of
    another shape than the input's is expected (its own test is in test_nn_functional.py)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "mse_loss: using a target size", UserWarning)
        return ag.mse_loss(a, b, **kwargs)


def _bce_ref(a, t, w=1.0, pw=1.0, reduction="mean"):
    """-w (pw t log s + (1 - t) log(1 - s)) with s = sigmoid(a), reduced over the elements."""
    s = 1 / (1 + np.exp(-a))
    loss = -w * (pw * t * np.log(s) + (1 - t) * np.log(1 - s))
    return _reduced(loss, reduction, loss.size)


PROBABILITY = ags.elements("float64", 0.05, 0.95)  # inside (0, 1), away from the log clamp


def with_weights(weight, pos_weight, targets=PROBABILITY):
    """Inputs, targets of their shape, then a positive weight of their shape and a pos_weight
    with one value per class along the last axis, each when asked for."""
    def inputs(lim):
        @st.composite
        def case(draw):
            shape = draw(_shapes(lim))
            arrays = (_array(draw, shape, REAL), _array(draw, shape, targets))
            if weight:
                arrays += (_array(draw, shape, WEIGHT),)
            if pos_weight:
                arrays += (_array(draw, shape[-1:], WEIGHT),)
            return arrays, {}
        return case()
    return inputs


def _bce_probs_ref(p, y, reduction="mean"):
    loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return loss if reduction == "none" else np.mean(loss)


SPECS += [
    R("leaky_relu", lambda a: ag.leaky_relu(a), lambda a: np.where(a > 0, a, 0.01 * a), unary(NONZERO),
      api=("leaky_relu",), kernels=True),
    R("leaky_relu:slope 0.2 non-contiguous", lambda a: ag.leaky_relu(a.T, negative_slope=0.2),
      lambda a: np.where(a.T > 0, a.T, 0.2 * a.T), unary(NONZERO, min_dims=2), kernels=True),
    R("elu", lambda a: ag.elu(a), lambda a: np.where(a > 0, a, np.exp(a) - 1), unary(NONZERO),
      api=("elu",), kernels=True),
    R("elu:alpha 1.5", lambda a: ag.elu(a, alpha=1.5), lambda a: np.where(a > 0, a, 1.5 * (np.exp(a) - 1)),
      unary(NONZERO), kernels=True),
    R("softplus", lambda a: ag.softplus(a), _softplus_ref, unary(), api=("softplus",), kernels=True),
    R("softplus:beta 2 threshold 5", lambda a: ag.softplus(a, beta=2.0, threshold=5.0),
      lambda a: _softplus_ref(a, 2.0, 5.0), unary(away_from(2.5)), kernels=True),
    R("cross_entropy:class targets", lambda a, target: ag.cross_entropy(a, target),
      lambda a, target: _xent_labels_ref(a, target), unary(min_dims=1, params=class_targets),
      api=("cross_entropy",), kernels=True),
    R("cross_entropy:sum smoothing", lambda a, target: ag.cross_entropy(
        a, target, reduction="sum", label_smoothing=0.3),
      lambda a, target: _xent_labels_ref(a, target, "sum", 0.3),
      unary(min_dims=2, params=class_targets), kernels=True),
    R("cross_entropy:none", lambda a, target: ag.cross_entropy(a, target, reduction="none"),
      lambda a, target: _xent_labels_ref(a, target, "none"), unary(min_dims=2, params=class_targets),
      kernels=True),
    R("cross_entropy:probabilities", lambda a, p: ag.cross_entropy(a, p, label_smoothing=0.1),
      lambda a, p: _xent_probs_ref(a, p, label_smoothing=0.1), same_shape(2, min_dims=1),
      kernels=True),
    R("cross_entropy:probabilities none", lambda a, p: ag.cross_entropy(a, p, reduction="none"),
      lambda a, p: _xent_probs_ref(a, p, "none"), same_shape(2, min_dims=2), kernels=True),
    R("nll_loss:weight", lambda a, target, weight: ag.nn.functional.nll_loss(a, target, weight),
      _nll_ref, unary(min_dims=1, params=weighted_class_targets)),
    R("nll_loss:none weight", lambda a, target, weight: ag.nn.functional.nll_loss(
        a, target, weight, reduction="none"),
      lambda a, target, weight: _nll_ref(a, target, weight, "none"),
      unary(min_dims=2, params=weighted_class_targets)),
    R("binary_cross_entropy_with_logits", lambda a, t: ag.binary_cross_entropy_with_logits(a, t),
      _bce_ref, same_shape(2), api=("binary_cross_entropy_with_logits",), kernels=True),
    R("binary_cross_entropy_with_logits:sum", lambda a, t: ag.binary_cross_entropy_with_logits(
        a, t, reduction="sum"), lambda a, t: _bce_ref(a, t) * a.size, same_shape(2), kernels=True),
    R("binary_cross_entropy_with_logits:weight pos_weight",
      lambda a, t, w, pw: ag.binary_cross_entropy_with_logits(a, t, w, pos_weight=pw),
      lambda a, t, w, pw: _bce_ref(a, t, w, pw), with_weights(True, True), kernels=True),
    R("binary_cross_entropy_with_logits:none pos_weight",
      lambda a, t, pw: ag.binary_cross_entropy_with_logits(a, t, reduction="none", pos_weight=pw),
      lambda a, t, pw: _bce_ref(a, t, pw=pw, reduction="none"), with_weights(False, True),
      kernels=True),
    R("binary_cross_entropy_with_logits:sum weight",
      lambda a, t, w: ag.binary_cross_entropy_with_logits(a, t, w, reduction="sum"),
      lambda a, t, w: _bce_ref(a, t, w, reduction="sum"), with_weights(True, False),
      kernels=True),
    R("binary_cross_entropy", lambda p, y: ag.nn.functional.binary_cross_entropy(p, y), _bce_probs_ref,
      same_shape(2, PROBABILITY)),
    R("binary_cross_entropy:sum weight", lambda p, y, w: ag.nn.functional.binary_cross_entropy(
        p, y, weight=w, reduction="sum"), lambda p, y, w: (_bce_probs_ref(p, y, "none") * w).sum(),
      same_shape(3, PROBABILITY)),
    R("mse_loss", lambda a, b: _mse(a, b), lambda a, b: np.mean((a - b) ** 2), binary(),
      api=("mse_loss",), kernels=True),
    R("mse_loss:none", lambda a, b: _mse(a, b, reduction="none"), lambda a, b: (a - b) ** 2,
      binary(), kernels=True),
    R("mse_loss:weight", lambda a, b, w: ag.mse_loss(a, b, weight=w),
      lambda a, b, w: np.sum(w * (a - b) ** 2) / np.sum(w), with_weights(True, False, REAL)),
]
assert len({s.name for s in SPECS}) == len(SPECS), "row names must be unique"
DIFFERENTIABLE = [s for s in SPECS if s.differentiable]
KERNEL_ROWS = [s for s in SPECS if s.kernels]
