/* row_norms.c: applies each row norm to tensors of the sizes FLUX.1 and LLaMA use, forward and
 * backward, and prints what it did: the shape, the time (median of 5 warm runs), and two facts that
 * show the output is right (every row of a LayerNorm has mean 0 and variance 1 before its affine,
 * every row of an RMSNorm has mean square 1).
 *
 *   build/norma-example            (the README's main-job command runs it) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "norma.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fill_random(float *p, size_t n, float mean, float spread, unsigned *seed) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = mean + spread * ((float)(*seed >> 8) / 16777216.0f - 0.5f);
    }
}

static float *alloc(size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    memset(p, 0, n * sizeof *p); /* touch every page before timing */
    return p;
}

static void check(norma_status s) {
    if (s != NORMA_OK) {
        fprintf(stderr, "norma error: %s\n", norma_last_error());
        exit(1);
    }
}

/* The worst |mean| and |second moment - 1| over the rows of y (centred or not). */
static void row_facts(const float *y, long rows, long cols, int centred, double *worst_mean, double *worst_var) {
    *worst_mean = 0, *worst_var = 0;
    for (long r = 0; r < rows; r++) {
        double s = 0, q = 0;
        for (long j = 0; j < cols; j++) s += y[r * cols + j];
        double m = s / (double)cols;
        for (long j = 0; j < cols; j++) {
            double d = y[r * cols + j] - (centred ? m : 0.0);
            q += d * d;
        }
        if (fabs(m) > *worst_mean) *worst_mean = fabs(m);
        if (fabs(q / (double)cols - 1.0) > *worst_var) *worst_var = fabs(q / (double)cols - 1.0);
    }
}

typedef enum { LAYER, RMS, ADA } op_kind;

static double time_op(op_kind op, int backward, long rows, long cols, const float *x, float *y, float *dy,
                      float *dx, float *mean, float *rstd, float *dw, float *db, const float *mod) {
    double times[5];
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        switch (op) {
        case LAYER:
            check(backward ? norma_layer_norm_bwd(NORMA_F32, rows, cols, dy, x, NULL, mean, 1e-5f, dx, dw, db)
                           : norma_layer_norm_fwd(NORMA_F32, rows, cols, x, NULL, NULL, 1e-5f, y, mean, rstd));
            break;
        case RMS:
            check(backward ? norma_rms_norm_bwd(NORMA_F32, rows, cols, dy, x, NULL, 1e-6f, dx, dw)
                           : norma_rms_norm_fwd(NORMA_F32, rows, cols, x, NULL, 1e-6f, y, rstd));
            break;
        case ADA: /* one sample of `rows` tokens, FLUX's (shift, scale) chunks of a (1, 1, 6·dim) vector */
            check(backward ? norma_ada_layer_norm_bwd(NORMA_F32, NORMA_LAYER_NORM, 1, rows, cols, dy, x, mod + cols,
                                                      6 * cols, 0, mean, 1e-6f, dx, dw, db)
                           : norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, 1, rows, cols, x, mod,
                                                      mod + cols, 6 * cols, 0, 1e-6f, y, mean, rstd));
            break;
        }
        times[rep] = now() - t0;
    }
    for (int i = 1; i < 5; i++) /* median of 5 */
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double t = times[j];
            times[j] = times[j - 1], times[j - 1] = t;
        }
    return times[2];
}

int main(void) {
    struct {
        const char *what;
        op_kind op;
        long rows, cols;
    } cases[] = {
        {"LayerNorm, FLUX image tokens (4096 x 3072)", LAYER, 4096, 3072},
        {"RMSNorm, LLaMA hidden states (4096 x 4096)", RMS, 4096, 4096},
        {"RMSNorm, FLUX per-head QK norm (24*4096 x 128)", RMS, 24 * 4096, 128},
        {"AdaLN modulation, FLUX block (1 x 4096 x 3072)", ADA, 4096, 3072},
    };
    long max_elems = 4096L * 4096L;
    float *x = alloc(max_elems), *y = alloc(max_elems), *dy = alloc(max_elems), *dx = alloc(max_elems);
    float *mean = alloc(24 * 4096), *rstd = alloc(24 * 4096), *dw = alloc(4096), *db = alloc(6 * 4096);
    float *mod = alloc(6 * 4096);
    unsigned seed = 42;
    fill_random(x, max_elems, 3.0f, 4.0f, &seed);
    fill_random(dy, max_elems, 0.0f, 1.0f, &seed);
    fill_random(mod, 6 * 4096, 0.0f, 0.5f, &seed);

    printf("norma %s, kernels: %s, threads: %d\n\n", norma_version(), norma_kernels(), norma_get_num_threads());
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        long rows = cases[c].rows, cols = cases[c].cols;
        double bytes = 2.0 * (double)rows * (double)cols * sizeof(float);
        double tf = time_op(cases[c].op, 0, rows, cols, x, y, dy, dx, mean, rstd, dw, db, mod);
        double tb = time_op(cases[c].op, 1, rows, cols, x, y, dy, dx, mean, rstd, dw, db, mod);
        printf("%s\n", cases[c].what);
        printf("  forward  %8.3f ms  %6.1f GB/s    backward %8.3f ms  %6.1f GB/s\n", tf * 1e3, bytes / tf * 1e-9,
               tb * 1e3, 1.5 * bytes / tb * 1e-9);
        if (cases[c].op == ADA) { /* undo the modulation to see the normalized rows */
            for (long r = 0; r < rows; r++)
                for (long j = 0; j < cols; j++)
                    y[r * cols + j] = (y[r * cols + j] - mod[j]) / (1.0f + mod[cols + j]);
        }
        double wm, wv;
        row_facts(y, rows, cols, cases[c].op != RMS, &wm, &wv);
        printf("  rows of norm(x): worst |mean| %.1e, worst |%s - 1| %.1e\n\n", cases[c].op == RMS ? 0.0 : wm,
               cases[c].op == RMS ? "mean square" : "variance", wv);
    }
    free(x), free(y), free(dy), free(dx), free(mean), free(rstd), free(dw), free(db), free(mod);
    return 0;
}
