"""The compiled backend for the test_backend_c_* modules, or a module-level skip that says why."""
import os

import pytest


def import_c_backend():
    """autograd.backend._c; skips the calling test module when the extension is not built, and
    fails instead when AUTOGRAD_REQUIRE_C is set (CI sets it, so a missing build cannot pass)."""
    try:
        from autograd.backend import _c
    except ImportError as error:
        if os.environ.get("AUTOGRAD_REQUIRE_C"):
            pytest.fail(f"autograd.backend._c does not import: {error}", pytrace=False)
        pytest.skip(f"the compiled backend is not built ({error})", allow_module_level=True)
    return _c
