"""nn loss modules: each equals its functional form (the same value and gradients, bit for bit,
over hypothesis-drawn shapes) and torch's module (float64, where torch is installed), for every
reduction and argument; weight and pos_weight are buffers; signatures are torch's."""
import inspect
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd as ag
import autograd.nn.functional as F
from autograd import nn

from autograd.testing.strategies import shapes

REDUCTIONS = ["mean", "sum", "none"]
MODULES = ["MSELoss", "L1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss",
           "NLLLoss"]


def _rng(seed):
    return np.random.default_rng(seed)


def _class_inputs(shape, seed, log_probs=False):
    """Scores of `shape` (C,), (N, C) or (N, C, d...) and class indices of the matching shape."""
    rng = _rng(seed)
    x = rng.standard_normal(shape)
    if log_probs:
        axis = 0 if len(shape) == 1 else 1
        x = x - np.log(np.exp(x).sum(axis=axis, keepdims=True))
    c = shape[0] if len(shape) == 1 else shape[1]
    batch = () if len(shape) == 1 else shape[:1] + shape[2:]
    return x, rng.integers(0, c, batch)


# name: (module kwargs, functional, functional kwargs, inputs(shape, seed) -> (input, target))
def _regression(shape, seed):
    rng = _rng(seed)
    return rng.standard_normal(shape) * 2, rng.standard_normal(shape)


def _probabilities(shape, seed):
    rng = _rng(seed)
    return 1 / (1 + np.exp(-rng.standard_normal(shape))), rng.random(shape)


def _logits(shape, seed):
    rng = _rng(seed)
    return rng.standard_normal(shape) * 3, (rng.random(shape) > 0.5).astype(np.float64)


CASES = {
    "MSELoss": ({}, F.mse_loss, {}, _regression),
    "L1Loss": ({}, F.l1_loss, {}, _regression),
    "HuberLoss": ({"delta": 0.7}, F.huber_loss, {"delta": 0.7}, _regression),
    "BCELoss": ({}, F.binary_cross_entropy, {}, _probabilities),
    "BCEWithLogitsLoss": ({}, F.binary_cross_entropy_with_logits, {}, _logits),
    "CrossEntropyLoss": ({"ignore_index": 1, "label_smoothing": 0.2}, F.cross_entropy,
                         {"ignore_index": 1, "label_smoothing": 0.2}, _class_inputs),
    "NLLLoss": ({"ignore_index": 0}, F.nll_loss, {"ignore_index": 0},
                lambda shape, seed: _class_inputs(shape, seed, log_probs=True)),
}
CLASS_LOSSES = {"CrossEntropyLoss", "NLLLoss"}


def _grads(out, leaves, seed):
    """Backward of `out` with a random upstream gradient; the leaves' gradients."""
    up = _rng(seed).standard_normal(out.shape)
    out.backward(ag.tensor(up))
    return [leaf.grad.numpy() if leaf.grad is not None else None for leaf in leaves]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", MODULES)
@given(shape=shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=st.integers(0, 2**16))
def test_module_equals_its_functional_form(name, reduction, shape, seed):
    module_kwargs, functional, functional_kwargs, inputs = CASES[name]
    if name in CLASS_LOSSES and len(shape) > 1 and shape[1] < 2:
        shape = shape[:1] + (2,) + shape[2:]  # at least two classes
    x, y = inputs(shape, seed)
    results = []
    for call in (lambda a, b: getattr(nn, name)(reduction=reduction, **module_kwargs)(a, b),
                 lambda a, b: functional(a, b, reduction=reduction, **functional_kwargs)):
        a = ag.tensor(x, requires_grad=True)
        b = ag.tensor(y, requires_grad=y.dtype.kind == "f")
        out = call(a, b)
        results.append((out.detach().numpy(), _grads(out, [a, b], seed)))
    (out_m, grads_m), (out_f, grads_f) = results
    np.testing.assert_array_equal(out_m, out_f)
    for gm, gf in zip(grads_m, grads_f):
        if gf is None:
            assert gm is None
        else:
            np.testing.assert_array_equal(gm, gf)


def _weight(name, shape, seed):
    """The module's weight arguments for input `shape`: per class for the class losses, per
    element for BCELoss, per element and per last-axis class (pos_weight) for logits."""
    rng = _rng(seed)
    if name in CLASS_LOSSES:
        c = shape[0] if len(shape) == 1 else shape[1]
        return {"weight": rng.random(c) + 0.25}
    if name == "BCELoss":
        return {"weight": rng.random(shape) + 0.25}
    if name == "BCEWithLogitsLoss":
        return {"weight": rng.random(shape) + 0.25, "pos_weight": rng.random(shape[-1:]) + 0.5}
    return {}


TORCH_CASES = [  # name, module kwargs (weights added by _weight when `weighted`), input shape
    ("MSELoss", {}, (4, 3)), ("L1Loss", {}, (2, 3, 2)), ("HuberLoss", {"delta": 0.5}, (5,)),
    ("HuberLoss", {}, (3, 4)), ("BCELoss", {}, (4, 3)), ("BCEWithLogitsLoss", {}, (4, 3)),
    ("CrossEntropyLoss", {}, (5, 4)), ("CrossEntropyLoss", {"ignore_index": 2}, (6, 3)),
    ("CrossEntropyLoss", {"label_smoothing": 0.3}, (5, 4)),
    ("CrossEntropyLoss", {"label_smoothing": 0.1, "ignore_index": 0}, (2, 3, 4)),
    ("CrossEntropyLoss", {}, (4,)), ("NLLLoss", {}, (5, 4)), ("NLLLoss", {"ignore_index": 1},
                                                            (3, 3, 2)),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, kwargs, shape", TORCH_CASES)
def test_module_equals_torchs(name, kwargs, shape, reduction, weighted):
    torch = pytest.importorskip("torch")
    inputs = CASES[name][3]
    x, y = inputs(shape, 7)
    weights = _weight(name, shape, 8) if weighted else {}
    ours = getattr(nn, name)(reduction=reduction, **kwargs,
                             **{k: ag.tensor(v) for k, v in weights.items()})
    theirs = getattr(torch.nn, name)(reduction=reduction, **kwargs,
                                     **{k: torch.tensor(v) for k, v in weights.items()})
    a, b = ag.tensor(x, requires_grad=True), ag.tensor(y, requires_grad=y.dtype.kind == "f")
    ta = torch.tensor(x, requires_grad=True)
    tb = torch.tensor(y, requires_grad=y.dtype.kind == "f")
    out, tout = ours(a, b), theirs(ta, tb)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-15)
    up = _rng(9).standard_normal(tout.shape)
    out.backward(ag.tensor(up))
    tout.backward(torch.tensor(up))
    for leaf, tleaf in ((a, ta), (b, tb)):
        if tleaf.requires_grad:
            np.testing.assert_allclose(leaf.grad.numpy(), tleaf.grad.numpy(), rtol=1e-11,
                                       atol=1e-14, err_msg=f"{name} {kwargs} {reduction}")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for attr in ("reduction", "ignore_index", "label_smoothing", "delta"):
        assert getattr(ours, attr, None) == getattr(theirs, attr, None), attr
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name, buffers", [
    ("BCELoss", ["weight"]), ("BCEWithLogitsLoss", ["weight", "pos_weight"]),
    ("CrossEntropyLoss", ["weight"]), ("NLLLoss", ["weight"])])
def test_weights_are_buffers_in_the_state_dict(name, buffers):
    values = {k: ag.tensor(np.arange(1.0, 4.0) * (i + 1)) for i, k in enumerate(buffers)}
    m = getattr(nn, name)(**values)
    assert [n for n, _ in m.named_buffers()] == buffers and list(m.parameters()) == []
    assert all(getattr(m, k) is v for k, v in values.items())
    state = m.state_dict()
    assert list(state) == buffers
    for k in buffers:
        np.testing.assert_array_equal(state[k], values[k].numpy())
    twin = getattr(nn, name)(**{k: ag.zeros(3) for k in buffers})
    twin.load_state_dict(state)
    for k in buffers:
        np.testing.assert_array_equal(getattr(twin, k).numpy(), values[k].numpy())
    assert all(getattr(m.double(), k).dtype == np.float64 for k in buffers)  # Module.to casts them
    empty = getattr(nn, name)()  # no weight: registered as None, so neither listed nor saved
    assert list(empty.state_dict()) == [] and all(getattr(empty, k) is None for k in buffers)
    with pytest.raises(TypeError, match=rf"^{name}: cannot assign 'list' as buffer '{buffers[0]}' "
                                        r"\(Tensor or None expected\)$"):
        getattr(nn, name)(**{buffers[0]: [1.0, 2.0, 3.0]})  # as torch: a Tensor or None


def test_weights_inside_a_model_follow_it():
    model = nn.Sequential(nn.Linear(3, 2))
    model.loss = nn.CrossEntropyLoss(weight=ag.tensor([1.0, 2.0]))
    assert list(model.state_dict()) == ["0.weight", "0.bias", "loss.weight"]
    model.double()
    assert model.loss.weight.dtype == np.float64


@pytest.mark.parametrize("name", MODULES)
def test_signatures_are_torchs(name):
    """Argument names, order and defaults, so torch code constructing them works unchanged."""
    torch = pytest.importorskip("torch")

    def params(fn):
        return [(p.name, p.default, p.kind) for p in inspect.signature(fn).parameters.values()]

    ours, theirs = getattr(nn, name), getattr(torch.nn, name)
    assert params(ours) == params(theirs)
    assert params(ours.forward) == params(theirs.forward)
    assert name in nn.__all__


@pytest.mark.parametrize("name, args, reduction", [
    ("MSELoss", (False,), "sum"), ("L1Loss", (None, False), "none"),
    ("BCELoss", (None, True, True), "mean"), ("BCEWithLogitsLoss", (None, False, True), "sum"),
    ("CrossEntropyLoss", (None, False), "sum"), ("NLLLoss", (None, None, -100, False), "none")])
def test_deprecated_size_average_and_reduce_warn_from_the_callers_line(name, args, reduction):
    with pytest.warns(UserWarning, match=rf"^{name}: size_average and reduce are deprecated "
                                         rf"\(as in PyTorch\); use reduction='{reduction}'") as rec:
        m = getattr(nn, name)(*args)
    assert m.reduction == reduction and rec[0].filename == __file__
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert getattr(torch.nn, name)(*args).reduction == reduction


def test_constructor_errors_name_the_module():
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of none, mean, sum, "
                                         "got 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(TypeError, match="HuberLoss: delta must be a float or int, got str '1'"):
        nn.HuberLoss(delta="1")
    with pytest.raises(TypeError, match="CrossEntropyLoss: size_average must be True, False or "
                                        "None, got 'sum'"):
        nn.CrossEntropyLoss(None, "sum")  # a reduction in size_average's place
    with pytest.raises(ValueError, match="huber_loss: delta must be positive, got -1.0"):
        nn.HuberLoss(delta=-1.0)(ag.zeros(2), ag.ones(2))  # as torch: at the call


def test_arguments_changed_after_construction_are_used():
    """A module keeps arguments, not a bound function: changing one changes the next call."""
    x, y = ag.tensor([[2.0, 0.0]]), ag.tensor([1])
    m = nn.CrossEntropyLoss(reduction="none")
    before = m(x, y).numpy()
    m.label_smoothing = 0.5
    assert not np.array_equal(m(x, y).numpy(), before)
    m.reduction = "sum"
    assert m(x, y).shape == ()
