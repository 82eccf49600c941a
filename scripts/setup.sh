#!/bin/sh
# Installs what norma's build, tests and demo need, when it is missing:
#   Debian packages (apt-get, when run as root): compiler, CMake, pkg-config, Python 3 and pip,
#     OpenBLAS and zlib (the demo and its tests), Open MPI (the synchronized BatchNorm's adapter and
#     tests), clang with its sanitizer and libFuzzer runtimes and valgrind (scripts/reliability.sh),
#     oneDNN 2.6 (norma-bench's peer: with it the benchmark builds and its smoke test checks its column),
#     and with NORMA_SETUP_DATA=1 the Fashion-MNIST dataset
#   Python packages (pip, for the python3 first on PATH), unless NORMA_SETUP_PYTHON=0: torch numpy pytest
# It changes nothing that is already there. Sourced or run by scripts/test.sh and scripts/demo.sh.
set -eu

need_pkgs=""
have() { command -v "$1" >/dev/null 2>&1; }
have cc || need_pkgs="$need_pkgs build-essential"
have cmake || need_pkgs="$need_pkgs cmake"
have pkg-config || need_pkgs="$need_pkgs pkg-config"
{ have pkg-config && pkg-config --exists openblas; } || need_pkgs="$need_pkgs libopenblas-dev"
[ -f /usr/include/zlib.h ] || need_pkgs="$need_pkgs zlib1g-dev"
have clang || need_pkgs="$need_pkgs clang"
{ have clang && [ -f "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; } || need_pkgs="$need_pkgs libclang-rt-14-dev"
have valgrind || need_pkgs="$need_pkgs valgrind"
have mpicc || need_pkgs="$need_pkgs libopenmpi-dev"
have mpirun || need_pkgs="$need_pkgs openmpi-bin"
[ -f /usr/include/oneapi/dnnl/dnnl.h ] || need_pkgs="$need_pkgs libdnnl-dev"
if [ "${NORMA_SETUP_DATA:-0}" = 1 ] && [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  need_pkgs="$need_pkgs dataset-fashion-mnist"
fi
have python3 || need_pkgs="$need_pkgs python3"
if [ "${NORMA_SETUP_PYTHON:-1}" = 1 ] && have python3 && ! python3 -m pip --version >/dev/null 2>&1; then
  need_pkgs="$need_pkgs python3-pip"
fi

if [ -n "$need_pkgs" ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "setup: apt-get install$need_pkgs"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need_pkgs >/dev/null
  else
    echo "setup: missing packages:$need_pkgs (install them, or run this as root on Debian)" >&2
    exit 1
  fi
fi

if [ "${NORMA_SETUP_PYTHON:-1}" = 1 ] && ! python3 -c "import torch, numpy, pytest" >/dev/null 2>&1; then
  echo "setup: pip install torch numpy pytest (for $(command -v python3))"
  # Debian's own python3 refuses pip installs unless told it may ("externally managed").
  python3 -m pip install -q torch numpy pytest 2>/dev/null ||
    python3 -m pip install -q --break-system-packages torch numpy pytest
fi
