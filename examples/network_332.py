"""Run one piece of `python -m autograd demo`; the code is in src/autograd/demos/network_332.py."""
from autograd.demos.network_332 import run

if __name__ == "__main__":
    run()
