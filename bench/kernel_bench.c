/* norma-kernel-bench: the cost of each primitive of the reduction core (src/kernels) on one cached row,
 * in nanoseconds (and, with --ghz, cycles) per 16-element step, one thread.
 *
 *   build/norma-kernel-bench [--variant NAME] [--n N] [--ghz F]
 *
 * norma-bench times whole ops against memory bandwidth, where a machine shared with other tenants
 * swings by +-20%; this times the compute alone (the row stays in L1, best of 15 trials), steady to a
 * few percent, so a change to a kernel can be judged by the operations it saves. On the development
 * machine (Zen 4) a 512-bit operation costs about a cycle whatever it is (a float<->double conversion
 * included): count them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"

#define TRIALS 15

static double now(void) {
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct {
    const norma_kernel_table *k;
    norma_dtype t;
    int64_t n;
    void *x, *dy, *y, *dx;      /* n elements of the dtype */
    void *gain_c, *bias_c;      /* n compute-type elements (ready-made vectors) */
    void *acc_g, *acc_b;        /* n compute-type accumulators */
    double *sums;               /* n doubles (acc_flush's target) */
    int64_t cols;               /* the column cases: the row as COL_ROWS rows of `cols` channels */
    double *cm, *ca, *cb;       /* per-column centre, scale, shift */
    double *csum[4];            /* per-column sums */
} bench_row;

#define COL_ROWS 16 /* one tile of a channels-last reduction */

typedef void (*primitive)(const bench_row *b);

static void moments(const bench_row *b) {
    double mean, m2;
    b->k->moments(b->t, b->n, b->x, &mean, &m2, NULL);
}
static void sum_sq(const bench_row *b) { (void)b->k->sum_sq(b->t, b->n, b->x); }
static norma_affine layer_affine(const bench_row *b) {
    return (norma_affine){.mean = 0.01, .rstd = 1.7, .gain = b->x, .bias = b->x, .gain_c = b->gain_c, .bias_c = b->bias_c};
}
static norma_affine rms_affine(const bench_row *b) { return (norma_affine){.rstd = 1.7, .gain = b->x, .gain_c = b->gain_c}; }
static void apply_layer(const bench_row *b) {
    norma_affine a = layer_affine(b);
    b->k->apply(b->t, b->n, b->x, b->y, &a, NULL);
}
static void apply_rms(const bench_row *b) {
    norma_affine a = rms_affine(b);
    b->k->apply(b->t, b->n, b->x, b->y, &a, NULL);
}
static void apply_rms_raw(const bench_row *b) { /* one row of LLM decoding: the weight as stored */
    norma_affine a = {.rstd = 1.7, .gain = b->dy};
    b->k->apply(b->t, b->n, b->x, b->y, &a, NULL);
}
static void bwd_sums_layer(const bench_row *b) {
    norma_affine a = layer_affine(b);
    double s[4];
    b->k->bwd_sums(b->t, b->n, b->dy, b->x, &a, (double)0.01f, 1, s, NULL); /* the saved mean: a float */
}
static void bwd_sums_rms(const bench_row *b) {
    norma_affine a = rms_affine(b);
    double s[4];
    b->k->bwd_sums(b->t, b->n, b->dy, b->x, &a, 0.0, 0, s, NULL);
}
static void apply_plane(const bench_row *b) { /* scalar gain and bias: a GroupNorm plane */
    norma_affine a = {.mean = 0.1, .rstd = 1.7, .g0 = 0.9, .b0 = 0.2};
    b->k->apply(b->t, b->n, b->x, b->y, &a, NULL);
}
static void apply_plane_silu(const bench_row *b) { /* the same with a SiLU */
    norma_affine a = {.mean = 0.1, .rstd = 1.7, .g0 = 0.9, .b0 = 0.2, .act = 1};
    b->k->apply(b->t, b->n, b->x, b->y, &a, NULL);
}
static void bwd_sums_plane(const bench_row *b) { /* scalar gain, a double centre: a GroupNorm plane */
    norma_affine a = {.g0 = 1.0};
    double s[4];
    b->k->bwd_sums(b->t, b->n, b->dy, b->x, &a, 0.1, 1, s, NULL);
}
static void bwd_sums_plane_silu(const bench_row *b) { /* the same through a SiLU */
    norma_affine a = {.g0 = 1.0, .mean = 0.1, .rstd = 1.7, .b0 = 0.2, .act = 1};
    double s[4];
    b->k->bwd_sums(b->t, b->n, b->dy, b->x, &a, 0.1, 1, s, NULL);
}
static void bwd_apply_layer(const bench_row *b) {
    norma_affine a = layer_affine(b);
    norma_bwd_coef c = {.centre = 0.01, .kg = 1.7, .kx = -0.1, .k0 = 0.01};
    b->k->bwd_apply(b->t, b->n, b->dy, b->x, b->dx, &a, &c, 1.7, b->acc_g, b->acc_b, NULL);
}
static void bwd_apply_rms(const bench_row *b) {
    norma_affine a = rms_affine(b);
    norma_bwd_coef c = {.kg = 1.7, .kx = -0.1};
    b->k->bwd_apply(b->t, b->n, b->dy, b->x, b->dx, &a, &c, 1.7, b->acc_g, NULL, NULL);
}
/* The row's two halves as two rows of one pair (the same elements as one bwd_apply of the row). */
static void bwd_apply_pair(const bench_row *b, const norma_affine *a, const norma_bwd_coef *c, void *acc_b) {
    size_t half = (size_t)(b->n / 2) * norma_dtype_size(b->t);
    const void *dy[2] = {b->dy, (const char *)b->dy + half}, *x[2] = {b->x, (const char *)b->x + half};
    void *dx[2] = {b->dx, (char *)b->dx + half};
    const norma_affine *as[2] = {a, a};
    const norma_bwd_coef *cs[2] = {c, c};
    double rstd[2] = {1.7, 1.7};
    b->k->bwd_apply_pair(b->t, b->n / 2, dy, x, dx, as, cs, rstd, b->acc_g, acc_b, NULL);
}
static void bwd_apply_layer_pair(const bench_row *b) {
    norma_affine a = layer_affine(b);
    norma_bwd_coef c = {.centre = 0.01, .kg = 1.7, .kx = -0.1, .k0 = 0.01};
    bwd_apply_pair(b, &a, &c, b->acc_b);
}
static void bwd_apply_rms_pair(const bench_row *b) {
    norma_affine a = rms_affine(b);
    norma_bwd_coef c = {.kg = 1.7, .kx = -0.1};
    bwd_apply_pair(b, &a, &c, NULL);
}
static void bwd_apply_plane(const bench_row *b) { /* dx alone, scalar coefficients: a GroupNorm plane */
    norma_affine a = {.g0 = 1.0};
    norma_bwd_coef c = {.centre = 0.1, .kg = 1.7, .kx = -0.1, .k0 = 0.01};
    b->k->bwd_apply(b->t, b->n, b->dy, b->x, b->dx, &a, &c, 1.7, NULL, NULL, NULL);
}
/* Channels-last blocks (GroupNorm, BatchNorm, channel RMSNorm over NHWC): the same bytes as rows of
 * channels. */
static void col_dev(const bench_row *b) {
    b->k->col_dev(b->t, COL_ROWS, b->cols, b->cols, b->x, b->cm, b->csum[0], b->csum[1]);
}
static void col_apply(const bench_row *b) {
    b->k->col_apply(b->t, COL_ROWS, b->cols, b->cols, b->x, b->y, b->cm, b->ca, b->cb, NULL, NULL, 0, 0);
}
static void col_bwd_sums(const bench_row *b) {
    double *sums[4] = {b->csum[0], b->csum[1], b->csum[2], b->csum[3]};
    b->k->col_bwd_sums(b->t, COL_ROWS, b->cols, b->cols, b->dy, b->x, b->cm, NULL, NULL, sums);
}
static void col_bwd_apply(const bench_row *b) {
    b->k->col_bwd_apply(b->t, COL_ROWS, b->cols, b->cols, b->dy, b->x, b->dx, b->cm, b->ca, b->ca, b->cb, b->cb,
                        NULL, NULL, NULL, 0);
}
static void acc_flush(const bench_row *b) {
    if (b->t != NORMA_F32) b->k->acc_flush(b->n, b->acc_g, b->sums);
}

static const struct {
    const char *name;
    primitive run;
} cases[] = {
    {"moments", moments},
    {"sum_sq", sum_sq},
    {"apply LayerNorm (gain, bias)", apply_layer},
    {"apply RMSNorm (gain)", apply_rms},
    {"apply RMSNorm (gain as stored)", apply_rms_raw},
    {"bwd_sums LayerNorm", bwd_sums_layer},
    {"bwd_sums RMSNorm", bwd_sums_rms},
    {"bwd_apply LayerNorm (dx, dw, db)", bwd_apply_layer},
    {"bwd_apply RMSNorm (dx, dw)", bwd_apply_rms},
    {"bwd_apply_pair LayerNorm (2 half rows)", bwd_apply_layer_pair},
    {"bwd_apply_pair RMSNorm (2 half rows)", bwd_apply_rms_pair},
    {"apply plane", apply_plane},
    {"apply plane + SiLU", apply_plane_silu},
    {"bwd_sums plane", bwd_sums_plane},
    {"bwd_sums plane + SiLU", bwd_sums_plane_silu},
    {"bwd_apply plane (dx)", bwd_apply_plane},
    {"acc_flush (16-bit data)", acc_flush},
    {"col_dev (channels-last moments)", col_dev},
    {"col_apply (channels-last)", col_apply},
    {"col_bwd_sums (channels-last)", col_bwd_sums},
    {"col_bwd_apply (channels-last)", col_bwd_apply},
};

/* Best of TRIALS of enough calls to take ~2 ms: seconds per call. */
static double time_call(primitive run, const bench_row *b) {
    int calls = (int)(1 + 2e6 / (double)b->n);
    double best = 1e30;
    for (int trial = 0; trial < TRIALS; trial++) {
        double t0 = now();
        for (int c = 0; c < calls; c++) run(b);
        double t = (now() - t0) / calls;
        if (t < best) best = t;
    }
    return best;
}

/* Page-aligned, as large tensors are: buffers a few lines apart modulo 4 KiB would stall loads behind
 * stores to the same low address bits (4K aliasing), which real tensors do not show. */
static void *filled(size_t bytes, double scale) {
    float *p = aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
    if (!p) exit(1);
    for (size_t i = 0; i < bytes / sizeof(float); i++) p[i] = (float)(scale * ((double)((i * 7919) % 1000) / 500.0 - 1.0));
    return p;
}

static double *filled_doubles(size_t count, double value) {
    double *p = aligned_alloc(4096, (count * sizeof(double) + 4095) / 4096 * 4096);
    if (!p) exit(1);
    for (size_t i = 0; i < count; i++) p[i] = value;
    return p;
}

int main(int argc, char **argv) {
    const char *variant = NULL;
    int64_t n = 3072;
    double ghz = 0.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--variant") && i + 1 < argc) variant = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--ghz") && i + 1 < argc) ghz = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--variant NAME] [--n N] [--ghz F]\n", argv[0]);
            return 2;
        }
    }
    const norma_kernel_table *k = variant ? norma_kernel_by_name(variant) : norma_kernel();
    if (!k || n < 1) {
        fprintf(stderr, "%s: no kernel variant '%s' on this CPU, or n < 1\n", argv[0], variant ? variant : "");
        return 2;
    }
    printf("kernels %s, one cached row of %lld elements, best of %d; per 16-element step\n", k->name, (long long)n, TRIALS);
    printf("%-34s %-5s %9s %s\n", "primitive", "dtype", "ns", ghz > 0 ? "   cycles" : "");
    const norma_dtype dtypes[] = {NORMA_F32, NORMA_BF16};
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        norma_dtype t = dtypes[d];
        size_t bytes = (size_t)n * 8; /* large enough for any dtype and the compute type */
        bench_row b = {.k = k, .t = t, .n = n, .x = filled(bytes, 1.0), .dy = filled(bytes, 0.5), .y = filled(bytes, 0),
                       .dx = filled(bytes, 0), .acc_g = filled(bytes, 0), .acc_b = filled(bytes, 0),
                       .sums = filled(bytes, 0)};
        float *x32 = filled(bytes, 1.0), *dy32 = filled(bytes, 0.5);
        k->convert(NORMA_F32, t, n, x32, b.x), k->convert(NORMA_F32, t, n, dy32, b.dy);
        b.gain_c = filled(bytes, 0), b.bias_c = filled(bytes, 0);
        b.cols = n / COL_ROWS / 16 * 16;
        b.cm = filled_doubles((size_t)n, 0.1), b.ca = filled_doubles((size_t)n, 1.7), b.cb = filled_doubles((size_t)n, 0.5);
        for (int q = 0; q < 4; q++) b.csum[q] = filled_doubles((size_t)n, 0.0);
        k->prepare(t, n, 1.0, b.dy, b.gain_c), k->prepare(t, n, 0.0, b.x, b.bias_c);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            if ((cases[c].run == acc_flush && t == NORMA_F32) || (strncmp(cases[c].name, "col_", 4) == 0 && b.cols == 0)) continue;
            double ns = time_call(cases[c].run, &b) * 1e9 / ((double)n / 16.0);
            printf("%-34s %-5s %9.2f", cases[c].name, t == NORMA_F32 ? "f32" : "bf16", ns);
            if (ghz > 0) printf(" %8.2f", ns * ghz);
            printf("\n");
        }
        void *all[] = {b.x,      b.dy,  b.y,   b.dx,  b.acc_g,   b.acc_b,   b.sums,    x32,       dy32,
                       b.gain_c, b.cm,  b.ca,  b.cb,  b.csum[0], b.csum[1], b.csum[2], b.csum[3], b.bias_c};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    }
    return 0;
}
