#!/bin/sh
# Every test: sets up what is missing, builds with warnings as errors, and runs the whole suite
# (C tests under every kernel variant, MPI tests on 1-4 processes, the install test, the demo's
# tests, the fuzz corpus, the Python tests against PyTorch); then scripts/reliability.sh: the suite
# under ASan + UBSan, the C tests under valgrind, and a minute of fuzzing.
#   scripts/test.sh            build directory: build/ (or $NORMA_BUILD_DIR)
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
build=${NORMA_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DNORMA_WERROR=ON
cmake --build "$build" -j "$(nproc)"
(cd "$build" && ctest --output-on-failure -j 2)
sh scripts/reliability.sh
