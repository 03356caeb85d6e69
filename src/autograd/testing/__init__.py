"""Helpers for users' own tests: hypothesis strategies (`autograd.testing.strategies`)."""
