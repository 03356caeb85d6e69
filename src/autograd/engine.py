"""The backward pass: one iterative walk over the graph, no recursion anywhere.

1. Nodes run newest first (a heap on the creation number `Function.apply` gives each node). Every
   consumer of a node's output was created after the node, so when a node comes off the heap its
   gradient is complete: one pass, with no separate count of each node's consumers.
2. A node is scheduled when its first delivery arrives (a gradient, or None from a consumer that
   gives it none), so every node reachable from the roots runs once.
3. Gradients are summed back to each input's shape here, once (`unbroadcast`); no op does it.
4. Unless the graph is retained, each node is freed as soon as its backward has run.
"""
from __future__ import annotations

import gc
import math
import sys
from heapq import heappop, heappush
from typing import Optional, Sequence

import numpy as np

from .backend import owns_memory
from .errors import GraphError, ShapeError
from .function import Function, _check_finite, _freed_message, _input_tuple
from .grad_mode import _anomaly, _grad_enabled
from .tensor import Tensor

_getrefcount = sys.getrefcount
_isfinite = math.isfinite


def unbroadcast(g, shape: tuple, op: str = "backward"):
    """Sum a gradient of a broadcast shape back to `shape` (works on arrays and Tensors)."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead < 0:
        raise ShapeError(f"{op}: gradient of shape {gshape} cannot be summed to input shape {shape}")
    axes = list(range(lead))
    for i, n in enumerate(shape):
        if n != gshape[lead + i]:
            if n != 1:
                raise ShapeError(f"{op}: gradient of shape {gshape} does not match input shape {shape}")
            axes.append(lead + i)
    if axes:
        g = g.sum(axis=tuple(axes), keepdims=True)
    return g.reshape(shape)


_ONES = {}


def _one(dtype):
    one = _ONES.get(dtype)
    if one is None:
        one = _ONES[dtype] = dtype.type(1)
    return one


def _seed(root: Tensor, gradient, create_graph: bool):
    if gradient is None:
        data = root.data
        if data.size != 1:
            raise GraphError(f"backward: grad can be implicitly created only for outputs with one "
                             f"element; this output has shape {root.shape}: pass gradient=")
        one = np.ones(data.shape, dtype=data.dtype) if data.ndim else _one(data.dtype)
        return Tensor._make(one) if create_graph else one
    g = gradient if isinstance(gradient, Tensor) else Tensor(gradient, dtype=root.dtype)
    if g.shape != root.shape:
        raise ShapeError(f"backward: gradient shape {g.shape} does not match output shape {root.shape}")
    if create_graph:
        return g
    # A copy: the engine may hand this array on to a leaf's .grad.
    return np.array(g.data, dtype=root.dtype, copy=True) if root.ndim else root.dtype.type(g.data)


def _deliver(pending, node, index, g):
    """Add g to the gradient waiting for output `index` of node: the array itself for the usual
    single-output node, a list with one entry per output otherwise."""
    meta = node._output_meta
    if meta is None:
        previous = pending.get(node)
        pending[node] = g if previous is None else previous + g
        return
    slots = pending.get(node)
    if slots is None:
        slots = pending[node] = [None] * len(meta)
    slots[index] = g if slots[index] is None else slots[index] + g


def _call_backward(node, waiting, create_graph, captured, captured_nodes):
    """node's backward with hooks, captures, several outputs or a recorded backward (not the
    common case, which _walk calls directly)."""
    slots = [waiting] if node._output_meta is None else waiting
    if node._hooks:
        slots = _run_node_hooks(node, slots)
    if captured_nodes and node in captured_nodes:
        for t in captured_nodes[node]:
            captured[id(t)] = slots[t._out_index]
    if len(slots) > 1 or create_graph or node._create_graph:
        _prepare_call(node, slots, create_graph)
    return type(node).backward(node, *slots), slots[0]


_UNSCHEDULED = object()


def _walk(roots, seeds, retain_graph, create_graph, captured, captured_nodes, leaf_grads):
    pending = {}  # node -> the gradient of its output (see _deliver); None until one arrives
    heap = []     # (creation number, node): the newest node first
    for r, g in zip(roots, seeds):
        node = r.grad_fn
        if node is None:
            _deliver_leaf(leaf_grads, r, g)
            continue
        if node not in pending:
            pending[node] = None
            heappush(heap, (node._seq, node))
        _deliver(pending, node, r._out_index, g)
    anomaly = _anomaly.get()
    general = create_graph or bool(captured_nodes)
    ndarray = np.ndarray
    unscheduled = _UNSCHEDULED
    # One scheduled node may wait here instead of in the heap: in a chain each node schedules
    # one child and the heap would only take it in and give it back (a tuple, a push, a pop).
    ready = None
    while True:
        if ready is not None and not (heap and heap[0][0] < ready._seq):  # newest of the two
            node, ready = ready, None
        elif heap:
            node = heappop(heap)[1]
        else:
            break
        waiting = pending.pop(node)
        inputs = node._inputs  # _input_tuple inlined: this runs for every node
        if type(inputs) is int:
            inputs = (node._in0, node._in1) if inputs == 2 else (node._in0,)
        elif inputs is None:
            raise GraphError(_freed_message(node))
        if waiting is not None:
            if general or node._hooks or node._output_meta is not None or node._create_graph:
                in_grads, g0 = _call_backward(node, waiting, create_graph, captured, captured_nodes)
            else:
                in_grads = type(node).backward(node, waiting)
                g0 = waiting
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if len(in_grads) != len(inputs):
                in_grads = _fit_result(node, in_grads)
            # a nonzero numpy scalar gradient cannot meet 0 * inf: skip the call (most nodes)
            if node._guard_zero_grad and (type(g0) is ndarray or isinstance(g0, Tensor) or g0 == 0):
                in_grads = _guard_zero(g0, in_grads)
            if anomaly:
                _check_backward(node, in_grads)
        else:  # every consumer passed None: run nothing, but pass None on so the graph is freed
            in_grads = (None,) * len(inputs)
        for t, g in zip(inputs, in_grads):
            # t: an op's output kept as its node (Function._inputs), a tensor, or a constant
            if isinstance(t, Function):
                child, data = t, t._out
            elif isinstance(t, Tensor):
                if g is not None and not t.requires_grad:
                    continue
                child, data = t.grad_fn, t.data
            else:
                continue
            if g is None:
                if child is not None and child not in pending:
                    pending[child] = None  # nothing to add, but run it: it frees its inputs
                    heappush(heap, (child._seq, child))
                continue
            if data is None:  # a node whose backward already ran and freed it
                raise GraphError(_freed_message(child))
            kind = type(g)
            # Same numpy scalar type, or an array of the same shape and dtype: nothing to do.
            if kind is not type(data) or (kind is ndarray and (g.shape != data.shape or g.dtype != data.dtype)):
                g = _conform(g, data, node)
            if child is None:
                _deliver_leaf(leaf_grads, t, g)
            elif child._output_meta is None:
                previous = pending.get(child, unscheduled)
                if previous is unscheduled:
                    if ready is None:
                        ready = child
                    else:
                        heappush(heap, (child._seq, child))
                    pending[child] = g
                else:
                    pending[child] = g if previous is None else previous + g
            else:
                if child not in pending:
                    heappush(heap, (child._seq, child))
                _deliver(pending, child, t._out_index, g)
        if not retain_graph:
            node._saved = node._inputs = node._in0 = node._in1 = node._out = None


def _conform(g, data, node):
    """A gradient summed back to its input's shape and cast to its dtype."""
    if g.shape != data.shape:
        g = unbroadcast(g, data.shape, node.name())
    if g.dtype != data.dtype:
        g = g.astype(data.dtype)
    return g


def _run(roots, seeds, retain_graph, create_graph, capture: Optional[Sequence[Tensor]]):
    """Run backward from `roots`. With `capture`, return their gradients instead of touching .grad."""
    captured, captured_nodes = {}, {}
    if capture is not None:
        for t in capture:
            captured[id(t)] = None
            if t.grad_fn is not None:
                captured_nodes.setdefault(t.grad_fn, []).append(t)
    leaf_grads = {}  # leaf tensor -> its summed gradient (tensors hash by identity)
    token = _grad_enabled.set(create_graph)
    # The walk makes no reference cycles (its temporaries are freed by reference counting), so the
    # cyclic collector would only re-scan the live graph again and again: pause it meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _walk(roots, seeds, retain_graph, create_graph, captured, captured_nodes, leaf_grads)
    finally:
        if collecting:
            gc.enable()
        _grad_enabled.reset(token)
    if capture is not None:
        for leaf, g in leaf_grads.items():
            if id(leaf) in captured:
                captured[id(leaf)] = g
        return [captured[id(t)] for t in capture]
    while leaf_grads:
        leaf, g = leaf_grads.popitem()
        _accumulate(leaf, g, create_graph)
    return None


def _deliver_leaf(leaf_grads, leaf, g):
    previous = leaf_grads.get(leaf)
    leaf_grads[leaf] = g if previous is None else previous + g


def _prepare_call(node, slots, create_graph):
    if len(slots) > 1:  # outputs that got no gradient get zeros (PyTorch materializes them too)
        for i, s in enumerate(slots):
            if s is None:
                shape, dtype = node._output_meta[i]
                z = np.zeros(shape, dtype=dtype)
                slots[i] = Tensor._make(z) if create_graph else z
    node._create_graph = create_graph


def _fit_result(node, result):
    """Trailing Nones beyond the inputs are allowed (PyTorch allows them); anything else is an error."""
    n_inputs = len(_input_tuple(node))
    if len(result) > n_inputs and all(r is None for r in result[n_inputs:]):
        return result[:n_inputs]
    raise GraphError(f"{node.name()}.backward returned {len(result)} gradients, expected "
                     f"{n_inputs} (one per forward argument, None where there is none)")


def _check_backward(node, result):
    try:
        _check_finite(type(node), "backward", result)
    except Exception as e:
        stack = getattr(node, "_stack", "")
        raise type(e)(f"{e}\nThe forward call that created this node:\n{stack}") from None


def _guard_zero(g, grads):
    """Where the incoming gradient is exactly 0 the outgoing ones are 0, even where the op's local
    derivative is infinite and 0 * inf made NaN (so `where` never leaks the other branch's inf)."""
    graw = g.data if isinstance(g, Tensor) else g
    if type(graw) is not np.ndarray and graw != 0:  # a nonzero scalar gradient: nothing to guard
        return grads
    out = []
    for r in grads:
        if r is not None and not _all_finite(r):
            from .ops.elementwise import Where

            shape = np.shape(r.data if isinstance(r, Tensor) else r)
            r = Where.apply(np.broadcast_to(graw == 0, shape), 0, r)
        out.append(r)
    return tuple(out)


def _all_finite(r) -> bool:
    data = r.data if isinstance(r, Tensor) else r
    if type(data) is np.ndarray:
        return data.dtype.kind != "f" or bool(np.isfinite(data).all())
    return _isfinite(data)


def _run_node_hooks(node, slots):
    for index, hooks in node._hooks.items():
        g = slots[index]
        if g is None:
            continue
        slots[index] = _apply_hooks(hooks, g)
    return slots


def _apply_hooks(hooks, g):
    as_tensor = isinstance(g, Tensor)
    for hook in list(hooks):
        out = hook(g if as_tensor else Tensor._make(g))
        if out is not None:
            g = out if as_tensor else (out.data if isinstance(out, Tensor) else np.asarray(out))
    return g


# References to a gradient array that only the engine holds, as seen inside _accumulate: the
# caller's local, the parameter, and getrefcount's own argument.
_OWNED_REFS = 3


def _accumulate(leaf: Tensor, g, create_graph: bool):
    hooks = getattr(leaf, "_hooks", None)
    if hooks:
        g = _apply_hooks(hooks, g)
    if create_graph:
        g = g if isinstance(g, Tensor) else Tensor._make(g)
        if leaf.grad is None:
            # A recorded copy: g may be the user's gradient= tensor or another leaf's .grad too,
            # and a later plain backward accumulates into .grad in place.
            from .ops.elementwise import Clone

            g = Clone.apply(g)
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    if isinstance(g, Tensor):
        g = g.data
    if leaf.grad is None:
        # Take the array when nothing else refers to it (as PyTorch does), else copy, so that no
        # two .grad share memory with each other or with a tensor of the user's.
        if type(g) is np.ndarray and (not owns_memory(g) or _getrefcount(g) > _OWNED_REFS
                                      or not g.flags.writeable):
            g = g.copy()
        leaf.grad = Tensor._make(g)
    else:
        acc = leaf.grad.data
        if type(acc) is np.ndarray and acc.flags.writeable and acc.shape == np.shape(g):
            np.add(acc, g, out=acc, casting="unsafe")
            leaf.grad._mark_modified()
        elif type(acc) is type(g) and type(acc) is not np.ndarray:  # numpy scalars of one type:
            leaf.grad.data = acc + g  # the same .grad tensor, updated, as for arrays and in torch
            leaf.grad._mark_modified()
        else:
            leaf.grad = Tensor._make(acc + g)


def _as_tuple(x):
    if x is None:
        return None
    if isinstance(x, (Tensor, np.ndarray)) or not isinstance(x, (tuple, list)):
        return (x,)
    return tuple(x)


def backward(tensors, grad_tensors=None, retain_graph: Optional[bool] = None,
             create_graph: bool = False, inputs=None) -> None:
    """Accumulate gradients of `tensors` into the `.grad` of the leaves (or of `inputs` only)."""
    if (type(tensors) is tuple and len(tensors) == 1 and grad_tensors is None and inputs is None
            and not create_graph and tensors[0].requires_grad):
        root = tensors[0]  # the common `loss.backward()`: skip the general argument handling
        _run(tensors, (_seed(root, None, False),), bool(retain_graph), False, None)
        return
    tensors = _as_tuple(tensors)
    grad_tensors = _as_tuple(grad_tensors) or (None,) * len(tensors)
    if len(grad_tensors) != len(tensors):
        raise ValueError(f"backward: {len(tensors)} tensors but {len(grad_tensors)} gradients")
    for t in tensors:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise GraphError("backward: element 0 of tensors does not require grad and does not have "
                             "a grad_fn (did you compute it under no_grad, or from tensors without "
                             "requires_grad=True?)")
    retain_graph = create_graph if retain_graph is None else retain_graph
    seeds = [_seed(t, g, create_graph) for t, g in zip(tensors, grad_tensors)]
    if inputs is not None:
        inputs = _as_tuple(inputs)
        found = _run(tensors, seeds, retain_graph, create_graph, inputs)
        for t, g in zip(inputs, found):
            if g is not None:
                _accumulate(t, g, create_graph)
        return
    _run(tensors, seeds, retain_graph, create_graph, None)


def grad(outputs, inputs, grad_outputs=None, retain_graph: Optional[bool] = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """The gradients of `outputs` with respect to `inputs`, as a tuple; `.grad` is not touched.

    >>> import autograd as ag
    >>> x = ag.tensor(3.0, requires_grad=True)
    >>> (dx,) = ag.grad(x ** 2, x, create_graph=True)
    >>> dx.item(), ag.grad(dx, x)[0].item()
    (6.0, 2.0)
    """
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    grad_outputs = _as_tuple(grad_outputs) or (None,) * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise GraphError(f"grad: input {i} does not require grad")
    for t in outputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise GraphError("grad: an output does not require grad and does not have a grad_fn")
    retain_graph = create_graph if retain_graph is None else retain_graph
    seeds = [_seed(t, g, create_graph) for t, g in zip(outputs, grad_outputs)]
    found = _run(outputs, seeds, retain_graph, create_graph, inputs)
    result = []
    for i, (t, g) in enumerate(zip(inputs, found)):
        if g is None:
            if not allow_unused:
                raise GraphError(f"grad: input {i} was not used in the graph of the outputs; "
                                 f"pass allow_unused=True to get None for it")
            result.append(None)
        elif isinstance(g, Tensor):
            result.append(g)
        else:
            result.append(Tensor._make(np.array(g, copy=True) if type(g) is np.ndarray else g))
    return tuple(result)


