"""cffi build script for ``autograd._kernels`` (API mode, out of line).

``setup.py`` wires ``ffibuilder`` through ``cffi_modules``; ``python csrc/build_ffi.py`` builds
the module into the current directory for quick experiments.

* The cdef is ``ag_kernels.h`` itself, minus its preprocessor lines: one header is the C API.
* Every ``csrc/*.c`` is compiled with ``-O3 -std=c11 -pthread -ffp-contract=off -fno-math-errno``. There is no ``-march``: the
  SIMD code sits in functions with ``target`` attributes and ``cpu.c`` picks one at run time,
  so one build runs on any x86-64 (and elsewhere through the portable C path).
* ``AUTOGRAD_CFLAGS_EXTRA`` (shell-quoted words) is appended to the compile and link flags,
  e.g. ``-fsanitize=address,undefined -fno-omit-frame-pointer`` for the sanitizer job.
* The flags are baked into the module and reported by ``ag_build_info()``.
"""
import glob
import json
import os
import shlex

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "ag_kernels.h")

# -ffp-contract=off: no silent a*b+c -> fma. The backward kernels promise numpy's exact
# expressions (bitwise equal results) and the AVX2 and AVX-512 paths promise identical bits;
# GCC already defaults to "off" under -std=c11, clang does not. Explicit FMAs are intrinsics.
# -fno-math-errno: sqrt never sets errno (nothing reads it), so loops with sqrt vectorise;
# the results are the same correctly rounded square roots.
BASE_COMPILE_FLAGS = ["-O3", "-std=c11", "-pthread", "-ffp-contract=off", "-fno-math-errno"]
BASE_LINK_FLAGS = ["-pthread"]


def _cdef_text(path):
    """The header with preprocessor lines dropped (none of them continues onto a next line)."""
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if not line.lstrip().startswith("#")]
    return "".join(lines)


def _rel(path):
    """setuptools wants source paths relative to the directory it runs in, when it can have them."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


extra_flags = shlex.split(os.environ.get("AUTOGRAD_CFLAGS_EXTRA", ""))
compile_flags = BASE_COMPILE_FLAGS + extra_flags
link_flags = BASE_LINK_FLAGS + extra_flags

ffibuilder = FFI()
ffibuilder.cdef(_cdef_text(HEADER))
ffibuilder.set_source(
    "autograd._kernels",
    '#include "ag_kernels.h"\n',
    sources=[_rel(p) for p in sorted(glob.glob(os.path.join(HERE, "*.c")))],
    include_dirs=[_rel(HERE)],
    depends=[_rel(p) for p in sorted(glob.glob(os.path.join(HERE, "*.h")))],
    libraries=["m"],
    define_macros=[("AG_BUILD_FLAGS", json.dumps(" ".join(compile_flags)))],
    extra_compile_args=compile_flags,
    extra_link_args=link_flags,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
