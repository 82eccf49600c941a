#!/bin/sh
# The reliability checks that scripts/test.sh runs after the ordinary suite:
#   1. the whole suite once more, built by clang with AddressSanitizer + UndefinedBehaviorSanitizer
#      (the Python tests load the sanitized library with the ASan runtime preloaded);
#   2. the C tests under valgrind memcheck (AVX2 kernels at most: valgrind cannot run AVX-512);
#   3. the libFuzzer target over the public API for NORMA_FUZZ_SECONDS (default 60), from the corpus
#      in tests/fuzz/corpus (a copy: the repository is not modified).
# Each step stops the script on the first failure. NORMA_RELIABILITY=0 skips everything.
set -eu
cd "$(dirname "$0")/.."
[ "${NORMA_RELIABILITY:-1}" = 1 ] || { echo "reliability: skipped (NORMA_RELIABILITY=0)"; exit 0; }
root=$(pwd)
jobs=$(nproc)

echo "== 1. AddressSanitizer + UndefinedBehaviorSanitizer (clang)"
# the libFuzzer target (step 3) is built here too, on the same sanitized library: a build of its own
# compiled every kernel variant again (~20 min of the run). Line tables only, not full debug info: the
# sanitizers' reports need file and line, and clang compiled src/kernels/avx2.c under ASan in 238 s
# against 403 s with -g (Zen 3 host, 2026-12-06, beside a CI run; avx512.c and avx512bf16.c took
# 15-25 min each with -g)
asan=${NORMA_ASAN_DIR:-build-asan}
CC=clang cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
  -DNORMA_SANITIZE=ON -DNORMA_WERROR=ON -DNORMA_BUILD_PYTHON_TESTS=ON -DNORMA_FUZZ=ON >/dev/null
cmake --build "$asan" -j "$jobs" >/dev/null
runtime=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
(
  cd "$asan"
  # the install test builds an unsanitized consumer against the sanitized library: not a memory test;
  # test_large (4 GiB, 2^31 elements) runs in the ordinary suite only: too slow under ASan
  ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 -E "install|sync_mpi|python|test_large"
  # Open MPI's own allocations at MPI_Finalize show up as leaks: leak checking is off for these
  ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -R sync_mpi
  LD_PRELOAD="$runtime" ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -R python
)

echo "== 2. valgrind memcheck"
build=${NORMA_BUILD_DIR:-build}
for t in test_row_norm test_channel_norm test_kernels test_reparam test_demo; do
  [ -x "$build/$t" ] || continue
  echo "valgrind $t"
  NORMA_KERNELS=avx2 valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
    "$build/$t" >/dev/null
done
echo "valgrind fuzz_replay (the corpus)"
NORMA_KERNELS=avx2 valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
  "$build/fuzz_replay" tests/fuzz/corpus/* >/dev/null

echo "== 3. libFuzzer over the C API for ${NORMA_FUZZ_SECONDS:-60} s"
cmake --build "$asan" -j "$jobs" --target fuzz_api >/dev/null # built in step 1: nothing left to do
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/* "$work/"
cd "$work"
# a finding is written to $root/fuzz-crash-* (and its input printed in base64)
if ! "$root/$asan/fuzz_api" -max_total_time="${NORMA_FUZZ_SECONDS:-60}" -max_len=2048 -timeout=20 \
    -artifact_prefix="$root/fuzz-" "$work" >"$work.log" 2>&1; then
  tail -n 40 "$work.log"
  echo "reliability: the fuzzer found a failure" >&2
  exit 1
fi
tail -n 1 "$work.log"
rm -f "$work.log"
echo "reliability: all clean"
