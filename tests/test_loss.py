"""Losses and parametrised activations: hand-computed values always, PyTorch's where installed.

Both backends (the `backend` fixture), float32 and float64: loss values and gradients equal
torch's to the dtype's rounding, for every reduction, label smoothing, ignore_index, probability
targets, (N, C, d...) and unbatched inputs, logits of +-1e4, and second-order gradients.
"""
import math
import warnings

import numpy as np
import pytest

import autograd as ag
from autograd.ops.class_loss import TargetIndexError

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the hand-computed tests still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
DTYPES = [np.float32, np.float64]


def _tol(dtype):
    return dict(rtol=2e-6, atol=2e-6) if np.dtype(dtype) == np.float32 else dict(rtol=1e-12, atol=1e-13)


# ---- hand-computed values ------------------------------------------------------------------------
def test_cross_entropy_by_hand(backend):
    x = ag.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=ag.float64, requires_grad=True)
    loss = ag.cross_entropy(x, ag.tensor([0, 2]))
    row0, row1 = math.log(math.exp(2) + 2) - 2, math.log(3)
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-15)
    loss.backward()
    p0 = [math.exp(2) / (math.exp(2) + 2), 1 / (math.exp(2) + 2), 1 / (math.exp(2) + 2)]
    expected = np.array([[p0[0] - 1, p0[1], p0[2]], [1 / 3, 1 / 3, 1 / 3 - 1]]) / 2
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-14)


def test_cross_entropy_smoothing_and_ignore_by_hand(backend):
    x = ag.tensor([[0.0, 0.0], [1.0, -1.0], [5.0, 5.0]], dtype=ag.float64, requires_grad=True)
    loss = ag.cross_entropy(x, [1, 0, -100], reduction="none", label_smoothing=0.5)
    # row 1: targets (0.75, 0.25); -log p = (log(1 + e^-2), 2 + log(1 + e^-2))
    l1 = math.log1p(math.exp(-2))
    np.testing.assert_allclose(loss.detach().numpy(), [math.log(2), 0.75 * l1 + 0.25 * (2 + l1), 0.0], rtol=1e-14)
    mean = ag.cross_entropy(x, [1, 0, -100], label_smoothing=0.5)
    assert mean.item() == pytest.approx(loss.detach().numpy()[:2].sum() / 2, rel=1e-14)  # 2 counted rows
    mean.backward()
    np.testing.assert_array_equal(x.grad.numpy()[2], [0.0, 0.0])


def test_cross_entropy_class_weights_by_hand(backend):
    x = ag.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=ag.float64, requires_grad=True)
    w = [2.0, 1.0, 3.0]
    loss = ag.cross_entropy(x, [0, 2], w)  # weight is torch's third positional argument
    row0, row1 = math.log(math.exp(2) + 2) - 2, math.log(3)
    # the mean divides by the weights of the two targets, 2 + 3
    assert loss.item() == pytest.approx((2 * row0 + 3 * row1) / 5, rel=1e-15)
    loss.backward()
    p0 = np.array([math.exp(2), 1, 1]) / (math.exp(2) + 2)
    expected = np.array([2 * (p0 - [1, 0, 0]), 3 * (np.full(3, 1 / 3) - [0, 0, 1])]) / 5
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-14)
    none = ag.cross_entropy(x, [0, -100], weight=w, reduction="none", label_smoothing=0.3)
    # smoothing adds eps / C sum_k w_k (-log p_k); an ignored row is 0
    smooth0 = 2 * row0 + 1 * (row0 + 2) + 3 * (row0 + 2)
    np.testing.assert_allclose(none.detach().numpy(), [0.7 * 2 * row0 + 0.1 * smooth0, 0.0],
                               rtol=1e-14)
    x.grad = None
    nothing = ag.cross_entropy(x, [-100, -100], weight=w, label_smoothing=0.3)
    nothing.backward()  # nothing counted: NaN, and a zero gradient (as torch)
    assert math.isnan(nothing.item()) and not x.grad.numpy().any()


def test_cross_entropy_class_weights_with_probabilities_by_hand(backend):
    x = ag.tensor([[0.0, math.log(3.0)], [0.0, 0.0]], dtype=ag.float64, requires_grad=True)
    q = ag.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=ag.float64, requires_grad=True)
    loss = ag.cross_entropy(x, q, weight=ag.tensor([2.0, 1.0]))  # softmax (1/4, 3/4), (1/2, 1/2)
    rows = [2 * 0.5 * math.log(4) + 0.5 * math.log(4 / 3), 2 * math.log(2)]
    assert loss.item() == pytest.approx(sum(rows) / 2, rel=1e-15)  # by rows, not by weights
    loss.backward()
    # d/dx = (sum_k w_k q_k) softmax - w * q, d/dq = -w log softmax; each over 2 rows
    np.testing.assert_allclose(x.grad.numpy(), np.array([[1.5 * 0.25 - 1.0, 1.5 * 0.75 - 0.5],
                                                         [2 * 0.5 - 2.0, 2 * 0.5 - 0.0]]) / 2,
                               rtol=1e-14)
    np.testing.assert_allclose(q.grad.numpy(), -np.array([[2 * math.log(0.25), math.log(0.75)],
                                                          [2 * math.log(0.5), math.log(0.5)]]) / 2,
                               rtol=1e-14)


def test_cross_entropy_weight_gradcheck_and_errors():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 2))
    target = np.array([[0, 2], [1, -100], [2, 2], [0, 1]])
    q = rng.dirichlet(np.ones(3), size=(4, 2)).transpose(0, 2, 1)
    w = np.array([0.5, 2.0, 1.5])
    for reduction in ("mean", "sum", "none"):
        def by_class(a, reduction=reduction):
            return ag.cross_entropy(a, target, w, reduction=reduction, label_smoothing=0.2)

        def by_prob(a, p, reduction=reduction):
            return ag.cross_entropy(a, p, weight=w, reduction=reduction, label_smoothing=0.2)

        leaves = [ag.tensor(x, requires_grad=True), ag.tensor(q, requires_grad=True)]
        assert ag.gradcheck(by_class, leaves[:1]) and ag.gradgradcheck(by_class, leaves[:1])
        assert ag.gradcheck(by_prob, leaves) and ag.gradgradcheck(by_prob, leaves)
    with pytest.raises(ag.ShapeError, match=r"cross_entropy: weight of shape \(2,\) .*\(3,\)"):
        ag.cross_entropy(ag.tensor(x), target, weight=[1.0, 2.0])


def test_cross_entropy_legacy_size_average_and_reduce():
    x, target = ag.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=ag.float64), [0, 0]
    per_row = ag.cross_entropy(x, target, reduction="none").detach().numpy()
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert ag.cross_entropy(x, target, None, False).item() == pytest.approx(per_row.sum())
    with pytest.warns(UserWarning, match="reduction='none'"):
        out = ag.cross_entropy(x, target, reduce=False)
    np.testing.assert_array_equal(out.detach().numpy(), per_row)


def test_nll_loss_takes_torchs_arguments_in_torchs_order():
    logp = ag.tensor([[-0.5, -1.0, -3.0], [-2.0, -0.25, -1.5], [-1.0, -1.0, -1.0]],
                     dtype=ag.float64, requires_grad=True)
    w = [1.0, 3.0, 0.5]
    # (input, target, weight, size_average, ignore_index, reduce, reduction)
    loss = ag.nn.functional.nll_loss(logp, [0, 1, 2], w, None, 2, None, "sum")
    assert loss.item() == 1 * 0.5 + 3 * 0.25  # the third target is ignored
    loss.backward()
    np.testing.assert_array_equal(logp.grad.numpy(), [[-1, 0, 0], [0, -3, 0], [0, 0, 0]])
    mean = ag.nn.functional.nll_loss(logp, [0, 1, 2], w, None, -100, None, "mean")
    assert mean.item() == pytest.approx((0.5 + 0.75 + 0.5) / (1 + 3 + 0.5), rel=1e-15)
    none = ag.nn.functional.nll_loss(logp, [0, 1, 2], w, reduction="none")
    np.testing.assert_array_equal(none.detach().numpy(), [0.5, 0.75, 0.5])


def test_losses_map_size_average_and_reduce_to_reduction():
    F = ag.nn.functional
    logp, target = ag.tensor([[-0.5, -1.0], [-2.0, -0.25]], dtype=ag.float64), [0, 1]
    with pytest.warns(UserWarning, match="nll_loss: .*reduction='sum'"):
        assert F.nll_loss(logp, target, None, False).item() == 0.75
    with pytest.warns(UserWarning, match="reduction='none'"):
        out = F.nll_loss(logp, target, reduce=False, size_average=True)
    np.testing.assert_array_equal(out.detach().numpy(), [0.5, 0.25])
    with pytest.warns(UserWarning, match="reduction='mean'"):
        assert F.nll_loss(logp, target, size_average=True, reduction="sum").item() == 0.375
    # our former order put ignore_index fourth: a value that is no flag is an error, not a
    # silently different reduction
    with pytest.raises(TypeError, match=r"nll_loss: size_average must be True, False or None, "
                                        r"got -100"):
        F.nll_loss(logp, target, None, -100)


def test_nll_loss_everything_ignored_and_errors():
    F = ag.nn.functional
    logp = ag.tensor(np.log(np.full((2, 3), 1 / 3)), requires_grad=True)
    loss = F.nll_loss(logp, [-100, -100], weight=[1.0, 2.0, 3.0])
    loss.backward()  # nothing counted: NaN, and a zero gradient (as torch)
    assert math.isnan(loss.item()) and not logp.grad.numpy().any()
    assert F.nll_loss(logp, [-100, -100], reduction="sum").item() == 0.0
    with pytest.raises(ag.ShapeError, match=r"nll_loss: weight of shape \(2,\) float32 must have "
                                            r"one value per class, shape \(3,\), for input "
                                            r"\(2, 3\) float64"):
        F.nll_loss(logp, [0, 1], weight=[1.0, 2.0])
    with pytest.raises(ag.DTypeError, match=r"nll_loss: target must hold integer class indices, "
                                            r"got \(2,\) float64 for input \(2, 3\) float64"):
        F.nll_loss(logp, np.array([0.0, 1.0]))
    with pytest.raises(ag.ShapeError, match=r"nll_loss: class-index target of shape \(3,\) does "
                                            r"not fit input \(2, 3\) float64: expected shape "
                                            r"\(2,\)"):
        F.nll_loss(logp, [0, 1, 2])
    with pytest.raises(ValueError, match="nll_loss: reduction must be one of"):
        F.nll_loss(logp, [0, 1], reduction="avg")


def test_cross_entropy_everything_ignored_is_nan(backend):
    x = ag.zeros((2, 3), requires_grad=True)
    loss = ag.cross_entropy(x, [-100, -100])
    assert math.isnan(loss.item())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the mean's 1 / 0 is expected: no warning escapes
        loss.backward()
    assert x.grad.numpy().tolist() == [[0.0] * 3] * 2  # nothing counted: a zero gradient (torch)
    assert ag.cross_entropy(ag.zeros((2, 3)), [-100, -100], reduction="sum").item() == 0.0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("labels", [True, False], ids=["labels", "probabilities"])
def test_cross_entropy_gradient_from_the_forward_pass(backend, monkeypatch, reduction, labels):
    """When the logits want a gradient, the forward kernel also writes the one for an upstream
    gradient of 1, and loss.backward() hands it on: bit for bit the backward kernel's for g = 1.
    A second backward (retain_graph) computes it again, the same bits; an upstream 3 (loss * 3)
    takes the backward kernel; under no_grad, or with "none", none is written."""
    active = ag.backend.active
    asked = []

    def spy(*args):
        asked.append(args[5])
        return real(*args)

    real = active.softmax_cross_entropy
    monkeypatch.setattr(active, "softmax_cross_entropy", spy)
    rng = np.random.default_rng(3)
    x = ag.tensor(rng.standard_normal((6, 5)) * 3, dtype=ag.float32, requires_grad=True)
    target = (ag.tensor([0, 4, -100, 2, 2, 1]) if labels
              else ag.tensor(rng.random((6, 5)), dtype=ag.float32))
    loss = ag.cross_entropy(x, target, reduction=reduction, label_smoothing=0.2)
    assert asked == [True]  # the op asks; for "none" (no single upstream 1) the backend writes none
    saved = loss.grad_fn.kernel_saved
    assert (saved[-1] is None) == (reduction == "none")
    one = np.float32(1)
    expected = active.softmax_cross_entropy_backward(
        one if reduction != "none" else np.ones(6, np.float32), saved)
    loss.backward(None if reduction != "none" else ag.ones(6), retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    x.grad = None
    loss.backward(None if reduction != "none" else ag.ones(6))
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    x.grad = None
    (ag.cross_entropy(x, target, reduction=reduction, label_smoothing=0.2) * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * expected, rtol=1e-6, atol=1e-7)
    asked.clear()
    with ag.no_grad():
        ag.cross_entropy(x, target, reduction=reduction)
    assert asked == [False]
    if not labels:  # probabilities that want a gradient too: backward's own pass does both
        p = target.detach().requires_grad_()
        loss = ag.cross_entropy(x, p, reduction=reduction, label_smoothing=0.2)
        assert asked[-1] is False and loss.grad_fn.kernel_saved[-1] is None
        x.grad = None
        loss.backward(None if reduction != "none" else ag.ones(6))
        np.testing.assert_array_equal(x.grad.numpy(), expected)
        assert p.grad is not None
    # logits changed in place after the forward: refused, as without the early gradient
    y = x * 1.0
    loss = ag.cross_entropy(y, target, reduction=reduction)
    with ag.no_grad():
        y += 1.0
    with pytest.raises(ag.GraphError, match="modified by an in-place operation"):
        loss.backward(None if reduction != "none" else ag.ones(6))


def test_cross_entropy_probabilities_by_hand(backend):
    x = ag.tensor([[0.0, math.log(3.0)]], dtype=ag.float64, requires_grad=True)
    p = ag.tensor([[0.5, 0.5]], dtype=ag.float64, requires_grad=True)
    loss = ag.cross_entropy(x, p)  # softmax = (1/4, 3/4)
    assert loss.item() == pytest.approx(-0.5 * math.log(0.25) - 0.5 * math.log(0.75), rel=1e-15)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.25 - 0.5, 0.75 - 0.5]], rtol=1e-14)
    np.testing.assert_allclose(p.grad.numpy(), [[-math.log(0.25), -math.log(0.75)]], rtol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_huge_logits_are_finite(backend, dtype):
    x = ag.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype, requires_grad=True)
    loss = ag.cross_entropy(x, [1, 0], reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [2e4, math.log(3)], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1, -1, 0], [1 / 3 - 1, 1 / 3, 1 / 3]], atol=1e-6)


def test_cross_entropy_bad_index_names_op_shapes_and_index(backend):
    with pytest.raises(TargetIndexError) as info:
        ag.cross_entropy(ag.zeros((4, 5)), [0, 1, 7, 2])
    message = str(info.value)
    assert "cross_entropy" in message and "7" in message and "(4, 5)" in message and "(4,)" in message
    with pytest.raises(IndexError):  # a builtin too, as PyTorch raises
        ag.cross_entropy(ag.zeros((2, 3)), [-1, 0])
    for bad in (3, np.iinfo(np.int64).min, np.iinfo(np.int64).max):  # the range's edges
        with pytest.raises(TargetIndexError):
            ag.cross_entropy(ag.zeros((2, 3)), np.array([0, bad], np.int64))
    assert ag.cross_entropy(ag.zeros((2, 3)), [2, 0]).item() == pytest.approx(math.log(3))
    with pytest.raises(ag.ShapeError, match="cross_entropy"):
        ag.cross_entropy(ag.zeros((4, 5)), [0, 1])
    with pytest.raises(ValueError, match="reduction"):
        ag.cross_entropy(ag.zeros((4, 5)), [0, 1, 2, 3], reduction="avg")


def test_cross_entropy_index_check_covers_every_path(backend):
    # (N, C, d) targets, ignore_index, class weights: each reports the first bad index
    x = ag.zeros((2, 3, 2))
    with pytest.raises(TargetIndexError, match=r"target index 3 \(at position 2\)"):
        ag.cross_entropy(x, [[0, 1], [3, 2]])
    with pytest.raises(TargetIndexError, match="index -2"):
        ag.cross_entropy(ag.zeros((3, 4)), [0, -2, 1], ignore_index=-1)
    assert ag.cross_entropy(ag.zeros((3, 4)), [0, -1, 1], ignore_index=-1).item() == pytest.approx(math.log(4))
    with pytest.raises(TargetIndexError, match="index 4"):
        ag.cross_entropy(ag.zeros((3, 4)), [0, 4, 1], weight=[1.0, 2.0, 3.0, 4.0])
    with pytest.raises(TargetIndexError, match="index 0"):  # no classes at all
        ag.cross_entropy(ag.zeros((2, 0)), [0, 0])


@pytest.mark.parametrize("name", ["numpy", "c"])
def test_softmax_cross_entropy_kernels_reject_bad_indices(name):
    """The op leaves the range check to these, so each must refuse before computing anything."""
    module = ag.backend._numpy if name == "numpy" else pytest.importorskip("autograd.backend._c")
    x = np.zeros((3, 4), np.float32)
    for bad in ([0, 4, 1], [0, -2, 1], [np.iinfo(np.int64).min, 0, 0]):
        with pytest.raises((IndexError, ag.AutogradError)):
            module.softmax_cross_entropy(x, np.array(bad, np.int64), "mean", 0.0, -1)
    loss, _ = module.softmax_cross_entropy(x, np.array([0, -1, 3], np.int64), "sum", 0.0, -1)
    assert loss == pytest.approx(2 * math.log(4))


def test_activations_reject_integer_input():
    for fn in (ag.leaky_relu, ag.elu, ag.softplus):
        with pytest.raises(ag.DTypeError, match=fn.__name__):
            fn(ag.tensor([1, -2]))


def test_bce_with_logits_by_hand(backend):
    x = ag.tensor([0.0, 1e4, -1e4, 2.0], dtype=ag.float64, requires_grad=True)
    t = ag.tensor([1.0, 0.0, 0.0, 0.25], dtype=ag.float64)
    loss = ag.binary_cross_entropy_with_logits(x, t, reduction="none")
    l3 = 0.75 * 2.0 + math.log1p(math.exp(-2.0))
    np.testing.assert_allclose(loss.detach().numpy(), [math.log(2), 1e4, 0.0, l3], rtol=1e-14)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-0.5, 1.0, 0.0, 1 / (1 + math.exp(-2)) - 0.25],
                               rtol=1e-14)


def test_bce_with_logits_weight_and_pos_weight_by_hand(backend):
    x = ag.tensor([[0.0, 2.0], [1e4, -1e4]], dtype=ag.float64, requires_grad=True)
    t = ag.tensor([[1.0, 0.25], [0.0, 1.0]], dtype=ag.float64, requires_grad=True)
    w, pw = ag.tensor([[2.0, 1.0], [1.0, 3.0]]), ag.tensor([4.0, 0.5])  # pw: one per column
    # torch's order: (input, target, weight, size_average, reduce, reduction, pos_weight)
    loss = ag.binary_cross_entropy_with_logits(x, t, w, None, None, "none", pw)
    # -w (pw y log s + (1 - y) log(1 - s)), s = sigmoid(x); log s(2) = -log1p(e^-2)
    sp2 = math.log1p(math.exp(-2.0))
    np.testing.assert_allclose(loss.detach().numpy(),
                               [[2 * 4 * math.log(2), 0.5 * 0.25 * sp2 + 0.75 * (2 + sp2)],
                                [1e4, 3 * 0.5 * 1e4]], rtol=1e-14)
    loss.sum().backward()
    # d/dx = w ((1 + (pw - 1) y) s - pw y), d/dy = w (-x - (pw - 1) log s)
    s2 = 1 / (1 + math.exp(-2.0))
    np.testing.assert_allclose(x.grad.numpy(), [[2 * (4 * 0.5 - 4), (1 - 0.125) * s2 - 0.125],
                                                [1.0, 3 * (0.5 * 0 - 0.5)]], rtol=1e-14)
    np.testing.assert_allclose(t.grad.numpy(), [[2 * (0 + 3 * math.log(2)), -2 - 0.5 * sp2],
                                                [-1e4, 3 * (1e4 - 0.5 * 1e4)]], rtol=1e-14)
    mean = ag.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw)
    assert mean.item() == pytest.approx(loss.detach().numpy().mean(), rel=1e-15)  # by elements


def test_bce_with_logits_arguments_and_errors():
    x, t = ag.tensor([[0.5, -1.0], [2.0, 0.0]]), ag.tensor([[1.0, 0.0], [0.5, 1.0]])
    per_element = ag.binary_cross_entropy_with_logits(x, t, reduction="none").detach().numpy()
    with pytest.warns(UserWarning, match="binary_cross_entropy_with_logits: .*reduction='sum'"):
        summed = ag.binary_cross_entropy_with_logits(x, t, None, False)
    assert summed.item() == pytest.approx(per_element.sum())
    row = ag.binary_cross_entropy_with_logits(x, t, ag.tensor([1.0, 3.0]), reduction="none")
    np.testing.assert_allclose(row.detach().numpy(), per_element * [1.0, 3.0], rtol=1e-6)
    with pytest.raises(TypeError, match=r"binary_cross_entropy_with_logits: weight must be a "
                                        r"tensor or None, got 'sum'"):
        ag.binary_cross_entropy_with_logits(x, t, "sum")  # our former order
    with pytest.raises(ag.ShapeError, match=r"binary_cross_entropy_with_logits: pos_weight \(3,\) "
                                            r"float32 must broadcast to the input's shape "
                                            r"\(2, 2\) float32"):
        ag.binary_cross_entropy_with_logits(x, t, pos_weight=ag.ones(3))
    with pytest.raises(ag.ShapeError, match=r"weight \(2, 2, 1\) float32 must broadcast"):
        ag.binary_cross_entropy_with_logits(x, t, weight=ag.ones(2, 2, 1))
    with pytest.raises(ag.DTypeError, match=r"binary_cross_entropy_with_logits: the input must be "
                                            r"floating point, got \(2,\) int64"):
        ag.binary_cross_entropy_with_logits(ag.tensor([1, 2]), ag.tensor([1, 0]))


def test_mse_by_hand(backend):
    x = ag.tensor([[1.0, 3.0]], dtype=ag.float64, requires_grad=True)
    t = ag.tensor([[0.0], [1.0]], dtype=ag.float64, requires_grad=True)  # broadcasts to (2, 2)
    with pytest.warns(UserWarning, match=r"mse_loss: using a target size \(2, 1\) that is "
                                         r"different to the input size \(1, 2\)"):
        loss = ag.mse_loss(x, t)
    assert loss.item() == pytest.approx((1 + 9 + 0 + 4) / 4)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[(2 * 1 + 2 * 0) / 4, (2 * 3 + 2 * 2) / 4]])
    np.testing.assert_allclose(t.grad.numpy(), [[-(2 + 6) / 4], [-(0 + 4) / 4]])


def test_activations_by_hand(backend):
    x = ag.tensor([-2.0, 0.0, 3.0], dtype=ag.float64, requires_grad=True)
    np.testing.assert_allclose(ag.leaky_relu(x, 0.5).detach().numpy(), [-1.0, 0.0, 3.0])
    np.testing.assert_allclose(ag.elu(x, 2.0).detach().numpy(), [2 * math.expm1(-2), 0.0, 3.0])
    np.testing.assert_allclose(ag.softplus(x, beta=2.0, threshold=5.0).detach().numpy(),
                               [math.log1p(math.exp(-4)) / 2, math.log(2) / 2, 3.0])
    (ag.leaky_relu(x, 0.5) + ag.elu(x, 2.0) + ag.softplus(x, 2.0, 5.0)).sum().backward()
    s = 1 / (1 + math.exp(4))
    np.testing.assert_allclose(x.grad.numpy(), [0.5 + 2 * math.exp(-2) + s, 0.5 + 2.0 + 0.5, 3.0])


# ---- against PyTorch -----------------------------------------------------------------------------
def _compare(ours_fn, torch_fn, arrays, dtype, grads_of=None):
    """Forward and gradients of ours vs torch, for the float arrays in `arrays` (requires_grad)."""
    leaves = [ag.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    tleaves = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    ours, theirs = ours_fn(*leaves), torch_fn(*tleaves)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **_tol(dtype))
    upstream = np.random.default_rng(0).standard_normal(theirs.shape).astype(dtype)
    ours.backward(upstream)
    theirs.backward(torch.from_numpy(upstream))
    for i in grads_of if grads_of is not None else range(len(arrays)):
        np.testing.assert_allclose(leaves[i].grad.numpy(), tleaves[i].grad.numpy(), **_tol(dtype))


def _class_targets(rng, shape):
    """(classes, class indices) for scores of `shape`; every third index is 1, a real class
    that the tests also pass as ignore_index."""
    c = shape[0] if len(shape) == 1 else shape[1]
    target = rng.integers(0, c, () if len(shape) == 1 else shape[:1] + shape[2:])
    if target.size > 2:
        target.flat[::3] = 1
    return c, target


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("shape", [(7,), (16, 10), (3, 4, 5), (2, 3, 2, 4), (0, 4), (64, 1000)])
def test_cross_entropy_class_targets_vs_torch(backend, dtype, reduction, smoothing, shape):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape) * 4
    _, target = _class_targets(rng, shape)
    for ignore in (-100, 1):
        _compare(lambda a: ag.cross_entropy(a, target, None, None, ignore, None, reduction,
                                            smoothing),  # torch's positional order
                 lambda a: F.cross_entropy(a, torch.from_numpy(np.asarray(target)), None, None,
                                           ignore, None, reduction, smoothing), [x], dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(6,), (16, 10), (3, 4, 5), (64, 1000)])
def test_cross_entropy_probability_targets_vs_torch(backend, dtype, reduction, smoothing, shape):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape) * 4
    p = rng.random(shape)
    p /= p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    _compare(lambda a, q: ag.cross_entropy(a, q, reduction=reduction, label_smoothing=smoothing),
             lambda a, q: F.cross_entropy(a, q, reduction=reduction, label_smoothing=smoothing),
             [x, p], dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("shape", [(7,), (16, 10), (3, 4, 5), (0, 4)])
def test_cross_entropy_class_weights_vs_torch(backend, dtype, reduction, smoothing, shape):
    rng = np.random.default_rng(len(shape) + 10)
    x = rng.standard_normal(shape) * 4
    c, target = _class_targets(rng, shape)
    p = rng.random(shape)
    p /= p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    w = (rng.random(c) * 2 + 0.1).astype(dtype)
    for ignore in (-100, 1):
        _compare(lambda a: ag.cross_entropy(a, target, w, None, ignore, None, reduction, smoothing),
                 lambda a: F.cross_entropy(a, torch.from_numpy(np.asarray(target)),
                                           torch.from_numpy(w), None, ignore, None, reduction,
                                           smoothing), [x], dtype)
    _compare(lambda a, q: ag.cross_entropy(a, q, w, reduction=reduction, label_smoothing=smoothing),
             lambda a, q: F.cross_entropy(a, q, torch.from_numpy(w), reduction=reduction,
                                          label_smoothing=smoothing), [x, p], dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(7,), (16, 10), (3, 4, 5), (2, 3, 2, 4), (0, 4)])
def test_nll_loss_vs_torch(dtype, reduction, weighted, shape):
    rng = np.random.default_rng(len(shape) + 20)
    x = rng.standard_normal(shape) * 3
    c, target = _class_targets(rng, shape)
    w = (rng.random(c) * 2 + 0.1).astype(dtype) if weighted else None
    tw = None if w is None else torch.from_numpy(w)
    for ignore in (-100, 1):
        _compare(lambda a: ag.nn.functional.nll_loss(a, target, w, None, ignore, None, reduction),
                 lambda a: F.nll_loss(a, torch.from_numpy(np.asarray(target)), tw, None, ignore,
                                      None, reduction), [x], dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_huge_logits_vs_torch(backend, dtype):
    rng = np.random.default_rng(5)
    x = rng.choice([-1e4, 1e4, 0.0, 1.0], size=(32, 17))
    target = rng.integers(0, 17, 32)
    p = rng.random((32, 17))
    _compare(lambda a: ag.cross_entropy(a, target, label_smoothing=0.1),
             lambda a: F.cross_entropy(a, torch.from_numpy(target), label_smoothing=0.1), [x], dtype)
    _compare(lambda a: ag.cross_entropy(a, p.astype(dtype), reduction="none"),
             lambda a: F.cross_entropy(a, torch.from_numpy(p.astype(dtype)), reduction="none"), [x], dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_and_mse_vs_torch(backend, dtype, reduction):
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.standard_normal(3000) * 5, [1e4, -1e4, 0.0, 40.0, -40.0]])
    t = rng.random(x.size)
    _compare(lambda a, b: ag.binary_cross_entropy_with_logits(a, b, reduction=reduction),
             lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), [x, t], dtype)
    _compare(lambda a, b: ag.mse_loss(a, b, reduction=reduction),
             lambda a, b: F.mse_loss(a, b, reduction=reduction), [x[:3000], t[:3000]], dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(7,), (16, 10), (3, 4, 5), (2, 3, 2, 4), (0, 4)])
@pytest.mark.parametrize("weights", ["weight", "row weight", "pos_weight", "both"])
def test_bce_with_logits_weights_vs_torch(backend, dtype, reduction, shape, weights):
    rng = np.random.default_rng(len(shape) + 30)
    x = rng.standard_normal(shape) * 5
    x.flat[:4] = [1e4, -1e4, 40.0, -40.0][: x.size]  # stays finite, as torch's log-sigmoid
    t = rng.random(shape)
    w = rng.random(shape if weights != "row weight" else shape[-1:]) + 0.5
    pw = rng.random(shape[-1:]) * 3 + 0.1  # one per class, along the last axis (torch's docs)
    w = w.astype(dtype) if weights in ("weight", "row weight", "both") else None
    pw = pw.astype(dtype) if weights in ("pos_weight", "both") else None

    def theirs(a, b):
        return F.binary_cross_entropy_with_logits(
            a, b, None if w is None else torch.from_numpy(w), None, None, reduction,
            None if pw is None else torch.from_numpy(pw))

    _compare(lambda a, b: ag.binary_cross_entropy_with_logits(a, b, w, None, None, reduction, pw),
             theirs, [x, t], dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, ours, theirs", [
    ("leaky_relu", lambda a: ag.leaky_relu(a, 0.2), lambda a: F.leaky_relu(a, 0.2)),
    ("elu", lambda a: ag.elu(a, 1.5), lambda a: F.elu(a, 1.5)),
    ("softplus", lambda a: ag.softplus(a), lambda a: F.softplus(a)),
    ("softplus beta", lambda a: ag.softplus(a, 3.0, 10.0), lambda a: F.softplus(a, 3.0, 10.0)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_activations_vs_torch(backend, dtype, name, ours, theirs):
    rng = np.random.default_rng(7)
    for n in (1, 15, 70001):  # scalar tail, SIMD tail, the threaded path
        x = rng.standard_normal(n) * 8
        x[: min(n, 6)] = [0.0, 1e4, -1e4, 20.0, -20.0, 3.3][: min(n, 6)]
        _compare(ours, theirs, [x], dtype)


@needs_torch
def test_cross_entropy_second_order_vs_torch():
    rng = np.random.default_rng(8)
    x, v = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    p = rng.random((5, 4))
    for target in (np.array([0, 3, 1, -100, 2]), p):
        a = ag.tensor(x, requires_grad=True)
        (g,) = ag.grad(ag.cross_entropy(a, target, label_smoothing=0.2), [a], create_graph=True)
        (g * ag.tensor(v)).sum().backward()
        ta = torch.tensor(x, requires_grad=True)
        (tg,) = torch.autograd.grad(F.cross_entropy(ta, torch.from_numpy(target), label_smoothing=0.2),
                                    [ta], create_graph=True)
        (tg * torch.from_numpy(v)).sum().backward()
        np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-14)


# ---- kinks, in both backward modes (plain arrays and create_graph tensors) ------------------------
@pytest.mark.parametrize("create_graph", [False, True], ids=["arrays", "create_graph"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_kinks_and_limits(backend, create_graph, dtype):
    """leaky_relu'(0) = slope and elu'(0) = alpha (PyTorch's x > 0 test); softplus is x itself
    past the threshold and finite at +-1e4; nothing overflows in an unused branch."""
    x = ag.tensor(np.array([0.0, -0.0, 1e4, -1e4], dtype), requires_grad=True)
    for fn, value, slope in [
        (lambda t: ag.leaky_relu(t, 0.25), [0, 0, 1e4, -2500], [0.25, 0.25, 1, 0.25]),
        (lambda t: ag.elu(t, 2.0), [0, 0, 1e4, -2.0], [2.0, 2.0, 1, 0]),
        (lambda t: ag.softplus(t), [math.log(2), math.log(2), 1e4, 0], [0.5, 0.5, 1, 0]),
    ]:
        y = fn(x)
        np.testing.assert_allclose(y.detach().numpy(), value, rtol=1e-6)
        (g,) = ag.grad(y, [x], ag.tensor(np.ones(4, dtype)), create_graph=create_graph)
        np.testing.assert_allclose(g.detach().numpy(), slope, rtol=1e-6)
        assert g.dtype == dtype
