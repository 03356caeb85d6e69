"""Run one piece of `python -m autograd demo`; the code is in src/autograd/demos/regularization.py."""
from autograd.demos.regularization import run

if __name__ == "__main__":
    run()
