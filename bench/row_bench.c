/* row_bench.c: the per-row cost of RMSNorm forward and backward on rows that stay cached, one thread,
 * best of 200 trials, in ns per row: what a norm spends on each row besides streaming its bytes (QK
 * RMSNorm's rows are 128 elements: there the per-row work, not the memory, sets the speed).
 *
 *   build/norma-row-bench [COLS ...]     (default 128 512; 1024 rows of each)
 */
#define _POSIX_C_SOURCE 200112L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "norma.h"

#define ROWS 1024
#define TRIALS 200
#define CALLS 5

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void must(norma_status s) {
    if (s != NORMA_OK) {
        fprintf(stderr, "norma-row-bench: %s\n", norma_last_error());
        exit(1);
    }
}

/* Values in [-1, 1), stored as dtype t (bf16: the float's upper half, exact for these values' use). */
static void *filled(norma_dtype t, int64_t count, double scale) {
    size_t es = t == NORMA_F32 ? 4 : 2;
    char *p = aligned_alloc(4096, ((size_t)count * es + 4095) / 4096 * 4096);
    if (!p) exit(1);
    for (int64_t i = 0; i < count; i++) {
        float v = (float)(scale * ((double)(i * 7919 % 1000) / 500.0 - 1.0));
        if (t == NORMA_F32) memcpy(p + i * 4, &v, 4);
        else {
            unsigned u;
            memcpy(&u, &v, 4);
            unsigned short h = (unsigned short)(u >> 16);
            memcpy(p + i * 2, &h, 2);
        }
    }
    return p;
}

/* Best seconds per call of op (0: forward, 1: backward). */
static double best_call(int op, norma_dtype t, int64_t cols, const void *x, const void *dy, const void *w, void *y,
                        float *rstd, float *dw) {
    double best = 1e30;
    for (int trial = 0; trial < TRIALS; trial++) {
        double t0 = now();
        for (int c = 0; c < CALLS; c++) {
            if (op == 0) must(norma_rms_norm_fwd(t, ROWS, cols, x, w, 1e-6, y, rstd));
            else must(norma_rms_norm_bwd(t, ROWS, cols, dy, x, w, 1e-6, y, dw));
        }
        double s = (now() - t0) / CALLS;
        if (s < best) best = s;
    }
    return best;
}

int main(int argc, char **argv) {
    int64_t default_cols[] = {128, 512};
    int count = argc > 1 ? argc - 1 : 2;
    must(norma_set_num_threads(1));
    printf("norma %s, kernels %s, one thread, %d cached rows, best of %d; ns per row\n", norma_version(),
           norma_kernels(), ROWS, TRIALS);
    for (int i = 0; i < count; i++) {
        int64_t cols = argc > 1 ? atoll(argv[i + 1]) : default_cols[i];
        if (cols <= 0) {
            fprintf(stderr, "usage: %s [COLS ...]\n", argv[0]);
            return 2;
        }
        for (int d = 0; d < 2; d++) {
            norma_dtype t = d ? NORMA_BF16 : NORMA_F32;
            void *x = filled(t, ROWS * cols, 1.0), *dy = filled(t, ROWS * cols, 0.5), *y = filled(t, ROWS * cols, 0);
            void *w = filled(t, cols, 0.25);
            float *rstd = malloc(ROWS * sizeof(float)), *dw = malloc((size_t)cols * sizeof(float));
            if (!rstd || !dw) return 1;
            for (int op = 0; op < 2; op++)
                printf("rms_norm %s %-4s cols=%-6lld %8.1f\n", op ? "bwd" : "fwd", d ? "bf16" : "f32", (long long)cols,
                       best_call(op, t, cols, x, dy, w, y, rstd, dw) * 1e9 / ROWS);
            free(x), free(dy), free(y), free(w), free(rstd), free(dw);
        }
    }
    return 0;
}
