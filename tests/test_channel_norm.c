/* test_channel_norm.c: BatchNorm, InstanceNorm, GroupNorm, modulated GroupNorm, AdaIN and channel
 * RMSNorm in both layouts, against a long-double oracle written on logical (n, c, s) indices, finite
 * differences, and every documented behaviour (running statistics, PyTorch's special cases, empty
 * tensors, NaN containment, thread-count independence, layout agreement, errors). */
#include <float.h>

#include "oracle.h"

static const norma_dtype dtypes[] = {NORMA_F32, NORMA_BF16, NORMA_F16};
static const char *dtype_name(norma_dtype t) { return t == NORMA_F32 ? "f32" : t == NORMA_BF16 ? "bf16" : "f16"; }
static const char *layout_name(norma_layout l) { return l == NORMA_CHANNELS_LAST ? "NHWC" : "NCHW"; }

/* Index of logical element (n, c, s) in memory. */
static int64_t idx(norma_layout l, int64_t C, int64_t S, int64_t n, int64_t c, int64_t s) {
    return l == NORMA_CHANNELS_LAST ? (n * S + s) * C + c : (n * C + c) * S + s;
}

/* A tensor of logical shape (N, C, S) stored in a layout; v[] is in logical order (n, c, s). */
typedef struct {
    norma_dtype dtype;
    norma_layout layout;
    int64_t N, C, S;
    tensor t; /* t.v in memory order */
    double *v;
} ctensor;

static ctensor c_new(norma_dtype dtype, norma_layout layout, int64_t N, int64_t C, int64_t S) {
    ctensor x = {dtype, layout, N, C, S, t_new(dtype, N * C * S), xmalloc((size_t)(N * C * S + 1) * sizeof(double))};
    memset(x.v, 0, (size_t)(N * C * S) * sizeof(double));
    return x;
}
static void c_free(ctensor *x) { t_free(&x->t), free(x->v); }
static void c_set(ctensor *x, int64_t n, int64_t c, int64_t s, double value) {
    int64_t i = idx(x->layout, x->C, x->S, n, c, s);
    t_set(&x->t, i, value);
    x->v[(n * x->C + c) * x->S + s] = x->t.v[i];
}
/* Per-channel means, spreads: channel c of sample n ~ mean[c % 4] + spread·normal. */
static void c_fill(ctensor *x, double mean, double spread) {
    for (int64_t n = 0; n < x->N; n++)
        for (int64_t c = 0; c < x->C; c++)
            for (int64_t s = 0; s < x->S; s++) c_set(x, n, c, s, mean * (double)(c % 4 + 1) + spread * rng_normal());
}
static void c_sync(ctensor *x) {
    t_sync(&x->t);
    for (int64_t n = 0; n < x->N; n++)
        for (int64_t c = 0; c < x->C; c++)
            for (int64_t s = 0; s < x->S; s++)
                x->v[(n * x->C + c) * x->S + s] = x->t.v[idx(x->layout, x->C, x->S, n, c, s)];
}

/* ----- oracle: a norm over sets of (n, c) cells --------------------------------------------------
 * Sets: per channel (cpg = 0: BatchNorm) or per (n, group of cpg channels). gain/bias per (n, c)
 * (N x C), nv_minus: 1 for an unbiased variance. zero_rule: BatchNorm's rstd 0 when var = eps = 0. */
typedef struct {
    int64_t N, C, S, cpg;
    int nv_minus, zero_rule;
    double eps;
} set_spec;

static int64_t num_sets(const set_spec *p) { return p->cpg ? p->N * (p->C / p->cpg) : p->C; }
static int in_set(const set_spec *p, int64_t set, int64_t n, int64_t c) {
    if (!p->cpg) return c == set;
    int64_t groups = p->C / p->cpg;
    return n == set / groups && c / p->cpg == set % groups;
}

static int64_t chan_set(const set_spec *p, int64_t n, int64_t c) {
    return p->cpg ? n * (p->C / p->cpg) + c / p->cpg : c;
}

static void oracle_set_stats(const set_spec *p, const double *x, int64_t set, long double *mean, long double *rstd,
                             long double *count) {
    long double m = 0, q = 0, k = 0;
    for (int64_t n = 0; n < p->N; n++)
        for (int64_t c = 0; c < p->C; c++)
            if (in_set(p, set, n, c))
                for (int64_t s = 0; s < p->S; s++) m += x[(n * p->C + c) * p->S + s], k += 1;
    m /= k;
    for (int64_t n = 0; n < p->N; n++)
        for (int64_t c = 0; c < p->C; c++)
            if (in_set(p, set, n, c))
                for (int64_t s = 0; s < p->S; s++) {
                    long double d = x[(n * p->C + c) * p->S + s] - m;
                    q += d * d;
                }
    long double var = q / (k - p->nv_minus);
    *mean = m, *count = k;
    *rstd = p->zero_rule && var == 0 && p->eps == 0 ? 0.0L : 1.0L / sqrtl(var + p->eps);
}

static void oracle_set_forward(const set_spec *p, const double *x, const double *gain, const double *bias, double *y,
                               double *set_mean, double *set_rstd) {
    for (int64_t set = 0; set < num_sets(p); set++) {
        long double m, r, k;
        oracle_set_stats(p, x, set, &m, &r, &k);
        if (set_mean) set_mean[set] = (double)m;
        if (set_rstd) set_rstd[set] = (double)r;
        for (int64_t n = 0; n < p->N; n++)
            for (int64_t c = 0; c < p->C; c++)
                if (in_set(p, set, n, c))
                    for (int64_t s = 0; s < p->S; s++) {
                        int64_t i = (n * p->C + c) * p->S + s;
                        y[i] = (double)((x[i] - m) * r * gain[n * p->C + c] + bias[n * p->C + c]);
                    }
    }
}

/* dx = rstd·(g - Σg/count - x̂·Σ(g·x̂)/nv), g = dy·gain; dgain[n,c] = Σ_s dy·x̂, dbias[n,c] = Σ_s dy. */
static void oracle_set_backward(const set_spec *p, const double *x, const double *dy, const double *gain, double *dx,
                                double *dgain, double *dbias) {
    for (int64_t set = 0; set < num_sets(p); set++) {
        long double m, r, k, sg = 0, sgx = 0;
        oracle_set_stats(p, x, set, &m, &r, &k);
        for (int64_t n = 0; n < p->N; n++)
            for (int64_t c = 0; c < p->C; c++)
                if (in_set(p, set, n, c)) {
                    long double dg = 0, db = 0;
                    for (int64_t s = 0; s < p->S; s++) {
                        int64_t i = (n * p->C + c) * p->S + s;
                        long double g = dy[i] * gain[n * p->C + c], xhat = (x[i] - m) * r;
                        sg += g, sgx += g * xhat, dg += dy[i] * xhat, db += dy[i];
                    }
                    dgain[n * p->C + c] = (double)dg, dbias[n * p->C + c] = (double)db;
                }
        for (int64_t n = 0; n < p->N; n++)
            for (int64_t c = 0; c < p->C; c++)
                if (in_set(p, set, n, c))
                    for (int64_t s = 0; s < p->S; s++) {
                        int64_t i = (n * p->C + c) * p->S + s;
                        long double g = dy[i] * gain[n * p->C + c], xhat = (x[i] - m) * r;
                        dx[i] = (double)(r * (g - sg / k - xhat * sgx / (k - p->nv_minus)));
                    }
    }
}

/* ----- comparing ------------------------------------------------------------------------------- */

/* Worst |got - ref| over (ulp(ref) + rel·scale), scale the size of the terms that were added (by
 * default the largest |ref|). A reference beyond the dtype's range must come out as that infinity. */
static double worst_error_scaled(const double *got, const double *ref, int64_t n, norma_dtype t, double rel,
                                 double scale) {
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float rounded;
        uint32_t buf;
        store_elem(t, &buf, 0, (float)ref[i]);
        rounded = load_elem(t, &buf, 0);
        if (isinf(rounded) && got[i] == rounded) continue;
        double e = fabs(got[i] - ref[i]) / (ulp_of(t, ref[i]) + rel * scale + 1e-300);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

static double worst_error(const double *got, const double *ref, int64_t n, norma_dtype t, double rel) {
    return worst_error_scaled(got, ref, n, t, rel, max_abs(ref, n));
}

/* ----- the set norms (BN, IN, GN, AdaGN) through the C API -------------------------------------- */

typedef enum { BN, IN, GN, ADA_GN, GN_SILU } set_op;
static const char *set_op_name(set_op op) {
    static const char *names[] = {"batch_norm", "instance_norm", "group_norm", "ada_group_norm", "group_norm_silu"};
    return names[op];
}

/* silu(z) = z/(1 + e^-z) and its derivative, in long double */
static long double silu_l(long double z) { return z / (1.0L + expl(-z)); }
static long double dsilu_l(long double z) {
    long double s = 1.0L / (1.0L + expl(-z));
    return s * (1.0L + z * (1.0L - s));
}

typedef struct {
    set_op op;
    norma_dtype dtype;
    norma_layout layout;
    int64_t N, C, S, G;
    int affine;
    double eps, mean, spread;
} set_case;

static char *set_describe(const set_case *k) {
    static char buf[200];
    snprintf(buf, sizeof buf, "%s %s %s N=%lld C=%lld S=%lld G=%lld affine=%d mean=%g", set_op_name(k->op),
             dtype_name(k->dtype), layout_name(k->layout), (long long)k->N, (long long)k->C, (long long)k->S,
             (long long)k->G, k->affine, k->mean);
    return buf;
}

static void check_set_case(set_case k) {
    int64_t N = k.N, C = k.C, S = k.S, NC = N * C, n_el = N * C * S, G = k.op >= GN ? k.G : 0;
    set_spec sp = {.N = N, .C = C, .S = S, .cpg = k.op == BN ? 0 : k.op == IN ? 1 : C / G, .zero_rule = k.op <= IN,
                   .eps = k.eps};
    int64_t sets = num_sets(&sp);
    ctensor x = c_new(k.dtype, k.layout, N, C, S), y = c_new(k.dtype, k.layout, N, C, S);
    ctensor dy = c_new(k.dtype, k.layout, N, C, S), dx = c_new(k.dtype, k.layout, N, C, S);
    c_fill(&x, k.mean, k.spread);
    c_fill(&dy, 0.0, 1.0);
    /* parameters: weight/bias (C) or per-sample scale/shift (N x C, sample stride C + 3) */
    int ada = k.op == ADA_GN;
    int64_t stride = ada ? C + 3 : 0, plen = ada ? (N - 1) * stride + C : C;
    tensor w = t_new(k.dtype, plen), b = t_new(k.dtype, plen);
    t_fill_normal(&w, ada ? 0.0 : 1.0, 0.5), t_fill_normal(&b, 0.0, 0.5);
    double *gain = xmalloc((size_t)NC * sizeof(double)), *bias = xmalloc((size_t)NC * sizeof(double));
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            int64_t o = ada ? n * stride + c : c;
            gain[n * C + c] = ada ? 1.0 + w.v[o] : k.affine ? w.v[o] : 1.0;
            bias[n * C + c] = ada || k.affine ? b.v[o] : 0.0;
        }
    const void *wp = k.affine || ada ? w.p : NULL, *bp = k.affine || ada ? b.p : NULL;
    float *mean = xmalloc((size_t)(sets + NC) * sizeof(float)), *rstd = xmalloc((size_t)(sets + NC) * sizeof(float));
    float *rm = xmalloc((size_t)(4 * C) * sizeof(float)), *rv = rm + C, *rm0 = rv + C, *rv0 = rm0 + C;
    for (int64_t c = 0; c < C; c++) rm[c] = rm0[c] = (float)(0.1 * c), rv[c] = rv0[c] = (float)(1.0 + 0.2 * c);
    double momentum = 0.25, eps = k.eps;

    switch (k.op) {
    case BN: CHECK_OK(norma_batch_norm_fwd(k.dtype, k.layout, N, C, S, x.t.p, wp, bp, rm, rv, 1, momentum, eps, y.t.p, mean, rstd)); break;
    case IN: CHECK_OK(norma_instance_norm_fwd(k.dtype, k.layout, N, C, S, x.t.p, wp, bp, rm, rv, 1, momentum, eps, y.t.p, mean, rstd)); break;
    case GN: CHECK_OK(norma_group_norm_fwd(k.dtype, k.layout, N, C, S, G, x.t.p, wp, bp, eps, y.t.p, mean, rstd)); break;
    case ADA_GN: CHECK_OK(norma_ada_group_norm_fwd(k.dtype, k.layout, N, C, S, G, x.t.p, bp, wp, stride, eps, y.t.p, mean, rstd)); break;
    case GN_SILU: CHECK_OK(norma_group_norm_silu_fwd(k.dtype, k.layout, N, C, S, G, x.t.p, wp, bp, eps, y.t.p, mean, rstd)); break;
    }
    c_sync(&y);
    double *ry = xmalloc((size_t)n_el * sizeof(double)), *rmean = xmalloc((size_t)sets * sizeof(double));
    double *rrstd = xmalloc((size_t)sets * sizeof(double));
    oracle_set_forward(&sp, x.v, gain, bias, ry, rmean, rrstd);
    /* with a SiLU: y = silu(z), and the backward's dy becomes dz = dy·silu'(z) (z exact) */
    double *dz = xmalloc((size_t)n_el * sizeof(double));
    for (int64_t i = 0; i < n_el; i++) {
        dz[i] = k.op == GN_SILU ? (double)(dy.v[i] * dsilu_l(ry[i])) : dy.v[i];
        if (k.op == GN_SILU) ry[i] = (double)silu_l(ry[i]);
    }
    /* statistics and outputs are computed from the stored values exactly (double) whatever the mean:
     * within 1e-4 of the float64 result even where the mean dwarfs the spread */
    const int overflow = rstd_overflows_float(k.dtype, k.spread, k.eps);
    if (overflow) excuse_nonfinite(y.v, ry, n_el);
    double e = worst_error(y.v, ry, n_el, k.dtype, fmin(1e-4, rel_for(k.dtype) * (1.0 + fabs(k.mean) / k.spread)));
    CHECK(e <= 1.0, "%s: forward error %.3g tolerances", set_describe(&k), e);
    /* f32 in float: the centred values round (16-bit ones are exact), a few more float roundings */
    const double stat_rel = k.dtype == NORMA_F32 && in_float(k.dtype) ? 0x1p-19 : 0x1p-21;
    for (int64_t s = 0; s < sets; s++) {
        CHECK(fabs(mean[s] - rmean[s]) <= ulp_of(NORMA_F32, rmean[s]) + 0x1p-20 / rrstd[s], "%s: mean[%lld] %.9g vs %.9g",
              set_describe(&k), (long long)s, (double)mean[s], rmean[s]);
        /* a float rstd beyond FLT_MAX (subnormal data, eps 0) is inf, the float rounding of the value */
        int overflows = isinf((float)rrstd[s]);
        CHECK(overflows ? isinf(rstd[s]) : fabs(rstd[s] - rrstd[s]) <= ulp_of(NORMA_F32, rrstd[s]) + stat_rel * rrstd[s],
              "%s: rstd[%lld] %.9g vs %.9g", set_describe(&k), (long long)s, (double)rstd[s], rrstd[s]);
    }
    /* running statistics: BN over the batch; IN averaged over the samples of per-instance values */
    if (k.op <= IN) {
        double worst = 0.0;
        for (int64_t c = 0; c < C; c++) {
            double bm = 0.0, bv = 0.0;
            for (int64_t n = 0; n < (k.op == BN ? 1 : N); n++) {
                set_spec one = sp;
                one.nv_minus = 1;
                long double m, r, cnt;
                oracle_set_stats(&one, x.v, k.op == BN ? c : n * C + c, &m, &r, &cnt);
                long double var = 1.0L / (r * r) - one.eps;
                bm += (double)m, bv += (double)var;
            }
            if (k.op == IN) bm /= (double)N, bv /= (double)N;
            double em = momentum * bm + (1.0 - momentum) * rm0[c], ev = momentum * bv + (1.0 - momentum) * rv0[c];
            worst = fmax(worst, fabs(rm[c] - em) / (ulp_of(NORMA_F32, em) + 1e-6 * sqrt(bv)));
            if (isinf((float)ev)) { /* a variance beyond FLT_MAX (|x| ~ 1e30) is stored as inf */
                worst = fmax(worst, isinf(rv[c]) ? 0.0 : INFINITY);
                continue;
            }
            worst = fmax(worst, fabs(rv[c] - ev) / (2 * ulp_of(NORMA_F32, ev) + 1e-6 * fabs(ev)));
        }
        CHECK(worst <= 1.0, "%s: running statistics error %.3g tolerances", set_describe(&k), worst);
    }

    /* backward */
    int want_params = k.affine || ada;
    size_t gsize = ada ? (size_t)plen * norma_dtype_size(k.dtype) : (size_t)C * sizeof(float);
    void *dg = xmalloc(gsize + 1), *db = xmalloc(gsize + 1);
    memset(dg, 0x7f, gsize), memset(db, 0x7f, gsize);
    void *dgp = want_params ? dg : NULL, *dbp = want_params ? db : NULL;
    switch (k.op) {
    case BN: CHECK_OK(norma_batch_norm_bwd(k.dtype, k.layout, N, C, S, dy.t.p, x.t.p, wp, mean, NULL, NULL, 1, eps, dx.t.p, dgp, dbp)); break;
    case IN: CHECK_OK(norma_instance_norm_bwd(k.dtype, k.layout, N, C, S, dy.t.p, x.t.p, wp, mean, NULL, NULL, 1, eps, dx.t.p, dgp, dbp)); break;
    case GN: CHECK_OK(norma_group_norm_bwd(k.dtype, k.layout, N, C, S, G, dy.t.p, x.t.p, wp, mean, eps, dx.t.p, dgp, dbp)); break;
    case ADA_GN: CHECK_OK(norma_ada_group_norm_bwd(k.dtype, k.layout, N, C, S, G, dy.t.p, x.t.p, wp, stride, mean, eps, dx.t.p, dbp, dgp)); break;
    case GN_SILU: CHECK_OK(norma_group_norm_silu_bwd(k.dtype, k.layout, N, C, S, G, dy.t.p, x.t.p, wp, bp, mean, rstd, eps, dx.t.p, dgp, dbp)); break;
    }
    c_sync(&dx);
    double *rdx = xmalloc((size_t)n_el * sizeof(double)), *rdg = xmalloc((size_t)NC * sizeof(double));
    double *rdb = xmalloc((size_t)NC * sizeof(double));
    oracle_set_backward(&sp, x.v, dz, gain, rdx, rdg, rdb);
    /* dx cancels (completely for sets of one or two elements): errors are relative to its terms rstd·|g| */
    double terms = 0.0;
    for (int64_t i = 0; i < n_el; i++) {
        int64_t n = i / (C * S), c = (i / S) % C;
        terms = fmax(terms, fabs(dz[i] * gain[n * C + c]) * rrstd[chan_set(&sp, n, c)]);
    }
    if (overflow) excuse_nonfinite(dx.v, rdx, n_el);
    e = worst_error_scaled(dx.v, rdx, n_el, k.dtype, rel_for(k.dtype) * 10 * (1.0 + fabs(k.mean) / k.spread), terms);
    CHECK(e <= 1.0, "%s: dx error %.3g tolerances", set_describe(&k), e);
    if (want_params) {
        /* weights: summed over the samples; modulation: per (n, c) at n·stride + c, gaps untouched */
        int64_t len = ada ? plen : C;
        double *got_g = xmalloc((size_t)len * sizeof(double)), *got_b = xmalloc((size_t)len * sizeof(double));
        double *ref_g = calloc((size_t)len, sizeof(double)), *ref_b = calloc((size_t)len, sizeof(double));
        norma_dtype gt = ada ? k.dtype : NORMA_F32;
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++) {
                int64_t o = ada ? n * stride + c : c;
                ref_g[o] += rdg[n * C + c], ref_b[o] += rdb[n * C + c];
            }
        int gaps_ok = 1;
        for (int64_t o = 0; o < len; o++) {
            if (ada && o % stride >= C) {
                gaps_ok &= ((unsigned char *)dg)[o * (int64_t)norma_dtype_size(gt)] == 0x7f;
                got_g[o] = ref_g[o], got_b[o] = ref_b[o];
                continue;
            }
            got_g[o] = load_elem(gt, dg, o), got_b[o] = load_elem(gt, db, o);
        }
        double eg = worst_error(got_g, ref_g, len, gt, rel_for(k.dtype) * 10 * (1.0 + fabs(k.mean) / k.spread));
        double eb = worst_error(got_b, ref_b, len, gt, rel_for(k.dtype) * 10);
        CHECK(eg <= 1.0 && eb <= 1.0, "%s: parameter gradient errors %.3g, %.3g tolerances", set_describe(&k), eg, eb);
        CHECK(gaps_ok, "%s: wrote between the modulation vectors", set_describe(&k));
        free(got_g), free(got_b), free(ref_g), free(ref_b);
    }
    free(rdx), free(rdg), free(rdb), free(dg), free(db), free(ry), free(rmean), free(rrstd), free(mean), free(rstd), free(rm);
    free(dz);
    free(gain), free(bias);
    t_free(&w), t_free(&b);
    c_free(&x), c_free(&y), c_free(&dy), c_free(&dx);
}

static void test_set_norms(void) {
    /* every channel count and a spread of spatial sizes, including 1, tails of 16, several blocks */
    static const int64_t spatials[] = {2, 3, 7, 16, 17, 49, 100};
    static const int64_t channels[] = {1, 2, 3, 4, 6, 16, 17, 33};
    for (int op = BN; op <= GN_SILU; op++)
        for (size_t ti = 0; ti < 3; ti++)
            for (int layout = 0; layout < 2; layout++)
                for (size_t ci = 0; ci < 8; ci++)
                    for (size_t si = 0; si < 7; si++) {
                        int64_t C = channels[ci], S = spatials[si];
                        int64_t G = C % 2 == 0 ? C / 2 : C; /* a divisor of C */
                        set_case k = {.op = op, .dtype = dtypes[ti], .layout = layout, .N = 1 + (int64_t)(si % 3),
                                      .C = C, .S = S, .G = op == ADA_GN && C % 3 == 0 ? C / 3 : G,
                                      .affine = (int)((ci + si) % 3 != 0), .eps = 1e-5, .mean = 0.5, .spread = 2.0};
                        if (op == IN && S == 1) continue;
                        check_set_case(k);
                    }
}

/* Several spatial blocks per plane (NCHW: > 2^18 positions) and per sample (NHWC: > 2^18/C rows, with
 * cache sub-blocks of 2^15/C rows); large means. */
static void test_set_norms_large(void) {
    set_case cases[] = {
        {BN, NORMA_F32, NORMA_CHANNELS_FIRST, 2, 2, 150001, 0, 1, 1e-5, 0.5, 2.0},
        {GN, NORMA_F32, NORMA_CHANNELS_FIRST, 1, 4, 70001, 2, 1, 1e-5, 0.5, 2.0},
        {BN, NORMA_F32, NORMA_CHANNELS_LAST, 2, 33, 9001, 0, 1, 1e-5, 0.5, 2.0},
        {GN, NORMA_BF16, NORMA_CHANNELS_LAST, 1, 48, 12345, 4, 1, 1e-5, 0.5, 2.0},
        {IN, NORMA_F32, NORMA_CHANNELS_LAST, 2, 20, 14000, 0, 1, 1e-5, 0.5, 2.0},
        /* more channels than one panel of the channels-last passes (512) */
        {BN, NORMA_F32, NORMA_CHANNELS_LAST, 2, 1100, 9, 0, 1, 1e-5, 0.5, 2.0},
        {GN, NORMA_BF16, NORMA_CHANNELS_LAST, 2, 1100, 5, 4, 1, 1e-5, 0.5, 2.0},
        {GN_SILU, NORMA_F32, NORMA_CHANNELS_LAST, 2, 1100, 5, 4, 1, 1e-5, 0.5, 2.0},
        {GN_SILU, NORMA_F32, NORMA_CHANNELS_FIRST, 1, 4, 70001, 2, 1, 1e-5, 0.5, 2.0},
        {GN_SILU, NORMA_BF16, NORMA_CHANNELS_LAST, 1, 48, 12345, 4, 1, 1e-5, 0.5, 2.0},
        {GN_SILU, NORMA_F32, NORMA_CHANNELS_FIRST, 2, 8, 300, 4, 1, 1e-5, 1e4, 1e-2},
        /* large means over small spreads: both layouts */
        {BN, NORMA_F32, NORMA_CHANNELS_FIRST, 3, 5, 1000, 0, 1, 1e-5, 1e4, 1e-2},
        {BN, NORMA_F32, NORMA_CHANNELS_LAST, 3, 5, 1000, 0, 1, 1e-5, 1e4, 1e-2},
        {GN, NORMA_F32, NORMA_CHANNELS_FIRST, 2, 8, 500, 4, 1, 1e-5, 1e4, 1e-2},
        {GN, NORMA_F32, NORMA_CHANNELS_LAST, 2, 8, 500, 4, 1, 1e-5, 1e4, 1e-2},
        {IN, NORMA_F32, NORMA_CHANNELS_LAST, 2, 8, 500, 0, 1, 1e-5, -1e5, 1e-2},
        {IN, NORMA_F32, NORMA_CHANNELS_FIRST, 2, 8, 500, 0, 1, 1e-5, 1e6, 1e-1},
        {BN, NORMA_F32, NORMA_CHANNELS_LAST, 3, 5, 300, 0, 1, 1e-5, 1e6, 1e-1},
        {ADA_GN, NORMA_F32, NORMA_CHANNELS_FIRST, 2, 8, 300, 2, 1, 1e-5, 1e5, 1e-2},
        /* |x| ~ 1e30 (x² overflows float) and subnormal data (x² underflows double's... no: float's) */
        {BN, NORMA_F32, NORMA_CHANNELS_FIRST, 3, 5, 300, 0, 1, 1e-5, 0.0, 1e30},
        {GN, NORMA_F32, NORMA_CHANNELS_LAST, 2, 8, 300, 4, 1, 1e-5, 0.0, 1e30},
        {IN, NORMA_F32, NORMA_CHANNELS_LAST, 2, 8, 300, 0, 1, 1e-5, 0.0, 1e30},
        {BN, NORMA_F32, NORMA_CHANNELS_LAST, 3, 5, 300, 0, 1, 0.0, 0.0, 1e-39},
        {GN, NORMA_F32, NORMA_CHANNELS_FIRST, 2, 8, 300, 4, 1, 0.0, 0.0, 1e-39},
        {IN, NORMA_F32, NORMA_CHANNELS_FIRST, 2, 8, 300, 0, 1, 0.0, 0.0, 1e-39},
        /* bf16 has float's range: its float sums overflow beyond |x| ~ 1e19 and underflow below ~1e-19,
         * in the channels-last columns (one float sum per channel) as in the channels-first rows */
        {BN, NORMA_BF16, NORMA_CHANNELS_LAST, 3, 5, 300, 0, 1, 1e-5, 0.0, 1e20},
        {GN, NORMA_BF16, NORMA_CHANNELS_LAST, 2, 8, 300, 4, 1, 1e-5, 0.0, 1e30},
        {IN, NORMA_BF16, NORMA_CHANNELS_LAST, 2, 8, 300, 0, 1, 1e-5, 0.0, 1e20},
        {GN_SILU, NORMA_BF16, NORMA_CHANNELS_LAST, 2, 8, 300, 4, 1, 1e-5, 0.0, 1e20},
        {GN, NORMA_BF16, NORMA_CHANNELS_FIRST, 2, 8, 300, 4, 1, 1e-5, 0.0, 1e20},
        {BN, NORMA_BF16, NORMA_CHANNELS_LAST, 3, 5, 300, 0, 1, 0.0, 0.0, 1e-30},
        {GN, NORMA_BF16, NORMA_CHANNELS_LAST, 2, 8, 300, 4, 1, 0.0, 0.0, 1e-30},
        {IN, NORMA_BF16, NORMA_CHANNELS_LAST, 2, 8, 300, 0, 1, 0.0, 0.0, 1e-30},
        {GN_SILU, NORMA_BF16, NORMA_CHANNELS_LAST, 2, 8, 300, 4, 1, 0.0, 0.0, 1e-30},
        {BN, NORMA_BF16, NORMA_CHANNELS_FIRST, 3, 5, 300, 0, 1, 0.0, 0.0, 1e-30},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_set_case(cases[i]);
}

/* ----- AdaIN and channel RMSNorm: oracle, finite differences ------------------------------------- */

static void oracle_adain(int64_t N, int64_t C, int64_t Sc, int64_t Ss, const double *content, const double *style,
                         int unbiased, double eps, double *y) {
    for (int64_t nc = 0; nc < N * C; nc++) {
        long double mc = 0, ms = 0, qc = 0, qs = 0;
        for (int64_t s = 0; s < Sc; s++) mc += content[nc * Sc + s];
        for (int64_t s = 0; s < Ss; s++) ms += style[nc * Ss + s];
        mc /= Sc, ms /= Ss;
        for (int64_t s = 0; s < Sc; s++) qc += (content[nc * Sc + s] - mc) * (content[nc * Sc + s] - mc);
        for (int64_t s = 0; s < Ss; s++) qs += (style[nc * Ss + s] - ms) * (style[nc * Ss + s] - ms);
        long double sc = sqrtl(qc / (Sc - unbiased) + eps), ss = sqrtl(qs / (Ss - unbiased) + eps);
        for (int64_t s = 0; s < Sc; s++) y[nc * Sc + s] = (double)(ss * (content[nc * Sc + s] - mc) / sc + ms);
    }
}

static double adain_loss(int64_t N, int64_t C, int64_t Sc, int64_t Ss, const double *content, const double *style,
                         int unbiased, double eps, const double *r) {
    double *y = xmalloc((size_t)(N * C * Sc) * sizeof(double)), l = 0.0;
    oracle_adain(N, C, Sc, Ss, content, style, unbiased, eps, y);
    for (int64_t i = 0; i < N * C * Sc; i++) l += r[i] * y[i];
    free(y);
    return l;
}

static void test_adain(void) {
    for (size_t ti = 0; ti < 3; ti++)
        for (int layout = 0; layout < 2; layout++)
            for (int unbiased = 0; unbiased < 2; unbiased++) {
                norma_dtype t = dtypes[ti];
                int64_t N = 2, C = 3, Sc = 17, Ss = 9;
                ctensor ct = c_new(t, layout, N, C, Sc), st = c_new(t, layout, N, C, Ss), y = c_new(t, layout, N, C, Sc);
                ctensor dy = c_new(t, layout, N, C, Sc), dc = c_new(t, layout, N, C, Sc), ds = c_new(t, layout, N, C, Ss);
                c_fill(&ct, 0.5, 2.0), c_fill(&st, -1.0, 0.7), c_fill(&dy, 0.0, 1.0);
                float cm[6], sm[6];
                norma_variance v = unbiased ? NORMA_VAR_UNBIASED : NORMA_VAR_BIASED;
                CHECK_OK(norma_adain_fwd(t, layout, N, C, Sc, Ss, ct.t.p, st.t.p, v, 1e-5f, y.t.p, cm, sm));
                c_sync(&y);
                double ry[102];
                oracle_adain(N, C, Sc, Ss, ct.v, st.v, unbiased, 1e-5, ry);
                double e = worst_error(y.v, ry, N * C * Sc, t, rel_for(t));
                CHECK(e <= 1.0, "adain %s %s unbiased=%d: forward error %.3g", dtype_name(t), layout_name(layout), unbiased, e);
                CHECK_OK(norma_adain_bwd(t, layout, N, C, Sc, Ss, dy.t.p, ct.t.p, st.t.p, v, cm, 1e-5f, dc.t.p, ds.t.p));
                c_sync(&dc), c_sync(&ds);
                /* finite differences of the long-double oracle */
                double worst = 0.0, fdc[102], fds[54];
                for (int64_t i = 0; i < N * C * Sc; i++) {
                    double keep = ct.v[i], h = 1e-6 * fmax(1.0, fabs(keep));
                    ct.v[i] = keep + h;
                    double lp = adain_loss(N, C, Sc, Ss, ct.v, st.v, unbiased, 1e-5, dy.v);
                    ct.v[i] = keep - h;
                    double lm = adain_loss(N, C, Sc, Ss, ct.v, st.v, unbiased, 1e-5, dy.v);
                    ct.v[i] = keep, fdc[i] = (lp - lm) / (2 * h);
                }
                for (int64_t i = 0; i < N * C * Ss; i++) {
                    double keep = st.v[i], h = 1e-6 * fmax(1.0, fabs(keep));
                    st.v[i] = keep + h;
                    double lp = adain_loss(N, C, Sc, Ss, ct.v, st.v, unbiased, 1e-5, dy.v);
                    st.v[i] = keep - h;
                    double lm = adain_loss(N, C, Sc, Ss, ct.v, st.v, unbiased, 1e-5, dy.v);
                    st.v[i] = keep, fds[i] = (lp - lm) / (2 * h);
                }
                double tol = t == NORMA_F32 ? 1e-5 : 2e-2;
                worst = fmax(worst_error(dc.v, fdc, N * C * Sc, NORMA_F32, tol), worst_error(ds.v, fds, N * C * Ss, NORMA_F32, tol));
                CHECK(worst <= 1.0, "adain %s %s unbiased=%d: gradients vs finite differences %.3g", dtype_name(t),
                      layout_name(layout), unbiased, worst);
                c_free(&ct), c_free(&st), c_free(&y), c_free(&dy), c_free(&dc), c_free(&ds);
            }
}

/* y = z = x/max(‖x‖, eps)·sqrt(C)·gamma + beta per (n, s), or silu(z); and its analytic backward. */
static void oracle_channel_rms(int64_t N, int64_t C, int64_t S, const double *x, const double *dy, const double *g,
                               const double *b, double eps, int silu, double *y, double *dx, double *dg, double *db) {
    for (int64_t c = 0; c < C; c++) dg[c] = db[c] = 0.0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t s = 0; s < S; s++) {
            long double q = 0, sgx = 0;
            for (int64_t c = 0; c < C; c++) q += (long double)x[(n * C + c) * S + s] * x[(n * C + c) * S + s];
            long double nu = sqrtl(q), r = sqrtl((long double)C) / (nu < eps ? eps : nu);
            long double *dz = xmalloc((size_t)C * sizeof(long double));
            for (int64_t c = 0; c < C; c++) {
                int64_t i = (n * C + c) * S + s;
                long double z = x[i] * r * g[c] + b[c];
                y[i] = (double)(silu ? silu_l(z) : z);
                dz[c] = silu ? dy[i] * dsilu_l(z) : dy[i];
                sgx += dz[c] * g[c] * x[i];
                dg[c] += (double)(dz[c] * x[i] * r), db[c] += (double)dz[c];
            }
            for (int64_t c = 0; c < C; c++) {
                int64_t i = (n * C + c) * S + s;
                dx[i] = (double)(r * dz[c] * g[c] - (nu < eps ? 0 : x[i] * r * r * r * sgx / C));
            }
            free(dz);
        }
}

/* Channel RMSNorm, and with a SiLU after it (silu), against the long-double oracle. */
static void test_channel_rms(void) {
    static const int64_t shapes[][3] = {{1, 1, 5}, {2, 3, 1}, {2, 5, 17}, {1, 16, 33}, {3, 17, 300}, {1, 96, 1000}, {2, 7, 600},
                                        {7, 1, 5}};
    for (size_t ti = 0; ti < 3; ti++)
        for (int layout = 0; layout < 2; layout++)
            for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
                for (int variant = 0; variant < 4; variant++) {
                    int affine = variant & 1, silu = variant >> 1;
                    norma_dtype t = dtypes[ti];
                    int64_t N = shapes[k][0], C = shapes[k][1], S = shapes[k][2], n_el = N * C * S;
                    ctensor x = c_new(t, layout, N, C, S), y = c_new(t, layout, N, C, S), dy = c_new(t, layout, N, C, S);
                    ctensor dx = c_new(t, layout, N, C, S);
                    c_fill(&x, 0.3, 1.5), c_fill(&dy, 0.0, 1.0);
                    if (k == 1) c_set(&x, 1, 2, 0, 0.0), c_set(&x, 1, 1, 0, 0.0), c_set(&x, 1, 0, 0, 0.0); /* ν = 0: clamped */
                    tensor g = t_new(t, C), b = t_new(t, C);
                    t_fill_normal(&g, 1.0, 0.5), t_fill_normal(&b, 0.0, 0.5);
                    double *ones = xmalloc((size_t)C * sizeof(double)), *zeros = calloc((size_t)C, sizeof(double));
                    for (int64_t c = 0; c < C; c++) ones[c] = 1.0;
                    double eps = 1e-12;
                    float *dg = xmalloc((size_t)C * 4), *db = xmalloc((size_t)C * 4);
                    const void *gp = affine ? g.p : NULL, *bp = affine ? b.p : NULL;
                    if (silu) {
                        CHECK_OK(norma_channel_rms_norm_silu_fwd(t, layout, N, C, S, x.t.p, gp, bp, eps, y.t.p));
                        CHECK_OK(norma_channel_rms_norm_silu_bwd(t, layout, N, C, S, dy.t.p, x.t.p, gp, bp, eps, dx.t.p, dg, db));
                    } else {
                        CHECK_OK(norma_channel_rms_norm_fwd(t, layout, N, C, S, x.t.p, gp, bp, eps, y.t.p));
                        CHECK_OK(norma_channel_rms_norm_bwd(t, layout, N, C, S, dy.t.p, x.t.p, gp, eps, dx.t.p, dg, db));
                    }
                    c_sync(&y), c_sync(&dx);
                    double *ry = xmalloc((size_t)n_el * 8), *rdx = xmalloc((size_t)n_el * 8), *rdg = xmalloc((size_t)C * 8);
                    double *rdb = xmalloc((size_t)C * 8), *gdg = xmalloc((size_t)C * 8), *gdb = xmalloc((size_t)C * 8);
                    oracle_channel_rms(N, C, S, x.v, dy.v, affine ? g.v : ones, affine ? b.v : zeros, (double)eps, silu, ry, rdx,
                                       rdg, rdb);
                    for (int64_t c = 0; c < C; c++) gdg[c] = dg[c], gdb[c] = db[c];
                    double terms = 0.0; /* dx = r·g - x·r³·Σ(g·x)/C cancels (completely for C = 1): its terms */
                    for (int64_t i = 0; i < n_el; i++) {
                        int64_t n = i / (C * S), s_ = i % S;
                        double q = 0.0;
                        for (int64_t c = 0; c < C; c++) q += x.v[(n * C + c) * S + s_] * x.v[(n * C + c) * S + s_];
                        double r = sqrt((double)C) / fmax(sqrt(q), (double)eps);
                        terms = fmax(terms, r * fabs(dy.v[i]) * (affine ? fabs(g.v[(i / S) % C]) : 1.0));
                    }
                    double e1 = worst_error(y.v, ry, n_el, t, rel_for(t)), e2 = worst_error_scaled(dx.v, rdx, n_el, t, rel_for(t) * 10, terms);
                    /* the parameter gradients sum dy (or dy·silu'(z), its σ in float: as the set norms') */
                    double prel = silu ? rel_for(t) * 10 : 2e-6;
                    double e3 = worst_error(gdg, rdg, C, NORMA_F32, prel), e4 = worst_error(gdb, rdb, C, NORMA_F32, prel);
                    CHECK(e1 <= 1 && e2 <= 1 && e3 <= 1 && e4 <= 1,
                          "channel_rms%s %s %s N=%lld C=%lld S=%lld affine=%d: errors y %.3g dx %.3g dgamma %.3g dbeta %.3g",
                          silu ? "+silu" : "", dtype_name(t), layout_name(layout), (long long)N, (long long)C, (long long)S,
                          affine, e1, e2, e3, e4);
                    free(ry), free(rdx), free(rdg), free(rdb), free(gdg), free(gdb), free(ones), free(zeros), free(dg), free(db);
                    t_free(&g), t_free(&b);
                    c_free(&x), c_free(&y), c_free(&dy), c_free(&dx);
                }
}

/* The set-norm backward formula itself, against finite differences of the oracle forward. */
/* The oracle's SiLU derivative against central differences of its SiLU. */
static void test_silu_oracle(void) {
    double worst = 0.0;
    for (double z = -30.0; z <= 30.0; z += 0.37) {
        /* h = 1e-4: truncation ~1e-9, rounding ~1e-11 even where long double is only double (valgrind) */
        long double h = 1e-4L, fd = (silu_l(z + h) - silu_l(z - h)) / (2 * h);
        worst = fmax(worst, (double)fabsl(fd - dsilu_l(z)));
    }
    CHECK(worst < 1e-8, "oracle silu' vs central differences: %.3g", worst);
}

static void test_set_finite_differences(void) {
    for (int zero_rule = 0; zero_rule < 2; zero_rule++)
        for (int64_t cpg = 0; cpg <= 2; cpg++) {
            set_spec sp = {.N = 2, .C = 4, .S = 5, .cpg = cpg, .zero_rule = zero_rule, .eps = 1e-3};
            int64_t n_el = 40;
            double x[40], dy[40], gain[8], bias[8], dx[40], dg[8], db[8], y[40];
            for (int i = 0; i < 40; i++) x[i] = rng_normal() * 2 + 1, dy[i] = rng_normal();
            for (int i = 0; i < 8; i++) gain[i] = 1 + 0.5 * rng_normal(), bias[i] = rng_normal();
            oracle_set_backward(&sp, x, dy, gain, dx, dg, db);
            double worst = 0.0;
            for (int64_t i = 0; i < n_el; i++) {
                double keep = x[i], h = 1e-6, lp = 0, lm = 0;
                x[i] = keep + h;
                oracle_set_forward(&sp, x, gain, bias, y, NULL, NULL);
                for (int j = 0; j < 40; j++) lp += dy[j] * y[j];
                x[i] = keep - h;
                oracle_set_forward(&sp, x, gain, bias, y, NULL, NULL);
                for (int j = 0; j < 40; j++) lm += dy[j] * y[j];
                x[i] = keep;
                worst = fmax(worst, fabs((lp - lm) / (2 * h) - dx[i]));
            }
            CHECK(worst < 1e-6, "the oracle's set backward disagrees with finite differences by %.3g", worst);
        }
}

/* ----- behaviours ------------------------------------------------------------------------------- */

static void test_layouts_agree(void) {
    int64_t N = 2, C = 12, S = 77;
    ctensor a = c_new(NORMA_F32, NORMA_CHANNELS_FIRST, N, C, S), b = c_new(NORMA_F32, NORMA_CHANNELS_LAST, N, C, S);
    ctensor ya = c_new(NORMA_F32, NORMA_CHANNELS_FIRST, N, C, S), yb = c_new(NORMA_F32, NORMA_CHANNELS_LAST, N, C, S);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t s = 0; s < S; s++) {
                double v = 1e4 + 1e-2 * rng_normal(); /* PyTorch 1.13's channels-last GroupNorm gave NaN here */
                c_set(&a, n, c, s, v), c_set(&b, n, c, s, v);
            }
    CHECK_OK(norma_group_norm_fwd(NORMA_F32, NORMA_CHANNELS_FIRST, N, C, S, 4, a.t.p, NULL, NULL, 1e-5f, ya.t.p, NULL, NULL));
    CHECK_OK(norma_group_norm_fwd(NORMA_F32, NORMA_CHANNELS_LAST, N, C, S, 4, b.t.p, NULL, NULL, 1e-5f, yb.t.p, NULL, NULL));
    c_sync(&ya), c_sync(&yb);
    double worst = 0.0;
    for (int64_t i = 0; i < N * C * S; i++) worst = fmax(worst, fabs(ya.v[i] - yb.v[i]));
    CHECK(worst < 1e-4 && isfinite(worst), "GroupNorm NCHW and NHWC differ by %.3g at mean 1e4, std 1e-2", worst);
    c_free(&a), c_free(&b), c_free(&ya), c_free(&yb);
}

/* GroupNorm + SiLU across the whole range of the SiLU's input: x a ramp, weight 100, so z runs over
 * [-173, 173] (σ saturating at both ends, e^-z overflowing float below -88.7, where the SiLU is -0 as
 * PyTorch's float SiLU, |silu| < 1e-36 exactly). Elsewhere within 2 ulps of the long-double silu(z),
 * plus the effect of rounding z to float before the SiLU (as PyTorch's composition does): a relative
 * |z|·2^-24·(1 - σ), up to 80 float ulps of the tiny values near z = -80. */
static void test_silu_range(void) {
    int64_t S = 4001;
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
        for (int layout = 0; layout < 2; layout++) {
            norma_dtype t = dtypes[d];
            ctensor x = c_new(t, layout, 1, 2, S), y = c_new(t, layout, 1, 2, S);
            for (int64_t c = 0; c < 2; c++)
                for (int64_t s = 0; s < S; s++) c_set(&x, 0, c, s, -1.0 + 2.0 * (double)s / (double)(S - 1));
            tensor w = t_new(t, 2), b = t_new(t, 2);
            t_set(&w, 0, 100.0), t_set(&w, 1, -100.0), t_set(&b, 0, 0.5), t_set(&b, 1, 0.0);
            CHECK_OK(norma_group_norm_silu_fwd(t, layout, 1, 2, S, 2, x.t.p, w.p, b.p, 1e-5, y.t.p, NULL, NULL));
            c_sync(&y);
            set_spec sp = {.N = 1, .C = 2, .S = S, .cpg = 1, .eps = 1e-5};
            double worst = 0.0;
            for (int64_t c = 0; c < 2; c++) {
                long double m, r, k;
                oracle_set_stats(&sp, x.v, c, &m, &r, &k);
                for (int64_t s = 0; s < S; s++) {
                    int64_t i = c * S + s;
                    long double z = (x.v[i] - m) * r * w.v[c] + b.v[c];
                    /* computed in float: the float statistics' error (~1e-8 of the spread) moves z by up to
                     * 1e-6·|w|, propagated by silu'(z) */
                    long double sig = 1.0L / (1.0L + expl(-z));
                    double ref = (double)silu_l(z), tol = 2 * ulp_of(t, ref) + (z < -88.0L ? 1e-36 : 0.0) +
                                                          fabs(ref) * (double)(fabsl(z) * (1.0L - sig)) * 0x1p-24;
                    if (in_float(t))
                        tol = ulp_of(t, ref) + 2 * ulp_of(NORMA_F32, ref) + 1e-36 * (z < -88.0L) +
                              1e-6 * fabs(w.v[c]) * fabs((double)dsilu_l(z));
                    worst = fmax(worst, fabs(y.v[i] - ref) / tol);
                }
            }
            CHECK(worst <= 1.0, "%s %s GroupNorm+SiLU over z in [-173, 173]: error %.3g tolerances", dtype_name(t),
                  layout_name(layout), worst);
            c_free(&x), c_free(&y), t_free(&w), t_free(&b);
        }
}

/* BatchNorm training set by set (channels-first, sets cached: the path norma_batch_norm_fwd/bwd take for
 * this shape) equals the three-step API (whole-tensor passes) bitwise: y, the saved and the running
 * statistics, dx, dweight and dbias. */
static void test_set_by_set_equals_steps(void) {
    int64_t N = 8, C = 32, S = 16384, n_el = N * C * S; /* f32 16 tasks of 2 sets, bf16 8 of 4 */
    for (size_t d = 0; d < 2; d++) {
        norma_dtype t = dtypes[d];
        size_t bytes = (size_t)n_el * norma_dtype_size(t);
        tensor x = t_new(t, n_el), dy = t_new(t, n_el), w = t_new(t, C), b = t_new(t, C);
        t_fill_normal(&x, 1.0, 2.0), t_fill_normal(&dy, 0.0, 1.0), t_fill_normal(&w, 1.0, 0.5), t_fill_normal(&b, 0.0, 0.5);
        char *y[2] = {xmalloc(bytes), xmalloc(bytes)}, *dx[2] = {xmalloc(bytes), xmalloc(bytes)};
        float sm[2][32], sr[2][32], rm[2][32], rv[2][32], dw[2][32], db[2][32];
        double stats[3 * 32], merged[3 * 32], sums[4 * 32];
        for (int k = 0; k < 2; k++)
            for (int64_t c = 0; c < C; c++) rm[k][c] = 0.25f, rv[k][c] = 2.0f;
        CHECK_OK(norma_batch_norm_fwd(t, NORMA_CHANNELS_FIRST, N, C, S, x.p, w.p, b.p, rm[0], rv[0], 1, 0.1, 1e-5, y[0],
                                      sm[0], sr[0]));
        CHECK_OK(norma_batch_norm_stats(t, NORMA_CHANNELS_FIRST, N, C, S, x.p, stats));
        CHECK_OK(norma_batch_norm_merge_stats(C, 1, stats, merged));
        CHECK_OK(norma_batch_norm_apply_stats(t, NORMA_CHANNELS_FIRST, N, C, S, x.p, w.p, b.p, merged, rm[1], rv[1], 0.1,
                                              1e-5, y[1], sm[1], sr[1]));
        CHECK(!memcmp(y[0], y[1], bytes) && !memcmp(sm[0], sm[1], sizeof sm[0]) && !memcmp(sr[0], sr[1], sizeof sr[0]) &&
                  !memcmp(rm[0], rm[1], sizeof rm[0]) && !memcmp(rv[0], rv[1], sizeof rv[0]),
              "%s BatchNorm forward set by set differs from the three steps", dtype_name(t));
        CHECK_OK(norma_batch_norm_bwd(t, NORMA_CHANNELS_FIRST, N, C, S, dy.p, x.p, w.p, sm[0], NULL, NULL, 1, 1e-5, dx[0],
                                      dw[0], db[0]));
        CHECK_OK(norma_batch_norm_bwd_sums(t, NORMA_CHANNELS_FIRST, N, C, S, dy.p, x.p, sm[0], sums));
        CHECK_OK(norma_batch_norm_bwd_apply(t, NORMA_CHANNELS_FIRST, N, C, S, dy.p, x.p, w.p, sm[0], sums,
                                            (double)(N * S), 1e-5, dx[1], dw[1], db[1]));
        CHECK(!memcmp(dx[0], dx[1], bytes) && !memcmp(dw[0], dw[1], sizeof dw[0]) && !memcmp(db[0], db[1], sizeof db[0]),
              "%s BatchNorm backward set by set differs from the three steps", dtype_name(t));
        free(y[0]), free(y[1]), free(dx[0]), free(dx[1]);
        t_free(&x), t_free(&dy), t_free(&w), t_free(&b);
    }
}

/* An in-place backward (dx over dy, dx over x) against a separate dx: within a rounding of dz to float
 * (f32) or of the output (16-bit); the C parameter gradients of each (dg[k], db[k], k = 1, 2 in place) within
 * 1e-5 of the separate ones, relative. */
enum { IN_PLACE_MAX_C = 24 };
static void check_in_place(const char *what, norma_dtype t, norma_layout layout, tensor *dx, tensor *over_dy,
                           tensor *over_x, int64_t C, float dg[3][IN_PLACE_MAX_C], float db[3][IN_PLACE_MAX_C]) {
    int64_t n_el = dx->n;
    t_sync(dx), t_sync(over_dy), t_sync(over_x);
    double scale = max_abs(dx->v, n_el), worst = 0.0, tol = (t == NORMA_F32 ? 1e-6 : 1e-2) * scale;
    for (int64_t i = 0; i < n_el; i++)
        worst = fmax(worst, fmax(fabs(over_dy->v[i] - dx->v[i]), fabs(over_x->v[i] - dx->v[i])));
    double worst_params = 0.0;
    for (int k = 1; k < 3; k++)
        for (int64_t c = 0; c < C; c++)
            worst_params = fmax(worst_params, fmax(fabs(dg[k][c] - dg[0][c]) / (fabs(dg[0][c]) + 1.0),
                                                   fabs(db[k][c] - db[0][c]) / (fabs(db[0][c]) + 1.0)));
    CHECK(worst <= tol && worst_params <= 1e-5, "%s %s %s bwd in place: dx differs by %.3g (scale %.3g), parameter "
          "gradients by %.3g", dtype_name(t), layout_name(layout), what, worst, scale, worst_params);
}

/* Channel RMSNorm + SiLU backward in place: dx over dy (f32 keeps dz in dx between its passes) and over
 * x (where it cannot) agree with a separate dx, within a rounding of dz to float (f32) or of the output. */
static void test_crms_silu_aliasing(void) {
    int64_t N = 2, C = 24, S = 300, n_el = N * C * S;
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
        for (int layout = 0; layout < 2; layout++) {
            norma_dtype t = dtypes[d];
            tensor x = t_new(t, n_el), dy = t_new(t, n_el), dx = t_new(t, n_el), g = t_new(t, C), b = t_new(t, C);
            t_fill_normal(&x, 0.5, 2.0), t_fill_normal(&dy, 0.0, 1.0), t_fill_normal(&g, 1.0, 0.5);
            t_fill_normal(&b, 0.0, 0.5);
            float dg[3][IN_PLACE_MAX_C], db[3][IN_PLACE_MAX_C];
            CHECK_OK(norma_channel_rms_norm_silu_bwd(t, layout, N, C, S, dy.p, x.p, g.p, b.p, 1e-12, dx.p, dg[0], db[0]));
            tensor over_dy = t_copy(&dy), over_x = t_copy(&x);
            CHECK_OK(norma_channel_rms_norm_silu_bwd(t, layout, N, C, S, over_dy.p, x.p, g.p, b.p, 1e-12, over_dy.p, dg[1],
                                                     db[1]));
            CHECK_OK(norma_channel_rms_norm_silu_bwd(t, layout, N, C, S, dy.p, over_x.p, g.p, b.p, 1e-12, over_x.p, dg[2],
                                                     db[2]));
            check_in_place("channel RMSNorm+SiLU", t, layout, &dx, &over_dy, &over_x, C, dg, db);
            t_free(&x), t_free(&dy), t_free(&dx), t_free(&g), t_free(&b), t_free(&over_dy), t_free(&over_x);
        }
}

/* GroupNorm + SiLU backward in place: dx over dy (f32 keeps dy·silu'(z) in dx between its passes) and
 * dx over x (where it cannot, and computes silu' twice) agree with a separate dx. */
static void test_silu_aliasing(void) {
    int64_t N = 2, C = 8, S = 50, n_el = N * C * S;
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
        for (int layout = 0; layout < 2; layout++) {
            norma_dtype t = dtypes[d];
            tensor x = t_new(t, n_el), dy = t_new(t, n_el), dx = t_new(t, n_el), w = t_new(t, C), b = t_new(t, C);
            t_fill_normal(&x, 1.0, 2.0), t_fill_normal(&dy, 0.0, 1.0), t_fill_normal(&w, 1.0, 0.5);
            t_fill_normal(&b, 0.0, 0.5);
            float mean[8], rstd[8], dw[3][IN_PLACE_MAX_C], db[3][IN_PLACE_MAX_C];
            tensor y = t_new(t, n_el);
            CHECK_OK(norma_group_norm_silu_fwd(t, layout, N, C, S, 4, x.p, w.p, b.p, 1e-5, y.p, mean, rstd));
            CHECK_OK(norma_group_norm_silu_bwd(t, layout, N, C, S, 4, dy.p, x.p, w.p, b.p, mean, rstd, 1e-5, dx.p, dw[0],
                                               db[0]));
            tensor over_dy = t_copy(&dy), over_x = t_copy(&x);
            CHECK_OK(norma_group_norm_silu_bwd(t, layout, N, C, S, 4, over_dy.p, x.p, w.p, b.p, mean, rstd, 1e-5,
                                               over_dy.p, dw[1], db[1]));
            CHECK_OK(norma_group_norm_silu_bwd(t, layout, N, C, S, 4, dy.p, over_x.p, w.p, b.p, mean, rstd, 1e-5,
                                               over_x.p, dw[2], db[2]));
            check_in_place("GroupNorm+SiLU", t, layout, &dx, &over_dy, &over_x, C, dw, db);
            t_free(&x), t_free(&dy), t_free(&dx), t_free(&w), t_free(&b), t_free(&y), t_free(&over_dy), t_free(&over_x);
        }
}

int64_t norma_l2_bytes(void); /* src/parallel.c: the L2 size the plans are made for */

/* A backward whose sets do not fit half of L2 (dy and x together more than L2) goes set by set with
 * every set shared by the threads, which claim its planes (channel_norm.c, shares_sets), on 2 and 3
 * threads; on 1 thread set by set alone. Shapes sized from this machine's L2 so that the sets are
 * shared, with plane counts that do not divide evenly: GroupNorm (2 samples x 4 groups of 3 channels,
 * plain and with SiLU, whose 16-bit data keep dz per member) against each sample alone (4 sets: the
 * whole-tensor passes), and on 1, 2, 3 threads bit for bit, dweight and dbias too; BatchNorm (5 samples
 * x 8 channels) against the three-step API. */
static void test_shared_sets(void) {
    static const int threads[] = {1, 2, 3};
    int64_t l2 = norma_l2_bytes();
    for (size_t d = 0; d < 2; d++)
        for (int kind = 0; kind < 3; kind++) { /* GroupNorm, GroupNorm + SiLU, BatchNorm */
            norma_dtype t = dtypes[d];
            size_t es = norma_dtype_size(t);
            int64_t N = kind == 2 ? 5 : 2, C = kind == 2 ? 8 : 12, G = 4, planes = kind == 2 ? N : C / G;
            /* a set of max(3/4 L2, 1 MiB) and more: shared, and a task each (set by set needs 8 tasks) */
            int64_t set = l2 / 4 * 3 > ((int64_t)1 << 20) ? l2 / 4 * 3 : (int64_t)1 << 20;
            int64_t S = set / (int64_t)es / planes + 37, per = C * S, n_el = N * per;
            size_t bytes = (size_t)n_el * es;
            tensor x = t_new(t, n_el), dy = t_new(t, n_el), w = t_new(t, C), b = t_new(t, C);
            t_fill_normal(&x, 1.0, 2.0), t_fill_normal(&dy, 0.0, 1.0), t_fill_normal(&w, 1.0, 0.5);
            t_fill_normal(&b, 0.0, 0.5);
            float mean[40], rstd[40], dw[4][12], db[4][12];
            char *y = xmalloc(bytes), *want = xmalloc(bytes), *got = xmalloc(bytes);
            if (kind == 2) {
                double sums[4 * 8];
                CHECK_OK(norma_batch_norm_fwd(t, NORMA_CHANNELS_FIRST, N, C, S, x.p, w.p, b.p, NULL, NULL, 1, 0.1, 1e-5,
                                              y, mean, rstd));
                CHECK_OK(norma_batch_norm_bwd_sums(t, NORMA_CHANNELS_FIRST, N, C, S, dy.p, x.p, mean, sums));
                CHECK_OK(norma_batch_norm_bwd_apply(t, NORMA_CHANNELS_FIRST, N, C, S, dy.p, x.p, w.p, mean, sums,
                                                    (double)(N * S), 1e-5, want, dw[3], db[3]));
            } else {
                CHECK_OK((kind ? norma_group_norm_silu_fwd : norma_group_norm_fwd)(
                    t, NORMA_CHANNELS_FIRST, N, C, S, G, x.p, w.p, b.p, 1e-5, y, mean, rstd));
                for (int64_t n = 0; n < N; n++) {
                    size_t o = (size_t)(n * per) * es;
                    if (kind)
                        CHECK_OK(norma_group_norm_silu_bwd(t, NORMA_CHANNELS_FIRST, 1, C, S, G, (char *)dy.p + o,
                                                           (char *)x.p + o, w.p, b.p, mean + n * G, rstd + n * G, 1e-5,
                                                           want + o, dw[3], db[3]));
                    else
                        CHECK_OK(norma_group_norm_bwd(t, NORMA_CHANNELS_FIRST, 1, C, S, G, (char *)dy.p + o,
                                                      (char *)x.p + o, w.p, mean + n * G, 1e-5, want + o, dw[3],
                                                      db[3]));
                }
            }
            for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
                CHECK_OK(norma_set_num_threads(threads[k]));
                memset(got, 0, bytes);
                if (kind == 2)
                    CHECK_OK(norma_batch_norm_bwd(t, NORMA_CHANNELS_FIRST, N, C, S, dy.p, x.p, w.p, mean, NULL, NULL, 1,
                                                  1e-5, got, dw[k], db[k]));
                else if (kind == 1)
                    CHECK_OK(norma_group_norm_silu_bwd(t, NORMA_CHANNELS_FIRST, N, C, S, G, dy.p, x.p, w.p, b.p, mean,
                                                       rstd, 1e-5, got, dw[k], db[k]));
                else
                    CHECK_OK(norma_group_norm_bwd(t, NORMA_CHANNELS_FIRST, N, C, S, G, dy.p, x.p, w.p, mean, 1e-5, got,
                                                  dw[k], db[k]));
                int same_params = kind == 2 ? !memcmp(dw[k], dw[3], 8 * sizeof(float)) && !memcmp(db[k], db[3], 8 * sizeof(float))
                                             : !memcmp(dw[k], dw[0], sizeof dw[0]) && !memcmp(db[k], db[0], sizeof db[0]);
                CHECK(!memcmp(got, want, bytes) && same_params, "%s %s backward, sets shared by %d threads: dx or "
                      "the parameter gradients differ", dtype_name(t), kind == 2 ? "BatchNorm" : kind ? "GroupNorm+SiLU"
                      : "GroupNorm", threads[k]);
            }
            CHECK_OK(norma_set_num_threads(2));
            free(y), free(want), free(got);
            t_free(&x), t_free(&dy), t_free(&w), t_free(&b);
        }
}

/* GroupNorm + SiLU backward on 16-bit data set by set (here 2 samples x 4 groups of 540 KB: a task each,
 * 8) keeps dy·silu'(z) in per-thread scratch instead of computing it again; each sample alone (4 tasks:
 * the whole-tensor passes) computes it twice. The same dx bit for bit, in place too, on 1, 2 or 3 threads
 * (which share the scratch out by slot); also for a constant group, whose sums fall back to double while
 * the dz kept stays the float one that the whole-tensor passes compute. */
static void test_silu_kept_dz(void) {
    int64_t N = 2, C = 8, S = 135000, G = 4, per = C * S, n_el = N * per;
    static const int threads[] = {1, 2, 3};
    for (size_t d = 1; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        norma_dtype t = dtypes[d];
        size_t es = norma_dtype_size(t), bytes = (size_t)n_el * es;
        tensor x = t_new(t, n_el), dy = t_new(t, n_el), w = t_new(t, C), b = t_new(t, C);
        t_fill_normal(&x, 1.0, 2.0), t_fill_normal(&dy, 0.0, 1.0), t_fill_normal(&w, 1.0, 0.5);
        t_fill_normal(&b, 0.0, 0.5);
        for (int64_t i = per + 2 * S; i < per + 4 * S; i++) store_elem(t, x.p, i, 0.75f); /* group 1 of sample 1 */
        float mean[8], rstd[8], dw[8], db[8];
        char *y = xmalloc(bytes), *want = xmalloc(bytes), *got = xmalloc(bytes);
        CHECK_OK(norma_group_norm_silu_fwd(t, NORMA_CHANNELS_FIRST, N, C, S, G, x.p, w.p, b.p, 1e-5, y, mean, rstd));
        for (int64_t n = 0; n < N; n++) {
            size_t o = (size_t)(n * per) * es;
            CHECK_OK(norma_group_norm_silu_bwd(t, NORMA_CHANNELS_FIRST, 1, C, S, G, (char *)dy.p + o, (char *)x.p + o,
                                               w.p, b.p, mean + n * G, rstd + n * G, 1e-5, want + o, dw, db));
        }
        for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
            CHECK_OK(norma_set_num_threads(threads[k]));
            memset(got, 0, bytes);
            CHECK_OK(norma_group_norm_silu_bwd(t, NORMA_CHANNELS_FIRST, N, C, S, G, dy.p, x.p, w.p, b.p, mean, rstd,
                                               1e-5, got, dw, db));
            CHECK(!memcmp(got, want, bytes), "%s GroupNorm+SiLU backward by set, %d threads: dx differs from each "
                  "sample's alone", dtype_name(t), threads[k]);
            memcpy(got, x.p, bytes); /* in place over x */
            CHECK_OK(norma_group_norm_silu_bwd(t, NORMA_CHANNELS_FIRST, N, C, S, G, dy.p, got, w.p, b.p, mean, rstd,
                                               1e-5, got, dw, db));
            CHECK(!memcmp(got, want, bytes), "%s GroupNorm+SiLU backward by set in place, %d threads: dx differs",
                  dtype_name(t), threads[k]);
        }
        CHECK_OK(norma_set_num_threads(2));
        free(y), free(want), free(got);
        t_free(&x), t_free(&dy), t_free(&w), t_free(&b);
    }
}

/* Channels-last statistics are centred on each block's first row: an outlier there (here 400
 * standard deviations out) must not cost the float path its precision (the block is summed again
 * around the mean; without it, rstd was off by 2e-5). The saved mean and rstd stay within a float
 * rounding (+2^-21, as above) of the long-double ones. */
static void test_outlier_first_row(void) {
    int64_t N = 1, C = 5, S = 3000;
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        ctensor x = c_new(dtypes[d], NORMA_CHANNELS_LAST, N, C, S), y = c_new(dtypes[d], NORMA_CHANNELS_LAST, N, C, S);
        for (int64_t c = 0; c < C; c++)
            for (int64_t s = 0; s < S; s++) c_set(&x, 0, c, s, s == 0 ? 400.0 : 3.0 + rng_normal());
        float mean[5], rstd[5], rm[5] = {0}, rv[5] = {1, 1, 1, 1, 1};
        CHECK_OK(norma_batch_norm_fwd(dtypes[d], NORMA_CHANNELS_LAST, N, C, S, x.t.p, NULL, NULL, rm, rv, 1, 0.1, 1e-5,
                                      y.t.p, mean, rstd));
        set_spec sp = {.N = N, .C = C, .S = S, .cpg = 0, .zero_rule = 1, .eps = 1e-5};
        for (int64_t c = 0; c < C; c++) {
            long double m, r, k;
            oracle_set_stats(&sp, x.v, c, &m, &r, &k);
            CHECK(fabs(mean[c] - (double)m) <= ulp_of(NORMA_F32, (double)m) &&
                      fabs(rstd[c] - (double)r) <= ulp_of(NORMA_F32, (double)r) + 0x1p-21 * (double)r,
                  "%s outlier first row: channel %lld mean %.9g vs %.9Lg, rstd %.9g vs %.9Lg", dtype_name(dtypes[d]),
                  (long long)c, (double)mean[c], m, (double)rstd[c], r);
        }
        c_free(&x), c_free(&y);
    }
}

/* Channel RMSNorm and AdaIN at the extremes of float: |x| ~ 1e30 (squares overflow float), tiny data
 * (squares underflow float; eps 0 so that the norm, not the clamp, decides): f32 subnormals, bf16 at
 * 1e-30 (its 1/‖x‖ must stay within float's range: the 16-bit path applies in float); large means over
 * small spreads (AdaIN): within 1e-4 of the long-double result, plus the dtype's rounding. The
 * backward too: dx is relative to its terms r·|dy|. */
static void test_extreme_channel_rms_adain(void) {
    static const double scales[2][2] = {{1e30, 1e-39}, {1e30, 1e-30}};
    static const norma_dtype types[2] = {NORMA_F32, NORMA_BF16};
    for (int ti = 0; ti < 2; ti++)
        for (int layout = 0; layout < 2; layout++)
            for (int k = 0; k < 2; k++) {
                norma_dtype t = types[ti];
                double scale = scales[ti][k];
                int64_t N = 2, C = 7, S = 33, n_el = N * C * S;
                ctensor x = c_new(t, layout, N, C, S), y = c_new(t, layout, N, C, S);
                ctensor dy = c_new(t, layout, N, C, S), dx = c_new(t, layout, N, C, S);
                c_fill(&x, 0.0, scale), c_fill(&dy, 0.0, 1.0);
                double eps = k ? 0.0 : 1e-12, *ones = xmalloc((size_t)C * 8), *zeros = calloc((size_t)C, 8);
                double *ry = xmalloc((size_t)n_el * 8), *rdx = xmalloc((size_t)n_el * 8), rdg[7], rdb[7];
                for (int64_t c = 0; c < C; c++) ones[c] = 1.0;
                CHECK_OK(norma_channel_rms_norm_fwd(t, layout, N, C, S, x.t.p, NULL, NULL, eps, y.t.p));
                CHECK_OK(norma_channel_rms_norm_bwd(t, layout, N, C, S, dy.t.p, x.t.p, NULL, eps, dx.t.p, NULL, NULL));
                c_sync(&y), c_sync(&dx);
                oracle_channel_rms(N, C, S, x.v, dy.v, ones, zeros, eps, 0, ry, rdx, rdg, rdb);
                double terms = 0.0; /* r·|dy|, r = sqrt(C)/‖x‖ of the position */
                for (int64_t n = 0; n < N; n++)
                    for (int64_t s = 0; s < S; s++) {
                        long double q = 0.0L;
                        for (int64_t c = 0; c < C; c++) q += (long double)x.v[(n * C + c) * S + s] * x.v[(n * C + c) * S + s];
                        for (int64_t c = 0; c < C; c++)
                            terms = fmax(terms, (double)(sqrtl((long double)C / q)) * fabs(dy.v[(n * C + c) * S + s]));
                    }
                if (rstd_overflows_float(t, scale, eps)) excuse_nonfinite(y.v, ry, n_el), excuse_nonfinite(dx.v, rdx, n_el);
                double e = worst_error(y.v, ry, n_el, t, 1e-4), ed = worst_error_scaled(dx.v, rdx, n_el, t, 1e-4, terms);
                CHECK(e <= 1.0 && ed <= 1.0, "channel_rms %s %s |x| ~ %g: errors y %.3g dx %.3g", dtype_name(t),
                      layout_name(layout), scale, e, ed);
                free(ones), free(zeros), free(ry), free(rdx);
                c_free(&x), c_free(&y), c_free(&dy), c_free(&dx);
            }
    for (int layout = 0; layout < 2; layout++) {
        int64_t N = 2, C = 3, Sc = 40, Ss = 25;
        ctensor ct = c_new(NORMA_F32, layout, N, C, Sc), st = c_new(NORMA_F32, layout, N, C, Ss);
        ctensor y = c_new(NORMA_F32, layout, N, C, Sc);
        c_fill(&ct, 1e5, 1e-2), c_fill(&st, -1e3, 10.0);
        float cm[6], sm[6];
        CHECK_OK(norma_adain_fwd(NORMA_F32, layout, N, C, Sc, Ss, ct.t.p, st.t.p, NORMA_VAR_UNBIASED, 1e-5, y.t.p, cm, sm));
        c_sync(&y);
        double ry[240];
        oracle_adain(N, C, Sc, Ss, ct.v, st.v, 1, 1e-5, ry);
        double e = worst_error(y.v, ry, N * C * Sc, NORMA_F32, 1e-4);
        CHECK(e <= 1.0, "adain %s content mean 1e5, spread 1e-2: error %.3g", layout_name(layout), e);
        c_free(&ct), c_free(&st), c_free(&y);
    }
}

/* Degenerate sets: single-element groups, constant channels and groups with eps 0 and > 0, Inf data. */
static void test_degenerate_sets(void) {
    for (int layout = 0; layout < 2; layout++) {
        /* GroupNorm with one element per group (groups = C, one position): x - mean = 0, so y = bias when
         * eps > 0, and NaN (0·inf) when eps = 0, as PyTorch */
        float x[6] = {1, 2, 3, 4, 5, 6}, y[6], b[3] = {0.5f, -1, 2}, w[3] = {2, 2, 2};
        CHECK_OK(norma_group_norm_fwd(NORMA_F32, layout, 2, 3, 1, 3, x, w, b, 1e-5, y, NULL, NULL));
        CHECK(y[0] == 0.5f && y[4] == -1 && y[5] == 2, "%s GroupNorm of one-element groups: y = bias", layout_name(layout));
        CHECK_OK(norma_group_norm_fwd(NORMA_F32, layout, 2, 3, 1, 3, x, w, b, 0.0, y, NULL, NULL));
        CHECK(isnan(y[0]) && isnan(y[5]), "%s GroupNorm of one-element groups, eps 0: NaN (PyTorch)", layout_name(layout));
        /* constant groups and instances */
        float k[2 * 2 * 4];
        for (int i = 0; i < 16; i++) k[i] = 3.0f;
        float yk[16], w2[2] = {1, 1}, b2[2] = {0.25f, 0.75f};
        CHECK_OK(norma_group_norm_fwd(NORMA_F32, layout, 2, 2, 4, 1, k, w2, b2, 1e-5, yk, NULL, NULL));
        CHECK(yk[0] == (layout ? 0.25f : 0.25f) && (yk[15] == 0.75f), "%s GroupNorm of a constant group: y = bias",
              layout_name(layout));
        CHECK_OK(norma_instance_norm_fwd(NORMA_F32, layout, 2, 2, 4, k, w2, b2, NULL, NULL, 1, 0.1, 0.0, yk, NULL, NULL));
        CHECK(yk[0] == 0.25f && yk[15] == 0.75f, "%s InstanceNorm of a constant instance, eps 0: y = bias (InvStd 0)",
              layout_name(layout));
        /* an Inf stays in its channel: BatchNorm, and its running statistics */
        int64_t N = 2, C = 3, S = 5;
        ctensor xi = c_new(NORMA_F32, layout, N, C, S), yi = c_new(NORMA_F32, layout, N, C, S);
        c_fill(&xi, 0.0, 1.0);
        c_set(&xi, 1, 1, 2, INFINITY);
        float rm[3] = {0, 0, 0}, rv[3] = {1, 1, 1};
        CHECK_OK(norma_batch_norm_fwd(NORMA_F32, layout, N, C, S, xi.t.p, NULL, NULL, rm, rv, 1, 0.1, 1e-5, yi.t.p, NULL,
                                      NULL));
        c_sync(&yi);
        int ok = 1;
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t s = 0; s < S; s++) ok &= (c == 1) == !isfinite(yi.v[(n * C + c) * S + s]);
        CHECK(ok && isfinite(rm[0]) && isfinite(rv[2]) && !isfinite(rm[1]), "%s BatchNorm: an Inf must stay in its channel",
              layout_name(layout));
        c_free(&xi), c_free(&yi);
    }
}

/* GroupNorm with one group is LayerNorm over (C, spatial); with C groups it is InstanceNorm. The plans
 * differ (row plan vs channel engine, different blocking), so agreement is to within an ulp or two. */
static void test_invariants(void) {
    int64_t N = 3, C = 6, S = 53, n_el = N * C * S;
    for (size_t d = 0; d < 3; d++) {
        norma_dtype t = dtypes[d];
        for (int layout = 0; layout < 2; layout++) {
            ctensor x = c_new(t, layout, N, C, S), dy = c_new(t, layout, N, C, S);
            ctensor a = c_new(t, layout, N, C, S), b = c_new(t, layout, N, C, S);
            c_fill(&x, 3.0, 2.0), c_fill(&dy, 0.0, 1.0);
            float m1[18], r1[18], m2[18], r2[18];
            /* G = C against InstanceNorm, forward and backward */
            CHECK_OK(norma_group_norm_fwd(t, layout, N, C, S, C, x.t.p, NULL, NULL, 1e-5, a.t.p, m1, r1));
            CHECK_OK(norma_instance_norm_fwd(t, layout, N, C, S, x.t.p, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5, b.t.p, m2, r2));
            c_sync(&a), c_sync(&b);
            double worst = worst_error(a.v, b.v, n_el, t, rel_for(t));
            CHECK_OK(norma_group_norm_bwd(t, layout, N, C, S, C, dy.t.p, x.t.p, NULL, m1, 1e-5, a.t.p, NULL, NULL));
            CHECK_OK(norma_instance_norm_bwd(t, layout, N, C, S, dy.t.p, x.t.p, NULL, m2, NULL, NULL, 1, 1e-5, b.t.p, NULL, NULL));
            c_sync(&a), c_sync(&b);
            worst = fmax(worst, worst_error(a.v, b.v, n_el, t, rel_for(t)));
            CHECK(worst <= 2.0, "%s %s: GroupNorm(G=C) and InstanceNorm differ by %.3g", dtype_name(t), layout_name(layout), worst);
            /* G = 1 against LayerNorm over each sample's C·S elements (channels-first: contiguous rows) */
            if (layout == NORMA_CHANNELS_FIRST) {
                CHECK_OK(norma_group_norm_fwd(t, layout, N, C, S, 1, x.t.p, NULL, NULL, 1e-5, a.t.p, m1, r1));
                CHECK_OK(norma_layer_norm_fwd(t, N, C * S, x.t.p, NULL, NULL, 1e-5, b.t.p, m2, r2));
                c_sync(&a), c_sync(&b);
                worst = worst_error(a.v, b.v, n_el, t, rel_for(t));
                CHECK_OK(norma_group_norm_bwd(t, layout, N, C, S, 1, dy.t.p, x.t.p, NULL, m1, 1e-5, a.t.p, NULL, NULL));
                CHECK_OK(norma_layer_norm_bwd(t, N, C * S, dy.t.p, x.t.p, NULL, m2, 1e-5, b.t.p, NULL, NULL));
                c_sync(&a), c_sync(&b);
                worst = fmax(worst, worst_error(a.v, b.v, n_el, t, rel_for(t)));
                CHECK(worst <= 2.0, "%s: GroupNorm(G=1) and LayerNorm differ by %.3g", dtype_name(t), worst);
            }
            c_free(&x), c_free(&dy), c_free(&a), c_free(&b);
        }
    }
}

static void test_special_cases(void) {
    float x[8] = {2, 2, 2, 2, 1, 2, 3, 4}, y[8], w[2] = {3, 3}, b[2] = {0.5f, 0.25f}, rm[2] = {0, 0}, rv[2] = {1, 1};
    float sm[2], sr[2];
    /* BatchNorm, eps = 0, a constant channel: rstd 0, output = bias (PyTorch's InvStd) */
    CHECK_OK(norma_batch_norm_fwd(NORMA_F32, NORMA_CHANNELS_FIRST, 1, 2, 4, x, w, b, NULL, NULL, 1, 0.1f, 0.0f, y, sm, sr));
    CHECK(y[0] == 0.5f && y[3] == 0.5f && sr[0] == 0.0f, "BN eps=0 constant channel: y %g rstd %g", (double)y[0], (double)sr[0]);
    /* BatchNorm with one value per channel in training: PyTorch's error */
    float one[2] = {1, 2};
    CHECK(norma_batch_norm_fwd(NORMA_F32, NORMA_CHANNELS_FIRST, 1, 2, 1, one, NULL, NULL, rm, rv, 1, 0.1f, 1e-5f, y, NULL, NULL) == NORMA_EINVAL &&
              strstr(norma_last_error(), "Expected more than 1 value per channel when training"),
          "BN with one value per channel: %s", norma_last_error());
    /* ... but fine in inference */
    CHECK_OK(norma_batch_norm_fwd(NORMA_F32, NORMA_CHANNELS_FIRST, 1, 2, 1, one, NULL, NULL, rm, rv, 0, 0.1f, 1e-5f, y, NULL, NULL));
    /* InstanceNorm with one position in training */
    CHECK(norma_instance_norm_fwd(NORMA_F32, NORMA_CHANNELS_FIRST, 2, 1, 1, one, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f, y, NULL, NULL) == NORMA_EINVAL &&
              strstr(norma_last_error(), "Expected more than 1 spatial element when training"),
          "IN with one position: %s", norma_last_error());
    /* an empty batch: nothing written, running statistics untouched; backward zeroes dweight/dbias */
    float dw[2] = {7, 7}, dbias[2] = {7, 7};
    rm[0] = 0.5f;
    CHECK_OK(norma_batch_norm_fwd(NORMA_F32, NORMA_CHANNELS_LAST, 0, 2, 5, NULL, NULL, NULL, rm, rv, 1, 0.1f, 1e-5f, NULL, NULL, NULL));
    CHECK(rm[0] == 0.5f, "an empty batch must not move the running mean");
    CHECK_OK(norma_batch_norm_bwd(NORMA_F32, NORMA_CHANNELS_LAST, 3, 2, 0, NULL, NULL, NULL, sm, NULL, NULL, 1, 1e-5f, NULL, dw, dbias));
    CHECK(dw[0] == 0 && dw[1] == 0 && dbias[0] == 0, "empty BN backward: zero parameter gradients");
    /* GroupNorm with no positions: mean 0, rstd NaN (PyTorch) */
    float gm[4] = {5, 5, 5, 5}, gr[4] = {5, 5, 5, 5};
    CHECK_OK(norma_group_norm_fwd(NORMA_F32, NORMA_CHANNELS_FIRST, 2, 4, 0, 2, NULL, NULL, NULL, 1e-5f, NULL, gm, gr));
    CHECK(gm[0] == 0.0f && isnan(gr[3]), "GroupNorm on an empty tensor: mean %g rstd %g", (double)gm[0], (double)gr[3]);
    /* momentum 0 keeps, 1 replaces (unbiased variance) */
    float rm2[1] = {9}, rv2[1] = {9}, xs[4] = {1, 2, 3, 4}, ys[4];
    CHECK_OK(norma_batch_norm_fwd(NORMA_F32, NORMA_CHANNELS_FIRST, 4, 1, 1, xs, NULL, NULL, rm2, rv2, 1, 1.0f, 1e-5f, ys, NULL, NULL));
    CHECK(rm2[0] == 2.5f && fabsf(rv2[0] - 5.0f / 3.0f) < 1e-6f, "momentum 1: running %g %g", (double)rm2[0], (double)rv2[0]);
    CHECK(NORMA_CHANNEL_RMS_NORM_DEFAULT_EPS == 1e-12, "channel RMSNorm default eps");
}

/* A NaN in one channel stays in that channel (and its running statistics) for BatchNorm, in its group
 * for GroupNorm. */
static void test_nan_containment(void) {
    for (int layout = 0; layout < 2; layout++) {
        int64_t N = 2, C = 4, S = 6;
        ctensor x = c_new(NORMA_F32, layout, N, C, S), y = c_new(NORMA_F32, layout, N, C, S);
        c_fill(&x, 0.0, 1.0);
        c_set(&x, 1, 2, 3, NAN);
        float rm[4] = {0}, rv[4] = {1, 1, 1, 1};
        CHECK_OK(norma_batch_norm_fwd(NORMA_F32, layout, N, C, S, x.t.p, NULL, NULL, rm, rv, 1, 0.1f, 1e-5f, y.t.p, NULL, NULL));
        c_sync(&y);
        int ok = 1;
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t s = 0; s < S; s++) ok &= (c == 2) == (int)isnan(y.v[(n * C + c) * S + s]);
        CHECK(ok && isnan(rm[2]) && !isnan(rm[1]) && !isnan(rv[3]), "%s BatchNorm: a NaN must stay in its channel",
              layout_name(layout));
        CHECK_OK(norma_group_norm_fwd(NORMA_F32, layout, N, C, S, 2, x.t.p, NULL, NULL, 1e-5f, y.t.p, NULL, NULL));
        c_sync(&y);
        ok = 1;
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t s = 0; s < S; s++) ok &= (n == 1 && c >= 2) == (int)isnan(y.v[(n * C + c) * S + s]);
        CHECK(ok, "%s GroupNorm: a NaN must stay in its (sample, group)", layout_name(layout));
        c_free(&x), c_free(&y);
    }
}

/* In both f32 compute modes (norma_set_f32_compute): bitwise the same for every thread count. */
#define MODE_NAME(m) ((m) == NORMA_F32_COMPUTE_FLOAT ? "float" : "double")
static void test_threads(norma_f32_compute mode) {
    CHECK_OK(norma_set_f32_compute(mode));
    static const int counts[] = {1, 2, 3, 7};
    for (int layout = 0; layout < 2; layout++) {
        int64_t N = 3, C = 24, S = 4001, n_el = N * C * S;
        ctensor x = c_new(NORMA_F32, layout, N, C, S), dy = c_new(NORMA_F32, layout, N, C, S);
        c_fill(&x, 1.0, 1.0), c_fill(&dy, 0.0, 1.0);
        float *ref = xmalloc((size_t)n_el * 4 * 2), *out = xmalloc((size_t)n_el * 4 * 2);
        float sm[24], dg[24], dbb[24], dg0[24], db0[24], gm[12], gmr[12];
        for (size_t k = 0; k < 4; k++) {
            CHECK_OK(norma_set_num_threads(counts[k]));
            float *o = k ? out : ref, *g = k ? dg : dg0, *bb = k ? dbb : db0;
            CHECK_OK(norma_batch_norm_fwd(NORMA_F32, layout, N, C, S, x.t.p, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f, o, sm, NULL));
            CHECK_OK(norma_batch_norm_bwd(NORMA_F32, layout, N, C, S, dy.t.p, x.t.p, NULL, sm, NULL, NULL, 1, 1e-5f, o + n_el, g, bb));
            CHECK_OK(norma_group_norm_fwd(NORMA_F32, layout, N, C, S, 4, x.t.p, NULL, NULL, 1e-5f, o, k ? gmr : gm, NULL));
            if (k)
                CHECK(!memcmp(ref, out, (size_t)n_el * 8) && !memcmp(dg, dg0, sizeof dg) && !memcmp(dbb, db0, sizeof dbb) &&
                          !memcmp(gm, gmr, sizeof gm),
                      "%s (f32 in %s): %d threads differ from 1", layout_name(layout), MODE_NAME(mode), counts[k]);
        }
        CHECK_OK(norma_set_num_threads(2));
        free(ref), free(out);
        c_free(&x), c_free(&dy);
    }
    CHECK_OK(norma_set_f32_compute(NORMA_F32_COMPUTE_DOUBLE));
}

#define EXPECT_FAIL(status, what, call)                                                            \
    do {                                                                                           \
        for (int i_ = 0; i_ < 64; i_++) out[i_] = 123.0f;                                          \
        for (int i_ = 0; i_ < 8; i_++) st[i_] = 5.0f;                                              \
        norma_status s_ = (call);                                                                  \
        int untouched_ = 1;                                                                        \
        for (int i_ = 0; i_ < 64; i_++) untouched_ &= out[i_] == 123.0f;                           \
        for (int i_ = 0; i_ < 8; i_++) untouched_ &= st[i_] == 5.0f;                               \
        CHECK(s_ == (status), "%s: expected %s, got %s (%s)", #call, norma_status_name(status),     \
              norma_status_name(s_), norma_last_error());                                          \
        CHECK(strstr(norma_last_error(), what) != NULL, "%s: message \"%s\" should name \"%s\"",   \
              #call, norma_last_error(), what);                                                    \
        CHECK(untouched_, "%s: wrote to an output although it failed", #call);                     \
    } while (0)

static void test_errors(void) {
    float x[64] = {0}, out[64], st[8];
    for (int i = 0; i < 64; i++) x[i] = (float)(i % 7);
    const norma_layout F = NORMA_CHANNELS_FIRST;
    const int64_t huge = INT64_MAX / 4;
    EXPECT_FAIL(NORMA_EUNSUPPORTED, "layout", norma_batch_norm_fwd(NORMA_F32, (norma_layout)2, 2, 4, 8, x, x, x, st, st + 4, 1, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EUNSUPPORTED, "dtype", norma_batch_norm_fwd((norma_dtype)5, F, 2, 4, 8, x, x, x, st, st + 4, 1, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "c must be", norma_batch_norm_fwd(NORMA_F32, F, 2, 0, 8, x, x, x, st, st + 4, 1, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "n must be", norma_batch_norm_fwd(NORMA_F32, F, -2, 4, 8, x, x, x, st, st + 4, 1, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "spatial must be", norma_batch_norm_fwd(NORMA_F32, F, 2, 4, -8, x, x, x, st, st + 4, 1, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "too large", norma_batch_norm_fwd(NORMA_F32, F, huge, 4, 8, x, x, x, st, st + 4, 1, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "momentum", norma_batch_norm_fwd(NORMA_F32, F, 2, 4, 8, x, x, x, st, st + 4, 1, NAN, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "momentum", norma_batch_norm_fwd(NORMA_F32, F, 2, 4, 8, x, x, x, st, st + 4, 1, 1.5f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_batch_norm_fwd(NORMA_F32, F, 2, 4, 8, x, x, x, st, st + 4, 1, 0.1f, -1.0f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "running_mean is NULL", norma_batch_norm_fwd(NORMA_F32, F, 2, 4, 8, x, x, x, NULL, st + 4, 0, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "running_var is NULL", norma_batch_norm_fwd(NORMA_F32, F, 2, 4, 8, x, x, x, st, NULL, 1, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "x is NULL", norma_batch_norm_fwd(NORMA_F32, F, 2, 4, 8, NULL, x, x, st, st + 4, 1, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "y is NULL", norma_batch_norm_fwd(NORMA_F32, F, 2, 4, 8, x, x, x, st, st + 4, 1, 0.1f, 1e-5f, NULL, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "more than 1 value", norma_batch_norm_fwd(NORMA_F32, F, 1, 4, 1, x, x, x, st, st + 4, 1, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "save_mean is NULL", norma_batch_norm_bwd(NORMA_F32, F, 2, 4, 8, x, x, x, NULL, NULL, NULL, 1, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "running_var is NULL", norma_batch_norm_bwd(NORMA_F32, F, 2, 4, 8, x, x, x, NULL, st, NULL, 0, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "dy is NULL", norma_batch_norm_bwd(NORMA_F32, F, 2, 4, 8, NULL, x, x, st, NULL, NULL, 1, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_batch_norm_bwd(NORMA_F32, F, 2, 4, 8, x, x, x, st, NULL, NULL, 1, NAN, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "spatial element", norma_instance_norm_fwd(NORMA_F32, F, 2, 4, 1, x, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f, out, st, NULL));
    EXPECT_FAIL(NORMA_ENULL, "running_mean is NULL", norma_instance_norm_fwd(NORMA_F32, F, 2, 4, 8, x, NULL, NULL, NULL, NULL, 0, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "running_var", norma_instance_norm_fwd(NORMA_F32, F, 2, 4, 8, x, NULL, NULL, st, NULL, 1, 0.1f, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "save_mean is NULL", norma_instance_norm_bwd(NORMA_F32, F, 2, 4, 8, x, x, NULL, NULL, NULL, NULL, 1, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "divisible by num_groups", norma_group_norm_fwd(NORMA_F32, F, 2, 6, 3, 4, x, NULL, NULL, 1e-5f, out, st, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "greater than 0", norma_group_norm_fwd(NORMA_F32, F, 2, 6, 3, 0, x, NULL, NULL, 1e-5f, out, st, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "divisible by num_groups", norma_group_norm_bwd(NORMA_F32, F, 2, 6, 3, 5, x, x, NULL, st, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "mean is NULL", norma_group_norm_bwd(NORMA_F32, F, 2, 6, 3, 3, x, x, NULL, NULL, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "divisible by num_groups", norma_group_norm_silu_fwd(NORMA_F32, F, 2, 6, 3, 4, x, NULL, NULL, 1e-5f, out, st, NULL));
    EXPECT_FAIL(NORMA_ENULL, "y is NULL", norma_group_norm_silu_fwd(NORMA_F32, F, 2, 6, 3, 3, x, NULL, NULL, 1e-5f, NULL, st, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_group_norm_silu_fwd(NORMA_F32, F, 2, 6, 3, 3, x, NULL, NULL, -1.0, out, st, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "greater than 0", norma_group_norm_silu_bwd(NORMA_F32, F, 2, 6, 3, 0, x, x, NULL, NULL, st, st, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "mean is NULL", norma_group_norm_silu_bwd(NORMA_F32, F, 2, 6, 3, 3, x, x, NULL, NULL, NULL, st, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "rstd is NULL", norma_group_norm_silu_bwd(NORMA_F32, F, 2, 6, 3, 3, x, x, NULL, NULL, st, NULL, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_ENULL, "dy is NULL", norma_group_norm_silu_bwd(NORMA_F32, F, 2, 6, 3, 3, NULL, x, NULL, NULL, st, st, 1e-5f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "mod_sample_stride", norma_ada_group_norm_fwd(NORMA_F32, F, 2, 6, 3, 3, x, x, x, -6, 1e-5f, out, st, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "overlap", norma_ada_group_norm_bwd(NORMA_F32, F, 2, 6, 3, 3, x, x, x, 3, st, 1e-5f, out, out + 40, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "content_spatial", norma_adain_fwd(NORMA_F32, F, 2, 2, 0, 4, x, x, NORMA_VAR_UNBIASED, 1e-5f, out, st, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "style_spatial", norma_adain_fwd(NORMA_F32, F, 2, 2, 4, 0, x, x, NORMA_VAR_UNBIASED, 1e-5f, out, st, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "variance", norma_adain_fwd(NORMA_F32, F, 2, 2, 4, 4, x, x, (norma_variance)3, 1e-5f, out, st, NULL));
    EXPECT_FAIL(NORMA_ENULL, "style is NULL", norma_adain_fwd(NORMA_F32, F, 2, 2, 4, 4, x, NULL, NORMA_VAR_UNBIASED, 1e-5f, out, st, NULL));
    EXPECT_FAIL(NORMA_ENULL, "content_mean is NULL", norma_adain_bwd(NORMA_F32, F, 2, 2, 4, 4, x, x, x, NORMA_VAR_BIASED, NULL, 1e-5f, out, NULL));
    EXPECT_FAIL(NORMA_EUNSUPPORTED, "layout", norma_channel_rms_norm_fwd(NORMA_F32, (norma_layout)-1, 2, 4, 8, x, NULL, NULL, 1e-12f, out));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_channel_rms_norm_fwd(NORMA_F32, F, 2, 4, 8, x, NULL, NULL, -1e-12f, out));
    EXPECT_FAIL(NORMA_ENULL, "x is NULL", norma_channel_rms_norm_bwd(NORMA_F32, F, 2, 4, 8, x, NULL, NULL, 1e-12f, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_channel_rms_norm_silu_fwd(NORMA_F32, F, 2, 4, 8, x, NULL, NULL, NAN, out));
    EXPECT_FAIL(NORMA_ENULL, "y is NULL", norma_channel_rms_norm_silu_fwd(NORMA_F32, F, 2, 4, 8, x, NULL, NULL, 1e-12, NULL));
    EXPECT_FAIL(NORMA_ENULL, "dy is NULL", norma_channel_rms_norm_silu_bwd(NORMA_F32, F, 2, 4, 8, NULL, x, NULL, NULL, 1e-12, out, NULL, NULL));
    EXPECT_FAIL(NORMA_EINVAL, "c must be", norma_channel_rms_norm_silu_bwd(NORMA_F32, F, 2, 0, 8, x, x, NULL, NULL, 1e-12, out, NULL, NULL));
}

int main(void) {
    if (forced_kernels_unavailable()) return 77;
    rng_seed(777);
    printf("kernels: %s\n", norma_kernels());
    test_errors();
    test_set_finite_differences();
    test_silu_oracle();
    test_set_norms();
    test_set_norms_large();
    test_adain();
    test_channel_rms();
    test_crms_silu_aliasing();
    test_set_by_set_equals_steps();
    test_layouts_agree();
    test_outlier_first_row();
    test_silu_range();
    test_silu_aliasing();
    test_silu_kept_dz();
    test_shared_sets();
    test_invariants();
    test_extreme_channel_rms_adain();
    test_degenerate_sets();
    test_special_cases();
    test_nan_containment();
    test_threads(NORMA_F32_COMPUTE_DOUBLE);
    test_threads(NORMA_F32_COMPUTE_FLOAT);
    return check_summary("test_channel_norm");
}
