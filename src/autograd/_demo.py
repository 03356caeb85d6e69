"""`python -m autograd demo`: the lectures' worked examples, computed and explained by the engine."""
from __future__ import annotations

import time

import autograd as ag


def line_fit() -> None:
    """Seed 000: fit y = m x + b to (1, 3), (2, 5), starting from m = -1, b = 5."""
    print("1. y = m x + b through (1, 3) and (2, 5), starting at m = -1, b = 5")
    xs = ag.tensor([1.0, 2.0], dtype=ag.float64)
    ys = ag.tensor([3.0, 5.0], dtype=ag.float64)
    m = ag.tensor(-1.0, dtype=ag.float64, requires_grad=True)
    b = ag.tensor(5.0, dtype=ag.float64, requires_grad=True)
    mse = ((ys - (m * xs + b)) ** 2).mean()
    mse.backward()
    print(f"   start:  MSE = {mse.item():.2f}, RMSE = {mse.sqrt().item():.2f}, "
          f"dMSE/dm = {m.grad.item():.0f}, dMSE/db = {b.grad.item():.0f}")
    for step in range(1, 1001):
        with ag.no_grad():
            m -= 0.1 * m.grad
            b -= 0.1 * b.grad
        if step == 1:
            print(f"   one step (lr 0.1): m = {m.item():.2f}, b = {b.item():.2f}")
        m.grad = b.grad = None
        mse = ((ys - (m * xs + b)) ** 2).mean()
        mse.backward()
    print(f"   learned after 1000 steps: m = {m.item():.4f}, b = {b.item():.4f}, MSE = {mse.item():.2e}")


def three_three_two() -> None:
    """Seed 001: one forward and backward pass of the 3-3-2 sigmoid network, one update."""
    print("2. The 3-3-2 sigmoid network (x = [.02, .04, .01], target [.9, .5])")
    x = ag.tensor([0.02, 0.04, 0.01], dtype=ag.float64)
    w1 = ag.tensor([[0.25, 0.15, 0.30], [0.25, 0.20, 0.35], [0.10, 0.25, 0.15]], dtype=ag.float64)
    w2 = ag.tensor([[0.40, 0.25], [0.35, 0.30], [0.01, 0.35]], dtype=ag.float64, requires_grad=True)
    h = (w1.T @ x + 0.4).sigmoid()
    y_hat = (w2.T @ h + 0.7).sigmoid()
    loss = (0.5 * (ag.tensor([0.9, 0.5], dtype=ag.float64) - y_hat) ** 2).sum()
    loss.backward()
    fmt = lambda t: "[" + ", ".join(f"{v:.4f}" for v in t.detach().numpy()) + "]"  # noqa: E731
    print(f"   h = {fmt(h)}, y_hat = {fmt(y_hat)}, L = {loss.item():.4f}")
    d = w2.grad.numpy()[1, 0]
    print(f"   dL/dw21 = {d:.4f}; w21 <- 0.35 - 1 * ({d:.4f}) = {0.35 - d:.4f}")


def xor() -> None:
    """Seed 003: XOR needs a hidden layer; two ReLU units and gradient descent find one."""
    print("3. XOR with a ReLU hidden layer, trained from random weights")
    ag.manual_seed(0)
    x = ag.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=ag.float32)
    y = ag.tensor([[0], [1], [1], [0]], dtype=ag.float32)
    w1 = (ag.randn(2, 8) * 0.8).requires_grad_()
    b1 = ag.zeros(8, requires_grad=True)
    w2 = (ag.randn(8, 1) * 0.5).requires_grad_()
    b2 = ag.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]
    for _ in range(500):
        logits = (x @ w1 + b1).relu() @ w2 + b2
        p = logits.sigmoid()
        loss = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
        for t in params:
            t.grad = None
        loss.backward()
        with ag.no_grad():
            for t in params:
                t -= 0.5 * t.grad
    preds = ", ".join(f"{a:.0f}{b:.0f}->{v:.3f}" for (a, b), v in zip(x.numpy(), p.detach().numpy()[:, 0]))
    print(f"   loss {loss.item():.4f}; predictions {preds}")


def main() -> int:
    start = time.perf_counter()
    print(f"autograd {ag.__version__} demo (backend: {ag.backend.name()})\n")
    for part in (line_fit, three_three_two, xor):
        part()
        print()
    print(f"done in {time.perf_counter() - start:.2f} s")
    return 0
