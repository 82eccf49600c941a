/* channel_norm.c: BatchNorm, InstanceNorm, GroupNorm, modulated GroupNorm and AdaIN, each a plan over
 * the channel engine (channel_engine.h): statistics per set, coefficients per (sample, channel), one
 * apply pass. The math of each backward is in docs/channel_norms.md. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "kernels/convert.h"
#include "set_norm.h"

/* ----- validation ----------------------------------------------------------------------------- */

static norma_status check_momentum(const char *fn, double momentum) {
    if (!(momentum >= 0.0 && momentum <= 1.0))
        return norma_fail(NORMA_EINVAL, fn, "momentum must be in [0, 1] (got %g)", momentum);
    return NORMA_OK;
}

static norma_status check_groups(const char *fn, int64_t c, int64_t groups) {
    if (groups < 1) return norma_fail(NORMA_EINVAL, fn, "Expected num groups to be greater than 0, got %lld", (long long)groups);
    if (c % groups != 0)
        return norma_fail(NORMA_EINVAL, fn, "Expected number of channels in input to be divisible by num_groups, but "
                                            "got c=%lld and num_groups=%lld", (long long)c, (long long)groups);
    return NORMA_OK;
}

/* Running statistics are given together or not at all. */
static norma_status check_running(const char *fn, const float *mean, const float *var, bool required) {
    if (required) {
        TRY(norma_check_ptr(fn, "running_mean", mean));
        return norma_check_ptr(fn, "running_var", var);
    }
    if ((mean == NULL) != (var == NULL))
        return norma_fail(NORMA_ENULL, fn, "%s is NULL but %s is not: give both running statistics or neither",
                          mean ? "running_var" : "running_mean", mean ? "running_mean" : "running_var");
    return NORMA_OK;
}

static norma_status check_data(const char *fn, const void *x, const void *y, const char *xn, const char *yn) {
    TRY(norma_check_ptr(fn, xn, x));
    return norma_check_ptr(fn, yn, y);
}

static void zero_floats(float *p, int64_t n) {
    if (p) memset(p, 0, (size_t)n * sizeof(float));
}

/* ----- normalization by running statistics (BatchNorm and InstanceNorm inference) -------------- */

/* Per channel: mean = running_mean, rstd = 1/sqrt(running_var + eps), then y = (x - mean)·rstd·w + b. */
static norma_status running_fwd(const char *fn, const chan_shape *sh, const void *x, const void *weight,
                                const void *bias, const float *rm, const float *rv, double eps, void *y) {
    norma_arena a;
    TRY(norma_arena_init(&a, fn, 5 * sh->C));
    double *m = norma_alloc(&a, sh->C), *s = norma_alloc(&a, sh->C), *b = norma_alloc(&a, sh->C);
    double *w = norma_alloc(&a, sh->C);
    chan_param(sh, weight, weight ? 0.0 : 1.0, 0, 0, w);
    chan_param(sh, bias, 0.0, 0, 0, b);
    for (int64_t c = 0; c < sh->C; c++) m[c] = rm[c], s[c] = w[c] / sqrt((double)rv[c] + eps);
    chan_apply(sh, x, y, m, s, b, 0, false);
    return NORMA_OK;
}

/* The inference backward: the statistics are constants, dx = dy·rstd·w; dw = Σdy·(x - mean)·rstd. */
static norma_status running_bwd(const char *fn, const chan_shape *sh, const void *dy, const void *x,
                                const void *weight, const float *rm, const float *rv, double eps, void *dx,
                                float *dweight, float *dbias) {
    int64_t N = sh->N, C = sh->C;
    norma_arena a;
    TRY(norma_arena_init(&a, fn, chan_bwd_scratch(sh) + 4 * N * C + 4 * C));
    double *t[4], *centre = norma_alloc(&a, C), *rstd = norma_alloc(&a, C), *kg = norma_alloc(&a, C);
    double *w = norma_alloc(&a, C);
    for (int q = 0; q < 4; q++) t[q] = norma_alloc(&a, N * C);
    chan_param(sh, weight, weight ? 0.0 : 1.0, 0, 0, w);
    for (int64_t c = 0; c < C; c++) centre[c] = rm[c], rstd[c] = 1.0 / sqrt((double)rv[c] + eps), kg[c] = rstd[c] * w[c];
    if (dweight || dbias) {
        chan_bwd_sums(sh, dy, x, centre, 0, NULL, &a, t);
        for (int64_t c = 0; c < C; c++) {
            double s0 = 0.0, s1 = 0.0;
            for (int64_t n = 0; n < N; n++) s0 += t[0][n * C + c], s1 += t[1][n * C + c];
            if (dweight) dweight[c] = (float)(s1 * rstd[c]);
            if (dbias) dbias[c] = (float)s0;
        }
    }
    if (dx) chan_apply_bwd(sh, dy, x, dx, centre, NULL, kg, NULL, NULL, 0, NULL);
    return NORMA_OK;
}

/* ----- normalization by batch statistics over sets ---------------------------------------------- */

/* Set i's rstd from its count and M2; its saved mean and rstd. */
static double set_rstd(const set_fwd *p, int64_t i, double count, double mean, double m2) {
    double nv = p->unbiased ? count - 1.0 : count;
    double rstd = chan_rstd(m2 / nv, p->eps, p->zero_rule);
    if (p->out_mean) p->out_mean[i] = (float)mean;
    if (p->out_rstd) p->out_rstd[i] = (float)rstd;
    return rstd;
}

/* The per-(n, c) gain (to be scaled by the set's rstd) and bias of the apply, into s and b. */
static void apply_params(const chan_shape *sh, const set_fwd *p, double *s, double *b) {
    for (int64_t n = 0; n < sh->N; n++) {
        chan_param(sh, p->aff.gain, p->aff.g0, p->aff.stride, n, s + n * sh->C);
        chan_param(sh, p->aff.bias, 0.0, p->aff.stride, n, b + n * sh->C);
    }
}

/* The apply step from the statistics of every set (count, mean, M2; from chan_set_moments, or gathered
 * from other processes): rstd, the saved outputs, the per-(n, c) coefficients, one pass. */
void sets_apply(const chan_shape *sh, const set_fwd *p, const void *x, void *y, norma_arena *a,
                const double *set_count, const double *set_mean, const double *set_m2) {
    int64_t S = chan_num_sets(sh, p->sets), N = sh->N, C = sh->C;
    double *rstd = norma_alloc(a, S), *m = norma_alloc(a, N * C), *s = norma_alloc(a, N * C), *b = norma_alloc(a, N * C);
    for (int64_t i = 0; i < S; i++) rstd[i] = set_rstd(p, i, set_count[i], set_mean[i], set_m2[i]);
    apply_params(sh, p, s, b);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            int64_t i = chan_set_of(sh, p->sets, n, c);
            m[n * C + c] = set_mean[i];
            s[n * C + c] *= rstd[i];
        }
    if (N > 0) chan_apply(sh, x, y, m, s, b, C, p->silu);
}

/* ----- set by set ------------------------------------------------------------------------------- */

/* Bytes of one array (x, dy) in one set: a channel over the samples, or a sample's group. */
static int64_t set_bytes(const chan_shape *sh, chan_sets sets) {
    return (sets.per_channel ? sh->N : sets.cpg) * sh->S * (int64_t)sh->es;
}

/* Sets per task: ~RUN_BYTES of each array, so that small sets (InstanceNorm's planes) stream through a
 * task as one run, and a BatchNorm task reads each sample's part of its channels as one run. The
 * tasks work set by set; a set's apply fetches the next set's planes (see bwd_run_task). */
#define RUN_BYTES ((int64_t)1 << 20)
static int64_t sets_per_run(const chan_shape *sh, chan_sets sets) {
    return max_i64(1, RUN_BYTES / max_i64(1, set_bytes(sh, sets)));
}

/* The tasks: rectangles of complete sets, consecutive channels over all samples (BatchNorm) or one
 * sample's consecutive groups. */
static int64_t num_runs(const chan_shape *sh, chan_sets sets) {
    int64_t per = sets_per_run(sh, sets);
    return sets.per_channel ? ceil_div(sh->C, per) : sh->N * ceil_div(sh->C / sets.cpg, per);
}

static chan_rect run_rect(const chan_shape *sh, chan_sets sets, int64_t t) {
    int64_t per = sets_per_run(sh, sets);
    if (sets.per_channel) return (chan_rect){0, sh->N, t * per, min_i64(sh->C, (t + 1) * per)};
    int64_t groups = sh->C / sets.cpg, runs = ceil_div(groups, per), g0 = (t % runs) * per;
    return (chan_rect){t / runs, t / runs + 1, g0 * sets.cpg, min_i64(groups, g0 + per) * sets.cpg};
}

/* Channels from one set to the next within a rectangle. */
static int64_t set_step(chan_sets sets) { return sets.per_channel ? 1 : sets.cpg; }

/* What the apply of the set at channels [c0, c0 + step) of task rectangle r fetches: the rectangle's
 * next set, or after its last set the first set of the task this thread runs next (`next`, -1: none),
 * so that a set of a run or more (one set a task) also finds its inputs fetched. Only where L2 holds the
 * set's `arrays` inputs, the next set's and the apply's output: else the fetches evict what the apply is
 * about to read, and it reads L3 instead (on the 1 MiB L2 of the Zen 5 host, GroupNorm (1,512,128,128)
 * bf16, sets of 512 KiB, bench/ab.py: without the fetch 1.08-1.22x backward, 1.06-1.20x forward). But a
 * SiLU's apply, bound by its arithmetic rather than by memory, gains more from the overlap than the
 * evictions cost, within a rectangle (the same sets: 0.94-0.98x without the fetch): `silu` keeps it.
 * (An earlier host, 2 MiB L2, had measured the fetch of sets of 0.5-1 MiB at 1.06-1.22x; the rule, one
 * set too many for it, follows the host measured last.) */
static chan_fetch next_set(const chan_shape *sh, chan_sets sets, chan_rect r, int64_t c0, int64_t next, int arrays,
                           bool silu) {
    int64_t step = set_step(sets);
    bool fits = (2 * arrays + 1) * set_bytes(sh, sets) <= norma_l2_bytes();
    if (c0 + step < r.c1) return (chan_fetch){.on = fits || silu, .dn = 0, .dc = step};
    if (next < 0 || !fits) return (chan_fetch){.on = false};
    chan_rect nr = run_rect(sh, sets, next);
    return (chan_fetch){.on = true, .dn = nr.n0 - r.n0, .dc = nr.c0 - c0};
}

/* Where next_set fetches nothing (this set and the next do not fit L2 together), a pass over plane (n, c)
 * fetches the set's next plane instead: sample n + 1's, or in a set of one sample, channel c + 1's (the
 * backward's passes both its dy and x). A BatchNorm channel's planes lie far apart (1.6 MiB for
 * (32,64,112,112) bf16), each a new stream that the hardware prefetchers pick up late. bench/ab.py
 * against no such fetch, BatchNorm (32,64,112,112) backward: f32 1.07-1.08x, bf16 1.11-1.19x (in a
 * slower hour of the host, the sums' fetch alone 1.16x and 1.20x, the apply's, from L3, 1.03x and 1.13x
 * on top of it); its forward, by the moments pass: f32 1.08x, bf16 1.26x. A GroupNorm group's planes are
 * consecutive, yet the forward's moments pass gained too ((1,512,128,128) f32 1.05-1.11x, bf16 1.08x;
 * (1,256,256,256) 0.98x and 1.05x), and so did the backward's on the Intel host of 2026-12-06 (2 MiB
 * L2, 480 MiB L3; bench/ab.py, 8 rounds, against no fetch within a sample's group): GroupNorm backward
 * (1,512,128,128) f32 1.45x, bf16 1.20x, (1,256,256,256) f32 1.18x, bf16 1.33x, GroupNorm + SiLU f32
 * 1.24x; the sums fetching the next plane's dy alone gave about half of that. (On the AMD Zen hosts the
 * dy-alone fetch had measured f32 0.97x and GroupNorm + SiLU f32 0.88x; the fetch of both has not been
 * measured there.) The forward's apply reads the set from L2 and fetches nothing (its fetch measured
 * 1.00-1.04x). */
static chan_fetch within_set(chan_fetch fetch, chan_rect r, int64_t n) {
    if (fetch.on) return fetch;
    if (n + 1 < r.n1) return (chan_fetch){.on = true, .dn = 1, .dc = 0, .both = true, .in_set = true};
    return (chan_fetch){.on = true, .dn = 0, .dc = 1, .both = true, .in_set = true};
}

/* Whether a plan goes set by set (below): where the planes are whole cells (channels-first), the tasks
 * are enough to keep the threads busy, and a set's `arrays` inputs are small enough to stay cached
 * between its passes (a quarter of the last-level cache). */
#define SET_CACHE_BYTES ((int64_t)8 << 20)
static bool by_set(const chan_shape *sh, chan_sets sets, int arrays) {
    return chan_planes(sh) && num_runs(sh, sets) >= 8 && set_bytes(sh, sets) * arrays <= SET_CACHE_BYTES;
}

/* Threads a set-by-set plan runs on, at most (see norma_parallel_for_ahead's slots). */
static int set_slots(const chan_shape *sh, chan_sets sets) {
    return (int)min_i64(norma_get_num_threads(), num_runs(sh, sets));
}

static bool serial_sets(const chan_shape *sh, int streams) {
    return sh->N * sh->C * sh->S * (int64_t)sh->es * streams < NORMA_SERIAL_BYTES;
}

/* The forward set by set: for each task's sets, their cells' moments, their merge, and their apply,
 * while the sets are cached: 1 read and 1 write of the tensor instead of 2 reads and 1 write. The same
 * values as chan_set_moments and sets_apply. */
typedef struct {
    const chan_shape *sh;
    const set_fwd *p;
    const void *x;
    void *y;
    double *cell_mean, *cell_m2;
    double *count, *mean, *m2, *rstd; /* per set */
    double *m, *s, *b;                /* per (n, c) */
} fwd_set_job;

static void fwd_run_task(void *ctx, int64_t t, int64_t next, int slot) {
    (void)slot;
    const fwd_set_job *j = ctx;
    const chan_shape *sh = j->sh;
    chan_sets sets = j->p->sets;
    chan_rect r = run_rect(sh, sets, t);
    int64_t step = set_step(sets);
    for (int64_t c0 = r.c0; c0 < r.c1; c0 += step) { /* the rectangle's sets in turn, as the backward's */
        int64_t c1 = c0 + step, i = chan_set_of(sh, sets, r.n0, c0);
        chan_fetch fetch = next_set(sh, sets, r, c0, next, 1, j->p->silu);
        /* the moments pass fetches the next set too, as the apply does after it: it keeps the memory busy
         * from the start (BatchNorm (16,256,56,56) forward 1.05-1.06x against the apply's fetch alone) */
        for (int64_t n = r.n0; n < r.n1; n++)
            chan_moments_planes(sh, j->x, n, c0, c1, within_set(fetch, r, n), j->cell_mean, j->cell_m2);
        chan_merge_set(sh, sets, j->cell_mean, j->cell_m2, i, &j->count[i], &j->mean[i], &j->m2[i]);
        j->rstd[i] = set_rstd(j->p, i, j->count[i], j->mean[i], j->m2[i]);
        for (int64_t n = r.n0; n < r.n1; n++) {
            for (int64_t c = c0; c < c1; c++) /* every (n, c) of the rectangle's set is in set i */
                j->m[n * sh->C + c] = j->mean[i], j->s[n * sh->C + c] *= j->rstd[i];
            chan_apply_planes(sh, j->x, j->y, j->m, j->s, j->b, sh->C, j->p->silu, n, c0, c1, fetch);
        }
    }
}

static void sets_forward_by_set(const chan_shape *sh, const set_fwd *p, const void *x, void *y, norma_arena *a,
                                double *count, double *mean, double *m2) {
    int64_t NC = sh->N * sh->C;
    fwd_set_job j = {.sh = sh, .p = p, .x = x, .y = y, .cell_mean = norma_alloc(a, NC), .cell_m2 = norma_alloc(a, NC),
                     .count = count, .mean = mean, .m2 = m2, .rstd = norma_alloc(a, chan_num_sets(sh, p->sets)),
                     .m = norma_alloc(a, NC), .s = norma_alloc(a, NC), .b = norma_alloc(a, NC)};
    apply_params(sh, p, j.s, j.b);
    norma_parallel_for_ahead(num_runs(sh, p->sets), serial_sets(sh, 2), set_slots(sh, p->sets), fwd_run_task, &j);
}

int64_t sets_apply_scratch(const chan_shape *sh, chan_sets sets) { return chan_num_sets(sh, sets) + 3 * sh->N * sh->C; }

static void sets_forward(const chan_shape *sh, const set_fwd *p, const void *x, void *y, norma_arena *a,
                         double **set_mean, double **set_m2, double **set_count) {
    int64_t S = chan_num_sets(sh, p->sets);
    *set_count = norma_alloc(a, S), *set_mean = norma_alloc(a, S), *set_m2 = norma_alloc(a, S);
    if (by_set(sh, p->sets, 1)) {
        sets_forward_by_set(sh, p, x, y, a, *set_count, *set_mean, *set_m2);
        return;
    }
    chan_set_moments(sh, p->sets, x, a, *set_count, *set_mean, *set_m2);
    sets_apply(sh, p, x, y, a, *set_count, *set_mean, *set_m2);
}

static int64_t sets_forward_scratch(const chan_shape *sh, chan_sets sets) {
    return chan_moments_scratch(sh) + 3 * chan_num_sets(sh, sets) + sets_apply_scratch(sh, sets);
}

int64_t sets_bwd_scratch(const chan_shape *sh, chan_sets sets) {
    return chan_bwd_scratch(sh) + 13 * sh->N * sh->C + 4 * chan_num_sets(sh, sets);
}

/* The per-(n, c) gain and centre, and the SiLU's coefficients: all of step 1 but the sums. */
static void sets_bwd_prepare(const chan_shape *sh, const set_bwd *p, norma_arena *a, set_bwd_work *w) {
    int64_t N = sh->N, C = sh->C;
    w->gain = norma_alloc(a, N * C), w->centre = norma_alloc(a, N * C), w->kg = norma_alloc(a, N * C);
    w->kx = norma_alloc(a, N * C), w->k0 = norma_alloc(a, N * C), w->rs = norma_alloc(a, N * C);
    for (int q = 0; q < 4; q++) w->t[q] = norma_alloc(a, N * C);
    for (int64_t n = 0; n < N; n++) {
        chan_param(sh, p->aff.gain, p->aff.g0, p->aff.stride, n, w->gain + n * C);
        for (int64_t c = 0; c < C; c++) w->centre[n * C + c] = p->mean[chan_set_of(sh, p->sets, n, c)];
    }
    if (p->silu) { /* the SiLU's input, z = (x - mean)·rstd·gain + bias, from the saved statistics */
        double *m = norma_alloc(a, N * C), *s = norma_alloc(a, N * C), *b = norma_alloc(a, N * C);
        for (int64_t n = 0; n < N; n++) {
            chan_param(sh, p->aff.bias, 0.0, p->aff.stride, n, b + n * C);
            for (int64_t c = 0; c < C; c++) {
                int64_t i = n * C + c, set = chan_set_of(sh, p->sets, n, c);
                m[i] = p->mean[set], s[i] = (double)p->rstd[set] * w->gain[i];
            }
        }
        w->act = (chan_act){.m = m, .a = s, .b = b, .dz = p->dz};
    }
}

void sets_bwd_local(const chan_shape *sh, const set_bwd *p, const void *dy, const void *x, norma_arena *a,
                    set_bwd_work *w) {
    sets_bwd_prepare(sh, p, a, w);
    if (sh->N > 0) chan_bwd_sums(sh, dy, x, w->centre, sh->C, p->silu ? &w->act : NULL, a, w->t);
}

/* Set s's sums from its (n, c), in the order n, c. */
static void combine_set(const chan_shape *sh, chan_sets sets, const double *gain, double *const t[4], int64_t s,
                        double q[4]) {
    chan_rect r = chan_set_rect(sh, sets, s);
    q[0] = q[1] = q[2] = q[3] = 0.0;
    for (int64_t n = r.n0; n < r.n1; n++)
        for (int64_t c = r.c0; c < r.c1; c++) {
            int64_t i = n * sh->C + c;
            q[0] += gain[i] * t[0][i], q[1] += gain[i] * t[1][i], q[2] += t[2][i], q[3] += t[3][i];
        }
}

void sets_bwd_combine(const chan_shape *sh, chan_sets sets, const double *gain, double *const t[4], double *sums) {
    for (int64_t s = 0; s < chan_num_sets(sh, sets); s++) combine_set(sh, sets, gain, t, s, sums + 4 * s);
}

/* (n, c)'s coefficients of dx from its set's sums, and its parameter-gradient terms: stored per (n, c)
 * (per_sample), or left in t[1] (dgain) and t[0] (dbias) for the sum over the samples. */
static void coefs_of(const chan_shape *sh, const set_bwd *p, const set_bwd_work *w, const double *sums,
                     int64_t set_samples, int64_t n, int64_t c) {
    int64_t i = n * sh->C + c, s = chan_set_of(sh, p->sets, n, c);
    chan_rect r = chan_set_rect(sh, p->sets, s);
    double samples = set_samples ? (double)set_samples : (double)(r.n1 - r.n0);
    double count = samples * (double)(r.c1 - r.c0) * (double)sh->S;
    chan_grad g = chan_set_grad(count, count, p->mean[s], p->eps, p->zero_rule, sums + 4 * s);
    w->centre[i] = g.mean, w->rs[i] = g.rstd, w->kg[i] = g.rstd * w->gain[i], w->kx[i] = g.kx, w->k0[i] = g.k0;
    double dgain = g.rstd * (w->t[1][i] - g.delta * w->t[0][i]), dbias = w->t[0][i];
    if (p->per_sample) {
        if (p->dgain) store_elem(sh->dtype, p->dgain, n * p->aff.stride + c, (float)dgain);
        if (p->dbias) store_elem(sh->dtype, p->dbias, n * p->aff.stride + c, (float)dbias);
    } else { /* summed over n in order: accumulate in double, round at the last sample */
        w->t[0][i] = dbias, w->t[1][i] = dgain;
    }
}

/* The weight gradients: the (n, c) terms coefs_of left, summed over n in order. */
static void weight_grads(const chan_shape *sh, const set_bwd *p, const set_bwd_work *w) {
    int64_t N = sh->N, C = sh->C;
    if (p->per_sample) return;
    for (int64_t c = 0; c < C; c++) {
        double dg = 0.0, db = 0.0;
        for (int64_t n = 0; n < N; n++) dg += w->t[1][n * C + c], db += w->t[0][n * C + c];
        if (p->dgain) ((float *)p->dgain)[c] = (float)dg;
        if (p->dbias) ((float *)p->dbias)[c] = (float)db;
    }
}

void sets_bwd_finish(const chan_shape *sh, const set_bwd *p, const set_bwd_work *w, const double *sums,
                     int64_t set_samples, const void *dy, const void *x, void *dx) {
    int64_t N = sh->N, C = sh->C;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) coefs_of(sh, p, w, sums, set_samples, n, c);
    weight_grads(sh, p, w);
    if (dx && N > 0) {
        chan_apply_bwd(sh, dy, x, dx, w->centre, w->rs, w->kg, w->kx, w->k0, C, p->silu ? &w->act : NULL);
    }
}

/* Per set: planes claimed and summed, and whether its sums are combined. */
typedef struct {
    atomic_int claimed, summed, combined;
} shared_set;

/* ----- the backward set by set (see by_set) ---------------------------------------------------------
 * All three steps on each of a task's sets in turn: its sums, its coefficients, its apply, which then
 * reads dy and x from cache rather than from memory: the traffic of the minimum, 2 reads and 1 write,
 * instead of 4 reads and 1 write. The two passes also fetch the next set's planes, so that its sums read
 * L2 while the memory reads overlap the arithmetic (InstanceNorm (8,256,64,64) 1.26-1.36x, BatchNorm
 * (16,256,56,56) 1.09-1.22x; after a task's last set, the first set of the thread's next task: see
 * next_set): the sums fetch dy, the apply x, so that the memory is not idle during the sums (against the
 * apply fetching both, bench/ab.py: f32 InstanceNorm 1.07-1.08x, BatchNorm 1.09-1.10x; bf16 BatchNorm
 * 1.02-1.06x, InstanceNorm 0.95-0.99x, within this host's noise). Where the next set does not fit L2
 * beside this one (GroupNorm's groups of 0.5-2 MiB an array), the passes fetch the set's next plane
 * instead, the sums both its dy and x (within_set): the sums then read L2 rather than wait on L3 or
 * memory. Every value is computed by the same operations in the same order as by the three
 * whole-tensor steps.
 *
 * With a SiLU on 16-bit data, the sums keep dy·silu'(z) of the set as floats in scratch of the thread's
 * slot, for the apply to read instead of computing the sigmoid again: the same float either way, so the
 * same bits (f32 data keeps it in dx: see group_norm_bwd). GroupNorm + SiLU (1,512,128,128) bf16
 * backward 1.35x (bench/ab.py, 24 rounds, quartiles 1.18-1.57). Only where the set's x, dy and float dz
 * fit the cache share of a set (SET_CACHE_BYTES), which also bounds the scratch: a set's dz per slot. */
typedef struct {
    const chan_shape *sh;
    const set_bwd *p;
    const set_bwd_work *w;
    double *sums;
    const void *dy, *x;
    void *dx;
    float *dz;          /* a set's dz per slot, or NULL */
    int64_t dz_per_slot; /* floats */
    shared_set *shared; /* sets shared by the threads (see shares_sets): per set, or NULL */
    int *owner;         /* ... and the slot that summed each (n, c) */
} set_job;

/* Whether the backward by set keeps dy·silu'(z) of 16-bit data in the slots' scratch (see above). */
static bool keeps_set_dz(const chan_shape *sh, const set_bwd *p, const void *dx) {
    return p->silu && sh->dtype != NORMA_F32 && dx && !p->sets.per_channel &&
           4 * set_bytes(sh, p->sets) <= SET_CACHE_BYTES;
}

static void bwd_run_task(void *ctx, int64_t t, int64_t next, int slot) {
    const set_job *j = ctx;
    const chan_shape *sh = j->sh;
    const set_bwd *p = j->p;
    const set_bwd_work *w = j->w;
    chan_rect r = run_rect(sh, p->sets, t);
    chan_act act_set = w->act;
    const chan_act *act = p->silu ? &act_set : NULL;
    int64_t step = set_step(p->sets);
    for (int64_t c0 = r.c0; c0 < r.c1; c0 += step) { /* the rectangle's sets in turn */
        int64_t c1 = c0 + step, i = chan_set_of(sh, p->sets, r.n0, c0);
        chan_fetch fetch = next_set(sh, p->sets, r, c0, next, 2, p->silu);
        if (j->dz) /* a sample's groups: the set's elements are consecutive from (n0, c0) */
            act_set.dz = j->dz + slot * j->dz_per_slot, act_set.dz_origin = (r.n0 * sh->C + c0) * sh->S;
        for (int64_t n = r.n0; n < r.n1; n++)
            chan_bwd_sums_planes(sh, j->dy, j->x, w->centre, sh->C, act, n, c0, c1, within_set(fetch, r, n),
                                 w->t);
        combine_set(sh, p->sets, w->gain, w->t, i, j->sums + 4 * i);
        for (int64_t n = r.n0; n < r.n1; n++) {
            for (int64_t c = c0; c < c1; c++) coefs_of(sh, p, w, j->sums, 0, n, c);
            if (j->dx) /* fetching ahead as the sums do (the next set, or this set's next plane) */
                chan_apply_bwd_planes(sh, j->dy, j->x, j->dx, w->centre, w->rs, w->kg, w->kx, w->k0, sh->C, act, n,
                                      c0, c1, within_set(fetch, r, n));
        }
    }
}

/* ----- the backward set by set, each set shared by the threads -------------------------------------
 * Where a set's dy and x together do not fit one core's L2 (GroupNorm (1,256,256,256) f32: 2 MiB an
 * array a group), one thread's apply would read them back from L3 or memory. Instead the threads share
 * each set in turn: each claims planes of the set (a counter per set) and sums them; whoever sums the set's
 * last plane combines the set's sums and raises its flag; then each thread that summed planes of the
 * set computes their coefficients and applies them, finding them in its own L2. No thread waits for
 * one that has not started (a thread taken off its core while it holds no plane delays nobody), and a
 * plane's sums and the set's combine are the same operations in the same order as set by set, whoever
 * does them: the same bits. bench/ab.py on the Intel host of 2026-12-08 (2 MiB L2), against set by set:
 * BatchNorm (32,64,112,112) f32 backward 1.22-1.23x, GroupNorm (1,256,256,256) f32 1.11-1.12x, the rest
 * 0.99-1.01x; where sets of 1-2 MiB (dy and x) were shared too, GroupNorm + SiLU f32 and BatchNorm bf16
 * lost 3-9%. (A first version with fixed shares and two barriers per set gained 1.25x on a quiet host
 * but lost up to 0.3x beside other work: every barrier waited for a thread taken off its core.) */
static bool shares_sets(const chan_shape *sh, chan_sets sets, int slots) {
    int64_t planes = sets.per_channel ? sh->N : sets.cpg;
    return slots > 1 && planes >= slots && planes < INT_MAX / 2 && 2 * set_bytes(sh, sets) > norma_l2_bytes();
}

/* Plane q of set rectangle r, counted n-major. */
static int64_t set_planes(chan_rect r) { return (r.n1 - r.n0) * (r.c1 - r.c0); }
static void plane_of(chan_rect r, int64_t q, int64_t *n, int64_t *c) {
    int64_t width = r.c1 - r.c0;
    *n = r.n0 + q / width, *c = r.c0 + q % width;
}

/* Plane q as (n, c), and what its pass fetches: plane `next` of the set (nothing if next >= its planes). */
static chan_fetch plane_and_next(chan_rect r, int64_t q, int64_t next, int64_t *n, int64_t *c) {
    int64_t nn = 0, nc = 0;
    plane_of(r, q, n, c);
    if (next < set_planes(r)) plane_of(r, next, &nn, &nc);
    return (chan_fetch){.on = next < set_planes(r), .dn = nn - *n, .dc = nc - *c, .both = true};
}

/* Whether plane q of set rectangle r was summed by slot. */
static bool owns(const set_job *j, chan_rect r, int64_t q, int slot) {
    int64_t n, c;
    plane_of(r, q, &n, &c);
    return j->owner[n * j->sh->C + c] == slot;
}

/* The sums of the set's planes that this thread claims, each fetching the next one it claimed. Returns
 * whether it claimed any; marks them in owner (by (n, c)). */
static bool shared_sums(const set_job *j, const chan_act *act, int64_t s, shared_set *ss, int slot) {
    const chan_shape *sh = j->sh;
    chan_rect r = chan_set_rect(sh, j->p->sets, s);
    int planes = (int)set_planes(r);
    bool any = false;
    for (int q = atomic_fetch_add(&ss->claimed, 1), next; q < planes; q = next) {
        next = atomic_fetch_add(&ss->claimed, 1);
        int64_t n, c;
        chan_fetch fetch = plane_and_next(r, q, next, &n, &c);
        chan_bwd_sums_planes(sh, j->dy, j->x, j->w->centre, sh->C, act, n, c, c + 1, fetch, j->w->t);
        j->owner[n * sh->C + c] = slot, any = true;
        if (atomic_fetch_add_explicit(&ss->summed, 1, memory_order_acq_rel) == planes - 1) {
            combine_set(sh, j->p->sets, j->w->gain, j->w->t, s, j->sums + 4 * s);
            atomic_store_explicit(&ss->combined, 1, memory_order_release);
        }
    }
    return any;
}

/* Member `member` of the threads sharing the sets (one task each: the member's index, a slot of the
 * scratch that no other running member has). */
static void bwd_shared_sets(void *ctx, int64_t member) {
    const int slot = (int)member;
    const set_job *j = ctx;
    const chan_shape *sh = j->sh;
    const set_bwd_work *w = j->w;
    chan_act act_set = w->act;
    const chan_act *act = j->p->silu ? &act_set : NULL;
    for (int64_t s = 0; s < chan_num_sets(sh, j->p->sets); s++) {
        chan_rect r = chan_set_rect(sh, j->p->sets, s);
        if (j->dz) /* a sample's groups: plane q's dz at q·S of the slot's set of scratch */
            act_set.dz = j->dz + slot * j->dz_per_slot, act_set.dz_origin = (r.n0 * sh->C + r.c0) * sh->S;
        if (!shared_sums(j, act, s, &j->shared[s], slot)) continue;
        norma_wait_flag(&j->shared[s].combined); /* coefs_of overwrites t[0] and t[1], which the combine reads */
        int64_t planes = set_planes(r), q = 0, next;
        while (q < planes && !owns(j, r, q, slot)) q++;
        for (; q < planes; q = next) { /* its planes, each fetching its next one */
            for (next = q + 1; next < planes && !owns(j, r, next, slot);) next++;
            int64_t n, c;
            chan_fetch fetch = plane_and_next(r, q, next, &n, &c);
            coefs_of(sh, j->p, w, j->sums, 0, n, c);
            if (j->dx)
                chan_apply_bwd_planes(sh, j->dy, j->x, j->dx, w->centre, w->rs, w->kg, w->kx, w->k0, sh->C, act, n,
                                      c, c + 1, fetch);
        }
    }
}

static void sets_backward_by_set(set_job *j, int slots) {
    if (j->shared)
        norma_parallel_for(slots, serial_sets(j->sh, 3), bwd_shared_sets, j);
    else
        norma_parallel_for_ahead(num_runs(j->sh, j->p->sets), serial_sets(j->sh, 3), slots, bwd_run_task, j);
    weight_grads(j->sh, j->p, j->w);
}

static norma_status sets_backward(const char *fn, const chan_shape *sh, const set_bwd *p, const void *dy,
                                  const void *x, void *dx) {
    norma_arena a;
    set_bwd_work w;
    if (by_set(sh, p->sets, 2)) {
        int slots = set_slots(sh, p->sets);
        int64_t dz_per_slot = keeps_set_dz(sh, p, dx) ? set_bytes(sh, p->sets) / (int64_t)sh->es : 0;
        int64_t dz_doubles = ceil_div(slots * dz_per_slot, 2); /* the arena hands out doubles */
        int64_t sets = chan_num_sets(sh, p->sets);
        bool share = shares_sets(sh, p->sets, slots);
        int64_t shared_doubles = ceil_div(sets * (int64_t)sizeof(shared_set), 8);
        int64_t owner_doubles = ceil_div(sh->N * sh->C * (int64_t)sizeof(int), 8);
        TRY(norma_arena_init(&a, fn, sets_bwd_scratch(sh, p->sets) + dz_doubles +
                                         (share ? shared_doubles + owner_doubles : 0)));
        sets_bwd_prepare(sh, p, &a, &w);
        set_job j = {.sh = sh, .p = p, .w = &w, .sums = norma_alloc(&a, 4 * sets), .dy = dy, .x = x, .dx = dx,
                     .dz = dz_per_slot ? (float *)norma_alloc(&a, dz_doubles) : NULL, .dz_per_slot = dz_per_slot};
        if (share) {
            j.shared = (shared_set *)(void *)norma_alloc(&a, shared_doubles);
            j.owner = (int *)(void *)norma_alloc(&a, owner_doubles);
            for (int64_t s = 0; s < sets; s++) {
                atomic_init(&j.shared[s].claimed, 0), atomic_init(&j.shared[s].summed, 0);
                atomic_init(&j.shared[s].combined, 0);
            }
        }
        sets_backward_by_set(&j, slots);
        return NORMA_OK;
    }
    TRY(norma_arena_init(&a, fn, sets_bwd_scratch(sh, p->sets)));
    sets_bwd_local(sh, p, dy, x, &a, &w);
    double *sums = norma_alloc(&a, 4 * chan_num_sets(sh, p->sets));
    sets_bwd_combine(sh, p->sets, w.gain, w.t, sums);
    sets_bwd_finish(sh, p, &w, sums, 0, dy, x, dx);
    return NORMA_OK;
}

/* ----- BatchNorm ------------------------------------------------------------------------------ */

void bn_update_running(int64_t c, double momentum, const double *count, const double *mean, const double *m2,
                       float *running_mean, float *running_var) {
    for (int64_t i = 0; i < c; i++) {
        double m = momentum;
        running_mean[i] = (float)(m * mean[i] + (1.0 - m) * running_mean[i]);
        running_var[i] = (float)(m * (m2[i] / (count[i] - 1.0)) + (1.0 - m) * running_var[i]);
    }
}

norma_status bn_check_fwd(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                          int64_t spatial, const void *x, const float *running_mean, const float *running_var,
                          int training, double momentum, double eps, const void *y) {
    TRY(chan_check_shape(fn, dtype, layout, n, c, spatial));
    TRY(norma_check_eps(fn, eps));
    TRY(check_momentum(fn, momentum));
    TRY(check_running(fn, running_mean, running_var, !training));
    return n * spatial > 0 ? check_data(fn, x, y, "x", "y") : NORMA_OK;
}

norma_status bn_check_bwd(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                          int64_t spatial, const void *dy, const void *x, const float *save_mean,
                          const float *running_mean, const float *running_var, int training, double eps) {
    TRY(chan_check_shape(fn, dtype, layout, n, c, spatial));
    TRY(norma_check_eps(fn, eps));
    if (training) TRY(norma_check_ptr(fn, "save_mean", save_mean));
    else TRY(check_running(fn, running_mean, running_var, true));
    return n * spatial > 0 ? check_data(fn, dy, x, "dy", "x") : NORMA_OK;
}

norma_status norma_batch_norm_fwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                  const void *x, const void *weight, const void *bias, float *running_mean,
                                  float *running_var, int training, double momentum, double eps, void *y,
                                  float *save_mean, float *save_rstd) {
    static const char fn[] = "norma_batch_norm_fwd";
    TRY(bn_check_fwd(fn, dtype, layout, n, c, spatial, x, running_mean, running_var, training, momentum, eps, y));
    int64_t count = n * spatial;
    if (training && count == 1)
        return norma_fail(NORMA_EINVAL, fn, "Expected more than 1 value per channel when training, got input of "
                                            "n=%lld, c=%lld, spatial=%lld", (long long)n, (long long)c,
                          (long long)spatial);
    if (count == 0) return NORMA_OK;
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    if (!training) return running_fwd(fn, &sh, x, weight, bias, running_mean, running_var, eps, y);

    set_fwd p = {.sets = {.per_channel = true}, .aff = {.gain = weight, .bias = bias, .g0 = weight ? 0.0 : 1.0},
                 .zero_rule = true, .eps = eps, .out_mean = save_mean, .out_rstd = save_rstd};
    norma_arena a;
    TRY(norma_arena_init(&a, fn, sets_forward_scratch(&sh, p.sets)));
    double *mean, *m2, *cnt;
    sets_forward(&sh, &p, x, y, &a, &mean, &m2, &cnt);
    if (running_mean) bn_update_running(c, momentum, cnt, mean, m2, running_mean, running_var);
    return NORMA_OK;
}

norma_status norma_batch_norm_bwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                  const void *dy, const void *x, const void *weight, const float *save_mean,
                                  const float *running_mean, const float *running_var, int training, double eps,
                                  void *dx, float *dweight, float *dbias) {
    static const char fn[] = "norma_batch_norm_bwd";
    TRY(bn_check_bwd(fn, dtype, layout, n, c, spatial, dy, x, save_mean, running_mean, running_var, training, eps));
    if (n * spatial == 0) {
        zero_floats(dweight, c), zero_floats(dbias, c);
        return NORMA_OK;
    }
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    if (!training) return running_bwd(fn, &sh, dy, x, weight, running_mean, running_var, eps, dx, dweight, dbias);
    set_bwd p = {.sets = {.per_channel = true}, .aff = {.gain = weight, .g0 = weight ? 0.0 : 1.0},
                 .zero_rule = true, .eps = eps, .mean = save_mean, .dgain = dweight, .dbias = dbias};
    return sets_backward(fn, &sh, &p, dy, x, dx);
}

/* ----- InstanceNorm --------------------------------------------------------------------------- */

norma_status norma_instance_norm_fwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                     const void *x, const void *weight, const void *bias, float *running_mean,
                                     float *running_var, int use_input_stats, double momentum, double eps, void *y,
                                     float *save_mean, float *save_rstd) {
    static const char fn[] = "norma_instance_norm_fwd";
    TRY(chan_check_shape(fn, dtype, layout, n, c, spatial));
    TRY(norma_check_eps(fn, eps));
    TRY(check_momentum(fn, momentum));
    TRY(check_running(fn, running_mean, running_var, !use_input_stats));
    if (use_input_stats && spatial == 1)
        return norma_fail(NORMA_EINVAL, fn, "Expected more than 1 spatial element when training, got input of "
                                            "n=%lld, c=%lld, spatial=1", (long long)n, (long long)c);
    if (n * spatial == 0) return NORMA_OK;
    TRY(check_data(fn, x, y, "x", "y"));
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    if (!use_input_stats) return running_fwd(fn, &sh, x, weight, bias, running_mean, running_var, eps, y);

    set_fwd p = {.sets = {.cpg = 1}, .aff = {.gain = weight, .bias = bias, .g0 = weight ? 0.0 : 1.0},
                 .zero_rule = true, .eps = eps, .out_mean = save_mean, .out_rstd = save_rstd};
    norma_arena a;
    TRY(norma_arena_init(&a, fn, sets_forward_scratch(&sh, p.sets)));
    double *mean, *m2, *cnt;
    sets_forward(&sh, &p, x, y, &a, &mean, &m2, &cnt);
    /* Each instance moves its copy of the running statistics; PyTorch then averages the copies. */
    if (running_mean)
        for (int64_t ch = 0; ch < c; ch++) {
            double mm = 0.0, vv = 0.0, m = momentum;
            for (int64_t i = 0; i < n; i++) mm += mean[i * c + ch], vv += m2[i * c + ch] / (cnt[i * c + ch] - 1.0);
            running_mean[ch] = (float)(m * (mm / (double)n) + (1.0 - m) * running_mean[ch]);
            running_var[ch] = (float)(m * (vv / (double)n) + (1.0 - m) * running_var[ch]);
        }
    return NORMA_OK;
}

norma_status norma_instance_norm_bwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                     const void *dy, const void *x, const void *weight, const float *save_mean,
                                     const float *running_mean, const float *running_var, int use_input_stats,
                                     double eps, void *dx, float *dweight, float *dbias) {
    static const char fn[] = "norma_instance_norm_bwd";
    TRY(chan_check_shape(fn, dtype, layout, n, c, spatial));
    TRY(norma_check_eps(fn, eps));
    if (use_input_stats) TRY(norma_check_ptr(fn, "save_mean", save_mean));
    else TRY(check_running(fn, running_mean, running_var, true));
    if (n * spatial == 0) {
        zero_floats(dweight, c), zero_floats(dbias, c);
        return NORMA_OK;
    }
    TRY(check_data(fn, dy, x, "dy", "x"));
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    if (!use_input_stats) return running_bwd(fn, &sh, dy, x, weight, running_mean, running_var, eps, dx, dweight, dbias);
    set_bwd p = {.sets = {.cpg = 1}, .aff = {.gain = weight, .g0 = weight ? 0.0 : 1.0}, .zero_rule = true,
                 .eps = eps, .mean = save_mean, .dgain = dweight, .dbias = dbias};
    return sets_backward(fn, &sh, &p, dy, x, dx);
}

/* ----- GroupNorm, plain and modulated --------------------------------------------------------- */

static norma_status group_norm_fwd(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                   int64_t spatial, int64_t groups, const void *x, set_affine aff, bool silu,
                                   double eps, void *y, float *mean, float *rstd) {
    TRY(chan_check_shape(fn, dtype, layout, n, c, spatial));
    TRY(check_groups(fn, c, groups));
    TRY(norma_check_eps(fn, eps));
    if (n == 0) return NORMA_OK;
    chan_sets sets = {.cpg = c / groups};
    if (spatial == 0) { /* PyTorch: mean 0, rstd NaN */
        for (int64_t i = 0; i < n * groups; i++) {
            if (mean) mean[i] = 0.0f;
            if (rstd) rstd[i] = NAN;
        }
        return NORMA_OK;
    }
    TRY(check_data(fn, x, y, "x", "y"));
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    set_fwd p = {.sets = sets, .aff = aff, .silu = silu, .eps = eps, .out_mean = mean, .out_rstd = rstd};
    norma_arena a;
    TRY(norma_arena_init(&a, fn, sets_forward_scratch(&sh, sets)));
    double *m, *m2, *cnt;
    sets_forward(&sh, &p, x, y, &a, &m, &m2, &cnt);
    return NORMA_OK;
}

/* silu: the backward of silu(GroupNorm(x)), z from the saved mean and rstd (required then) and aff. */
static norma_status group_norm_bwd(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                   int64_t spatial, int64_t groups, const void *dy, const void *x, set_affine aff,
                                   const float *mean, const float *rstd, bool silu, double eps, void *dx,
                                   void *dgain, void *dbias, bool per_sample) {
    TRY(chan_check_shape(fn, dtype, layout, n, c, spatial));
    TRY(check_groups(fn, c, groups));
    TRY(norma_check_eps(fn, eps));
    if (n * spatial == 0) {
        if (!per_sample) zero_floats(dgain, c), zero_floats(dbias, c);
        else
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < c; j++) {
                    if (dgain) store_elem(dtype, dgain, i * aff.stride + j, 0.0f);
                    if (dbias) store_elem(dtype, dbias, i * aff.stride + j, 0.0f);
                }
        return NORMA_OK;
    }
    TRY(check_data(fn, dy, x, "dy", "x"));
    TRY(norma_check_ptr(fn, "mean", mean));
    if (silu) TRY(norma_check_ptr(fn, "rstd", rstd));
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    set_bwd p = {.sets = {.cpg = c / groups}, .aff = aff, .eps = eps, .mean = mean, .silu = silu, .rstd = rstd,
                 .dgain = dgain, .dbias = dbias, .per_sample = per_sample};
    /* f32 data: the first pass keeps dy·silu'(z) in dx (unless dx is x) for the second, a write and a read
     * instead of a second SiLU derivative (~35% of the time here). Not in a 16-bit dx: rounding it to bf16
     * would cost the gradient 8 bits (PyTorch's autograd does round it); set by set, 16-bit data keeps it
     * as floats in scratch instead (see bwd_run_task). */
    if (silu && dtype == NORMA_F32 && dx && dx != x) p.dz = dx;
    return sets_backward(fn, &sh, &p, dy, x, dx);
}

norma_status norma_group_norm_fwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                  int64_t groups, const void *x, const void *weight, const void *bias, double eps,
                                  void *y, float *mean, float *rstd) {
    set_affine aff = {.gain = weight, .bias = bias, .g0 = weight ? 0.0 : 1.0};
    return group_norm_fwd("norma_group_norm_fwd", dtype, layout, n, c, spatial, groups, x, aff, false, eps, y, mean,
                          rstd);
}

norma_status norma_group_norm_bwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                  int64_t groups, const void *dy, const void *x, const void *weight, const float *mean,
                                  double eps, void *dx, float *dweight, float *dbias) {
    set_affine aff = {.gain = weight, .g0 = weight ? 0.0 : 1.0};
    return group_norm_bwd("norma_group_norm_bwd", dtype, layout, n, c, spatial, groups, dy, x, aff, mean, NULL, false,
                          eps, dx, dweight, dbias, false);
}

norma_status norma_group_norm_silu_fwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                       int64_t groups, const void *x, const void *weight, const void *bias, double eps,
                                       void *y, float *mean, float *rstd) {
    set_affine aff = {.gain = weight, .bias = bias, .g0 = weight ? 0.0 : 1.0};
    return group_norm_fwd("norma_group_norm_silu_fwd", dtype, layout, n, c, spatial, groups, x, aff, true, eps, y,
                          mean, rstd);
}

norma_status norma_group_norm_silu_bwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                       int64_t groups, const void *dy, const void *x, const void *weight,
                                       const void *bias, const float *mean, const float *rstd, double eps, void *dx,
                                       float *dweight, float *dbias) {
    set_affine aff = {.gain = weight, .bias = bias, .g0 = weight ? 0.0 : 1.0};
    return group_norm_bwd("norma_group_norm_silu_bwd", dtype, layout, n, c, spatial, groups, dy, x, aff, mean, rstd,
                          true, eps, dx, dweight, dbias, false);
}

static norma_status check_mod_stride(const char *fn, int64_t n, int64_t c, int64_t stride, bool written) {
    TRY(norma_check_count(fn, "mod_sample_stride", stride, 0));
    /* the last element, (n - 1)·stride + c - 1, must be addressable (in 8-byte units, as every size) */
    if (n > 1 && stride > 0 && n - 1 > (PTRDIFF_MAX / 8 - c) / stride)
        return norma_fail(NORMA_EINVAL, fn, "mod_sample_stride (%lld) with n = %lld reaches beyond the address space",
                          (long long)stride, (long long)n);
    if (written && n > 1 && stride < c)
        return norma_fail(NORMA_EINVAL, fn, "mod_sample_stride (%lld) < c (%lld): the gradients of consecutive "
                                            "samples would overlap", (long long)stride, (long long)c);
    return NORMA_OK;
}

norma_status norma_ada_group_norm_fwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                      int64_t groups, const void *x, const void *shift, const void *scale,
                                      int64_t mod_sample_stride, double eps, void *y, float *mean, float *rstd) {
    static const char fn[] = "norma_ada_group_norm_fwd";
    TRY(chan_check_shape(fn, dtype, layout, n, c, spatial));
    TRY(check_mod_stride(fn, n, c, mod_sample_stride, false));
    set_affine aff = {.gain = scale, .bias = shift, .g0 = 1.0, .stride = mod_sample_stride};
    return group_norm_fwd(fn, dtype, layout, n, c, spatial, groups, x, aff, false, eps, y, mean, rstd);
}

norma_status norma_ada_group_norm_bwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                      int64_t groups, const void *dy, const void *x, const void *scale,
                                      int64_t mod_sample_stride, const float *mean, double eps, void *dx, void *dshift,
                                      void *dscale) {
    static const char fn[] = "norma_ada_group_norm_bwd";
    TRY(chan_check_shape(fn, dtype, layout, n, c, spatial));
    TRY(check_mod_stride(fn, n, c, mod_sample_stride, dshift || dscale));
    set_affine aff = {.gain = scale, .g0 = 1.0, .stride = mod_sample_stride};
    return group_norm_bwd(fn, dtype, layout, n, c, spatial, groups, dy, x, aff, mean, NULL, false, eps, dx, dscale,
                          dshift, true);
}

/* ----- AdaIN ---------------------------------------------------------------------------------- */

static norma_status check_adain(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                int64_t sc, int64_t ss, norma_variance variance, double eps) {
    TRY(chan_check_shape(fn, dtype, layout, n, c, sc));
    TRY(chan_check_shape(fn, dtype, layout, n, c, ss));
    TRY(norma_check_count(fn, "content_spatial", sc, 1));
    TRY(norma_check_count(fn, "style_spatial", ss, 1));
    if (variance != NORMA_VAR_UNBIASED && variance != NORMA_VAR_BIASED)
        return norma_fail(NORMA_EINVAL, fn, "variance must be NORMA_VAR_UNBIASED or NORMA_VAR_BIASED (got %d)",
                          (int)variance);
    return norma_check_eps(fn, eps);
}

/* σ = sqrt(M2/nv + eps), nv = count - 1 (unbiased) or count. */
static double adain_sigma(double m2, double count, norma_variance v, double eps) {
    return sqrt(m2 / (v == NORMA_VAR_UNBIASED ? count - 1.0 : count) + eps);
}

norma_status norma_adain_fwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t content_spatial,
                             int64_t style_spatial, const void *content, const void *style, norma_variance variance,
                             double eps, void *y, float *content_mean, float *style_mean) {
    static const char fn[] = "norma_adain_fwd";
    TRY(check_adain(fn, dtype, layout, n, c, content_spatial, style_spatial, variance, eps));
    if (n == 0) return NORMA_OK;
    TRY(check_data(fn, content, style, "content", "style"));
    TRY(norma_check_ptr(fn, "y", y));
    chan_shape shc = chan_make_shape(dtype, layout, n, c, content_spatial);
    chan_shape shs = chan_make_shape(dtype, layout, n, c, style_spatial);
    chan_sets inst = {.cpg = 1};
    int64_t nc = n * c;
    norma_arena a;
    TRY(norma_arena_init(&a, fn, chan_moments_scratch(&shc) + chan_moments_scratch(&shs) + 9 * nc));
    double *cc = norma_alloc(&a, nc), *cm = norma_alloc(&a, nc), *cm2 = norma_alloc(&a, nc);
    double *sc = norma_alloc(&a, nc), *sm = norma_alloc(&a, nc), *sm2 = norma_alloc(&a, nc);
    double *scale = norma_alloc(&a, nc);
    chan_set_moments(&shc, inst, content, &a, cc, cm, cm2);
    chan_set_moments(&shs, inst, style, &a, sc, sm, sm2);
    for (int64_t i = 0; i < nc; i++) {
        scale[i] = adain_sigma(sm2[i], sc[i], variance, eps) / adain_sigma(cm2[i], cc[i], variance, eps);
        if (content_mean) content_mean[i] = (float)cm[i];
        if (style_mean) style_mean[i] = (float)sm[i];
    }
    chan_apply(&shc, content, y, cm, scale, sm, c, false);
    return NORMA_OK;
}

norma_status norma_adain_bwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t content_spatial,
                             int64_t style_spatial, const void *dy, const void *content, const void *style,
                             norma_variance variance, const float *content_mean, double eps, void *dcontent,
                             void *dstyle) {
    static const char fn[] = "norma_adain_bwd";
    TRY(check_adain(fn, dtype, layout, n, c, content_spatial, style_spatial, variance, eps));
    if (n == 0 || (!dcontent && !dstyle)) return NORMA_OK;
    TRY(check_data(fn, dy, content, "dy", "content"));
    TRY(norma_check_ptr(fn, "style", style));
    TRY(norma_check_ptr(fn, "content_mean", content_mean));
    chan_shape shc = chan_make_shape(dtype, layout, n, c, content_spatial);
    chan_shape shs = chan_make_shape(dtype, layout, n, c, style_spatial);
    int64_t nc = n * c;
    norma_arena a;
    TRY(norma_arena_init(&a, fn, chan_bwd_scratch(&shc) + chan_moments_scratch(&shs) + 17 * nc));
    double *t[4], *sc = norma_alloc(&a, nc), *sm = norma_alloc(&a, nc), *sm2 = norma_alloc(&a, nc);
    double *centre = norma_alloc(&a, nc), *kg = norma_alloc(&a, nc), *kx = norma_alloc(&a, nc), *k0 = norma_alloc(&a, nc);
    double *sa = norma_alloc(&a, nc), *sb = norma_alloc(&a, nc), *rs = norma_alloc(&a, nc);
    for (int q = 0; q < 4; q++) t[q] = norma_alloc(&a, nc);
    chan_set_moments(&shs, (chan_sets){.cpg = 1}, style, &a, sc, sm, sm2);
    for (int64_t i = 0; i < nc; i++) centre[i] = content_mean[i];
    chan_bwd_sums(&shc, dy, content, centre, c, NULL, &a, t);
    double count = (double)content_spatial, nv = variance == NORMA_VAR_UNBIASED ? count - 1.0 : count;
    double count_s = (double)style_spatial, nv_s = variance == NORMA_VAR_UNBIASED ? count_s - 1.0 : count_s;
    for (int64_t i = 0; i < nc; i++) {
        /* content: an instance-norm backward with gain σ_s over the variance denominator nv */
        double sigma_s = adain_sigma(sm2[i], sc[i], variance, eps);
        double s[4] = {sigma_s * t[0][i], sigma_s * t[1][i], t[2][i], t[3][i]};
        chan_grad g = chan_set_grad(count, nv, centre[i], eps, false, s);
        centre[i] = g.mean, rs[i] = g.rstd, kg[i] = g.rstd * sigma_s, kx[i] = g.kx, k0[i] = g.k0;
        /* style: y = σ_s·x̂ + μ_s, so dμ_s = Σdy and dσ_s = Σdy·x̂; then
         * dstyle_j = dμ_s/count_s + dσ_s·(s_j - μ_s)/(nv_s·σ_s) */
        double dmu = t[0][i], dsigma = g.rstd * (t[1][i] - g.delta * t[0][i]);
        sa[i] = dsigma / (nv_s * sigma_s), sb[i] = dmu / count_s;
    }
    if (dstyle) chan_apply(&shs, style, dstyle, sm, sa, sb, c, false);
    if (dcontent) chan_apply_bwd(&shc, dy, content, dcontent, centre, rs, kg, kx, k0, c, NULL);
    return NORMA_OK;
}
