"""The command line: the demo prints the lectures' numbers; info names the backend."""
import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", "autograd", *args], capture_output=True, text=True, timeout=120)


def test_demo_prints_what_the_examples_learned():
    done = _run("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "MSE = 2.50, RMSE = 1.58, dMSE/dm = -3, dMSE/db = -1" in out
    assert "m = -0.70, b = 5.10" in out
    assert "m = 2.0000, b = 1.0000" in out
    assert "h = [0.6025, 0.6019, 0.6038], y_hat = [0.7609, 0.7760], L = 0.0478" in out
    assert "dL/dw21 = -0.0152" in out and "= 0.3652" in out
    # XOR learned: the printed predictions round to the truth table
    preds = out.split("predictions ")[1].split("\n")[0].split(", ")
    assert [round(float(p.split("->")[1])) for p in preds] == [0, 1, 1, 0]


def test_info_names_backend_and_isa():
    done = _run("info")
    assert done.returncode == 0, done.stderr
    assert "backend:" in done.stdout and "isa:" in done.stdout


def test_train_without_data_says_where_to_get_it_without_a_traceback(tmp_path):
    done = _run("train", "--dataset", "mnist", "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "--data-dir" in done.stderr and "--download" in done.stderr


def test_train_a_subset_reports_test_accuracy_and_saves(datasets_dir, tmp_path):
    import autograd as ag

    if not (datasets_dir / "mnist").is_dir():
        import pytest

        pytest.skip(f"MNIST not found under {datasets_dir}")
    saved = tmp_path / "mlp.agz"
    done = _run("train", "--dataset", "mnist", "--model", "mlp", "--subset", "3000", "--epochs", "1",
                "--data-dir", str(datasets_dir), "--no-progress", "--save", str(saved))
    assert done.returncode == 0, done.stderr
    assert "407,050" in done.stdout and "test accuracy" in done.stdout
    accuracy = float(done.stdout.split("test accuracy")[-1].split(",")[0])
    assert accuracy > 0.8
    assert set(ag.load(saved)) == {"1.weight", "1.bias", "4.weight", "4.bias"}


def test_train_cnn_prints_each_epoch_with_the_decayed_learning_rate(datasets_dir):
    if not (datasets_dir / "mnist").is_dir():
        import pytest

        pytest.skip(f"MNIST not found under {datasets_dir}")
    done = _run("train", "--dataset", "mnist", "--model", "cnn", "--subset", "640", "--epochs", "2",
                "--batch-size", "64", "--lr-decay", "0.5", "--data-dir", str(datasets_dir),
                "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "93,322" in done.stdout and "adam lr 0.002" in done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "lr 0.002 " in lines[0] and "lr 0.001 " in lines[1]  # logged before the epoch's step
