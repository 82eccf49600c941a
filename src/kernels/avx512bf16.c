/* avx512bf16.c: the AVX-512 variant built with AVX512-BF16 as well (compiled with those flags; chosen
 * only when the CPU has them): the same source, rounding to bf16 with vcvtneps2bf16. Bitwise identical
 * to the reference. */
#include "vec_avx512.h"

#define NORMA_KERNEL_TABLE norma_kernels_avx512bf16
#define NORMA_KERNEL_NAME "avx512bf16"
#include "core.inc"
