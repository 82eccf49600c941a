/* bench_onednn.c: oneDNN (Debian's libdnnl-dev, 2.6) on the cases it has an op for: LayerNorm and
 * BatchNorm (training), forward and backward, with scale and shift, same buffers and shapes as norma.
 * oneDNN 2.6 has no RMSNorm, GroupNorm or InstanceNorm primitive. */
#define _POSIX_C_SOURCE 200809L
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static float *small[8]; /* stats, scale, shift and their gradients */

int bench_onednn_available(void) { return 1; }

static int init(void) {
    if (engine) return 1;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return 0;
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) return 0;
    for (int i = 0; i < 8; i++) {
        small[i] = aligned_alloc(64, 1 << 20);
        for (int k = 0; k < (1 << 18); k++) small[i][k] = i == 2 ? 1.0f : 0.5f;
    }
    return 1;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    int nargs;
    dnnl_exec_arg_t args[10];
} exec_args;

static int arg(exec_args *a, int which, const dnnl_memory_desc_t *md, void *ptr) {
    dnnl_memory_t m;
    if (dnnl_memory_create(&m, md, engine, ptr) != dnnl_success) return 0;
    a->args[a->nargs++] = (dnnl_exec_arg_t){which, m};
    return 1;
}

static double time_primitive(dnnl_primitive_t p, exec_args *a, int reps) {
    double t[64];
    int n = reps < 64 ? reps : 64;
    for (int i = -2; i < n; i++) {
        double t0 = now();
        if (dnnl_primitive_execute(p, stream, a->nargs, a->args) != dnnl_success) return 0.0;
        dnnl_stream_wait(stream);
        if (i >= 0) t[i] = now() - t0;
    }
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && t[k] < t[k - 1]; k--) {
            double s = t[k];
            t[k] = t[k - 1], t[k - 1] = s;
        }
    return t[n / 2];
}

double bench_onednn_time(bench_case *c, int reps) {
    if (!init()) return 0.0;
    int layer = !strncmp(c->op, "layer_norm", 10), bwd = strstr(c->op, "bwd") != NULL;
    dnnl_data_type_t dt = c->dtype == NORMA_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t data, vec, stat;
    unsigned flags = dnnl_use_scale | dnnl_use_shift;
    int64_t channels;
    if (layer) {
        dnnl_dims_t d = {c->d[0], c->d[1]}, s = {c->d[0]}, v = {c->d[1]};
        dnnl_memory_desc_init_by_tag(&data, 2, d, dt, dnnl_ab);
        dnnl_memory_desc_init_by_tag(&stat, 1, s, dnnl_f32, dnnl_a);
        dnnl_memory_desc_init_by_tag(&vec, 1, v, dnnl_f32, dnnl_a);
        channels = c->d[1];
    } else {
        int64_t hw = c->d[2], h = 1;
        while (h * h < hw) h++; /* square images */
        dnnl_dims_t d = {c->d[0], c->d[1], h, hw / h}, v = {c->d[1]};
        dnnl_memory_desc_init_by_tag(&data, 4, d, dt, c->layout == NORMA_CHANNELS_LAST ? dnnl_nhwc : dnnl_nchw);
        dnnl_memory_desc_init_by_tag(&vec, 1, v, dnnl_f32, dnnl_a);
        stat = vec;
        channels = c->d[1];
    }
    (void)channels;
    dnnl_layer_normalization_desc_t ld;
    dnnl_batch_normalization_desc_t bd;
    const_dnnl_op_desc_t fwd_desc = layer ? (const_dnnl_op_desc_t)&ld : (const_dnnl_op_desc_t)&bd;
    dnnl_status_t st = layer ? dnnl_layer_normalization_forward_desc_init(&ld, dnnl_forward_training, &data, &stat, 1e-5f, flags)
                             : dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_training, &data, 1e-5f, flags);
    dnnl_primitive_desc_t fwd_pd, pd;
    if (st != dnnl_success) return 0.0;
    st = dnnl_primitive_desc_create(&fwd_pd, fwd_desc, NULL, engine, NULL);
    if (st != dnnl_success) return st == dnnl_unimplemented ? BENCH_ONEDNN_UNIMPLEMENTED : 0.0;
    pd = fwd_pd;
    if (bwd) {
        dnnl_layer_normalization_desc_t lbd;
        dnnl_batch_normalization_desc_t bbd;
        st = layer ? dnnl_layer_normalization_backward_desc_init(&lbd, dnnl_backward, &data, &data, &stat, 1e-5f, flags)
                   : dnnl_batch_normalization_backward_desc_init(&bbd, dnnl_backward, &data, &data, 1e-5f, flags);
        const_dnnl_op_desc_t bwd_desc = layer ? (const_dnnl_op_desc_t)&lbd : (const_dnnl_op_desc_t)&bbd;
        if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, bwd_desc, NULL, engine, fwd_pd);
        if (st != dnnl_success) {
            dnnl_primitive_desc_destroy(fwd_pd);
            return st == dnnl_unimplemented ? BENCH_ONEDNN_UNIMPLEMENTED : 0.0;
        }
    }
    dnnl_primitive_t prim;
    if (dnnl_primitive_create(&prim, pd) != dnnl_success) return 0.0;
    exec_args a = {0};
    int ok = arg(&a, DNNL_ARG_SRC, &data, c->b->x) && arg(&a, DNNL_ARG_MEAN, &stat, small[0]) &&
             arg(&a, DNNL_ARG_VARIANCE, &stat, small[1]) && arg(&a, DNNL_ARG_SCALE, &vec, small[2]);
    if (bwd)
        ok = ok && arg(&a, DNNL_ARG_DIFF_DST, &data, c->b->dy) && arg(&a, DNNL_ARG_DIFF_SRC, &data, c->b->dx) &&
             arg(&a, DNNL_ARG_DIFF_SCALE, &vec, small[4]) && arg(&a, DNNL_ARG_DIFF_SHIFT, &vec, small[5]) &&
             arg(&a, DNNL_ARG_SHIFT, &vec, small[3]); /* oneDNN 2.6 wants the shift in the backward too */
    else
        ok = ok && arg(&a, DNNL_ARG_SHIFT, &vec, small[3]) && arg(&a, DNNL_ARG_DST, &data, c->b->y);
    double t = ok ? time_primitive(prim, &a, reps) : 0.0;
    for (int i = 0; i < a.nargs; i++) dnnl_memory_destroy(a.args[i].memory);
    dnnl_primitive_destroy(prim);
    if (pd != fwd_pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_desc_destroy(fwd_pd);
    return t;
}
