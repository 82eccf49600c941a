/* test_large.c: tensors of more than 2^31 elements (bf16, 4 GiB): every index and size is 64-bit.
 *
 * The data alternate between two values per row / channel / group, so the statistics are known exactly
 * (mean (a + b)/2, variance ((a - b)/2)²) and every output is ±(a - b)/2·rstd: each element is
 * checked, without a float64 oracle over 2^31 elements. One buffer, normalized in place. */
#include "oracle.h"

#define HUGE_ELEMS (((int64_t)1 << 31) + 96)

static uint16_t *x;

/* a = 2 + 2·(set % 5), b = a + 2: mean a + 1, variance 1, all exact in bf16 (whose bits are the top
 * half of the float's: small integers need no rounding). */
static uint16_t value(int64_t set, int64_t i) {
    float v = (float)(2 + 2 * (set % 5) + 2 * (i & 1));
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return (uint16_t)(bits >> 16);
}

/* y alternates -1/sqrt(1 + eps), +1/sqrt(1 + eps) along a set's elements, rounded to bf16 (eps 1e-5: ±1).
 * The sets: `sets` runs of `len` elements, element k of a run at base + k·step (runs `run_step` apart). */
static int64_t count_wrong(int64_t sets, int64_t len, int64_t run_step, int64_t step) {
    uint16_t want[2];
    store_elem(NORMA_BF16, &want[0], 0, (float)(-1.0 / sqrt(1.0 + 1e-5)));
    store_elem(NORMA_BF16, &want[1], 0, (float)(1.0 / sqrt(1.0 + 1e-5)));
    int64_t wrong = 0;
    for (int64_t r = 0; r < sets; r++) {
        const uint16_t *p = x + r * run_step;
        for (int64_t k = 0; k < len; k++) wrong += p[k * step] != want[k & 1];
    }
    return wrong;
}

/* Fills the sets described as above: element k of set r is value(r, k). */
static void fill_sets(int64_t sets, int64_t len, int64_t run_step, int64_t step) {
    for (int64_t r = 0; r < sets; r++) {
        uint16_t v[2] = {value(r, 0), value(r, 1)};
        uint16_t *p = x + r * run_step;
        for (int64_t k = 0; k < len; k++) p[k * step] = v[k & 1];
    }
}

/* LayerNorm: rows of 4096 */
#define COLS 4096

static void test_layer_norm(void) {
    int64_t rows = HUGE_ELEMS / COLS + 1;
    fill_sets(rows, COLS, COLS, 1);
    CHECK_OK(norma_layer_norm_fwd(NORMA_BF16, rows, COLS, x, NULL, NULL, 1e-5, x, NULL, NULL));
    int64_t wrong = count_wrong(rows, COLS, COLS, 1);
    CHECK(wrong == 0, "LayerNorm of %lld x %d bf16: %lld wrong elements", (long long)rows, COLS, (long long)wrong);
}

/* BatchNorm over more than 2^31 elements: channels-first (1, 2, 2^30 + 6), channels-last (1, 16, 2^27 + 6);
 * a channel alternates along its positions. */
static void test_batch_norm(void) {
    for (int layout = 0; layout < 2; layout++) {
        int64_t C = layout ? 16 : 2, S = layout ? ((int64_t)1 << 27) + 6 : ((int64_t)1 << 30) + 6;
        /* channel c: channels-first a run of S at c·S; channels-last every C-th element from c */
        int64_t run_step = layout ? 1 : S, step = layout ? C : 1;
        fill_sets(C, S, run_step, step);
        float rm[16] = {0}, rv[16], mean[16], rstd[16];
        for (int c = 0; c < 16; c++) rv[c] = 1.0f;
        CHECK_OK(norma_batch_norm_fwd(NORMA_BF16, (norma_layout)layout, 1, C, S, x, NULL, NULL, rm, rv, 1, 1.0, 1e-5, x,
                                      mean, rstd));
        int64_t wrong = count_wrong(C, S, run_step, step);
        CHECK(wrong == 0 && mean[0] == 3.0f && mean[1] == 5.0f && fabsf(rv[0] - 1.0f) < 1e-6f,
              "BatchNorm of (1, %lld, %lld) bf16, layout %d: %lld wrong elements, mean %g %g, running var %g",
              (long long)C, (long long)S, layout, (long long)wrong, (double)mean[0], (double)mean[1], (double)rv[0]);
    }
}

int main(void) {
    x = malloc((size_t)(HUGE_ELEMS + COLS) * sizeof(uint16_t));
    if (!x) {
        printf("skipped: cannot allocate %lld bytes\n", (long long)(HUGE_ELEMS * 2));
        return 77;
    }
    test_layer_norm();
    test_batch_norm();
    free(x);
    return check_summary("test_large");
}
