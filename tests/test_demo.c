/* test_demo.c: the demo's building blocks: the IDX reader (on small generated files, and broken ones),
 * the convolution against a direct implementation, a finite-difference gradient check of the whole
 * network with each norm, and a short training run whose loss must fall. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "conv.h"
#include "idx.h"
#include "net.h"

/* ----- IDX ------------------------------------------------------------------------------------- */

static void write_raw(const char *path, const uint8_t *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, n, f);
    fclose(f);
}

static void test_idx(void) {
    char path[] = "/tmp/norma_test_idx_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    uint8_t data[2 * 3 * 5];
    for (int i = 0; i < 30; i++) data[i] = (uint8_t)(i * 7 + 1);
    int64_t dims[3] = {2, 3, 5};
    CHECK(idx_write(path, 3, dims, data) == 0, "idx_write failed");
    idx_array a;
    char err[256] = "";
    CHECK(idx_read(path, &a, err, sizeof err) == 0, "idx_read: %s", err);
    CHECK(a.ndim == 3 && a.dims[0] == 2 && a.dims[1] == 3 && a.dims[2] == 5 && a.count == 30, "idx header read wrong");
    CHECK(a.data && !memcmp(a.data, data, 30), "idx data read wrong");
    idx_free(&a);
    /* an uncompressed file reads the same */
    uint8_t plain[4 + 4 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 9, 8, 7};
    write_raw(path, plain, sizeof plain);
    CHECK(idx_read(path, &a, err, sizeof err) == 0 && a.count == 3 && a.data[2] == 7, "plain idx: %s", err);
    idx_free(&a);
    /* broken files: each fails with a message naming the problem */
    static const struct {
        uint8_t bytes[12];
        size_t n;
        const char *what;
    } bad[] = {
        {{0, 0}, 2, "too short"},
        {{1, 0, 8, 1, 0, 0, 0, 1, 5}, 9, "magic"},
        {{0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0}, 12, "unsigned byte"},
        {{0, 0, 8, 9}, 4, "number of dimensions"},
        {{0, 0, 8, 1, 0, 0}, 6, "truncated IDX header"},
        {{0, 0, 8, 1, 0, 0, 0, 5, 1, 2}, 10, "truncated IDX data"},
        {{0, 0, 8, 1, 0, 0, 0, 0}, 8, "out of range"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_raw(path, bad[i].bytes, bad[i].n);
        err[0] = 0;
        CHECK(idx_read(path, &a, err, sizeof err) == -1 && strstr(err, bad[i].what) && a.data == NULL,
              "broken idx %zu: got \"%s\", expected \"%s\"", i, err, bad[i].what);
    }
    unlink(path);
    CHECK(idx_read(path, &a, err, sizeof err) == -1 && strstr(err, path), "a missing file: \"%s\"", err);
}

/* ----- convolution ------------------------------------------------------------------------------ */

static double at_in(conv_shape s, const float *x, int n, int y, int xx, int c) {
    if (y < 0 || y >= s.h || xx < 0 || xx >= s.w) return 0.0;
    return x[(((int64_t)n * s.h + y) * s.w + xx) * s.cin + c];
}

static void test_conv(void) {
    conv_shape s = {.n = 2, .h = 5, .w = 4, .cin = 3, .cout = 4};
    int64_t nx = 2 * 5 * 4 * 3, ny = 2 * 5 * 4 * 4, nw = 4 * 9 * 3;
    float x[120], w[108], b[4], y[160], dy[160], dw[108], db[4], dx[120], cols[2 * 5 * 4 * 27], dcols[2 * 5 * 4 * 27];
    for (int i = 0; i < nx; i++) x[i] = (float)rng_normal();
    for (int i = 0; i < nw; i++) w[i] = (float)rng_normal();
    for (int i = 0; i < 4; i++) b[i] = (float)rng_normal();
    for (int i = 0; i < ny; i++) dy[i] = (float)rng_normal();
    conv3x3_forward(s, x, w, b, cols, y);
    conv3x3_backward(s, dy, cols, w, dw, db, dcols, dx);
    double ey = 0, edw = 0, edb = 0, edx = 0;
    double rdw[108] = {0}, rdb[4] = {0}, rdx[120] = {0};
    for (int n = 0; n < s.n; n++)
        for (int yy = 0; yy < s.h; yy++)
            for (int xx = 0; xx < s.w; xx++)
                for (int co = 0; co < s.cout; co++) {
                    int64_t o = (((int64_t)n * s.h + yy) * s.w + xx) * s.cout + co;
                    double acc = b[co];
                    for (int t = 0; t < 9; t++)
                        for (int ci = 0; ci < s.cin; ci++) {
                            double in = at_in(s, x, n, yy + t / 3 - 1, xx + t % 3 - 1, ci);
                            acc += in * w[(co * 9 + t) * s.cin + ci];
                            rdw[(co * 9 + t) * s.cin + ci] += dy[o] * in;
                            int iy = yy + t / 3 - 1, ix = xx + t % 3 - 1;
                            if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
                                rdx[(((int64_t)n * s.h + iy) * s.w + ix) * s.cin + ci] += dy[o] * w[(co * 9 + t) * s.cin + ci];
                        }
                    rdb[co] += dy[o];
                    ey = fmax(ey, fabs(y[o] - acc));
                }
    for (int i = 0; i < nw; i++) edw = fmax(edw, fabs(dw[i] - rdw[i]));
    for (int i = 0; i < 4; i++) edb = fmax(edb, fabs(db[i] - rdb[i]));
    for (int i = 0; i < nx; i++) edx = fmax(edx, fabs(dx[i] - rdx[i]));
    CHECK(ey < 1e-5 && edw < 1e-4 && edb < 1e-5 && edx < 1e-5, "conv vs direct: y %.3g, dw %.3g, db %.3g, dx %.3g", ey,
          edw, edb, edx);
}

/* ----- the network ------------------------------------------------------------------------------ */

enum { SIDE = 8, BATCH = 4, CLASSES = 3 };

static net_config small_config(norm_kind k) {
    return (net_config){.norm = k, .width = {4, 4, 8}, .groups = 2, .image = SIDE, .classes = CLASSES,
                        .max_batch = 16, .seed = 7};
}

/* The gradient of every parameter tensor along a random direction d, against the central difference
 * of the loss (in training mode: BatchNorm on batch statistics, as the backward differentiates). */
static void test_gradients(norm_kind k) {
    net *nt = net_create(&(net_config){0});
    CHECK(nt == NULL, "an invalid configuration must be refused");
    net_config cfg = small_config(k);
    nt = net_create(&cfg);
    float x[BATCH * SIDE * SIDE];
    uint8_t labels[BATCH] = {0, 1, 2, 1};
    for (int i = 0; i < BATCH * SIDE * SIDE; i++) x[i] = (float)rng_normal();
    net_param p[16];
    int np = net_params(nt, p, 16);
    /* move the norm parameters off their initial 1 and 0, so that they matter */
    for (int i = 0; i < np; i++)
        if (strstr(p[i].name, "norm") || strstr(p[i].name, "bias"))
            for (int64_t j = 0; j < p[i].size; j++) p[i].value[j] += (float)(0.3 * rng_normal());
    net_forward(nt, BATCH, x, labels, 1, NULL);
    net_backward(nt);
    for (int i = 0; i < np; i++) {
        float *d = malloc((size_t)p[i].size * sizeof(float)), *keep = malloc((size_t)p[i].size * sizeof(float));
        memcpy(keep, p[i].value, (size_t)p[i].size * sizeof(float));
        double analytic = 0.0, closest = INFINITY, numeric = 0.0;
        for (int64_t j = 0; j < p[i].size; j++) d[j] = (float)rng_normal(), analytic += (double)d[j] * p[i].grad[j];
        /* ReLU and max pooling have kinks: a step that crosses one adds an error of the order of the
         * step. So several steps are tried and the closest counts; a wrong gradient is off at all. */
        static const double steps[] = {1e-3, 3e-4, 1e-4, 3e-5};
        for (int s = 0; s < 4; s++) {
            double l[2];
            for (int side = 0; side < 2; side++) {
                for (int64_t j = 0; j < p[i].size; j++) p[i].value[j] = keep[j] + (float)((side ? -steps[s] : steps[s]) * d[j]);
                l[side] = net_forward(nt, BATCH, x, labels, 1, NULL);
            }
            double fd = (l[0] - l[1]) / (2 * steps[s]);
            if (fabs(fd - analytic) < closest) closest = fabs(fd - analytic), numeric = fd;
        }
        memcpy(p[i].value, keep, (size_t)p[i].size * sizeof(float));
        CHECK(closest <= 1e-2 * fabs(analytic) + 1e-3, "%s net, %s: analytic %.6g, numeric %.6g", norm_name(k),
              p[i].name, analytic, numeric);
        free(d), free(keep);
    }
    net_free(nt);
}

/* Three classes of 8x8 images (a bright row, a bright column, a bright diagonal) in noise: the loss
 * of a short training run must fall well below chance (ln 3). */
static void test_training(norm_kind k) {
    net_config cfg = small_config(k);
    net *nt = net_create(&cfg);
    float x[16 * SIDE * SIDE];
    uint8_t labels[16];
    double first = 0.0, last = 0.0;
    for (int step = 0; step < 400; step++) {
        for (int n = 0; n < 16; n++) {
            int c = (int)rng_int(0, 2), pos = (int)rng_int(1, SIDE - 2);
            labels[n] = (uint8_t)c;
            for (int y = 0; y < SIDE; y++)
                for (int xx = 0; xx < SIDE; xx++) {
                    int on = c == 0 ? y == pos : c == 1 ? xx == pos : y == xx;
                    x[(n * SIDE + y) * SIDE + xx] = (float)(on * 2.0 + 0.5 * rng_normal());
                }
        }
        double loss = net_forward(nt, 16, x, labels, 1, NULL);
        net_backward(nt);
        net_sgd(nt, 0.05f, 0.9f, 5e-4f);
        if (step < 10) first += loss / 10;
        if (step >= 390) last += loss / 10;
    }
    CHECK(last < 0.5 * first && last < 0.5, "%s net: the loss went from %.3f to %.3f", norm_name(k), first, last);
    net_free(nt);
}

int main(void) {
    rng_seed(99);
    test_idx();
    test_conv();
    for (int k = 0; k < NORM_KINDS; k++) {
        test_gradients((norm_kind)k);
        test_training((norm_kind)k);
    }
    return check_summary("test_demo");
}
