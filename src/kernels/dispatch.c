/* dispatch.c: picks the kernel table once, from the CPU's features or NORMA_KERNELS. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "kernels.h"

typedef struct {
    const norma_kernel_table *table;
    int (*supported)(void);
} variant;

static int always(void) { return 1; }

#if defined(NORMA_HAVE_X86_KERNELS)
#include <cpuid.h>

/* CPU features from cpuid, and whether the OS saves the registers they use (XCR0), read directly:
 * compilers disagree on the feature names __builtin_cpu_supports knows (clang 14 lacks f16c). */
typedef struct {
    unsigned leaf1_ecx, leaf7_ebx, leaf7_1_eax, xcr0;
} cpu_features;

static cpu_features features(void) {
    cpu_features f = {0};
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    f.leaf1_ecx = c;
    if (c & (1u << 27)) { /* OSXSAVE: XGETBV is available */
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        f.xcr0 = lo;
    }
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f.leaf7_ebx = b;
        __cpuid_count(7, 1, a, b, c, d);
        f.leaf7_1_eax = a;
    }
    return f;
}

static int has_avx2(void) {
    cpu_features f = features();
    int os_avx = (f.xcr0 & 0x6) == 0x6;                                  /* XMM and YMM state */
    int cpu = (f.leaf1_ecx >> 12 & 1) && (f.leaf1_ecx >> 28 & 1) && (f.leaf1_ecx >> 29 & 1) /* FMA, AVX, F16C */
              && (f.leaf7_ebx >> 5 & 1);                                    /* AVX2 */
    return os_avx && cpu;
}
static int has_avx512(void) {
    cpu_features f = features();
    int os_avx512 = (f.xcr0 & 0xE6) == 0xE6; /* and opmask, ZMM_Hi256, Hi16_ZMM state */
    int cpu = (f.leaf7_ebx >> 16 & 1) && (f.leaf7_ebx >> 17 & 1) && (f.leaf7_ebx >> 30 & 1) &&
              (f.leaf7_ebx >> 31 & 1); /* AVX512 F, DQ, BW, VL */
    return os_avx512 && cpu && has_avx2();
}
static int has_avx512bf16(void) { return has_avx512() && (features().leaf7_1_eax >> 5 & 1); }
#endif

const norma_affine norma_affine_zero = {0};
const norma_bwd_coef norma_bwd_coef_zero = {0};

/* Best first. */
static const variant variants[] = {
#if defined(NORMA_HAVE_X86_KERNELS)
    {&norma_kernels_avx512bf16, has_avx512bf16},
    {&norma_kernels_avx512, has_avx512},
    {&norma_kernels_avx2, has_avx2},
#endif
    {&norma_kernels_reference, always},
};

static const norma_kernel_table *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void choose(void) {
    size_t count = sizeof variants / sizeof variants[0];
    const char *forced = getenv("NORMA_KERNELS");
    if (forced && *forced) {
        size_t i = 0;
        while (i < count && strcmp(forced, variants[i].table->name) != 0) i++;
        if (i == count)
            fprintf(stderr, "norma: ignoring unknown NORMA_KERNELS=%s\n", forced);
        else if (!variants[i].supported())
            fprintf(stderr, "norma: NORMA_KERNELS=%s is not supported by this CPU; choosing automatically\n",
                    forced);
        else
            chosen = variants[i].table;
    }
    for (size_t i = 0; i < count && !chosen; i++)
        if (variants[i].supported()) chosen = variants[i].table;
}

const norma_kernel_table *norma_kernel(void) {
    pthread_once(&chosen_once, choose);
    return chosen;
}

void norma_kernel_use(const norma_kernel_table *t) {
    static const norma_kernel_table *automatic;
    pthread_once(&chosen_once, choose);
    if (!automatic) automatic = chosen;
    chosen = t ? t : automatic;
}

const char *norma_kernels(void) { return norma_kernel()->name; }

/* ----- f32 compute precision (norma_set_f32_compute) ----- */

static atomic_int f32_compute; /* a norma_f32_compute */
static pthread_once_t f32_compute_once = PTHREAD_ONCE_INIT;

static void f32_compute_from_env(void) {
    const char *env = getenv("NORMA_F32_COMPUTE");
    if (!env || !*env) return;
    if (strcmp(env, "float") == 0) atomic_store(&f32_compute, NORMA_F32_COMPUTE_FLOAT);
    else if (strcmp(env, "double") != 0)
        fprintf(stderr, "norma: ignoring unknown NORMA_F32_COMPUTE=%s (expected float or double)\n", env);
}

norma_status norma_set_f32_compute(norma_f32_compute mode) {
    pthread_once(&f32_compute_once, f32_compute_from_env);
    if (mode != NORMA_F32_COMPUTE_DOUBLE && mode != NORMA_F32_COMPUTE_FLOAT)
        return norma_fail(NORMA_EINVAL, "norma_set_f32_compute",
                          "mode must be NORMA_F32_COMPUTE_DOUBLE or NORMA_F32_COMPUTE_FLOAT (got %d)", (int)mode);
    atomic_store(&f32_compute, mode);
    return NORMA_OK;
}

norma_f32_compute norma_get_f32_compute(void) {
    pthread_once(&f32_compute_once, f32_compute_from_env);
    return (norma_f32_compute)atomic_load(&f32_compute);
}

const norma_kernel_table *norma_kernel_for(norma_dtype dtype) {
    const norma_kernel_table *k = norma_kernel();
    return dtype == NORMA_F32 && norma_get_f32_compute() == NORMA_F32_COMPUTE_FLOAT ? k->f32_in_float : k;
}

const norma_kernel_table *norma_kernel_by_name(const char *name) {
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (strcmp(name, variants[i].table->name) == 0) return variants[i].supported() ? variants[i].table : NULL;
    return NULL;
}

