"""The compiled backend for the test_backend_c_* modules, or a module-level skip that says why."""
import ctypes
import mmap
import os

import numpy as np
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


def before_a_guard_page(values):
    """(a copy of values ending exactly where an unreadable, unwritable page begins, what keeps
    it alive): a kernel touching one element past the end faults. The sanitizer job cannot see
    such accesses when they are masked vector loads or stores with too wide a mask (gcc does
    not instrument those)."""
    page = mmap.PAGESIZE
    size = (values.nbytes + page - 1) // page * page
    region = mmap.mmap(-1, size + page)
    view = (ctypes.c_char * (size + page)).from_buffer(region)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if libc.mprotect(ctypes.addressof(view) + size, page, 0) != 0:
        pytest.skip(f"mprotect failed (errno {ctypes.get_errno()}): no guard page on this system")
    out = np.frombuffer(region, values.dtype, values.size, size - values.nbytes).reshape(values.shape)
    out[...] = values
    return out, (region, view)
