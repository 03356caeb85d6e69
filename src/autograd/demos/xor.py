"""Seed 003: XOR is not linearly separable; one ReLU hidden layer and gradient descent solve it."""
from __future__ import annotations

import autograd as ag

from ._report import reporter

TITLE = "XOR with a ReLU hidden layer, trained from random weights (seed 003)"


def run(verbose: bool = True, steps: int = 500) -> dict:
    say = reporter(verbose)
    ag.manual_seed(0)
    x = ag.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=ag.float32)
    y = ag.tensor([[0], [1], [1], [0]], dtype=ag.float32)
    w1 = (ag.randn(2, 8) * 0.8).requires_grad_()
    b1 = ag.zeros(8, requires_grad=True)
    w2 = (ag.randn(8, 1) * 0.5).requires_grad_()
    b2 = ag.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]
    for _ in range(steps):
        logits = (x @ w1 + b1).relu() @ w2 + b2
        p = logits.sigmoid()
        loss = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
        for t in params:
            t.grad = None
        loss.backward()
        with ag.no_grad():
            for t in params:
                t -= 0.5 * t.grad
    probs = p.detach().numpy()[:, 0]
    say(f"loss {loss.item():.4f}; predictions " +
        ", ".join(f"{a:.0f}{b:.0f}->{v:.3f}" for (a, b), v in zip(x.numpy(), probs)))
    return {"loss": loss.item(), "probs": probs.tolist()}


if __name__ == "__main__":
    run()
