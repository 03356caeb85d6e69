"""Run one piece of `python -m autograd demo`; the code is in src/autograd/demos/xor.py."""
from autograd.demos.xor import run

if __name__ == "__main__":
    run()
