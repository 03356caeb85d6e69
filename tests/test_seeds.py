"""The lectures' worked examples, computed by the engine, with the lectures' numbers."""
import math

import numpy as np
import pytest

import autograd as ag


def test_seed001_332_sigmoid_network_forward_backward_and_update():
    """Seed 001: x = [.02, .04, .01], W1, W2, b1 = .4, b2 = .7, target [.9, .5], sigmoid, L = sum 1/2 (y - yhat)^2."""
    x = ag.tensor([0.02, 0.04, 0.01], dtype=ag.float64)
    w1 = ag.tensor([[0.25, 0.15, 0.30], [0.25, 0.20, 0.35], [0.10, 0.25, 0.15]], dtype=ag.float64,
                   requires_grad=True)
    w2 = ag.tensor([[0.40, 0.25], [0.35, 0.30], [0.01, 0.35]], dtype=ag.float64, requires_grad=True)
    b1 = ag.tensor([0.4, 0.4, 0.4], dtype=ag.float64)
    b2 = ag.tensor([0.7, 0.7], dtype=ag.float64)
    y = ag.tensor([0.9, 0.5], dtype=ag.float64)

    v = w1.T @ x + b1  # the slide's v = W1^T x + b1
    h = v.sigmoid()
    z = w2.T @ h + b2
    y_hat = z.sigmoid()
    loss = (0.5 * (y - y_hat) ** 2).sum()
    loss.backward()

    np.testing.assert_allclose(v.detach().numpy(), [0.4160, 0.4135, 0.4215], atol=5e-5)
    np.testing.assert_allclose(h.detach().numpy(), [0.6025, 0.6019, 0.6038], atol=5e-5)
    # The slide computes z from the rounded h (giving 1.242525); exact h gives 1.242554.
    np.testing.assert_allclose(z.detach().numpy(), [1.1577, 1.2425], atol=1e-4)
    np.testing.assert_allclose(y_hat.detach().numpy(), [0.7609, 0.7760], atol=5e-5)
    assert round(loss.item(), 4) == 0.0478
    # the slide's omega = w_{2,1}^{(2)}: row 2, column 1 of W2 (1-based)
    d_omega = w2.grad.numpy()[1, 0]
    assert round(float(d_omega), 4) == -0.0152
    # the chain-rule factors on the slide
    assert round(float(-(0.9 - y_hat.detach().numpy()[0])), 4) == -0.1391
    yh = y_hat.detach().numpy()[0]
    assert round(float(yh * (1 - yh)), 4) == 0.1819
    # the update with learning rate 1: 0.35 - (-0.0152) = 0.3652
    with ag.no_grad():
        w2 -= 1.0 * w2.grad
    assert round(float(w2.detach().numpy()[1, 0]), 4) == 0.3652


def test_seed001_the_same_network_with_pytorch_layout_matrices():
    """The same numbers through x @ W (row vectors), as nn.Linear computes them."""
    x = ag.tensor([[0.02, 0.04, 0.01]], dtype=ag.float64)
    w1 = ag.tensor([[0.25, 0.15, 0.30], [0.25, 0.20, 0.35], [0.10, 0.25, 0.15]], dtype=ag.float64)
    w2 = ag.tensor([[0.40, 0.25], [0.35, 0.30], [0.01, 0.35]], dtype=ag.float64, requires_grad=True)
    h = (x @ w1 + 0.4).sigmoid()
    y_hat = (h @ w2 + 0.7).sigmoid()
    loss = (0.5 * (ag.tensor([[0.9, 0.5]], dtype=ag.float64) - y_hat) ** 2).sum()
    loss.backward()
    assert round(float(w2.grad.numpy()[1, 0]), 4) == -0.0152


def test_seed000_line_mse_rmse_gradients_and_one_step():
    """Seed 000: data (1, 3), (2, 5); start m = -1, b = 5; MSE 2.5, RMSE 1.6 (1.58).

    The slide's derivative formulas are right (dMSE/dm = 5m + 3b - 13, dMSE/db = 3m + 2b - 8) but
    its values (-7, and -1 or -3) are misprints: at m = -1, b = 5 they are -3 and -1. So the step
    with learning rate 0.1 goes to m = -0.7, b = 5.1 (the slide's -0.3, 4.7 follow the misprints).
    """
    xs = ag.tensor([1.0, 2.0], dtype=ag.float64)
    ys = ag.tensor([3.0, 5.0], dtype=ag.float64)
    m = ag.tensor(-1.0, dtype=ag.float64, requires_grad=True)
    b = ag.tensor(5.0, dtype=ag.float64, requires_grad=True)
    y_hat = m * xs + b
    np.testing.assert_array_equal(y_hat.detach().numpy(), [4.0, 3.0])
    np.testing.assert_array_equal(((ys - y_hat) ** 2).detach().numpy(), [1.0, 4.0])
    mse = ((ys - y_hat) ** 2).mean()
    rmse = mse.sqrt()
    assert mse.item() == 2.5
    assert rmse.item() == pytest.approx(math.sqrt(2.5)) and round(rmse.item(), 1) == 1.6
    mse.backward()
    assert m.grad.item() == 5 * -1 + 3 * 5 - 13 == -3.0
    assert b.grad.item() == 3 * -1 + 2 * 5 - 8 == -1.0
    with ag.no_grad():
        m -= 0.1 * m.grad
        b -= 0.1 * b.grad
    assert m.item() == pytest.approx(-0.7) and b.item() == pytest.approx(5.1)
    # the step lowers the loss
    assert (((ys - (m * xs + b)) ** 2).mean()).item() < 2.5


def test_seed000_gradient_descent_finds_the_line():
    """Repeating the slide's update converges to y = 2x + 1, the line through both points."""
    xs = ag.tensor([1.0, 2.0], dtype=ag.float64)
    ys = ag.tensor([3.0, 5.0], dtype=ag.float64)
    m = ag.tensor(-1.0, dtype=ag.float64, requires_grad=True)
    b = ag.tensor(5.0, dtype=ag.float64, requires_grad=True)
    for _ in range(2000):
        loss = ((ys - (m * xs + b)) ** 2).mean()
        m.grad = b.grad = None
        loss.backward()
        with ag.no_grad():
            m -= 0.1 * m.grad
            b -= 0.1 * b.grad
    assert m.item() == pytest.approx(2.0, abs=1e-6) and b.item() == pytest.approx(1.0, abs=1e-6)


def test_seed003_xor_relu_table():
    """Seed 003: hidden ReLU units without bias; h1 = relu(x1 - x2), h2 = relu(x2 - x1), y = (h1 + h2) / 2."""
    x = ag.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=ag.float64)
    w = ag.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=ag.float64)
    h = (x @ w.T).relu()
    y = h @ ag.tensor([0.5, 0.5], dtype=ag.float64)
    np.testing.assert_array_equal(h.numpy(), [[0, 0], [0, 1], [1, 0], [0, 0]])
    np.testing.assert_array_equal(y.numpy(), [0, 0.5, 0.5, 0])


def test_seed002_linear_neuron_gradient_formulas():
    """Seed 002: z = w x + b, L = 1/2 (z - Y)^2 gives dL/dw = (z - Y) x and dL/db = z - Y."""
    w = ag.tensor(1.0, dtype=ag.float64, requires_grad=True)
    b = ag.tensor(1.0, dtype=ag.float64, requires_grad=True)
    for x_value, target in [(1.0, 4.0), (2.0, 5.0), (3.0, 6.0)]:
        w.grad = b.grad = None
        z = w * x_value + b
        (0.5 * (z - target) ** 2).backward()
        assert w.grad.item() == (z.item() - target) * x_value
        assert b.grad.item() == z.item() - target


def test_seed001_sigmoid_cross_entropy_gradient_is_prediction_minus_target():
    """Seed 001: with sigmoid and binary cross-entropy, dL/dz = sigma(z) - y (sigma' cancels)."""
    z = ag.tensor([-2.0, 0.3, 4.0], dtype=ag.float64, requires_grad=True)
    y = ag.tensor([0.0, 1.0, 1.0], dtype=ag.float64)
    p = z.sigmoid()
    loss = -(y * p.log() + (1 - y) * (1 - p).log()).sum()
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy(), p.detach().numpy() - y.numpy(), rtol=1e-12)
