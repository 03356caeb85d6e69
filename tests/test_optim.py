"""Optimizers: hand-computed steps always; step-for-step agreement with torch.optim when
importable; param groups, state dicts, in-place updates without graphs."""
import math

import numpy as np
import pytest

import autograd as ag
from autograd import optim

SHAPES = [(3, 4), (4,), (2, 3)]


def _initial(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


def _grad(w: np.ndarray, t: int, k: int) -> np.ndarray:
    """A gradient that depends on the weights (feedback, as in training) and on the step."""
    rng = np.random.default_rng(1000 * t + k)
    return np.tanh(w) + 0.5 * rng.standard_normal(w.shape)


def _run_ours(cls, kwargs, groups, steps):
    params = [ag.tensor(w, requires_grad=True) for w in _initial()]
    opt = cls(_grouped(params, groups), **kwargs)
    history = []
    for t in range(steps):
        for k, p in enumerate(params):
            p.grad = ag.tensor(_grad(p.detach().numpy(), t, k))
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history


def _grouped(params, groups):
    if groups is None:
        return params
    # first group: the first two parameters with the group's own settings; second: the rest
    return [dict(params=params[:2], **groups), dict(params=params[2:])]


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.02, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, eps=1e-4)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.05)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.5, eps=1e-4, weight_decay=0.1)),
]
GROUPS = [None, {"lr": 0.003, "weight_decay": 0.2}]


@pytest.mark.parametrize("groups", GROUPS, ids=["one-group", "two-groups"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_torch_step_for_step(name, kwargs, groups):
    torch = pytest.importorskip("torch")
    steps = 30
    ours = _run_ours(getattr(optim, name), kwargs, groups, steps)
    params = [torch.tensor(w, requires_grad=True) for w in _initial()]
    opt = getattr(torch.optim, name)(_grouped(params, groups), **kwargs)
    for t in range(steps):
        for k, p in enumerate(params):
            p.grad = torch.tensor(_grad(p.detach().numpy(), t, k))
        opt.step()
        for mine, theirs in zip(ours[t], params):
            # torch fuses a*x + y into one FMA where we round twice: differences are ulps
            np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-12, atol=1e-14,
                                       err_msg=f"{name} {kwargs} step {t}")


@pytest.mark.parametrize("name,kwargs", CASES[::3], ids=[n for n, _ in CASES[::3]])
def test_state_dict_round_trip_through_a_file(name, kwargs, tmp_path):
    cls = getattr(optim, name)
    straight = _run_ours(cls, kwargs, None, 12)[-1]
    params = [ag.tensor(w, requires_grad=True) for w in _initial()]
    opt = cls(params, **kwargs)
    for t in range(12):
        if t == 5:  # stop, save, rebuild the optimizer from the file, go on
            ag.save(opt.state_dict(), tmp_path / "opt.ag")
            opt = cls(params, **{**kwargs, "lr": 123.0})  # lr comes back from the file
            opt.load_state_dict(ag.load(tmp_path / "opt.ag"))
        for k, p in enumerate(params):
            p.grad = ag.tensor(_grad(p.detach().numpy(), t, k))
        opt.step()
    for a, p in zip(straight, params):
        np.testing.assert_array_equal(a, p.detach().numpy())


# ---- hand-computed single steps -----------------------------------------------------------------
def _one(cls, grads, w0=1.0, **kwargs):
    w = ag.tensor([w0], dtype=ag.float64, requires_grad=True)
    opt = cls([w], **kwargs)
    for g in grads:
        w.grad = ag.tensor([g], dtype=ag.float64)
        opt.step()
    return w.detach().numpy()[0]


def test_sgd_by_hand():
    assert _one(optim.SGD, [2.0], lr=0.1) == pytest.approx(0.8, abs=1e-15)
    # momentum: v1 = g, v2 = 0.9 v1 + g -> w = 1 - 0.1 * 2 - 0.1 * 3.8
    assert _one(optim.SGD, [2.0, 2.0], lr=0.1, momentum=0.9) == pytest.approx(0.42, abs=1e-15)
    # dampening 0.5: v2 = 0.9 * 2 + 0.5 * 2 = 2.8
    assert _one(optim.SGD, [2.0, 2.0], lr=0.1, momentum=0.9, dampening=0.5) == pytest.approx(
        1 - 0.2 - 0.28, abs=1e-15)
    # nesterov: step uses g + 0.9 v = 2 + 1.8
    assert _one(optim.SGD, [2.0], lr=0.1, momentum=0.9, nesterov=True) == pytest.approx(
        1 - 0.38, abs=1e-15)
    # weight decay adds wd * w to the gradient
    assert _one(optim.SGD, [2.0], lr=0.1, weight_decay=0.5) == pytest.approx(1 - 0.25, abs=1e-15)


def test_adam_and_adamw_by_hand():
    # step 1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps)
    expected = 1 - 0.1 * 2 / (2 + 1e-8)
    assert _one(optim.Adam, [2.0], lr=0.1) == pytest.approx(expected, abs=1e-15)
    assert _one(optim.AdamW, [2.0], lr=0.1, weight_decay=0.5) == pytest.approx(
        1 * (1 - 0.05) - 0.1 * 2 / (2 + 1e-8), abs=1e-15)
    # step 2 with g = 2 then 0: m = 0.9*0.2 = 0.18, v = 0.999*0.004 = 0.003996
    m_hat, v_hat = 0.18 / (1 - 0.81), 0.003996 / (1 - 0.998001)
    w2 = expected - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8)
    assert _one(optim.Adam, [2.0, 0.0], lr=0.1) == pytest.approx(w2, abs=1e-12)


def test_rmsprop_adagrad_adadelta_by_hand():
    # RMSprop: s = 0.01 g^2 -> step lr * g / (0.1 |g| + eps)
    assert _one(optim.RMSprop, [2.0], lr=0.01) == pytest.approx(1 - 0.01 * 2 / (0.2 + 1e-8),
                                                                abs=1e-15)
    # Adagrad: s = g^2 -> lr * g / (|g| + eps); with lr_decay the 2nd step's lr is lr / (1 + d)
    first = 1 - 0.1 * 2 / (2 + 1e-10)
    assert _one(optim.Adagrad, [2.0], lr=0.1) == pytest.approx(first, abs=1e-15)
    w = _one(optim.Adagrad, [2.0, 2.0], lr=0.1, lr_decay=0.5)
    assert w == pytest.approx(first - (0.1 / 1.5) * 2 / (math.sqrt(8) + 1e-10), abs=1e-15)
    # Adadelta: s = 0.1 g^2; delta = sqrt(0 + eps) / sqrt(s + eps) * g
    delta = math.sqrt(1e-6) / math.sqrt(0.4 + 1e-6) * 2
    assert _one(optim.Adadelta, [2.0]) == pytest.approx(1 - delta, abs=1e-15)


def test_adam_amsgrad_by_hand():
    # g = 2 then 0: v falls from 0.004 to 0.003996, but AMSGrad keeps the largest v, 0.004
    # (the two rules differ by 3e-5 at this step)
    first = 1 - 0.1 * 2 / (2 + 1e-8)
    m_hat, bc2 = 0.18 / (1 - 0.81), 1 - 0.999 ** 2
    amsgrad = first - 0.1 * m_hat / (math.sqrt(0.004) / math.sqrt(bc2) + 1e-8)
    plain = first - 0.1 * m_hat / (math.sqrt(0.003996) / math.sqrt(bc2) + 1e-8)
    assert _one(optim.Adam, [2.0, 0.0], lr=0.1, amsgrad=True) == pytest.approx(amsgrad, abs=1e-12)
    assert _one(optim.Adam, [2.0, 0.0], lr=0.1) == pytest.approx(plain, abs=1e-12)


def test_rmsprop_centered_and_momentum_by_hand():
    # centered: s = 0.01 g^2 = 0.04, mean g = 0.01 g = 0.02 -> denominator sqrt(0.04 - 0.0004)
    assert _one(optim.RMSprop, [2.0], lr=0.01, centered=True) == pytest.approx(
        1 - 0.01 * 2 / (math.sqrt(0.0396) + 1e-8), abs=1e-15)
    # momentum 0.9, g = 2 twice: b1 = g / d1, b2 = 0.9 b1 + g / d2 with s2 = 0.99 * 0.04 + 0.04
    d1, d2 = 0.2 + 1e-8, math.sqrt(0.0796) + 1e-8
    b1 = 2 / d1
    b2 = 0.9 * b1 + 2 / d2
    assert _one(optim.RMSprop, [2.0], lr=0.01, momentum=0.9) == pytest.approx(
        1 - 0.01 * b1, abs=1e-15)
    assert _one(optim.RMSprop, [2.0, 2.0], lr=0.01, momentum=0.9) == pytest.approx(
        1 - 0.01 * b1 - 0.01 * b2, abs=1e-14)
    # both: the centered denominators, sqrt(0.0396) then sqrt(0.0796 - 0.0398^2)
    c1, c2 = math.sqrt(0.0396) + 1e-8, math.sqrt(0.0796 - 0.0398 ** 2) + 1e-8
    assert _one(optim.RMSprop, [2.0, 2.0], lr=0.01, momentum=0.9, centered=True) == pytest.approx(
        1 - 0.01 * (2 / c1) - 0.01 * (0.9 * 2 / c1 + 2 / c2), abs=1e-14)


# ---- behaviour -----------------------------------------------------------------------------------
def test_updates_in_place_without_a_graph():
    model = ag.nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    arrays = [p.data for p in model.parameters()]
    model(ag.randn(5, 3)).sum().backward()
    opt.step()
    for p, a in zip(model.parameters(), arrays):
        assert p.data is a and p.is_leaf and p.requires_grad and p.grad_fn is None


def test_zero_grad_and_closure():
    w = ag.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 5.0
    np.testing.assert_allclose(w.detach().numpy(), [0.0, 0.0])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert w.grad is None


def test_zero_grad_without_set_to_none_zeroes_in_place():
    w, s = ag.tensor([1.0, -2.0], requires_grad=True), ag.tensor(3.0, requires_grad=True)
    opt = optim.SGD([w, s], lr=0.5)
    (w * w * s).sum().backward()
    grad, array = w.grad, w.grad.data
    np.testing.assert_array_equal(array, [6.0, -12.0])
    opt.zero_grad(set_to_none=False)
    assert w.grad is grad and w.grad.data is array  # the same tensor and memory, now zero
    np.testing.assert_array_equal(array, [0.0, 0.0])
    assert s.grad.item() == 0.0 and s.grad.shape == ()


def test_parameters_without_gradient_are_skipped_and_groups_keep_settings():
    a, b = ag.tensor([1.0], requires_grad=True), ag.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b]}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [1.0, 0.1]
    a.grad = ag.tensor([1.0])
    opt.step()
    assert a.item() == 0.0 and b.item() == 1.0


@pytest.mark.parametrize("backend", ag.backend.available())
def test_plain_sgd_updates_every_parameter_with_a_gradient_in_one_step(backend):
    """The plain step: each parameter p - lr * g with the product rounded in float32 first, a
    0-d parameter included; one without a gradient is left alone, and each updated parameter's
    version moves (a graph that saved it sees the change)."""
    rng = np.random.default_rng(3)
    values = [rng.standard_normal(s).astype(np.float32) for s in [(5, 3), (3,), (), (4,)]]
    params = [ag.tensor(v, requires_grad=True) for v in values]
    grads = [rng.standard_normal(v.shape).astype(np.float32) for v in values]
    for p, g in zip(params[:3], grads):
        p.grad = ag.tensor(g)
    versions = [p._version for p in params]
    with ag.backend.use(backend):
        optim.SGD(params, lr=0.3).step()
    for p, v, g in zip(params[:3], values, grads):
        expected = v + g * np.float32(-0.3)
        np.testing.assert_array_equal(p.detach().numpy(), expected)
        assert p.dtype == np.float32
    np.testing.assert_array_equal(params[3].detach().numpy(), values[3])
    assert [p._version > v for p, v in zip(params, versions)] == [True, True, True, False]


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-1), "learning rate"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "beta"),
    (lambda p: optim.SGD([], lr=0.1), "empty"),
    (lambda p: optim.SGD(p + p, lr=0.1), None),
])
def test_invalid_settings(make, message):
    p = [ag.tensor([1.0], requires_grad=True)]
    with pytest.raises(ValueError, match=message):
        make(p)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("AdamW", dict(lr=0.01)),
                                         ("RMSprop", dict(lr=0.01, centered=True)),
                                         ("Adagrad", dict(lr=0.1)), ("Adadelta", dict())])
def test_training_a_small_model_matches_torch(name, kwargs):
    """Gradients from each library's own backward, 25 steps: Linear-Tanh-Linear, MSE."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))
    ag.manual_seed(0)
    ours = ag.nn.Sequential(ag.nn.Linear(4, 8, dtype=ag.float64), ag.nn.Tanh(),
                            ag.nn.Linear(8, 2, dtype=ag.float64))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    theirs = theirs.double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    opt = getattr(optim, name)(ours.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    for _ in range(25):
        opt.zero_grad(), topt.zero_grad()
        loss = ag.nn.functional.mse_loss(ours(ag.tensor(x)), ag.tensor(y))
        tloss = torch.nn.functional.mse_loss(theirs(torch.tensor(x)), torch.tensor(y))
        loss.backward(), tloss.backward()
        opt.step(), topt.step()
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-10)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-10, atol=1e-13)


def test_add_param_group_after_construction():
    a, b = ag.tensor([1.0], requires_grad=True), ag.tensor([1.0], requires_grad=True)
    for cls in (optim.Adagrad, optim.Adam, optim.SGD):
        a.data[...], b.data[...] = 1.0, 1.0
        opt = cls([a], lr=0.1)
        opt.add_param_group({"params": [b], "lr": 0.5})
        a.grad, b.grad = ag.tensor([1.0]), ag.tensor([1.0])
        opt.step()
        assert a.item() == pytest.approx(0.9, abs=1e-6) and b.item() == pytest.approx(0.5, abs=1e-6)
