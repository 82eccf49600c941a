/* channel_engine.c: cells, sets and the apply passes shared by every channel norm (see the header). */
#include <math.h>
#include <string.h>

#include "channel_engine.h"
#include "kernels/convert.h"

#define TASK_ELEMS ((int64_t)1 << 18) /* elements per task (1 MiB of f32) */

chan_shape chan_make_shape(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial) {
    chan_shape sh = {.k = norma_kernel_for(dtype), .dtype = dtype, .es = norma_dtype_size(dtype),
                     .last = layout == NORMA_CHANNELS_LAST || spatial == 1, .N = n, .C = c, .S = spatial};
    sh.block = sh.last ? max_i64(1, TASK_ELEMS / c) : max_i64(1, min_i64(spatial, TASK_ELEMS));
    sh.K = ceil_div(spatial, sh.block);
    sh.cpt = sh.last ? c : max_i64(1, min_i64(c, TASK_ELEMS / sh.block));
    int64_t bytes = n * c * spatial * (int64_t)sh.es;
    sh.stream_y = norma_streams_output(bytes, true), sh.stream_dx = norma_streams_output(bytes, false);
    return sh;
}

norma_status chan_check_shape(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                              int64_t spatial) {
    TRY(norma_check_dtype(fn, dtype));
    if (layout != NORMA_CHANNELS_FIRST && layout != NORMA_CHANNELS_LAST)
        return norma_fail(NORMA_EUNSUPPORTED, fn,
                          "unknown layout %d (expected NORMA_CHANNELS_FIRST or NORMA_CHANNELS_LAST)", (int)layout);
    TRY(norma_check_count(fn, "n", n, 0));
    TRY(norma_check_count(fn, "c", c, 1));
    TRY(norma_check_count(fn, "spatial", spatial, 0));
    int64_t numel, sizes[3] = {n, c, spatial};
    const char *const names[3] = {"n", "c", "spatial"};
    return norma_check_numel(fn, &numel, 3, sizes, names);
}

static int64_t block_len(const chan_shape *sh, int64_t k) { return min_i64(sh->block, sh->S - k * sh->block); }
static int64_t cell(const chan_shape *sh, int64_t n, int64_t k, int64_t c) { return (n * sh->K + k) * sh->C + c; }
int64_t chan_num_cells(const chan_shape *sh) { return sh->N * sh->K * sh->C; }
static int64_t num_tasks(const chan_shape *sh) { return sh->N * sh->K * ceil_div(sh->C, sh->cpt); }
static bool serial(const chan_shape *sh, int streams) {
    return sh->N * sh->C * sh->S * (int64_t)sh->es * streams < NORMA_SERIAL_BYTES;
}

/* A task: sample n, spatial block k, channels [c0, c1) (all channels, channels-last). */
typedef struct {
    int64_t n, k, c0, c1;
} chan_task;

static chan_task task_of(const chan_shape *sh, int64_t t) {
    int64_t blocks = ceil_div(sh->C, sh->cpt), cb = t % blocks;
    t /= blocks;
    chan_task r = {.n = t / sh->K, .k = t % sh->K, .c0 = cb * sh->cpt};
    r.c1 = min_i64(sh->C, r.c0 + sh->cpt);
    return r;
}

/* Channels-first: the index of the run of cell (n, k, c). Channels-last: of the first row of block (n, k). */
static int64_t cf_index(const chan_shape *sh, int64_t n, int64_t c, int64_t k) {
    return (n * sh->C + c) * sh->S + k * sh->block;
}
static int64_t cl_index(const chan_shape *sh, int64_t n, int64_t k) { return (n * sh->S + k * sh->block) * sh->C; }
/* Where a kept dz holds x's element i (see chan_act) */
static float *dz_at(const chan_act *act, int64_t i) { return act->dz + (i - act->dz_origin); }

/* Channels-first: the run of cell (n, k, c). Channels-last: the first row of block (n, k). */
static const void *cf_run(const chan_shape *sh, const void *base, int64_t n, int64_t c, int64_t k) {
    return (const char *)base + (size_t)cf_index(sh, n, c, k) * sh->es;
}
static const void *cl_rows(const chan_shape *sh, const void *base, int64_t n, int64_t k) {
    return (const char *)base + (size_t)cl_index(sh, n, k) * sh->es;
}

/* ----- sets ----------------------------------------------------------------------------------- */

int64_t chan_num_sets(const chan_shape *sh, chan_sets sets) {
    return sets.per_channel ? sh->C : sh->N * (sh->C / sets.cpg);
}

chan_rect chan_set_rect(const chan_shape *sh, chan_sets sets, int64_t set) {
    if (sets.per_channel) return (chan_rect){0, sh->N, set, set + 1};
    int64_t groups = sh->C / sets.cpg, n = set / groups, g = set % groups;
    return (chan_rect){n, n + 1, g * sets.cpg, (g + 1) * sets.cpg};
}

int64_t chan_set_of(const chan_shape *sh, chan_sets sets, int64_t n, int64_t c) {
    return sets.per_channel ? c : n * (sh->C / sets.cpg) + c / sets.cpg;
}

/* ----- forward: moments per cell, merged per set ----------------------------------------------- */

typedef struct {
    const chan_shape *sh;
    const void *x;
    double *mean, *m2; /* per cell, written */
    double *tmp;       /* channels-last: 3·C doubles per task */
} moments_job;

typedef struct {
    const chan_shape *sh;
    const double *mean, *m2; /* per cell, read */
    chan_sets sets;
    double *set_count, *set_mean, *set_m2;
} merge_job;

/* Channels-last block (n, k): per-column moments of its rows in one pass, centred on the block's first
 * row x0: with d = x - x0, mean = x0 + Σd/r and M2 = Σd² - (Σd)²/r. The subtraction costs
 * log2(1 + (x0 - mean)²/var) bits: nothing in double, but too much for the float path when x0 is an
 * outlier, so where some column's x0 lies more than 8 standard deviations from its mean (6 bits lost),
 * the block is summed once more around the means just found. */
static void cl_block_moments(const moments_job *j, int64_t n, int64_t k, double *tmp) {
    const chan_shape *sh = j->sh;
    int64_t C = sh->C, rows = block_len(sh, k);
    const void *x = cl_rows(sh, j->x, n, k);
    double *mean = j->mean + cell(sh, n, k, 0), *m2 = j->m2 + cell(sh, n, k, 0);
    double *centre = tmp, *sd = tmp + C, *sdd = tmp + 2 * C;
    for (int64_t c = 0; c < C; c++) centre[c] = (double)load_elem(sh->dtype, x, c);
    for (int pass = 0; pass < 2; pass++) {
        sh->k->col_dev(sh->dtype, rows, C, C, x, centre, sd, sdd);
        bool outlier = false;
        for (int64_t c = 0; c < C; c++) {
            double delta = sd[c] / (double)rows, q = sdd[c] - sd[c] * delta;
            mean[c] = centre[c] + delta, m2[c] = q < 0.0 ? 0.0 : q;
            outlier = outlier || sd[c] * delta > 64.0 * m2[c];
        }
        if (!outlier) break;
        memcpy(centre, mean, (size_t)C * sizeof(double));
    }
}

/* The run of base that cell (n, k, c) of a pass over channels [.., c1) fetches as f says; NULL: none
 * (f NULL or off, or the set's next plane past its channels). */
static const void *fetched(const chan_shape *sh, const void *base, const chan_fetch *f, int64_t n, int64_t k, int64_t c,
                           int64_t c1) {
    if (!f || !f->on || (f->in_set && c + f->dc >= c1)) return NULL;
    return cf_run(sh, base, n + f->dn, c + f->dc, k);
}

/* Channels-first: the moments of cells (n, k, c) for c in [c0, c1); fetching as `fetch` says (NULL: none). */
static void cf_moments(const chan_shape *sh, const void *x, int64_t n, int64_t k, int64_t c0, int64_t c1,
                       const chan_fetch *fetch, double *mean, double *m2) {
    for (int64_t c = c0; c < c1; c++) {
        int64_t i = cell(sh, n, k, c);
        const void *next = fetched(sh, x, fetch, n, k, c, c1);
        sh->k->moments(sh->dtype, block_len(sh, k), cf_run(sh, x, n, c, k), &mean[i], &m2[i], next);
    }
}

static void moments_task(void *ctx, int64_t t) {
    const moments_job *j = ctx;
    const chan_shape *sh = j->sh;
    chan_task tk = task_of(sh, t);
    if (sh->last) cl_block_moments(j, tk.n, tk.k, j->tmp + t * 3 * sh->C);
    else cf_moments(sh, j->x, tk.n, tk.k, tk.c0, tk.c1, NULL, j->mean, j->m2);
}

/* Two passes over the set's cells (n_i elements, mean_i, M2_i): the mean Σ n_i·mean_i / Σ n_i, then
 * M2 = Σ (M2_i + n_i·(mean_i - mean)²), every deviation taken from the final mean (as stable as
 * merging one cell at a time with Chan's formula, without its two divisions per cell in a chain). */
void chan_merge_set(const chan_shape *sh, chan_sets sets, const double *cell_mean, const double *cell_m2, int64_t s,
                    double *count, double *mean, double *m2) {
    chan_rect r = chan_set_rect(sh, sets, s);
    double n_all = 0.0, sum = 0.0, q = 0.0;
    for (int64_t n = r.n0; n < r.n1; n++)
        for (int64_t c = r.c0; c < r.c1; c++)
            for (int64_t k = 0; k < sh->K; k++) {
                double len = (double)block_len(sh, k);
                n_all += len, sum += len * cell_mean[cell(sh, n, k, c)];
            }
    double mu = n_all > 0.0 ? sum / n_all : 0.0;
    for (int64_t n = r.n0; n < r.n1; n++)
        for (int64_t c = r.c0; c < r.c1; c++)
            for (int64_t k = 0; k < sh->K; k++) {
                int64_t i = cell(sh, n, k, c);
                double d = cell_mean[i] - mu;
                q += cell_m2[i] + (double)block_len(sh, k) * d * d;
            }
    *count = n_all, *mean = mu, *m2 = q;
}

static void merge_task(void *ctx, int64_t s) {
    const merge_job *j = ctx;
    chan_merge_set(j->sh, j->sets, j->mean, j->m2, s, &j->set_count[s], &j->set_mean[s], &j->set_m2[s]);
}

int64_t chan_moments_scratch(const chan_shape *sh) {
    return 2 * sh->N * sh->K * sh->C + (sh->last ? 3 * sh->C * num_tasks(sh) : 0);
}

void chan_cell_moments(const chan_shape *sh, const void *x, norma_arena *a, double *cell_mean, double *cell_m2) {
    moments_job j = {.sh = sh, .x = x, .mean = cell_mean, .m2 = cell_m2};
    j.tmp = sh->last ? norma_alloc(a, 3 * sh->C * num_tasks(sh)) : NULL;
    norma_parallel_for(num_tasks(sh), serial(sh, 1), moments_task, &j);
}

void chan_merge_cells(const chan_shape *sh, chan_sets sets, const double *cell_mean, const double *cell_m2,
                      double *count, double *mean, double *m2) {
    merge_job j = {.sh = sh, .mean = cell_mean, .m2 = cell_m2, .sets = sets, .set_count = count, .set_mean = mean,
                   .set_m2 = m2};
    norma_parallel_for(chan_num_sets(sh, sets), serial(sh, 1), merge_task, &j);
}

void chan_set_moments(const chan_shape *sh, chan_sets sets, const void *x, norma_arena *a, double *count,
                      double *mean, double *m2) {
    int64_t cells = chan_num_cells(sh);
    double *cell_mean = norma_alloc(a, cells), *cell_m2 = norma_alloc(a, cells);
    chan_cell_moments(sh, x, a, cell_mean, cell_m2);
    chan_merge_cells(sh, sets, cell_mean, cell_m2, count, mean, m2);
}

/* ----- forward: apply ------------------------------------------------------------------------- */

typedef struct {
    const chan_shape *sh;
    const void *x, *dy;
    void *y;
    const double *m, *a, *b, *k0, *rs; /* forward: m, a, b; backward: m = centre, a = kg, b = kx, k0, rs = rstd */
    int64_t stride;
    bool silu;           /* forward */
    const chan_act *act; /* backward */
    chan_fetch fetch;    /* set by set: what cell (n, c) fetches of the next set */
} apply_job;

/* The SiLU input's coefficients of sample n: per column (channels-last; dz: the block's rows), per cell
 * (channels-first; dz: the cell's run). */
static norma_col_act col_act(const chan_act *act, int64_t o, void *dz) {
    return (norma_col_act){.m = act->m + o, .a = act->a + o, .b = act->b + o, .dz = dz};
}
static norma_affine cell_affine(const chan_act *act, int64_t i, void *dz, int stream) {
    norma_affine a = norma_affine_zero; /* see its definition: no compound literal per cell */
    a.g0 = 1.0, a.stream = stream;
    if (act) a.mean = act->m[i], a.rstd = act->a[i], a.b0 = act->b[i], a.act = 1, a.act_dz = dz;
    return a;
}

/* Channels-first: the apply of cells (n, k, c) for c in [c0, c1). */
static void cf_apply(const apply_job *j, int64_t n, int64_t k, int64_t c0, int64_t c1) {
    const chan_shape *sh = j->sh;
    int64_t o = n * j->stride;
    for (int64_t c = c0; c < c1; c++) {
        norma_affine aff = norma_affine_zero;
        aff.mean = j->m[o + c], aff.rstd = j->a[o + c], aff.g0 = 1.0, aff.b0 = j->b[o + c], aff.act = j->silu;
        aff.stream = sh->stream_y;
        const void *next[2] = {fetched(sh, j->x, &j->fetch, n, k, c, c1), NULL}; /* set by set */
        sh->k->apply(sh->dtype, block_len(sh, k), cf_run(sh, j->x, n, c, k), (void *)cf_run(sh, j->y, n, c, k), &aff,
                     next[0] ? next : NULL);
    }
}

static void apply_task(void *ctx, int64_t t) {
    const apply_job *j = ctx;
    const chan_shape *sh = j->sh;
    chan_task tk = task_of(sh, t);
    int64_t o = tk.n * j->stride;
    if (sh->last)
        sh->k->col_apply(sh->dtype, block_len(sh, tk.k), sh->C, sh->C, cl_rows(sh, j->x, tk.n, tk.k),
                         (void *)cl_rows(sh, j->y, tk.n, tk.k), j->m + o, j->a + o, j->b + o, NULL, NULL, j->silu,
                         sh->stream_y);
    else cf_apply(j, tk.n, tk.k, tk.c0, tk.c1);
}

void chan_apply(const chan_shape *sh, const void *x, void *y, const double *m, const double *a, const double *b,
                int64_t stride, bool silu) {
    apply_job j = {.sh = sh, .x = x, .y = y, .m = m, .a = a, .b = b, .stride = stride, .silu = silu};
    norma_parallel_for(num_tasks(sh), serial(sh, 2), apply_task, &j);
}

/* ----- backward ------------------------------------------------------------------------------- */

typedef struct {
    const chan_shape *sh;
    const void *dy, *x;
    const double *centre;
    int64_t stride;
    const chan_act *act;
    double *cells[4]; /* per cell */
    double *t[4];     /* per (n, c) */
} bwd_job;

/* Channels-first: the sums of cells (n, k, c) for c in [c0, c1), into out[q][cell(n, k, c)]; fetching the
 * next set's dy (and x) as `fetch` says (NULL: none). */
static void cf_bwd_sums(const chan_shape *sh, const void *dy, const void *x, const double *centre, int64_t stride,
                        const chan_act *act, int64_t n, int64_t k, int64_t c0, int64_t c1, const chan_fetch *fetch,
                        double *const out[4]) {
    for (int64_t c = c0; c < c1; c++) {
        double s[4];
        void *dz = act && act->dz ? dz_at(act, cf_index(sh, n, c, k)) : NULL;
        norma_affine unit = cell_affine(act, n * stride + c, dz, 0);
        const void *next[2] = {fetched(sh, dy, fetch, n, k, c, c1),
                               fetch && fetch->both ? fetched(sh, x, fetch, n, k, c, c1) : NULL};
        sh->k->bwd_sums(sh->dtype, block_len(sh, k), cf_run(sh, dy, n, c, k), cf_run(sh, x, n, c, k), &unit,
                        centre[n * stride + c], 1, s, next[0] ? next : NULL);
        int64_t i = cell(sh, n, k, c);
        for (int q = 0; q < 4; q++) out[q][i] = s[q];
    }
}

static void bwd_cells_task(void *ctx, int64_t t) {
    const bwd_job *j = ctx;
    const chan_shape *sh = j->sh;
    chan_task tk = task_of(sh, t);
    const double *centre = j->centre + tk.n * j->stride;
    if (sh->last) {
        int64_t i = cell(sh, tk.n, tk.k, 0);
        double *sums[4] = {j->cells[0] + i, j->cells[1] + i, j->cells[2] + i, j->cells[3] + i};
        void *dz = j->act && j->act->dz ? dz_at(j->act, cl_index(sh, tk.n, tk.k)) : NULL;
        norma_col_act ca = j->act ? col_act(j->act, tk.n * j->stride, dz) : (norma_col_act){0};
        sh->k->col_bwd_sums(sh->dtype, block_len(sh, tk.k), sh->C, sh->C, cl_rows(sh, j->dy, tk.n, tk.k),
                            cl_rows(sh, j->x, tk.n, tk.k), centre, NULL, j->act ? &ca : NULL, sums);
        return;
    }
    cf_bwd_sums(sh, j->dy, j->x, j->centre, j->stride, j->act, tk.n, tk.k, tk.c0, tk.c1, NULL, j->cells);
}

/* (n, c): the sums of its cells, in block order. */
static void bwd_total_task(void *ctx, int64_t nc) {
    const bwd_job *j = ctx;
    const chan_shape *sh = j->sh;
    int64_t n = nc / sh->C, c = nc % sh->C;
    for (int q = 0; q < 4; q++) {
        double s = 0.0;
        for (int64_t k = 0; k < sh->K; k++) s += j->cells[q][cell(sh, n, k, c)];
        j->t[q][nc] = s;
    }
}

int64_t chan_bwd_scratch(const chan_shape *sh) { return 4 * sh->N * sh->K * sh->C; }

void chan_bwd_sums(const chan_shape *sh, const void *dy, const void *x, const double *centre, int64_t stride,
                   const chan_act *act, norma_arena *a, double *t[4]) {
    int64_t cells = sh->N * sh->K * sh->C;
    bwd_job j = {.sh = sh, .dy = dy, .x = x, .centre = centre, .stride = stride, .act = act};
    for (int q = 0; q < 4; q++) j.cells[q] = norma_alloc(a, cells), j.t[q] = t[q];
    norma_parallel_for(num_tasks(sh), serial(sh, 2), bwd_cells_task, &j);
    norma_parallel_for(sh->N * sh->C, serial(sh, 1), bwd_total_task, &j);
}

/* Channels-first: the apply of cells (n, k, c) for c in [c0, c1). */
static void cf_apply_bwd(const apply_job *j, int64_t n, int64_t k, int64_t c0, int64_t c1) {
    const chan_shape *sh = j->sh;
    int64_t o = n * j->stride;
    bool kept = j->act && j->act->dz; /* dy·silu'(z), kept by the sums */
    for (int64_t c = c0; c < c1; c++) {
        norma_affine unit = cell_affine(kept ? NULL : j->act, o + c, NULL, sh->stream_dx);
        unit.dy_f32 = kept;
        norma_bwd_coef kc = norma_bwd_coef_zero;
        kc.centre = j->m[o + c], kc.kg = j->a[o + c];
        kc.kx = j->b ? j->b[o + c] : 0.0, kc.k0 = j->k0 ? j->k0[o + c] : 0.0;
        const chan_fetch *f = &j->fetch; /* the same cell of the next set: x (its dy, the sums pass fetched), or both */
        const void *next[2] = {fetched(sh, j->x, f, n, k, c, c1), f->both ? fetched(sh, j->dy, f, n, k, c, c1) : NULL};
        const void *dy = kept ? dz_at(j->act, cf_index(sh, n, c, k)) : cf_run(sh, j->dy, n, c, k);
        sh->k->bwd_apply(sh->dtype, block_len(sh, k), dy, cf_run(sh, j->x, n, c, k),
                         (void *)cf_run(sh, j->y, n, c, k), &unit, &kc, j->rs ? j->rs[o + c] : 1.0, NULL, NULL,
                         next[0] ? next : NULL);
    }
}

static void apply_bwd_task(void *ctx, int64_t t) {
    const apply_job *j = ctx;
    const chan_shape *sh = j->sh;
    chan_task tk = task_of(sh, t);
    int64_t o = tk.n * j->stride;
    if (sh->last) { /* a kept dz: f32 data, read as dy */
        bool kept = j->act && j->act->dz, act = j->act && !kept;
        norma_col_act ca = act ? col_act(j->act, o, NULL) : (norma_col_act){0};
        const void *dy = kept ? dz_at(j->act, cl_index(sh, tk.n, tk.k)) : cl_rows(sh, j->dy, tk.n, tk.k);
        sh->k->col_bwd_apply(sh->dtype, block_len(sh, tk.k), sh->C, sh->C, dy, cl_rows(sh, j->x, tk.n, tk.k),
                             (void *)cl_rows(sh, j->y, tk.n, tk.k), j->m + o, j->rs ? j->rs + o : NULL, j->a + o,
                             j->b ? j->b + o : NULL, j->k0 ? j->k0 + o : NULL, NULL, act ? &ca : NULL, NULL,
                             sh->stream_dx);
        return;
    }
    cf_apply_bwd(j, tk.n, tk.k, tk.c0, tk.c1);
}

void chan_apply_bwd(const chan_shape *sh, const void *dy, const void *x, void *dx, const double *centre,
                    const double *rstd, const double *kg, const double *kx, const double *k0, int64_t stride,
                    const chan_act *act) {
    apply_job j = {.sh = sh, .dy = dy, .x = x, .y = dx, .m = centre, .rs = rstd, .a = kg, .b = kx, .k0 = k0,
                   .stride = stride, .act = act};
    norma_parallel_for(num_tasks(sh), serial(sh, 3), apply_bwd_task, &j);
}

/* ----- whole planes, for plans that go set by set ------------------------------------------------- */

bool chan_planes(const chan_shape *sh) { return !sh->last && sh->K == 1; }

void chan_moments_planes(const chan_shape *sh, const void *x, int64_t n, int64_t c0, int64_t c1, chan_fetch fetch,
                         double *cell_mean, double *cell_m2) {
    cf_moments(sh, x, n, 0, c0, c1, &fetch, cell_mean, cell_m2);
}

void chan_apply_planes(const chan_shape *sh, const void *x, void *y, const double *m, const double *a, const double *b,
                       int64_t stride, bool silu, int64_t n, int64_t c0, int64_t c1, chan_fetch fetch) {
    apply_job j = {.sh = sh, .x = x, .y = y, .m = m, .a = a, .b = b, .stride = stride, .silu = silu, .fetch = fetch};
    cf_apply(&j, n, 0, c0, c1);
}

void chan_bwd_sums_planes(const chan_shape *sh, const void *dy, const void *x, const double *centre, int64_t stride,
                          const chan_act *act, int64_t n, int64_t c0, int64_t c1, chan_fetch fetch,
                          double *const t[4]) {
    cf_bwd_sums(sh, dy, x, centre, stride, act, n, 0, c0, c1, &fetch, t); /* K = 1: cell (n, 0, c) is n·C + c */
}

void chan_apply_bwd_planes(const chan_shape *sh, const void *dy, const void *x, void *dx, const double *centre,
                           const double *rstd, const double *kg, const double *kx, const double *k0, int64_t stride,
                           const chan_act *act, int64_t n, int64_t c0, int64_t c1, chan_fetch fetch) {
    apply_job j = {.sh = sh, .dy = dy, .x = x, .y = dx, .m = centre, .rs = rstd, .a = kg, .b = kx, .k0 = k0,
                   .stride = stride, .act = act, .fetch = fetch};
    cf_apply_bwd(&j, n, 0, c0, c1);
}

/* ----- the set gradient ----------------------------------------------------------------------- */

double chan_rstd(double var, double eps, bool zero_rstd_rule) {
    if (zero_rstd_rule && var == 0.0 && eps == 0.0) return 0.0;
    return 1.0 / sqrt(var + eps);
}

chan_grad chan_set_grad(double count, double nv, double shift, double eps, bool zero_rstd_rule, const double s[4]) {
    chan_grad g = {.mean = shift};
    if (count == 0.0) return g;
    g.delta = s[2] / count;
    g.mean = shift + g.delta;
    double m2 = s[3] - s[2] * g.delta; /* Σ(x - mean)² */
    g.rstd = chan_rstd((m2 < 0.0 ? 0.0 : m2) / nv, eps, zero_rstd_rule);
    double sum_gxhat = g.rstd * (s[1] - g.delta * s[0]);
    g.kx = -g.rstd * sum_gxhat / nv; /* multiplies x̂ */
    g.k0 = -g.rstd * s[0] / count;
    return g;
}

void chan_param(const chan_shape *sh, const void *p, double g0, int64_t stride, int64_t n, double *out) {
    for (int64_t c = 0; c < sh->C; c++)
        out[c] = g0 + (p ? (double)load_elem(sh->dtype, p, n * stride + c) : 0.0);
}
