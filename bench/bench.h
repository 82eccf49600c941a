/* bench.h: the cases norma-bench times (bench_cases.c) and the optional oneDNN peer (bench_onednn.c). */
#ifndef NORMA_BENCH_H
#define NORMA_BENCH_H

#include <stdint.h>
#include <string.h>

#include "norma.h"

typedef struct bench_buffers {
    norma_dtype dtype;
    float *x, *y, *dy, *dx, *params;
    float *stats[4];
    float *extra[2]; /* two more activation buffers (the baseline's, free while a case runs) */
} bench_buffers;

typedef struct bench_case {
    const char *op;    /* "layer_norm fwd", ... */
    char shape[48];    /* for the report */
    norma_dtype dtype;
    int64_t elems;     /* activation elements */
    double bytes;      /* minimal traffic */
    int reads, writes; /* arrays the baseline moves for the same bytes */
    int latency;       /* time one call on one thread instead */
    int onednn;        /* oneDNN has this op: also time it */
    norma_layout layout;
    int64_t d[4];      /* sizes: rows/cols, or n/c/spatial/groups */
    bench_buffers *b;
    void (*run)(struct bench_case *c);
} bench_case;

bench_case *bench_cases(bench_buffers *b, int *count);

int bench_onednn_available(void);
double bench_onednn_time(bench_case *c, int reps); /* median seconds, or 0 if not available */

static inline uint32_t f32_bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

#endif /* NORMA_BENCH_H */
