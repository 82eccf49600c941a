/* norma-bench: times every op, forward and backward, in f32 and bf16, on the shapes of FLUX.1,
 * Qwen-Image, LLaMA, the FLUX/SD VAE and ResNet-50, and compares each with a streaming baseline that
 * moves the same bytes (y = a·x, same threads, the faster of ordinary and streaming stores) measured in
 * the same run, and with oneDNN where it has the op (when built with it).
 *
 *   build/norma-bench [--json] [--filter TEXT [--exact]] [--reps N] [--threads N]   (N of reps: 1 to 64)
 *   build/norma-bench --list
 *
 * --filter runs the cases whose label ("op dtype shape") contains TEXT, or with --exact is TEXT; --list
 * prints the labels, one per line (bench_torch.py runs the cases one by one, each beside PyTorch's).
 *
 * Per case: median time of N warm repetitions, GB/s of the minimal traffic (one read of every input,
 * one write of every output, plus one more read of x where the statistics must be complete before any
 * output and the statistic set does not fit in cache), and norma's speed as a fraction of the
 * baseline's over the same bytes ("of limit"). norma and the baselines are each timed back to back on
 * warm data, as oneDNN and PyTorch are, one right after the other. See bench/README.md. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "bench.h"
#include "internal.h"
#include "norma.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ----- buffers: allocated and touched once ----------------------------------------------------- */

#define MAX_ELEMS ((int64_t)32 * 64 * 112 * 112) /* the largest case: ResNet-50 conv1 BatchNorm */
static float *buf[6]; /* x, y, dy, dx, and two for the baseline */
static float *params, *stats[4];

static void *touch(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "norma-bench: out of memory\n");
        exit(1);
    }
    memset(p, 0, bytes);
    return p;
}

/* Values in [-1.5, 2.5) from a seed. x and dy take different seeds: with dy = x, weight norm's backward
 * wrote dv = (g/|v|)·(dw - v̂(v̂·dw)) = 0 up to rounding, a degenerate output. */
static void fill(float *p, int64_t n, norma_dtype t, unsigned seed) {
    unsigned s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float v = (float)((int)(s >> 9) - (1 << 22)) * 0x1p-21f + 0.5f;
        if (t == NORMA_F32) p[i] = v;
        else ((uint16_t *)p)[i] = (uint16_t)(f32_bits_of(v) >> 16); /* bf16 (truncated; fine for data) */
    }
}

/* ----- the streaming baseline: out = a·in0 (+ in1 + in2), f32, same thread pool -----------------
 * Twice: with ordinary stores, and with streaming stores (past the caches, no read for ownership of the
 * output's lines, as norma stores its large outputs); the faster of the two is the limit. With ordinary
 * stores alone, a host whose read for ownership is costly (the Intel host of 2026-12-06) put norma at
 * up to 163% of the "limit". */

typedef struct {
    int reads, writes, streaming;
    int64_t n, block;
} stream_job;

/* y = 1.5·a (+ b + c, by the reads), and z = y by the writes, over [i0, i) with streaming stores, i the end
 * of the whole vectors within [i0, i1): returns i, the tail's start (none without AVX) */
static int64_t stream_stores(const stream_job *j, int64_t i0, int64_t i1, const float *a, const float *b,
                             const float *c, float *y, float *z) {
    int64_t i = i0;
#if defined(__AVX512F__)
    for (; i + 16 <= i1; i += 16) { /* i0 is a multiple of the block: 64-byte aligned */
        __m512 v = _mm512_mul_ps(_mm512_set1_ps(1.5f), _mm512_load_ps(a + i));
        if (j->reads > 1) v = _mm512_add_ps(v, _mm512_load_ps(b + i));
        if (j->reads > 2) v = _mm512_add_ps(v, _mm512_load_ps(c + i));
        _mm512_stream_ps(y + i, v);
        if (j->writes == 2) _mm512_stream_ps(z + i, v);
    }
#elif defined(__AVX__)
    for (; i + 8 <= i1; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_set1_ps(1.5f), _mm256_load_ps(a + i));
        if (j->reads > 1) v = _mm256_add_ps(v, _mm256_load_ps(b + i));
        if (j->reads > 2) v = _mm256_add_ps(v, _mm256_load_ps(c + i));
        _mm256_stream_ps(y + i, v);
        if (j->writes == 2) _mm256_stream_ps(z + i, v);
    }
#endif
    (void)j, (void)a, (void)b, (void)c, (void)y, (void)z;
    return i;
}

static void stream_task(void *ctx, int64_t t) {
    const stream_job *j = ctx;
    int64_t i0 = t * j->block, i1 = i0 + j->block < j->n ? i0 + j->block : j->n;
    const float *a = buf[0], *b = buf[2], *c = buf[4];
    float *y = buf[1], *z = buf[3];
    if (j->streaming) {
        i0 = stream_stores(j, i0, i1, a, b, c, y, z); /* the tail below */
        for (int64_t i = i0; i < i1; i++) {
            y[i] = 1.5f * a[i] + (j->reads > 1 ? b[i] : 0.0f) + (j->reads > 2 ? c[i] : 0.0f);
            if (j->writes == 2) z[i] = y[i];
        }
        return; /* the pool fences the streaming stores after each thread's tasks */
    }
    if (j->reads == 1)
        for (int64_t i = i0; i < i1; i++) y[i] = 1.5f * a[i];
    else if (j->reads == 2)
        for (int64_t i = i0; i < i1; i++) y[i] = 1.5f * a[i] + b[i];
    else
        for (int64_t i = i0; i < i1; i++) y[i] = 1.5f * a[i] + b[i] + c[i];
    if (j->writes == 2)
        for (int64_t i = i0; i < i1; i++) z[i] = y[i];
}

/* Moves `bytes`: reads `reads` arrays and writes `writes` of bytes/(4·(reads+writes)) floats each. */
static void stream(double bytes, int reads, int writes, int streaming) {
    stream_job j = {reads, writes, streaming, (int64_t)(bytes / (4.0 * (reads + writes))), 1 << 16};
    norma_parallel_for(ceil_div(j.n, j.block), j.n < (1 << 16), stream_task, &j);
}

/* ----- the cases ------------------------------------------------------------------------------ */

#define MAX_REPS 64
static int reps = 15;

static double median(double *t, int n) {
    for (int i = 1; i < n; i++) /* insertion sort: small n */
        for (int k = i; k > 0 && t[k] < t[k - 1]; k--) {
            double s = t[k];
            t[k] = t[k - 1], t[k - 1] = s;
        }
    return t[n / 2];
}

/* What median_times times: norma's call of the case, or a baseline over its bytes (`streaming`: with
 * streaming stores or not; -1 for norma). */
typedef struct {
    bench_case *c;
    int streaming;
} contestant;

static void run_contestant(const contestant *k) {
    if (k->streaming < 0) k->c->run(k->c);
    else stream(k->c->bytes, k->c->reads, k->c->writes, k->streaming);
}

/* The median time of `reps` calls back to back, after an untimed one: each call finds its own data as
 * warm as back-to-back calls leave it, as in oneDNN's loop (bench_onednn.c) and PyTorch's. */
static double median_back_to_back(contestant k) {
    double t[MAX_REPS];
    run_contestant(&k);
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        run_contestant(&k);
        t[i] = now() - t0;
    }
    return median(t, reps);
}

/* The two baselines and norma, one after the other within a fraction of a second, so that all three
 * see the same machine (other tenants come and go); the limit is the faster baseline's. (Until
 * 2026-12-08 the three alternated call by call: norma then ran right after the baselines, and a tensor
 * that fits the last-level cache came partly from memory for norma and from the cache for oneDNN and
 * PyTorch. On the Intel host of 2026-12-08, 480 MiB L3, LayerNorm 512 x 3072 f32 forward took 0.52 ms
 * so, 0.39-0.45 ms after one untimed call, 0.31-0.32 ms back to back.) */
static void median_times(bench_case *c, double *t_norma, double *t_base) {
    double plain = median_back_to_back((contestant){c, 0}), streamed = median_back_to_back((contestant){c, 1});
    *t_norma = median_back_to_back((contestant){c, -1});
    *t_base = plain < streamed ? plain : streamed;
}

/* Latency of one call on one thread: the median over batches of 1000 calls. */
static double latency(bench_case *c) {
    double t[15];
    for (int w = 0; w < 100; w++) c->run(c);
    for (int i = 0; i < 15; i++) {
        double t0 = now();
        for (int k = 0; k < 1000; k++) c->run(c);
        t[i] = (now() - t0) / 1000;
    }
    return median(t, 15);
}

static void check(norma_status s, const char *what) {
    if (s != NORMA_OK) {
        fprintf(stderr, "norma-bench: %s failed: %s\n", what, norma_last_error());
        exit(1);
    }
}

/* *out = s as a whole decimal integer in [lo, hi]; 0 if it is not one */
static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

/* "op dtype shape", what --filter matches */
static const char *case_label(const bench_case *c) {
    static char label[160];
    snprintf(label, sizeof label, "%s %s %s", c->op, c->dtype == NORMA_BF16 ? "bf16" : "f32", c->shape);
    return label;
}

int main(int argc, char **argv) {
    int json = 0, threads = 0, exact = 0, list = 0;
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        int ok = 1;
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--exact")) exact = 1;
        else if (!strcmp(argv[i], "--list")) list = 1;
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) ok = parse_int(argv[++i], 1, MAX_REPS, &reps);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) ok = parse_int(argv[++i], 1, 4096, &threads);
        else ok = 0;
        if (!ok) {
            fprintf(stderr, "usage: %s [--json] [--filter TEXT [--exact]] [--reps N (1-%d)] [--threads N (>= 1)] | --list\n",
                    argv[0], MAX_REPS);
            return 2;
        }
    }
    if (threads > 0) check(norma_set_num_threads(threads), "norma_set_num_threads");
    if (list) {
        bench_buffers none = {0};
        int n;
        bench_case *cases = bench_cases(&none, &n);
        for (int i = 0; i < n; i++) printf("%s\n", case_label(&cases[i]));
        return 0;
    }
    for (int i = 0; i < 6; i++) buf[i] = touch((size_t)MAX_ELEMS * sizeof(float));
    params = touch(1 << 20);
    for (int i = 0; i < 4; i++) stats[i] = touch(1 << 22);
    fill(buf[0], MAX_ELEMS, NORMA_F32, 1), fill(buf[2], MAX_ELEMS, NORMA_F32, 2), fill(params, 1 << 18, NORMA_F32, 3);
    fill(stats[0], 1 << 18, NORMA_F32, 4), fill(stats[1], 1 << 18, NORMA_F32, 5); /* spectral norm's u and v: not 0 */

    bench_buffers bb = {.x = buf[0], .y = buf[1], .dy = buf[2], .dx = buf[3], .params = params,
                        .extra = {buf[4], buf[5]}};
    for (int i = 0; i < 4; i++) bb.stats[i] = stats[i];
    int ncases;
    bench_case *cases = bench_cases(&bb, &ncases);

    if (json) printf("[\n");
    else {
        printf("norma %s, kernels %s, f32 computed in %s, %d threads; median of %d; limit = y=a*x over the same "
               "bytes, the faster of ordinary and streaming stores\n",
               norma_version(), norma_kernels(), norma_get_f32_compute() == NORMA_F32_COMPUTE_FLOAT ? "float" : "double",
               norma_get_num_threads(), reps);
        printf("%-34s %-5s %-22s %10s %8s %9s %9s %s\n", "op", "dtype", "shape", "time", "GB/s", "limit",
               "of limit", bench_onednn_available() ? "oneDNN (time, norma speedup)" : "");
    }
    int first = 1;
    for (int i = 0; i < ncases; i++) {
        bench_case *c = &cases[i];
        const char *label = case_label(c);
        if (filter && (exact ? strcmp(label, filter) != 0 : !strstr(label, filter))) continue;
        bb.dtype = c->dtype;
        fill(buf[0], c->elems, c->dtype, 1), fill(buf[2], c->elems, c->dtype, 2), fill(params, 1 << 18, c->dtype, 3);
        if (c->latency) {
            int old = norma_get_num_threads();
            check(norma_set_num_threads(1), "threads");
            double t = latency(c);
            check(norma_set_num_threads(old), "threads");
            if (json)
                printf("%s  {\"op\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\", \"latency_us\": %.4f}", first ? "" : ",\n",
                       c->op, c->dtype == NORMA_BF16 ? "bf16" : "f32", c->shape, t * 1e6);
            else
                printf("%-34s %-5s %-22s %8.3f us  (one thread, per call)\n", c->op, c->dtype == NORMA_BF16 ? "bf16" : "f32",
                       c->shape, t * 1e6);
            first = 0;
            fflush(stdout);
            continue;
        }
        double tn, tb, to = c->onednn ? bench_onednn_time(c, reps) : 0.0;
        median_times(c, &tn, &tb);
        double gbs = c->bytes / tn * 1e-9, of = tb / tn;
        if (json) {
            printf("%s  {\"op\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\", \"ms\": %.4f, \"gbps\": %.2f, "
                   "\"baseline_ms\": %.4f, \"of_limit\": %.3f, \"bytes\": %.0f",
                   first ? "" : ",\n", c->op, c->dtype == NORMA_BF16 ? "bf16" : "f32", c->shape, tn * 1e3, gbs, tb * 1e3,
                   of, c->bytes);
            if (to > 0) printf(", \"onednn_ms\": %.4f", to * 1e3);
            if (to == BENCH_ONEDNN_UNIMPLEMENTED) printf(", \"onednn_ms\": null");
            printf("}");
        } else {
            printf("%-34s %-5s %-22s %7.3f ms %8.1f %6.3f ms %8.0f%%", c->op, c->dtype == NORMA_BF16 ? "bf16" : "f32",
                   c->shape, tn * 1e3, gbs, tb * 1e3, 100.0 * of);
            if (to > 0) printf("   %7.3f ms  %.2fx", to * 1e3, to / tn);
            if (to == BENCH_ONEDNN_UNIMPLEMENTED) printf("   (none on this CPU)");
            printf("\n");
        }
        first = 0;
        fflush(stdout);
    }
    if (json) printf("\n]\n");
    return 0;
}
