"""`Tensor`: an n-d array node of the graph. 0-d tensors are the scalars; there is one type.

`data` is a numpy array, or a numpy scalar for 0-d values: numpy computes on scalars about ten
times faster than on 0-d arrays, which is what makes scalar graphs (micrograd-style) fast.
`numpy()` always returns an ndarray.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable, Optional

import numpy as np

from .errors import DTypeError, GraphError, ShapeError

_new = object.__new__
_ndarray = np.ndarray
_generic = np.generic


class _clock:
    """Counts in-place modifications. A node records the count when it is made and a tensor when
    it is modified, so "modified after the node saved it" is one comparison, with no per-op state."""

    now = 0

    @classmethod
    def tick(cls) -> int:
        cls.now += 1
        return cls.now


class Tensor:
    """An n-d array that records the operations applied to it, so gradients can flow back.

    >>> import autograd as ag
    >>> x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    # _version: the in-place clock's count at this tensor's last in-place change (_clock).
    # _alias: the stamp shared with views of the same memory (function.shared_version).
    __slots__ = ("data", "grad", "grad_fn", "requires_grad", "_out_index", "_version", "_alias",
                 "_hooks", "_retains_grad", "__weakref__")
    # numpy defers to our reflected operators (np.float64(2) * t gives a Tensor).
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data: Any, dtype=None, requires_grad: bool = False):
        from .creation import _to_array

        self.data = _to_array(data, dtype)
        self.grad = None
        self.grad_fn = None
        self._version = 0
        self._hooks = self._alias = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(data) -> "Tensor":
        """A tensor around an array (or numpy scalar) that is already in its final form."""
        t = _new(Tensor)
        t.data = data
        t.grad = None
        t.grad_fn = None
        t.requires_grad = False
        t._version = 0
        t._hooks = t._alias = None
        return t

    # ---- attributes -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> "Tensor":
        return _ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> "Tensor":
        return _ops.swapaxes(self, -1, -2)

    def size(self, dim: Optional[int] = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    # ---- conversion -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as an ndarray (shares memory, except for 0-d tensors)."""
        if self.requires_grad:
            raise GraphError("numpy(): call .detach().numpy() on a tensor that requires grad")
        return np.asarray(self.data)

    def __array__(self, dtype=None, copy=None):
        a = np.asarray(self.data)
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self):
        if self.data.size != 1:
            raise ShapeError(f"item(): only one-element tensors convert to Python scalars, got shape {self.shape}")
        return self.data.item() if self.ndim == 0 else self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __repr__(self):
        body = np.array2string(np.asarray(self.data), separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extra += f", dtype={self.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__

    # ---- graph --------------------------------------------------------------------------------
    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and self.dtype.kind != "f":
            raise DTypeError(f"only floating point tensors can require gradients, this one is {self.dtype}")
        if not flag and self.grad_fn is not None:
            raise GraphError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(flag)
        return self

    def detach(self) -> "Tensor":
        """A tensor sharing this one's data, cut from the graph."""
        from .function import shared_version

        t = Tensor._make(self.data)
        t._alias = shared_version(self)
        return t

    def backward(self, gradient=None, retain_graph: Optional[bool] = None,
                 create_graph: bool = False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into the `.grad` of every leaf that requires grad."""
        _engine.backward((self,), None if gradient is None else (gradient,), retain_graph, create_graph, inputs)

    def register_hook(self, hook: Callable[["Tensor"], Optional["Tensor"]]):
        """Call `hook(grad)` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise GraphError("register_hook on a tensor that does not require grad")
        if self.grad_fn is None:
            hooks = getattr(self, "_hooks", None)
            if hooks is None:
                hooks = self._hooks = []
        else:
            node = self.grad_fn
            if node._hooks is None:
                node._hooks = {}
            hooks = node._hooks.setdefault(self._out_index, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keep `.grad` on a non-leaf tensor too."""
        if self.grad_fn is None or getattr(self, "_retains_grad", False):
            return
        self._retains_grad = True
        ref = weakref.ref(self)

        def store(grad):
            t = ref()
            if t is not None:
                t.grad = grad.detach() if t.grad is None else Tensor._make(t.grad.data + grad.data)

        self.register_hook(store)

    # ---- in place (not differentiable; they bump the version counter) ----------------------
    def _check_inplace(self, op: str):
        from .grad_mode import is_grad_enabled

        if is_grad_enabled() and self.requires_grad:
            kind = "a leaf tensor that requires grad" if self.grad_fn is None else "a tensor in a graph"
            raise GraphError(f"{op}: in-place operation on {kind}; use an out-of-place op, or wrap "
                             f"it in ag.no_grad() if it is a parameter update")

    def _assign(self, op: str, values) -> "Tensor":
        """Write `values` into this tensor's data in place (rebinding a 0-d scalar)."""
        self._check_inplace(op)
        if isinstance(values, Tensor):
            values = values.data
        d = self.data
        if type(d) is _ndarray:
            try:
                np.copyto(d, values, casting="same_kind")
            except (ValueError, TypeError) as e:
                error = DTypeError if isinstance(e, TypeError) else ShapeError  # cast vs shape
                raise error(f"{op}: cannot write {np.shape(values)} {np.result_type(values)} into "
                            f"{d.shape} {d.dtype}: {e}") from None
        else:
            self.data = d.dtype.type(values)
        self._mark_modified()
        return self

    def _mark_modified(self) -> None:
        stamp = self._version = _clock.tick()
        cell = getattr(self, "_alias", None)
        if cell is not None:
            cell.stamp = stamp
        if self.grad_fn is not None:
            self.grad_fn._outputs_modified = stamp

    def __setitem__(self, index, value):
        self._check_inplace("__setitem__")
        if isinstance(value, Tensor):
            from .grad_mode import is_grad_enabled

            if value.requires_grad and is_grad_enabled():
                raise GraphError("__setitem__: assigning a tensor that requires grad would drop its "
                                 "gradient; build the result with ag.where or ag.cat, or assign "
                                 "value.detach()")
            value = value.data
        index = _ops.unwrap_index(index)
        if type(self.data) is _ndarray:
            self.data[index] = value
        else:  # a 0-d tensor holds an immutable numpy scalar: write a copy, keep the scalar form
            data = np.array(self.data)
            data[index] = value
            self.data = data[()]
        self._mark_modified()

    def zero_(self) -> "Tensor":
        return self._assign("zero_", 0)

    def fill_(self, value) -> "Tensor":
        return self._assign("fill_", value)

    def copy_(self, src) -> "Tensor":
        return self._assign("copy_", src)

    def __iadd__(self, other):
        return self._assign("__iadd__", self.data + _ops.raw(other))

    def __isub__(self, other):
        return self._assign("__isub__", self.data - _ops.raw(other))

    def __imul__(self, other):
        return self._assign("__imul__", self.data * _ops.raw(other))

    def __itruediv__(self, other):
        return self._assign("__itruediv__", self.data / _ops.raw(other))

    # ---- operators ------------------------------------------------------------------------------
    # + - * / ** @, unary - and abs() are the op functions themselves, installed by
    # ops.install_methods: one Python call less on every arithmetic operator.
    def __radd__(self, other):
        return _ops.add(other, self)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __pos__(self):
        return self

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def __lt__(self, other):
        return _ops.compare(np.less, self, other)

    def __le__(self, other):
        return _ops.compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _ops.compare(np.greater, self, other)

    def __ge__(self, other):
        return _ops.compare(np.greater_equal, self, other)

    def __eq__(self, other):
        return _ops.compare(np.equal, self, other)

    def __ne__(self, other):
        return _ops.compare(np.not_equal, self, other)

    def __and__(self, other):
        return _ops.compare(np.logical_and, self, other)

    def __or__(self, other):
        return _ops.compare(np.logical_or, self, other)

    def __invert__(self):
        return Tensor._make(np.logical_not(self.data))


class _HookHandle:
    def __init__(self, hooks: list, hook):
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


from . import ops as _ops  # noqa: E402  (ops need Tensor defined first)

_ops.install_methods(Tensor)

from . import engine as _engine  # noqa: E402
