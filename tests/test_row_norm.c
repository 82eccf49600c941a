/* test_row_norm.c: LayerNorm, RMSNorm and AdaLN modulation against the long-double oracle,
 * finite differences, and every documented behaviour: in-place use, extreme values, NaN containment,
 * empty batches, thread-count independence, and every error path.
 *
 * Run under each kernel variant the CPU supports (ctest sets NORMA_KERNELS). */
#include <float.h>

#include "oracle.h"

static const norma_dtype dtypes[] = {NORMA_F32, NORMA_BF16, NORMA_F16};
static const char *dtype_name(norma_dtype t) { return t == NORMA_F32 ? "f32" : t == NORMA_BF16 ? "bf16" : "f16"; }

/* ----- one problem of any of the three layers ---------------------------------------------- */

typedef enum { OP_LN, OP_RMS, OP_ADA_LN, OP_ADA_RMS } op_t;
static const char *op_name(op_t op) {
    static const char *names[] = {"layer_norm", "rms_norm", "ada_layer_norm", "ada_rms_norm"};
    return names[op];
}
static int is_ada(op_t op) { return op >= OP_ADA_LN; }
static int is_rms(op_t op) { return op == OP_RMS || op == OP_ADA_RMS; }

typedef struct {
    op_t op;
    norma_dtype dtype;
    int64_t batch, tokens, dim; /* LayerNorm/RMSNorm: rows = batch, tokens = 1 */
    int has_gain, has_bias;     /* weight/bias, or scale/shift */
    int per_token;              /* AdaLN: one modulation vector per token */
    int64_t gap;                /* AdaLN: extra elements between modulation vectors */
    int shared;                 /* AdaLN per sample: one vector for every sample (sample stride 0) */
    double eps, x_mean, x_std;
} row_case;

typedef struct {
    row_case c;
    int64_t rows, sb, sl, vec_len; /* vec_len: elements of the weight/bias or modulation storage */
    tensor x, gain, bias;          /* gain: weight or scale; bias: bias or shift */
    double *G, *B;                 /* each row's effective gain and bias (rows x dim), for the oracle */
} row_problem;

static int64_t vec_off(const row_problem *P, int64_t r) {
    return is_ada(P->c.op) ? (r / P->c.tokens) * P->sb + (r % P->c.tokens) * P->sl : 0;
}

/* 1 where some row reads the weight/bias or modulation storage; 0 in the gaps between vectors. */
static char *used_mask(const row_problem *P) {
    char *used = calloc((size_t)P->vec_len + 1, 1);
    for (int64_t r = 0; r < P->rows; r++)
        for (int64_t j = 0; j < P->c.dim; j++) used[vec_off(P, r) + j] = 1;
    return used;
}

static void expand_vectors(row_problem *P) {
    int64_t d = P->c.dim;
    for (int64_t r = 0; r < P->rows; r++)
        for (int64_t j = 0; j < d; j++) {
            int64_t o = vec_off(P, r) + j;
            double g = P->c.has_gain ? P->gain.v[o] : 0.0;
            P->G[r * d + j] = is_ada(P->c.op) ? 1.0 + g : P->c.has_gain ? g : 1.0;
            P->B[r * d + j] = P->c.has_bias && P->c.op != OP_RMS ? P->bias.v[o] : 0.0; /* RMSNorm has no bias */
        }
}

static row_problem make_problem(row_case c) {
    row_problem P = {.c = c};
    if (!is_ada(c.op)) c.tokens = 1, P.c.tokens = 1;
    P.rows = c.batch * c.tokens;
    if (is_ada(c.op)) {
        P.sl = c.per_token ? c.dim + c.gap : 0;
        P.sb = c.per_token ? c.tokens * P.sl + c.gap : c.shared ? 0 : c.dim + c.gap;
        P.vec_len = c.batch == 0 || c.tokens == 0 ? 0 : (c.batch - 1) * P.sb + (c.tokens - 1) * P.sl + c.dim;
    } else {
        P.vec_len = c.dim;
    }
    P.x = t_new(c.dtype, P.rows * c.dim);
    t_fill_normal(&P.x, c.x_mean, c.x_std);
    P.gain = t_new(c.dtype, P.vec_len);
    P.bias = t_new(c.dtype, P.vec_len);
    t_fill_normal(&P.gain, is_ada(c.op) ? 0.0 : 1.0, 0.5);
    t_fill_normal(&P.bias, 0.0, 0.5);
    P.G = xmalloc((size_t)(P.rows * c.dim) * sizeof(double));
    P.B = xmalloc((size_t)(P.rows * c.dim) * sizeof(double));
    expand_vectors(&P);
    return P;
}

static void free_problem(row_problem *P) {
    t_free(&P->x), t_free(&P->gain), t_free(&P->bias);
    free(P->G), free(P->B);
}

static norma_status run_forward(const row_problem *P, const void *x, void *y, float *mean, float *rstd) {
    const row_case *c = &P->c;
    const void *g = c->has_gain ? P->gain.p : NULL, *b = c->has_bias ? P->bias.p : NULL;
    switch (c->op) {
    case OP_LN: return norma_layer_norm_fwd(c->dtype, P->rows, c->dim, x, g, b, c->eps, y, mean, rstd);
    case OP_RMS: return norma_rms_norm_fwd(c->dtype, P->rows, c->dim, x, g, c->eps, y, rstd);
    default:
        return norma_ada_layer_norm_fwd(c->dtype, c->op == OP_ADA_LN ? NORMA_LAYER_NORM : NORMA_RMS_NORM, c->batch,
                                        c->tokens, c->dim, x, b, g, P->sb, P->sl, c->eps, y, mean, rstd);
    }
}

/* dgain/dbias: float arrays (weights) or dtype storage (modulation). */
static norma_status run_backward(const row_problem *P, const void *dy, const void *x, const float *mean, void *dx,
                                 void *dgain, void *dbias) {
    const row_case *c = &P->c;
    const void *g = c->has_gain ? P->gain.p : NULL;
    double eps = c->eps;
    switch (c->op) {
    case OP_LN: return norma_layer_norm_bwd(c->dtype, P->rows, c->dim, dy, x, g, mean, eps, dx, dgain, dbias);
    case OP_RMS: return norma_rms_norm_bwd(c->dtype, P->rows, c->dim, dy, x, g, eps, dx, dgain);
    default:
        return norma_ada_layer_norm_bwd(c->dtype, c->op == OP_ADA_LN ? NORMA_LAYER_NORM : NORMA_RMS_NORM, c->batch,
                                        c->tokens, c->dim, dy, x, g, P->sb, P->sl, mean, eps, dx, dbias, dgain);
    }
}

static char *describe(const row_case *c) {
    static char buf[256];
    snprintf(buf, sizeof buf, "%s %s batch=%lld tokens=%lld dim=%lld gain=%d bias=%d per_token=%d shared=%d eps=%g mean=%g",
             op_name(c->op), dtype_name(c->dtype), (long long)c->batch, (long long)c->tokens, (long long)c->dim,
             c->has_gain, c->has_bias, c->per_token, c->shared && !c->per_token, c->eps, c->x_mean);
    return buf;
}

/* ----- forward and backward against the oracle ---------------------------------------------- */

/* Output tolerance: one unit in the last place of the dtype, plus a few float roundings (the compute
 * precision) of the terms that were added: |xhat·gain| and |bias|; and |mean·rstd·gain| times the
 * precision of the centre (a float hi + lo pair, ~2^-48). */
static double out_tol(norma_dtype t, double ref, double terms, double centring) {
    return ulp_of(t, ref) + terms * 0x1p-21 + centring * 0x1p-44;
}

static void check_case(row_case c) {
    row_problem P = make_problem(c);
    int64_t rows = P.rows, d = c.dim, n = rows * d;
    tensor y = t_new(c.dtype, n), dy = t_new(c.dtype, n), dx = t_new(c.dtype, n);
    float *mean = xmalloc((size_t)rows * sizeof(float) + 1), *rstd = xmalloc((size_t)rows * sizeof(float) + 1);
    double *ry = xmalloc((size_t)n * sizeof(double) + 1), *rmean = xmalloc((size_t)rows * sizeof(double) + 1);
    double *rrstd = xmalloc((size_t)rows * sizeof(double) + 1), *rdx = xmalloc((size_t)n * sizeof(double) + 1);
    double *rdg = xmalloc((size_t)n * sizeof(double) + 1);

    /* forward */
    CHECK_OK(run_forward(&P, P.x.p, y.p, mean, rstd));
    t_sync(&y);
    oracle_row_forward(is_rms(c.op), rows, d, P.x.v, P.G, P.B, c.eps, ry, rmean, rrstd);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i / d;
        double xhat = (P.x.v[i] - (is_rms(c.op) ? 0.0 : rmean[r])) * rrstd[r];
        /* LayerNorm: the mean is known to a few float roundings of the spread, so |gain| (the size of a
         * unit of x̂) is a term too */
        double centring = is_rms(c.op) ? 0.0 : fabs(rmean[r] * rrstd[r] * P.G[i]);
        double terms = (fabs(xhat) + (is_rms(c.op) ? 0.0 : 1.0)) * fabs(P.G[i]) + fabs(P.B[i]);
        double err = fabs(y.v[i] - ry[i]) / out_tol(c.dtype, ry[i], terms, centring);
        if (err > worst) worst = err;
    }
    CHECK(worst <= 1.0, "%s: forward error %.3g tolerances", describe(&c), worst);
    /* statistics: sums of float terms flushed into double every 4 terms per lane, so within ~2^-22 of
     * the spread (mean) and of the value (rstd), beyond the rounding to float */
    for (int64_t r = 0; r < rows; r++) {
        if (!is_rms(c.op))
            CHECK(fabs(mean[r] - rmean[r]) <= ulp_of(NORMA_F32, rmean[r]) + 0x1p-20 / rrstd[r],
                  "%s: mean[%lld] %.9g vs %.9g", describe(&c), (long long)r, (double)mean[r], rmean[r]);
        /* beyond FLT_MAX (subnormal rows, eps 0) the float rstd is inf, the rounding of the value */
        CHECK(isinf((float)rrstd[r]) ? isinf(rstd[r])
                                     : fabs(rstd[r] - rrstd[r]) <= ulp_of(NORMA_F32, rrstd[r]) + 0x1p-21 * rrstd[r],
              "%s: rstd[%lld] %.9g vs %.9g", describe(&c), (long long)r, (double)rstd[r], rrstd[r]);
    }

    /* backward */
    t_fill_normal(&dy, 0.0, 1.0);
    int ada = is_ada(c.op);
    int64_t glen = ada ? P.vec_len : d;
    size_t gbytes = (size_t)glen * (ada ? norma_dtype_size(c.dtype) : sizeof(float)) + 1;
    void *dgain = xmalloc(gbytes), *dbias = xmalloc(gbytes);
    memset(dgain, 0x7f, gbytes), memset(dbias, 0x7f, gbytes); /* overwritten, or left alone in gaps */
    void *dgain_arg = c.has_gain || ada ? dgain : NULL, *dbias_arg = c.op == OP_RMS ? NULL : dbias;
    CHECK_OK(run_backward(&P, dy.p, P.x.p, mean, dx.p, dgain_arg, dbias_arg));
    t_sync(&dx);
    oracle_row_backward(is_rms(c.op), rows, d, dy.v, P.x.v, P.G, c.eps, rdx, rdg);
    /* dx = rstd·(g - mean(g) - xhat·mean(g·xhat)) cancels (completely for one-element rows): its error
     * is relative to the terms, of size T_r = rstd·max|g| in row r: a few float roundings of T_r. */
    worst = 0.0;
    double T = 0.0;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i / d;
        if (i % d == 0) { /* a new row */
            T = 0.0;
            for (int64_t j = 0; j < d; j++) T = fmax(T, fabs(dy.v[r * d + j] * P.G[r * d + j]));
            T *= rrstd[r];
        }
        /* and, as in the forward, the precision of the centre relative to the spread */
        double centring = is_rms(c.op) ? 0.0 : fabs(rmean[r]) * rrstd[r] * 0x1p-44;
        double tol = ulp_of(c.dtype, rdx[i]) + T * (2e-6 + centring);
        double err = fabs(dx.v[i] - rdx[i]) / tol;
        if (isinf((float)rdx[i])) err = dx.v[i] == (float)rdx[i] ? 0.0 : INFINITY; /* overflows the dtype */
        if (err > worst) worst = err;
    }
    CHECK(worst <= 1.0, "%s: dx error %.3g tolerances", describe(&c), worst);

    /* parameter gradients: sum the per-element terms the way the layer shares its vectors */
    double *sg = calloc((size_t)glen + 1, sizeof(double)), *sb = calloc((size_t)glen + 1, sizeof(double));
    double *ag = calloc((size_t)glen + 1, sizeof(double)), *ab = calloc((size_t)glen + 1, sizeof(double));
    char *written = ada ? used_mask(&P) : memset(xmalloc((size_t)glen + 1), 1, (size_t)glen + 1);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i / d, o = vec_off(&P, r) + i % d;
        /* the size of the terms, and the mean's own double rounding relative to the spread */
        double centring = is_rms(c.op) ? 0.0 : fabs(dy.v[i] * rmean[r] * rrstd[r]) * 0x1p-23;
        double spread = is_rms(c.op) ? 0.0 : fabs(dy.v[i]); /* dy times a unit of x̂, as in the forward */
        sg[o] += rdg[i], ag[o] += fabs(rdg[i]) + spread + centring;
        sb[o] += dy.v[i], ab[o] += fabs(dy.v[i]);
    }
    norma_dtype gt = ada ? c.dtype : NORMA_F32;
    for (int which = 0; which < 2; which++) {
        void *out = which == 0 ? dgain_arg : dbias_arg;
        const double *ref = which == 0 ? sg : sb, *abs_sum = which == 0 ? ag : ab;
        if (!out) continue;
        worst = 0.0;
        int64_t bad_gap = -1;
        for (int64_t o = 0; o < glen; o++) {
            if (!written[o] && rows > 0) { /* a gap between vectors: must be untouched */
                unsigned char *bytes = (unsigned char *)out + (size_t)o * norma_dtype_size(gt);
                for (size_t b = 0; b < norma_dtype_size(gt); b++)
                    if (bytes[b] != 0x7f) bad_gap = o;
                continue;
            }
            double got = load_elem(gt, out, o);
            double tol = ulp_of(gt, ref[o]) + abs_sum[o] * 2e-6;
            double err = fabs(got - ref[o]) / tol;
            if (err > worst) worst = err;
        }
        CHECK(worst <= 1.0, "%s: %s error %.3g tolerances", describe(&c), which ? "dbias" : "dgain", worst);
        CHECK(bad_gap < 0, "%s: wrote between the modulation vectors at %lld", describe(&c), (long long)bad_gap);
    }
    free(sg), free(sb), free(ag), free(ab), free(written), free(dgain), free(dbias);
    free(mean), free(rstd), free(ry), free(rmean), free(rrstd), free(rdx), free(rdg);
    t_free(&y), t_free(&dy), t_free(&dx);
    free_problem(&P);
}

/* Every row length 1..67 (each tail of a 16-lane step, the 2048-chunk boundary) and odd large ones,
 * for every layer and dtype, with and without parameters. */
static void test_against_oracle(void) {
    static const int64_t large[] = {127, 128, 129, 1000, 2047, 2048, 2049, 3072, 4097, 6151};
    for (size_t ti = 0; ti < 3; ti++)
        for (int op = OP_LN; op <= OP_ADA_RMS; op++) {
            for (int64_t dim = 1; dim <= 67 + 10; dim++) {
                int64_t d = dim <= 67 ? dim : large[dim - 68];
                row_case c = {.op = op, .dtype = dtypes[ti], .batch = 3, .tokens = 2, .dim = d,
                              .has_gain = (int)(d % 3 != 0), .has_bias = (int)(d % 4 != 1), .per_token = (int)(d % 2),
                              .gap = d % 5, .shared = (int)(d % 4 == 2), .eps = 1e-5, .x_mean = (d % 7) * 0.5,
                              .x_std = 1.0 + (double)(d % 3)};
                check_case(c);
            }
        }
}

/* Large means (1e4 .. 1e6 with a spread of 1e-2) and huge values (|x| ~ 1e30, where x² overflows a
 * float): PyTorch loses these rows; norma must match float64 to 1e-4. */
static void test_extreme_rows(void) {
    /* large means over small spreads, |x| ~ 1e30 (x² overflows float), and subnormal rows with eps 0
     * (x² underflows float; in double the statistics stay exact) */
    static const double means[] = {1e4, 1e5, 1e6, -1e4, 0.0, 0.0};
    static const double spreads[] = {1e-2, 1e-2, 1e-1, 1e-2, 1e30, 1e-39};
    for (int op = OP_LN; op <= OP_ADA_RMS; op++)
        for (int k = 0; k < 6; k++) {
            row_case c = {.op = op, .dtype = NORMA_F32, .batch = 4, .tokens = 3, .dim = 3072, .has_gain = 1,
                          .has_bias = 1, .eps = k == 5 ? 0.0 : 1e-5, .x_mean = means[k], .x_std = spreads[k]};
            if (is_rms(op) && k < 4) c.x_std = means[k]; /* RMSNorm: huge values too */
            row_problem P = make_problem(c);
            int64_t n = P.rows * c.dim;
            tensor y = t_new(NORMA_F32, n);
            double *ry = xmalloc((size_t)n * sizeof(double));
            CHECK_OK(run_forward(&P, P.x.p, y.p, NULL, NULL));
            t_sync(&y);
            oracle_row_forward(is_rms(op), P.rows, c.dim, P.x.v, P.G, P.B, c.eps, ry, NULL, NULL);
            if (rstd_overflows_float(c.dtype, c.x_std, c.eps)) excuse_nonfinite(y.v, ry, n);
            double worst = 0.0, scale = max_abs(ry, n);
            for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(y.v[i] - ry[i]) / scale);
            CHECK(worst <= 1e-4 && isfinite(worst), "%s std=%g: relative error %.3g", describe(&c), c.x_std, worst);
            free(ry), t_free(&y);
            free_problem(&P);
        }
    /* the same rows through the backward (the oracle recomputes exact statistics) */
    for (int k = 0; k < 6; k++) {
        row_case c = {.op = OP_LN, .dtype = NORMA_F32, .batch = 5, .dim = 1000, .has_gain = 1, .has_bias = 1,
                      .eps = k == 5 ? 0.0 : 1e-5, .x_mean = means[k], .x_std = spreads[k]};
        if (!rstd_overflows_float(c.dtype, c.x_std, c.eps)) check_case(c); /* else inf/NaN: the forward above */
    }
}

/* 16-bit rows are centred on the mean of their first 16 elements; where that is more than a standard
 * deviation from the row's mean (here the first 16 elements are 60 standard deviations out, then a
 * row with a trend), the row is summed again around its mean: the saved statistics stay within the
 * tolerances of the channel norms' tests (without the second pass, rstd was off by 1.5e-6 relative). */
static void test_far_head(void) {
    int64_t rows = 2, cols = 3000;
    for (int d = 1; d < 3; d++) {
        tensor x = t_new(dtypes[d], rows * cols), y = t_new(dtypes[d], rows * cols);
        for (int64_t j = 0; j < cols; j++) {
            t_set(&x, j, j < 16 ? 60.0 : rng_normal());
            t_set(&x, cols + j, (double)j / (double)cols + 0.01 * rng_normal());
        }
        float mean[2], rstd[2];
        double rm[2], rr[2], *ry = xmalloc((size_t)(rows * cols) * sizeof(double));
        CHECK_OK(norma_layer_norm_fwd(dtypes[d], rows, cols, x.p, NULL, NULL, 1e-5, y.p, mean, rstd));
        oracle_row_forward(0, rows, cols, x.v, NULL, NULL, 1e-5, ry, rm, rr);
        for (int64_t r = 0; r < rows; r++)
            CHECK(fabs(mean[r] - rm[r]) <= ulp_of(NORMA_F32, rm[r]) + 0x1p-20 / rr[r] &&
                      fabs(rstd[r] - rr[r]) <= ulp_of(NORMA_F32, rr[r]) + 0x1p-21 * rr[r],
                  "%s row %lld with a far head: mean %.9g vs %.9g, rstd %.9g vs %.9g", dtype_name(dtypes[d]),
                  (long long)r, (double)mean[r], rm[r], (double)rstd[r], rr[r]);
        t_free(&x), t_free(&y), free(ry);
    }
}

/* ----- finite differences in double ---------------------------------------------------------- */

/* L = Σ r·y. The oracle forward is exact enough (long double) that central differences with a
 * relative step of 1e-6 give the gradient to ~1e-9. */
static double loss(const row_problem *P, const double *x, const double *r) {
    int64_t n = P->rows * P->c.dim;
    double *y = xmalloc((size_t)n * sizeof(double)), l = 0.0;
    oracle_row_forward(is_rms(P->c.op), P->rows, P->c.dim, x, P->G, P->B, P->c.eps, y, NULL, NULL);
    for (int64_t i = 0; i < n; i++) l += r[i] * y[i];
    free(y);
    return l;
}

static double fd(row_problem *P, double *value, const double *x, const double *r) {
    double v = *value, h = 1e-6 * fmax(1.0, fabs(v));
    *value = v + h;
    expand_vectors(P);
    double lp = loss(P, x, r);
    *value = v - h;
    expand_vectors(P);
    double lm = loss(P, x, r);
    *value = v;
    expand_vectors(P);
    return (lp - lm) / (2.0 * h);
}

static void test_finite_differences(void) {
    for (int op = OP_LN; op <= OP_ADA_RMS; op++)
        for (int per_token = 0; per_token <= (is_ada(op) ? 1 : 0); per_token++) {
            row_case c = {.op = op, .dtype = NORMA_F32, .batch = 2, .tokens = 3, .dim = 13, .has_gain = 1,
                          .has_bias = 1, .per_token = per_token, .gap = 2, .eps = 1e-3, .x_mean = 0.3, .x_std = 1.5};
            row_problem P = make_problem(c);
            int64_t n = P.rows * c.dim;
            tensor dy = t_new(NORMA_F32, n), dx = t_new(NORMA_F32, n), y = t_new(NORMA_F32, n);
            t_fill_normal(&dy, 0.0, 1.0);
            float mean[6], rstd[6];
            int ada = is_ada(op);
            tensor dg = t_new(NORMA_F32, ada ? P.vec_len : c.dim), db = t_new(NORMA_F32, ada ? P.vec_len : c.dim);
            CHECK_OK(run_forward(&P, P.x.p, y.p, mean, rstd));
            CHECK_OK(run_backward(&P, dy.p, P.x.p, mean, dx.p, dg.p, op == OP_RMS ? NULL : db.p));
            t_sync(&dx), t_sync(&dg), t_sync(&db);
            double *xv = P.x.v, worst = 0.0;
            for (int64_t i = 0; i < n; i++) {
                double g = fd(&P, &xv[i], xv, dy.v);
                worst = fmax(worst, fabs(dx.v[i] - g) / (1e-5 + 1e-5 * fabs(g)));
            }
            CHECK(worst <= 1.0, "%s: dx vs finite differences: %.3g tolerances", describe(&c), worst);
            worst = 0.0;
            char *used = used_mask(&P);
            for (int64_t o = 0; o < P.vec_len; o++) {
                if (!used[o]) continue; /* a gap */
                double gg = fd(&P, &P.gain.v[o], xv, dy.v), gb = fd(&P, &P.bias.v[o], xv, dy.v);
                worst = fmax(worst, fabs(dg.v[o] - gg) / (1e-5 + 1e-5 * fabs(gg)));
                if (op != OP_RMS) worst = fmax(worst, fabs(db.v[o] - gb) / (1e-5 + 1e-5 * fabs(gb)));
            }
            CHECK(worst <= 1.0, "%s: parameter gradients vs finite differences: %.3g tolerances", describe(&c),
                  worst);
            free(used);
            t_free(&dy), t_free(&dx), t_free(&y), t_free(&dg), t_free(&db);
            free_problem(&P);
        }
}

/* ----- aliasing ------------------------------------------------------------------------------ */

static void test_in_place(void) {
    for (size_t ti = 0; ti < 3; ti++)
        for (int op = OP_LN; op <= OP_ADA_RMS; op++) {
            row_case c = {.op = op, .dtype = dtypes[ti], .batch = 3, .tokens = 5, .dim = 37, .has_gain = 1,
                          .has_bias = 1, .eps = 1e-5, .x_mean = 1.0, .x_std = 2.0};
            row_problem P = make_problem(c);
            int64_t n = P.rows * c.dim;
            size_t bytes = (size_t)n * norma_dtype_size(c.dtype);
            tensor y = t_new(c.dtype, n), dy = t_new(c.dtype, n), dx = t_new(c.dtype, n), inplace = t_copy(&P.x);
            float mean[15], rstd[15];
            CHECK_OK(run_forward(&P, P.x.p, y.p, mean, rstd));
            CHECK_OK(run_forward(&P, inplace.p, inplace.p, NULL, NULL));
            CHECK(memcmp(y.p, inplace.p, bytes) == 0, "%s: y = x in place differs", describe(&c));
            t_fill_normal(&dy, 0.0, 1.0);
            CHECK_OK(run_backward(&P, dy.p, P.x.p, mean, dx.p, NULL, NULL));
            tensor dx_in_dy = t_copy(&dy), dx_in_x = t_copy(&P.x);
            CHECK_OK(run_backward(&P, dx_in_dy.p, P.x.p, mean, dx_in_dy.p, NULL, NULL));
            CHECK_OK(run_backward(&P, dy.p, dx_in_x.p, mean, dx_in_x.p, NULL, NULL));
            CHECK(memcmp(dx.p, dx_in_dy.p, bytes) == 0, "%s: dx = dy in place differs", describe(&c));
            CHECK(memcmp(dx.p, dx_in_x.p, bytes) == 0, "%s: dx = x in place differs", describe(&c));
            t_free(&y), t_free(&dy), t_free(&dx), t_free(&inplace), t_free(&dx_in_dy), t_free(&dx_in_x);
            free_problem(&P);
        }
}

/* ----- NaN stays in its row; empty batches ----------------------------------------------------- */

static void test_nan_rows(void) {
    for (int op = OP_LN; op <= OP_ADA_RMS; op++) {
        row_case c = {.op = op, .dtype = NORMA_F32, .batch = 3, .tokens = 1, .dim = 40, .has_gain = 1,
                      .has_bias = 1, .eps = 1e-5, .x_std = 1.0};
        row_problem P = make_problem(c);
        int64_t n = P.rows * c.dim;
        tensor clean = t_new(NORMA_F32, n), dirty = t_copy(&P.x), ydirty = t_new(NORMA_F32, n);
        CHECK_OK(run_forward(&P, P.x.p, clean.p, NULL, NULL));
        ((float *)dirty.p)[c.dim + 7] = NAN; /* row 1 */
        CHECK_OK(run_forward(&P, dirty.p, ydirty.p, NULL, NULL));
        int ok = 1;
        for (int64_t i = 0; i < n; i++) {
            float a = ((float *)clean.p)[i], b = ((float *)ydirty.p)[i];
            if (i / c.dim == 1 ? !isnan(b) : a != b) ok = 0;
        }
        CHECK(ok, "%s: a NaN in row 1 must make row 1 NaN and leave rows 0 and 2 alone", op_name(op));
        t_free(&clean), t_free(&dirty), t_free(&ydirty);
        free_problem(&P);
    }
}

static void test_empty(void) {
    float dw[5] = {1, 2, 3, 4, 5}, db[5] = {1, 2, 3, 4, 5};
    CHECK_OK(norma_layer_norm_fwd(NORMA_F32, 0, 5, NULL, NULL, NULL, 1e-5f, NULL, NULL, NULL));
    CHECK_OK(norma_layer_norm_bwd(NORMA_F32, 0, 5, NULL, NULL, NULL, NULL, 1e-5f, NULL, dw, db));
    int zero = 1;
    for (int j = 0; j < 5; j++) zero &= dw[j] == 0.0f && db[j] == 0.0f;
    CHECK(zero, "an empty LayerNorm batch must give zero parameter gradients");
    dw[0] = 9;
    CHECK_OK(norma_rms_norm_bwd(NORMA_F32, 0, 5, NULL, NULL, NULL, 1e-6f, NULL, dw));
    CHECK(dw[0] == 0.0f, "an empty RMSNorm batch must give a zero weight gradient");
    /* AdaLN with samples but no tokens: per-sample gradients are zero sums */
    float dshift[2 * 5], dscale[2 * 5];
    for (int j = 0; j < 10; j++) dshift[j] = dscale[j] = 7;
    CHECK_OK(norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, 2, 0, 5, NULL, NULL, NULL, 5, 0, 1e-6f, NULL,
                                      NULL, NULL));
    CHECK_OK(norma_ada_layer_norm_bwd(NORMA_F32, NORMA_LAYER_NORM, 2, 0, 5, NULL, NULL, NULL, 5, 0, NULL, 1e-6f,
                                      NULL, dshift, dscale));
    zero = 1;
    for (int j = 0; j < 10; j++) zero &= dshift[j] == 0.0f && dscale[j] == 0.0f;
    CHECK(zero, "AdaLN with zero tokens must give zero per-sample gradients");
    CHECK_OK(norma_ada_layer_norm_bwd(NORMA_F32, NORMA_RMS_NORM, 0, 4, 5, NULL, NULL, NULL, 20, 5, NULL, 1e-6f,
                                      NULL, dshift, dscale));
}

/* Single-element rows: LayerNorm gives bias (x - mean = 0), RMSNorm x/sqrt(x² + eps)·w. eps = 0 on a
 * constant row gives NaN, as PyTorch. */
static void test_degenerate_rows(void) {
    float x[3] = {2.0f, -3.0f, 0.5f}, w[1] = {3.0f}, b[1] = {0.25f}, y[3], rstd[3];
    CHECK_OK(norma_layer_norm_fwd(NORMA_F32, 3, 1, x, w, b, 1e-5f, y, NULL, rstd));
    CHECK(y[0] == 0.25f && y[1] == 0.25f && y[2] == 0.25f, "LayerNorm of one element must be the bias (%g)",
          (double)y[0]);
    CHECK(fabs(rstd[0] - 1.0 / sqrt((double)1e-5f)) <= 1e-3, "rstd of one element %g", (double)rstd[0]);
    CHECK_OK(norma_rms_norm_fwd(NORMA_F32, 3, 1, x, w, 0.0f, y, NULL));
    CHECK(y[0] == 3.0f && y[1] == -3.0f && y[2] == 3.0f, "RMSNorm of one element, eps 0: sign(x)·w (%g %g %g)",
          (double)y[0], (double)y[1], (double)y[2]);
    float c[4] = {1.5f, 1.5f, 1.5f, 1.5f}, yc[4];
    CHECK_OK(norma_layer_norm_fwd(NORMA_F32, 1, 4, c, NULL, NULL, 0.0f, yc, NULL, NULL));
    CHECK(isnan(yc[0]), "LayerNorm of a constant row with eps 0 is NaN (PyTorch), got %g", (double)yc[0]);
    CHECK_OK(norma_layer_norm_fwd(NORMA_F32, 1, 4, c, NULL, NULL, 1e-5f, yc, NULL, NULL));
    CHECK(yc[0] == 0.0f, "LayerNorm of a constant row with eps > 0 is 0, got %g", (double)yc[0]);
    CHECK(NORMA_RMS_NORM_DEFAULT_EPS == (double)FLT_EPSILON, "the RMSNorm default eps is FLT_EPSILON");
}

/* ----- tensors larger than the caches ------------------------------------------------------------ */

/* A tensor of 16 MiB or more takes other plans than a small one: its outputs are streamed past the
 * caches (a forward's already from 8 MiB), each row pass fetches the next row and reads the weight and
 * bias as stored instead of as ready-made vectors of the compute type. None of that may change a bit: the call on the whole tensor
 * equals the same rows in calls of 64 rows (y, dx; the parameter gradients sum in another order). */
static void test_streamed_rows(void) {
    for (size_t ti = 0; ti < 3; ti++) {
        norma_dtype t = dtypes[ti];
        size_t es = norma_dtype_size(t);
        int64_t cols = 3072, rows = ((int64_t)16 << 20) / (cols * (int64_t)es) + 5, n = rows * cols;
        char *in = xmalloc((size_t)(2 * n + 2 * cols) * es), *out = xmalloc((size_t)n * es * 4);
        char *x = in, *dy = in + n * es, *w = in + 2 * n * es, *b = w + cols * es;
        float *stats = xmalloc((size_t)(2 * rows + 4 * cols) * 4), *mean = stats, *rstd = stats + rows;
        float *dw = stats + 2 * rows, *db = dw + cols, *dw_piece = db + cols, *db_piece = dw_piece + cols;
        for (int64_t i = 0; i < 2 * n + 2 * cols; i++) /* cheap values (valgrind runs this): 0.25 .. 2, signs mixed */
            store_elem(t, in, i, (float)((i * 2654435761u >> 7) % 8 + 1) * (i % 3 ? 0.25f : -0.25f));
        for (int rms = 0; rms < 2; rms++) {
            char *y = out, *dx = out + n * es, *y_pieces = out + 2 * n * es, *dx_pieces = out + 3 * n * es;
            for (int whole = 1; whole >= 0; whole--)
                for (int64_t r0 = 0; r0 < rows; r0 += whole ? rows : 64) {
                    int64_t len = whole ? rows : (rows - r0 < 64 ? rows - r0 : 64);
                    size_t at = (size_t)(r0 * cols) * es;
                    char *yo = (whole ? y : y_pieces) + at, *dxo = (whole ? dx : dx_pieces) + at;
                    float *gw = whole ? dw : dw_piece, *gb = whole ? db : db_piece;
                    if (rms) {
                        CHECK_OK(norma_rms_norm_fwd(t, len, cols, x + at, w, 1e-5, yo, rstd + r0));
                        CHECK_OK(norma_rms_norm_bwd(t, len, cols, dy + at, x + at, w, 1e-5, dxo, gw));
                    } else {
                        CHECK_OK(norma_layer_norm_fwd(t, len, cols, x + at, w, b, 1e-5, yo, mean + r0, rstd + r0));
                        CHECK_OK(norma_layer_norm_bwd(t, len, cols, dy + at, x + at, w, mean + r0, 1e-5, dxo, gw, gb));
                    }
                }
            CHECK(!memcmp(y, y_pieces, (size_t)n * es) && !memcmp(dx, dx_pieces, (size_t)n * es),
                  "%s %s (%lld, %lld): the streamed plan differs from the same rows in pieces",
                  rms ? "rms_norm" : "layer_norm", dtype_name(t), (long long)rows, (long long)cols);
        }
        free(in), free(out), free(stats);
    }
}

/* ----- thread-count independence ------------------------------------------------------------- */

/* In both f32 compute modes (norma_set_f32_compute): bitwise the same for every thread count. */
#define MODE_NAME(m) ((m) == NORMA_F32_COMPUTE_FLOAT ? "float" : "double")
static void test_threads(norma_f32_compute mode) {
    CHECK_OK(norma_set_f32_compute(mode));
    static const int counts[] = {1, 2, 3, 7};
    for (int op = OP_LN; op <= OP_ADA_RMS; op++) {
        row_case c = {.op = op, .dtype = NORMA_F32, .batch = 3, .tokens = 211, .dim = 301, .has_gain = 1,
                      .has_bias = 1, .eps = 1e-5, .x_mean = 0.5, .x_std = 1.0};
        row_problem P = make_problem(c);
        int64_t n = P.rows * c.dim, glen = is_ada(op) ? P.vec_len : c.dim;
        size_t gbytes = (size_t)glen * 4;
        tensor dy = t_new(NORMA_F32, n);
        t_fill_normal(&dy, 0.0, 1.0);
        float *y0 = xmalloc((size_t)n * 4), *dx0 = xmalloc((size_t)n * 4), *g0 = xmalloc(gbytes), *b0 = xmalloc(gbytes);
        float *y1 = xmalloc((size_t)n * 4), *dx1 = xmalloc((size_t)n * 4), *g1 = xmalloc(gbytes), *b1 = xmalloc(gbytes);
        float *mean = xmalloc((size_t)P.rows * 4), *rstd = xmalloc((size_t)P.rows * 4);
        memset(g0, 0, gbytes), memset(b0, 0, gbytes), memset(g1, 0, gbytes), memset(b1, 0, gbytes);
        for (size_t k = 0; k < 4; k++) {
            CHECK_OK(norma_set_num_threads(counts[k]));
            float *y = k ? y1 : y0, *dx = k ? dx1 : dx0, *g = k ? g1 : g0, *b = k ? b1 : b0;
            CHECK_OK(run_forward(&P, P.x.p, y, mean, rstd));
            CHECK_OK(run_backward(&P, dy.p, P.x.p, mean, dx, g, op == OP_RMS ? NULL : b));
            if (k)
                CHECK(!memcmp(y0, y1, (size_t)n * 4) && !memcmp(dx0, dx1, (size_t)n * 4) && !memcmp(g0, g1, gbytes) &&
                          !memcmp(b0, b1, gbytes),
                      "%s (f32 in %s): %d threads differ from 1 thread", op_name(op), MODE_NAME(mode), counts[k]);
        }
        CHECK_OK(norma_set_num_threads(2));
        free(y0), free(dx0), free(g0), free(b0), free(y1), free(dx1), free(g1), free(b1), free(mean), free(rstd);
        t_free(&dy);
        free_problem(&P);
    }
    CHECK_OK(norma_set_f32_compute(NORMA_F32_COMPUTE_DOUBLE));
}

/* ----- bad arguments --------------------------------------------------------------------------- */

/* Expect `call` to fail with `status` and a message naming `what`, writing nothing to out[]. */
#define EXPECT_FAIL(status, what, call)                                                            \
    do {                                                                                           \
        for (int i_ = 0; i_ < 64; i_++) out[i_] = 123.0f, out2[i_] = 123.0f;                       \
        for (int i_ = 0; i_ < 8; i_++) st1[i_] = 5.0f, st2[i_] = 5.0f;                             \
        norma_status s_ = (call);                                                                  \
        int untouched_ = 1;                                                                        \
        for (int i_ = 0; i_ < 64; i_++) untouched_ &= out[i_] == 123.0f && out2[i_] == 123.0f;     \
        for (int i_ = 0; i_ < 8; i_++) untouched_ &= st1[i_] == 5.0f && st2[i_] == 5.0f;           \
        CHECK(s_ == (status), "%s: expected %s, got %s (%s)", #call, norma_status_name(status),     \
              norma_status_name(s_), norma_last_error());                                          \
        CHECK(strstr(norma_last_error(), what) != NULL, "%s: message \"%s\" should name \"%s\"",   \
              #call, norma_last_error(), what);                                                    \
        CHECK(untouched_, "%s: wrote to an output although it failed", #call);                     \
    } while (0)

static void test_errors(void) {
    float x[64] = {0}, w[16] = {0}, out[64], out2[64], st1[8], st2[8];
    const float *cst1 = st1;
    for (int i = 0; i < 64; i++) x[i] = (float)i;
    const int64_t huge = INT64_MAX / 2;

    /* the f32 compute mode: a bad value fails and changes nothing; the mode switches the kernels */
    norma_f32_compute mode = norma_get_f32_compute();
    CHECK(norma_set_f32_compute((norma_f32_compute)2) == NORMA_EINVAL &&
              strstr(norma_last_error(), "NORMA_F32_COMPUTE_DOUBLE or NORMA_F32_COMPUTE_FLOAT (got 2)") &&
              norma_get_f32_compute() == mode,
          "norma_set_f32_compute(2): %s", norma_last_error());
    float xs[100], y_double[100], y_float[100];
    for (int i = 0; i < 100; i++) xs[i] = 3.0f + 1.7f * (float)sin(i * 0.37);
    CHECK_OK(norma_set_f32_compute(NORMA_F32_COMPUTE_FLOAT));
    CHECK_OK(norma_layer_norm_fwd(NORMA_F32, 1, 100, xs, NULL, NULL, 1e-5, y_float, NULL, NULL));
    CHECK_OK(norma_set_f32_compute(NORMA_F32_COMPUTE_DOUBLE));
    CHECK_OK(norma_layer_norm_fwd(NORMA_F32, 1, 100, xs, NULL, NULL, 1e-5, y_double, NULL, NULL));
    CHECK(memcmp(y_float, y_double, sizeof y_float) != 0 && norma_get_f32_compute() == NORMA_F32_COMPUTE_DOUBLE,
          "the f32 compute mode changed nothing");
    CHECK_OK(norma_set_f32_compute(mode));

    /* LayerNorm forward */
    EXPECT_FAIL(NORMA_EUNSUPPORTED, "dtype", norma_layer_norm_fwd((norma_dtype)7, 4, 16, x, w, w, 1e-5f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "rows", norma_layer_norm_fwd(NORMA_F32, -1, 16, x, w, w, 1e-5f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "cols", norma_layer_norm_fwd(NORMA_F32, 4, 0, x, w, w, 1e-5f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "cols", norma_layer_norm_fwd(NORMA_F32, 4, -3, x, w, w, 1e-5f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "too large", norma_layer_norm_fwd(NORMA_F32, huge, 16, x, w, w, 1e-5f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "too large", norma_layer_norm_fwd(NORMA_BF16, 1, INT64_MAX, x, w, w, 1e-5f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_layer_norm_fwd(NORMA_F32, 4, 16, x, w, w, -1e-5f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_layer_norm_fwd(NORMA_F32, 4, 16, x, w, w, NAN, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_layer_norm_fwd(NORMA_F32, 4, 16, x, w, w, INFINITY, out, st1, st2));
    EXPECT_FAIL(NORMA_ENULL, "x is NULL", norma_layer_norm_fwd(NORMA_F32, 4, 16, NULL, w, w, 1e-5f, out, st1, st2));
    EXPECT_FAIL(NORMA_ENULL, "y is NULL", norma_layer_norm_fwd(NORMA_F32, 4, 16, x, w, w, 1e-5f, NULL, st1, st2));

    /* LayerNorm backward */
    EXPECT_FAIL(NORMA_EINVAL, "rows", norma_layer_norm_bwd(NORMA_F32, -2, 16, x, x, w, cst1, 1e-5f, out, out2, out2));
    EXPECT_FAIL(NORMA_EINVAL, "cols", norma_layer_norm_bwd(NORMA_F32, 4, 0, x, x, w, cst1, 1e-5f, out, out2, out2));
    EXPECT_FAIL(NORMA_EUNSUPPORTED, "dtype", norma_layer_norm_bwd((norma_dtype)-1, 4, 16, x, x, w, cst1, 1e-5f, out, out2, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_layer_norm_bwd(NORMA_F32, 4, 16, x, x, w, cst1, -1.0f, out, out2, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_layer_norm_bwd(NORMA_F32, 0, 16, x, x, w, cst1, NAN, out, out2, NULL));
    EXPECT_FAIL(NORMA_ENULL, "dy is NULL", norma_layer_norm_bwd(NORMA_F32, 4, 16, NULL, x, w, cst1, 1e-5f, out, out2, NULL));
    EXPECT_FAIL(NORMA_ENULL, "x is NULL", norma_layer_norm_bwd(NORMA_F32, 4, 16, x, NULL, w, cst1, 1e-5f, out, out2, NULL));
    EXPECT_FAIL(NORMA_ENULL, "mean is NULL", norma_layer_norm_bwd(NORMA_F32, 4, 16, x, x, w, NULL, 1e-5f, out, out2, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "too large", norma_layer_norm_bwd(NORMA_F32, huge, huge, x, x, w, cst1, 1e-5f, out, out2, NULL));

    /* RMSNorm */
    EXPECT_FAIL(NORMA_EINVAL, "cols", norma_rms_norm_fwd(NORMA_F32, 4, 0, x, w, 1e-6f, out, st1));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_rms_norm_fwd(NORMA_F16, 4, 16, x, w, -0.5f, out, st1));
    EXPECT_FAIL(NORMA_ENULL, "x is NULL", norma_rms_norm_fwd(NORMA_F32, 4, 16, NULL, w, 1e-6f, out, st1));
    EXPECT_FAIL(NORMA_ENULL, "y is NULL", norma_rms_norm_fwd(NORMA_F32, 4, 16, x, w, 1e-6f, NULL, st1));
    EXPECT_FAIL(NORMA_EUNSUPPORTED, "dtype", norma_rms_norm_fwd((norma_dtype)3, 4, 16, x, w, 1e-6f, out, st1));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_rms_norm_bwd(NORMA_F32, 4, 16, x, x, w, INFINITY, out, out2));
    EXPECT_FAIL(NORMA_ENULL, "dy is NULL", norma_rms_norm_bwd(NORMA_F32, 4, 16, NULL, x, w, 1e-6f, out, out2));
    EXPECT_FAIL(NORMA_ENULL, "x is NULL", norma_rms_norm_bwd(NORMA_F32, 4, 16, x, NULL, w, 1e-6f, out, out2));
    EXPECT_FAIL(NORMA_EINVAL, "rows", norma_rms_norm_bwd(NORMA_F32, -4, 16, x, x, w, 1e-6f, out, out2));

    /* AdaLN */
    EXPECT_FAIL(NORMA_EINVAL, "norm", norma_ada_layer_norm_fwd(NORMA_F32, (norma_norm_kind)5, 2, 2, 16, x, w, w, 16, 0, 1e-6f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "batch", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, -1, 2, 16, x, w, w, 16, 0, 1e-6f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "tokens", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, 2, -2, 16, x, w, w, 16, 0, 1e-6f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "dim", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, 2, 2, 0, x, w, w, 16, 0, 1e-6f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "mod_sample_stride", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, 2, 2, 16, x, w, w, -16, 0, 1e-6f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "mod_token_stride", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_RMS_NORM, 2, 2, 16, x, w, w, 16, -1, 1e-6f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "address space", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, 2, 2, 16, x, w, w, huge, 0, 1e-6f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "address space", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, 2, 3, 16, x, w, w, 16, huge, 1e-6f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "too large", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, huge, huge, 16, x, w, w, 16, 0, 1e-6f, out, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, 2, 2, 16, x, w, w, 16, 0, NAN, out, st1, st2));
    EXPECT_FAIL(NORMA_ENULL, "x is NULL", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, 2, 2, 16, NULL, w, w, 16, 0, 1e-6f, out, st1, st2));
    EXPECT_FAIL(NORMA_ENULL, "y is NULL", norma_ada_layer_norm_fwd(NORMA_F32, NORMA_LAYER_NORM, 2, 2, 16, x, w, w, 16, 0, 1e-6f, NULL, st1, st2));
    EXPECT_FAIL(NORMA_EINVAL, "overlap", norma_ada_layer_norm_bwd(NORMA_F32, NORMA_LAYER_NORM, 2, 2, 16, x, x, w, 8, 0, cst1, 1e-6f, out, out2, out2 + 32));
    EXPECT_FAIL(NORMA_EINVAL, "overlap", norma_ada_layer_norm_bwd(NORMA_F32, NORMA_LAYER_NORM, 1, 2, 16, x, x, w, 64, 8, cst1, 1e-6f, out, out2, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "overlap", norma_ada_layer_norm_bwd(NORMA_F32, NORMA_LAYER_NORM, 2, 2, 16, x, x, w, 20, 16, cst1, 1e-6f, out, out2, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_ada_layer_norm_bwd(NORMA_F32, NORMA_LAYER_NORM, 2, 2, 16, x, x, w, 16, 0, cst1, -1e-6f, out, out2, NULL));
    EXPECT_FAIL(NORMA_ENULL, "mean is NULL", norma_ada_layer_norm_bwd(NORMA_F32, NORMA_LAYER_NORM, 2, 2, 16, x, x, w, 16, 0, NULL, 1e-6f, out, out2, NULL));
    EXPECT_FAIL(NORMA_ENULL, "x is NULL", norma_ada_layer_norm_bwd(NORMA_F32, NORMA_RMS_NORM, 2, 2, 16, x, NULL, w, 16, 0, NULL, 1e-6f, out, out2, NULL));
    EXPECT_FAIL(NORMA_ENULL, "dy is NULL", norma_ada_layer_norm_bwd(NORMA_F32, NORMA_RMS_NORM, 2, 2, 16, NULL, x, w, 16, 0, NULL, 1e-6f, out, out2, NULL));

    /* threads */
    CHECK(norma_set_num_threads(0) == NORMA_EINVAL && strstr(norma_last_error(), "n must be"),
          "norma_set_num_threads(0) must fail: %s", norma_last_error());
    CHECK(norma_set_num_threads(100000) == NORMA_EINVAL, "norma_set_num_threads(100000) must fail");
    CHECK(norma_get_num_threads() >= 1, "a thread count");

    /* names */
    CHECK(!strcmp(norma_status_name(NORMA_EINVAL), "NORMA_EINVAL"), "status names");
    CHECK(!strcmp(norma_status_name((norma_status)99), "unknown norma_status"), "unknown status name");
    CHECK(norma_dtype_size(NORMA_BF16) == 2 && norma_dtype_size((norma_dtype)9) == 0, "dtype sizes");
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", NORMA_VERSION_MAJOR, NORMA_VERSION_MINOR, NORMA_VERSION_PATCH);
    CHECK(!strcmp(norma_version(), version), "version %s vs header %s", norma_version(), version);
    const char *k = norma_kernels();
    CHECK(!strcmp(k, "reference") || !strcmp(k, "avx2") || !strcmp(k, "avx512") || !strcmp(k, "avx512bf16"),
          "kernel name %s", k);
}

/* ----- residual add fused with LayerNorm / RMSNorm ------------------------------------------------- */

/* The fused ops must equal their parts: sum = x + residual rounded once (exactly, as the compute type
 * adds two dtype values exactly and rounds), then the plain norm of sum (bitwise: the same plan), and
 * dx = the plain backward + dsum, rounded once. In place too (residual += x, y over x). */
static void test_fused_add(void) {
    static const int64_t shapes[][2] = {{3, 1}, {4, 17}, {5, 100}, {2, 3072}, {70, 64}};
    for (size_t d = 0; d < 3; d++)
        for (size_t k = 0; k < 5; k++)
            for (int rms = 0; rms < 2; rms++) {
                norma_dtype t = dtypes[d];
                int64_t rows = shapes[k][0], cols = shapes[k][1], n = rows * cols;
                size_t bytes = (size_t)n * norma_dtype_size(t);
                tensor x = t_new(t, n), r = t_new(t, n), w = t_new(t, cols), b = t_new(t, cols), dy = t_new(t, n);
                tensor ds = t_new(t, n);
                t_fill_normal(&x, 0.5, 2.0), t_fill_normal(&r, -1.0, 3.0), t_fill_normal(&w, 1.0, 0.3);
                t_fill_normal(&b, 0.0, 0.3), t_fill_normal(&dy, 0.0, 1.0), t_fill_normal(&ds, 0.0, 1.0);
                char *sum = xmalloc(bytes), *y = xmalloc(bytes), *ref_sum = xmalloc(bytes), *ref_y = xmalloc(bytes);
                char *dx = xmalloc(bytes), *ref_dx = xmalloc(bytes);
                float *m1 = xmalloc((size_t)rows * 4), *m2 = xmalloc((size_t)rows * 4), dw1[3072], dw2[3072], db1[3072],
                      db2[3072];
                for (int64_t i = 0; i < n; i++) /* the reference sum: computed once in double, rounded once */
                    store_elem(t, ref_sum, i, (float)(x.v[i] + r.v[i]));
                if (rms) {
                    CHECK_OK(norma_add_rms_norm_fwd(t, rows, cols, x.p, r.p, sum, w.p, 1e-6, y, m1));
                    CHECK_OK(norma_rms_norm_fwd(t, rows, cols, ref_sum, w.p, 1e-6, ref_y, m2));
                    CHECK_OK(norma_add_rms_norm_bwd(t, rows, cols, dy.p, ds.p, sum, w.p, 1e-6, dx, dw1));
                    CHECK_OK(norma_rms_norm_bwd(t, rows, cols, dy.p, ref_sum, w.p, 1e-6, ref_dx, dw2));
                } else {
                    CHECK_OK(norma_add_layer_norm_fwd(t, rows, cols, x.p, r.p, sum, w.p, b.p, 1e-5, y, m1, NULL));
                    CHECK_OK(norma_layer_norm_fwd(t, rows, cols, ref_sum, w.p, b.p, 1e-5, ref_y, m2, NULL));
                    CHECK_OK(norma_add_layer_norm_bwd(t, rows, cols, dy.p, ds.p, sum, w.p, m1, 1e-5, dx, dw1, db1));
                    CHECK_OK(norma_layer_norm_bwd(t, rows, cols, dy.p, ref_sum, w.p, m2, 1e-5, ref_dx, dw2, db2));
                }

                CHECK(!memcmp(sum, ref_sum, bytes) && !memcmp(y, ref_y, bytes) && !memcmp(m1, m2, (size_t)rows * 4),
                      "fused add %s %s %lldx%lld: forward differs from its parts", rms ? "rms" : "layer", dtype_name(t),
                      (long long)rows, (long long)cols);
                /* dx = the plain backward plus dsum, rounded once: within the plain one's rounding and its own */
                int dx_close = 1;
                for (int64_t i = 0; i < n; i++) {
                    double plain = load_elem(t, ref_dx, i), got = load_elem(t, dx, i);
                    dx_close &= fabs(got - (plain + ds.v[i])) <= 0.5 * ulp_of(t, plain) + 0.5 * ulp_of(t, got);
                }
                CHECK(dx_close && !memcmp(dw1, dw2, (size_t)cols * 4) && (rms || !memcmp(db1, db2, (size_t)cols * 4)),
                      "fused add %s %s %lldx%lld: backward differs from its parts", rms ? "rms" : "layer", dtype_name(t),
                      (long long)rows, (long long)cols);
                /* in place, as an inference engine runs it: residual += x, y written over x */
                tensor x2 = t_copy(&x), r2 = t_copy(&r);
                if (rms) CHECK_OK(norma_add_rms_norm_fwd(t, rows, cols, x2.p, r2.p, r2.p, w.p, 1e-6, x2.p, NULL));
                else CHECK_OK(norma_add_layer_norm_fwd(t, rows, cols, x2.p, r2.p, r2.p, w.p, b.p, 1e-5, x2.p, NULL, NULL));
                CHECK(!memcmp(r2.p, ref_sum, bytes) && !memcmp(x2.p, ref_y, bytes), "fused add %s %s in place differs",
                      rms ? "rms" : "layer", dtype_name(t));
                t_free(&x2), t_free(&r2);
                free(sum), free(y), free(ref_sum), free(ref_y), free(dx), free(ref_dx), free(m1), free(m2);
                t_free(&x), t_free(&r), t_free(&w), t_free(&b), t_free(&dy), t_free(&ds);
            }
    float v[4] = {1, 2, 3, 4}, out[4];
    CHECK(norma_add_layer_norm_fwd(NORMA_F32, 1, 4, v, v, out, NULL, NULL, 1e-5, out, NULL, NULL) == NORMA_EINVAL &&
              strstr(norma_last_error(), "y and sum"), "y aliasing sum must fail");
    CHECK(norma_add_rms_norm_fwd(NORMA_F32, 1, 4, v, NULL, out, NULL, 1e-5, v, NULL) == NORMA_ENULL &&
              strstr(norma_last_error(), "residual is NULL"), "a NULL residual must fail");
    CHECK(norma_add_rms_norm_bwd(NORMA_F32, 1, 4, v, out, v, NULL, 1e-5, out, NULL) == NORMA_EINVAL,
          "dx aliasing dsum must fail");
}

/* ----- gated residual fused with the next modulated norm ------------------------------------------ */

/* f32 computed in float: the fused backward and its parts each within a few float roundings of the
 * row's terms T = rstd·max|dy·(1 + scale)| (check_case's dx tolerance), not both within half an ulp of
 * one unrounded value. The terms of each row, or zeros where the data are computed in double. */
static double *gated_terms(norma_dtype t, int rms, int64_t rows, int64_t D, const char *sum, const tensor *dy,
                           const tensor *scale, int64_t L, int64_t sb, int64_t sl) {
    double *terms = calloc((size_t)rows, sizeof(double));
    for (int64_t row = 0; row < rows && t == NORMA_F32 && in_float(t); row++) {
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < D; j++) mean += rms ? 0.0 : load_elem(t, sum, row * D + j) / (double)D;
        for (int64_t j = 0; j < D; j++) var += pow(load_elem(t, sum, row * D + j) - mean, 2) / (double)D;
        for (int64_t j = 0; j < D; j++) {
            double gain = 1.0 + (scale ? scale->v[(row / L) * sb + (row % L) * sl + j] : 0.0);
            terms[row] = fmax(terms[row], fabs(dy->v[row * D + j] * gain) / sqrt(var + 1e-6));
        }
    }
    return terms;
}

/* One gated case must equal its parts: sum = residual + gate·h rounded once (the product is exact in
 * double, and so is the sum for these values), y = the AdaLN of sum (bitwise: the same plan); backward
 * dresidual = the AdaLN backward + dsum and dh = gate·dresidual, each rounded once from the unrounded
 * sum, dshift/dscale bitwise the AdaLN's, dgate = Σ h·dresidual within the accumulation's rounding. */
static void check_gated(norma_dtype t, int rms, int64_t B, int64_t L, int64_t D, int per_token, int with_gate,
                        int with_mod) {
    int64_t n = B * L * D, sl = per_token ? D + 3 : 0, sb = per_token ? L * sl + 1 : D + 2;
    int64_t vlen = (B - 1) * sb + (L - 1) * sl + D;
    norma_norm_kind kind = rms ? NORMA_RMS_NORM : NORMA_LAYER_NORM;
    size_t es = norma_dtype_size(t), bytes = (size_t)n * es, vbytes = (size_t)vlen * es;
    tensor h = t_new(t, n), r = t_new(t, n), dy = t_new(t, n), ds = t_new(t, n);
    tensor gate = t_new(t, vlen), shift = t_new(t, vlen), scale = t_new(t, vlen);
    t_fill_normal(&h, 0.25, 1.5), t_fill_normal(&r, -1.0, 3.0), t_fill_normal(&dy, 0.0, 1.0);
    t_fill_normal(&ds, 0.0, 1.0), t_fill_normal(&gate, 0.5, 1.0), t_fill_normal(&shift, 0.0, 0.5);
    t_fill_normal(&scale, 0.0, 0.5);
    const void *g = with_gate ? gate.p : NULL, *sh = with_mod ? shift.p : NULL, *sc = with_mod ? scale.p : NULL;
    char *sum = xmalloc(bytes), *y = xmalloc(bytes), *ref_sum = xmalloc(bytes), *ref_y = xmalloc(bytes);
    float *m1 = xmalloc((size_t)(B * L) * 4), *m2 = xmalloc((size_t)(B * L) * 4);
    for (int64_t i = 0; i < n; i++) {
        int64_t row = i / D, o = (row / L) * sb + (row % L) * sl + i % D;
        store_elem(t, ref_sum, i, (float)(r.v[i] + (with_gate ? gate.v[o] : 1.0) * h.v[i]));
    }
    CHECK_OK(norma_gated_ada_layer_norm_fwd(t, kind, B, L, D, h.p, g, r.p, sum, sh, sc, sb, sl, 1e-6, y, m1, NULL));
    CHECK_OK(norma_ada_layer_norm_fwd(t, kind, B, L, D, ref_sum, sh, sc, sb, sl, 1e-6, ref_y, m2, NULL));
    char what[160];
    snprintf(what, sizeof what, "gated %s %s (%lld,%lld,%lld) per_token=%d gate=%d mod=%d", rms ? "rms" : "layer",
             dtype_name(t), (long long)B, (long long)L, (long long)D, per_token, with_gate, with_mod);
    CHECK(!memcmp(sum, ref_sum, bytes) && !memcmp(y, ref_y, bytes) && (rms || !memcmp(m1, m2, (size_t)(B * L) * 4)),
          "%s: forward differs from its parts", what);

    char *dres = xmalloc(bytes), *dh = xmalloc(bytes), *ref_dres = xmalloc(bytes);
    char *vec[5], *ref_vec[2]; /* dgate, dshift, dscale; the AdaLN's dshift, dscale */
    for (int v = 0; v < 5; v++) memset(vec[v] = (v < 3 ? xmalloc(vbytes) : (ref_vec[v - 3] = xmalloc(vbytes))), 0x7f, vbytes);
    CHECK_OK(norma_gated_ada_layer_norm_bwd(t, kind, B, L, D, dy.p, ds.p, sum, h.p, g, sc, sb, sl, m1, 1e-6, dres, dh,
                                            vec[0], vec[1], vec[2]));
    CHECK_OK(norma_ada_layer_norm_bwd(t, kind, B, L, D, dy.p, ref_sum, sc, sb, sl, m2, 1e-6, ref_dres, ref_vec[0],
                                      ref_vec[1]));
    int same = 1;
    double *ref_dgate = calloc((size_t)vlen, sizeof(double)), *abs_dgate = calloc((size_t)vlen, sizeof(double));
    double *terms = gated_terms(t, rms, B * L, D, ref_sum, &dy, with_mod ? &scale : NULL, L, sb, sl);
    for (int64_t i = 0; i < n; i++) {
        int64_t row = i / D, o = (row / L) * sb + (row % L) * sl + i % D;
        /* dt = the AdaLN backward (known to its rounding, err) plus dsum; dresidual and dh are dt and
         * gate·dt, each rounded once; dgate sums h·dt */
        double plain = load_elem(t, ref_dres, i), err = 0.5 * ulp_of(t, plain) + 2e-6 * terms[row], dt = plain + ds.v[i];
        double gv = with_gate ? gate.v[o] : 1.0, got = load_elem(t, dres, i), got_dh = load_elem(t, dh, i);
        same &= fabs(got - dt) <= err + 0.5 * ulp_of(t, got);
        same &= fabs(got_dh - gv * dt) <= fabs(gv) * err + 0.5 * ulp_of(t, got_dh);
        ref_dgate[o] += h.v[i] * dt, abs_dgate[o] += fabs(h.v[i] * dt) + fabs(h.v[i]) * err / 2e-6;
    }
    CHECK(same, "%s: dresidual or dh differ from their parts", what);
    CHECK(!memcmp(vec[1], ref_vec[0], vbytes) && !memcmp(vec[2], ref_vec[1], vbytes),
          "%s: dshift/dscale differ from the AdaLN's", what);
    double worst = 0.0;
    int untouched = 1;
    char *used = calloc((size_t)vlen, 1);
    for (int64_t row = 0; row < B * L; row++)
        for (int64_t j = 0; j < D; j++) used[(row / L) * sb + (row % L) * sl + j] = 1;
    for (int64_t o = 0; o < vlen; o++) {
        if (!used[o]) {
            untouched &= ((unsigned char *)vec[0])[o * (int64_t)es] == 0x7f;
            continue;
        }
        double err = fabs(load_elem(t, vec[0], o) - ref_dgate[o]) / (ulp_of(t, ref_dgate[o]) + abs_dgate[o] * 2e-6);
        if (err > worst) worst = err;
    }
    CHECK(worst <= 1.0 && untouched, "%s: dgate error %.3g tolerances (gaps untouched: %d)", what, worst, untouched);

    /* in place, as a block runs it: residual += gate·h, y written over h; and dh over dy */
    tensor h2 = t_copy(&h), r2 = t_copy(&r), dy2 = t_copy(&dy);
    CHECK_OK(norma_gated_ada_layer_norm_fwd(t, kind, B, L, D, h2.p, g, r2.p, r2.p, sh, sc, sb, sl, 1e-6, h2.p, NULL,
                                            NULL));
    CHECK(!memcmp(r2.p, ref_sum, bytes) && !memcmp(h2.p, ref_y, bytes), "%s: in place differs", what);
    CHECK_OK(norma_gated_ada_layer_norm_bwd(t, kind, B, L, D, dy2.p, ds.p, sum, h.p, g, sc, sb, sl, m1, 1e-6, dres,
                                            dy2.p, NULL, NULL, NULL));
    CHECK(!memcmp(dy2.p, dh, bytes), "%s: dh over dy differs", what);
    t_free(&h2), t_free(&r2), t_free(&dy2);

    free(used), free(ref_dgate), free(abs_dgate), free(terms);
    for (int v = 0; v < 3; v++) free(vec[v]);
    free(ref_vec[0]), free(ref_vec[1]), free(dres), free(dh), free(ref_dres);
    free(sum), free(y), free(ref_sum), free(ref_y), free(m1), free(m2);
    t_free(&h), t_free(&r), t_free(&dy), t_free(&ds), t_free(&gate), t_free(&shift), t_free(&scale);
}

static void test_gated_ada(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {2, 3, 17}, {3, 5, 64}, {1, 40, 100}, {2, 9, 3072}};
    for (size_t d = 0; d < 3; d++)
        for (size_t k = 0; k < 5; k++)
            for (int variant = 0; variant < 16; variant++)
                check_gated(dtypes[d], variant & 1, shapes[k][0], shapes[k][1], shapes[k][2], (variant >> 1) & 1,
                            (variant >> 2) & 1, (variant >> 3) & 1);

    /* the gate's gradient sums are bitwise the same for any number of threads */
    int64_t B = 3, L = 211, D = 301, n = B * L * D;
    tensor h = t_new(NORMA_F32, n), s = t_new(NORMA_F32, n), dy = t_new(NORMA_F32, n), mod = t_new(NORMA_F32, 3 * B * D);
    t_fill_normal(&h, 0.0, 1.0), t_fill_normal(&s, 0.5, 2.0), t_fill_normal(&dy, 0.0, 1.0), t_fill_normal(&mod, 0.0, 1.0);
    float *m = xmalloc((size_t)(B * L) * 4), *dres = xmalloc((size_t)n * 4), *dg[2] = {xmalloc((size_t)(3 * B * D) * 4),
                                                                                     xmalloc((size_t)(3 * B * D) * 4)};
    CHECK_OK(norma_layer_norm_fwd(NORMA_F32, B * L, D, s.p, NULL, NULL, 1e-6, dres, m, NULL));
    for (int k = 0; k < 2; k++) {
        CHECK_OK(norma_set_num_threads(k ? 7 : 1));
        const float *f = mod.p;
        CHECK_OK(norma_gated_ada_layer_norm_bwd(NORMA_F32, NORMA_LAYER_NORM, B, L, D, dy.p, NULL, s.p, h.p, f + 2 * D,
                                                f + D, 3 * D, 0, m, 1e-6, dres, NULL, dg[k] + 2 * D, dg[k], dg[k] + D));
    }
    CHECK_OK(norma_set_num_threads(2));
    CHECK(!memcmp(dg[0], dg[1], (size_t)(3 * B * D) * 4), "gated: 7 threads differ from 1 thread");
    free(m), free(dres), free(dg[0]), free(dg[1]);
    t_free(&h), t_free(&s), t_free(&dy), t_free(&mod);

    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8], mean[2];
    norma_norm_kind LN = NORMA_LAYER_NORM;
    CHECK(norma_gated_ada_layer_norm_fwd(NORMA_F32, LN, 1, 2, 4, v, NULL, v, out, NULL, NULL, 4, 0, 1e-6, out, NULL,
                                         NULL) == NORMA_EINVAL && strstr(norma_last_error(), "y and sum"),
          "gated: y aliasing sum must fail");
    CHECK(norma_gated_ada_layer_norm_fwd(NORMA_F32, LN, 1, 2, 4, NULL, NULL, v, out, NULL, NULL, 4, 0, 1e-6, v, NULL,
                                         NULL) == NORMA_ENULL && strstr(norma_last_error(), "h is NULL"),
          "gated: a NULL h must fail");
    CHECK(norma_gated_ada_layer_norm_fwd(NORMA_F32, LN, 1, 2, 4, v, NULL, v, out, NULL, NULL, -1, 0, 1e-6, v, NULL,
                                         NULL) == NORMA_EINVAL, "gated: a negative stride must fail");
    CHECK(norma_gated_ada_layer_norm_bwd(NORMA_F32, LN, 1, 2, 4, v, NULL, v, v, NULL, NULL, 4, 0, mean, 1e-6, NULL,
                                         out, NULL, NULL, NULL) == NORMA_ENULL &&
              strstr(norma_last_error(), "dresidual is NULL"), "gated: a NULL dresidual must fail");
    CHECK(norma_gated_ada_layer_norm_bwd(NORMA_F32, LN, 1, 2, 4, v, out, v, v, NULL, NULL, 4, 0, mean, 1e-6, out,
                                         NULL, NULL, NULL, NULL) == NORMA_EINVAL, "gated: dresidual over dsum must fail");
    CHECK(norma_gated_ada_layer_norm_bwd(NORMA_F32, LN, 1, 2, 4, v, NULL, v, v, NULL, NULL, 4, 0, mean, 1e-6, out,
                                         out, NULL, NULL, NULL) == NORMA_EINVAL, "gated: dresidual over dh must fail");
    CHECK(norma_gated_ada_layer_norm_bwd(NORMA_F32, LN, 1, 2, 4, v, NULL, v, out, NULL, NULL, 4, 0, mean, 1e-6, out,
                                         NULL, v, NULL, NULL) == NORMA_EINVAL, "gated: dresidual over h with dgate must fail");
    CHECK(norma_gated_ada_layer_norm_bwd(NORMA_F32, LN, 1, 2, 4, v, NULL, v, NULL, NULL, NULL, 4, 0, mean, 1e-6, out,
                                         NULL, out + 4, NULL, NULL) == NORMA_ENULL, "gated: dgate without h must fail");
    CHECK(norma_gated_ada_layer_norm_bwd(NORMA_F32, LN, 1, 2, 4, v, NULL, v, v, NULL, NULL, 4, 0, NULL, 1e-6, out,
                                         NULL, NULL, NULL, NULL) == NORMA_ENULL, "gated: LayerNorm without mean must fail");
    CHECK(norma_gated_ada_layer_norm_bwd(NORMA_F32, LN, 2, 2, 4, v, NULL, v, v, NULL, NULL, 2, 0, mean, 1e-6, out,
                                         NULL, out, NULL, NULL) == NORMA_EINVAL, "gated: overlapping dgate must fail");
    /* no rows: per-sample gradients are zero sums */
    float zg[4] = {9, 9, 9, 9};
    CHECK_OK(norma_gated_ada_layer_norm_bwd(NORMA_F32, LN, 1, 0, 4, NULL, NULL, NULL, NULL, NULL, NULL, 4, 0, NULL,
                                            1e-6, NULL, NULL, zg, NULL, NULL));
    CHECK(zg[0] == 0 && zg[3] == 0, "gated: an empty batch's dgate must be zero");
}

int main(void) {
    if (forced_kernels_unavailable()) return 77;
    rng_seed(12345);
    printf("kernels: %s\n", norma_kernels());
    test_errors();
    test_against_oracle();
    test_extreme_rows();
    test_far_head();
    test_finite_differences();
    test_in_place();
    test_nan_rows();
    test_empty();
    test_degenerate_rows();
    test_fused_add();
    test_gated_ada();
    test_streamed_rows();
    test_threads(NORMA_F32_COMPUTE_DOUBLE);
    test_threads(NORMA_F32_COMPUTE_FLOAT);
    return check_summary("test_row_norm");
}
