/* dispatch.c: picks the kernel table once, from the CPU's features or NORMA_KERNELS. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

typedef struct {
    const norma_kernel_table *table;
    int (*supported)(void);
} variant;

static int always(void) { return 1; }

#if defined(NORMA_HAVE_X86_KERNELS)
static int has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
static int has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && has_avx2();
}
static int has_avx512bf16(void) { return has_avx512() && __builtin_cpu_supports("avx512bf16"); }
#endif

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

const char *norma_kernels(void) { return norma_kernel()->name; }

const norma_kernel_table *norma_kernel_by_name(const char *name) {
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        if (strcmp(name, variants[i].table->name) == 0) return variants[i].supported() ? variants[i].table : NULL;
    return NULL;
}

