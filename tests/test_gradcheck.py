"""ag.gradcheck / ag.gradgradcheck: pass on correct ops, catch wrong ones, report them clearly."""
import re
import time

import numpy as np
import pytest

import autograd as ag
from autograd import GradcheckError


def f64(data, requires_grad=True):
    return ag.tensor(data, dtype=ag.float64, requires_grad=requires_grad)


class WrongSin(ag.Function):
    """sin with a gradient 10% too large everywhere."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.cos(a) * 1.1


class MulWrongAtOneElement(ag.Function):
    """a * b; the gradient for b is doubled at element (1, 0) only."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        gb = g * a
        gb[1, 0] *= 2
        return g * b, gb


class RawNumpyBackward(ag.Function):
    """sin whose backward is right to first order but leaves the graph (raw numpy on .data)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.cos(a.data if isinstance(a, ag.Tensor) else a)


# ---- passing -------------------------------------------------------------------------------
@pytest.mark.parametrize("fn, shapes", [
    (lambda a: a.sin() * a, [(2, 3)]),
    (lambda a: (a * a).sum(), [(3,)]),
    (lambda a: a.exp(), [()]),
    (lambda a, b: a * b + a / (b * b + 1), [(2, 3), (3,)]),
    (lambda a, b: a @ b, [(2, 3), (3, 4)]),
    (lambda a: ag.softmax(a, axis=-1), [(2, 4)]),
    (lambda a: a.reshape(3, 2).transpose()[1], [(2, 3)]),
    (lambda a: a.tanh().mean(axis=0), [(3, 2)]),
])
def test_gradcheck_passes_on_builtin_ops(fn, shapes):
    rng = np.random.default_rng(0)
    inputs = [f64(rng.uniform(0.5, 1.5, s)) for s in shapes]
    assert ag.gradcheck(fn, inputs) is True
    assert ag.gradcheck(fn, inputs, fast_mode=True) is True


def test_gradcheck_multiple_outputs_and_constants():
    x = f64([[0.5, -1.0], [2.0, 0.25]])
    c = ag.tensor([1.0, 2.0], dtype=ag.float64)  # does not require grad: not checked
    assert ag.gradcheck(lambda a, b, k: (a * k, (a * b).exp()), [x, c, 3.0])


def test_gradcheck_output_independent_of_input():
    x = f64([1.0, 2.0])
    y = f64([3.0])
    assert ag.gradcheck(lambda a, b: a * 2, [x, y])


def test_gradcheck_leaves_dot_grad_alone():
    x = f64([1.0, 2.0])
    assert ag.gradcheck(lambda a: (a ** 3).sum(), [x])
    assert x.grad is None
    assert x.tolist() == [1.0, 2.0]


# ---- failing -------------------------------------------------------------------------------
def test_gradcheck_returns_false_without_raising():
    x = f64([[0.1, 0.2], [0.3, 0.4]])
    assert ag.gradcheck(WrongSin.apply, [x], raise_exception=False) is False
    assert ag.gradcheck(lambda t: t.sin(), [x], raise_exception=False) is True


def _numbers(message, label):
    match = re.search(label + r" (-?[0-9.e+-]+)", message)
    assert match, f"no '{label} <number>' in: {message}"
    return float(match.group(1))


def test_gradcheck_error_message_names_input_element_values_tolerance():
    a = f64([[1.0, 2.0], [3.0, 4.0]])
    b = f64([[0.5, -1.0], [2.0, 1.5]])
    with pytest.raises(GradcheckError) as info:
        ag.gradcheck(MulWrongAtOneElement.apply, [a, b], atol=1e-5, rtol=1e-3)
    message = str(info.value)
    assert "input 1" in message and "input 0" not in message
    assert "(shape (2, 2))" in message
    assert "element (1, 0)" in message
    assert "atol=1e-05" in message and "rtol=0.001" in message
    assert "1 of 4 elements differ" in message
    analytic, numeric = _numbers(message, "analytic"), _numbers(message, "numeric")
    assert numeric != 0.0
    assert analytic == pytest.approx(2 * numeric, rel=1e-6)  # the values of that very element
    assert "np.float64" not in message  # plain numbers, not numpy reprs


def test_gradcheck_error_is_an_assertion_error():
    x = f64([0.3])
    with pytest.raises(AssertionError, match="gradcheck: input 0"):
        ag.gradcheck(WrongSin.apply, [x])


def test_gradcheck_wants_float64():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="input 0 is float32.*float64"):
        ag.gradcheck(lambda t: t.sin(), [x])
    with pytest.raises(TypeError, match="input 1 is float32"):
        ag.gradcheck(lambda a, b: a * b, [f64([1.0]), x])
    with pytest.raises(TypeError, match="float64"):
        ag.gradgradcheck(lambda t: t.sin(), [x])


def test_fast_mode_catches_wrong_op_on_large_input():
    rng = np.random.default_rng(1)
    big = f64(rng.standard_normal((200, 200)))
    start = time.perf_counter()
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(200, 200\)\), random direction"):
        ag.gradcheck(WrongSin.apply, [big], fast_mode=True)
    assert ag.gradcheck(WrongSin.apply, [big], fast_mode=True, raise_exception=False) is False
    assert ag.gradcheck(lambda t: t.sin(), [big], fast_mode=True)
    assert time.perf_counter() - start < 5.0  # 40,000 elements, a handful of evaluations


def test_fast_mode_catches_single_wrong_element():
    a = f64([[1.0, 2.0], [3.0, 4.0]])
    b = f64([[0.5, -1.0], [2.0, 1.5]])
    assert not ag.gradcheck(MulWrongAtOneElement.apply, [a, b], fast_mode=True, raise_exception=False)


# ---- second order --------------------------------------------------------------------------
@pytest.mark.parametrize("fn, shapes", [
    (lambda a: (a ** 3).sum(), [(3,)]),
    (lambda a: a.sin() * a.exp(), [(2, 2)]),
    (lambda a, b: (a @ b).tanh(), [(2, 3), (3, 2)]),
    (lambda a: ag.log_softmax(a, axis=-1), [(2, 3)]),
    (lambda a, b: a / b, [(3,), (3,)]),
    (lambda a: a.sqrt().sum(axis=1), [(2, 3)]),
])
def test_gradgradcheck_passes_on_builtin_ops(fn, shapes):
    rng = np.random.default_rng(2)
    inputs = [f64(rng.uniform(0.5, 1.5, s)) for s in shapes]
    assert ag.gradgradcheck(fn, inputs) is True


def test_gradgradcheck_fails_when_backward_leaves_the_graph():
    x = f64([[0.1, 0.2], [0.3, 0.4]])
    assert ag.gradcheck(RawNumpyBackward.apply, [x])  # first order is right
    assert ag.gradgradcheck(RawNumpyBackward.apply, [x], raise_exception=False) is False
    with pytest.raises(GradcheckError, match="input 0.*analytic 0.0 vs numeric"):
        ag.gradgradcheck(RawNumpyBackward.apply, [x])


def test_gradgradcheck_leaves_inputs_alone():
    x = f64([0.5, 1.5])
    assert ag.gradgradcheck(lambda t: (t ** 4).sum(), [x])
    assert x.grad is None and x.tolist() == [0.5, 1.5] and x.requires_grad


class DoubleDetachingGradient(ag.Function):
    """2x, whose backward is right to first order but drops the incoming gradient from the graph."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return ag.tensor(np.asarray(g) * 2)


def test_gradgradcheck_varies_the_upstream_gradient():
    # A linear op has no second derivative in x: only the check on the upstream gradient (the
    # appended input 1) sees that this backward leaves the graph.
    x = f64([0.3, -0.7, 1.1])
    assert ag.gradcheck(DoubleDetachingGradient.apply, [x])
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(3,\)\).*analytic 0.0 vs numeric"):
        ag.gradgradcheck(DoubleDetachingGradient.apply, [x])
    assert ag.gradgradcheck(lambda t: 2 * t, [x])
