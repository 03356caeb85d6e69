"""The backward engine: accumulation, graph freeing, higher order, ag.grad, hooks, version
counters, anomaly detection, user Functions, deep graphs, aliasing, dtypes and broadcasting."""
import gc
import os
import weakref

import numpy as np
import pytest

import autograd as ag
from autograd import AnomalyError, GraphError, ShapeError

HERE = os.path.basename(__file__)


def values(t):
    return np.asarray(t.data).tolist()


def f64(data, requires_grad=True):
    return ag.tensor(data, dtype=ag.float64, requires_grad=requires_grad)


# ---- accumulation and retain_graph ---------------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert values(x.grad) == [2.0, 4.0]
    (x * 3).sum().backward()
    assert values(x.grad) == [5.0, 7.0]
    x.grad = None
    (x * x).sum().backward()
    assert values(x.grad) == [2.0, 4.0]


def test_scalar_gradients_accumulate_into_the_same_grad_tensor():
    x = ag.tensor(1.0, requires_grad=True)
    (x * 2).backward()
    g = x.grad
    (x * 3).backward()
    assert x.grad is g and g.item() == 5.0 and g.dtype == ag.float32  # as torch: in place


def test_retain_graph_allows_second_backward():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, -1.0], requires_grad=True)
    y = (x * w).exp().sum() + (x * x).sum()
    y.backward(retain_graph=True)
    gx, gw = values(x.grad), values(w.grad)
    y.backward(retain_graph=True)
    np.testing.assert_allclose(values(x.grad), 2 * np.array(gx), rtol=1e-6)
    np.testing.assert_allclose(values(w.grad), 2 * np.array(gw), rtol=1e-6)
    y.backward()
    np.testing.assert_allclose(values(x.grad), 3 * np.array(gx), rtol=1e-6)


def test_second_backward_without_retain_graph_raises():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(GraphError, match="retain_graph"):
        y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):  # GraphError is a RuntimeError
        ag.grad(y, x)
    assert values(x.grad) == [2.0, 4.0]  # the failed call added nothing


def test_backward_through_a_freed_subgraph_raises():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    (h * 3).sum().backward()
    with pytest.raises(GraphError, match="retain_graph"):
        (h * 4).sum().backward()


# The output's node keeps its inputs in a tuple (sum: three arguments) or in slots (one or two).
@pytest.mark.parametrize("tail, dy_dx", [
    (lambda h: (h * 2).sum(), lambda x: 2 * np.exp(x)),
    (lambda h: (h * 2).relu(), lambda x: 2 * np.exp(x)),
    (lambda h: (h * 2) * h.detach(), lambda x: 2 * np.exp(2 * x)),
])
def test_graph_freed_after_backward_while_output_alive(tail, dy_dx):
    gc.disable()  # freed by reference counting alone: the graph has no reference cycles
    try:
        x = ag.tensor([1.0, 2.0], requires_grad=True)
        h = x.exp()
        tensor_ref, node_ref, data_ref = weakref.ref(h), weakref.ref(h.grad_fn), weakref.ref(h.data)
        y = tail(h)
        del h
        # the graph keeps what backward needs, h's node and array; the tensor object itself
        # is kept as its node, so it goes with the last reference to it
        assert tensor_ref() is None and node_ref() is not None and data_ref() is not None
        y.backward(np.ones_like(y.data))
        assert tensor_ref() is None and node_ref() is None and data_ref() is None
        assert y.grad_fn is not None and getattr(y.grad_fn, "_saved", None) is None
        assert values(x.grad) == pytest.approx(list(dy_dx(np.array([1.0, 2.0]))), rel=1e-6)
    finally:
        gc.enable()


def test_ops_of_three_inputs_take_intermediates_in_any_position():
    # Nodes keep one or two inputs in slots and three or more in a tuple (Function._inputs).
    x = ag.tensor([1.0, -2.0, 3.0, -0.1], dtype=ag.float64, requires_grad=True)
    w = ag.tensor([1.0, 1.0, 1.0, 1.0], dtype=ag.float64, requires_grad=True)
    y = ag.where(x * 1 > 0, x * 2, (x * 3).clip(-1.0, 5.0)) * (w * 5)
    y.sum().backward()
    assert values(y) == pytest.approx([10.0, -5.0, 30.0, -1.5])
    assert values(x.grad) == [10.0, 0.0, 10.0, 15.0]  # -6 clipped to -1: no gradient there
    assert values(w.grad) == pytest.approx([10.0, -5.0, 30.0, -1.5])


def test_graph_freed_behind_a_node_that_passes_no_gradient():
    class Blocks(ag.Function):  # gives its input no gradient (None), as a step function would
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, g):
            return None

    gc.disable()
    try:
        x = ag.tensor([1.0, 2.0], requires_grad=True)
        h = x.exp()  # kept alive: its node must still drop what it saved
        y = (Blocks.apply(h) + x).sum()
        y.backward()
        assert h.grad_fn._saved is None  # exp's node ran with None and was freed, as the rest
        assert values(x.grad) == [1.0, 1.0]  # only the direct path carried a gradient
    finally:
        gc.enable()


def test_nodes_run_after_all_their_consumers_whatever_the_creation_order():
    # b is created before c but consumes c's input later: the heap must order by creation.
    x = ag.tensor(2.0, requires_grad=True)
    a = x * 3          # oldest node
    b = a * a          # consumes a
    c = a.exp()        # consumes a, created after b
    d = (b + c) * a    # consumes a a third time
    d.backward()
    av = 6.0
    expected = 3 * ((2 * av + np.exp(av)) * av + (av * av + np.exp(av)))
    assert x.grad.item() == pytest.approx(expected, rel=1e-5)


def test_retain_graph_keeps_intermediates():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    node_ref = weakref.ref(h.grad_fn)
    y = (h * 2).sum()
    del h
    y.backward(retain_graph=True)
    assert node_ref() is not None
    del y
    gc.collect()
    assert node_ref() is None


# ---- higher order --------------------------------------------------------------------------
def test_second_and_third_derivative_of_cube():
    x = ag.tensor(2.0, requires_grad=True)
    (d1,) = ag.grad(x ** 3, x, create_graph=True)
    (d2,) = ag.grad(d1, x, create_graph=True)
    (d3,) = ag.grad(d2, x)
    assert d1.item() == 12.0 and d2.item() == 12.0 and d3.item() == 6.0
    assert d1.requires_grad and d1.grad_fn is not None
    assert not d3.requires_grad and d3.grad_fn is None
    x3 = ag.tensor(3.0, dtype=ag.float64, requires_grad=True)
    (e1,) = ag.grad(x3 ** 3, x3, create_graph=True)
    (e2,) = ag.grad(e1, x3)
    assert e1.item() == 27.0 and e2.item() == 18.0


def test_backward_create_graph_then_backward_of_grad():
    x = ag.tensor(2.0, requires_grad=True)
    (x ** 3).backward(create_graph=True)
    g = x.grad
    assert g.item() == 12.0 and g.grad_fn is not None
    x.grad = None
    g.backward()
    assert x.grad.item() == 12.0  # d/dx 3x^2 = 6x


def test_hessian_vector_product_of_quadratic_form():
    a = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, -1.0], [0.0, -1.0, 4.0]])
    A = ag.tensor(a)
    x = f64([1.0, -2.0, 0.5])
    v = ag.tensor([1.0, 2.0, 3.0], dtype=ag.float64)
    f = 0.5 * (x @ (A @ x))
    (g,) = ag.grad(f, x, create_graph=True)
    assert values(g) == (a @ np.array([1.0, -2.0, 0.5])).tolist()
    (hv,) = ag.grad((g * v).sum(), x)
    assert values(hv) == (a @ np.array([1.0, 2.0, 3.0])).tolist()


def test_full_hessian_by_rows():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])  # not symmetric: the Hessian is (A + A^T) / 2 * 2
    x = f64([0.5, -1.5])
    f = x @ (ag.tensor(a) @ x)
    (g,) = ag.grad(f, x, create_graph=True)
    rows = [values(ag.grad(g[i], x, retain_graph=True)[0]) for i in range(2)]
    assert rows == (a + a.T).tolist()


def test_gradient_penalty():
    x = ag.tensor([3.0, 1.0], dtype=ag.float64, requires_grad=True)
    w = ag.tensor([1.0, 2.0], dtype=ag.float64, requires_grad=True)
    f = (w * x ** 2).sum()
    (gx,) = ag.grad(f, x, create_graph=True)  # 2 w x
    assert values(gx) == [6.0, 4.0]
    assert x.grad is None and w.grad is None
    penalty = (gx ** 2).sum()  # 4 w^2 x^2
    penalty.backward()
    assert values(w.grad) == [72.0, 16.0]  # 8 w x^2
    assert values(x.grad) == [24.0, 32.0]  # 8 w^2 x


def test_user_function_with_create_graph():
    class Cube(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    x = ag.tensor([2.0, -1.0], dtype=ag.float64, requires_grad=True)
    (g,) = ag.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert values(g) == [12.0, 3.0]
    (gg,) = ag.grad(g.sum(), x)
    assert values(gg) == [12.0, -6.0]
    assert ag.gradgradcheck(lambda t: Cube.apply(t), [f64([0.3, -0.7])])


@pytest.mark.parametrize("kept", [None, (2, 3), "label", 0.5])
def test_saved_tensors_returns_what_was_saved(kept):
    # save_for_backward keeps a single value without its tuple; saved_tensors must not be fooled
    # by a single None (the freed marker) or a single tuple.
    seen = []

    class Scale(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(kept)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            seen.append(ctx.saved_tensors)
            return g * 2

    x = ag.tensor([1.0, 2.0], requires_grad=True)
    Scale.apply(x).sum().backward()
    assert seen == [(kept,)] and values(x.grad) == [2.0, 2.0]


# ---- ag.grad -------------------------------------------------------------------------------
def test_grad_does_not_touch_dot_grad():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0], requires_grad=True)
    w.grad = ag.tensor([100.0, 100.0])
    y = (x * w).sum()
    gx, gw = ag.grad(y, [x, w])
    assert values(gx) == [3.0, 4.0] and values(gw) == [1.0, 2.0]
    assert x.grad is None
    assert values(w.grad) == [100.0, 100.0]


def test_grad_returns_tuple_and_accepts_single_tensor():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    result = ag.grad((x * x).sum(), x)
    assert isinstance(result, tuple) and len(result) == 1
    assert values(result[0]) == [2.0, 4.0]


def test_grad_with_non_leaf_inputs():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0], requires_grad=True)
    h = x * w
    y = (h * h).sum() + h.sum()
    gh, gx = ag.grad(y, [h, x])
    assert values(gh) == [7.0, 17.0]    # 2h + 1
    assert values(gx) == [21.0, 68.0]   # (2h + 1) w
    assert h.grad is None and x.grad is None


def test_grad_allow_unused():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    unused = ag.tensor(5.0, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(GraphError, match="input 1.*allow_unused"):
        ag.grad(y, [x, unused], retain_graph=True)
    gx, gu = ag.grad(y, [x, unused], allow_unused=True)
    assert values(gx) == [2.0, 2.0] and gu is None


def test_grad_outputs_and_several_outputs():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    (g,) = ag.grad(y, x, grad_outputs=ag.tensor([10.0, 100.0]))
    assert values(g) == [20.0, 400.0]
    y1, y2 = (x * 3).sum(), (x * x).sum()
    (g,) = ag.grad([y1, y2], x)
    assert values(g) == [5.0, 7.0]
    z = x * 2
    (g,) = ag.grad([z], [x], grad_outputs=[np.array([1.0, -1.0], dtype=np.float32)])
    assert values(g) == [2.0, -2.0]


def test_grad_errors():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    c = ag.tensor([1.0, 2.0])
    with pytest.raises(GraphError, match="input 0"):
        ag.grad((x * c).sum(), c)
    with pytest.raises(GraphError, match="does not require grad"):
        ag.grad(c.sum(), x)
    with pytest.raises(GraphError, match=r"\(2,\)"):
        ag.grad(x * 2, x)


def test_backward_inputs_only_accumulates_into_those():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0], requires_grad=True)
    h = x * w
    y = (h * 2).sum()
    y.backward(inputs=[x], retain_graph=True)
    assert values(x.grad) == [6.0, 8.0] and w.grad is None and h.grad is None
    y.backward(inputs=[w, h])
    assert values(w.grad) == [2.0, 4.0] and values(h.grad) == [2.0, 2.0]
    assert values(x.grad) == [6.0, 8.0]



def test_backward_inputs_non_leaf_and_leaf_not_aliased():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x + ag.tensor([1.0, 1.0])  # Add hands the same gradient array to x
    (h * 2).sum().backward(inputs=[h, x])
    assert values(h.grad) == [2.0, 2.0] and values(x.grad) == [2.0, 2.0]
    assert not np.shares_memory(h.grad.data, x.grad.data)


def test_functional_backward_with_several_roots():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    ag.backward([(x * 2).sum(), (x * x).sum()])
    assert values(x.grad) == [4.0, 6.0]
    x.grad = None
    ag.backward([x * 2, x * x], [ag.tensor([1.0, 0.0]), ag.tensor([0.0, 1.0])])
    assert values(x.grad) == [2.0, 4.0]
    with pytest.raises(ValueError, match="2 tensors but 1 gradients"):
        ag.backward([x * 2, x * 3], [ag.tensor([1.0, 1.0])])

# ---- hooks and retain_grad -----------------------------------------------------------------
def test_leaf_hook_called_once_with_total_gradient():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(values(g)))
    ((x * 2).sum() + (x * x).sum()).backward()
    assert seen == [[4.0, 6.0]]
    assert values(x.grad) == [4.0, 6.0]
    handle.remove()
    handle.remove()  # removing twice is harmless
    (x * 1).sum().backward()
    assert seen == [[4.0, 6.0]]


def test_leaf_hook_return_value_replaces_gradient():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    x.register_hook(lambda g: None)  # None keeps the gradient
    (x * 3).sum().backward()
    assert values(x.grad) == [30.0, 30.0]


def test_non_leaf_hooks():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    seen = []
    h.register_hook(lambda g: seen.append(values(g)))
    handle = h.register_hook(lambda g: g * 10)
    y = h.sum() + (h * h).sum()  # dy/dh = 1 + 2h = [5, 9]
    y.backward(retain_graph=True)
    assert seen == [[5.0, 9.0]]
    assert values(x.grad) == [100.0, 180.0]
    assert h.grad is None  # hooks do not keep .grad on a non-leaf
    handle.remove()
    x.grad = None
    y.backward()
    assert seen == [[5.0, 9.0], [5.0, 9.0]]
    assert values(x.grad) == [10.0, 18.0]


def test_hook_on_the_root():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).sum()
    y.register_hook(lambda g: g * 3)
    y.backward()
    assert values(x.grad) == [6.0, 6.0]


def test_register_hook_on_tensor_without_grad_raises():
    with pytest.raises(GraphError, match="does not require grad"):
        ag.tensor([1.0]).register_hook(lambda g: g)


def test_retain_grad():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    h.retain_grad()  # twice is the same as once
    y = (h * h).sum()
    y.backward(retain_graph=True)
    assert values(h.grad) == [6.0, 12.0] and values(x.grad) == [18.0, 36.0]
    assert not h.grad.requires_grad
    y.backward()
    assert values(h.grad) == [12.0, 24.0]
    x.retain_grad()  # a leaf: nothing to do
    assert values(x.grad) == [36.0, 72.0]


# ---- seeds and misuse ----------------------------------------------------------------------
def test_backward_on_non_scalar_without_gradient_raises():
    x = ag.ones(2, 3, requires_grad=True)
    with pytest.raises(GraphError, match=r"\(2, 3\)"):
        (x * 2).backward()
    (x * 2).sum().backward()
    assert values(x.grad) == [[2.0] * 3] * 2
    y = ag.tensor([[5.0]], requires_grad=True)
    (y * 2).backward()  # one element: implicit gradient is fine
    assert values(y.grad) == [[2.0]]


def test_backward_with_explicit_gradient():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    (x * x).backward(ag.tensor([1.0, -1.0]))
    assert values(x.grad) == [2.0, -4.0]
    (x * 2).backward(np.array([0.5, 0.5]))
    assert values(x.grad) == [3.0, -3.0]
    assert x.grad.dtype == np.float32
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2,\)"):
        (x * 2).backward(ag.tensor([1.0, 1.0, 1.0]))


def test_backward_on_a_leaf():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    g = ag.tensor([3.0, 4.0])
    x.backward(g)
    assert values(x.grad) == [3.0, 4.0]
    assert not np.shares_memory(x.grad.data, g.data)


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(GraphError, match="does not require grad"):
        ag.tensor(1.0).backward()
    x = ag.tensor(1.0, requires_grad=True)
    with ag.no_grad():
        y = x * 2
    with pytest.raises(GraphError, match="no_grad"):
        y.backward()


# ---- version counters ----------------------------------------------------------------------
def test_modified_saved_input_raises_naming_op():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    with ag.no_grad():
        w += 1
    with pytest.raises(GraphError, match=r"^Mul: .*input 1.*in-place"):
        y.backward()


def test_modified_saved_output_raises():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    e = x.exp()
    y = e.sum()
    with ag.no_grad():
        e[0] = 5.0
    with pytest.raises(GraphError, match=r"^Exp: .*output"):
        y.backward()


def _change_in_place(t, change):
    """Change t's values (shape (2,)) in place: directly, through a view, or a detached alias."""
    if change == "detached alias":
        d = t.detach()
        d += 1.0  # d does not require grad: allowed outside no_grad, and it changes t
        return
    with ag.no_grad():
        if change == "in place":
            t += 1
        elif change == "slice view":
            t[0:1].zero_()
        else:  # reshaped view
            t.reshape(1, 2)[0].fill_(7.0)


# Regression: a change through a view or detached alias of an op's saved output was missed (the
# node looked only at changes to the output tensor itself) and gave a silently wrong gradient.
@pytest.mark.parametrize("change", ["slice view", "reshaped view", "detached alias"])
def test_saved_output_changed_through_an_alias_raises(change):
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    e = x.exp()  # Exp saves its output
    y = e.sum()
    _change_in_place(e, change)
    with pytest.raises(GraphError, match=r"^Exp: .*its output.*in-place"):
        y.backward()


def test_modified_base_of_saved_view_raises():
    x = ag.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    w = ag.tensor([[3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    v = w.reshape(4)
    y = (x * v).sum()
    with ag.no_grad():
        w.zero_()
    with pytest.raises(GraphError, match="Mul"):
        y.backward()


def test_modified_view_of_saved_tensor_raises():
    x = ag.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0, 5.0, 6.0], requires_grad=True)
    y = (x * w).sum()
    with ag.no_grad():
        w[1:].fill_(0.0)
    with pytest.raises(GraphError, match="Mul"):
        y.backward()


def test_modified_view_made_under_no_grad_raises():
    # Regression: views made without recording did not link to their base, so this gave a
    # silently wrong gradient.
    x = ag.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0, 5.0, 6.0], requires_grad=True)
    y = (x * w).sum()
    with ag.no_grad():
        w.reshape(2, 2)[0].zero_()
    with pytest.raises(GraphError, match="Mul"):
        y.backward()


def test_modified_detached_alias_raises():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    d = w.detach()
    d += 1  # d does not require grad: allowed outside no_grad, and it changes w
    assert values(w) == [4.0, 5.0]
    with pytest.raises(GraphError, match="Mul"):
        y.backward()


# An op's output is kept by its consumers as the node that made it (Function._inputs), so
# these go through the node's stamps rather than the tensor's.
@pytest.mark.parametrize("change", ["in place", "slice view", "reshaped view", "detached alias"])
def test_modified_saved_intermediate_raises_naming_op_and_input(change):
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0], requires_grad=True)
    h = x.exp()
    y = (w * h).sum()  # Mul saves h
    _change_in_place(h, change)
    with pytest.raises(GraphError, match=r"^Mul: .*input 1 of shape \(2,\).*in-place"):
        y.backward()


def test_intermediate_changed_before_its_consumer_or_not_saved_does_not_raise():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2  # Mul saves x and 2, not h
    with ag.no_grad():
        h += 1  # before the next Mul saves h: it saves the changed values
    y = (h * h).sum()
    z = (h + 1).sum()  # Add saves nothing
    y.backward(retain_graph=True)  # h's node is z's too
    np.testing.assert_allclose(x.grad.numpy(), 4 * (2 * np.array([1.0, 2.0]) + 1))
    x.grad = None
    with ag.no_grad():
        h.zero_()
    z.backward()  # nothing z's graph saved has changed
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_an_intermediate_tensor_dropped_by_the_user_still_gets_its_gradient_and_hooks():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h = x * 2
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    s = h * h
    node = h.grad_fn
    del h  # the graph keeps h as its node
    assert s.grad_fn.next_functions == ((node, 0), (node, 0))
    s.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 8 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(seen[0], 4 * np.array([1.0, 2.0]))


def test_modifying_tensors_not_saved_does_not_raise():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0], requires_grad=True)
    y = (x + w).sum()  # Add saves nothing
    with ag.no_grad():
        w.fill_(0.0)
    y.backward()
    assert values(x.grad) == [1.0, 1.0] and values(w.grad) == [1.0, 1.0]
    # Mul saves its inputs, not its output: changing the output is fine (as in PyTorch).
    x.grad = w.grad = None
    w = ag.tensor([3.0, 4.0], requires_grad=True)
    h = x * w
    with ag.no_grad():
        h += 1
    h.sum().backward()
    assert values(x.grad) == [3.0, 4.0] and values(w.grad) == [1.0, 2.0]


def test_modification_before_the_op_does_not_raise():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0], requires_grad=True)
    with ag.no_grad():
        w *= 2
    y = (x * w).sum()
    y.backward()
    assert values(x.grad) == [6.0, 8.0]


def test_parameter_update_loop_under_no_grad():
    w = ag.tensor([1.0, -1.0], requires_grad=True)
    for _ in range(3):
        loss = (w * w).sum()
        loss.backward()
        with ag.no_grad():
            w -= 0.25 * w.grad
        w.grad = None
    assert values(w) == [0.125, -0.125]  # w <- w - 0.25 * 2w = w / 2, three times


# ---- anomaly detection ---------------------------------------------------------------------
def test_anomaly_forward_names_op():
    with np.errstate(all="ignore"):
        with ag.detect_anomaly():
            with pytest.raises(AnomalyError, match=r"^Log: forward produced NaN"):
                ag.log(ag.tensor(-1.0))
            with pytest.raises(AnomalyError, match=r"^Log: forward"):
                ag.log(ag.tensor([1.0, -1.0], requires_grad=True))
            with pytest.raises(FloatingPointError, match="Div"):
                ag.tensor([1.0]) / ag.tensor([0.0])
        assert np.isnan(ag.log(ag.tensor(-1.0)).item())  # off again outside


def test_anomaly_backward_names_op_and_forward_stack():
    x = ag.tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(all="ignore"), ag.detect_anomaly():
        y = x.sqrt().sum()  # forward is finite; the gradient at 0 is inf
        with pytest.raises(AnomalyError) as info:
            y.backward()
    message = str(info.value)
    assert message.startswith("Sqrt: backward produced NaN or inf")
    assert "forward call that created this node" in message
    assert HERE in message and "x.sqrt()" in message
    assert x.grad is None


def test_without_anomaly_mode_infinities_pass_silently():
    x = ag.tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(all="ignore"):
        x.sqrt().sum().backward()
    assert values(x.grad) == [np.inf, 0.5]


def test_zero_upstream_gradient_stays_zero():
    # where() gives the unselected branch a zero gradient; log/sqrt/div must keep it zero
    # although their local derivative there is infinite (0 * inf would be NaN).
    x = ag.tensor([0.0, -1.0, 4.0], requires_grad=True)
    with np.errstate(all="ignore"):
        y = ag.where(x > 0, x.sqrt() + ag.log(x) + ag.tensor(1.0) / x, x * 2)
        y.sum().backward()
    assert values(x.grad) == [2.0, 2.0, 0.25 + 0.25 - 1 / 16]


# ---- user-defined Functions ----------------------------------------------------------------
class ScaleAdd(ag.Function):
    """a * k + b with a non-tensor argument k."""

    @staticmethod
    def forward(ctx, a, b, k):
        ctx.save_for_backward(a, b)
        ctx.k = k
        ctx.needs_in_forward = ctx.needs_input_grad
        return a * k + b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ctx.needs_in_backward = ctx.needs_input_grad
        need_a, need_b, _ = ctx.needs_input_grad
        return (g * ctx.k if need_a else None), (g if need_b else None), None


def test_user_function_basic():
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    b = ag.tensor([3.0, 4.0])
    y = ScaleAdd.apply(a, b, 3.0)
    assert values(y) == [6.0, 10.0]
    assert isinstance(y.grad_fn, ScaleAdd) and repr(y.grad_fn) == "<ScaleAddBackward>"
    assert y.grad_fn.needs_in_forward == (True, False, False)
    y.sum().backward()
    assert y.grad_fn.needs_in_backward == (True, False, False)
    assert values(a.grad) == [3.0, 3.0] and b.grad is None


def test_user_function_without_grad_records_nothing():
    a = ag.tensor([1.0, 2.0])
    y = ScaleAdd.apply(a, a, 2.0)
    assert values(y) == [3.0, 6.0] and y.grad_fn is None and not y.requires_grad
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with ag.no_grad():
        y = ScaleAdd.apply(x, a, 2.0)
    assert y.grad_fn is None and not y.requires_grad


def test_user_function_on_arrays_alone_asks_needs_input_grad_in_forward():
    """No tensor at all: forward runs on the arrays and its ctx.needs_input_grad says no input
    wants a gradient (as in PyTorch), instead of failing."""
    seen = []

    class Spy(ag.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen.append(ctx.needs_input_grad)
            return a * k + b

    out = Spy.apply(np.array([1.0, 2.0]), np.array([3.0, 4.0]), 2.0)
    assert out.tolist() == [5.0, 8.0] and seen == [(False, False, False)]
    Spy.apply(ag.tensor([1.0], requires_grad=True), np.array([3.0]), 2.0)
    assert seen[-1] == (True, False, False)


class SinCos(ag.Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a), np.cos(a)

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (a,) = ctx.saved_tensors
        return g_sin * np.cos(a) - g_cos * np.sin(a)


def test_user_function_multiple_outputs():
    x = ag.tensor([0.0, np.pi / 2], dtype=ag.float64, requires_grad=True)
    s, c = SinCos.apply(x)
    assert s.grad_fn is c.grad_fn and s.requires_grad and c.requires_grad
    (s.sum() + 2 * c.sum()).backward()
    np.testing.assert_allclose(values(x.grad), [1.0, -2.0], atol=1e-15)
    x.grad = None
    s, c = SinCos.apply(x)
    c.sum().backward()  # the unused output's gradient arrives as zeros
    np.testing.assert_allclose(values(x.grad), [0.0, -1.0], atol=1e-15)


def test_user_function_wrong_number_of_gradients_raises():
    class Bad(ag.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g

    a = ag.tensor(1.0, requires_grad=True)
    b = ag.tensor(2.0, requires_grad=True)
    with pytest.raises(GraphError, match=r"Bad\.backward returned 1 gradients, expected 2"):
        Bad.apply(a, b).backward()


def test_user_function_gradient_in_broadcast_shape_is_summed_by_engine():
    class AddBroadcast(ag.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g  # both in the output's (broadcast) shape

    a = ag.tensor([[1.0, 2.0, 3.0]], requires_grad=True)   # (1, 3)
    b = ag.tensor([[1.0], [2.0]], requires_grad=True)      # (2, 1)
    AddBroadcast.apply(a, b).sum().backward()
    assert values(a.grad) == [[2.0, 2.0, 2.0]] and values(b.grad) == [[3.0], [3.0]]


def test_user_function_not_implemented():
    class NoBackward(ag.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

    x = ag.tensor(1.0, requires_grad=True)
    with pytest.raises(NotImplementedError, match="backward"):
        NoBackward.apply(x).backward()


# ---- deep graphs ---------------------------------------------------------------------------
def test_100k_node_chain_backward_and_repr():
    x = ag.tensor(1.0, dtype=ag.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0001
    assert repr(y).startswith("tensor(") and "MulBackward" in repr(y)
    y.backward()
    expected = 1.0
    for _ in range(100_000):
        expected *= 1.0001
    assert x.grad.item() == expected
    assert y.item() == expected


def test_benchmark_chain_50k_steps():
    x = ag.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(50_000):
        y = (y * 0.999 + 0.001).relu()
    y.backward()
    expected = np.float32(1.0)
    for _ in range(50_000):
        expected = expected * np.float32(0.999)
    assert x.grad.dtype == np.float32
    assert x.grad.item() == pytest.approx(float(expected), rel=1e-5)
    assert y.item() == pytest.approx(1.0, abs=1e-4)


def test_deleting_a_deep_unused_graph():
    gc.disable()
    try:
        x = ag.tensor(1.0, requires_grad=True)
        y = x
        for _ in range(100_000):
            y = y + 1.0
        first = weakref.ref(x * 1)  # a throwaway node: gone at once
        assert first() is None
        node = weakref.ref(y.grad_fn)
        del y
        assert node() is None
    finally:
        gc.enable()


# ---- aliasing, dtypes, broadcasting --------------------------------------------------------
def test_gradients_not_aliased():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = ag.tensor([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad.data, y.grad.data)
    x.grad = y.grad = None
    g = ag.tensor([1.0, 1.0])
    (x + y).backward(g)
    assert not np.shares_memory(x.grad.data, y.grad.data)
    assert not np.shares_memory(x.grad.data, g.data) and not np.shares_memory(y.grad.data, g.data)
    (x + y).backward(g)  # accumulates in place: must not write into g or the other leaf
    assert values(x.grad) == [2.0, 2.0] and values(y.grad) == [2.0, 2.0] and values(g) == [1.0, 1.0]


def test_create_graph_gradients_not_aliased():
    # Regression: with create_graph both leaves' .grad were the user's gradient tensor itself,
    # so the next (in-place) accumulation wrote into all three.
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = ag.tensor([3.0, 4.0], requires_grad=True)
    g = ag.tensor([1.0, 1.0])
    (x + y).backward(g, create_graph=True)
    assert x.grad is not y.grad and x.grad is not g
    (x + y).backward(g)
    assert values(x.grad) == [2.0, 2.0] and values(y.grad) == [2.0, 2.0] and values(g) == [1.0, 1.0]


def test_grad_results_not_aliased():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = ag.tensor([3.0, 4.0], requires_grad=True)
    g = ag.tensor([1.0, 1.0])
    gx, gy = ag.grad(x + y, [x, y], grad_outputs=g)
    assert not np.shares_memory(gx.data, gy.data)
    assert not np.shares_memory(gx.data, g.data)


def test_grad_dtype_matches_leaf():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (x * np.array([2.0, 3.0])).sum()  # a float64 array makes a float64 result
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float32 and values(x.grad) == [2.0, 3.0]
    d = ag.tensor([1.0, 1.0], dtype=ag.float64, requires_grad=True)
    f = ag.tensor([2.0, 4.0], requires_grad=True)
    (d * f).sum().backward()
    assert d.grad.dtype == np.float64 and f.grad.dtype == np.float32
    assert values(d.grad) == [2.0, 4.0] and values(f.grad) == [1.0, 1.0]
    s = ag.tensor(2.0, requires_grad=True)
    (s * np.float64(3.0)).backward()
    assert s.grad.dtype == np.float32 and s.grad.item() == 3.0


@pytest.mark.parametrize("shape_a, shape_b", [
    ((3, 1), (4,)), ((2, 3), (3,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((1, 3), (2, 1)),
])
def test_broadcast_gradients_are_summed_back(shape_a, shape_b):
    a_np = np.arange(1.0, 1.0 + np.prod(shape_a, dtype=int)).reshape(shape_a)
    b_np = np.arange(10.0, 10.0 + np.prod(shape_b, dtype=int)).reshape(shape_b)
    a, b = f64(a_np), f64(b_np)
    out_shape = np.broadcast_shapes(shape_a, shape_b)
    (a * b + a).sum().backward()
    b_full = np.broadcast_to(b_np, out_shape)
    a_full = np.broadcast_to(a_np, out_shape)
    expected_a = (b_full + 1).sum(axis=tuple(range(len(out_shape) - len(shape_a)))) if shape_a else (b_full + 1).sum()
    expected_b = a_full.sum(axis=tuple(range(len(out_shape) - len(shape_b)))) if shape_b else a_full.sum()
    if shape_a:
        expected_a = expected_a.sum(axis=tuple(i for i, n in enumerate(shape_a) if n == 1), keepdims=True)
    if shape_b:
        expected_b = expected_b.sum(axis=tuple(i for i, n in enumerate(shape_b) if n == 1), keepdims=True)
    assert a.grad.shape == shape_a and b.grad.shape == shape_b
    np.testing.assert_array_equal(a.grad.numpy(), expected_a)
    np.testing.assert_array_equal(b.grad.numpy(), expected_b)


def test_broadcast_gradient_exact_values():
    a = ag.tensor([[1.0], [2.0], [3.0]], requires_grad=True)   # (3, 1)
    b = ag.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)    # (4,)
    (a * b).sum().backward()
    assert values(a.grad) == [[10.0], [10.0], [10.0]]
    assert values(b.grad) == [6.0, 6.0, 6.0, 6.0]


def test_grad_mode_inside_backward():
    seen = []

    class Spy(ag.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, g):
            seen.append((ag.is_grad_enabled(), isinstance(g, ag.Tensor)))
            return g

    x = ag.tensor([1.0, 2.0], requires_grad=True)
    Spy.apply(x).sum().backward()
    assert seen == [(False, False)]  # no graph: plain arrays, grad mode off
    assert x.grad.grad_fn is None and not x.grad.requires_grad
    Spy.apply(x).sum().backward(create_graph=True)
    assert seen[1] == (True, True)
    assert ag.is_grad_enabled()
    y = Spy.apply(x).sum()
    with ag.no_grad():
        y.backward()  # backward works inside no_grad, and leaves the mode as it was
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()
    assert values(x.grad) == [3.0, 3.0]


def test_detached_tensor_does_not_keep_graph_alive():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    node = weakref.ref(h.grad_fn)
    kept = h.detach()
    del h
    gc.collect()
    assert node() is None
    assert values(kept) == pytest.approx([np.e, np.e ** 2])
    h = x.exp()
    node = weakref.ref(h.grad_fn)
    with ag.no_grad():
        view = h.reshape(2, 1)
    del h
    gc.collect()
    assert node() is None and view.shape == (2, 1)


def test_sibling_views_after_base_is_gone():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([3.0, 4.0, 5.0])
    a, b = w[0:2], w[1:3]
    del w
    y = (x * a).sum()
    b.zero_()  # also changes a[1], which Mul saved
    with pytest.raises(GraphError, match="Mul"):
        y.backward()


def test_backward_leaves_the_garbage_collector_as_it_found_it():
    import gc

    x = ag.tensor([1.0, 2.0], requires_grad=True)
    assert gc.isenabled()
    (x * x).sum().backward()
    assert gc.isenabled()
    gc.disable()
    try:
        (x * x).sum().backward()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ag.GraphError):
        y = (x * x).sum()
        y.backward()
        y.backward()  # freed graph: raises inside the walk, the collector still comes back
    assert gc.isenabled() and x.grad.tolist() == [6.0, 12.0]
