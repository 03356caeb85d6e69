"""Every row of the op table (op_specs.SPECS), held to numpy, to finite differences and to invariants.

Per row: (a) forward equals the numpy reference in float64 and float32, with PyTorch's result
dtype; (b) gradcheck in float64 over hypothesis-drawn shapes (0-d, size-1 axes, broadcast pairs),
per element for small inputs and by random projection for large ones; (c) gradgradcheck;
(d) C kernels against the numpy reference through the `backend` fixture; (e) invariants: inputs
not mutated, gradients not aliased, graph released after backward. The registry tests fail when
an op (a `Function` in `autograd.ops`, or a public op function) has no row.
"""
import importlib
import inspect
import pkgutil
import weakref

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import autograd as ag
import autograd.ops
from op_specs import DIFFERENTIABLE, FORWARD, GRADGRAD, KERNEL_ROWS, LARGE, SPECS


def _budget(fraction, **kwargs):
    """A share of the profile's max_examples, for the expensive tests."""
    return settings(max_examples=max(2, round(settings.default.max_examples * fraction)), **kwargs)


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _call(spec, params):
    return lambda *xs: spec.fn(*xs, **params)


def _leaves(arrays, dtype=np.float64):
    return [ag.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]


def _graph_nodes(outputs) -> list:
    """Every node reachable from the outputs (iteratively, through next_functions)."""
    stack = [o.grad_fn for o in outputs if isinstance(o, ag.Tensor) and o.grad_fn is not None]
    seen = {}
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen[id(node)] = node
            stack.extend(fn for fn, _ in node.next_functions if fn is not None)
    return list(seen.values())


def _upstream(outs, seed=0):
    rng = np.random.default_rng(seed)
    return [np.asarray(rng.standard_normal(o.shape), dtype=o.dtype) for o in outs]


def _tolerance(dtype, spec):
    return (1e-4, spec.atol32) if np.dtype(dtype) == np.float32 else (1e-9, 1e-12)


def _higher_order_params(specs):
    for s in specs:
        known_failure = isinstance(s.higher_order, str)
        marks = [pytest.mark.xfail(strict=True, reason=s.higher_order)] if known_failure else []
        if s.higher_order:
            yield pytest.param(s, marks=marks, id=s.name)


# ---- (a) forward, (b) gradcheck, (e) invariants: one drawn case per example, all three checks --
# (drawing is most of the cost of a hypothesis example, so each case is used for everything)
@pytest.mark.parametrize("spec", SPECS, ids=str)
@_budget(0.25)
@given(data=st.data())
def test_op(spec, data):
    arrays, params = data.draw(spec.inputs(FORWARD), label="inputs")
    _check_forward(spec, arrays, params)
    if spec.differentiable:
        assert ag.gradcheck(_call(spec, params), _leaves(arrays), eps=spec.eps, atol=spec.atol,
                            rtol=spec.rtol)
        _check_invariants(spec, arrays, params, data.draw(st.sampled_from([np.float32, np.float64]),
                                                          label="invariants dtype"))


def _check_forward(spec, arrays, params):
    """Forward equals numpy in float64 and float32; the result dtype is PyTorch's."""
    for dtype in (np.float64, np.float32):
        cast = [a.astype(dtype) for a in arrays]
        outs = _as_list(spec.fn(*_leaves(cast, dtype), **params))
        refs = _as_list(spec.ref(*[c.astype(np.float64) for c in cast], **params))
        assert len(outs) == len(refs)
        expected = np.dtype(spec.out_dtype or dtype)
        rtol, atol = _tolerance(expected, spec)
        for out, ref in zip(outs, refs):
            ref = np.asarray(ref)
            assert isinstance(out, ag.Tensor)
            assert out.shape == ref.shape, f"{dtype.__name__}: shape {out.shape} != numpy's {ref.shape}"
            assert out.dtype == expected, f"{dtype.__name__} in: {out.dtype} out, expected {expected}"
            assert out.requires_grad == spec.differentiable
            got = out.detach().numpy()
            if ref.dtype.kind in "biu":
                np.testing.assert_array_equal(got, ref)
            else:
                np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol,
                                           err_msg=f"forward, {dtype.__name__}")


# ---- (e) invariants ---------------------------------------------------------------------------------
def _views_of(outs) -> set:
    """ids of the tensors the outputs are views of (a view keeps its base alive, as in PyTorch)."""
    ids = set()
    for t in outs:
        while t is not None:
            ids.add(id(t))
            t = getattr(t, "_base", None)
    return ids


def _check_invariants(spec, arrays, params, dtype):
    """Inputs not mutated, gradients not aliased, graph released after backward."""
    arrays = [np.array(a, dtype=dtype) for a in arrays]
    arrays_before = [a.copy() for a in arrays]
    params_before = {k: np.copy(v) for k, v in params.items()}

    # The op sees the caller's own buffers (from_numpy shares memory), so any write shows here.
    leaves = [ag.from_numpy(a).requires_grad_() for a in arrays]
    outs = _as_list(spec.fn(*leaves, **params))
    outs_before = [o.detach().numpy().copy() for o in outs]
    upstream = _upstream(outs)
    upstream_before = [u.copy() for u in upstream]
    nodes = _graph_nodes(outs)
    ag.backward(outs, upstream)

    # Not mutated: inputs, other arguments, outputs, the upstream gradient.
    for now, before in zip(arrays + [o.detach().numpy() for o in outs] + upstream,
                           arrays_before + outs_before + upstream_before):
        np.testing.assert_array_equal(now, before)
    for k, v in params.items():
        np.testing.assert_array_equal(v, params_before[k])
    # Gradients: one per input, its shape and dtype, sharing memory with nothing else.
    grads = [t.grad.numpy() for t in leaves]
    for t, g in zip(leaves, grads):
        assert g.shape == t.shape and g.dtype == t.dtype
    others = arrays + [np.asarray(o.data) for o in outs] + upstream
    for i, g in enumerate(grads):
        for other in grads[i + 1:] + others:
            assert not np.shares_memory(g, other), f"{spec.name}: a gradient aliases another array"
    # Released: every node of the graph dropped its saved values and inputs.
    for node in nodes:
        assert node._saved is None and node._inputs is None, f"{node!r} kept its graph after backward"

    # Intermediates die while the outputs live (only a view's base is kept, as in PyTorch).
    leaves = _leaves(arrays, dtype)
    first = [t * 1.0 for t in leaves]
    second = [t * 1.0 for t in first]
    outs = _as_list(spec.fn(*second, **params))
    kept = _views_of(outs)
    first_refs = [weakref.ref(t) for t in first]
    second_refs = [weakref.ref(t) for t in second if id(t) not in kept]
    del first, second
    ag.backward(outs, upstream)
    assert all(r() is None for r in first_refs + second_refs), "intermediate tensors outlived backward"
    assert all(t.grad is not None for t in leaves)


# ---- (b') random-projection gradcheck on large inputs, for a cross-section of the table ----------
FAST_MODE_ROWS = [s for s in DIFFERENTIABLE if s.name in (
    "mul", "div", "pow", "tanh", "where", "sum[axis=(0,-1)]", "max[axis=0]", "var[all]", "broadcast_to",
    "getitem:int array repeated", "cat:dim=-1 three", "matmul:@", "softmax", "log_softmax:axis=0")]


@pytest.mark.parametrize("spec", FAST_MODE_ROWS, ids=str)
@_budget(0.05)
@given(data=st.data())
def test_gradcheck_fast_mode_large(spec, data):
    arrays, params = data.draw(spec.inputs(LARGE), label="inputs")
    assert ag.gradcheck(_call(spec, params), _leaves(arrays), eps=spec.eps, atol=spec.atol, rtol=spec.rtol,
                        fast_mode=True, seed=data.draw(st.integers(0, 2 ** 16), label="seed"))


def test_fast_mode_rows_exist():
    assert len(FAST_MODE_ROWS) == 14


# ---- (c) second order ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec", list(_higher_order_params(DIFFERENTIABLE)))
@_budget(0.2)
@given(data=st.data())
def test_gradgradcheck(spec, data):
    arrays, params = data.draw(spec.inputs(GRADGRAD), label="inputs")
    leaves = _leaves(arrays)
    assert ag.gradgradcheck(_call(spec, params), leaves, eps=spec.eps, atol=spec.atol, rtol=spec.rtol)
    # gradgradcheck holds the upstream gradient constant, so for an op linear in its inputs it
    # checks nothing; differentiate the backward with respect to the upstream gradient too.
    outs = _as_list(spec.fn(*leaves, **params))
    upstream = [ag.tensor(u.astype(np.float64), requires_grad=True) for u in _upstream(outs)]
    assert ag.gradcheck(_vjp(spec, params, len(leaves)), leaves + upstream, eps=spec.eps, atol=spec.atol,
                        rtol=spec.rtol)


def _vjp(spec, params, n_inputs):
    """(inputs..., upstream...) -> the inputs' gradients, recorded (create_graph)."""
    def vjp(*args):
        args = [a if a.requires_grad else a.detach().requires_grad_() for a in args]
        with ag.enable_grad():
            xs, vs = args[:n_inputs], args[n_inputs:]
            grads = ag.grad(_as_list(spec.fn(*xs, **params)), xs, vs, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)
    return vjp


# ---- (d) C kernels against the numpy reference -----------------------------------------------------
def _forward_backward(spec, arrays, params, dtype):
    leaves = _leaves(arrays, dtype)
    outs = _as_list(spec.fn(*leaves, **params))
    ag.backward(outs, _upstream(outs))
    return [o.detach().numpy() for o in outs] + [t.grad.numpy() for t in leaves]


def _assert_parity(got, want, dtype):
    rtol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(w), initial=0))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", KERNEL_ROWS, ids=str)
@_budget(0.1, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_backend_parity(spec, dtype, backend, data):
    arrays, params = data.draw(spec.inputs(LARGE), label="inputs")
    got = _forward_backward(spec, arrays, params, dtype)
    with ag.backend.use("numpy"):
        want = _forward_backward(spec, arrays, params, dtype)
    _assert_parity(got, want, dtype)


_SPECIAL = np.array([0.0, -0.0, 1e-7, -1e-7, 20.0, -20.0, 88.0, -88.0, 1e4, -1e4])
_SIZES = [(), (1,), (7,), (4, 33), (2, 3, 17), (65536 + 17,)]  # SIMD edges, the threading threshold


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_backend_parity_activations_all_sizes(name, dtype, backend):
    rng = np.random.default_rng(1)
    for shape in _SIZES:
        x = rng.standard_normal(shape) * 5
        x.flat[: min(x.size, _SPECIAL.size)] = _SPECIAL[: x.size]

        def run(x=x):
            t = ag.tensor(x.astype(dtype), requires_grad=True)
            y = getattr(ag, name)(t)
            y.backward(_upstream([y])[0])
            return [y.detach().numpy(), t.grad.numpy()]

        got = run()
        with ag.backend.use("numpy"):
            want = run()
        _assert_parity(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sa, sb", [((1, 1), (1, 1)), ((5, 7), (7, 3)), ((67, 33), (33, 65)),
                                     ((2, 3, 17), (17, 9)), ((2, 1, 4, 5), (3, 5, 6)), ((9,), (9, 4)),
                                     ((4, 9), (9,)), ((64, 64), (64, 64))])
def test_backend_parity_matmul_sizes(sa, sb, dtype, backend):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)

    def run():
        ta, tb = _leaves([a, b], dtype)
        y = ta @ tb
        y.backward(_upstream([y])[0])
        return [y.detach().numpy(), ta.grad.numpy(), tb.grad.numpy()]

    got = run()
    with ag.backend.use("numpy"):
        want = run()
    _assert_parity(got, want, dtype)


# ---- (e') no aliasing, deterministically (hypothesis may not draw same-shape pairs) ---------------
@pytest.mark.parametrize("fn", [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: ag.add(a, b) * 1.0,
    lambda a, b: ag.clone(a) + b,
    lambda a, b: ag.stack([a, b]),
    lambda a, b: ag.cat([a, b]),
    lambda a, b: ag.where(np.array([[True, False, True]] * 2), a, b),
    lambda a, b: a.reshape(-1) + b.reshape(-1),
    lambda a, b: a[0] + b[0],
], ids=["add", "sub", "add*1", "clone+", "stack", "cat", "where", "reshape+", "getitem+"])
@pytest.mark.parametrize("via", ["backward", "grad"])
def test_gradients_never_alias(fn, via):
    """Ops whose backward hands the same array to several inputs (add: g, g): still no aliasing,
    with the upstream gradient, the inputs, or each other. Deterministic same-shape inputs."""
    arrays = [np.arange(6.0).reshape(2, 3), np.ones((2, 3))]
    leaves = [ag.from_numpy(a).requires_grad_() for a in arrays]
    y = fn(*leaves)
    upstream = np.full(y.shape, 2.0)
    if via == "grad":
        grads = [g.numpy() for g in ag.grad(y, leaves, upstream)]
    else:
        y.backward(upstream)
        grads = [t.grad.numpy() for t in leaves]
    for g, other in [(grads[0], grads[1])] + [(g, o) for g in grads for o in arrays + [upstream, y.data]]:
        assert not np.shares_memory(g, other)
    assert all(np.abs(g).sum() > 0 for g in grads)


# ---- registries: a new op without a row fails the suite ------------------------------------------
def _op_classes() -> set:
    """Every Function subclass defined in an autograd.ops module, except private shared bases."""
    found = set()
    for info in pkgutil.iter_modules(autograd.ops.__path__, "autograd.ops."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, ag.Function) and obj is not ag.Function
                    and obj.__module__ == module.__name__):
                found.add(obj)
    bases = {c for c in found
             if c.__name__.startswith("_") and any(o is not c and issubclass(o, c) for o in found)}
    return found - bases


def _classes_exercised(spec) -> set:
    """The node classes in the graph of the row's outputs and of their create_graph gradients,
    for one deterministic drawn case."""
    found = set()

    @settings(max_examples=1, derandomize=True, database=None, phases=[Phase.generate])
    @given(case=spec.inputs(GRADGRAD))
    def collect(case):
        arrays, params = case
        leaves = _leaves(arrays)
        outs = _as_list(spec.fn(*leaves, **params))
        upstream = [ag.tensor(u, requires_grad=True) for u in _upstream(outs)]
        grads = ag.grad(outs, leaves, upstream, create_graph=True, allow_unused=True)
        found.update(type(n) for n in _graph_nodes(outs + [g for g in grads if g is not None]))

    collect()
    return found


def test_every_op_class_has_a_row():
    covered = set()
    for spec in DIFFERENTIABLE:
        covered |= _classes_exercised(spec)
    classes = _op_classes()
    assert len(classes) >= 30, sorted(c.__name__ for c in classes)  # the walk itself works
    missing = sorted(c.__name__ for c in classes - covered)
    assert not missing, f"ops with no row in tests/op_specs.py (no gradient test): {missing}"


OPERATORS = ("__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __pow__ "
             "__rpow__ __matmul__ __rmatmul__ __neg__ __abs__ __getitem__ "
             "__lt__ __le__ __gt__ __ge__ __eq__ __ne__").split()
_HELPERS = {"as_tensor", "compare", "raw", "unwrap_index", "install_methods"}


def test_every_public_op_has_a_row():
    functions = {name for name, obj in vars(autograd.ops).items()
                 if inspect.isfunction(obj) and not name.startswith("_") and name not in _HELPERS}
    assert {"add", "matmul", "getitem", "softmax", "var"} <= functions
    covered = set().union(*(s.api for s in SPECS))
    missing = sorted((functions | set(OPERATORS) | {"clamp", "T"}) - covered)
    assert not missing, f"public ops with no row in tests/op_specs.py: {missing}"


def test_every_tensor_method_exists():
    """API.md: each function is also a Tensor method where PyTorch has one."""
    for name in ("exp log sqrt sin cos tanh sigmoid relu abs sign clip clamp maximum minimum pow "
                 "sum mean max min var std logsumexp argmax argmin reshape view transpose permute "
                 "swapaxes flatten squeeze unsqueeze broadcast_to expand split matmul softmax "
                 "log_softmax astype to float double clone").split():
        assert callable(getattr(ag.Tensor, name, None)), f"Tensor.{name} is missing"


# ---- dtype promotion (PyTorch's rules: Python and numpy scalars are weak) --------------------------
PROMOTIONS = {  # source, evaluated with x = a float32 tensor: expected result dtype
    "x * 0.5": "float32",
    "np.float64(2.0) * x": "float32",
    "x + 1": "float32",
    "x ** 2": "float32",
    "2 ** x": "float32",
    "1.0 / x": "float32",
    "x + ag.tensor([1.0], dtype=ag.float64)": "float64",
    "ag.tensor([1, 2]) + x": "float32",
    "ag.tensor([1, 2]) * 0.5": "float32",
    "ag.tensor([1, 2]) / ag.tensor([2, 2])": "float32",
    "ag.tensor([1, 2]) + 1": "int64",
    "ag.where(x > 1, x, 0.0)": "float32",
    "ag.maximum(x, 1.5)": "float32",
    "x.sum()": "float32",
    "x.mean()": "float32",
    "ag.tensor([1, 2]).mean()": "float32",
    "x.var()": "float32",
}


@pytest.mark.parametrize("source", PROMOTIONS)
def test_result_dtype(source):
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    assert eval(source, {"ag": ag, "np": np, "x": x}).dtype == np.dtype(PROMOTIONS[source])
