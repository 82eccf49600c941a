/* test_kernels.c: every kernel variant this CPU runs against the reference, primitive by primitive,
 * bit for bit: every length 1..67 and some long ones (each tail of a 16-lane step, chunk boundaries),
 * every dtype, special values (NaN, infinities, subnormals, huge and tiny numbers), aliasing; and the
 * 16-bit conversions exhaustively. kernels.h promises identical results; this holds it to that. */
#include "../src/kernels/kernels.h"
#include "oracle.h"

static const norma_dtype dtypes[] = {NORMA_F32, NORMA_BF16, NORMA_F16};

/* Random data of a dtype; `special` sprinkles NaN, ±inf, subnormals, huge and tiny values. */
static void fill(norma_dtype t, void *p, int64_t n, int special, double mean) {
    for (int64_t i = 0; i < n; i++) {
        double v = mean + rng_normal() * 3.0;
        if (special && rng_uniform() < 0.15) {
            static const double specials[] = {NAN, INFINITY, -INFINITY, 1e-40, -3e-39, 1e30, -2e35, 5e-8, 0.0, -0.0, 65519.0, 70000.0};
            v = specials[rng_int(0, 11)];
        }
        store_elem(t, p, i, (float)v);
    }
}

/* Bitwise equal, except that any two NaNs are equal: which NaN's payload and sign survive an
 * operation depends on operand order, which the compiler may swap in commutative operations. */
static int same_double(double a, double b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }
static int same_doubles(const double *a, const double *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!same_double(a[i], b[i])) return 0;
    return 1;
}
static int same_values(norma_dtype t, const void *a, const void *b, int64_t n) {
    size_t es = norma_dtype_size(t);
    for (int64_t i = 0; i < n; i++) {
        float x = load_elem(t, a, i), y = load_elem(t, b, i);
        if (!(isnan(x) && isnan(y)) && memcmp((const char *)a + i * (int64_t)es, (const char *)b + i * (int64_t)es, es))
            return 0;
    }
    return 1;
}

/* The reference table that K must match bitwise: the reference, or its f32-in-float twin for K's. */
static const norma_kernel_table *reference_of(const norma_kernel_table *K) {
    return norma_f32_in_float(K) ? norma_kernels_reference.f32_in_float : &norma_kernels_reference;
}

/* col_bwd_apply's row sums: the same bits in every variant, with dx or without it (dx unchanged by
 * them), and Σdy·x̂, Σdy as computed in double here, to the compute precision, on rows of ordinary
 * values (with the special ones, float products overflow, and a float sigmoid goes subnormal, where
 * double ones do not). The arguments are the callers' (c = rs = kg = kx = k0 = rg = w). */
static void compare_row_sums(const norma_kernel_table *K, norma_dtype t, int64_t rows, int64_t cols, int64_t ld,
                             const void *dy, const void *x, const double *w, const norma_col_act *ap) {
    const norma_kernel_table *R = reference_of(K);
    size_t es = norma_dtype_size(t);
    double *s = xmalloc((size_t)(4 * rows) * sizeof(double));
    for (int64_t i = 0; i < 4 * rows; i++) s[i] = 0.125 * (double)(i % (2 * rows) % 7); /* added to, not overwritten */
    char *d1 = xmalloc((size_t)(rows * ld) * es), *d2 = xmalloc((size_t)(rows * ld) * es);
    memset(d1, 0, (size_t)(rows * ld) * es), memset(d2, 0, (size_t)(rows * ld) * es);
    K->col_bwd_apply(t, rows, cols, ld, dy, x, d1, w, w, w, w, w, w, ap, s, 0);
    R->col_bwd_apply(t, rows, cols, ld, dy, x, NULL, w, w, w, w, w, w, ap, s + 2 * rows, 0);
    K->col_bwd_apply(t, rows, cols, ld, dy, x, d2, w, w, w, w, w, w, ap, NULL, 0);
    CHECK(same_doubles(s, s + 2 * rows, 2 * rows) && same_values(t, d1, d2, rows * ld),
          "%s col_bwd_apply row sums rows=%lld cols=%lld dtype=%d silu=%d", K->name, (long long)rows, (long long)cols, t,
          ap != NULL);
    for (int64_t r = 0; r < rows; r++) {
        double want[2] = {0.125 * (double)(2 * r % 7), 0.125 * (double)((2 * r + 1) % 7)}, scale = 0.0;
        int tame = 1;
        for (int64_t j = 0; j < cols; j++) {
            double xv = load_elem(t, x, r * ld + j), g = load_elem(t, dy, r * ld + j), xhat = (xv - w[j]) * w[j];
            tame = tame && fabs(xv) < 1e3 && fabs(g) < 1e3;
            if (ap) {
                double z = ((xv - w[j]) * w[j]) * w[r] + w[j] + w[r], sg = 1.0 / (1.0 + exp(-z));
                g *= sg * (1.0 + z * (1.0 - sg));
            }
            want[0] += g * xhat, want[1] += g, scale += fabs(g * xhat) + fabs(g);
        }
        if (!tame) continue;
        double tol = (norma_compute_size(K, t) == sizeof(double) && !ap ? 1e-13 : 1e-5) * (scale + 1.0); /* the sigmoid is a float one */
        CHECK(fabs(s[2 * r] - want[0]) <= tol && fabs(s[2 * r + 1] - want[1]) <= tol,
              "%s col_bwd_apply row sums vs double rows=%lld cols=%lld dtype=%d silu=%d r=%lld: %.9g %.9g want %.9g %.9g",
              K->name, (long long)rows, (long long)cols, t, ap != NULL, (long long)r, s[2 * r], s[2 * r + 1], want[0],
              want[1]);
    }
    free(s), free(d1), free(d2);
}

/* Rows far apart (ld > cols) take the row-major loops: the same sums and outputs, bitwise, as the
 * tiled loops over the same values stored contiguously (the reference variant). */
static void compare_strided(const norma_kernel_table *K, norma_dtype t, int64_t rows, int64_t cols, const void *x,
                            const void *dy, const double *w) {
    const norma_kernel_table *R = reference_of(K);
    size_t es = norma_dtype_size(t);
    int64_t ld = cols + 3;
    char *xs = calloc((size_t)(rows * ld), es), *dys = calloc((size_t)(rows * ld), es);
    char *ys = calloc((size_t)(rows * ld), es), *y = calloc((size_t)(rows * cols), es), *yc = calloc((size_t)(rows * cols), es);
    for (int64_t r = 0; r < rows; r++) {
        memcpy(xs + (size_t)(r * ld) * es, (const char *)x + (size_t)(r * cols) * es, (size_t)cols * es);
        memcpy(dys + (size_t)(r * ld) * es, (const char *)dy + (size_t)(r * cols) * es, (size_t)cols * es);
    }
    double *a = xmalloc((size_t)(12 * cols) * sizeof(double));
    for (int64_t j = 0; j < 12 * cols; j++) a[j] = 0.25 * (double)(j % cols);
    double *s[2][6];
    for (int v = 0; v < 2; v++)
        for (int q = 0; q < 6; q++) s[v][q] = a + (v * 6 + q) * cols;
    K->col_dev(t, rows, cols, ld, xs, w, s[0][0], s[0][1]), R->col_dev(t, rows, cols, cols, x, w, s[1][0], s[1][1]);
    float *dzs = calloc((size_t)(rows * ld), sizeof(float)), *dzc = calloc((size_t)(rows * cols), sizeof(float));
    const norma_col_act act = {w, w, w, w, NULL}, act_ks = {w, w, w, w, dzs}, act_rc = {w, w, w, w, dzc};
    for (int silu = 0; silu < 2; silu++) {
        const norma_col_act *ap = silu ? &act : NULL;
        for (int64_t j = 0; j < 12 * cols; j++) a[j] = 0.25 * (double)(j % cols);
        K->col_bwd_sums(t, rows, cols, ld, dys, xs, w, w, silu ? &act_ks : NULL, s[0] + 2);
        R->col_bwd_sums(t, rows, cols, cols, dy, x, w, w, silu ? &act_rc : NULL, s[1] + 2);
        CHECK(same_doubles(s[0][2], s[1][2], 4 * cols), "strided col sums rows=%lld cols=%lld dtype=%d silu=%d",
              (long long)rows, (long long)cols, t, silu);
        if (silu) { /* the kept dy·silu'(z), floats */
            int same_dz = 1;
            for (int64_t r = 0; r < rows; r++) same_dz &= same_values(NORMA_F32, dzs + r * ld, dzc + r * cols, cols);
            CHECK(same_dz, "strided col_bwd_sums dz rows=%lld cols=%lld dtype=%d", (long long)rows, (long long)cols, t);
        }
        int same = 1;
        K->col_apply(t, rows, cols, ld, xs, ys, w, w, w, w, w, silu, 0);
        R->col_apply(t, rows, cols, cols, x, yc, w, w, w, w, w, silu, 0);
        for (int64_t r = 0; r < rows; r++) memcpy(y + (size_t)(r * cols) * es, ys + (size_t)(r * ld) * es, (size_t)cols * es);
        same = same && same_values(t, y, yc, rows * cols);
        K->col_bwd_apply(t, rows, cols, ld, dys, xs, ys, w, w, w, w, w, w, ap, NULL, 0);
        R->col_bwd_apply(t, rows, cols, cols, dy, x, yc, w, w, w, w, w, w, ap, NULL, 0);
        for (int64_t r = 0; r < rows; r++) memcpy(y + (size_t)(r * cols) * es, ys + (size_t)(r * ld) * es, (size_t)cols * es);
        same = same && same_values(t, y, yc, rows * cols);
        CHECK(same, "strided col_apply/col_bwd_apply rows=%lld cols=%lld dtype=%d silu=%d", (long long)rows,
              (long long)cols, t, silu);
        compare_row_sums(K, t, rows, cols, ld, dys, xs, w, ap);
    }
    free(xs), free(dys), free(ys), free(y), free(yc), free(a), free(dzs), free(dzc);
}

/* bwd_apply_pair, in K and in the reference R, against two calls of R's bwd_apply adding to the same
 * accumulators, bitwise: dx, the accumulators, and a fused gated residual's dh and dgate. Variant bits:
 * 1 dbias, 2 dx, 4 streaming stores, 8 next rows fetched, 16 both centres 0 (else row 1's alone: the
 * general form then serves a zero centre), 32 SiLU, 64 gated residual, 128 the gain as stored. Every
 * variant for a few lengths, eight spread ones for the others (the test runs under valgrind too). */
static void compare_pair(const norma_kernel_table *K, const norma_kernel_table *R, norma_dtype t, int64_t n,
                         int special) {
    size_t es = norma_dtype_size(t), as = norma_compute_size(R, t), bytes = (size_t)n * es;
    char *in = xmalloc(bytes * 6), *out = xmalloc(bytes * 4 * 3), *acc = xmalloc((size_t)n * as * 3 * 3);
    char *x[2] = {in, in + bytes}, *dy[2] = {in + 2 * bytes, in + 3 * bytes};
    char *gain = in + 4 * bytes, *h = in + 5 * bytes;
    for (int i = 0; i < 6; i++) fill(t, in + i * bytes, n, special && i < 4, i == 4 ? 1.0 : 0.0);
    void *gain_c = xmalloc((size_t)n * as);
    R->prepare(t, n, 1.0, gain, gain_c);
    const void *next[4] = {x[1], dy[1], x[0], dy[0]};
    int all = n == 1 || n == 16 || n == 17 || n == 67 || n == 2049;
    for (int k = 0; k < (all ? 256 : 8); k++) {
        int variant = all ? k : (int)((n * 37 + k * 29) % 256);
        memset(out, 0, bytes * 12), memset(acc, 0, (size_t)n * as * 9);
        norma_affine a[2];
        norma_bwd_coef c[3][2]; /* per result: K's pair, R's pair, R's two calls (their own dh and dgate) */
        for (int r = 0; r < 2; r++) {
            a[r] = (norma_affine){.mean = 0.5 * r, .rstd = 0.7 + 0.1 * r, .g0 = variant & 128 ? 1.0 : 0.0,
                                  .gain = variant & 128 ? gain : NULL, .gain_c = variant & 128 ? NULL : gain_c,
                                  .b0 = 0.25, .stream = (variant >> 2) & 1, .act = (variant >> 5) & 1};
            for (int q = 0; q < 3; q++) {
                int gated = variant & 64;
                char *o = out + (size_t)q * 4 * bytes; /* dx0, dx1, dh0, dh1 */
                c[q][r] = (norma_bwd_coef){.centre = r == 1 || variant & 16 ? 0.0 : 1.25, .kg = 0.5 + r,
                                           .kx = -0.125, .k0 = 0.0625 * r, .dsum = gated ? h : NULL,
                                           .h = gated ? x[1 - r] : NULL, .gate = gated && r ? gain : NULL,
                                           .dh = gated ? o + (2 + r) * bytes : NULL,
                                           .dgate = gated ? acc + ((size_t)q * 3 + 2) * n * as : NULL};
            }
        }
        double rstd[2] = {0.75, 1.5};
        for (int q = 0; q < 3; q++) {
            char *o = out + (size_t)q * 4 * bytes, *g = acc + (size_t)q * 3 * n * as;
            char *b = variant & 1 ? g + n * as : NULL;
            void *dx[2] = {variant & 2 ? o : NULL, variant & 2 ? o + bytes : NULL};
            const void *dys[2] = {dy[0], dy[1]}, *xs[2] = {x[0], x[1]};
            const norma_affine *ap[2] = {&a[0], &a[1]};
            const norma_bwd_coef *cp[2] = {&c[q][0], &c[q][1]};
            if (q < 2) (q ? R : K)->bwd_apply_pair(t, n, dys, xs, dx, ap, cp, rstd, g, b, variant & 8 ? next : NULL);
            else
                for (int r = 0; r < 2; r++)
                    R->bwd_apply(t, n, dy[r], x[r], dx[r], &a[r], &c[q][r], rstd[r], g, b, NULL);
        }
        int same = 1;
        for (int q = 0; q < 2; q++) {
            same &= same_values(t, out + (size_t)q * 4 * bytes, out + 8 * bytes, 4 * n);
            const void *mine = acc + (size_t)q * 3 * n * as, *want = acc + 6 * n * as;
            same &= as == sizeof(double) ? same_doubles(mine, want, 3 * n) : same_values(NORMA_F32, mine, want, 3 * n);
        }
        CHECK(same, "%s bwd_apply_pair n=%lld dtype=%d variant=%d", K->name, (long long)n, t, variant);
    }
    free(in), free(out), free(acc), free(gain_c);
}

static void compare(const norma_kernel_table *K, const norma_kernel_table *R, norma_dtype t, int64_t n, int special) {
    size_t es = norma_dtype_size(t), bytes = (size_t)n * es;
    void *x = xmalloc(bytes), *dy = xmalloc(bytes), *gain = xmalloc(bytes), *bias = xmalloc(bytes);
    void *y1 = xmalloc(bytes), *y2 = xmalloc(bytes);
    float *dz1 = xmalloc((size_t)n * sizeof(float)), *dz2 = xmalloc((size_t)n * sizeof(float));
    double *w = xmalloc((size_t)n * sizeof(double));
    void *gain_k = xmalloc((size_t)n * norma_compute_size(K, t)), *gain_r = xmalloc((size_t)n * norma_compute_size(R, t));
    fill(t, x, n, special, 2.0), fill(t, dy, n, special, 0.0), fill(t, gain, n, 0, 1.0), fill(t, bias, n, 0, 0.0);
    for (int64_t i = 0; i < n; i++) w[i] = rng_normal();
    const char *name = K->name;
    compare_pair(K, R, t, n, special);

    double m1, q1, m2, q2, m3, q3;
    K->moments(t, n, x, &m1, &q1, NULL), R->moments(t, n, x, &m2, &q2, NULL);
    CHECK(same_double(m1, m2) && same_double(q1, q2), "%s moments n=%lld dtype=%d", name, (long long)n, t);
    K->moments(t, n, x, &m3, &q3, dy); /* fetching a next run: no effect on the values */
    CHECK(same_double(m1, m3) && same_double(q1, q3), "%s moments with next n=%lld dtype=%d", name, (long long)n, t);
    CHECK(same_double(K->sum_sq(t, n, x), R->sum_sq(t, n, x)), "%s sum_sq n=%lld dtype=%d", name, (long long)n, t);

    /* a next row to fetch (some variants): no effect on any value */
    const void *next[2] = {gain, bias}, *next_one[2] = {dy, NULL};
    for (int variant = 0; variant < 16; variant++) { /* gain or not, bias or not, streaming stores or not, SiLU */
        norma_affine a = {.mean = m2, .rstd = 0.7, .g0 = variant & 1 ? 1.0 : 0.0, .gain = variant & 1 ? NULL : gain,
                          .b0 = 0.25, .bias = variant & 2 ? bias : NULL, .stream = (variant >> 2) & 1,
                          .act = variant >> 3};
        K->apply(t, n, x, y1, &a, variant & 2 ? next_one : NULL), R->apply(t, n, x, y2, &a, NULL);
        CHECK(same_values(t, y1, y2, n), "%s apply n=%lld dtype=%d variant=%d", name, (long long)n, t, variant);
        memcpy(y1, x, bytes), memcpy(y2, x, bytes); /* in place */
        K->apply(t, n, y1, y1, &a, NULL), R->apply(t, n, y2, y2, &a, NULL);
        CHECK(same_values(t, y1, y2, n), "%s apply in place n=%lld dtype=%d", name, (long long)n, t);
        /* RMSNorm's two-operation apply; variant & 8: the gain ready-made (each table's own, with g0 in it) */
        norma_affine scale = {.rstd = 0.7, .gain = variant & 1 ? NULL : gain, .g0 = variant & 1 ? 1.0 : 0.0,
                              .stream = (variant >> 2) & 1}, scale_k = scale, scale_r = scale;
        if ((variant & 8) && !(variant & 1)) {
            K->prepare(t, n, 0.0, gain, gain_k), R->prepare(t, n, 0.0, gain, gain_r);
            scale_k.gain = scale_r.gain = NULL, scale_k.gain_c = gain_k, scale_r.gain_c = gain_r;
        }
        K->apply(t, n, x, y1, &scale_k, variant & 2 ? next : NULL), R->apply(t, n, x, y2, &scale_r, NULL);
        CHECK(same_values(t, y1, y2, n), "%s apply (scales only) n=%lld dtype=%d variant=%d", name, (long long)n, t,
              variant);

        double s1[4], s2[4];
        norma_affine ak = a, ar = a; /* with a SiLU, each keeps dy·silu'(z) */
        if (a.act) ak.act_dz = dz1, ar.act_dz = dz2;
        K->bwd_sums(t, n, dy, x, &ak, 1.5, 1, s1, variant & 2 ? next_one : NULL);
        R->bwd_sums(t, n, dy, x, &ar, 1.5, 1, s2, NULL);
        CHECK(same_doubles(s1, s2, 4) && (!a.act || same_values(NORMA_F32, dz1, dz2, n)), "%s bwd_sums n=%lld dtype=%d",
              name, (long long)n, t);
        /* the two sums RMSNorm needs (no centre) or a dot product (a centre: all four formed, two dropped):
         * the same Σg·d and Σd² as the four, Σg and Σd 0 */
        for (int c = 0; c < 2; c++) {
            double s4[4], s2k[4], s2r[4], centre = c ? 1.5 : 0.0;
            R->bwd_sums(t, n, dy, x, &a, centre, 1, s4, NULL);
            K->bwd_sums(t, n, dy, x, &a, centre, 0, s2k, NULL), R->bwd_sums(t, n, dy, x, &a, centre, 0, s2r, NULL);
            double want[4] = {0.0, s4[1], 0.0, s4[3]};
            CHECK(same_doubles(s2k, want, 4) && same_doubles(s2r, want, 4), "%s bwd_sums (two sums) n=%lld dtype=%d centre=%g",
                  name, (long long)n, t, centre);
        }

        /* variant & 4: a fused gated residual (dsum, h, gate, dh, dgate) */
        size_t as = norma_compute_size(R, t);
        void *g1 = calloc((size_t)n, as), *g2 = calloc((size_t)n, as), *b1 = calloc((size_t)n, as), *b2 = calloc((size_t)n, as);
        void *gt1 = calloc((size_t)n, as), *gt2 = calloc((size_t)n, as), *h1 = calloc((size_t)n, es), *h2 = calloc((size_t)n, es);
        int gated = (variant >> 2) & 1;
        norma_bwd_coef c1 = {.centre = 1.25, .kg = 0.5, .kx = -0.125, .k0 = 0.0625, .dsum = gated ? bias : NULL,
                             .h = gated ? x : NULL, .gate = gated && (variant & 1) ? gain : NULL,
                             .dh = gated ? h1 : NULL, .dgate = gated ? gt1 : NULL}, c2 = c1;
        c2.dh = gated ? h2 : NULL, c2.dgate = gated ? gt2 : NULL;
        K->bwd_apply(t, n, dy, x, y1, &a, &c1, 0.75, g1, b1, variant & 1 ? next : NULL);
        R->bwd_apply(t, n, dy, x, y2, &a, &c2, 0.75, g2, b2, NULL);
        int acc_same = as == sizeof(double) ? same_doubles(g1, g2, n) && same_doubles(b1, b2, n) && same_doubles(gt1, gt2, n)
                                      : same_values(NORMA_F32, g1, g2, n) && same_values(NORMA_F32, b1, b2, n) &&
                                            same_values(NORMA_F32, gt1, gt2, n);
        CHECK(same_values(t, y1, y2, n) && same_values(t, h1, h2, n) && acc_same,
              "%s bwd_apply n=%lld dtype=%d variant=%d", name, (long long)n, t, variant);
        /* reading the dz bwd_sums kept instead of computing it: for 16-bit data the same float, the same dx
         * (f32 data computes it in double, and keeping it rounds it to float) */
        if (a.act && !gated && t != NORMA_F32) {
            norma_affine kept = a;
            kept.act = 0, kept.dy_f32 = 1;
            K->bwd_apply(t, n, dz1, x, y2, &kept, &c1, 0.75, NULL, NULL, variant & 1 ? next : NULL);
            CHECK(same_values(t, y1, y2, n), "%s bwd_apply from a kept dz n=%lld dtype=%d variant=%d", name,
                  (long long)n, t, variant);
        }
        free(g1), free(g2), free(b1), free(b2), free(gt1), free(gt2), free(h1), free(h2);
    }
    for (int64_t rows = 1; rows <= 6 && rows <= n; rows++) { /* a block of rows, and each row alone */
        double d1[6], d2[6], d3[6];
        int64_t len = n / rows;
        K->row_dotv(t, rows, len, len, x, w, d1), R->row_dotv(t, rows, len, len, x, w, d2);
        for (int64_t r = 0; r < rows; r++) K->row_dotv(t, 1, len, len, (const char *)x + (size_t)(r * len) * es, w, d3 + r);
        CHECK(same_doubles(d1, d2, rows) && same_doubles(d1, d3, rows), "%s row_dotv rows=%lld n=%lld dtype=%d", name,
              (long long)rows, (long long)len, t);
    }
    for (int gated = 0; gated < 2; gated++) {
        K->add(t, n, x, dy, gated ? gain : NULL, y1), R->add(t, n, x, dy, gated ? gain : NULL, y2);
        CHECK(same_values(t, y1, y2, n), "%s add n=%lld dtype=%d gated=%d", name, (long long)n, t, gated);
    }
    for (int stream = 0; stream < 2; stream++) {
        K->axpv(t, n, dy, y1, 0.75, -1.5, w, stream), R->axpv(t, n, dy, y2, 0.75, -1.5, w, 0);
        CHECK(same_values(t, y1, y2, n), "%s axpv n=%lld dtype=%d stream=%d", name, (long long)n, t, stream);
    }

    /* 2-D: n elements as rows x cols with a leading dimension */
    int64_t cols = 1 + n % 37, rows = n / cols, ld = cols;
    if (rows > 0) {
        double *acc[2][8];
        for (int v = 0; v < 2; v++)
            for (int q = 0; q < 8; q++) {
                acc[v][q] = xmalloc((size_t)cols * 8);
                for (int64_t j = 0; j < cols; j++) acc[v][q][j] = 0.5 * (double)j;
            }
        const norma_kernel_table *T[2] = {K, R};
        for (int v = 0; v < 2; v++) {
            T[v]->col_dev(t, rows, cols, ld, x, NULL, acc[v][0], acc[v][6]);
            T[v]->col_dev(t, rows, cols, ld, x, w, acc[v][1], acc[v][2]);
            double *sums[4] = {acc[v][2], acc[v][3], acc[v][4], acc[v][5]};
            norma_col_act act = {w, w, w, w, NULL};
            T[v]->col_bwd_sums(t, rows, cols, ld, dy, x, w, w, NULL, sums);
            double *sums2[4] = {acc[v][3], acc[v][4], acc[v][5], acc[v][1]};
            T[v]->col_bwd_sums(t, rows, cols, ld, dy, x, w, w, &act, sums2); /* through a SiLU */
            T[v]->col_dotv(t, rows, cols, ld, x, w, acc[v][7]);
        }
        int ok = 1;
        for (int q = 0; q < 8; q++)
            for (int64_t j = 0; j < cols; j++)
                if (!same_double(acc[0][q][j], acc[1][q][j])) {
                    if (ok) {
                        fprintf(stderr, "  q=%d j=%lld: %.17g vs %.17g\n", q, (long long)j, acc[0][q][j], acc[1][q][j]);
                        for (int64_t r = 0; r < rows; r++)
                            fprintf(stderr, "    r=%lld x=%.9g dy=%.9g c=%.17g rg=%.17g\n", (long long)r,
                                    (double)load_elem(t, x, r * ld + j), (double)load_elem(t, dy, r * ld + j), w[j], w[r]);
                    }
                    ok = 0;
                }
        CHECK(ok, "%s col sums rows=%lld cols=%lld dtype=%d", name, (long long)rows, (long long)cols, t);
        for (int silu = 0; silu < 2; silu++) {
            norma_col_act act = {w, w, w, w, NULL}, *ap = silu ? &act : NULL;
            K->col_apply(t, rows, cols, ld, x, y1, w, w, w, w, w, silu, 1);
            R->col_apply(t, rows, cols, ld, x, y2, w, w, w, w, w, silu, 0);
            CHECK(same_values(t, y1, y2, rows * cols), "%s col_apply silu=%d", name, silu);
            K->col_apply(t, rows, cols, ld, x, y1, NULL, w, NULL, NULL, NULL, silu, 0);
            R->col_apply(t, rows, cols, ld, x, y2, NULL, w, NULL, NULL, NULL, silu, 1);
            CHECK(same_values(t, y1, y2, rows * cols), "%s col_apply without optional vectors silu=%d", name, silu);
            K->col_bwd_apply(t, rows, cols, ld, dy, x, y1, w, w, w, w, w, w, ap, NULL, 1);
            R->col_bwd_apply(t, rows, cols, ld, dy, x, y2, w, w, w, w, w, w, ap, NULL, 0);
            CHECK(same_values(t, y1, y2, rows * cols), "%s col_bwd_apply silu=%d", name, silu);
            compare_row_sums(K, t, rows, cols, ld, dy, x, w, ap);
        }
        for (int v = 0; v < 2; v++)
            for (int q = 0; q < 8; q++) free(acc[v][q]);
        compare_strided(K, t, rows, cols, x, dy, w);
        if (n >= 1100) compare_strided(K, t, n / 1100, 1100, x, dy, w); /* panels of 512 columns and a tail */
    }
    free(x), free(dy), free(gain), free(bias), free(y1), free(y2), free(dz1), free(dz2), free(w), free(gain_k), free(gain_r);
}

/* The 16-bit conversions: all 65536 inputs widened, and floats near every rounding boundary
 * (ties, subnormals, overflow, NaN payloads) narrowed. */
static void compare_conversions(const norma_kernel_table *K) {
    const norma_kernel_table *R = reference_of(K);
    uint16_t *h = xmalloc(65536 * 2);
    float *f1 = xmalloc(65536 * 4), *f2 = xmalloc(65536 * 4);
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    for (int ti = 1; ti < 3; ti++) {
        K->convert(dtypes[ti], NORMA_F32, 65536, h, f1), R->convert(dtypes[ti], NORMA_F32, 65536, h, f2);
        CHECK(same_values(NORMA_F32, f1, f2, 65536), "%s: widening dtype %d differs", K->name, dtypes[ti]);
    }
    int64_t n = 1 << 18;
    float *f = xmalloc((size_t)n * 4);
    uint16_t *a = xmalloc((size_t)n * 2), *b = xmalloc((size_t)n * 2);
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)(rng_uniform() * 4294967296.0);
        if (i % 4 == 0) bits = (bits & 0xffff0000u) | 0x8000u;                     /* bf16 ties */
        if (i % 4 == 1) bits = (bits & 0xffffe000u) | 0x1000u;                     /* f16 ties */
        if (i % 8 == 2) bits = (bits & 0x807fffffu) | ((uint32_t)(98 + i % 50) << 23); /* f16 subnormal range */
        memcpy(&f[i], &bits, 4);
    }
    /* Each value a SIMD narrowing may take a separate path for, alone among ordinary values at each of
     * a vector's 16 lanes (the AVX2 bf16 one rounds vectors without NaN and subnormals more cheaply). */
    static const uint32_t specials[] = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7f7fffff, 0x7f7f8000,
                                        0xff7f8000, 0x00800000, 0x80800000, 0x007fffff, 0x807f8000, 0x00000001,
                                        0x7f800001, 0x7fffffff, 0xffffffff, 0x7fc00000, 0xff80ffff};
    float *block = f;
    for (size_t k = 0; k < sizeof specials / sizeof *specials; k++)
        for (int lane = 0; lane < 16; lane++, block += 16) {
            for (int l = 0; l < 16; l++) block[l] = (float)ldexp(rng_uniform() + 0.5, l - 8);
            memcpy(&block[lane], &specials[k], 4);
        }
    for (int ti = 1; ti < 3; ti++) {
        K->convert(NORMA_F32, dtypes[ti], n, f, a), R->convert(NORMA_F32, dtypes[ti], n, f, b);
        CHECK(!memcmp(a, b, (size_t)n * 2), "%s: narrowing to dtype %d differs", K->name, dtypes[ti]); /* NaNs too */
        int64_t bad = -1; /* and the reference is the scalar converter */
        for (int64_t i = 0; i < n && bad < 0; i++)
            if (b[i] != (ti == 1 ? f32_to_bf16(f[i]) : f32_to_f16(f[i]))) bad = i;
        CHECK(bad < 0, "reference narrowing differs from convert.h at %lld", (long long)bad);
    }
    free(h), free(f1), free(f2), free(f), free(a), free(b);
}

/* rstd_mean_sq and rstd_norm against the scalar expressions they stand for, bit for bit: every count up to 40 (the
 * tails of a 16-lane step), sums of every size, 0, inf and NaN among them, eps 0 and 1e-5, n 1, 3 and
 * 3072 (not powers of two: q/n and q·(1/n) differ). */
static void compare_rstds(const norma_kernel_table *K) {
    const norma_kernel_table *R = reference_of(K);
    double q[40], r1[40], r2[40];
    static const double eps[] = {0.0, 1e-5}, ns[] = {1.0, 3.0, 3072.0};
    for (int count = 1; count <= 40; count++)
        for (int e = 0; e < 2; e++)
            for (int m = 0; m < 3; m++) {
                for (int i = 0; i < count; i++)
                    q[i] = i % 7 == 3 ? 0.0 : i % 11 == 5 ? INFINITY : i % 13 == 6 ? NAN : ldexp(rng_uniform(), i - 20);
                for (int i = 0; i < 40; i++) r1[i] = r2[i] = -1.0; /* past count: untouched */
                K->rstd_mean_sq(count, q, ns[m], eps[e], r1), R->rstd_mean_sq(count, q, ns[m], eps[e], r2);
                int ok = 1;
                for (int i = 0; i < 40; i++) {
                    double want = i < count ? 1.0 / sqrt(q[i] / ns[m] + eps[e]) : -1.0;
                    ok = ok && same_double(r1[i], want) && same_double(r2[i], want);
                }
                CHECK(ok, "%s rstd_mean_sq count=%d eps=%g n=%g", K->name, count, eps[e], ns[m]);
                /* s/max(‖x‖, eps) with s = sqrt(n), eps also above some norms: the clamp bites */
                double s = sqrt(ns[m]), ceps = e ? ldexp(1.0, -10) : 0.0;
                K->rstd_norm(count, q, s, ceps, r1), R->rstd_norm(count, q, s, ceps, r2);
                for (int i = 0; i < 40; i++) {
                    double norm = i < count ? sqrt(q[i]) : 0.0, want = i < count ? s / (norm < ceps ? ceps : norm) : -1.0;
                    ok = ok && same_double(r1[i], want) && same_double(r2[i], want);
                }
                CHECK(ok, "%s rstd_norm count=%d eps=%g s=%g", K->name, count, ceps, s);
            }
}

/* sum_store against its scalar expression, bit for bit: every length up to 40 (the tails of a step), 0 to
 * 3 blocks (0: zeros), values that round in the narrowing, zeros of both signs (a sum of -0s stores +0), inf, NaN. */
static void compare_sum_store(const norma_kernel_table *K) {
    enum { MAXN = 40, BLOCKS = 3, LD = 43 };
    double parts[BLOCKS * LD];
    float got[MAXN + 1], want[MAXN + 1]; /* room for every dtype */
    for (int ti = 0; ti < 3; ti++)
        for (int blocks = 0; blocks <= BLOCKS; blocks++)
            for (int n = 1; n <= MAXN; n++) {
                for (int i = 0; i < BLOCKS * LD; i++)
                    parts[i] = i % 9 == 4 ? -0.0 : i % 23 == 7 ? INFINITY : i % 29 == 11 ? NAN : rng_normal() * 1e3;
                if (n > 5) parts[5] = parts[LD + 5] = parts[2 * LD + 5] = -0.0; /* column 5: every block -0 */
                memset(got, 0x5a, sizeof got), memset(want, 0x5a, sizeof want); /* past n: untouched */
                K->sum_store(dtypes[ti], n, blocks, LD, blocks ? parts : NULL, got);
                for (int j = 0; j < n; j++) {
                    double sum = 0.0;
                    for (int b = 0; b < blocks; b++) sum += parts[b * LD + j];
                    store_elem(dtypes[ti], want, j, (float)sum);
                }
                CHECK(!memcmp(got, want, sizeof got),
                      "%s sum_store dtype %d, %d blocks, n=%d", K->name, dtypes[ti], blocks, n);
            }
}

/* Σx² of 16-bit data as kernels.h documents the float path: two accumulators taking the 16-element
 * steps in turn (pairs, a leftover full step to the first, the tail to the second), each of 16 float
 * lanes that add at most 16 terms (x·x + lane, rounded once) before a double lane takes them, the
 * double lanes added by the fixed tree, then the two accumulators. */
static double sum_sq_model(norma_dtype t, int64_t n, const void *x) {
    float part[2][16] = {{0}};
    double total[2][16] = {{0}}, value[2];
    int terms[2] = {0, 0};
    int64_t full = n / 16, paired = 2 * (n / 32);
    for (int64_t s = 0; s < (n + 15) / 16; s++) {
        int h = s < paired ? (int)(s % 2) : s < full ? 0 : 1;
        if (terms[h] == 16) { /* a flush is due before a 17th term (the kernels flush after every 16th) */
            for (int l = 0; l < 16; l++) total[h][l] += (double)part[h][l], part[h][l] = 0.0f;
            terms[h] = 0;
        }
        for (int l = 0; l < 16; l++) {
            float v = s * 16 + l < n ? load_elem(t, x, s * 16 + l) : 0.0f;
            part[h][l] = fmaf(v, v, part[h][l]);
        }
        terms[h]++;
    }
    for (int h = 0; h < 2; h++) {
        double a[16];
        for (int l = 0; l < 16; l++) a[l] = total[h][l] + (double)part[h][l];
        for (int width = 8; width >= 1; width /= 2)
            for (int l = 0; l < width; l++) a[l] += a[l + width];
        value[h] = a[0];
    }
    return value[0] + value[1];
}

/* The reference's order is the model's (and every variant's is the reference's: compare): in particular
 * no float lane adds more than 16 terms, however long the run. */
static void test_sum_order(void) {
    static const int64_t lengths[] = {1, 16, 17, 33, 255, 512, 513, 1000, 2047, 4097, 10001, 65536};
    for (int d = 1; d < 3; d++)
        for (int i = 0; i < 12; i++) {
            int64_t n = lengths[i];
            void *x = xmalloc((size_t)n * 2);
            fill(dtypes[d], x, n, 0, 1.0);
            double got = norma_kernels_reference.sum_sq(dtypes[d], n, x), want = sum_sq_model(dtypes[d], n, x);
            CHECK(same_double(got, want), "sum_sq of %lld %s elements: %.17g, the documented order gives %.17g",
                  (long long)n, d == 1 ? "bf16" : "f16", got, want);
            free(x);
        }
}

/* RMSNorm's f32 apply with its weight as stored works in pairs of floats (core.inc's apply_gain_pairs):
 * within 0.5 + 2^-22 ulp of x·rstd·w (computed here in long double: x·w exact, one rounding to 64 bits),
 * within 2^-148 where y is subnormal, and a zero y with the sign of x·w (rstd > 0), as the double lanes
 * and PyTorch's x·rstd·weight give it. For rstd across and beyond the pairs' range [2^-60, 2^60] (the
 * double lanes there: within 0.5 + 2^-28 ulp), rstd a float (its low half 0) or not. */
static void test_apply_pairs(const norma_kernel_table *K) {
    enum { N = 1000 };
    static float x[N], w[N], y[N];
    const double rstds[] = {1.0, 0.7, 1.0 / 3.0, 12345.678, 0x1p-60, 0x1p60, 0x1.8p-61, 0x1.8p60, 1e-25, 3e22};
    int rounded_off = 0;
    for (int ri = 0; ri < 10; ri++) {
        double r = rstds[ri];
        for (int i = 0; i < N; i++) { /* x·r spread over 2^-40 .. 2^20 (and below float's normal range) */
            x[i] = (float)(rng_normal() * ldexp(1.0, rng_int(-40, 20)) / r);
            w[i] = (float)(rng_normal() * ldexp(1.0, rng_int(-4, 4)));
            if (i % 50 == 0) x[i] = i % 100 ? -0.0f : 0.0f;
            if (i % 70 == 0) w[i] = i % 140 ? -0.0f : 0.0f;
            if (i % 90 == 0) x[i] = (float)(1e-36 / r), w[i] = 1e-3f; /* y subnormal */
        }
        norma_affine a = {.rstd = r, .gain = w};
        K->apply(NORMA_F32, N, x, y, &a, NULL);
        int ok = 1, at = -1;
        for (int i = 0; i < N && ok; i++) {
            long double exact = (long double)x[i] * (long double)w[i] * (long double)r;
            double want = (double)exact, err = fabs((double)((long double)y[i] - exact));
            if (want == 0.0) ok = y[i] == 0.0f && signbit(y[i]) == signbit(x[i] * w[i]);
            else if (fabs(want) < 0x1p-126) ok = err <= 0x1p-148;
            else ok = err <= (0.5 + 0x1p-22) * ulp_of(NORMA_F32, want);
            rounded_off += ok && (double)y[i] != (double)(float)want;
            if (!ok) at = i;
        }
        CHECK(ok, "%s apply (f32 weight as stored) rstd=%a: y[%d] = %a, x·rstd·w = %a", K->name, r, at,
              at >= 0 ? y[at] : 0.0f, at >= 0 ? (double)((long double)x[at] * w[at] * r) : 0.0);
    }
    CHECK(rounded_off <= 10, "%s apply (f32 weight as stored): %d results not the nearest float", K->name, rounded_off);
}

/* Every SIMD variant this CPU runs against the reference; under ctest (NORMA_KERNELS=<name>) only the
 * one named, the reference's own tests for "reference", a skip where this CPU cannot run it. */
int main(void) {
    if (forced_kernels_unavailable()) return 77;
    const char *forced = getenv("NORMA_KERNELS");
    rng_seed(4242);
    test_sum_order();
    test_apply_pairs(&norma_kernels_reference);
    compare_sum_store(&norma_kernels_reference);
    const char *names[] = {"avx2", "avx512", "avx512bf16"};
    int tested = 0;
    for (int v = 0; v < 3; v++) {
        if (forced && *forced && strcmp(forced, names[v]) != 0) continue;
        const norma_kernel_table *K = norma_kernel_by_name(names[v]);
        if (!K) {
            printf("%s: not runnable on this CPU (or not built), skipped\n", names[v]);
            continue;
        }
        tested++;
        for (int ti = 0; ti < 3; ti++)
            for (int special = 0; special < 2; special++) {
                for (int64_t n = 1; n <= 67; n++) compare(K, &norma_kernels_reference, dtypes[ti], n, special);
                static const int64_t longs[] = {255, 2047, 2048, 2049, 4097, 10001};
                for (int i = 0; i < 6; i++) compare(K, &norma_kernels_reference, dtypes[ti], longs[i], special);
            }
        /* the twin that computes f32 data in float (norma_set_f32_compute) */
        for (int special = 0; special < 2; special++) {
            for (int64_t n = 1; n <= 67; n++) compare(K->f32_in_float, norma_kernels_reference.f32_in_float, NORMA_F32, n, special);
            static const int64_t longs[] = {255, 2047, 2048, 2049, 4097, 10001};
            for (int i = 0; i < 6; i++) compare(K->f32_in_float, norma_kernels_reference.f32_in_float, NORMA_F32, longs[i], special);
        }
        compare_conversions(K);
        compare_rstds(K);
        compare_sum_store(K);
        test_apply_pairs(K);
    }
    printf("variants compared with the reference: %d\n", tested);
    return check_summary("test_kernels");
}
