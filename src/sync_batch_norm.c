/* sync_batch_norm.c: BatchNorm over a batch split across processes, on the set-norm steps of
 * set_norm.h, with the statistics carried between the steps by the caller's communicator.
 *
 * Every call first gathers a signature of each process's arguments, so that processes which disagree
 * (a different C, dtype, eps, ..., or invalid arguments on one of them) all fail together instead of
 * waiting in mismatched collectives. Then:
 *
 *   exact mode:  the forward gathers every sample's cell moments (chan_cell_moments) and merges them in
 *                global sample order, which is what one BatchNorm over the concatenated batch does (its
 *                cells per sample depend on C and spatial only); the backward gathers the per-(n, c)
 *                sums and adds them in global sample order, again as one BatchNorm does.
 *   fast mode:   each process's per-channel statistics (count, mean, M2) are gathered and merged in rank
 *                order with Chan's formula; backward, its per-channel sums are added in rank order.
 *
 * Every process merges the same gathered numbers in the same order, so all of them hold the same
 * global statistics and update their running statistics identically. The three-step API at the end
 * is the fast mode with the gathering left to the caller. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "set_norm.h"

static const chan_sets PER_CHANNEL = {.per_channel = true};

/* ----- the three steps of the forward and the backward, the middle one the caller's ------------------ */

static norma_status check_stats_shape(const char *fn, int64_t c, int64_t parts) {
    TRY(norma_check_count(fn, "c", c, 1));
    TRY(norma_check_count(fn, "parts", parts, 1));
    int64_t numel, sizes[3] = {parts, 3, c};
    const char *const names[3] = {"parts", "3", "c"};
    return norma_check_numel(fn, &numel, 3, sizes, names);
}

norma_status norma_batch_norm_stats(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial,
                                    const void *x, double *stats) {
    static const char fn[] = "norma_batch_norm_stats";
    TRY(bn_check_fwd(fn, dtype, layout, n, c, spatial, x, NULL, NULL, 1, 0.0, 0.0, x));
    TRY(norma_check_ptr(fn, "stats", stats));
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    if (n * spatial == 0) {
        memset(stats, 0, (size_t)(3 * c) * sizeof(double));
        return NORMA_OK;
    }
    norma_arena a;
    TRY(norma_arena_init(&a, fn, chan_moments_scratch(&sh)));
    chan_set_moments(&sh, PER_CHANNEL, x, &a, stats, stats + c, stats + 2 * c);
    return NORMA_OK;
}

norma_status norma_batch_norm_merge_stats(int64_t c, int64_t parts, const double *stats_parts, double *stats) {
    static const char fn[] = "norma_batch_norm_merge_stats";
    TRY(check_stats_shape(fn, c, parts));
    TRY(norma_check_ptr(fn, "stats_parts", stats_parts));
    TRY(norma_check_ptr(fn, "stats", stats));
    for (int64_t ch = 0; ch < c; ch++) {
        double count = 0.0, mean = 0.0, m2 = 0.0;
        for (int64_t p = 0; p < parts; p++) {
            const double *part = stats_parts + p * 3 * c;
            moments_merge(&count, &mean, &m2, part[ch], part[c + ch], part[2 * c + ch]);
        }
        stats[ch] = count, stats[c + ch] = mean, stats[2 * c + ch] = m2;
    }
    return NORMA_OK;
}

/* y and the running statistics from global per-channel statistics (count, mean, M2); takes
 * sets_apply_scratch doubles from a. */
static void apply_global(const chan_shape *sh, norma_arena *a, const void *x, const void *weight, const void *bias,
                         const double *count, const double *mean, const double *m2, float *running_mean,
                         float *running_var, double momentum, double eps, void *y, float *save_mean,
                         float *save_rstd) {
    set_fwd p = {.sets = PER_CHANNEL, .aff = {.gain = weight, .bias = bias, .g0 = weight ? 0.0 : 1.0},
                 .zero_rule = true, .eps = eps, .out_mean = save_mean, .out_rstd = save_rstd};
    sets_apply(sh, &p, x, y, a, count, mean, m2);
    if (running_mean) bn_update_running(sh->C, momentum, count, mean, m2, running_mean, running_var);
}

norma_status norma_batch_norm_apply_stats(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                          int64_t spatial, const void *x, const void *weight, const void *bias,
                                          const double *stats, float *running_mean, float *running_var,
                                          double momentum, double eps, void *y, float *save_mean,
                                          float *save_rstd) {
    static const char fn[] = "norma_batch_norm_apply_stats";
    TRY(bn_check_fwd(fn, dtype, layout, n, c, spatial, x, running_mean, running_var, 1, momentum, eps, y));
    TRY(norma_check_ptr(fn, "stats", stats));
    for (int64_t ch = 0; ch < c; ch++)
        if (!(stats[ch] >= 2.0))
            return norma_fail(NORMA_EINVAL, fn, "Expected more than 1 value per channel when training, got a count "
                                                "of %g for channel %lld", stats[ch], (long long)ch);
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    norma_arena a;
    TRY(norma_arena_init(&a, fn, sets_apply_scratch(&sh, PER_CHANNEL)));
    apply_global(&sh, &a, x, weight, bias, stats, stats + c, stats + 2 * c, running_mean, running_var, momentum, eps,
                 y, save_mean, save_rstd);
    return NORMA_OK;
}

norma_status norma_batch_norm_bwd_sums(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                       int64_t spatial, const void *dy, const void *x, const float *save_mean,
                                       double *sums) {
    static const char fn[] = "norma_batch_norm_bwd_sums";
    TRY(bn_check_bwd(fn, dtype, layout, n, c, spatial, dy, x, save_mean, NULL, NULL, 1, 0.0));
    TRY(norma_check_ptr(fn, "sums", sums));
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    set_bwd p = {.sets = PER_CHANNEL, .aff = {.g0 = 1.0}, .mean = save_mean};
    norma_arena a;
    TRY(norma_arena_init(&a, fn, sets_bwd_scratch(&sh, PER_CHANNEL)));
    set_bwd_work w;
    sets_bwd_local(&sh, &p, dy, x, &a, &w);
    for (int q = 0; q < 4; q++) /* per channel over the samples, in order */
        for (int64_t ch = 0; ch < c; ch++) {
            double s = 0.0;
            for (int64_t i = 0; i < n; i++) s += w.t[q][i * c + ch];
            sums[q * c + ch] = s;
        }
    return NORMA_OK;
}

norma_status norma_batch_norm_bwd_apply(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                        int64_t spatial, const void *dy, const void *x, const void *weight,
                                        const float *save_mean, const double *sums, double count, double eps,
                                        void *dx, float *dweight, float *dbias) {
    static const char fn[] = "norma_batch_norm_bwd_apply";
    TRY(bn_check_bwd(fn, dtype, layout, n, c, spatial, dy, x, save_mean, NULL, NULL, 1, eps));
    TRY(norma_check_ptr(fn, "sums", sums));
    if (!(count >= 1.0 && count <= 0x1p62) || spatial < 1 || fmod(count, (double)spatial) != 0.0)
        return norma_fail(NORMA_EINVAL, fn, "count must be the whole batch's n·spatial, a positive multiple of "
                                            "spatial=%lld (got %g)", (long long)spatial, count);
    int64_t samples = (int64_t)(count / (double)spatial);
    chan_shape sh = chan_make_shape(dtype, layout, n, c, spatial);
    set_bwd p = {.sets = PER_CHANNEL, .aff = {.gain = weight, .g0 = weight ? 0.0 : 1.0}, .zero_rule = true,
                 .eps = eps, .mean = save_mean, .dgain = dweight, .dbias = dbias};
    norma_arena a;
    TRY(norma_arena_init(&a, fn, sets_bwd_scratch(&sh, PER_CHANNEL) + 5 * c));
    set_bwd_work w;
    sets_bwd_local(&sh, &p, dy, x, &a, &w);
    double *gain = norma_alloc(&a, c), *global = norma_alloc(&a, 4 * c);
    chan_param(&sh, weight, p.aff.g0, 0, 0, gain);
    for (int64_t ch = 0; ch < c; ch++) /* the set sums' layout: 4 per channel, g = dy·gain */
        global[4 * ch] = gain[ch] * sums[ch], global[4 * ch + 1] = gain[ch] * sums[c + ch],
        global[4 * ch + 2] = sums[2 * c + ch], global[4 * ch + 3] = sums[3 * c + ch];
    sets_bwd_finish(&sh, &p, &w, global, samples, dy, x, dx);
    return NORMA_OK;
}

/* ----- the signature exchange ------------------------------------------------------------------- */

enum { SIG_VERSION, SIG_OK, SIG_DIRECTION, SIG_MODE, SIG_DTYPE, SIG_LAYOUT, SIG_C, SIG_SPATIAL, SIG_EPS,
       SIG_MOMENTUM, SIG_RUNNING, SIG_N, SIG_LEN };

static const char *const sig_names[SIG_LEN] = {"version", "validity", "direction", "mode", "dtype", "layout",
                                               "c", "spatial", "eps", "momentum", "running statistics", "n"};

/* A collective call: the communicator, this process's sizes, and what the exchange learnt. */
typedef struct sync_call {
    const char *fn;
    const norma_comm *comm;
    norma_sync_mode mode;
    int64_t n;
    double sig[SIG_LEN];
    norma_layout layout; /* of the processes with samples (one without may give any) */
    int64_t total_n;     /* samples over all processes */
    int64_t *counts; /* size: per-process element counts of the next gather */
    int64_t *n_of;   /* size: every process's n */
    double *all;     /* size·SIG_LEN: every process's signature */
} sync_call;

static norma_status check_comm(const char *fn, const norma_comm *comm) {
    TRY(norma_check_ptr(fn, "comm", comm));
    if (!comm->allgather) return norma_fail(NORMA_ENULL, fn, "comm->allgather is NULL");
    if (comm->size < 1 || comm->rank < 0 || comm->rank >= comm->size)
        return norma_fail(NORMA_EINVAL, fn, "comm has rank %d of size %d", comm->rank, comm->size);
    return NORMA_OK;
}

static norma_status gather(const sync_call *s, const double *send, double *recv) {
    if (s->comm->allgather(s->comm->ctx, send, recv, s->counts) != 0)
        return norma_fail(NORMA_ECOMM, s->fn, "the communicator's allgather failed (rank %d of %d)", s->comm->rank,
                          s->comm->size);
    return NORMA_OK;
}

static void sync_close(sync_call *s) { free(s->counts); }

/* Takes the exchange's small arrays (3·size values) and exchanges the signatures. `local` is this
 * process's own validation: when it failed, the others learn it and every process returns an error. */
static norma_status sync_open(sync_call *s, norma_status local) {
    int P = s->comm->size;
    s->counts = malloc((size_t)P * (2 * sizeof(int64_t) + SIG_LEN * sizeof(double)));
    if (!s->counts) return norma_fail(NORMA_ENOMEM, s->fn, "cannot allocate the exchange of %d processes", P);
    s->n_of = s->counts + P, s->all = (double *)(void *)(s->n_of + P);
    for (int r = 0; r < P; r++) s->counts[r] = SIG_LEN;
    s->sig[SIG_VERSION] = 1, s->sig[SIG_OK] = local == NORMA_OK, s->sig[SIG_MODE] = s->mode;
    TRY(gather(s, s->sig, s->all));
    if (local != NORMA_OK) return local;
    s->total_n = 0;
    int with_samples = -1; /* the first process with samples: its layout is the batch's */
    for (int r = 0; r < P; r++) {
        const double *other = s->all + (int64_t)r * SIG_LEN;
        if (other[SIG_OK] != 1.0)
            return norma_fail(NORMA_EINVAL, s->fn, "rank %d rejected its arguments (its norma_last_error() says why)", r);
        for (int f = 0; f < SIG_N; f++)
            if (f != SIG_LAYOUT && !(other[f] == s->all[f]))
                return norma_fail(NORMA_EINVAL, s->fn, "processes disagree: rank %d has %s = %g, rank 0 has %g", r,
                                  sig_names[f], other[f], s->all[f]);
        s->n_of[r] = (int64_t)other[SIG_N];
        s->total_n += s->n_of[r];
        if (s->n_of[r] == 0) continue;
        if (with_samples < 0) with_samples = r;
        const double *first = s->all + (int64_t)with_samples * SIG_LEN;
        if (other[SIG_LAYOUT] != first[SIG_LAYOUT])
            return norma_fail(NORMA_EINVAL, s->fn, "processes disagree: rank %d has layout = %g, rank %d has %g", r,
                              other[SIG_LAYOUT], with_samples, first[SIG_LAYOUT]);
    }
    s->layout = with_samples < 0 ? (norma_layout)s->sig[SIG_LAYOUT] : (norma_layout)s->all[with_samples * SIG_LEN + SIG_LAYOUT];
    return NORMA_OK;
}

/* The signature of a call; sizes of an invalid call are sent as 0 (its `validity` already says). */
static void sign(sync_call *s, norma_status local, int direction, norma_dtype dtype, norma_layout layout,
                 int64_t c, int64_t spatial, double eps, double momentum, bool running) {
    bool ok = local == NORMA_OK;
    double *g = s->sig;
    g[SIG_DIRECTION] = direction, g[SIG_DTYPE] = ok ? dtype : 0, g[SIG_LAYOUT] = ok ? layout : 0;
    g[SIG_C] = ok ? (double)c : 0, g[SIG_SPATIAL] = ok ? (double)spatial : 0, g[SIG_EPS] = ok ? eps : 0;
    g[SIG_MOMENTUM] = ok ? momentum : 0, g[SIG_RUNNING] = running, g[SIG_N] = ok ? (double)s->n : 0;
}

static norma_status check_mode(const char *fn, norma_status local, norma_sync_mode mode) {
    if (local == NORMA_OK && mode != NORMA_SYNC_EXACT && mode != NORMA_SYNC_FAST)
        return norma_fail(NORMA_EINVAL, fn, "unknown mode %d (expected NORMA_SYNC_EXACT or NORMA_SYNC_FAST)", (int)mode);
    return local;
}

/* ----- forward ---------------------------------------------------------------------------------- */

/* Exact: the cells of every process, in rank order, are the cells of the whole batch. */
static int64_t exact_stats_scratch(const sync_call *s, const chan_shape *sh) {
    return chan_moments_scratch(sh) + 2 * chan_num_cells(sh) + 4 * s->total_n * sh->K * sh->C;
}

static norma_status exact_stats(sync_call *s, const chan_shape *sh, const void *x, norma_arena *a, double *count,
                                double *mean, double *m2) {
    int P = s->comm->size;
    int64_t per_sample = sh->K * sh->C, mine = chan_num_cells(sh), cells = s->total_n * per_sample;
    double *send = norma_alloc(a, 2 * mine), *recv = norma_alloc(a, 2 * cells);
    double *all_mean = norma_alloc(a, cells), *all_m2 = norma_alloc(a, cells);
    if (mine > 0) chan_cell_moments(sh, x, a, send, send + mine);
    for (int r = 0; r < P; r++) s->counts[r] = 2 * s->n_of[r] * per_sample;
    TRY(gather(s, send, recv));
    for (int64_t r = 0, at = 0; r < P; r++) { /* rank r sent its means, then its M2s */
        int64_t k = s->n_of[r] * per_sample;
        memcpy(all_mean + at, recv + 2 * at, (size_t)k * sizeof(double));
        memcpy(all_m2 + at, recv + 2 * at + k, (size_t)k * sizeof(double));
        at += k;
    }
    chan_shape whole = *sh;
    whole.N = s->total_n;
    chan_merge_cells(&whole, PER_CHANNEL, all_mean, all_m2, count, mean, m2);
    return NORMA_OK;
}

/* Fast: every process's per-channel statistics, merged in rank order. */
static int64_t fast_stats_scratch(const sync_call *s, const chan_shape *sh) {
    return chan_moments_scratch(sh) + 3 * sh->C * (s->comm->size + 2);
}

static norma_status fast_stats(sync_call *s, const chan_shape *sh, const void *x, norma_arena *a, double *count,
                               double *mean, double *m2) {
    int P = s->comm->size;
    int64_t C = sh->C;
    double *mine = norma_alloc(a, 3 * C), *all = norma_alloc(a, 3 * C * P), *merged = norma_alloc(a, 3 * C);
    if (sh->N > 0) chan_set_moments(sh, PER_CHANNEL, x, a, mine, mine + C, mine + 2 * C);
    else memset(mine, 0, (size_t)(3 * C) * sizeof(double));
    for (int r = 0; r < P; r++) s->counts[r] = 3 * C;
    TRY(gather(s, mine, all));
    TRY(norma_batch_norm_merge_stats(C, P, all, merged));
    memcpy(count, merged, (size_t)C * sizeof(double));
    memcpy(mean, merged + C, (size_t)C * sizeof(double));
    memcpy(m2, merged + 2 * C, (size_t)C * sizeof(double));
    return NORMA_OK;
}

static norma_status sync_forward(sync_call *s, norma_dtype dtype, int64_t c, int64_t spatial,
                                 const void *x, const void *weight, const void *bias, float *running_mean,
                                 float *running_var, double momentum, double eps, void *y, float *save_mean,
                                 float *save_rstd) {
    if (s->total_n * spatial == 1)
        return norma_fail(NORMA_EINVAL, s->fn, "Expected more than 1 value per channel when training, got a whole "
                                               "batch of n=%lld, spatial=%lld", (long long)s->total_n,
                          (long long)spatial);
    if (s->total_n * spatial == 0) return NORMA_OK; /* an empty batch everywhere: nothing changes */
    chan_shape sh = chan_make_shape(dtype, s->layout, s->n, c, spatial);
    bool exact = s->mode == NORMA_SYNC_EXACT;
    norma_arena a;
    TRY(norma_arena_init(&a, s->fn, 3 * c + (exact ? exact_stats_scratch(s, &sh) : fast_stats_scratch(s, &sh)) +
                                        sets_apply_scratch(&sh, PER_CHANNEL)));
    double *count = norma_alloc(&a, c), *mean = norma_alloc(&a, c), *m2 = norma_alloc(&a, c);
    TRY(exact ? exact_stats(s, &sh, x, &a, count, mean, m2) : fast_stats(s, &sh, x, &a, count, mean, m2));
    apply_global(&sh, &a, x, weight, bias, count, mean, m2, running_mean, running_var, momentum, eps, y, save_mean,
                 save_rstd);
    return NORMA_OK;
}

norma_status norma_sync_batch_norm_fwd(const norma_comm *comm, norma_sync_mode mode, norma_dtype dtype,
                                       norma_layout layout, int64_t n, int64_t c, int64_t spatial, const void *x,
                                       const void *weight, const void *bias, float *running_mean,
                                       float *running_var, int training, double momentum, double eps, void *y,
                                       float *save_mean, float *save_rstd) {
    static const char fn[] = "norma_sync_batch_norm_fwd";
    TRY(check_comm(fn, comm));
    if (!training) /* inference: plain BatchNorm on the running statistics, no communication */
        return norma_batch_norm_fwd(dtype, layout, n, c, spatial, x, weight, bias, running_mean, running_var, 0,
                                    momentum, eps, y, save_mean, save_rstd);
    sync_call s = {.fn = fn, .comm = comm, .mode = mode, .n = n};
    norma_status local =
        check_mode(fn, bn_check_fwd(fn, dtype, layout, n, c, spatial, x, running_mean, running_var, 1, momentum, eps, y),
                   mode);
    sign(&s, local, 0, dtype, layout, c, spatial, eps, momentum, running_mean != NULL);
    norma_status st = sync_open(&s, local);
    if (st == NORMA_OK)
        st = sync_forward(&s, dtype, c, spatial, x, weight, bias, running_mean, running_var, momentum, eps, y,
                          save_mean, save_rstd);
    sync_close(&s);
    return st;
}

/* ----- backward --------------------------------------------------------------------------------- */

/* Exact: the per-(n, c) sums of every process, in rank order, added per channel as one BatchNorm adds
 * its samples'. */
static int64_t exact_sums_scratch(const sync_call *s, const chan_shape *sh) {
    return 4 * sh->N * sh->C + 9 * s->total_n * sh->C;
}

static norma_status exact_sums(sync_call *s, const chan_shape *sh, const set_bwd_work *w, const double *gain,
                               norma_arena *a, double *sums) {
    int P = s->comm->size;
    int64_t C = sh->C, mine = sh->N * C, all = s->total_n * C;
    double *send = norma_alloc(a, 4 * mine), *recv = norma_alloc(a, 4 * all), *t[4];
    double *whole_gain = norma_alloc(a, all);
    for (int q = 0; q < 4; q++) {
        t[q] = norma_alloc(a, all);
        memcpy(send + q * mine, w->t[q], (size_t)mine * sizeof(double));
    }
    for (int64_t i = 0; i < s->total_n; i++) memcpy(whole_gain + i * C, gain, (size_t)C * sizeof(double));
    for (int r = 0; r < P; r++) s->counts[r] = 4 * s->n_of[r] * C;
    TRY(gather(s, send, recv));
    for (int64_t r = 0, at = 0; r < P; r++) { /* rank r sent t[0], then t[1], t[2], t[3] */
        int64_t k = s->n_of[r] * C;
        for (int q = 0; q < 4; q++) memcpy(t[q] + at, recv + 4 * at + q * k, (size_t)k * sizeof(double));
        at += k;
    }
    chan_shape whole = *sh;
    whole.N = s->total_n;
    sets_bwd_combine(&whole, PER_CHANNEL, whole_gain, t, sums);
    return NORMA_OK;
}

/* Fast: each process's per-channel sums, added in rank order. */
static int64_t fast_sums_scratch(const sync_call *s, const chan_shape *sh) { return 4 * sh->C * (s->comm->size + 1); }

static norma_status fast_sums(sync_call *s, const chan_shape *sh, const set_bwd_work *w, norma_arena *a,
                              double *sums) {
    int P = s->comm->size;
    int64_t C = sh->C;
    double *mine = norma_alloc(a, 4 * C), *all = norma_alloc(a, 4 * C * P);
    sets_bwd_combine(sh, PER_CHANNEL, w->gain, w->t, mine);
    for (int r = 0; r < P; r++) s->counts[r] = 4 * C;
    TRY(gather(s, mine, all));
    memset(sums, 0, (size_t)(4 * C) * sizeof(double));
    for (int r = 0; r < P; r++)
        for (int64_t i = 0; i < 4 * C; i++) sums[i] += all[(int64_t)r * 4 * C + i];
    return NORMA_OK;
}

static norma_status sync_backward(sync_call *s, norma_dtype dtype, int64_t c, int64_t spatial,
                                  const void *dy, const void *x, const void *weight, const float *save_mean,
                                  double eps, void *dx, float *dweight, float *dbias) {
    if (s->total_n * spatial == 0) { /* an empty batch everywhere */
        if (dweight) memset(dweight, 0, (size_t)c * sizeof(float));
        if (dbias) memset(dbias, 0, (size_t)c * sizeof(float));
        return NORMA_OK;
    }
    chan_shape sh = chan_make_shape(dtype, s->layout, s->n, c, spatial);
    set_bwd p = {.sets = PER_CHANNEL, .aff = {.gain = weight, .g0 = weight ? 0.0 : 1.0}, .zero_rule = true,
                 .eps = eps, .mean = save_mean, .dgain = dweight, .dbias = dbias};
    bool exact = s->mode == NORMA_SYNC_EXACT;
    norma_arena a;
    TRY(norma_arena_init(&a, s->fn, sets_bwd_scratch(&sh, PER_CHANNEL) + 5 * c +
                                        (exact ? exact_sums_scratch(s, &sh) : fast_sums_scratch(s, &sh))));
    set_bwd_work w;
    sets_bwd_local(&sh, &p, dy, x, &a, &w);
    double *gain = norma_alloc(&a, c), *sums = norma_alloc(&a, 4 * c);
    chan_param(&sh, weight, p.aff.g0, 0, 0, gain);
    TRY(exact ? exact_sums(s, &sh, &w, gain, &a, sums) : fast_sums(s, &sh, &w, &a, sums));
    sets_bwd_finish(&sh, &p, &w, sums, s->total_n, dy, x, dx);
    return NORMA_OK;
}

norma_status norma_sync_batch_norm_bwd(const norma_comm *comm, norma_sync_mode mode, norma_dtype dtype,
                                       norma_layout layout, int64_t n, int64_t c, int64_t spatial, const void *dy,
                                       const void *x, const void *weight, const float *save_mean,
                                       const float *running_mean, const float *running_var, int training,
                                       double eps, void *dx, float *dweight, float *dbias) {
    static const char fn[] = "norma_sync_batch_norm_bwd";
    TRY(check_comm(fn, comm));
    if (!training)
        return norma_batch_norm_bwd(dtype, layout, n, c, spatial, dy, x, weight, save_mean, running_mean, running_var,
                                    0, eps, dx, dweight, dbias);
    sync_call s = {.fn = fn, .comm = comm, .mode = mode, .n = n};
    norma_status local =
        check_mode(fn, bn_check_bwd(fn, dtype, layout, n, c, spatial, dy, x, save_mean, NULL, NULL, 1, eps), mode);
    sign(&s, local, 1, dtype, layout, c, spatial, eps, 0.0, false);
    norma_status st = sync_open(&s, local);
    if (st == NORMA_OK)
        st = sync_backward(&s, dtype, c, spatial, dy, x, weight, save_mean, eps, dx, dweight, dbias);
    sync_close(&s);
    return st;
}
