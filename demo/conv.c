/* conv.c: im2col/col2im around OpenBLAS's sgemm. */
#include "conv.h"

#include <cblas.h>
#include <string.h>

/* Offset of the input pixel under tap (ky, kx) of output pixel (y, x), or -1 in the padding. */
static int64_t tap(conv_shape s, int n, int y, int x, int ky, int kx) {
    int yy = y + ky - 1, xx = x + kx - 1;
    if (yy < 0 || yy >= s.h || xx < 0 || xx >= s.w) return -1;
    return (((int64_t)n * s.h + yy) * s.w + xx) * s.cin;
}

static void im2col(conv_shape s, const float *x, float *cols) {
    int64_t k = 9 * (int64_t)s.cin;
    for (int n = 0; n < s.n; n++)
        for (int y = 0; y < s.h; y++)
            for (int xp = 0; xp < s.w; xp++) {
                float *row = cols + (((int64_t)n * s.h + y) * s.w + xp) * k;
                for (int t = 0; t < 9; t++) {
                    int64_t at = tap(s, n, y, xp, t / 3, t % 3);
                    if (at < 0) memset(row + t * s.cin, 0, (size_t)s.cin * sizeof(float));
                    else memcpy(row + t * s.cin, x + at, (size_t)s.cin * sizeof(float));
                }
            }
}

static void col2im(conv_shape s, const float *dcols, float *dx) {
    int64_t k = 9 * (int64_t)s.cin;
    memset(dx, 0, (size_t)s.n * s.h * s.w * s.cin * sizeof(float));
    for (int n = 0; n < s.n; n++)
        for (int y = 0; y < s.h; y++)
            for (int xp = 0; xp < s.w; xp++) {
                const float *row = dcols + (((int64_t)n * s.h + y) * s.w + xp) * k;
                for (int t = 0; t < 9; t++) {
                    int64_t at = tap(s, n, y, xp, t / 3, t % 3);
                    if (at >= 0)
                        for (int c = 0; c < s.cin; c++) dx[at + c] += row[t * s.cin + c];
                }
            }
}

void conv3x3_forward(conv_shape s, const float *x, const float *w, const float *b, float *cols, float *y) {
    int m = s.n * s.h * s.w, k = 9 * s.cin;
    im2col(s, x, cols);
    for (int p = 0; p < m; p++) memcpy(y + (int64_t)p * s.cout, b, (size_t)s.cout * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, s.cout, k, 1.0f, cols, k, w, k, 1.0f, y, s.cout);
}

void conv3x3_backward(conv_shape s, const float *dy, const float *cols, const float *w, float *dw, float *db,
                      float *dcols, float *dx) {
    int m = s.n * s.h * s.w, k = 9 * s.cin;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.cout, k, m, 1.0f, dy, s.cout, cols, k, 0.0f, dw, k);
    for (int c = 0; c < s.cout; c++) db[c] = 0.0f;
    for (int p = 0; p < m; p++)
        for (int c = 0; c < s.cout; c++) db[c] += dy[(int64_t)p * s.cout + c];
    if (!dx) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, s.cout, 1.0f, dy, s.cout, w, k, 0.0f, dcols, k);
    col2im(s, dcols, dx);
}
