#!/usr/bin/env bash
# The C kernel tests under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#     bash tools/asan_test.sh            (from the repository root; .ci/run calls it)
#     CC=clang bash tools/asan_test.sh   (built with clang; .ci/run does this too where it is)
#
# Builds autograd._kernels with AUTOGRAD_CFLAGS_EXTRA="-fsanitize=address,undefined ..." into a
# throwaway copy of the package (nothing in the tree or in any environment is touched), puts that
# copy first on PYTHONPATH, checks that the sanitized module is the one Python loads, then runs
# tests/test_backend_c*.py with the sanitizer runtimes preloaded (python itself is not built with
# them). Exits non-zero on a failed test or on any sanitizer report.
#
# Python: the first of $PYTHON, `python`, `python3` on PATH that has numpy, cffi, pytest and
# hypothesis (in CI: the activated .venv). The build uses cffi + setuptools directly when that
# interpreter has setuptools, else `pip install --target` (pip fetches the build requirements the
# way `pip install .` does).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
start=$(date +%s)

py=""
for candidate in ${PYTHON:-} python python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c "import numpy, cffi, pytest, hypothesis" >/dev/null 2>&1; then
        py=$("$candidate" -c "import sys; print(sys.executable)")  # not a pyenv shim script
        break
    fi
done
[ -n "$py" ] || { echo "asan_test: no python with numpy, cffi, pytest and hypothesis on PATH" >&2; exit 2; }

# The compiler (CC, as the build uses it): gcc, or clang, whose ASan runtime then has to be the
# shared one (its default links it into the executable, and python is not built with it). The
# runtimes are preloaded into python below.
cc=${CC:-gcc}
export CC="$cc"
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -g"
case "$("$cc" --version | head -1)" in
    *clang*)
        family=clang
        runtimes=("$("$cc" -print-file-name=libclang_rt.asan-x86_64.so)")  # UBSan's included
        flags="$flags -shared-libasan" ;;
    *)
        family=gcc
        runtimes=("$("$cc" -print-file-name=libasan.so)" "$("$cc" -print-file-name=libubsan.so)") ;;
esac
for lib in "${runtimes[@]}"; do
    [ -f "$lib" ] || { echo "asan_test: $cc has no $(basename "$lib") (install its sanitizer runtimes)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/autograd-asan.XXXXXX")
trap 'rm -rf "$work"' EXIT
export AUTOGRAD_CFLAGS_EXTRA="$flags"

echo "asan_test: python $py; building the sanitized extension with $cc in $work"
if [ -z "${ASAN_BUILD_WITH_PIP:-}" ] && "$py" -c "import setuptools" >/dev/null 2>&1; then
    # The package's Python files next to a fresh, sanitized build of its extension.
    mkdir -p "$work/site"
    cp -R src/autograd "$work/site/autograd"
    rm -f "$work/site/autograd"/_kernels*.so "$work/site/autograd/_kernels.c"
    (cd "$work/site" && "$py" "$repo/csrc/build_ffi.py") >"$work/build.log" 2>&1 ||
        { cat "$work/build.log" >&2; echo "asan_test: build failed" >&2; exit 1; }
else
    # A copy of the sources, so no build/ directory of the tree (other flags) can be reused.
    mkdir -p "$work/src"
    cp -R pyproject.toml setup.py MANIFEST.in README.md csrc src "$work/src/"
    rm -f "$work/src/src/autograd"/_kernels*.so "$work/src/src/autograd/_kernels.c"
    "$py" -m pip install --quiet --no-deps --no-cache-dir --target "$work/site" "$work/src" \
        >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; echo "asan_test: build failed" >&2; exit 1; }
fi

export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
export AUTOGRAD_REQUIRE_C=1
unset AUTOGRAD_BACKEND AUTOGRAD_ISA
# Only the python processes (and what they start) get the sanitizer runtimes, not tee or grep.
# Reports also go to files: pytest captures file descriptor 2, and an abort loses what it held.
reports="$work/reports"
mkdir -p "$reports"
preload=$(IFS=:; echo "${runtimes[*]}")
sanitized=(env "LD_PRELOAD=$preload"
           "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$reports/asan"
           "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan")

# The module tests load must be the sanitized one, from the throwaway copy.
"${sanitized[@]}" "$py" - "$work/site" "$family" <<'EOF'
import sys
import autograd._kernels as k

path, info = k.__file__, k.ffi.string(k.lib.ag_build_info()).decode()
print(f"asan_test: loaded {path}\nasan_test: built with {info}")
if (not path.startswith(sys.argv[1]) or "-fsanitize=address,undefined" not in info
        or info.split()[0] != sys.argv[2]):
    sys.exit(f"asan_test: the sanitized {sys.argv[2]} build is not the one that was loaded")
EOF

status=0
# --capture=sys: pytest leaves file descriptor 2 alone, so a sanitizer that halts the process
# still gets its report out (with fd capture it went to pytest's temporary file, lost with it).
"${sanitized[@]}" "$py" -m pytest -q -p no:cacheprovider --capture=sys tests/test_backend_c*.py 2>&1 | tee "$work/test.log" ||
    status=$?
for report in "$reports"/*; do
    [ -e "$report" ] || continue
    echo "asan_test: sanitizer report $(basename "$report"):" >&2
    cat "$report" >&2
    status=1
done
if grep -Eq "ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer" "$work/test.log"; then
    echo "asan_test: sanitizer report(s) in the test output above" >&2
    status=1
fi
echo "asan_test: $([ "$status" -eq 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
exit "$status"
