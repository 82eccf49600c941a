/* oracle.h: the row norms in plain long double, written from the definitions, for tests to
 * compare against; and test tensors that keep each value both in a norma dtype and as a double. */
#ifndef NORMA_TEST_ORACLE_H
#define NORMA_TEST_ORACLE_H

#include "../src/kernels/convert.h"
#include "check.h"
#include "norma.h"

/* ----- the compute precision ------------------------------------------------------------------ */

/* Whether norma computes dtype t in float: bf16 and f16 always, f32 when norma_set_f32_compute (or
 * NORMA_F32_COMPUTE=float, as ctest's *.f32_float runs set) chose float. Tolerances written for f32's
 * double computation (half an ulp, statistics exact) become those of the float computation then. */
static inline int in_float(norma_dtype t) {
    return t != NORMA_F32 || norma_get_f32_compute() == NORMA_F32_COMPUTE_FLOAT;
}

/* A few roundings of the compute precision, relative to a result's scale: double (rounded once to
 * f32 at the end), or float with its sums flushed into double. */
static inline double rel_for(norma_dtype t) { return in_float(t) ? 1e-5 : 4e-7; }

/* f32 data whose statistic leaves float's range (rstd beyond FLT_MAX: data below ~1e-38 with eps 0),
 * computed in float: an output whose scale (rstd times the gain) leaves float's range too is inf/NaN,
 * as PyTorch's (docs/guarantees.md); the others stay right. In double every output is right. */
static inline int rstd_overflows_float(norma_dtype t, double spread, double eps) {
    return t == NORMA_F32 && in_float(t) && eps == 0.0 && spread < 1e-37;
}

/* For rstd_overflows_float: the inf/NaN outputs are set to the reference, the usual tolerances judge
 * the others. */
static inline void excuse_nonfinite(double *got, const double *ref, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(got[i])) got[i] = ref[i];
}

/* ----- tensors ------------------------------------------------------------------------------ */

typedef struct {
    norma_dtype dtype;
    int64_t n;
    double *v; /* the values, exactly as stored */
    void *p;   /* the storage handed to norma */
} tensor;

static inline tensor t_new(norma_dtype dtype, int64_t n) {
    tensor t = {dtype, n, xmalloc((size_t)n * sizeof(double)), xmalloc((size_t)n * norma_dtype_size(dtype))};
    for (int64_t i = 0; i < n; i++) t.v[i] = 0.0, store_elem(dtype, t.p, i, 0.0f);
    return t;
}

static inline void t_free(tensor *t) {
    free(t->v), free(t->p);
    t->v = t->p = NULL;
}

static inline void t_set(tensor *t, int64_t i, double value) {
    store_elem(t->dtype, t->p, i, (float)value);
    t->v[i] = load_elem(t->dtype, t->p, i);
}

static inline void t_fill_normal(tensor *t, double mean, double std) {
    for (int64_t i = 0; i < t->n; i++) t_set(t, i, mean + std * rng_normal());
}

/* Re-reads the storage into v (after norma wrote it). */
static inline void t_sync(tensor *t) {
    for (int64_t i = 0; i < t->n; i++) t->v[i] = load_elem(t->dtype, t->p, i);
}

static inline tensor t_copy(const tensor *src) {
    tensor t = t_new(src->dtype, src->n);
    memcpy(t.v, src->v, (size_t)src->n * sizeof(double));
    memcpy(t.p, src->p, (size_t)src->n * norma_dtype_size(src->dtype));
    return t;
}

/* The spacing of dtype values around |v| (the unit in the last place). */
static inline double ulp_of(norma_dtype dtype, double v) {
    int mant_bits = dtype == NORMA_F32 ? 23 : dtype == NORMA_BF16 ? 7 : 10;
    int min_exp = dtype == NORMA_F16 ? -14 : -126;
    int e;
    frexp(fabs(v), &e);
    e -= 1; /* |v| in [2^e, 2^(e+1)) */
    if (v == 0.0 || e < min_exp) e = min_exp;
    return ldexp(1.0, e - mant_bits);
}

static inline double max_abs(const double *v, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(v[i]) > m) m = fabs(v[i]);
    return m;
}

/* ----- the row norms, from their definitions --------------------------------------------------
 * gain and bias are full rows x cols arrays (each row's effective vectors), or NULL (1 and 0). */

static inline void oracle_row_forward(int rms, int64_t rows, int64_t cols, const double *x, const double *gain,
                               const double *bias, double eps, double *y, double *mean, double *rstd) {
    for (int64_t r = 0; r < rows; r++) {
        const double *xr = x + r * cols;
        long double m = 0.0L, q = 0.0L;
        if (!rms) {
            for (int64_t j = 0; j < cols; j++) m += xr[j];
            m /= cols;
        }
        for (int64_t j = 0; j < cols; j++) q += ((long double)xr[j] - m) * ((long double)xr[j] - m);
        long double s = 1.0L / sqrtl(q / cols + eps);
        for (int64_t j = 0; j < cols; j++) {
            long double v = ((long double)xr[j] - m) * s;
            if (gain) v *= gain[r * cols + j];
            if (bias) v += bias[r * cols + j];
            y[r * cols + j] = (double)v;
        }
        if (mean) mean[r] = (double)m;
        if (rstd) rstd[r] = (double)s;
    }
}

/* The analytic backward (see docs/row_norms.md), per element: dx, and the gradient terms of each
 * element's gain and bias (dgain = dy·xhat, dbias = dy) for the caller to sum as the layer shares
 * them. The statistics are recomputed exactly from x. */
static inline void oracle_row_backward(int rms, int64_t rows, int64_t cols, const double *dy, const double *x,
                                const double *gain, double eps, double *dx, double *dgain) {
    for (int64_t r = 0; r < rows; r++) {
        const double *xr = x + r * cols, *dyr = dy + r * cols;
        long double m = 0.0L, q = 0.0L;
        if (!rms) {
            for (int64_t j = 0; j < cols; j++) m += xr[j];
            m /= cols;
        }
        for (int64_t j = 0; j < cols; j++) q += ((long double)xr[j] - m) * ((long double)xr[j] - m);
        long double s = 1.0L / sqrtl(q / cols + eps), mg = 0.0L, mgx = 0.0L;
        for (int64_t j = 0; j < cols; j++) {
            long double g = dyr[j] * (gain ? gain[r * cols + j] : 1.0), xhat = (xr[j] - m) * s;
            mg += g, mgx += g * xhat;
        }
        mg /= cols, mgx /= cols;
        for (int64_t j = 0; j < cols; j++) {
            long double g = dyr[j] * (gain ? gain[r * cols + j] : 1.0), xhat = (xr[j] - m) * s;
            if (dx) dx[r * cols + j] = (double)(s * (g - (rms ? 0.0L : mg) - xhat * mgx));
            if (dgain) dgain[r * cols + j] = (double)(dyr[j] * xhat);
        }
    }
}

#endif /* NORMA_TEST_ORACLE_H */
