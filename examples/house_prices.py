"""Run one piece of `python -m autograd demo`; the code is in src/autograd/demos/house_prices.py."""
from autograd.demos.house_prices import run

if __name__ == "__main__":
    run()
