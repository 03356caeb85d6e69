"""Run one piece of `python -m autograd demo`; the code is in src/autograd/demos/line_fit.py."""
from autograd.demos.line_fit import run

if __name__ == "__main__":
    run()
