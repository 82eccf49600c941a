/* test_reparam.c: spectral normalization, L2 normalization and weight normalization against long
 * double oracles written from PyTorch's definitions (the oracles' gradients checked by finite
 * differences), a matrix of known singular values, thread-count invariance, aliasing, special
 * values and every error path. */
#include "oracle.h"

static const norma_dtype dtypes[] = {NORMA_F32, NORMA_BF16, NORMA_F16};
static const char *dtype_name(norma_dtype t) { return t == NORMA_F32 ? "f32" : t == NORMA_BF16 ? "bf16" : "f16"; }

/* Worst |got - ref| in units of (ulp(ref) + rel·scale). */
static double worst_error(const double *got, const double *ref, int64_t n, norma_dtype t, double rel, double scale) {
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]) / (ulp_of(t, ref[i]) + rel * scale + 1e-300);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

static void to_double(const float *f, int64_t n, double *d) {
    for (int64_t i = 0; i < n; i++) d[i] = f[i];
}

/* ----- the shapes -------------------------------------------------------------------------------- */

typedef struct {
    int64_t outer, rows, inner;
} wshape;

static int64_t numel(wshape s) { return s.outer * s.rows * s.inner; }
static int64_t cols_of(wshape s) { return s.outer * s.inner; }
/* W[r, c] with c = o·inner + i is weight[o, r, i]: the element's index in memory. */
static int64_t w_index(wshape s, int64_t r, int64_t c) { return ((c / s.inner) * s.rows + r) * s.inner + c % s.inner; }

/* The run layout, the column layout (inner 1), batches of blocks, one row, one column, odd sizes. */
static const wshape shapes[] = {
    {1, 7, 5}, {1, 5, 7}, {3, 4, 9}, {6, 5, 1}, {1, 33, 1}, {4, 1, 6}, {1, 1, 17}, {1, 1, 1},
    {2, 3, 16}, {5, 17, 3}, {9, 31, 1}, {1, 70, 600}, {40, 600, 1}, {2, 300, 257},
};

/* ----- spectral normalization: oracle ------------------------------------------------------------ */

/* x = float(x / max(‖x‖, eps)); returns Σ x_before·x_after. */
static long double normalize_ld(int64_t n, long double *x, double eps, float *out) {
    long double ss = 0.0L, dot = 0.0L;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    long double norm = sqrtl(ss), d = norm < eps ? eps : norm;
    for (int64_t i = 0; i < n; i++) {
        out[i] = (float)(x[i] / d);
        dot += x[i] * out[i];
        x[i] = out[i];
    }
    return dot;
}

/* PyTorch's parametrization, u and v kept as floats between products: steps of u = normalize(W v),
 * v = normalize(Wᵀ u), then σ = uᵀWv. Returns σ; u and v updated. */
static long double oracle_power(wshape s, const double *w, int64_t steps, double eps, float *u, float *v) {
    int64_t R = s.rows, C = cols_of(s);
    long double *ul = xmalloc((size_t)R * sizeof(long double)), *vl = xmalloc((size_t)C * sizeof(long double));
    for (int64_t c = 0; c < C; c++) vl[c] = v[c];
    for (int64_t r = 0; r < R; r++) ul[r] = u[r];
    long double sigma = 0.0L;
    for (int64_t k = 0; k < steps; k++) {
        for (int64_t r = 0; r < R; r++) {
            ul[r] = 0.0L;
            for (int64_t c = 0; c < C; c++) ul[r] += (long double)w[w_index(s, r, c)] * vl[c];
        }
        normalize_ld(R, ul, eps, u);
        for (int64_t c = 0; c < C; c++) {
            vl[c] = 0.0L;
            for (int64_t r = 0; r < R; r++) vl[c] += (long double)w[w_index(s, r, c)] * ul[r];
        }
        normalize_ld(C, vl, eps, v);
    }
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) sigma += (long double)u[r] * w[w_index(s, r, c)] * v[c];
    free(ul), free(vl);
    return sigma;
}

/* dW = G/σ - (⟨G, W⟩/σ²)·u vᵀ, with the terms' scale for the tolerance. */
static double oracle_spectral_bwd(wshape s, const double *g, const double *w, const float *u, const float *v,
                                  double sigma, double *dw) {
    long double gw = 0.0L, scale = 0.0L;
    for (int64_t i = 0; i < numel(s); i++) gw += (long double)g[i] * w[i];
    for (int64_t r = 0; r < s.rows; r++)
        for (int64_t c = 0; c < cols_of(s); c++) {
            int64_t i = w_index(s, r, c);
            long double a = g[i] / (long double)sigma, b = gw / ((long double)sigma * sigma) * u[r] * v[c];
            dw[i] = (double)(a - b);
            scale = fmaxl(scale, fabsl(a) + fabsl(b));
        }
    return (double)scale;
}

/* Finite differences of L = Σ G·W/(uᵀWv) (u, v constant) agree with the oracle's backward. */
static void test_spectral_oracle_gradient(void) {
    wshape s = {2, 3, 4};
    int64_t n = numel(s);
    double w[24], g[24], dw[24];
    float u[3], v[8];
    for (int i = 0; i < n; i++) w[i] = rng_normal(), g[i] = rng_normal();
    for (int i = 0; i < 3; i++) u[i] = (float)rng_normal();
    for (int i = 0; i < 8; i++) v[i] = (float)rng_normal();
    float u1[3], v1[8];
    memcpy(u1, u, sizeof u), memcpy(v1, v, sizeof v);
    double sigma = (double)oracle_power(s, w, 0, 1e-12, u1, v1);
    oracle_spectral_bwd(s, g, w, u, v, sigma, dw);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double keep = w[i], h = 1e-6, l[2];
        for (int side = 0; side < 2; side++) {
            w[i] = keep + (side ? -h : h);
            double sg = (double)oracle_power(s, w, 0, 1e-12, u1, v1), sum = 0.0;
            for (int64_t j = 0; j < n; j++) sum += g[j] * w[j] / sg;
            l[side] = sum;
        }
        w[i] = keep;
        worst = fmax(worst, fabs((l[0] - l[1]) / (2 * h) - dw[i]));
    }
    CHECK(worst < 1e-6, "the spectral-norm oracle's backward disagrees with finite differences by %.3g", worst);
}

/* ----- spectral normalization: the library ------------------------------------------------------- */

static void random_unit(int64_t n, float *x) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) x[i] = (float)rng_normal(), ss += (double)x[i] * x[i];
    for (int64_t i = 0; i < n; i++) x[i] = (float)(x[i] / sqrt(ss));
}

static void check_spectral_case(norma_dtype t, wshape s, int64_t steps) {
    int64_t n = numel(s), R = s.rows, C = cols_of(s);
    const double eps = 1e-12;
    tensor w = t_new(t, n), y = t_new(t, n), g = t_new(t, n), dw = t_new(t, n);
    t_fill_normal(&w, 0.1, 1.0), t_fill_normal(&g, 0.0, 1.0);
    float *u = xmalloc((size_t)R * 4), *v = xmalloc((size_t)C * 4), *ur = xmalloc((size_t)R * 4),
          *vr = xmalloc((size_t)C * 4);
    random_unit(R, u), random_unit(C, v);
    memcpy(ur, u, (size_t)R * 4), memcpy(vr, v, (size_t)C * 4);
    double sigma = 0.0;
    CHECK_OK(norma_spectral_norm_fwd(t, s.outer, s.rows, s.inner, w.p, u, v, steps, eps, y.p, &sigma));
    CHECK_OK(norma_spectral_norm_bwd(t, s.outer, s.rows, s.inner, g.p, w.p, u, v, sigma, dw.p));
    t_sync(&y), t_sync(&dw);
    double sigma_ref = (double)oracle_power(s, w.v, steps, eps, ur, vr);

    double *ud = xmalloc((size_t)R * 8), *vd = xmalloc((size_t)C * 8), *urd = xmalloc((size_t)R * 8),
           *vrd = xmalloc((size_t)C * 8), *yref = xmalloc((size_t)n * 8), *dref = xmalloc((size_t)n * 8);
    to_double(u, R, ud), to_double(v, C, vd), to_double(ur, R, urd), to_double(vr, C, vrd);
    for (int64_t i = 0; i < n; i++) yref[i] = w.v[i] / sigma_ref;
    double dscale = oracle_spectral_bwd(s, g.v, w.v, u, v, sigma, dref);
    double e_u = worst_error(ud, urd, R, NORMA_F32, 1e-9, 1.0), e_v = worst_error(vd, vrd, C, NORMA_F32, 1e-9, 1.0);
    double e_s = fabs(sigma - sigma_ref) / (1e-12 * fabs(sigma_ref) + 1e-300);
    double e_y = worst_error(y.v, yref, n, t, in_float(t) ? 1e-6 : 1e-9, max_abs(yref, n));
    double e_d = worst_error(dw.v, dref, n, t, rel_for(t), dscale);
    CHECK(e_u <= 1.0 && e_v <= 1.0 && e_s <= 1.0 && e_y <= 1.0 && e_d <= 1.0,
          "spectral_norm %s (%lld, %lld, %lld) steps %lld: u %.3g, v %.3g, sigma %.3g, y %.3g, dweight %.3g", dtype_name(t),
          (long long)s.outer, (long long)s.rows, (long long)s.inner, (long long)steps, e_u, e_v, e_s, e_y, e_d);
    free(u), free(v), free(ur), free(vr), free(ud), free(vd), free(urd), free(vrd), free(yref), free(dref);
    t_free(&w), t_free(&y), t_free(&g), t_free(&dw);
}

static void test_spectral(void) {
    static const int64_t steps[] = {0, 1, 3};
    for (size_t d = 0; d < 3; d++)
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            for (size_t i = 0; i < 3; i++) {
                if (numel(shapes[k]) > 20000 && (d > 0 || i != 1)) continue; /* the oracle is slow */
                check_spectral_case(dtypes[d], shapes[k], steps[i]);
            }
}

/* W = H1·diag(s)·H2 with Householder reflections H = I - 2hhᵀ: singular values known exactly. */
static void test_spectral_known_sigma(void) {
    enum { R = 40, C = 24 };
    static const double sv[] = {5.0, 3.0, 2.0, 1.0, 0.5};
    double h1[R], h2[C], n1 = 0, n2 = 0, m[R * C] = {0};
    for (int i = 0; i < R; i++) h1[i] = rng_normal(), n1 += h1[i] * h1[i];
    for (int j = 0; j < C; j++) h2[j] = rng_normal(), n2 += h2[j] * h2[j];
    for (int i = 0; i < R; i++) h1[i] /= sqrt(n1);
    for (int j = 0; j < C; j++) h2[j] /= sqrt(n2);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            double acc = 0.0;
            for (int k = 0; k < 5; k++) acc += ((i == k) - 2 * h1[i] * h1[k]) * sv[k] * ((k == j) - 2 * h2[k] * h2[j]);
            m[i * C + j] = acc;
        }
    for (int transposed = 0; transposed < 2; transposed++) {
        /* as (1, R, C) and as the column layout (C, R, 1): the same matrix W */
        wshape s = transposed ? (wshape){C, R, 1} : (wshape){1, R, C};
        float w[R * C], u[R], v[C], y[R * C];
        double sigma;
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) w[w_index(s, i, j)] = (float)m[i * C + j];
        CHECK_OK(norma_spectral_norm_init(NORMA_F32, s.outer, s.rows, s.inner, w, 42, 1e-12, u, v));
        CHECK_OK(norma_spectral_norm_fwd(NORMA_F32, s.outer, s.rows, s.inner, w, u, v, 60, 1e-12, y, &sigma));
        CHECK(fabs(sigma - 5.0) < 2e-6, "power iteration (%s) converged to %.9g, not 5", transposed ? "columns" : "runs",
              sigma);
    }
}

static void test_spectral_init(void) {
    wshape s = {3, 20, 7};
    int64_t n = numel(s), C = cols_of(s);
    float *w = xmalloc((size_t)n * 4), u1[20], u2[20], u3[20], v1[21], v2[21], v3[21];
    for (int64_t i = 0; i < n; i++) w[i] = (float)rng_normal();
    CHECK_OK(norma_spectral_norm_init(NORMA_F32, s.outer, s.rows, s.inner, w, 7, 1e-12, u1, v1));
    CHECK_OK(norma_spectral_norm_init(NORMA_F32, s.outer, s.rows, s.inner, w, 7, 1e-12, u2, v2));
    CHECK_OK(norma_spectral_norm_init(NORMA_F32, s.outer, s.rows, s.inner, w, 8, 1e-12, u3, v3));
    CHECK(!memcmp(u1, u2, sizeof u1) && !memcmp(v1, v2, sizeof v1), "init is not a function of the seed");
    CHECK(memcmp(u1, u3, sizeof u1) != 0, "init ignores the seed");
    double nu = 0, nv = 0;
    for (int i = 0; i < 20; i++) nu += (double)u1[i] * u1[i];
    for (int64_t i = 0; i < C; i++) nv += (double)v1[i] * v1[i];
    CHECK(fabs(nu - 1) < 1e-6 && fabs(nv - 1) < 1e-6, "init: |u|^2 = %.9g, |v|^2 = %.9g", nu, nv);
    /* zero power iterations leave the state alone */
    float u4[20], v4[21];
    memcpy(u4, u1, sizeof u4), memcpy(v4, v1, sizeof v4);
    CHECK_OK(norma_spectral_norm_power_iteration(NORMA_F32, s.outer, s.rows, s.inner, w, 0, 1e-12, u4, v4));
    CHECK(!memcmp(u4, u1, sizeof u4) && !memcmp(v4, v1, sizeof v4), "0 power iterations changed u or v");
    free(w);
}

static void test_spectral_special(void) {
    /* n_power_iterations = 0 (inference): u and v untouched, sigma = uᵀWv */
    float w[6] = {1, 2, 3, 4, 5, 6}, u[2] = {0.6f, 0.8f}, v[3] = {1, 0, 0}, y[6];
    double sigma;
    CHECK_OK(norma_spectral_norm_fwd(NORMA_F32, 1, 2, 3, w, u, v, 0, 1e-12, y, &sigma));
    CHECK(u[0] == 0.6f && u[1] == 0.8f && v[0] == 1 && v[1] == 0 && v[2] == 0, "inference changed u or v");
    CHECK(fabs(sigma - (0.6 * 1 + 0.8 * 4)) < 1e-6, "inference sigma %.9g, expected 3.8", sigma);
    CHECK(fabs(y[5] - 6 / 3.8) < 1e-6, "y[5] = %.9g", y[5]);
    /* in place: y aliases weight, dweight aliases dy */
    float w2[6], dy[6] = {1, -1, 2, 0.5f, 0, 3}, dy2[6], dw[6];
    memcpy(w2, w, sizeof w), memcpy(dy2, dy, sizeof dy);
    CHECK_OK(norma_spectral_norm_fwd(NORMA_F32, 1, 2, 3, w2, u, v, 0, 1e-12, w2, &sigma));
    CHECK(!memcmp(w2, y, sizeof y), "spectral_norm_fwd in place differs");
    CHECK_OK(norma_spectral_norm_bwd(NORMA_F32, 1, 2, 3, dy, w, u, v, sigma, dw));
    CHECK_OK(norma_spectral_norm_bwd(NORMA_F32, 1, 2, 3, dy2, w, u, v, sigma, dy2));
    CHECK(!memcmp(dw, dy2, sizeof dw), "spectral_norm_bwd in place differs");
    /* a zero weight: u = v = 0 (the eps clamp), sigma 0, y NaN, as PyTorch */
    float z[6] = {0}, uz[2] = {0.6f, 0.8f}, vz[3] = {1, 0, 0};
    CHECK_OK(norma_spectral_norm_fwd(NORMA_F32, 1, 2, 3, z, uz, vz, 1, 1e-12, y, &sigma));
    CHECK(sigma == 0 && isnan(y[0]) && uz[0] == 0 && vz[0] == 0, "zero weight: sigma %g, y %g", sigma, y[0]);
    /* NULL dweight: nothing to do */
    CHECK_OK(norma_spectral_norm_bwd(NORMA_F32, 1, 2, 3, dy, w, u, v, sigma, NULL));
}

/* ----- L2 normalization ------------------------------------------------------------------------ */

static void oracle_l2(int64_t n, const double *x, const double *dy, double eps, double *y, double *dx) {
    long double ss = 0.0L, gx = 0.0L;
    for (int64_t i = 0; i < n; i++) ss += (long double)x[i] * x[i], gx += (long double)dy[i] * x[i];
    long double nu = sqrtl(ss), d = nu < eps ? eps : nu;
    for (int64_t i = 0; i < n; i++) {
        y[i] = (double)(x[i] / d);
        dx[i] = (double)(nu < eps ? dy[i] / d : (dy[i] - x[i] * gx / (nu * nu)) / nu);
    }
}

static void test_l2_normalize(void) {
    /* the oracle against finite differences */
    double x[9], dy[9], y[9], dx[9], yp[9], dxp[9];
    for (int i = 0; i < 9; i++) x[i] = rng_normal(), dy[i] = rng_normal();
    oracle_l2(9, x, dy, 1e-12, y, dx);
    double worst = 0.0;
    for (int i = 0; i < 9; i++) {
        double keep = x[i], h = 1e-6, l[2];
        for (int side = 0; side < 2; side++) {
            x[i] = keep + (side ? -h : h);
            oracle_l2(9, x, dy, 1e-12, yp, dxp);
            l[side] = 0;
            for (int j = 0; j < 9; j++) l[side] += dy[j] * yp[j];
        }
        x[i] = keep;
        worst = fmax(worst, fabs((l[0] - l[1]) / (2 * h) - dx[i]));
    }
    CHECK(worst < 1e-6, "the L2 oracle's backward disagrees with finite differences by %.3g", worst);
    /* the library, every tail length, each dtype; rows scaled so that one falls under eps */
    for (size_t d = 0; d < 3; d++)
        for (int64_t cols = 1; cols <= 40; cols++) {
            norma_dtype t = dtypes[d];
            int64_t rows = 3, n = rows * cols;
            tensor xt = t_new(t, n), gt = t_new(t, n), yt = t_new(t, n), dt = t_new(t, n);
            for (int64_t i = 0; i < n; i++) t_set(&xt, i, rng_normal() * (i < cols ? 1e-4 : 1.0));
            t_fill_normal(&gt, 0.0, 1.0);
            double eps = t == NORMA_F32 ? 1e-3 : 0.1; /* row 0 below the clamp for most lengths */
            CHECK_OK(norma_l2_normalize_fwd(t, rows, cols, xt.p, eps, yt.p));
            CHECK_OK(norma_l2_normalize_bwd(t, rows, cols, gt.p, xt.p, eps, dt.p));
            t_sync(&yt), t_sync(&dt);
            double *yr = xmalloc((size_t)n * 8), *dr = xmalloc((size_t)n * 8);
            for (int64_t r = 0; r < rows; r++) oracle_l2(cols, xt.v + r * cols, gt.v + r * cols, eps, yr + r * cols, dr + r * cols);
            double ey = worst_error(yt.v, yr, n, t, rel_for(t), 1.0), ed = worst_error(dt.v, dr, n, t, rel_for(t), max_abs(dr, n));
            CHECK(ey <= 1.0 && ed <= 1.0, "l2_normalize %s cols %lld: y %.3g, dx %.3g", dtype_name(t), (long long)cols, ey, ed);
            free(yr), free(dr);
            t_free(&xt), t_free(&gt), t_free(&yt), t_free(&dt);
        }
    CHECK_OK(norma_l2_normalize_fwd(NORMA_F32, 0, 5, NULL, 1e-12, NULL));
    CHECK_OK(norma_l2_normalize_bwd(NORMA_F32, 0, 5, NULL, NULL, 1e-12, NULL));
}

/* ----- weight normalization ------------------------------------------------------------------- */

static int64_t slice_of(wshape s, int64_t i) { return (i / s.inner) % s.rows; }

/* Returns the scale of dv's terms, for the tolerance (dv cancels to 0 for one-element slices). */
static double oracle_weight_norm(wshape s, const double *v, const double *g, const double *dw, double *w, double *dv,
                                 double *dg) {
    int64_t n = numel(s);
    long double *ss = calloc((size_t)s.rows, sizeof(long double)), *sd = calloc((size_t)s.rows, sizeof(long double));
    for (int64_t i = 0; i < n; i++) ss[slice_of(s, i)] += (long double)v[i] * v[i], sd[slice_of(s, i)] += (long double)dw[i] * v[i];
    for (int64_t r = 0; r < s.rows; r++) dg[r] = (double)(sd[r] / sqrtl(ss[r]));
    long double scale = 0.0L;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = slice_of(s, i);
        long double nu = sqrtl(ss[r]), a = g[r] / nu * dw[i], b = g[r] / nu * (sd[r] / nu) * v[i] / nu;
        w[i] = (double)(v[i] * (g[r] / nu));
        dv[i] = (double)(a - b);
        scale = fmaxl(scale, fabsl(a) + fabsl(b));
    }
    free(ss), free(sd);
    return (double)scale;
}

static void test_weight_norm_oracle_gradient(void) {
    wshape s = {2, 3, 2};
    double v[12], g[3], dw[12], w[12], dv[12], dg[3], wp[12], dvp[12], dgp[3];
    for (int i = 0; i < 12; i++) v[i] = rng_normal(), dw[i] = rng_normal();
    for (int i = 0; i < 3; i++) g[i] = rng_normal();
    oracle_weight_norm(s, v, g, dw, w, dv, dg);
    double worst = 0.0;
    for (int k = 0; k < 15; k++) {
        double *p = k < 12 ? v + k : g + (k - 12), keep = *p, h = 1e-6, l[2];
        for (int side = 0; side < 2; side++) {
            *p = keep + (side ? -h : h);
            oracle_weight_norm(s, v, g, dw, wp, dvp, dgp);
            l[side] = 0;
            for (int j = 0; j < 12; j++) l[side] += dw[j] * wp[j];
        }
        *p = keep;
        worst = fmax(worst, fabs((l[0] - l[1]) / (2 * h) - (k < 12 ? dv[k] : dg[k - 12])));
    }
    CHECK(worst < 1e-6, "the weight-norm oracle's backward disagrees with finite differences by %.3g", worst);
}

static void check_weight_norm_case(norma_dtype t, wshape s) {
    int64_t n = numel(s), R = s.rows;
    tensor v = t_new(t, n), g = t_new(t, R), dw = t_new(t, n), w = t_new(t, n), dv = t_new(t, n);
    t_fill_normal(&v, 0.2, 1.0), t_fill_normal(&g, 1.0, 0.5), t_fill_normal(&dw, 0.0, 1.0);
    float *dg = xmalloc((size_t)R * 4);
    CHECK_OK(norma_weight_norm_fwd(t, s.outer, s.rows, s.inner, v.p, g.p, w.p));
    CHECK_OK(norma_weight_norm_bwd(t, s.outer, s.rows, s.inner, dw.p, v.p, g.p, dv.p, dg));
    t_sync(&w), t_sync(&dv);
    double *wr = xmalloc((size_t)n * 8), *dvr = xmalloc((size_t)n * 8), *dgr = xmalloc((size_t)R * 8),
           *dgd = xmalloc((size_t)R * 8);
    double dv_scale = oracle_weight_norm(s, v.v, g.v, dw.v, wr, dvr, dgr);
    to_double(dg, R, dgd);
    double ew = worst_error(w.v, wr, n, t, rel_for(t), max_abs(wr, n));
    double ev = worst_error(dv.v, dvr, n, t, rel_for(t), dv_scale);
    double eg = worst_error(dgd, dgr, R, NORMA_F32, rel_for(t), max_abs(dgr, R));
    CHECK(ew <= 1.0 && ev <= 1.0 && eg <= 1.0, "weight_norm %s (%lld, %lld, %lld): w %.3g, dv %.3g, dg %.3g",
          dtype_name(t), (long long)s.outer, (long long)s.rows, (long long)s.inner, ew, ev, eg);
    /* in place (w = v, dv = dw), and each gradient alone */
    tensor v2 = t_copy(&v), dw2 = t_copy(&dw), dv3 = t_new(t, n);
    float *dg2 = xmalloc((size_t)R * 4);
    CHECK_OK(norma_weight_norm_fwd(t, s.outer, s.rows, s.inner, v2.p, g.p, v2.p));
    CHECK_OK(norma_weight_norm_bwd(t, s.outer, s.rows, s.inner, dw2.p, v.p, g.p, dw2.p, NULL));
    CHECK_OK(norma_weight_norm_bwd(t, s.outer, s.rows, s.inner, dw.p, v.p, g.p, NULL, dg2));
    CHECK_OK(norma_weight_norm_bwd(t, s.outer, s.rows, s.inner, dw.p, v.p, g.p, dv3.p, NULL));
    size_t bytes = (size_t)n * norma_dtype_size(t);
    CHECK(!memcmp(v2.p, w.p, bytes) && !memcmp(dw2.p, dv.p, bytes) && !memcmp(dv3.p, dv.p, bytes) &&
              !memcmp(dg2, dg, (size_t)R * 4),
          "weight_norm %s: in-place or partial results differ", dtype_name(t));
    free(dg), free(dg2), free(wr), free(dvr), free(dgr), free(dgd);
    t_free(&v), t_free(&g), t_free(&dw), t_free(&w), t_free(&dv), t_free(&v2), t_free(&dw2), t_free(&dv3);
}

static void test_weight_norm(void) {
    for (size_t d = 0; d < 3; d++)
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) check_weight_norm_case(dtypes[d], shapes[k]);
    /* an all-zero slice gives NaN there (0/0, as PyTorch) and nowhere else */
    for (int inner = 1; inner <= 3; inner += 2) {
        wshape s = {2, 3, inner};
        float v[18], g[3] = {1, 2, 3}, w[18];
        for (int i = 0; i < 18; i++) v[i] = slice_of(s, i) == 1 ? 0.0f : (float)rng_normal();
        CHECK_OK(norma_weight_norm_fwd(NORMA_F32, s.outer, s.rows, s.inner, v, g, w));
        int ok = 1;
        for (int i = 0; i < numel(s); i++) ok &= slice_of(s, i) == 1 ? isnan(w[i]) : isfinite(w[i]);
        CHECK(ok, "weight_norm (inner %d): a zero slice must give NaN in that slice only", inner);
    }
}

/* Past NORMA_STREAM_BYTES (16 MiB) the plan changes (outputs stored past the caches, each task's next
 * slice fetched during a slice's second pass): it must give the bits of the same slices computed in
 * small calls, which the oracle checks above cover. Slices are independent, so the two must agree. */
static void test_weight_norm_streamed(void) {
    for (size_t d = 0; d < 3; d++) {
        norma_dtype t = dtypes[d];
        size_t es = norma_dtype_size(t);
        int64_t inner = 1024, rows = ((int64_t)16 << 20) / (inner * (int64_t)es) + 5, n = rows * inner;
        char *in = xmalloc((size_t)(2 * n + rows) * es), *out = xmalloc((size_t)n * es * 4);
        char *v = in, *dw = in + n * es, *g = in + 2 * n * es; /* out: w, dv whole, then w, dv in pieces */
        float *dg = xmalloc((size_t)rows * 8);
        for (int64_t i = 0; i < 2 * n + rows; i++) /* cheap values (valgrind runs this): 0.25 .. 2, signs mixed */
            store_elem(t, in, i, (float)((i * 2654435761u >> 7) % 8 + 1) * (i % 3 ? 0.25f : -0.25f));
        CHECK_OK(norma_weight_norm_fwd(t, 1, rows, inner, v, g, out));
        CHECK_OK(norma_weight_norm_bwd(t, 1, rows, inner, dw, v, g, out + n * es, dg));
        for (int64_t r0 = 0; r0 < rows; r0 += 64) {
            int64_t len = rows - r0 < 64 ? rows - r0 : 64;
            size_t at = (size_t)(r0 * inner) * es;
            CHECK_OK(norma_weight_norm_fwd(t, 1, len, inner, v + at, g + r0 * es, out + 2 * n * es + at));
            CHECK_OK(norma_weight_norm_bwd(t, 1, len, inner, dw + at, v + at, g + r0 * es, out + 3 * n * es + at,
                                           dg + rows + r0));
        }
        CHECK(!memcmp(out, out + 2 * n * es, (size_t)n * es * 2) && !memcmp(dg, dg + rows, (size_t)rows * 4),
              "weight_norm %s (1, %lld, %lld): the streamed plan differs from the same slices in pieces",
              dtype_name(t), (long long)rows, (long long)inner);
        free(in), free(out), free(dg);
    }
}

/* ----- threads --------------------------------------------------------------------------------- */

/* In both f32 compute modes (norma_set_f32_compute): bitwise the same for every thread count. */
#define MODE_NAME(m) ((m) == NORMA_F32_COMPUTE_FLOAT ? "float" : "double")
static void test_threads(norma_f32_compute mode) {
    CHECK_OK(norma_set_f32_compute(mode));
    static const int counts[] = {1, 2, 3, 7};
    static const wshape big[] = {{1, 300, 1000}, {700, 400, 1}, {30, 64, 33}};
    for (size_t b = 0; b < 3; b++) {
        wshape s = big[b];
        int64_t n = numel(s), R = s.rows, C = cols_of(s);
        float *w = xmalloc((size_t)n * 4), *g = xmalloc((size_t)n * 4), *out[4], *u[4], *v[4], *dg[4];
        double sigma[4];
        for (int64_t i = 0; i < n; i++) w[i] = (float)rng_normal(), g[i] = (float)rng_normal();
        for (int k = 0; k < 4; k++) {
            CHECK_OK(norma_set_num_threads(counts[k]));
            out[k] = xmalloc((size_t)n * 4 * 4), u[k] = xmalloc((size_t)R * 4), v[k] = xmalloc((size_t)C * 4);
            dg[k] = xmalloc((size_t)R * 4);
            CHECK_OK(norma_spectral_norm_init(NORMA_F32, s.outer, s.rows, s.inner, w, 1, 1e-12, u[k], v[k]));
            CHECK_OK(norma_spectral_norm_fwd(NORMA_F32, s.outer, s.rows, s.inner, w, u[k], v[k], 2, 1e-12, out[k], &sigma[k]));
            CHECK_OK(norma_spectral_norm_bwd(NORMA_F32, s.outer, s.rows, s.inner, g, w, u[k], v[k], sigma[k], out[k] + n));
            CHECK_OK(norma_weight_norm_fwd(NORMA_F32, s.outer, s.rows, s.inner, w, g, out[k] + 2 * n));
            CHECK_OK(norma_weight_norm_bwd(NORMA_F32, s.outer, s.rows, s.inner, g, w, g, out[k] + 3 * n, dg[k]));
            if (k)
                CHECK(!memcmp(out[k], out[0], (size_t)n * 16) && !memcmp(u[k], u[0], (size_t)R * 4) &&
                          !memcmp(v[k], v[0], (size_t)C * 4) && sigma[k] == sigma[0] && !memcmp(dg[k], dg[0], (size_t)R * 4),
                      "(%lld, %lld, %lld), f32 in %s: %d threads differ from 1", (long long)s.outer, (long long)s.rows,
                      (long long)s.inner, MODE_NAME(mode), counts[k]);
        }
        CHECK_OK(norma_set_num_threads(2));
        for (int k = 0; k < 4; k++) free(out[k]), free(u[k]), free(v[k]), free(dg[k]);
        free(w), free(g);
    }
    CHECK_OK(norma_set_f32_compute(NORMA_F32_COMPUTE_DOUBLE));
}

/* ----- errors ---------------------------------------------------------------------------------- */

#define EXPECT_FAIL(status, what, call)                                                            \
    do {                                                                                           \
        for (int i_ = 0; i_ < 64; i_++) out[i_] = 123.0f;                                          \
        for (int i_ = 0; i_ < 16; i_++) u[i_] = v[i_] = 5.0f;                                      \
        norma_status s_ = (call);                                                                  \
        int untouched_ = 1;                                                                        \
        for (int i_ = 0; i_ < 64; i_++) untouched_ &= out[i_] == 123.0f;                           \
        for (int i_ = 0; i_ < 16; i_++) untouched_ &= u[i_] == 5.0f && v[i_] == 5.0f;              \
        CHECK(s_ == (status), "%s: expected %s, got %s (%s)", #call, norma_status_name(status),     \
              norma_status_name(s_), norma_last_error());                                          \
        CHECK(strstr(norma_last_error(), what) != NULL, "%s: message \"%s\" should name \"%s\"",   \
              #call, norma_last_error(), what);                                                    \
        CHECK(untouched_, "%s: wrote to an output or state although it failed", #call);            \
    } while (0)

static void test_errors(void) {
    float x[64], out[64], u[16], v[16];
    double sig = 7.0; /* a sigma output: must stay untouched too */
    for (int i = 0; i < 64; i++) x[i] = (float)(i % 5) - 2.0f;
    const int64_t huge = INT64_MAX / 4;
    EXPECT_FAIL(NORMA_EUNSUPPORTED, "dtype", norma_spectral_norm_fwd((norma_dtype)9, 1, 4, 4, x, u, v, 1, 1e-12, out, &sig));
    EXPECT_FAIL(NORMA_EINVAL, "outer must be", norma_spectral_norm_fwd(NORMA_F32, 0, 4, 4, x, u, v, 1, 1e-12, out, &sig));
    EXPECT_FAIL(NORMA_EINVAL, "rows must be", norma_spectral_norm_fwd(NORMA_F32, 1, -4, 4, x, u, v, 1, 1e-12, out, &sig));
    EXPECT_FAIL(NORMA_EINVAL, "inner must be", norma_spectral_norm_fwd(NORMA_F32, 1, 4, 0, x, u, v, 1, 1e-12, out, &sig));
    EXPECT_FAIL(NORMA_EINVAL, "too large", norma_spectral_norm_fwd(NORMA_F32, huge, 4, 4, x, u, v, 1, 1e-12, out, &sig));
    EXPECT_FAIL(NORMA_EINVAL, "n_power_iterations", norma_spectral_norm_fwd(NORMA_F32, 1, 4, 4, x, u, v, -1, 1e-12, out, &sig));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_spectral_norm_fwd(NORMA_F32, 1, 4, 4, x, u, v, 1, NAN, out, &sig));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_spectral_norm_fwd(NORMA_F32, 1, 4, 4, x, u, v, 1, -1.0, out, &sig));
    EXPECT_FAIL(NORMA_ENULL, "weight is NULL", norma_spectral_norm_fwd(NORMA_F32, 1, 4, 4, NULL, u, v, 1, 1e-12, out, &sig));
    EXPECT_FAIL(NORMA_ENULL, "u is NULL", norma_spectral_norm_fwd(NORMA_F32, 1, 4, 4, x, NULL, v, 1, 1e-12, out, &sig));
    EXPECT_FAIL(NORMA_ENULL, "v is NULL", norma_spectral_norm_fwd(NORMA_F32, 1, 4, 4, x, u, NULL, 1, 1e-12, out, &sig));
    EXPECT_FAIL(NORMA_ENULL, "y is NULL", norma_spectral_norm_fwd(NORMA_F32, 1, 4, 4, x, u, v, 1, 1e-12, NULL, &sig));
    EXPECT_FAIL(NORMA_ENULL, "dy is NULL", norma_spectral_norm_bwd(NORMA_F32, 1, 4, 4, NULL, x, u, v, 1.0, out));
    EXPECT_FAIL(NORMA_ENULL, "u is NULL", norma_spectral_norm_bwd(NORMA_F32, 1, 4, 4, x, x, NULL, v, 1.0, out));
    EXPECT_FAIL(NORMA_EINVAL, "rows must be", norma_spectral_norm_bwd(NORMA_F32, 1, 0, 4, x, x, u, v, 1.0, out));
    EXPECT_FAIL(NORMA_EINVAL, "n_power_iterations", norma_spectral_norm_power_iteration(NORMA_F32, 1, 4, 4, x, -3, 1e-12, u, v));
    EXPECT_FAIL(NORMA_ENULL, "v is NULL", norma_spectral_norm_power_iteration(NORMA_F32, 1, 4, 4, x, 1, 1e-12, u, NULL));
    EXPECT_FAIL(NORMA_ENULL, "weight is NULL", norma_spectral_norm_init(NORMA_F32, 1, 4, 4, NULL, 1, 1e-12, u, v));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_spectral_norm_init(NORMA_F32, 1, 4, 4, x, 1, INFINITY, u, v));
    EXPECT_FAIL(NORMA_EINVAL, "cols must be", norma_l2_normalize_fwd(NORMA_F32, 2, 0, x, 1e-12, out));
    EXPECT_FAIL(NORMA_EINVAL, "rows must be", norma_l2_normalize_fwd(NORMA_F32, -1, 4, x, 1e-12, out));
    EXPECT_FAIL(NORMA_EINVAL, "eps", norma_l2_normalize_fwd(NORMA_F32, 2, 4, x, -1e-12, out));
    EXPECT_FAIL(NORMA_ENULL, "y is NULL", norma_l2_normalize_fwd(NORMA_F32, 2, 4, x, 1e-12, NULL));
    EXPECT_FAIL(NORMA_ENULL, "dy is NULL", norma_l2_normalize_bwd(NORMA_F32, 2, 4, NULL, x, 1e-12, out));
    EXPECT_FAIL(NORMA_EUNSUPPORTED, "dtype", norma_weight_norm_fwd((norma_dtype)-1, 2, 4, 4, x, x, out));
    EXPECT_FAIL(NORMA_EINVAL, "inner must be", norma_weight_norm_fwd(NORMA_F32, 2, 4, -4, x, x, out));
    EXPECT_FAIL(NORMA_EINVAL, "too large", norma_weight_norm_fwd(NORMA_F32, 2, huge, 4, x, x, out));
    EXPECT_FAIL(NORMA_ENULL, "g is NULL", norma_weight_norm_fwd(NORMA_F32, 2, 4, 4, x, NULL, out));
    EXPECT_FAIL(NORMA_ENULL, "w is NULL", norma_weight_norm_fwd(NORMA_F32, 2, 4, 4, x, x, NULL));
    EXPECT_FAIL(NORMA_ENULL, "dw is NULL", norma_weight_norm_bwd(NORMA_F32, 2, 4, 4, NULL, x, x, out, out + 32));
    EXPECT_FAIL(NORMA_ENULL, "v is NULL", norma_weight_norm_bwd(NORMA_F32, 2, 4, 4, x, NULL, x, out, out + 32));
    EXPECT_FAIL(NORMA_EINVAL, "outer must be", norma_weight_norm_bwd(NORMA_F32, 0, 4, 4, x, x, x, out, out + 32));
    CHECK(sig == 7.0, "a failed spectral_norm_fwd wrote sigma");
}

int main(void) {
    if (forced_kernels_unavailable()) return 77;
    rng_seed(4242);
    printf("kernels: %s\n", norma_kernels());
    test_errors();
    test_spectral_oracle_gradient();
    test_weight_norm_oracle_gradient();
    test_spectral();
    test_spectral_known_sigma();
    test_spectral_init();
    test_spectral_special();
    test_l2_normalize();
    test_weight_norm();
    test_weight_norm_streamed();
    test_threads(NORMA_F32_COMPUTE_DOUBLE);
    test_threads(NORMA_F32_COMPUTE_FLOAT);
    return check_summary("test_reparam");
}
