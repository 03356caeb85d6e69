"""`Function`: the one class every op subclasses, built-in and user-defined alike.

Calling `MyOp.apply(*args)` creates one instance of `MyOp`. That instance is the `ctx` that
`forward` and `backward` receive, and when grad mode is on and an input requires grad it is also
the graph node (the output's `grad_fn`).

- `forward(ctx, *args)` gets the inputs' arrays (numpy arrays, or numpy scalars for 0-d values;
  non-tensor arguments as they were passed) and returns an array, or a tuple of arrays.
- `backward(ctx, *grads)` gets one gradient per output and returns one per input (None where an
  input has no gradient). Gradients may come in the broadcast shape; the engine sums them back.

Backward formulas are written with operators, methods and ops' `apply`, which work on plain
arrays and on Tensors alike: `apply` with no Tensor argument just runs `forward` and returns the
array. So one formula runs on raw arrays in an ordinary backward (fast) and records itself when
`backward(create_graph=True)` hands it Tensors (gradients of gradients).
"""
from itertools import count

import numpy as np

from .errors import AnomalyError, AutogradError, DTypeError, GraphError, ShapeError, describe
from .grad_mode import _anomaly, _grad_enabled, creation_stack
from .tensor import Tensor, _clock

_new = object.__new__
# Creation numbers, counting down: the engine's heap pops the newest node first (engine._walk).
_next_seq = count(0, -1).__next__
_FLOAT_SCALAR_TYPES = frozenset({np.float16, np.float32, np.float64, np.longdouble})


class Function:
    """Base class of ops. Subclass with static `forward(ctx, ...)` and `backward(ctx, *grads)`.

    >>> import autograd as ag
    >>> class Cube(ag.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         x, = ctx.saved_tensors
    ...         return g * 3 * x ** 2
    >>> x = ag.tensor(2.0, requires_grad=True)
    >>> Cube.apply(x).backward()
    >>> x.grad.item()
    12.0
    """

    # Ops whose output may be a numpy view of input 0 share its version counter, so an in-place
    # change through either is seen by nodes that saved the other.
    _output_is_view = False
    # Ops whose local derivative can be infinite set this; see engine._guard_zero.
    _guard_zero_grad = False
    _output_meta = None  # ((shape, dtype), ...) for ops with several outputs
    # The inputs a node keeps: per forward argument, the argument itself, except that a tensor
    # made by a single-output op is kept as that op's node. Then the graph is nodes that refer
    # to nodes, and an intermediate tensor dies with the user's last reference to it: a
    # 150,000-op chain keeps half the objects for the cyclic collector to scan again and again
    # (its gc time 0.18 -> 0.10 s). What backward needs of such a tensor is on the node: its
    # array (_out), and its in-place stamps (_outputs_modified, and _alias_cell once it shares
    # memory). One or two inputs (most ops) live in the slots _in0 and _in1, with _inputs their
    # count; three or more in a tuple in _inputs. A tuple per node was as many objects again
    # for the collector to count and scan (the chain's build 0.31 -> 0.25 s without them).
    # _inputs is None once backward has freed the node. _input_tuple gives them as a tuple.
    # The state every recorded node has lives in slots, not in an instance dict: a long graph is
    # hundreds of thousands of nodes that the cyclic collector scans again and again, and slotted
    # ones scan faster (a full collection over a 150,000-op chain: 60-70 -> 53-55 ms). Anything
    # else an op's forward keeps on ctx goes to __dict__, made only when first used.
    __slots__ = ("_inputs", "_in0", "_in1", "_saved", "_stamp", "_seq", "_out", "__dict__",
                 "__weakref__")
    # Rarer node state, as class defaults so that apply sets only what differs.
    _hooks = None
    _create_graph = False
    # The in-place clock's stamp of the last in-place change to this node's output (0: none),
    # and the stamp shared with the output's views once it has any (shared_version).
    _outputs_modified = 0
    _alias_cell = None

    @classmethod
    def apply(cls, *args):
        datas = []
        append = datas.append
        kept = args  # what the node keeps of its inputs (see _inputs): args, or a list
        n = len(args)
        has_tensor = requires_grad = False
        i = 0
        for a in args:
            if isinstance(a, Tensor):
                has_tensor = True
                append(a.data)
                node = a.grad_fn
                if node is None or node._output_meta is not None:
                    if a.requires_grad:
                        requires_grad = True
                else:  # an op's output (so it requires grad), kept as its node
                    requires_grad = True
                    if kept is args:
                        kept = list(args)
                    kept[i] = node
            else:
                append(a)
            i += 1
        ctx = _new(cls)
        if has_tensor:  # before forward: ctx.needs_input_grad works there, as in PyTorch
            if n > 2:
                ctx._inputs = tuple(kept)
            else:
                ctx._in0 = kept[0]
                if n == 2:
                    ctx._in1 = kept[1]
                ctx._inputs = n
        else:  # nothing to record, but ctx.needs_input_grad answers (every entry False)
            ctx._inputs = args
        try:
            # Plain calls for one or two arguments: a call with *datas cannot be inlined by the
            # interpreter and costs a C-level frame (these run for every op).
            if n == 1:
                out = cls.forward(ctx, datas[0])
            elif n == 2:
                out = cls.forward(ctx, datas[0], datas[1])
            else:
                out = cls.forward(ctx, *datas)
        except (ValueError, TypeError, IndexError) as e:
            raise _op_error(cls, e, datas) from None
        if not has_tensor:
            return out
        record = requires_grad and _grad_enabled.get()
        kind = type(out)
        if kind is tuple:
            result = tuple(_wrap(o, ctx if record else None, i) for i, o in enumerate(out))
            if record:
                ctx._output_meta = tuple((r.shape, r.dtype) for r in result)
        elif record and (kind in _FLOAT_SCALAR_TYPES or (kind is np.ndarray and out.dtype.kind == "f")):
            # _wrap inlined for the commonest case, a recorded float output: it runs for every op
            result = _new(Tensor)
            result.data = out
            result.grad = None
            result._version = 0
            result._hooks = result._alias = None
            result.requires_grad = True
            result.grad_fn = ctx
            result._out_index = 0
        else:
            result = _wrap(out, ctx if record else None, 0)
        if record:
            ctx._stamp = _clock.now
            ctx._seq = _next_seq()
            # The output's array (no extra memory: consumers of the output hold it anyway);
            # consumers that keep this node as their input read its shape and dtype here.
            ctx._out = out if kind is tuple else result.data
        if cls._output_is_view:  # also under no_grad: a view shares its base's version counter
            _mark_view(args[0], result)
        if _anomaly.get():
            if record:
                ctx._stack = creation_stack()
            _check_finite(cls, "forward", out)
        return result

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    # ---- ctx API ---------------------------------------------------------------------------
    def save_for_backward(self, *arrays) -> None:
        """Keep arrays for backward; inputs and outputs saved here are checked for in-place changes."""
        # One array is kept as itself, not in its 1-tuple: one object fewer per node that the
        # cyclic collector counts (saved_tensors gives the tuple back).
        if len(arrays) == 1 and type(arrays[0]) is not tuple and arrays[0] is not None:
            self._saved = arrays[0]
        else:
            self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        """The saved values: arrays in a plain backward, Tensors in a `create_graph` backward."""
        try:
            saved = self._saved
        except AttributeError:  # the op saved nothing
            return ()
        if saved is None:
            raise GraphError(_freed_message(self))
        if type(saved) is not tuple:
            saved = (saved,)
        if _clock.now != self._stamp:  # something was modified in place since this node was made
            _check_not_modified(self, saved)
        if not self._create_graph:
            return saved
        return tuple(self._as_graph_value(v) for v in saved)

    def _as_graph_value(self, value):
        """A saved array as the Tensor it came from: an input, an output, or else a constant."""
        for t in _input_tuple(self):
            if isinstance(t, Tensor):
                if t.data is value:
                    return t
            elif isinstance(t, Function) and t._out is value:
                return _wrap(value, t, 0)  # an input kept as its node: the same graph position
        outs = self._out if type(self._out) is tuple else (self._out,)
        for k, data in enumerate(outs):
            if data is value:
                return _wrap(value, self, k)
        return value  # a constant: operators mix it with tensors as it is

    @property
    def needs_input_grad(self) -> tuple:
        """For each forward argument: is it a Tensor whose gradient is wanted?"""
        if self._inputs == 2:  # most ops: no list comprehension's frame, no calls
            a = self._in0
            b = self._in1
            return (a.requires_grad if isinstance(a, Tensor) else isinstance(a, Function),
                    b.requires_grad if isinstance(b, Tensor) else isinstance(b, Function))
        return tuple([a.requires_grad if isinstance(a, Tensor) else isinstance(a, Function)
                      for a in _input_tuple(self)])  # inline: no call per input

    @property
    def next_functions(self) -> tuple:
        """For each input: (its grad_fn or None, output index), as in PyTorch."""
        return tuple(
            # leaves have no _out_index (only op outputs get one)
            (a.grad_fn, a._out_index) if isinstance(a, Tensor) and a.grad_fn is not None
            else (a, 0) if isinstance(a, Function) else (None, 0)
            for a in _input_tuple(self)
        )

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    def __repr__(self):
        return f"<{self.name()}Backward>"


def _input_tuple(node) -> tuple:
    """The inputs node keeps (see Function._inputs), as a tuple; None once backward freed it."""
    inputs = node._inputs
    if type(inputs) is not int:
        return inputs
    return (node._in0, node._in1) if inputs == 2 else (node._in0,)


class _SharedVersion:
    """The in-place stamp shared by all tensors over one memory (a base, its views, detached
    copies). Made when the first view is; it refers to no tensor, so it keeps no graph alive."""

    __slots__ = ("stamp",)

    def __init__(self, stamp: int):
        self.stamp = stamp


def shared_version(t: Tensor) -> _SharedVersion:
    """t's shared stamp, made on first use (when a view or detached copy of t appears)."""
    cell = getattr(t, "_alias", None)
    if cell is None:
        cell = _share(t, _SharedVersion(t._version))
    return cell


def _share(t: Tensor, cell: _SharedVersion) -> _SharedVersion:
    """Give t the shared stamp `cell`, on its node too when consumers keep t as its node
    (Function._inputs): they see changes through t's views and aliases there."""
    t._alias = cell
    if t.grad_fn is not None and t.grad_fn._output_meta is None:
        t.grad_fn._alias_cell = cell
    return cell


def _last_modified(own: int, cell) -> int:
    """The stamp of the last in-place change to an array: its own stamp (a tensor's version, a
    node's _outputs_modified) or, once it shares memory, that of any tensor sharing it."""
    return own if cell is None else max(own, cell.stamp)


def _check_not_modified(node, saved: tuple):
    for i, t in enumerate(_input_tuple(node)):
        if isinstance(t, Tensor):
            data, last = t.data, _last_modified(t._version, getattr(t, "_alias", None))
        elif isinstance(t, Function):  # an op's output, kept as its node
            data, last = t._out, _last_modified(t._outputs_modified, t._alias_cell)
        else:
            continue
        if last > node._stamp and any(data is v for v in saved):
            raise GraphError(_modified_message(node, f"input {i}", np.shape(data)))
    # Only an output the node saved matters (Mul saves its inputs, so changing its output is fine),
    # changed directly or through a view or detached alias of it (the shared stamp).
    outs = node._out if type(node._out) is tuple else (node._out,)
    if (_last_modified(node._outputs_modified, node._alias_cell) > node._stamp
            and any(o is v for o in outs for v in saved)):
        raise GraphError(_modified_message(node, "its output", None))


def _modified_message(node, which, shape):
    shape = f" of shape {shape}" if shape is not None else ""
    return (f"{node.name()}: a tensor needed for its gradient ({which}{shape}) has been modified "
            f"by an in-place operation after the op saved it. Use an out-of-place operation, or "
            f"modify a copy (t.clone()).")


def _wrap(value, node, index):
    kind = type(value)
    if kind is not np.ndarray and kind not in _FLOAT_SCALAR_TYPES and not isinstance(value, np.generic):
        value = value.data if isinstance(value, Tensor) else np.asarray(value)
        kind = type(value)
    t = _new(Tensor)
    t.data = value
    t.grad = None
    t._version = 0
    t._hooks = t._alias = None
    if node is not None and (kind in _FLOAT_SCALAR_TYPES or value.dtype.kind == "f"):
        t.requires_grad = True
        t.grad_fn = node
        t._out_index = index
    else:
        t.requires_grad = False
        t.grad_fn = None
    return t


def _mark_view(source, results):
    """A view shares its source's stamp, so a change through either is seen by nodes that saved
    the other."""
    if not isinstance(source, Tensor):
        return
    for r in results if type(results) is tuple else (results,):
        if isinstance(r.data, np.ndarray) and r.data.base is not None:
            _share(r, shared_version(source))


def _op_error(cls, error, datas):
    """numpy's error from inside a forward, restated with the op's name and its inputs."""
    if isinstance(error, AutogradError):
        return error
    inputs = describe(*[d for d in datas if hasattr(d, "shape")])
    message = f"{cls.name().lower()}: {error} (inputs: {inputs})"
    if isinstance(error, ValueError):
        return ShapeError(message)
    if isinstance(error, TypeError):
        return DTypeError(message)
    return type(error)(message)


def _freed_message(node) -> str:
    return (
        f"{node.name()}: trying to backward through the graph a second time (or to read saved "
        f"tensors after they were freed). Saved intermediate values are freed after "
        f"backward(); pass retain_graph=True to the first backward() to keep them."
    )


def _check_finite(cls, phase, values):
    for v in values if type(values) is tuple else (values,):
        if v is None:
            continue
        data = v.data if isinstance(v, Tensor) else v
        if getattr(data, "dtype", None) is not None and data.dtype.kind in "fc":
            if not np.all(np.isfinite(data)):
                raise AnomalyError(
                    f"{cls.__name__}: {phase} produced NaN or inf "
                    f"(output shape {np.shape(data)}, dtype {data.dtype})"
                )
