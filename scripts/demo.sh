#!/bin/sh
# The main job: builds norma and runs its example on real-sized tensors.
set -eu
cd "$(dirname "$0")/.."
NORMA_SETUP_PYTHON=0 sh scripts/setup.sh
build=${NORMA_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
"$build/norma-example"
