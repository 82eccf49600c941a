/* channel_engine.h: the machinery every channel norm shares (src/channel_engine.c).
 *
 * An activation (N, C, spatial) is cut into cells: one sample n, one channel c, one block k of
 * spatial positions. Channels-first, a cell is a contiguous run of one plane; channels-last, the
 * cells (n, k, *) are one block of rows of the (positions x channels) matrix, reduced down its
 * columns. Block sizes depend only on the shape, so the cells, and every sum built from them in a
 * fixed order, are the same for any thread count.
 *
 * A norm is then three steps: statistics per cell (moments forward; four sums backward), merged into
 * its statistic sets (a rectangle of samples x channels: one channel over all samples for
 * BatchNorm, one sample's group of channels for GroupNorm/InstanceNorm); per-(n, c) coefficients
 * from the set statistics; and one pass applying them. */
#ifndef NORMA_CHANNEL_ENGINE_H
#define NORMA_CHANNEL_ENGINE_H

#include "internal.h"
#include "kernels/kernels.h"

typedef struct chan_shape {
    const norma_kernel_table *k;
    norma_dtype dtype;
    size_t es;    /* bytes per element */
    bool last;    /* channels-last (also used for channels-first with one position: same memory) */
    int64_t N, C, S;
    int64_t K, block; /* K spatial blocks of `block` positions each, the last possibly shorter */
    int64_t cpt;      /* channels per task (channels-first) */
    int stream_y, stream_dx; /* forward / backward outputs of this shape stored past the caches */
} chan_shape;

chan_shape chan_make_shape(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c, int64_t spatial);

/* The argument checks every channel norm makes: dtype, layout, n >= 0, c >= 1, spatial >= 0, and a size
 * that fits the address space. */
norma_status chan_check_shape(const char *fn, norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                              int64_t spatial);

/* A statistic set: samples [n0, n1) x channels [c0, c1), all positions. */
typedef struct chan_rect {
    int64_t n0, n1, c0, c1;
} chan_rect;

/* The sets of a norm: per channel (BatchNorm, and the running-statistics modes), or per (sample,
 * group of `cpg` consecutive channels) (GroupNorm; InstanceNorm is cpg = 1). */
typedef struct chan_sets {
    bool per_channel;
    int64_t cpg;
} chan_sets;

int64_t chan_num_sets(const chan_shape *sh, chan_sets sets);
chan_rect chan_set_rect(const chan_shape *sh, chan_sets sets, int64_t set);
int64_t chan_set_of(const chan_shape *sh, chan_sets sets, int64_t n, int64_t c);

/* ----- forward ----- */

/* Count, mean and M2 = Σ(x - mean)² of every set of `x`, in double: the two steps below. */
void chan_set_moments(const chan_shape *sh, chan_sets sets, const void *x, norma_arena *a, double *count,
                      double *mean, double *m2);
/* The cells: N·K·C of them, cell (n, k, c) at (n·K + k)·C + c. Their per-sample layout depends on C and
 * the spatial size only, so the cells of samples split over processes are those of the whole batch. */
int64_t chan_num_cells(const chan_shape *sh);
void chan_cell_moments(const chan_shape *sh, const void *x, norma_arena *a, double *cell_mean, double *cell_m2);
/* Merges cells into sets (in the order n, c, k over sh's N samples; see chan_merge_set). */
void chan_merge_cells(const chan_shape *sh, chan_sets sets, const double *cell_mean, const double *cell_m2,
                      double *count, double *mean, double *m2);
/* Scratch doubles chan_set_moments needs. */
int64_t chan_moments_scratch(const chan_shape *sh);

/* y = (x - m[n,c])·a[n,c] + b[n,c], with the coefficient vectors of sample n at m + n·stride (stride
 * 0: one vector for all samples); silu(y) if `silu`. */
void chan_apply(const chan_shape *sh, const void *x, void *y, const double *m, const double *a, const double *b,
                int64_t stride, bool silu);

/* A SiLU after the norm, for the backward: its input z = (x - m[n,c])·a[n,c] + b[n,c] (at n·stride + c,
 * as the call's other vectors). The backward passes then see dy·silu'(z) where they read dy. With dz,
 * the sums also keep it there as floats, whatever the dtype, the element at x's index i at
 * dz + i - dz_origin (0: a tensor like x; channels-last: f32 data only), and the apply reads it back
 * instead of computing the SiLU again. */
typedef struct chan_act {
    const double *m, *a, *b;
    float *dz;
    int64_t dz_origin;
} chan_act;

/* ----- backward ----- */

/* Per (n, c), over its positions, with d = x - centre[n·stride + c]:
 * t[0] = Σdy, t[1] = Σdy·d, t[2] = Σd, t[3] = Σd², each N·C doubles at t[i][n·C + c] (act: see chan_act). */
void chan_bwd_sums(const chan_shape *sh, const void *dy, const void *x, const double *centre, int64_t stride,
                   const chan_act *act, norma_arena *a, double *t[4]);
int64_t chan_bwd_scratch(const chan_shape *sh);

/* dx = kg[n,c]·dy + kx[n,c]·x̂ + k0[n,c] with x̂ = (x - centre[n,c])·rstd[n,c]; kx and k0 may be NULL
 * (0), and then rstd too. */
void chan_apply_bwd(const chan_shape *sh, const void *dy, const void *x, void *dx, const double *centre,
                    const double *rstd, const double *kg, const double *kx, const double *k0, int64_t stride,
                    const chan_act *act);

/* ----- set by set -----
 * The steps above on whole planes (n, c) for c in [c0, c1), for a plan that works one set at a time
 * while the set is cached: only where chan_planes (channels-first, each plane one cell). Cells and
 * t are indexed as above, and every value is the one the whole-tensor steps give. */
bool chan_planes(const chan_shape *sh);
/* Merges set s's cells (as chan_merge_cells does for every set). */
void chan_merge_set(const chan_shape *sh, chan_sets sets, const double *cell_mean, const double *cell_m2, int64_t s,
                    double *count, double *mean, double *m2);
/* What a set's passes fetch as they go: plane (n, c) fetches plane (n + dn, c + dc), the same plane of
 * the set the plan reduces next (which has the same shape), or the set's next plane; nothing if !on. */
typedef struct chan_fetch {
    bool on;
    int64_t dn, dc;
    bool both; /* the backward's passes: dy and x (else the sums dy, the apply x) */
    bool in_set; /* (dn, dc) is the set's next plane: nothing where c + dc leaves the set's channels */
} chan_fetch;
/* ... where plane (n, c) also fetches a plane of x, as `fetch` says. */
void chan_moments_planes(const chan_shape *sh, const void *x, int64_t n, int64_t c0, int64_t c1, chan_fetch fetch,
                         double *cell_mean, double *cell_m2);
void chan_apply_planes(const chan_shape *sh, const void *x, void *y, const double *m, const double *a, const double *b,
                       int64_t stride, bool silu, int64_t n, int64_t c0, int64_t c1, chan_fetch fetch);
/* The backward's two passes over a set's planes fetch the next set's, as `fetch` says: the sums its dy,
 * the apply its x (so that neither pass leaves the memory idle), or both (fetch.both). */
void chan_bwd_sums_planes(const chan_shape *sh, const void *dy, const void *x, const double *centre, int64_t stride,
                          const chan_act *act, int64_t n, int64_t c0, int64_t c1, chan_fetch fetch,
                          double *const t[4]);
void chan_apply_bwd_planes(const chan_shape *sh, const void *dy, const void *x, void *dx, const double *centre,
                           const double *rstd, const double *kg, const double *kx, const double *k0, int64_t stride,
                           const chan_act *act, int64_t n, int64_t c0, int64_t c1, chan_fetch fetch);

/* ----- the gradient of a normalization over a set -----
 * With g = dy·gain, count elements, variance over nv (count, or count - 1 for an unbiased one):
 *     dx = rstd·(g - Σg/count - xhat·Σ(g·xhat)/nv),   xhat = (x - mean)·rstd
 * From Σg, Σg·d, Σd, Σd² (d = x - shift) it gives the exact mean and rstd and the coefficients
 * dx = rstd·g + kx·x̂ + k0. */
typedef struct chan_grad {
    double mean, rstd, delta; /* delta = mean - shift */
    double kx, k0;
} chan_grad;
chan_grad chan_set_grad(double count, double nv, double shift, double eps, bool zero_rstd_rule, const double s[4]);

/* rstd = 1/sqrt(var + eps); with zero_rstd_rule (BatchNorm's InvStd), 0 when var = eps = 0. */
double chan_rstd(double var, double eps, bool zero_rstd_rule);

/* Per-channel parameters as doubles: out[c] = g0 + p[n·stride + c] (p NULL: g0). */
void chan_param(const chan_shape *sh, const void *p, double g0, int64_t stride, int64_t n, double *out);

#endif /* NORMA_CHANNEL_ENGINE_H */
