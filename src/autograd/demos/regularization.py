"""Seed 003's regularisation study on a problem that overfits: 24 noisy training points, a
2-32-2 ReLU network, Adam lr 0.03; each method against a held-out validation set."""
from __future__ import annotations

import autograd as ag
from autograd import nn, optim
from autograd.train import EarlyStopping, evaluate, fit

from ._report import reporter, table

TITLE = "Regularisation compared on a small problem that overfits (24 training points)"
F = nn.functional


def _model(dropout: float = 0.0):
    ag.manual_seed(0)
    layers = [nn.Linear(2, 32), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else []) + [nn.Linear(32, 2)]
    return nn.Sequential(*layers)


def _weights(model):
    return [p for name, p in model.named_parameters() if name.endswith("weight")]


def run(verbose: bool = True, epochs: int = 1000) -> dict:
    say = reporter(verbose)
    X, y = ag.data.make_moons(n_samples=24, noise=0.35, seed=1)
    X_val, y_val = ag.data.make_moons(n_samples=500, noise=0.35, seed=2)
    settings = {
        "none": (_model(), None, None),
        "L1 penalty 1e-3": (_model(), lambda m: 1e-3 * F.l1_penalty(_weights(m)), None),
        "L2 penalty 1e-3": (_model(), lambda m: 1e-3 * F.l2_penalty(_weights(m)), None),
        "weight decay 0.1 (AdamW)": (_model(), None, "adamw"),
        "dropout 0.5": (_model(0.5), None, None),
        "early stopping": (_model(), None, "early"),
    }
    rows = []
    for name, (model, penalty, special) in settings.items():
        def loss_fn(out, target, model=model, penalty=penalty):
            loss = F.cross_entropy(out, target)
            return loss if penalty is None else loss + penalty(model)

        params = model.parameters()
        optimizer = optim.AdamW(params, lr=0.03, weight_decay=0.1) if special == "adamw" else \
            optim.Adam(params, lr=0.03)
        callbacks = [EarlyStopping("val_loss", patience=50, restore_best=True)] if special == "early" else []
        history = fit(model, loss_fn, optimizer, (X, y), epochs, batch_size=len(X), metrics=(),
                      val_data=(X_val, y_val) if callbacks else None, callbacks=callbacks,
                      progress=False)
        train = evaluate(model, (X, y), F.cross_entropy)
        val = evaluate(model, (X_val, y_val), F.cross_entropy)
        rows.append({"method": name, "epochs": len(history), "train loss": train["loss"],
                     "val loss": val["loss"], "val accuracy": val["accuracy"]})
    table(rows, ["method", "epochs", "train loss", "val loss", "val accuracy"], say)
    return {r["method"]: r for r in rows}


if __name__ == "__main__":
    run()
