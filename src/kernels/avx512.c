/* avx512.c: the reduction core on AVX-512 F/BW/VL/DQ (compiled with those flags; chosen only when the
 * CPU has them). Bitwise identical to the reference. */
#include "vec_avx512.h"

#define NORMA_KERNEL_TABLE norma_kernels_avx512
#define NORMA_KERNEL_NAME "avx512"
#include "core.inc"
