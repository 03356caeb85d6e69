"""Data pipeline timings: dataset loading, a shuffled epoch of batches, batch augmentation.

    PYTHONPATH=src python benchmarks/bench_data.py [--data-dir DIR] [--repeats 5]

Medians of interleaved repeats (ours, reference, ours, ...); PyTorch (one thread) is the
reference when installed. Dataset loading runs in fresh processes, since decoded files are
cached per process.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import autograd as ag
from _harness import print_table
from autograd.data import DataLoader, TensorDataset, datasets
from autograd.data import transforms as T

LOAD = ("import sys, time; from autograd.data import datasets; t = time.perf_counter(); "
        "getattr(datasets, sys.argv[1])(sys.argv[2], train=sys.argv[3] == 'train'); "
        "print(time.perf_counter() - t)")


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_loading(root, repeats):
    rows = []
    for cls, split in (("MNIST", "train"), ("MNIST", "test"), ("FashionMNIST", "train"),
                       ("SignMNIST", "train"), ("SignMNIST", "test")):
        times = [float(subprocess.run([sys.executable, "-c", LOAD, cls, root, split],
                                      capture_output=True, text=True, check=True,
                                      env=os.environ).stdout) for _ in range(repeats)]
        rows.append((f"load {cls} {split} (fresh process)", statistics.median(times), None))
    return rows


def bench_epoch_and_augment(root, repeats):
    try:
        import torch
    except ImportError:
        torch = None
    mnist = datasets.MNIST(root)
    X = (mnist.data[:, None] / np.float32(255)).astype(np.float32)
    loaders = {"ours": DataLoader(TensorDataset(X, mnist.targets), 128, shuffle=True, seed=0)}
    if torch is not None:
        torch.set_num_threads(1)  # numpy here runs on one thread too
        tds = torch.utils.data.TensorDataset(torch.from_numpy(X),
                                             torch.from_numpy(mnist.targets.copy()))
        loaders["torch"] = torch.utils.data.DataLoader(tds, 128, shuffle=True)
    epoch = {k: [] for k in loaders}
    for _ in range(repeats):
        for k, loader in loaders.items():
            epoch[k].append(_median_time(lambda: sum(1 for _ in loader), 1))
    rows = [("epoch MNIST, batch 128, shuffled", statistics.median(epoch["ours"]),
             statistics.median(epoch["torch"]) if torch is not None else None),
            ("epoch MNIST dataset (uint8 -> float per batch)",
             _median_time(lambda: sum(1 for _ in DataLoader(mnist, 128, shuffle=True)), repeats),
             None)]
    batch = X[:128]
    rotate = T.RandomRotation(15, seed=0)
    ours, ref = [], []
    for _ in range(repeats):
        ours.append(_median_time(lambda: rotate(batch), 20))
        if torch is not None:
            ref.append(_median_time(lambda: _torch_rotate(torch, batch), 20))
    rows.append(("RandomRotation, 128 images (torch: affine_grid + grid_sample)",
                 statistics.median(ours), statistics.median(ref) if ref else None))
    for name, t in (("RandomShift(2)", T.RandomShift(2, seed=0)),
                    ("RandomZoom(0.1)", T.RandomZoom(0.1, seed=0))):
        rows.append((f"{name}, 128 images", _median_time(lambda: t(batch), 20 * repeats), None))
    return rows


def _torch_rotate(torch, batch):
    x = torch.from_numpy(batch)
    theta = torch.deg2rad(torch.empty(len(x)).uniform_(-15, 15))
    A = torch.zeros(len(x), 2, 3)
    c, s = theta.cos(), theta.sin()
    A[:, 0, 0], A[:, 0, 1], A[:, 1, 0], A[:, 1, 1] = c, -s, s, c
    grid = torch.nn.functional.affine_grid(A, list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, align_corners=False)


def _default_data_dir() -> str:
    """$AUTOGRAD_DATASETS, else the workplace's ../shared/datasets beside the project, else the
    download cache."""
    beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets")
    if not os.environ.get("AUTOGRAD_DATASETS") and os.path.isdir(beside):
        return os.path.normpath(beside)
    return str(datasets.default_root())


def main(argv=()):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=_default_data_dir())
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        datasets.MNIST(args.data_dir, train=False)
    except (OSError, ValueError) as error:
        print(f"\n## Data pipeline: skipped, no readable MNIST under {args.data_dir} ({error})")
        return
    rows = bench_loading(args.data_dir, args.repeats)
    rows += bench_epoch_and_augment(args.data_dir, args.repeats)
    print_table(f"Data pipeline, medians of {args.repeats} (data: {args.data_dir})",
                [{"case": what, "autograd": ours, "torch": ref} for what, ours, ref in rows],
                ["autograd", "torch"])


if __name__ == "__main__":
    ag.manual_seed(0)
    main(sys.argv[1:])
