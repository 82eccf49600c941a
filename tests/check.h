/* check.h: a minimal test harness. CHECK records a failure with its location and goes on, so one
 * run reports every broken case; main returns check_summary(). */
#ifndef NORMA_TEST_CHECK_H
#define NORMA_TEST_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norma.h"

static long check_total, check_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        check_total++;                                                                             \
        if (!(cond)) {                                                                             \
            if (++check_failed <= 50) {                                                            \
                fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);           \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        norma_status s_ = (call);                                                                  \
        CHECK(s_ == NORMA_OK, "%s returned %s: %s", #call, norma_status_name(s_), norma_last_error()); \
    } while (0)

static inline int check_summary(const char *name) {
    printf("%s: %ld checks, %ld failed\n", name, check_total, check_failed);
    return check_failed ? 1 : 0;
}

/* A small deterministic generator (xorshift64*), so every run sees the same data. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline void rng_seed(uint64_t s) { rng_state = s ? s : 1; }
static inline double rng_uniform(void) { /* in [0, 1) */
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) * 0x1p-53;
}
static inline double rng_normal(void) {
    double u = rng_uniform(), v = rng_uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}
static inline int64_t rng_int(int64_t lo, int64_t hi) { /* in [lo, hi] */
    return lo + (int64_t)(rng_uniform() * (double)(hi - lo + 1));
}

static inline void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* ctest runs the kernel-dependent tests once per kernel variant (NORMA_KERNELS=<name>): true when this
 * CPU cannot run the forced one (norma then keeps its own choice), so that the test reports a skip
 * (exit status 77) instead of testing another variant under this one's name. */
static inline int forced_kernels_unavailable(void) {
    const char *forced = getenv("NORMA_KERNELS");
    if (forced && *forced && strcmp(forced, norma_kernels()) != 0) {
        printf("skipped: this CPU cannot run the %s kernels\n", forced);
        return 1;
    }
    return 0;
}

#endif /* NORMA_TEST_CHECK_H */
