"""Seed 000: fit y = m x + b through (1, 3) and (2, 5) by gradient descent, from m = -1, b = 5."""
from __future__ import annotations

import autograd as ag

from ._report import reporter

TITLE = "y = m x + b through (1, 3) and (2, 5), starting at m = -1, b = 5 (seed 000)"


def run(verbose: bool = True, steps: int = 1000, lr: float = 0.1) -> dict:
    say = reporter(verbose)
    xs = ag.tensor([1.0, 2.0], dtype=ag.float64)
    ys = ag.tensor([3.0, 5.0], dtype=ag.float64)
    m = ag.tensor(-1.0, dtype=ag.float64, requires_grad=True)
    b = ag.tensor(5.0, dtype=ag.float64, requires_grad=True)
    mse = ((ys - (m * xs + b)) ** 2).mean()
    mse.backward()
    result = {"mse0": mse.item(), "rmse0": mse.sqrt().item(), "dm0": m.grad.item(), "db0": b.grad.item()}
    say(f"start:  MSE = {result['mse0']:.2f}, RMSE = {result['rmse0']:.2f}, "
        f"dMSE/dm = {result['dm0']:.0f}, dMSE/db = {result['db0']:.0f}")
    for step in range(1, steps + 1):
        with ag.no_grad():
            m -= lr * m.grad
            b -= lr * b.grad
        if step == 1:
            result.update(m1=m.item(), b1=b.item())
            say(f"one step (lr {lr}): m = {m.item():.2f}, b = {b.item():.2f}")
        m.grad = b.grad = None
        mse = ((ys - (m * xs + b)) ** 2).mean()
        mse.backward()
    result.update(m=m.item(), b=b.item(), mse=mse.item(), rmse=mse.sqrt().item())
    say(f"learned after {steps} steps: m = {m.item():.4f}, b = {b.item():.4f}, "
        f"MSE = {mse.item():.2e}, RMSE = {result['rmse']:.2e}")
    return result


if __name__ == "__main__":
    run()
