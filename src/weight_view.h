/* weight_view.h: a weight tensor seen along one dimension as (outer, rows, inner), the way the
 * reparametrizations (spectral_norm.c, weight_norm.c) address it; see norma.h. */
#ifndef NORMA_WEIGHT_VIEW_H
#define NORMA_WEIGHT_VIEW_H

#include "internal.h"
#include "kernels/kernels.h"

typedef struct weight_view {
    norma_dtype dtype;
    size_t es; /* bytes per element */
    int64_t outer, rows, inner, numel;
    const norma_kernel_table *k;
} weight_view;

/* Validates dtype and the three sizes (each >= 1, product addressable) and fills *w. The same memory
 * may be described differently: (outer, 1, inner) becomes (1, 1, outer·inner). */
static inline norma_status weight_view_make(const char *fn, norma_dtype dtype, int64_t outer, int64_t rows,
                                            int64_t inner, weight_view *w) {
    TRY(norma_check_dtype(fn, dtype));
    TRY(norma_check_count(fn, "outer", outer, 1));
    TRY(norma_check_count(fn, "rows", rows, 1));
    TRY(norma_check_count(fn, "inner", inner, 1));
    int64_t numel, sizes[3] = {outer, rows, inner};
    const char *const names[3] = {"outer", "rows", "inner"};
    TRY(norma_check_numel(fn, &numel, 3, sizes, names));
    /* one slice is the whole tensor: one contiguous run */
    if (rows == 1) outer = 1, inner = numel;
    *w = (weight_view){.dtype = dtype, .es = norma_dtype_size(dtype), .outer = outer, .rows = rows,
                       .inner = inner, .numel = numel, .k = norma_kernel_for(dtype)};
    return NORMA_OK;
}

/* The run weight[o, r, :] (inner elements) of a tensor `base` with this view's shape. */
static inline const void *weight_run(const weight_view *w, const void *base, int64_t o, int64_t r) {
    return (const char *)base + (size_t)((o * w->rows + r) * w->inner) * w->es;
}

#endif /* NORMA_WEIGHT_VIEW_H */
