"""Run every benchmark in this folder and print their tables (medians, same-run ratios).

    python benchmarks/run.py [engine ...]      or      python -m autograd bench [engine ...]

OPENBLAS_CORETYPE forces numpy's OpenBLAS onto slower kernels; it is removed from the environment
before numpy loads, so comparisons are against OpenBLAS at its best. Results go to
benchmarks/results/*.json (or $AUTOGRAD_BENCH_OUT).
"""
import importlib
import os
import sys

_CORETYPE = os.environ.pop("OPENBLAS_CORETYPE", None)

BENCHMARKS = ["engine", "gemm", "ops", "cnn", "train", "data"]


def main(argv) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _harness import environment

    env = environment()
    print(f"OPENBLAS_CORETYPE in the caller's environment: {_CORETYPE or '(unset)'}; unset for this run")
    print("environment: " + ", ".join(f"{k}={v}" for k, v in env.items() if k != "autograd_info"))
    print("autograd backend info: " + ", ".join(f"{k}={v}" for k, v in env["autograd_info"].items()))
    for name in argv or BENCHMARKS:
        importlib.import_module(f"bench_{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
