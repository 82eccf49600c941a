/* weight_norm.c: weight normalization, w = v·g/‖v‖ per slice along dim (torch._weight_norm).
 *
 * Slice r of v (outer, rows, inner) is the `outer` runs v[o, r, :]. With inner > 1 a task owns some
 * slices: ν² is the sum of its runs' Σv², in run order, and w is written run by run (apply with
 * rstd = g/ν, PyTorch's v·(g/ν)). With inner = 1 (dim is the last dimension) runs would be single
 * elements: the memory is then an (outer x rows) matrix whose column r is slice r, and a task owns a
 * strip of columns, reduced down the rows by the column primitives.
 *
 * Backward, with s = Σ dw·v over the slice and ν = ‖v_r‖:
 *   dg = s/ν,   dv = (g/ν)·dw - (g·dg/ν²)·v
 * from bwd_sums (Σ dw·v and Σ v² in one pass) and bwd_apply (kg = g/ν, kx = -g·dg/ν multiplying
 * x̂ = v/ν). Either way each slice's sums add their terms in a fixed order, whatever the threads. */
#include <math.h>
#include <string.h>

#include "kernels/convert.h"
#include "weight_view.h"

#define COLS 256                      /* columns per strip: its accumulators stay in L1 */
#define TASK_BYTES ((int64_t)1 << 17) /* bytes of v per task in the run layout */

typedef struct wn_job {
    const weight_view *w;
    const void *v, *dw;
    void *out; /* w (forward) or dv (backward; may be NULL) */
    const double *g;
    float *dg;
    double *tmp; /* column layout: 6·COLS doubles per task */
    int64_t slices_per_task;
    int stream;
} wn_job;

static bool column_layout(const weight_view *w) { return w->inner == 1; }

static int64_t num_tasks(wn_job *j) {
    const weight_view *w = j->w;
    if (column_layout(w)) return ceil_div(w->rows, COLS);
    j->slices_per_task = max_i64(1, TASK_BYTES / (w->outer * w->inner * (int64_t)w->es));
    return ceil_div(w->rows, j->slices_per_task);
}

static const char *at(const weight_view *w, const void *base, int64_t offset) {
    return (const char *)base + (size_t)offset * w->es;
}

/* The slices of task t: [*r0, *r1). */
static void task_slices(const wn_job *j, int64_t t, int64_t *r0, int64_t *r1) {
    *r0 = t * j->slices_per_task, *r1 = min_i64(j->w->rows, *r0 + j->slices_per_task);
}

/* What a pass over run (o, r) fetches of tensor `base`, `next` filled and returned, or NULL: in a tensor
 * too large for the caches, run (o, r + 1) of the task's next slice, which its first pass reads next (a
 * slice's runs are fetched in the order that pass takes them). The first pass then reads L2, and the
 * memory reads overlap the arithmetic, as for the row norms (row_norm.c, fetch_next): the forward's
 * second pass fetches v; the backward's first fetches dw and its second v, so that the memory is not
 * idle while the first works. */
static const void *const *next_slice(const wn_job *j, int64_t o, int64_t r, int64_t r1, const void *base,
                                     const void *next[2]) {
    if (!j->stream || r + 1 >= r1) return NULL;
    next[0] = weight_run(j->w, base, o, r + 1), next[1] = NULL;
    return next;
}

/* ----- forward -------------------------------------------------------------------------------- */

static void forward_runs(void *ctx, int64_t t) {
    const wn_job *j = ctx;
    const weight_view *w = j->w;
    int64_t r0, r1;
    task_slices(j, t, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        double ss = 0.0;
        for (int64_t o = 0; o < w->outer; o++) ss += w->k->sum_sq(w->dtype, w->inner, weight_run(w, j->v, o, r));
        norma_affine a = {.mean = 0.0, .rstd = j->g[r] / sqrt(ss), .g0 = 1.0, .stream = j->stream};
        const void *next[2];
        for (int64_t o = 0; o < w->outer; o++)
            w->k->apply(w->dtype, w->inner, weight_run(w, j->v, o, r), (void *)weight_run(w, j->out, o, r), &a,
                        next_slice(j, o, r, r1, j->v, next));
    }
}

static void forward_columns(void *ctx, int64_t t) {
    const wn_job *j = ctx;
    const weight_view *w = j->w;
    int64_t c0 = t * COLS, width = min_i64(COLS, w->rows - c0);
    double *ss = j->tmp + t * 6 * COLS, *scale = ss + COLS;
    memset(ss, 0, COLS * sizeof(double));
    w->k->col_dev(w->dtype, w->outer, width, w->rows, at(w, j->v, c0), NULL, NULL, ss); /* Σv² alone */
    for (int64_t c = 0; c < width; c++) scale[c] = j->g[c0 + c] / sqrt(ss[c]);
    w->k->col_apply(w->dtype, w->outer, width, w->rows, at(w, j->v, c0), (void *)at(w, j->out, c0), NULL, scale,
                    NULL, NULL, NULL, 0, j->stream);
}

/* ----- backward ------------------------------------------------------------------------------- */

static void backward_runs(void *ctx, int64_t t) {
    const wn_job *j = ctx;
    const weight_view *w = j->w;
    norma_affine unit = {.g0 = 1.0, .stream = j->stream}; /* dv past the caches if too large for them */
    int64_t r0, r1;
    task_slices(j, t, &r0, &r1);
    const void *next[2];
    for (int64_t r = r0; r < r1; r++) {
        double s = 0.0, ss = 0.0, part[4]; /* Σ dw·v, Σ v² */
        for (int64_t o = 0; o < w->outer; o++) {
            w->k->bwd_sums(w->dtype, w->inner, weight_run(w, j->dw, o, r), weight_run(w, j->v, o, r), &unit, 0.0,
                           0, part, next_slice(j, o, r, r1, j->dw, next));
            s += part[1], ss += part[3];
        }
        double nu = sqrt(ss), dg = s / nu;
        if (j->dg) j->dg[r] = (float)dg;
        if (!j->out) continue;
        norma_bwd_coef c = {.centre = 0.0, .kg = j->g[r] / nu, .kx = -j->g[r] * dg / nu, .k0 = 0.0};
        for (int64_t o = 0; o < w->outer; o++)
            w->k->bwd_apply(w->dtype, w->inner, weight_run(w, j->dw, o, r), weight_run(w, j->v, o, r),
                            (void *)weight_run(w, j->out, o, r), &unit, &c, 1.0 / nu, NULL, NULL,
                            next_slice(j, o, r, r1, j->v, next));
    }
}

static void backward_columns(void *ctx, int64_t t) {
    const wn_job *j = ctx;
    const weight_view *w = j->w;
    int64_t c0 = t * COLS, width = min_i64(COLS, w->rows - c0);
    double *base = j->tmp + t * 6 * COLS, *sums[4], *kg = base + 4 * COLS, *kx = kg + COLS;
    for (int q = 0; q < 4; q++) sums[q] = q % 2 ? base + q * COLS : NULL; /* Σ dw·v and Σv² alone */
    memset(base, 0, 4 * COLS * sizeof(double));
    const char *dw = at(w, j->dw, c0), *v = at(w, j->v, c0);
    w->k->col_bwd_sums(w->dtype, w->outer, width, w->rows, dw, v, NULL, NULL, NULL, sums);
    for (int64_t c = 0; c < width; c++) {
        double nu = sqrt(sums[3][c]), dg = sums[1][c] / nu, g = j->g[c0 + c];
        if (j->dg) j->dg[c0 + c] = (float)dg;
        kg[c] = g / nu, kx[c] = -g * dg / (nu * nu); /* multiplies v itself (no rstd vector) */
    }
    if (j->out)
        w->k->col_bwd_apply(w->dtype, w->outer, width, w->rows, dw, v, (void *)at(w, j->out, c0), NULL, NULL, kg, kx,
                            NULL, NULL, NULL, NULL, j->stream);
}

/* ----- entry points --------------------------------------------------------------------------- */

/* Runs the forward or backward over every task, with g as doubles and the strips' scratch. */
static norma_status run(const char *fn, wn_job *j, const void *g, norma_task_fn runs, norma_task_fn columns,
                        int passes) {
    const weight_view *w = j->w;
    int64_t tasks = num_tasks(j);
    norma_arena a;
    TRY(norma_arena_init(&a, fn, w->rows + (column_layout(w) ? tasks * 6 * COLS : 0)));
    double *gd = norma_alloc(&a, w->rows);
    for (int64_t r = 0; r < w->rows; r++) gd[r] = load_elem(w->dtype, g, r);
    j->g = gd, j->tmp = a.next;
    j->stream = w->numel * (int64_t)w->es >= NORMA_STREAM_BYTES;
    bool serial = w->numel * (int64_t)w->es * passes < NORMA_SERIAL_BYTES;
    norma_parallel_for(tasks, serial, column_layout(w) ? columns : runs, j);
    return NORMA_OK;
}

norma_status norma_weight_norm_fwd(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner, const void *v,
                                   const void *g, void *w) {
    static const char fn[] = "norma_weight_norm_fwd";
    weight_view view;
    TRY(weight_view_make(fn, dtype, outer, rows, inner, &view));
    TRY(norma_check_ptr(fn, "v", v));
    TRY(norma_check_ptr(fn, "g", g));
    TRY(norma_check_ptr(fn, "w", w));
    wn_job j = {.w = &view, .v = v, .out = w};
    return run(fn, &j, g, forward_runs, forward_columns, 2);
}

norma_status norma_weight_norm_bwd(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner, const void *dw,
                                   const void *v, const void *g, void *dv, float *dg) {
    static const char fn[] = "norma_weight_norm_bwd";
    weight_view view;
    TRY(weight_view_make(fn, dtype, outer, rows, inner, &view));
    TRY(norma_check_ptr(fn, "dw", dw));
    TRY(norma_check_ptr(fn, "v", v));
    TRY(norma_check_ptr(fn, "g", g));
    if (!dv && !dg) return NORMA_OK;
    wn_job j = {.w = &view, .v = v, .dw = dw, .out = dv, .dg = dg};
    return run(fn, &j, g, backward_runs, backward_columns, 3);
}
