"""Command line: `python -m autograd demo | info | bench | train`."""
from __future__ import annotations

import argparse
import pathlib
import runpy
import sys


def _info(_args) -> int:
    import autograd as ag

    print(f"autograd {ag.__version__}")
    for key, value in ag.backend.info().items():
        print(f"{key}: {value}")
    return 0


def _bench(args) -> int:
    here = pathlib.Path(__file__).resolve()
    candidates = [pathlib.Path.cwd() / "benchmarks", here.parents[2] / "benchmarks"]
    for folder in candidates:
        script = folder / "run.py"
        if script.is_file():
            sys.path.insert(0, str(folder))
            sys.argv = [str(script)] + args.rest
            runpy.run_path(str(script), run_name="__main__")
            return 0
    print("bench: benchmarks/run.py not found; run this from a source checkout of autograd",
          file=sys.stderr)
    return 2


def _demo(_args) -> int:
    from autograd.demos import main

    return main()


def _train(args) -> int:
    from autograd._train_cli import run

    return run(args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograd")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="train the lectures' examples and print what they learned").set_defaults(fn=_demo)
    sub.add_parser("info", help="version, backend, instruction set, threads").set_defaults(fn=_info)
    bench = sub.add_parser("bench", help="run benchmarks/ and print the table")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(fn=_bench)
    train = sub.add_parser("train", help="train the lectures' MLP or CNN on MNIST-like data")
    from autograd._train_cli import add_arguments

    add_arguments(train)
    train.set_defaults(fn=_train)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
