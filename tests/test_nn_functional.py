"""nn.functional: losses and penalties against numpy formulas, torch where importable, and
float64 gradcheck; each reduction mode."""
import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
import autograd.nn.functional as F

REDUCTIONS = ["mean", "sum", "none"]


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _reduce(v, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](v)


def _leaf(a):
    return ag.tensor(np.asarray(a, np.float64), requires_grad=True)


def _check(loss_fn, reference, inputs, reduction, **kwargs):
    out = loss_fn(*[ag.tensor(a) for a in inputs], reduction=reduction, **kwargs)
    np.testing.assert_allclose(np.asarray(out.data), reference(*inputs), rtol=1e-12, atol=1e-15)
    assert ag.gradcheck(lambda *xs: loss_fn(*xs, reduction=reduction, **kwargs),
                        [_leaf(a) for a in inputs], atol=1e-6, rtol=1e-5)


shapes = st.sampled_from([(), (1,), (5,), (3, 4), (2, 1, 3)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shape=shapes)
def test_l1_loss(reduction, shape):
    x, y = _rand(*shape, seed=1), _rand(*shape, seed=2)
    _check(F.l1_loss, lambda a, b: _reduce(np.abs(a - b), reduction), (x, y), reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(shape=shapes, delta=st.sampled_from([0.5, 1.0, 2.0]))
def test_huber_loss(reduction, shape, delta):
    x, y = _rand(*shape, seed=3) * 2, _rand(*shape, seed=4)

    def ref(a, b):
        d = np.abs(a - b)
        return _reduce(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)

    _check(F.huber_loss, ref, (x, y), reduction, delta=delta)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    p = 1 / (1 + np.exp(-_rand(4, 3, seed=5)))
    y = (np.random.default_rng(6).random((4, 3)) > 0.5).astype(np.float64)
    ref = lambda a, b: _reduce(-(b * np.log(a) + (1 - b) * np.log(1 - a)), reduction)  # noqa: E731
    _check(F.binary_cross_entropy, ref, (p, y), reduction)


def test_binary_cross_entropy_clamps_logs_at_minus_100():
    p = ag.tensor([0.0, 1.0, 0.0, 1.0], dtype=ag.float64, requires_grad=True)
    y = ag.tensor([1.0, 0.0, 0.0, 1.0], dtype=ag.float64)
    loss = F.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_array_equal(np.asarray(loss.data), [100.0, 100.0, 0.0, 0.0])
    loss.sum().backward()
    assert np.all(np.isfinite(np.asarray(p.grad.data)))
    with pytest.raises(ValueError, match="probabilities"):
        F.binary_cross_entropy(ag.tensor([1.5]), ag.tensor([1.0]))


# p at and next to 0 and 1, where the clamps act; torch's input gradient divides by
# max((1 - p) p, EPSILON) with EPSILON the C float 1e-12, so 1 / EPSILON is 1.000000004e12.
_P_EDGE = [0.0, 1.0, 1e-20, 1e-50, 1 - 1e-15]
_Y_EDGE = [1.0, 0.0, 1.0, 1.0, 0.0]
_INV_EPS = 1 / float(np.float32(1e-12))
_GRAD_P_EDGE = np.array([-1.0, 1.0, -1.0, -1.0, 1 - 1e-15]) * _INV_EPS
# -logit(p) = log(1 - p) - log(p): infinite at 0 and 1
_GRAD_Y_EDGE = np.array([np.inf, -np.inf, 20 * np.log(10), 50 * np.log(10),
                         -np.log((1 - 1e-15) / (1 - (1 - 1e-15)))])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_gradients_at_the_extremes(reduction):
    p, y = _leaf(_P_EDGE), _leaf(_Y_EDGE)
    w = np.array([2.0, 1.0, 0.5, 1.0, 3.0])
    loss = F.binary_cross_entropy(p, y, weight=w, reduction=reduction)
    per_element = w * np.array([100.0, 100.0, 20 * np.log(10), 100.0, 34.53957599234088])
    np.testing.assert_allclose(np.asarray(loss.data), _reduce(per_element, reduction), rtol=1e-12)
    loss.backward(ag.ones_like(loss) if reduction == "none" else None)
    scale = w / 5 if reduction == "mean" else w
    np.testing.assert_allclose(np.asarray(p.grad.data), scale * _GRAD_P_EDGE, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(y.grad.data), scale * _GRAD_Y_EDGE, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_torch_at_the_extremes(reduction, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    p = np.concatenate([_P_EDGE, [0.0, 1.0, 0.3, 1e-7, 1 - 1e-7], rng.random(6)]).astype(dtype)
    y = np.concatenate([_Y_EDGE, [0.0, 1.0, 0.6, 0.5, 0.5], rng.random(6)]).astype(dtype)
    w = rng.random(p.size).astype(dtype) + 0.5
    ours = [ag.tensor(a, requires_grad=True) for a in (p, y)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (p, y)]
    lo = F.binary_cross_entropy(*ours, weight=w, reduction=reduction)
    lt = torch.nn.functional.binary_cross_entropy(*theirs, weight=torch.tensor(w),
                                                  reduction=reduction)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(np.asarray(lo.data), lt.detach().numpy(), rtol=rtol)
    up = rng.random(p.size).astype(dtype) if reduction == "none" else np.asarray(1.5, dtype)
    lo.backward(ag.tensor(up))
    lt.backward(torch.tensor(up))
    for a, t in zip(ours, theirs):
        assert a.grad.dtype == dtype
        np.testing.assert_allclose(np.asarray(a.grad.data), t.grad.numpy(), rtol=rtol)


def test_binary_cross_entropy_weight_target_gradients_and_double_backward():
    p = 1 / (1 + np.exp(-_rand(3, 4, seed=12)))
    y = np.random.default_rng(13).random((3, 4))
    w = np.random.default_rng(14).random((1, 4)) + 0.5  # broadcasts over rows
    for reduction in REDUCTIONS:
        def fn(a, b, c, reduction=reduction):
            return F.binary_cross_entropy(a, b, weight=c, reduction=reduction)

        assert ag.gradcheck(fn, [_leaf(p), _leaf(y), _leaf(w)], atol=1e-6, rtol=1e-5)
        assert ag.gradgradcheck(fn, [_leaf(p), _leaf(y), _leaf(w)], atol=1e-5, rtol=1e-4)
    with pytest.raises(ag.ShapeError, match=r"binary_cross_entropy: weight \(2, 4\)"):
        F.binary_cross_entropy(ag.tensor(p), ag.tensor(y), weight=np.ones((2, 4)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_with_ignore_index_and_weights(reduction):
    logp = np.log(np.random.default_rng(7).dirichlet(np.ones(5), size=6))
    target = np.array([0, 4, -100, 2, 2, 1])
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    out = F.nll_loss(ag.tensor(logp), ag.tensor(target), weight=w, reduction=reduction)
    keep = target != -100
    picked = np.where(keep, -logp[np.arange(6), np.where(keep, target, 0)] * w[np.where(keep, target, 0)], 0)
    expected = {"none": picked, "sum": picked.sum(),
                "mean": picked.sum() / w[target[keep]].sum()}[reduction]
    np.testing.assert_allclose(np.asarray(out.data), expected, rtol=1e-12)
    assert ag.gradcheck(lambda a: F.nll_loss(a, target, weight=w, reduction=reduction),
                        [_leaf(logp)])


def test_nll_loss_spatial_and_errors():
    logp = np.log(np.random.default_rng(8).dirichlet(np.ones(3), size=(2, 4)))  # (2, 4, 3)
    x = np.moveaxis(logp, -1, 1)  # (N, C, d) = (2, 3, 4)
    target = np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    expected = -np.take_along_axis(logp, target[..., None], -1)[..., 0]
    np.testing.assert_allclose(np.asarray(F.nll_loss(ag.tensor(x), target, reduction="none").data),
                               expected, rtol=1e-12)
    with pytest.raises(IndexError, match=r"nll_loss: target index 3 \(at position 1\) is out of "
                       r"range for 3 classes; input \(2, 3\) float64, target \(2,\) int64"):
        F.nll_loss(ag.tensor(x[:, :, 0]), np.array([0, 3]))
    with pytest.raises(ag.ShapeError, match="nll_loss"):
        F.nll_loss(ag.tensor(x), np.array([0, 1]))
    with pytest.raises(ag.DTypeError, match="integer"):
        F.nll_loss(ag.tensor(x[:, :, 0]), np.array([0.0, 1.0]))


def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, y = _rand(5, 3, seed=9), _rand(5, 3, seed=10)
    p = 1 / (1 + np.exp(-x))
    b = (y > 0).astype(np.float64)
    logp = np.log(np.exp(x) / np.exp(x).sum(1, keepdims=True))
    t = np.array([0, 2, 1, 1, 0])
    cases = [
        (F.l1_loss, tf.l1_loss, (x, y), {}),
        (F.huber_loss, tf.huber_loss, (x, y), {"delta": 0.7}),
        (F.binary_cross_entropy, tf.binary_cross_entropy, (p, b), {}),
        (F.nll_loss, tf.nll_loss, (logp, t), {}),
    ]
    for ours, theirs, (a, c), kw in cases:
        for reduction in REDUCTIONS:
            la = ag.tensor(a, requires_grad=True)
            ta = torch.tensor(a, requires_grad=True)
            lo = ours(la, ag.tensor(c), reduction=reduction, **kw)
            lt = theirs(ta, torch.tensor(c), reduction=reduction, **kw)
            np.testing.assert_allclose(np.asarray(lo.data), lt.detach().numpy(), rtol=1e-12)
            lo.sum().backward()
            lt.sum().backward()
            np.testing.assert_allclose(np.asarray(la.grad.data), ta.grad.numpy(), rtol=1e-10,
                                       atol=1e-14, err_msg=f"{theirs.__name__} {reduction}")


def test_regression_losses_take_torchs_arguments_in_torchs_order():
    x = ag.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=ag.float64, requires_grad=True)
    y = ag.tensor([[0.0, 0.0], [0.0, 0.0]], dtype=ag.float64)
    w = ag.tensor([[2.0, 1.0], [4.0, 1.0]], dtype=ag.float64)
    # (input, target, size_average, reduce, reduction, weight)
    mse = F.mse_loss(x, y, None, None, "mean", w)
    assert mse.item() == (2 * 1 + 4 + 4 * 0.25 + 9) / (2 + 1 + 4 + 1)  # mean: by the weights
    mse.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * np.array([[2, -2], [2, 3]]) / 8)
    x.grad = None
    l1 = F.l1_loss(x, y, None, None, "sum", w)
    assert l1.item() == 2 * 1 + 2 + 4 * 0.5 + 3
    l1.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, -1], [4, 1]])
    # (input, target, reduction, delta, weight): huber's mean is by the elements, as torch's
    huber = F.huber_loss(x, y, "mean", 1.0, w)
    assert huber.item() == (2 * 0.5 + 1.5 + 4 * 0.125 + 2.5) / 4
    with pytest.warns(UserWarning, match="mse_loss: .*reduction='sum'"):
        assert F.mse_loss(x, y, False).item() == 1 + 4 + 0.25 + 9
    with pytest.warns(UserWarning, match="l1_loss: .*reduction='none'"):
        assert F.l1_loss(x, y, reduce=False).shape == (2, 2)
    # our former order had reduction third: a string there is an error, not a flag
    with pytest.raises(TypeError, match="mse_loss: size_average must be True, False or None, "
                                        "got 'sum'"):
        F.mse_loss(x, y, "sum")
    with pytest.raises(ag.ShapeError, match=r"l1_loss: weight \(2,\) float32 must have the "
                                            r"input's shape \(2, 2\) float64"):
        F.l1_loss(x, y, weight=ag.ones(2))  # torch wants the input's shape, not a broadcast


def test_binary_cross_entropy_takes_torchs_arguments_in_torchs_order():
    p = ag.tensor([0.5, 0.25], dtype=ag.float64)
    y = ag.tensor([1.0, 0.0], dtype=ag.float64)
    per_element = [np.log(2), -np.log(0.75)]
    # (input, target, weight, size_average, reduce, reduction)
    out = F.binary_cross_entropy(p, y, [2.0, 1.0], None, None, "sum")
    assert out.item() == pytest.approx(2 * per_element[0] + per_element[1], rel=1e-15)
    with pytest.warns(UserWarning, match="binary_cross_entropy: .*reduction='sum'"):
        out = F.binary_cross_entropy(p, y, None, False)
    assert out.item() == pytest.approx(sum(per_element), rel=1e-15)
    with pytest.raises(TypeError, match="binary_cross_entropy: size_average must be True, False "
                                        "or None, got 'sum'"):
        F.binary_cross_entropy(p, y, None, "sum")  # our former order


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape, target_shape", [((7,), (7,)), ((4, 5), (4, 5)),
                                                 ((2, 3, 4), (2, 3, 4)), ((3, 1), (3, 1)),
                                                 ((0, 3), (0, 3))])
def test_weighted_regression_losses_match_torch(dtype, reduction, shape, target_shape):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(len(shape) + 40)
    x, y = rng.standard_normal(shape) * 2, rng.standard_normal(target_shape) * 2
    w = rng.random(shape) + 0.25
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    for ours, theirs, args in [
        (F.mse_loss, tf.mse_loss, (None, None, reduction)),
        (F.l1_loss, tf.l1_loss, (None, None, reduction)),
        (F.huber_loss, tf.huber_loss, (reduction, 0.7)),
    ]:
        leaves = [ag.tensor(a.astype(dtype), requires_grad=True) for a in (x, y, w)]
        tleaves = [torch.tensor(a.astype(dtype), requires_grad=True) for a in (x, y, w)]
        lo, lt = ours(*leaves[:2], *args, leaves[2]), theirs(*tleaves[:2], *args, tleaves[2])
        np.testing.assert_allclose(lo.detach().numpy(), lt.detach().numpy(), **tol)
        up = rng.standard_normal(lt.shape).astype(dtype)
        lo.backward(ag.tensor(up))
        lt.backward(torch.from_numpy(up))
        for a, t in zip(leaves, tleaves):  # input, target and weight: all composed, in torch too
            np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), **tol,
                                       err_msg=f"{theirs.__name__} {reduction}")


LOSSES = ["cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
          "mse_loss", "l1_loss", "huber_loss"]


@pytest.mark.parametrize("name", LOSSES)
def test_loss_signatures_are_torchs(name):
    """Names, order and defaults of every argument, so torch code passing them positionally or
    by keyword works unchanged."""
    torch = pytest.importorskip("torch")

    def params(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    assert params(getattr(F, name)) == params(getattr(torch.nn.functional, name))


def test_reduction_and_shape_errors():
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(ag.zeros(2), ag.zeros(2), reduction="avg")
    with pytest.raises(ag.ShapeError, match=r"l1_loss.*\(2,\).*\(3,\)"):
        F.l1_loss(ag.zeros(2), ag.zeros(3))
    with pytest.warns(UserWarning, match="broadcast"):  # as PyTorch: broadcast, with a warning
        assert F.huber_loss(ag.zeros(3, 1), ag.ones(3), reduction="none").shape == (3, 3)
    with pytest.raises(ag.ShapeError, match="binary_cross_entropy"):
        F.binary_cross_entropy(ag.zeros(3, 1), ag.zeros(3))


def test_penalties():
    a, b = _leaf([[1.0, -2.0]]), _leaf([3.0])
    assert F.l1_penalty([a, b]).item() == 6.0
    assert F.l2_penalty([a, b]).item() == 14.0
    assert ag.gradcheck(lambda u, v: F.l2_penalty([u, v]) + F.l1_penalty([u, v]), [a, b])
    model = ag.nn.Linear(2, 2)
    expected = sum(np.abs(np.asarray(p.data)).sum() for p in model.parameters())
    assert F.l1_penalty(model.parameters()).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="no parameters"):
        F.l2_penalty([])


def test_prelu_shape_errors_say_what_fits():
    # as torch: a 1-d input has no channel axis, so even 3 slopes for 3 elements do not fit
    with pytest.raises(ag.ShapeError, match=r"^prelu: weight of shape \(3,\) float32 does not fit "
                       r"input of shape \(3,\) float32: a 1-d input has no channel axis, so "
                       r"weight must have shape \(1,\)$"):
        F.prelu(ag.zeros(3), ag.zeros(3))
    with pytest.raises(ag.ShapeError, match=r"^prelu: weight of shape \(2,\) float64 does not fit "
                       r"input of shape \(4, 3\) float32: weight must have shape \(1,\) \(one "
                       r"shared slope\) or \(3,\) \(one per channel, the input's axis 1\)$"):
        F.prelu(ag.zeros(4, 3), ag.zeros(2, dtype=ag.float64))
    assert F.prelu(ag.tensor([-2.0, 3.0]), ag.tensor([0.5])).tolist() == [-1.0, 3.0]


def test_functional_layers_and_activations():
    x = _rand(2, 3)
    w, bias = _rand(4, 3, seed=1), _rand(4, seed=2)
    np.testing.assert_allclose(np.asarray(F.linear(ag.tensor(x), ag.tensor(w), ag.tensor(bias)).data),
                               x @ w.T + bias, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(F.softmax(ag.tensor(x), 1).data).sum(1), 1.0)
    np.testing.assert_allclose(np.asarray(F.prelu(ag.tensor(x), ag.tensor([0.5])).data),
                               np.where(x > 0, x, 0.5 * x))
    assert F.dropout(ag.tensor(x), 0.5, training=False).data is not None
    with pytest.raises(ValueError, match="probability"):
        F.dropout(ag.tensor(x), 1.5)
    assert F.max_pool2d(ag.zeros(1, 1, 4, 4), 2).shape == (1, 1, 2, 2)
    assert F.conv2d(ag.zeros(1, 2, 5, 5), ag.zeros(3, 2, 3, 3)).shape == (1, 3, 3, 3)


def test_fused_losses_are_reexported():
    from autograd.ops import activation, class_loss, loss

    for name in ("cross_entropy", "nll_loss"):
        assert getattr(F, name) is getattr(class_loss, name)
    for name in ("binary_cross_entropy", "binary_cross_entropy_with_logits", "mse_loss"):
        assert getattr(F, name) is getattr(loss, name)
    for name in ("leaky_relu", "elu", "softplus"):
        assert getattr(F, name) is getattr(activation, name)


def test_cross_entropy_through_a_model_matches_torch():
    """The seeds' loop: Linear, cross-entropy (labels, smoothing) and SGD, against torch."""
    torch = pytest.importorskip("torch")
    x, labels = _rand(16, 5, seed=3), np.random.default_rng(4).integers(0, 3, 16)
    model = ag.nn.Linear(5, 3, dtype=ag.float64)
    ref = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(np.asarray(model.weight.data)))
        ref.bias.copy_(torch.tensor(np.asarray(model.bias.data)))
    opt, topt = ag.optim.SGD(model.parameters(), lr=0.5), torch.optim.SGD(ref.parameters(), lr=0.5)
    for _ in range(5):
        loss = F.cross_entropy(model(ag.tensor(x)), ag.tensor(labels), label_smoothing=0.1)
        tloss = torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(labels),
                                                  label_smoothing=0.1)
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
        opt.zero_grad(), topt.zero_grad()
        loss.backward(), tloss.backward()
        opt.step(), topt.step()
    np.testing.assert_allclose(np.asarray(model.weight.data), ref.weight.detach().numpy(),
                               rtol=1e-11)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("shape, target_shape", [((3, 1), (3,)), ((1,), ()), ((2, 3), (1, 3))])
def test_regression_losses_warn_as_torch_when_the_target_broadcasts(name, shape, target_shape):
    """(N, 1) predictions against (N,) targets make an (N, N) loss: torch warns, and so do we,
    from the caller's line; the broadcast values are torch's."""
    import warnings

    x, y = _rand(*shape, seed=20), _rand(*target_shape, seed=21)
    with pytest.warns(UserWarning) as record:
        out = getattr(F, name)(ag.tensor(x), ag.tensor(y), reduction="none")
    assert [str(w.message) for w in record] == [
        f"{name}: using a target size {target_shape} that is different to the input size "
        f"{shape}. This will likely lead to incorrect results due to broadcasting. Please "
        f"ensure they have the same size."]
    assert record[0].filename == __file__
    assert out.shape == np.broadcast_shapes(shape, target_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same shape: silent
        getattr(F, name)(ag.tensor(x), ag.tensor(x))
        with pytest.raises(ag.ShapeError, match=rf"{name}: input \(2, 3\) float64 and target "
                                                r"\(2,\) float64 do not broadcast"):
            getattr(F, name)(ag.tensor(_rand(2, 3)), ag.tensor(_rand(2)))
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="Using a target size"):
        theirs = getattr(torch.nn.functional, name)(torch.tensor(x), torch.tensor(y),
                                                    reduction="none")
    np.testing.assert_allclose(out.numpy(), theirs.numpy(), rtol=1e-12)
