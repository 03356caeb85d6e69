"""Run one piece of `python -m autograd demo`; the code is in src/autograd/demos/optimizers.py."""
from autograd.demos.optimizers import run

if __name__ == "__main__":
    run()
