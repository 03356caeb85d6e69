"""Run one piece of `python -m autograd demo`; the code is in src/autograd/demos/perceptron.py."""
from autograd.demos.perceptron import run

if __name__ == "__main__":
    run()
