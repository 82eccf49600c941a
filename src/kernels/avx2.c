/* avx2.c: the reduction core on AVX2 + FMA + F16C (compiled with -mavx2 -mfma -mf16c; chosen only when the CPU
 * has both). Bitwise identical to the reference. */
#include "vec_avx2.h"

#define NORMA_KERNEL_TABLE norma_kernels_avx2
#define NORMA_KERNEL_NAME "avx2"
#include "core.inc"
