"""Multivariate linear regression: house prices from area, rooms and age, with standardised
features, a held-out test set, and the learned coefficients turned back into price units."""
from __future__ import annotations

import numpy as np

import autograd as ag
from autograd import nn
from autograd.data.transforms import Standardize
from autograd.model_selection import train_test_split
from autograd.train import evaluate, fit

from ._report import reporter

TITLE = "House prices from area, rooms and age: multivariate linear regression"
FEATURES = ("area m2", "rooms", "age years")
TRUE_COEF = np.array([3.0, 20.0, -1.5])  # thousands per unit
TRUE_BIAS, NOISE = 50.0, 15.0


def make_houses(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(40, 200, n), rng.integers(1, 6, n), rng.uniform(0, 60, n)])
    y = X @ TRUE_COEF + TRUE_BIAS + NOISE * rng.standard_normal(n)
    return X.astype(np.float32), y.astype(np.float32).reshape(-1, 1)


def run(verbose: bool = True, epochs: int = 100) -> dict:
    say = reporter(verbose)
    X, y = make_houses(400, seed=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    scale = Standardize().fit(X_train)  # fitted on the training set only, applied to both
    ag.manual_seed(0)
    model = nn.Linear(3, 1)
    history = fit(model, nn.functional.mse_loss, ag.optim.SGD(model.parameters(), lr=0.05),
                  (scale(X_train), y_train), epochs, batch_size=32, metrics=(), progress=False)
    test = evaluate(model, (scale(X_test), y_test), nn.functional.mse_loss, metrics=("mae",))
    # Undo the standardisation: price = w . (x - mean) / std + b.
    w = model.weight.detach().numpy()[0].astype(np.float64) / np.asarray(scale.std_, np.float64)
    b = float(model.bias.detach().numpy()[0]) - float(w @ np.asarray(scale.mean_, np.float64))
    for name, learned, true in zip(FEATURES, w, TRUE_COEF):
        say(f"{name:10} learned {learned:7.3f}  true {true:7.3f}")
    say(f"{'intercept':10} learned {b:7.3f}  true {TRUE_BIAS:7.3f}")
    say(f"train MSE {history['loss'][-1]:.1f}; test RMSE {np.sqrt(test['loss']):.2f}, "
        f"MAE {test['mae']:.2f} (noise std {NOISE})")
    return {"coef": w.tolist(), "bias": b, "test_rmse": float(np.sqrt(test["loss"]))}


if __name__ == "__main__":
    run()
