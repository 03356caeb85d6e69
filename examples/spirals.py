"""Run one piece of `python -m autograd demo`; the code is in src/autograd/demos/spirals.py."""
from autograd.demos.spirals import run

if __name__ == "__main__":
    run()
