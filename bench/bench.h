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
/* Median seconds; BENCH_ONEDNN_UNIMPLEMENTED where oneDNN has no implementation of the case on this
 * CPU (2.6 has bf16 normalizations only from AVX-512 on); 0 on any other failure. */
#define BENCH_ONEDNN_UNIMPLEMENTED (-1.0)
double bench_onednn_time(bench_case *c, int reps);

static inline uint32_t f32_bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

#endif /* NORMA_BENCH_H */
