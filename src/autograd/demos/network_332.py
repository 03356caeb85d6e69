"""Seed 001: one forward and backward pass of the 3-3-2 sigmoid network, and one update."""
from __future__ import annotations

import autograd as ag

from ._report import reporter

TITLE = "The 3-3-2 sigmoid network, x = [.02, .04, .01], target [.9, .5] (seed 001)"


def run(verbose: bool = True) -> dict:
    say = reporter(verbose)
    x = ag.tensor([0.02, 0.04, 0.01], dtype=ag.float64)
    w1 = ag.tensor([[0.25, 0.15, 0.30], [0.25, 0.20, 0.35], [0.10, 0.25, 0.15]], dtype=ag.float64)
    w2 = ag.tensor([[0.40, 0.25], [0.35, 0.30], [0.01, 0.35]], dtype=ag.float64, requires_grad=True)
    h = (w1.T @ x + 0.4).sigmoid()
    y_hat = (w2.T @ h + 0.7).sigmoid()
    loss = (0.5 * (ag.tensor([0.9, 0.5], dtype=ag.float64) - y_hat) ** 2).sum()
    loss.backward()
    fmt = lambda t: "[" + ", ".join(f"{v:.4f}" for v in t.detach().numpy()) + "]"  # noqa: E731
    say(f"h = {fmt(h)}, y_hat = {fmt(y_hat)}, L = {loss.item():.4f}")
    d = float(w2.grad.numpy()[1, 0])
    say(f"dL/dw21 = {d:.4f}; w21 <- 0.35 - 1 * ({d:.4f}) = {0.35 - d:.4f}")
    return {"h": h.numpy().tolist(), "y_hat": y_hat.detach().numpy().tolist(), "loss": loss.item(),
            "dw21": d, "w21": 0.35 - d}


if __name__ == "__main__":
    run()
