"""The project's tests use the public strategies, so users get exactly what we test with."""
from autograd.testing.strategies import *  # noqa: F401,F403
from autograd.testing.strategies import SPECIAL_VALUES, arrays, elements  # noqa: F401
