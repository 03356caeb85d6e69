"""`Module` and `Parameter`: containers that find their parameters by attribute assignment."""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator, Optional

import numpy as np

from ..errors import StateDictError, StateDictShapeError
from ..tensor import Tensor

# Callbacks that summary() installs while its forward pass runs (a stack, for nesting).
_recorders: list = []


class Parameter(Tensor):
    """A tensor that a `Module` registers as a parameter when assigned to one of its attributes.

    >>> import autograd as ag
    >>> p = ag.nn.Parameter(ag.zeros(2))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.zeros(0, dtype=np.float32)
        # Share the array of a tensor or ndarray, as torch.nn.Parameter shares storage.
        array = data.data if isinstance(data, Tensor) else data
        super().__init__(np.asarray(array) if not isinstance(array, np.ndarray) else array,
                         requires_grad=requires_grad)
        if isinstance(array, np.ndarray):
            self.data = array

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)


class Module:
    """Base class of layers and models: subclass, assign parameters and submodules in
    `__init__`, write `forward`, then call the module.

    >>> import autograd as ag
    >>> class Affine(ag.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = ag.nn.Parameter(ag.ones(3))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> [name for name, _ in Affine().named_parameters()]
    ['scale']
    """

    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "training", True)

    # ---- registration by assignment -------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        self._require_init("assigning attributes")
        # As torch: a registered parameter name takes only a Parameter or None (which keeps the
        # name registered), a submodule name also a Parameter, a buffer name also a Tensor or a
        # Module; anything else would silently drop the name from parameters(), the optimizer
        # and state_dict.
        if not isinstance(value, Parameter):
            if name in self._parameters:
                self._keep_registered(self._parameters, name, value, "parameter", "nn.Parameter")
                return
            if name in self._modules and not isinstance(value, Module):
                self._keep_registered(self._modules, name, value, "child module", "nn.Module")
                return
            if name in self._buffers and not isinstance(value, (Tensor, Module)):
                self._keep_registered(self._buffers, name, value, "buffer", "Tensor")
                return
        if isinstance(value, Parameter):
            table = self._parameters
        elif isinstance(value, Module):
            table = self._modules
        elif name in self._buffers:  # a Tensor: the buffer keeps its place and persistence
            table = self._buffers
        else:
            table = None
        for other in (self._parameters, self._buffers, self._modules):
            if other is not table:
                other.pop(name, None)
        if table is not self._buffers:
            self._non_persistent_buffers_set.discard(name)
        if table is None:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)
        if table is self._parameters:  # as torch, through register_parameter's name checks
            self.register_parameter(name, value)
        else:
            table[name] = value  # a replaced entry keeps its place (state_dict order), as in torch

    def _require_init(self, doing: str) -> None:
        if "_non_persistent_buffers_set" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 f"{doing}")

    def _keep_registered(self, table, name: str, value, role: str, expected: str) -> None:
        if value is not None:
            raise self._wrong_type(name, value, role, expected)
        table[name] = None

    def _wrong_type(self, name: str, value, role: str, expected: str) -> TypeError:
        return TypeError(f"{type(self).__name__}: cannot assign '{type(value).__name__}' as "
                         f"{role} '{name}' ({expected} or None expected)")

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: parameters, buffers and submodules live in tables.
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def _check_name(self, method: str, kind: str, name, table: dict) -> None:
        """torch's checks of a name given to register_buffer, register_parameter or add_module:
        a dotted or empty name could never be reached by attribute access or state_dict keys,
        and one that already names another attribute would be shadowed by it (or shadow it)."""
        where = f"{type(self).__name__}.{method}"
        if not isinstance(name, str):
            raise TypeError(f"{where}: {kind} name should be a string, got "
                            f"{type(name).__name__} {name!r}")
        if "." in name:
            raise KeyError(f"{where}: {kind} name can't contain \".\", got {name!r}")
        if name == "":
            raise KeyError(f"{where}: {kind} name can't be empty string \"\"")
        if hasattr(self, name) and name not in table:
            raise KeyError(f"{where}: attribute {name!r} already exists")

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        """State that moves with the module (`to`, `state_dict`) but is not trained, as
        BatchNorm's running mean; a non-persistent buffer is left out of `state_dict`, for state
        that is derived or too large to save.

        >>> import autograd as ag
        >>> m = ag.nn.Module()
        >>> m.register_buffer("mean", ag.zeros(2))
        >>> m.register_buffer("cache", ag.zeros(2), persistent=False)
        >>> [name for name, _ in m.named_buffers()], list(m.state_dict())
        (['mean', 'cache'], ['mean'])
        """
        self._require_init("registering a buffer")
        self._check_name("register_buffer", "buffer", name, self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):  # as torch: no arrays, numbers
            raise self._wrong_type(name, tensor, "buffer", "Tensor")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        """A parameter under a name chosen at run time (`setattr` with a Parameter does the
        same); None keeps the name registered with no value, as an optional bias."""
        self._require_init("registering a parameter")
        self._check_name("register_parameter", "parameter", name, self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise self._wrong_type(name, param, "parameter", "nn.Parameter")
        self._parameters[name] = param

    def add_module(self, name: str, module: Optional["Module"]) -> None:
        """A submodule under a name chosen at run time (Sequential's "0", "1", ...)."""
        if module is not None and not isinstance(module, Module):
            raise self._wrong_type(name, module, "child module", "nn.Module")
        self._require_init("adding a submodule")
        self._check_name("add_module", "module", name, self._modules)
        self._modules[name] = module

    # ---- calling ------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        if _recorders:  # summary() is watching: note this module's output
            _recorders[-1](self, out)
        return out

    # ---- traversal -----------------------------------------------------------------------
    def named_modules(self, memo: Optional[set] = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple]:
        """(name, module) for this module and every submodule, depth first; a module reached
        twice is listed (with what it holds) once, unless not `remove_duplicate`."""
        memo = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if module in memo:
                continue
            if remove_duplicate:
                memo.add(module)
            yield name, module
            children = [(f"{name}.{k}" if name else k, m)
                        for k, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def get_submodule(self, target: str) -> "Module":
        """The submodule at a dotted path ("" is this module)."""
        module = self
        for part in target.split(".") if target else ():
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} "
                                     f"(looking up {target!r})")
            module = module._modules[part]
        return module

    def modules(self) -> Iterator["Module"]:
        return (m for _, m in self.named_modules())

    def named_children(self) -> Iterator[tuple]:
        return ((k, m) for k, m in self._modules.items() if m is not None)

    def children(self) -> Iterator["Module"]:
        return (m for _, m in self.named_children())

    def _named_members(self, table: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple]:
        """(dotted name, value) of each module's `table`; a value held twice (a tied weight,
        a module used twice) is listed once, unless not `remove_duplicate`."""
        seen = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for mname, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield (f"{mname}.{name}" if mname else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple]:
        """(dotted name, parameter) pairs, this module's own first; with `recurse` False only
        this module's own."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple]:
        """(dotted name, buffer) pairs, non-persistent buffers included."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        return (b for _, b in self.named_buffers(recurse=recurse))

    # ---- modes and gradients -------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            elif isinstance(p.grad.data, np.ndarray):
                p.grad.data.fill(0)
            else:
                p.grad.data = p.grad.data.dtype.type(0)

    def requires_grad_(self, flag: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(flag)
        return self

    def to(self, dtype) -> "Module":
        """Cast floating parameters and buffers to `dtype` in place (as torch's Module.to)."""
        from ..dtypes import as_dtype

        dtype = as_dtype(dtype)
        for module in self.modules():
            for table in (module._parameters, module._buffers):
                for value in table.values():
                    if value is not None and value.dtype.kind == "f" and value.dtype != dtype:
                        value.data = np.asarray(value.data, dtype=dtype)
                        value.grad = None
                        value._mark_modified()
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    def apply(self, fn) -> "Module":
        """Call fn on every submodule, then on this one (as torch does, for custom init)."""
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    # ---- state ---------------------------------------------------------------------------
    def _state(self) -> Iterator[tuple]:
        """(dotted name, tensor) of what state_dict saves: parameters and persistent buffers,
        under every name of a submodule registered twice (as torch's state_dict, which walks
        _modules without named_parameters' dedup: load_state_dict then wants each name)."""
        for mname, module in self.named_modules(remove_duplicate=False):
            skip = module._non_persistent_buffers_set
            for table in (module._parameters, module._buffers):
                for name, value in table.items():
                    if value is not None and not (table is module._buffers and name in skip):
                        yield (f"{mname}.{name}" if mname else name), value

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and persistent buffer as numpy arrays, by dotted name (a
        submodule under two names is saved under both, as torch does)."""
        return OrderedDict((key, np.array(value.data)) for key, value in self._state())

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into the parameters and persistent buffers in place; with `strict`, the
        key sets must match. Returns (missing_keys, unexpected_keys). A submodule under two
        names is loaded from each, in state_dict order (the last one's values stay), as torch."""
        own = dict(self._state())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise StateDictError(f"load_state_dict for {type(self).__name__}: missing keys "
                                 f"{missing}, unexpected keys {unexpected}")
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = np.asarray(getattr(state_dict[key], "data", state_dict[key]))
            if value.shape != target.shape:
                raise StateDictShapeError(
                    f"load_state_dict for {type(self).__name__}: key {key!r} has shape "
                    f"{value.shape} in the state dict but {target.shape} in the module")
            if isinstance(target.data, np.ndarray):
                np.copyto(target.data, value, casting="unsafe")
            else:
                target.data = target.data.dtype.type(value)
            target._mark_modified()
        return missing, unexpected

    # ---- display -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def summary(self, input_shape, dtype=np.float32) -> "Summary":
        """A Keras-style table of layers, output shapes and parameter counts, from a forward
        pass on zeros of `input_shape` (batch axis included) under no_grad."""
        from .summary import summarize

        return summarize(self, tuple(input_shape), dtype)
