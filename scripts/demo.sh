#!/bin/sh
# The main job: builds norma and its demo, then trains a CNN on Fashion-MNIST once per norm and batch
# size and prints the table of test accuracy (and writes build/norma-demo.svg): the Group
# Normalization paper's batch-size result, with norma's norms. Arguments go to the demo:
#   scripts/demo.sh            the default run (about 3 minutes on 2 cores)
#   scripts/demo.sh --quick    under a minute
#   scripts/demo.sh --help     every option
set -eu
cd "$(dirname "$0")/.."
NORMA_SETUP_PYTHON=0 NORMA_SETUP_DATA=1 sh scripts/setup.sh
build=${NORMA_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
if [ ! -x "$build/norma-demo" ]; then
  echo "demo.sh: $build/norma-demo was not built (it needs OpenBLAS and zlib: apt-get install libopenblas-dev zlib1g-dev)" >&2
  exit 1
fi
exec "$build/norma-demo" --plot "$build/norma-demo.svg" "$@"
