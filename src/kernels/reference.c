/* reference.c: the portable variant, plain C on the scalar shim. It runs on any CPU and defines
 * the results every other variant must reproduce bit for bit. */
#include "vec_scalar.h"

#define NORMA_KERNEL_TABLE norma_kernels_reference
#define NORMA_KERNEL_NAME "reference"
#define NORMA_GENERIC_FORMS /* correctness, not speed: no copy of a loop per form */
#include "core.inc"
