/* set_norm.h: the statistic-set norms (BatchNorm, InstanceNorm, GroupNorm, modulated GroupNorm) as
 * steps over the channel engine, shared by channel_norm.c and the synchronized BatchNorm
 * (sync_batch_norm.c), which carries the statistics between processes between the steps:
 *
 *   forward:   set statistics (chan_set_moments, or merged from gathered cells) -> sets_apply
 *   backward:  sets_bwd_local (per-(n, c) sums) -> sets_bwd_combine (per-set sums) -> sets_bwd_finish
 *
 * The steps perform the same operations in the same order whether the statistics are local or
 * gathered, which is what makes the synchronized BatchNorm's exact mode bitwise equal to one
 * BatchNorm over the whole batch. */
#ifndef NORMA_SET_NORM_H
#define NORMA_SET_NORM_H

#include "channel_engine.h"

/* The per-(n, c) affine of a set norm: gain g0 + gain[n·stride + c], bias[n·stride + c]. */
typedef struct set_affine {
    const void *gain, *bias;
    double g0;
    int64_t stride;
} set_affine;

/* Forward over sets: rstd (zero_rule: BatchNorm's InvStd, 0 for var = eps = 0), the saved per-set
 * mean and rstd, then apply. nv: count, or count - 1 when unbiased. */
typedef struct set_fwd {
    chan_sets sets;
    set_affine aff;
    bool zero_rule, unbiased;
    bool silu; /* y = silu(norm(x)) */
    double eps;
    float *out_mean, *out_rstd; /* per set, or NULL */
} set_fwd;

/* y from the count, mean and M2 of every set; sets_apply_scratch doubles of scratch. */
int64_t sets_apply_scratch(const chan_shape *sh, chan_sets sets);
void sets_apply(const chan_shape *sh, const set_fwd *p, const void *x, void *y, norma_arena *a,
                const double *set_count, const double *set_mean, const double *set_m2);

/* Backward over sets. Parameter gradients per (n, c): dgain = Σ dy·xhat, dbias = Σ dy, either summed over
 * the samples into C floats (weights) or stored per (n, c) in the data dtype at n·stride + c (modulation). */
typedef struct set_bwd {
    chan_sets sets;
    set_affine aff;
    bool zero_rule;
    double eps;
    const float *mean; /* per set: the saved mean, the centre */
    bool silu;         /* the gradient of silu(norm(x)): z from mean, rstd and aff (bias included) */
    const float *rstd; /* per set: the saved rstd (with silu) */
    float *dz;         /* with silu: where the first pass keeps dy·silu'(z) for the second (or NULL) */
    void *dgain, *dbias;
    bool per_sample; /* dgain/dbias per (n, c) in the data dtype; else C floats */
} set_bwd;

/* Per-(n, c) arrays of the backward, N·C doubles each. */
typedef struct set_bwd_work {
    double *t[4]; /* Σdy, Σdy·d, Σd, Σd² with d = x - centre */
    double *gain, *centre, *kg, *kx, *k0, *rs;
    chan_act act; /* with silu */
} set_bwd_work;

/* Scratch doubles of the three backward steps. */
int64_t sets_bwd_scratch(const chan_shape *sh, chan_sets sets);
/* Step 1: gain, centre (the saved set mean) and the sums t of every (n, c). */
void sets_bwd_local(const chan_shape *sh, const set_bwd *p, const void *dy, const void *x, norma_arena *a,
                    set_bwd_work *w);
/* Step 2: per set, Σg, Σg·d, Σd, Σd² (g = dy·gain) into sums[4·set], adding the (n, c) in the order n, c
 * over sh's N samples (gathered ones included, when sh describes the whole batch). */
void sets_bwd_combine(const chan_shape *sh, chan_sets sets, const double *gain, double *const t[4], double *sums);
/* Step 3: from the set sums, dx (if not NULL) and the parameter gradients of sh's samples. set_samples:
 * the samples each set spans (0: as sh's sets do; the whole batch's N for a synchronized BatchNorm). */
void sets_bwd_finish(const chan_shape *sh, const set_bwd *p, const set_bwd_work *w, const double *sums,
                     int64_t set_samples, const void *dy, const void *x, void *dx);

/* BatchNorm's argument checks (as norma_batch_norm_fwd/bwd make them), without the rule on a batch of
 * one value per channel: a synchronized BatchNorm applies it to the whole batch. */
norma_status bn_check_fwd(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                          int64_t spatial, const void *x, const float *running_mean, const float *running_var,
                          int training, double momentum, double eps, const void *y);
norma_status bn_check_bwd(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                          int64_t spatial, const void *dy, const void *x, const float *save_mean,
                          const float *running_mean, const float *running_var, int training, double eps);

/* running = (1 - momentum)·running + momentum·stat, with BatchNorm's unbiased variance M2/(count - 1). */
void bn_update_running(int64_t c, double momentum, const double *count, const double *mean, const double *m2,
                       float *running_mean, float *running_var);

#endif /* NORMA_SET_NORM_H */
