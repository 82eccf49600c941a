/* channel_rms_norm.c: the Qwen-Image VAE's RMSNorm over the channels at each position,
 *     y = x / max(‖x‖₂, eps) · sqrt(C) · gamma[c] + beta[c]        (F.normalize along dim 1, then scaled)
 * Channels-last, each position's C channels are a contiguous row: the row-norm plan with the
 * STAT_L2_CLAMP statistic. Channels-first, they are a column of the sample's (C x spatial) matrix:
 * column blocks reduce down the channels (col_* primitives), which is what this file does.
 *
 * Backward, per position with g = dy·gamma, r = sqrt(C)/max(ν, eps), x̂ = x·r, ν = ‖x‖₂:
 *     dx = r·(g - x̂·mean(g·x̂)) = r·g - x̂·r²·Σ(g·x)/C,   or r·g where the clamp bites (ν < eps);
 *     dgamma[c] = Σ dy·x̂,   dbeta[c] = Σ dy.
 * With a SiLU after the norm (the Qwen-Image VAE's RMS_norm, SiLU), y = silu(z) for the z above, and
 * the backward is the same with dy·silu'(z) for dy. z needs r, so the backward first reduces ν alone
 * (one more pass over the block, from cache), then the sums through the SiLU. */
#include <math.h>
#include <string.h>

#include "channel_engine.h"
#include "row_norm.h"

/* A task: one sample's block of positions, each channel's segment of it 4 KiB long (the rows of the
 * column passes stream whole, a page at a time) */
#define BLOCK_BYTES 4096

typedef struct {
    const chan_shape *sh;
    const void *x, *dy, *gamma_p;
    void *y;
    double eps, sqrt_c;
    const double *gamma, *beta; /* C doubles, or NULL */
    int silu;
    bool keep_dz; /* with silu: the sums pass stores dz = dy·silu'(z) in dx, the later passes read it */
    double *tmp;                /* per task */
    int64_t cols, tmp_per_task, col_blocks; /* positions per task */
    float *dgamma, *dbeta;
} cf_job;

static const void *at(const cf_job *j, const void *base, int64_t n, int64_t s0) {
    return (const char *)base + (size_t)(n * j->sh->C * j->sh->S + s0) * j->sh->es;
}

static void fwd_task(void *ctx, int64_t t) {
    const cf_job *j = ctx;
    const chan_shape *sh = j->sh;
    int64_t n = t / j->col_blocks, s0 = (t % j->col_blocks) * j->cols, w = min_i64(j->cols, sh->S - s0);
    double *sq = j->tmp + t * j->tmp_per_task, *r = sq + j->cols;
    sh->k->col_dev(sh->dtype, sh->C, w, sh->S, at(j, j->x, n, s0), NULL, NULL, sq); /* Σx² alone */
    sh->k->rstd_norm(w, sq, j->sqrt_c, j->eps, r); /* r = sqrt(C)/max(ν, eps); NaN stays NaN, as clamp_min */
    sh->k->col_apply(sh->dtype, sh->C, w, sh->S, at(j, j->x, n, s0), (void *)at(j, j->y, n, s0), NULL, r, NULL,
                     j->gamma, j->beta, j->silu, sh->stream_y);
}

static void bwd_task(void *ctx, int64_t t) {
    const cf_job *j = ctx;
    const chan_shape *sh = j->sh;
    int64_t C = sh->C, W = j->cols, n = t / j->col_blocks, s0 = (t % j->col_blocks) * W, w = min_i64(W, sh->S - s0);
    double *base = j->tmp + t * j->tmp_per_task, *sums[4], *kx = base + 4 * W, *r = kx + W;
    double *partial = r + W; /* 2·C: this task's Σ dy·x̂ and Σ dy per channel */
    for (int q = 0; q < 4; q++) sums[q] = q % 2 ? base + q * W : NULL; /* Σg·x and Σx² alone */
    const void *dy = at(j, j->dy, n, s0), *x = at(j, j->x, n, s0);
    /* with a SiLU: z = (x·r[s])·gamma[c] + beta[c], from r of a first pass */
    norma_col_act act = {.a = r, .rb = j->beta};
    if (j->silu) {
        sh->k->col_dev(sh->dtype, C, w, sh->S, x, NULL, NULL, sums[3]);
        sh->k->rstd_norm(w, sums[3], j->sqrt_c, j->eps, r);
    }
    if (j->keep_dz) act.dz = (float *)at(j, j->y, n, s0); /* f32 data */
    sh->k->col_bwd_sums(sh->dtype, C, w, sh->S, dy, x, NULL, j->gamma, j->silu ? &act : NULL, sums);
    bool through_silu = j->silu && !j->keep_dz; /* the later passes take dy through the SiLU themselves */
    if (j->keep_dz) dy = act.dz;
    if (!j->silu) sh->k->rstd_norm(w, sums[3], j->sqrt_c, j->eps, r);
    for (int64_t s = 0; s < w; s++) {
        kx[s] = sqrt(sums[3][s]) < j->eps ? 0.0 : -r[s] * r[s] * sums[1][s] / (double)C; /* multiplies x̂ = x·r */
    }
    /* dx, and from the same reads each channel's Σ dy·x̂ and Σ dy (dy through the SiLU) */
    double *rsums = j->dgamma || j->dbeta ? partial : NULL;
    if (rsums) memset(rsums, 0, 2 * (size_t)C * sizeof(double));
    if (j->y || rsums)
        sh->k->col_bwd_apply(sh->dtype, C, w, sh->S, dy, x, j->y ? (void *)at(j, j->y, n, s0) : NULL, NULL, r, r, kx,
                             NULL, j->gamma, through_silu ? &act : NULL, rsums, sh->stream_dx);
}

static void load_params(const chan_shape *sh, const void *p, double *out) {
    if (p) chan_param(sh, p, 0.0, 0, 0, out);
}

static norma_status check(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                          int64_t spatial, double eps) {
    TRY(chan_check_shape(fn, dtype, layout, n, c, spatial));
    return norma_check_eps(fn, eps);
}

static norma_status forward(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                            int64_t spatial, const void *x, const void *gamma, const void *beta, double eps, int silu,
                            void *y) {
    TRY(check(fn, dtype, layout, n, c, spatial, eps));
    if (n * spatial == 0) return NORMA_OK;
    TRY(norma_check_ptr(fn, "x", x));
    TRY(norma_check_ptr(fn, "y", y));
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    if (sh.last)
        return norma_row_stat_fwd(fn, STAT_L2_CLAMP, dtype, n * spatial, c, x, gamma, gamma ? 0.0 : 1.0, beta, eps, silu,
                                  y);
    int64_t cols = BLOCK_BYTES / (int64_t)sh.es;
    cf_job j = {.sh = &sh, .x = x, .y = y, .eps = eps, .silu = silu, .sqrt_c = sqrt((double)c), .cols = cols,
                .tmp_per_task = 2 * cols, .col_blocks = ceil_div(spatial, cols)};
    int64_t tasks = n * j.col_blocks;
    norma_arena a;
    TRY(norma_arena_init(&a, fn, 2 * c + tasks * j.tmp_per_task));
    double *g = norma_alloc(&a, c), *b = norma_alloc(&a, c);
    load_params(&sh, gamma, g), load_params(&sh, beta, b);
    j.gamma = gamma ? g : NULL, j.beta = beta ? b : NULL, j.tmp = norma_alloc(&a, tasks * j.tmp_per_task);
    norma_parallel_for(tasks, n * c * spatial * (int64_t)sh.es * 2 < NORMA_SERIAL_BYTES, fwd_task, &j);
    return NORMA_OK;
}

static norma_status backward(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                             int64_t spatial, const void *dy, const void *x, const void *gamma, const void *beta,
                             double eps, int silu, void *dx, float *dgamma, float *dbeta) {
    TRY(check(fn, dtype, layout, n, c, spatial, eps));
    if (n * spatial == 0) {
        if (dgamma) memset(dgamma, 0, (size_t)c * sizeof(float));
        if (dbeta) memset(dbeta, 0, (size_t)c * sizeof(float));
        return NORMA_OK;
    }
    if (!dx && !dgamma && !dbeta) return NORMA_OK;
    TRY(norma_check_ptr(fn, "dy", dy));
    TRY(norma_check_ptr(fn, "x", x));
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    if (sh.last)
        return norma_row_stat_bwd(fn, STAT_L2_CLAMP, dtype, n * spatial, c, dy, x, gamma, gamma ? 0.0 : 1.0, beta, eps,
                                  silu, dx, dgamma, dbeta);
    int64_t cols = BLOCK_BYTES / (int64_t)sh.es;
    /* f32: dz kept in dx between the passes (a write and a read of the block, from cache, instead of two
     * more sigmoids); not in 16-bit, which would round dz, nor over x, which the passes still read */
    bool keep_dz = silu && dtype == NORMA_F32 && dx && dx != x;
    cf_job j = {.sh = &sh, .x = x, .dy = dy, .y = dx, .eps = eps, .silu = silu, .keep_dz = keep_dz,
                .sqrt_c = sqrt((double)c), .cols = cols,
                .tmp_per_task = 6 * cols + 2 * c, .col_blocks = ceil_div(spatial, cols), .dgamma = dgamma,
                .dbeta = dbeta};
    int64_t tasks = n * j.col_blocks;
    norma_arena a;
    TRY(norma_arena_init(&a, fn, 2 * c + tasks * j.tmp_per_task));
    double *g = norma_alloc(&a, c), *b = norma_alloc(&a, c);
    load_params(&sh, gamma, g), load_params(&sh, beta, b);
    j.gamma = gamma ? g : NULL, j.beta = silu && beta ? b : NULL, j.tmp = norma_alloc(&a, tasks * j.tmp_per_task);
    norma_parallel_for(tasks, n * c * spatial * (int64_t)sh.es * 3 < NORMA_SERIAL_BYTES, bwd_task, &j);
    /* the parameter gradients: each task's partials, added in task order */
    for (int64_t ch = 0; ch < c; ch++) {
        double dg = 0.0, db = 0.0;
        for (int64_t t = 0; t < tasks; t++) {
            const double *p = j.tmp + t * j.tmp_per_task + 6 * j.cols + 2 * ch;
            dg += p[0], db += p[1];
        }
        if (dgamma) dgamma[ch] = (float)dg; /* x̂ = x·r carries the sqrt(C) */
        if (dbeta) dbeta[ch] = (float)db;
    }
    return NORMA_OK;
}

norma_status norma_channel_rms_norm_fwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                        int64_t spatial, const void *x, const void *gamma, const void *beta,
                                        double eps, void *y) {
    return forward("norma_channel_rms_norm_fwd", dtype, layout, n, c, spatial, x, gamma, beta, eps, 0, y);
}

norma_status norma_channel_rms_norm_bwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                        int64_t spatial, const void *dy, const void *x, const void *gamma, double eps,
                                        void *dx, float *dgamma, float *dbeta) {
    return backward("norma_channel_rms_norm_bwd", dtype, layout, n, c, spatial, dy, x, gamma, NULL, eps, 0, dx, dgamma,
                    dbeta);
}

norma_status norma_channel_rms_norm_silu_fwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                             int64_t spatial, const void *x, const void *gamma, const void *beta,
                                             double eps, void *y) {
    return forward("norma_channel_rms_norm_silu_fwd", dtype, layout, n, c, spatial, x, gamma, beta, eps, 1, y);
}

norma_status norma_channel_rms_norm_silu_bwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                             int64_t spatial, const void *dy, const void *x, const void *gamma,
                                             const void *beta, double eps, void *dx, float *dgamma, float *dbeta) {
    return backward("norma_channel_rms_norm_silu_bwd", dtype, layout, n, c, spatial, dy, x, gamma, beta, eps, 1, dx,
                    dgamma, dbeta);
}
