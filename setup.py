"""Build glue only: the metadata lives in pyproject.toml, the C build in csrc/build_ffi.py."""
from setuptools import setup

setup(cffi_modules=["csrc/build_ffi.py:ffibuilder"])
