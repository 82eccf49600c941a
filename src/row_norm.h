/* row_norm.h: the row-norm plan, for other plans whose statistic sets are rows (channel RMSNorm in
 * channels-last memory: each position's C channels are a row). */
#ifndef NORMA_ROW_NORM_H
#define NORMA_ROW_NORM_H

#include "internal.h"

/* What a row is normalized by:
 *   STAT_VARIANCE     LayerNorm:          (x - mean)/sqrt(var + eps)
 *   STAT_MEAN_SQUARE  RMSNorm:            x/sqrt(mean(x²) + eps)
 *   STAT_L2_CLAMP     channel RMSNorm:    x·sqrt(n)/max(‖x‖₂, eps)
 *   STAT_L2_UNIT      F.normalize:        x/max(‖x‖₂, eps) */
typedef enum { STAT_VARIANCE, STAT_MEAN_SQUARE, STAT_L2_CLAMP, STAT_L2_UNIT } row_stat;

/* y = z = x̂·(g0 + gain[j]) + bias[j] for each row, or silu(z) with act; arguments already validated.
 * Fails only with NORMA_ENOMEM. */
norma_status norma_row_stat_fwd(const char *fn, row_stat stat, norma_dtype dtype, int64_t rows, int64_t cols,
                                const void *x, const void *gain, double g0, const void *bias, double eps, int act,
                                void *y);

/* The backward (not for STAT_VARIANCE, which needs a saved mean): dx, and dgain = Σ dz·x̂,
 * dbias = Σ dz over the rows (cols floats each, or NULL), with dz = dy, or dy·silu'(z) with act (which
 * reads bias to form z). Fails only with NORMA_ENOMEM. */
norma_status norma_row_stat_bwd(const char *fn, row_stat stat, norma_dtype dtype, int64_t rows, int64_t cols,
                                const void *dy, const void *x, const void *gain, double g0, const void *bias,
                                double eps, int act, void *dx, float *dgain, float *dbias);

#endif /* NORMA_ROW_NORM_H */
