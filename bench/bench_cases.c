/* bench_cases.c: the benchmark's cases: shapes from FLUX.1, Qwen-Image, LLaMA, the FLUX/SD VAE and
 * ResNet-50 (../shared/reference/dit_and_gpu.md, and the performance issue). */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static void must(norma_status s) {
    if (s != NORMA_OK) {
        fprintf(stderr, "norma-bench: %s\n", norma_last_error());
        exit(1);
    }
}

#define B (c->b)
#define T (c->dtype)

static void layer_fwd(bench_case *c) {
    must(norma_layer_norm_fwd(T, c->d[0], c->d[1], B->x, B->params, B->params, 1e-5, B->y, B->stats[0], B->stats[1]));
}
static void layer_bwd(bench_case *c) {
    must(norma_layer_norm_bwd(T, c->d[0], c->d[1], B->dy, B->x, B->params, B->stats[0], 1e-5, B->dx, B->stats[2],
                              B->stats[3]));
}
/* residual add fused with the norm: x, the residual in dy, the sum into dx */
static void add_layer_fwd(bench_case *c) {
    must(norma_add_layer_norm_fwd(T, c->d[0], c->d[1], B->x, B->dy, B->dx, B->params, B->params, 1e-5, B->y,
                                  B->stats[0], B->stats[1]));
}
static void add_rms_fwd(bench_case *c) {
    must(norma_add_rms_norm_fwd(T, c->d[0], c->d[1], B->x, B->dy, B->dx, B->params, 1e-6, B->y, B->stats[1]));
}
static void rms_fwd(bench_case *c) {
    must(norma_rms_norm_fwd(T, c->d[0], c->d[1], B->x, B->params, 1e-6, B->y, B->stats[1]));
}
static void rms_bwd(bench_case *c) {
    must(norma_rms_norm_bwd(T, c->d[0], c->d[1], B->dy, B->x, B->params, 1e-6, B->dx, B->stats[2]));
}
/* one sample of d[0] tokens, modulation (shift, scale) read from a (1, 6·D) vector, as FLUX */
static void ada_fwd(bench_case *c) {
    int64_t D = c->d[1];
    size_t es = norma_dtype_size(T);
    must(norma_ada_layer_norm_fwd(T, NORMA_LAYER_NORM, 1, c->d[0], D, B->x, B->params, (char *)B->params + D * es,
                                  6 * D, 0, 1e-6, B->y, B->stats[0], B->stats[1]));
}
static void ada_bwd(bench_case *c) {
    int64_t D = c->d[1];
    size_t es = norma_dtype_size(T);
    must(norma_ada_layer_norm_bwd(T, NORMA_LAYER_NORM, 1, c->d[0], D, B->dy, B->x, (char *)B->params + D * es, 6 * D,
                                  0, B->stats[0], 1e-6, B->dx, B->stats[2], (char *)B->stats[2] + D * es));
}
/* a FLUX block's gated residual and next modulated LayerNorm, one sample: gate of the first modulation
 * (chunk 2), shift and scale of the second (chunks 3, 4) of a (1, 6·D) vector. Forward: h in x, the
 * residual in dy, sum into dx. Backward: dsum and dh in the extra buffers, sum in x, h in y. */
static void gated_fwd(bench_case *c) {
    int64_t D = c->d[1];
    char *mod = (char *)B->params;
    size_t es = norma_dtype_size(T);
    must(norma_gated_ada_layer_norm_fwd(T, NORMA_LAYER_NORM, 1, c->d[0], D, B->x, mod + 2 * D * es, B->dy, B->dx,
                                        mod + 3 * D * es, mod + 4 * D * es, 6 * D, 0, 1e-6, B->y, B->stats[0],
                                        B->stats[1]));
}
static void gated_bwd(bench_case *c) {
    int64_t D = c->d[1];
    char *mod = (char *)B->params, *grads = (char *)B->stats[2];
    size_t es = norma_dtype_size(T);
    must(norma_gated_ada_layer_norm_bwd(T, NORMA_LAYER_NORM, 1, c->d[0], D, B->dy, B->extra[0], B->x, B->y,
                                        mod + 2 * D * es, mod + 4 * D * es, 6 * D, 0, B->stats[0], 1e-6, B->dx,
                                        B->extra[1], grads + 2 * D * es, grads + 3 * D * es, grads + 4 * D * es));
}
static void group_fwd(bench_case *c) {
    must(norma_group_norm_fwd(T, c->layout, c->d[0], c->d[1], c->d[2], c->d[3], B->x, B->params, B->params, 1e-6, B->y,
                              B->stats[0], B->stats[1]));
}
static void group_bwd(bench_case *c) {
    must(norma_group_norm_bwd(T, c->layout, c->d[0], c->d[1], c->d[2], c->d[3], B->dy, B->x, B->params, B->stats[0],
                              1e-6, B->dx, B->stats[2], B->stats[3]));
}
static void group_silu_fwd(bench_case *c) {
    must(norma_group_norm_silu_fwd(T, c->layout, c->d[0], c->d[1], c->d[2], c->d[3], B->x, B->params, B->params, 1e-6,
                                   B->y, B->stats[0], B->stats[1]));
}
static void group_silu_bwd(bench_case *c) {
    must(norma_group_norm_silu_bwd(T, c->layout, c->d[0], c->d[1], c->d[2], c->d[3], B->dy, B->x, B->params, B->params,
                                   B->stats[0], B->stats[1], 1e-6, B->dx, B->stats[2], B->stats[3]));
}
static void crms_fwd(bench_case *c) {
    must(norma_channel_rms_norm_fwd(T, c->layout, c->d[0], c->d[1], c->d[2], B->x, B->params, NULL, 1e-12, B->y));
}
static void crms_bwd(bench_case *c) {
    must(norma_channel_rms_norm_bwd(T, c->layout, c->d[0], c->d[1], c->d[2], B->dy, B->x, B->params, 1e-12, B->dx,
                                    B->stats[2], B->stats[3]));
}
static void crms_silu_fwd(bench_case *c) {
    must(norma_channel_rms_norm_silu_fwd(T, c->layout, c->d[0], c->d[1], c->d[2], B->x, B->params, B->params, 1e-12,
                                         B->y));
}
static void crms_silu_bwd(bench_case *c) {
    must(norma_channel_rms_norm_silu_bwd(T, c->layout, c->d[0], c->d[1], c->d[2], B->dy, B->x, B->params, B->params,
                                         1e-12, B->dx, B->stats[2], B->stats[3]));
}
static void batch_fwd(bench_case *c) {
    must(norma_batch_norm_fwd(T, c->layout, c->d[0], c->d[1], c->d[2], B->x, B->params, B->params, NULL, NULL, 1, 0.1,
                              1e-5, B->y, B->stats[0], B->stats[1]));
}
static void batch_bwd(bench_case *c) {
    must(norma_batch_norm_bwd(T, c->layout, c->d[0], c->d[1], c->d[2], B->dy, B->x, B->params, B->stats[0], NULL,
                              NULL, 1, 1e-5, B->dx, B->stats[2], B->stats[3]));
}
static void instance_fwd(bench_case *c) {
    must(norma_instance_norm_fwd(T, c->layout, c->d[0], c->d[1], c->d[2], B->x, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5,
                                 B->y, B->stats[0], B->stats[1]));
}
static void instance_bwd(bench_case *c) {
    must(norma_instance_norm_bwd(T, c->layout, c->d[0], c->d[1], c->d[2], B->dy, B->x, NULL, B->stats[0], NULL, NULL,
                                 1, 1e-5, B->dx, NULL, NULL));
}

/* Weights of rows x cols (dim 0). Spectral norm with one power iteration: u, v in stats[0], stats[1];
 * sigma in stats[2]. Weight norm: g in params, dg in stats[2]. */
static void spectral_fwd(bench_case *c) {
    must(norma_spectral_norm_fwd(T, 1, c->d[0], c->d[1], B->x, B->stats[0], B->stats[1], 1, 1e-12, B->y,
                                 (double *)B->stats[2]));
}
static void spectral_bwd(bench_case *c) {
    must(norma_spectral_norm_bwd(T, 1, c->d[0], c->d[1], B->dy, B->x, B->stats[0], B->stats[1], 3.0, B->dx));
}
static void weight_norm_fwd(bench_case *c) {
    must(norma_weight_norm_fwd(T, 1, c->d[0], c->d[1], B->x, B->params, B->y));
}
static void weight_norm_bwd(bench_case *c) {
    must(norma_weight_norm_bwd(T, 1, c->d[0], c->d[1], B->dy, B->x, B->params, B->dx, B->stats[2]));
}

/* A row norm: rows x cols. Forward 1R+1W, backward 2R+1W. */
static int add_rows(bench_case *out, int i, const char *op, void (*fn)(bench_case *), int bwd, int64_t rows,
                    int64_t cols, int onednn) {
    for (int t = 0; t < 2; t++) {
        bench_case *c = &out[i++];
        *c = (bench_case){.op = op, .dtype = t ? NORMA_BF16 : NORMA_F32, .elems = rows * cols, .reads = 1 + bwd,
                          .writes = 1, .onednn = onednn, .d = {rows, cols}, .run = fn};
        snprintf(c->shape, sizeof c->shape, "%lldx%lld", (long long)rows, (long long)cols);
        c->bytes = (double)c->elems * (double)norma_dtype_size(c->dtype) * (c->reads + c->writes);
    }
    return i;
}

/* A channel norm on (n, c, spatial). `extra`: the statistic set does not fit in cache, so the statistics
 * pass reads the inputs once more (forward: x; backward: x and dy). */
static int add_channels(bench_case *out, int i, const char *op, void (*fn)(bench_case *), int bwd, int64_t n,
                        int64_t ch, int64_t h, int64_t w, int64_t groups, norma_layout layout, int extra,
                        int onednn) {
    for (int t = 0; t < 2; t++) {
        bench_case *c = &out[i++];
        *c = (bench_case){.op = op, .dtype = t ? NORMA_BF16 : NORMA_F32, .elems = n * ch * h * w,
                          .reads = (1 + bwd) * (1 + extra), .writes = 1, .onednn = onednn, .layout = layout,
                          .d = {n, ch, h * w, groups}, .run = fn};
        int k = snprintf(c->shape, sizeof c->shape, "(%lld,%lld,%lld,%lld)", (long long)n, (long long)ch,
                         (long long)h, (long long)w);
        if (groups) k += snprintf(c->shape + k, sizeof c->shape - (size_t)k, " G=%lld", (long long)groups);
        if (layout == NORMA_CHANNELS_LAST) snprintf(c->shape + k, sizeof c->shape - (size_t)k, " NHWC");
        c->bytes = (double)c->elems * (double)norma_dtype_size(c->dtype) * (c->reads + c->writes);
    }
    return i;
}

bench_case *bench_cases(bench_buffers *b, int *count) {
    static bench_case cases[128];
    int i = 0;
    const norma_layout F = NORMA_CHANNELS_FIRST, L = NORMA_CHANNELS_LAST;
    /* transformer rows: FLUX/Qwen-Image hidden 3072, LLaMA 4096, per-head QK norm 128 */
    i = add_rows(cases, i, "layer_norm fwd", layer_fwd, 0, 4096, 3072, 1);
    i = add_rows(cases, i, "layer_norm bwd", layer_bwd, 1, 4096, 3072, 1);
    i = add_rows(cases, i, "layer_norm fwd", layer_fwd, 0, 512, 3072, 1);
    i = add_rows(cases, i, "layer_norm bwd", layer_bwd, 1, 512, 3072, 1);
    i = add_rows(cases, i, "ada_layer_norm fwd (FLUX mod)", ada_fwd, 0, 4096, 3072, 0);
    i = add_rows(cases, i, "ada_layer_norm bwd (FLUX mod)", ada_bwd, 1, 4096, 3072, 0);
    i = add_rows(cases, i, "ada_layer_norm fwd (FLUX mod)", ada_fwd, 0, 512, 3072, 0);
    i = add_rows(cases, i, "ada_layer_norm bwd (FLUX mod)", ada_bwd, 1, 512, 3072, 0);
    /* gated residual + modulated LN: forward reads h, residual, writes sum, y; backward reads dy, dsum,
     * sum, h, writes dresidual, dh (the baseline moves the same bytes as 3 reads + 2 writes) */
    i = add_rows(cases, i, "gated_ada_layer_norm fwd (FLUX)", gated_fwd, 0, 4096, 3072, 0);
    for (int k = i - 2; k < i; k++) cases[k].reads = 2, cases[k].writes = 2, cases[k].bytes *= 2;
    i = add_rows(cases, i, "gated_ada_layer_norm bwd (FLUX)", gated_bwd, 1, 4096, 3072, 0);
    for (int k = i - 2; k < i; k++) cases[k].reads = 3, cases[k].writes = 2, cases[k].bytes *= 2;
    i = add_rows(cases, i, "rms_norm fwd", rms_fwd, 0, 4096, 4096, 0);
    i = add_rows(cases, i, "rms_norm bwd", rms_bwd, 1, 4096, 4096, 0);
    i = add_rows(cases, i, "add_layer_norm fwd (residual)", add_layer_fwd, 0, 4096, 3072, 0);
    for (int k = i - 2; k < i; k++) cases[k].reads = 2, cases[k].writes = 2, cases[k].bytes *= 2;
    i = add_rows(cases, i, "add_rms_norm fwd (residual)", add_rms_fwd, 0, 4096, 4096, 0);
    for (int k = i - 2; k < i; k++) cases[k].reads = 2, cases[k].writes = 2, cases[k].bytes *= 2;
    i = add_rows(cases, i, "rms_norm fwd QK (1,24,4096,128)", rms_fwd, 0, 24 * 4096, 128, 0);
    i = add_rows(cases, i, "rms_norm bwd QK (1,24,4096,128)", rms_bwd, 1, 24 * 4096, 128, 0);
    /* VAE GroupNorm: a group of (512/32)·128² f32 is 1 MiB, of (256/32)·256² 2 MiB: cached channels-first;
     * channels-last a group is strided over the whole tensor (32/64 MiB f32) */
    i = add_channels(cases, i, "group_norm fwd", group_fwd, 0, 1, 512, 128, 128, 32, F, 0, 0);
    i = add_channels(cases, i, "group_norm bwd", group_bwd, 1, 1, 512, 128, 128, 32, F, 0, 0);
    i = add_channels(cases, i, "group_norm fwd", group_fwd, 0, 1, 512, 128, 128, 32, L, 1, 0);
    i = add_channels(cases, i, "group_norm bwd", group_bwd, 1, 1, 512, 128, 128, 32, L, 1, 0);
    i = add_channels(cases, i, "group_norm fwd", group_fwd, 0, 1, 256, 256, 256, 32, F, 0, 0);
    i = add_channels(cases, i, "group_norm bwd", group_bwd, 1, 1, 256, 256, 256, 32, F, 0, 0);
    i = add_channels(cases, i, "group_norm fwd", group_fwd, 0, 1, 256, 256, 256, 32, L, 1, 0);
    i = add_channels(cases, i, "group_norm bwd", group_bwd, 1, 1, 256, 256, 256, 32, L, 1, 0);
    /* GroupNorm + SiLU, fused: the VAE blocks' norm and activation in the passes of the norm alone */
    i = add_channels(cases, i, "group_norm_silu fwd", group_silu_fwd, 0, 1, 512, 128, 128, 32, F, 0, 0);
    i = add_channels(cases, i, "group_norm_silu bwd", group_silu_bwd, 1, 1, 512, 128, 128, 32, F, 0, 0);
    i = add_channels(cases, i, "group_norm_silu fwd", group_silu_fwd, 0, 1, 512, 128, 128, 32, L, 1, 0);
    i = add_channels(cases, i, "group_norm_silu bwd", group_silu_bwd, 1, 1, 512, 128, 128, 32, L, 1, 0);
    /* Qwen-Image VAE channel RMSNorm */
    i = add_channels(cases, i, "channel_rms_norm fwd", crms_fwd, 0, 1, 384, 128, 128, 0, F, 0, 0);
    i = add_channels(cases, i, "channel_rms_norm bwd", crms_bwd, 1, 1, 384, 128, 128, 0, F, 0, 0);
    i = add_channels(cases, i, "channel_rms_norm fwd", crms_fwd, 0, 1, 384, 128, 128, 0, L, 0, 0);
    i = add_channels(cases, i, "channel_rms_norm bwd", crms_bwd, 1, 1, 384, 128, 128, 0, L, 0, 0);
    i = add_channels(cases, i, "channel_rms_norm_silu fwd", crms_silu_fwd, 0, 1, 384, 128, 128, 0, F, 0, 0);
    i = add_channels(cases, i, "channel_rms_norm_silu bwd", crms_silu_bwd, 1, 1, 384, 128, 128, 0, F, 0, 0);
    i = add_channels(cases, i, "channel_rms_norm_silu fwd", crms_silu_fwd, 0, 1, 384, 128, 128, 0, L, 0, 0);
    i = add_channels(cases, i, "channel_rms_norm_silu bwd", crms_silu_bwd, 1, 1, 384, 128, 128, 0, L, 0, 0);
    /* ResNet-50 BatchNorm, training: a channel of (16,·,56,56) is 200 KiB f32, of (32,·,112,112) 1.6 MiB */
    i = add_channels(cases, i, "batch_norm fwd train", batch_fwd, 0, 16, 256, 56, 56, 0, F, 0, 1);
    i = add_channels(cases, i, "batch_norm bwd train", batch_bwd, 1, 16, 256, 56, 56, 0, F, 0, 1);
    i = add_channels(cases, i, "batch_norm fwd train", batch_fwd, 0, 32, 64, 112, 112, 0, F, 0, 1);
    i = add_channels(cases, i, "batch_norm bwd train", batch_bwd, 1, 32, 64, 112, 112, 0, F, 0, 1);
    i = add_channels(cases, i, "batch_norm fwd train", batch_fwd, 0, 16, 256, 56, 56, 0, L, 1, 1);
    i = add_channels(cases, i, "batch_norm bwd train", batch_bwd, 1, 16, 256, 56, 56, 0, L, 1, 1);
    i = add_channels(cases, i, "instance_norm fwd", instance_fwd, 0, 8, 256, 64, 64, 0, F, 0, 0);
    i = add_channels(cases, i, "instance_norm bwd", instance_bwd, 1, 8, 256, 64, 64, 0, F, 0, 0);
    /* weight reparametrizations of a 4096 x 4096 weight. Spectral norm's training forward must read the
     * weight 3 times (the two products of one power iteration, then y = W/sigma); its backward reads dy
     * twice (dweight needs <dy, W> over the whole weight first) */
    i = add_rows(cases, i, "spectral_norm fwd (1 iteration)", spectral_fwd, 0, 4096, 4096, 0);
    for (int k = i - 2; k < i; k++) cases[k].reads = 3, cases[k].bytes *= 2;
    i = add_rows(cases, i, "spectral_norm bwd", spectral_bwd, 1, 4096, 4096, 0);
    for (int k = i - 2; k < i; k++) cases[k].reads = 3, cases[k].bytes *= 4.0 / 3.0;
    i = add_rows(cases, i, "weight_norm fwd", weight_norm_fwd, 0, 4096, 4096, 0);
    i = add_rows(cases, i, "weight_norm bwd", weight_norm_bwd, 1, 4096, 4096, 0);
    /* LLM decoding: one row of 4096, one thread */
    cases[i] = (bench_case){.op = "rms_norm fwd latency", .dtype = NORMA_F32, .elems = 4096, .latency = 1,
                            .d = {1, 4096}, .run = rms_fwd};
    snprintf(cases[i++].shape, 48, "1x4096");
    for (int k = 0; k < i; k++) cases[k].b = b;
    *count = i;
    return cases;
}
