#!/bin/sh
# Every test: sets up what is missing, builds with warnings as errors, and runs the whole suite
# (C tests under every kernel variant, the install test, the Python tests against PyTorch).
#   scripts/test.sh            build directory: build/ (or $NORMA_BUILD_DIR)
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
build=${NORMA_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DNORMA_WERROR=ON
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j 2
