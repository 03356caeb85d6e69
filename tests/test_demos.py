"""The demo pieces learn what the lectures say they learn (each run quietly, once)."""
import numpy as np
import pytest

from autograd import demos
from autograd.demos import house_prices, line_fit, network_332, optimizers, perceptron, regularization, spirals, xor


def test_every_piece_is_listed_and_has_an_example_script():
    import pathlib

    examples = pathlib.Path(__file__).resolve().parents[1] / "examples"
    for name in demos.PIECES:
        assert (examples / f"{name}.py").is_file(), name


def test_line_fit_reproduces_seed_000():
    r = line_fit.run(verbose=False)
    # The slide's gradients are misprints; worked out: dMSE/dm = mean(-2 r x) = -3, dMSE/db = -1.
    assert r["mse0"] == 2.5 and r["dm0"] == -3 and r["db0"] == -1
    assert r["m1"] == pytest.approx(-0.7) and r["b1"] == pytest.approx(5.1)
    assert r["m"] == pytest.approx(2, abs=1e-3) and r["b"] == pytest.approx(1, abs=2e-3)


def test_network_332_reproduces_seed_001():
    r = network_332.run(verbose=False)
    np.testing.assert_allclose(r["h"], [0.6025, 0.6019, 0.6038], atol=5e-5)
    np.testing.assert_allclose(r["y_hat"], [0.7609, 0.7760], atol=5e-5)
    assert round(r["loss"], 4) == 0.0478 and round(r["dw21"], 4) == -0.0152 and round(r["w21"], 4) == 0.3652


def test_house_prices_recovers_the_coefficients():
    r = house_prices.run(verbose=False)
    np.testing.assert_allclose(r["coef"], house_prices.TRUE_COEF, rtol=0.1, atol=1.0)
    assert r["test_rmse"] < 1.3 * house_prices.NOISE


def test_perceptron_separates_the_data():
    r = perceptron.run(verbose=False)
    assert r["accuracy"] == 1.0 and r["epochs"] < 100


def test_xor_and_spirals_are_learned():
    r = xor.run(verbose=False)
    assert np.round(r["probs"]).tolist() == [0, 1, 1, 0] and r["loss"] < 0.1
    assert spirals.run(verbose=False)["accuracy"] > 0.95


def test_optimizer_table_covers_every_optimizer_and_they_learn():
    rows = optimizers.run(verbose=False, epochs=300)
    assert len(rows) == len(optimizers.SETTINGS)
    assert all(r["accuracy"] > 0.8 for r in rows.values()), rows
    assert rows["Adam lr 0.03"]["loss"] < rows["SGD lr 0.05"]["loss"]


def test_regularisation_narrows_the_gap_between_train_and_validation():
    rows = regularization.run(verbose=False, epochs=300)
    none = rows["none"]
    assert none["train loss"] < 0.1 and none["val loss"] > 2 * none["train loss"]
    for name in ("L2 penalty 1e-3", "dropout 0.5", "early stopping"):
        assert rows[name]["val loss"] < none["val loss"], (name, rows)
    assert rows["early stopping"]["epochs"] < 300
