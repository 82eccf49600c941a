/* fuzz_api.c: a libFuzzer target over norma's whole public C API.
 *
 * Each input picks an entry point, a dtype, a layout, sizes (mostly small, sometimes 0, negative or so
 * large that the tensor cannot exist), eps, momentum, groups, strides, which pointers are NULL and the
 * data (normal numbers, and NaN, Inf, huge, tiny and subnormal values). The call is made twice, with
 * the kernels this CPU chose and with the portable reference, from the same starting buffers. Then:
 *   - both calls return the same status;
 *   - a failed call has left every buffer untouched (outputs, running statistics, u and v);
 *   - a successful call gives bitwise-identical buffers under both variants (NaN payloads aside),
 *     inputs included (so nothing writes where it should not);
 *   - and, under AddressSanitizer and UndefinedBehaviorSanitizer, no access outside the buffers and no
 *     undefined behaviour. Buffers are allocated to the exact size the sizes imply, so an overrun is
 *     caught; sizes too large to allocate must be rejected, and get a token buffer.
 * Built with clang -fsanitize=fuzzer (scripts/reliability.sh); replay.c runs the corpus in ordinary
 * builds as a ctest. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/convert.h"
#include "kernels/kernels.h"
#include "norma.h"

/* ----- reading the input --------------------------------------------------------------------------- */

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static unsigned byte(input *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

/* Mostly 0..16, sometimes up to 40, sometimes negative, sometimes larger than any tensor can be
 * (above PTRDIFF_MAX/8: every call must reject such a size, whatever the others are). */
static int64_t size_of(input *in) {
    unsigned b = byte(in);
    if (b < 200) return b % 17;
    if (b < 235) return 17 + b % 24;
    if (b < 245) return ((int64_t)1 << 61) + (int64_t)(b % 3) * ((int64_t)1 << 60);
    return -1 - (int64_t)(b % 4);
}

static double eps_of(input *in) {
    static const double table[] = {1e-5, 1e-5, 1e-6, 0.0, 1e-12, 1.0, NAN, -1e-5, INFINITY, 1e-300};
    return table[byte(in) % 10];
}

static double momentum_of(input *in) {
    static const double table[] = {0.1, 0.1, 0.0, 1.0, 0.5, NAN, -0.1, 1.5};
    return table[byte(in) % 8];
}

/* A data value: mostly moderate, sometimes special. */
static float value_of(input *in) {
    static const float special[] = {0.0f, -0.0f, 1.0f, NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 1e-40f, 3e38f,
                                    1e4f, 65504.0f};
    unsigned b = byte(in);
    if (b >= 240) return special[b % 12];
    return ((float)b - 120.0f) * 0.05f + (float)byte(in) * 0.0003f;
}

/* ----- buffers ------------------------------------------------------------------------------------- */

/* CAP: more elements than any buffer of small sizes needs (40³ at most), so that only buffers of an
 * impossible size (a call that must fail) get a token allocation. */
enum { MAX_BUFS = 12, CAP = 1 << 17 };
typedef enum { DATA, F32S, F64S } kind; /* elements of the call's dtype, floats, doubles */

typedef struct buffer {
    kind kind;
    int64_t count; /* elements the sizes imply (may be huge: then `token`) */
    bool null, token;
    void *p, *start; /* the buffer, and a copy of its contents before the calls */
    size_t bytes;
} buffer;

typedef struct call {
    norma_dtype dtype; /* of the call (sometimes invalid) */
    norma_dtype elem;  /* of the DATA buffers' contents */
    norma_layout layout;
    int64_t d[5];
    double eps, momentum, scalar;
    int flag, mode;
    int64_t s1, s2; /* strides */
    buffer b[MAX_BUFS];
    int nbufs;
} call;

static size_t elem_bytes(const call *c, kind k) { return k == DATA ? norma_dtype_size(c->elem) : k == F32S ? 4 : 8; }

/* Product of sizes saturated far above CAP (negative sizes count as 0 elements). */
static int64_t count_of(int64_t a, int64_t b, int64_t c) {
    int64_t v[3] = {a, b, c}, p = 1;
    for (int i = 0; i < 3; i++) {
        if (v[i] <= 0) return 0;
        p = v[i] > ((int64_t)1 << 40) / p ? (int64_t)1 << 40 : p * v[i];
    }
    return p;
}

static void add(call *c, kind k, int64_t count, input *in) {
    buffer *b = &c->b[c->nbufs++];
    b->kind = k, b->count = count < 0 ? 0 : count;
    b->null = byte(in) >= 246; /* sometimes a missing pointer */
    b->token = b->count > CAP;
    b->bytes = (size_t)(b->token ? 16 : b->count) * elem_bytes(c, k);
    if (b->null) return;
    b->p = malloc(b->bytes ? b->bytes : 1);
    b->start = malloc(b->bytes ? b->bytes : 1);
    for (size_t i = 0; i < b->bytes / elem_bytes(c, k); i++) {
        float v = value_of(in);
        if (k == DATA) store_elem(c->elem, b->p, (int64_t)i, v);
        else if (k == F32S) ((float *)b->p)[i] = v;
        else ((double *)b->p)[i] = v;
    }
    memcpy(b->start, b->p, b->bytes);
}

static void *P(call *c, int i) { return c->b[i].null ? NULL : c->b[i].p; }

static void free_call(call *c) {
    for (int i = 0; i < c->nbufs; i++) free(c->b[i].p), free(c->b[i].start);
}

/* ----- the entry points ------------------------------------------------------------------------------ */

typedef struct op {
    const char *name;
    void (*buffers)(call *c, input *in); /* declares the buffers from the sizes */
    norma_status (*run)(call *c);
} op;

#define D c->dtype
#define L c->layout
#define N0 c->d[0]
#define N1 c->d[1]
#define N2 c->d[2]
#define N3 c->d[3]

/* rows x cols */
static void rows_fwd(call *c, input *in) {
    add(c, DATA, count_of(N0, N1, 1), in), add(c, DATA, N1, in), add(c, DATA, N1, in);
    add(c, DATA, count_of(N0, N1, 1), in), add(c, F32S, N0, in), add(c, F32S, N0, in);
}
static void rows_bwd(call *c, input *in) {
    add(c, DATA, count_of(N0, N1, 1), in), add(c, DATA, count_of(N0, N1, 1), in), add(c, DATA, N1, in);
    add(c, F32S, N0, in), add(c, DATA, count_of(N0, N1, 1), in), add(c, F32S, N1, in), add(c, F32S, N1, in);
}
static norma_status layer_fwd(call *c) {
    return norma_layer_norm_fwd(D, N0, N1, P(c, 0), P(c, 1), P(c, 2), c->eps, P(c, 3), P(c, 4), P(c, 5));
}
static norma_status layer_bwd(call *c) {
    return norma_layer_norm_bwd(D, N0, N1, P(c, 0), P(c, 1), P(c, 2), P(c, 3), c->eps, P(c, 4), P(c, 5), P(c, 6));
}
static norma_status rms_fwd(call *c) { return norma_rms_norm_fwd(D, N0, N1, P(c, 0), P(c, 1), c->eps, P(c, 3), P(c, 5)); }
static norma_status rms_bwd(call *c) {
    return norma_rms_norm_bwd(D, N0, N1, P(c, 0), P(c, 1), P(c, 2), c->eps, P(c, 4), P(c, 5));
}
/* fused residual add: x, residual, sum in buffers 0, 3 (sum may be in place), y in 6 */
static void add_fwd_bufs(call *c, input *in) {
    rows_fwd(c, in);
    add(c, DATA, count_of(N0, N1, 1), in);
}
static void *sum_of(call *c) { return c->flag & 8 ? P(c, 3) : P(c, 6); } /* residual += x, or a new buffer */
static norma_status add_ln_fwd(call *c) {
    return norma_add_layer_norm_fwd(D, N0, N1, P(c, 0), P(c, 3), sum_of(c), P(c, 1), P(c, 2), c->eps, P(c, 0), P(c, 4),
                                    P(c, 5));
}
static norma_status add_rms_fwd(call *c) {
    return norma_add_rms_norm_fwd(D, N0, N1, P(c, 0), P(c, 3), sum_of(c), P(c, 1), c->eps, P(c, 0), P(c, 5));
}
static void add_bwd_bufs(call *c, input *in) {
    rows_bwd(c, in);
    add(c, DATA, count_of(N0, N1, 1), in);
}
static norma_status add_ln_bwd(call *c) {
    return norma_add_layer_norm_bwd(D, N0, N1, P(c, 0), P(c, 7), P(c, 1), P(c, 2), P(c, 3), c->eps, P(c, 4), P(c, 5),
                                    P(c, 6));
}
static norma_status add_rms_bwd(call *c) {
    return norma_add_rms_norm_bwd(D, N0, N1, P(c, 0), P(c, 7), P(c, 1), P(c, 2), c->eps, P(c, 4), P(c, 5));
}
static norma_status l2_fwd(call *c) { return norma_l2_normalize_fwd(D, N0, N1, P(c, 0), c->eps, P(c, 3)); }
static norma_status l2_bwd(call *c) { return norma_l2_normalize_bwd(D, N0, N1, P(c, 0), P(c, 1), c->eps, P(c, 4)); }

/* AdaLN: batch x tokens x dim, modulation vectors with strides s1 (sample), s2 (token) */
/* A stride unit from a size: the size, or 41 for an impossible one (no overflow in the harness). */
static int64_t unit(int64_t size) { return size > 40 ? 41 : size; }

/* Elements of the modulation vectors, as norma.h defines them: per token (a token stride and more than
 * one token) for every row that exists; otherwise per sample for every sample, or one shared vector
 * (sample stride 0) that exists even without rows. */
static int64_t mod_extent(call *c) {
    if (N2 <= 0 || c->s1 < 0 || c->s2 < 0) return 0;
    if (N0 > 40 || N1 > 40 || N2 > 40) return (int64_t)1 << 40; /* an impossible size: no real buffer */
    bool per_token = c->s2 != 0 && N1 > 1;
    if (!per_token) return c->s1 == 0 ? N2 : N0 <= 0 ? 0 : (N0 - 1) * c->s1 + N2;
    return N0 <= 0 ? 0 : (N0 - 1) * c->s1 + (N1 - 1) * c->s2 + N2;
}
static void ada_fwd_bufs(call *c, input *in) {
    c->s1 = (int64_t)(byte(in) % 3) * unit(N2) - (byte(in) == 255), c->s2 = (byte(in) % 2) * unit(N2);
    add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, mod_extent(c), in), add(c, DATA, mod_extent(c), in);
    add(c, DATA, count_of(N0, N1, N2), in), add(c, F32S, count_of(N0, N1, 1), in), add(c, F32S, count_of(N0, N1, 1), in);
}
static void ada_bwd_bufs(call *c, input *in) {
    c->s1 = (int64_t)(byte(in) % 3) * unit(N2), c->s2 = (byte(in) % 2) * unit(N2);
    add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, mod_extent(c), in);
    add(c, F32S, count_of(N0, N1, 1), in), add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, mod_extent(c), in);
    add(c, DATA, mod_extent(c), in);
}
static norma_status ada_fwd(call *c) {
    return norma_ada_layer_norm_fwd(D, (norma_norm_kind)(c->flag % 3), N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), c->s1,
                                    c->s2, c->eps, P(c, 3), P(c, 4), P(c, 5));
}
static norma_status ada_bwd(call *c) {
    return norma_ada_layer_norm_bwd(D, (norma_norm_kind)(c->flag % 3), N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), c->s1,
                                    c->s2, P(c, 3), c->eps, P(c, 4), P(c, 5), P(c, 6));
}

/* gated residual + AdaLN: the AdaLN's buffers, then (forward) residual 6, gate 7, a new sum 8 (or the
 * residual in place); (backward) dsum 7, h 8, gate 9, dh 10, dgate 11 */
static void gated_fwd_bufs(call *c, input *in) {
    ada_fwd_bufs(c, in);
    add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, mod_extent(c), in), add(c, DATA, count_of(N0, N1, N2), in);
}
static norma_status gated_fwd(call *c) {
    return norma_gated_ada_layer_norm_fwd(D, (norma_norm_kind)(c->flag % 3), N0, N1, N2, P(c, 0), P(c, 7), P(c, 6),
                                          c->flag & 8 ? P(c, 6) : P(c, 8), P(c, 1), P(c, 2), c->s1, c->s2, c->eps,
                                          P(c, 3), P(c, 4), P(c, 5));
}
static void gated_bwd_bufs(call *c, input *in) {
    ada_bwd_bufs(c, in);
    int64_t all = count_of(N0, N1, N2);
    add(c, DATA, all, in), add(c, DATA, all, in), add(c, DATA, mod_extent(c), in), add(c, DATA, all, in);
    add(c, DATA, mod_extent(c), in);
}
static norma_status gated_bwd(call *c) {
    return norma_gated_ada_layer_norm_bwd(D, (norma_norm_kind)(c->flag % 3), N0, N1, N2, P(c, 0), P(c, 7), P(c, 1),
                                          P(c, 8), P(c, 9), P(c, 2), c->s1, c->s2, P(c, 3), c->eps, P(c, 4),
                                          c->flag & 8 ? P(c, 0) : P(c, 10), P(c, 11), P(c, 5), P(c, 6));
}

/* channel norms: n x c x spatial (groups N3) */
static void chan_fwd_bufs(call *c, input *in) {
    int64_t all = count_of(N0, N1, N2);
    add(c, DATA, all, in), add(c, DATA, N1, in), add(c, DATA, N1, in), add(c, F32S, N1, in), add(c, F32S, N1, in);
    add(c, DATA, all, in), add(c, F32S, count_of(N0, N1, 1), in), add(c, F32S, count_of(N0, N1, 1), in);
}
static void chan_bwd_bufs(call *c, input *in) {
    int64_t all = count_of(N0, N1, N2);
    add(c, DATA, all, in), add(c, DATA, all, in), add(c, DATA, N1, in), add(c, F32S, count_of(N0, N1, 1), in);
    add(c, F32S, N1, in), add(c, F32S, N1, in), add(c, DATA, all, in), add(c, F32S, N1, in), add(c, F32S, N1, in);
}
static norma_status bn_fwd(call *c) {
    return norma_batch_norm_fwd(D, L, N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), P(c, 3), P(c, 4), c->flag & 1, c->momentum,
                                c->eps, P(c, 5), P(c, 6), P(c, 7));
}
static norma_status bn_bwd(call *c) {
    return norma_batch_norm_bwd(D, L, N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), P(c, 3), P(c, 4), P(c, 5), c->flag & 1,
                                c->eps, P(c, 6), P(c, 7), P(c, 8));
}
static norma_status in_fwd(call *c) {
    return norma_instance_norm_fwd(D, L, N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), P(c, 3), P(c, 4), c->flag & 1,
                                   c->momentum, c->eps, P(c, 5), P(c, 6), P(c, 7));
}
static norma_status in_bwd(call *c) {
    return norma_instance_norm_bwd(D, L, N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), P(c, 3), P(c, 4), P(c, 5), c->flag & 1,
                                   c->eps, P(c, 6), P(c, 7), P(c, 8));
}
static void gn_fwd_bufs(call *c, input *in) {
    int64_t all = count_of(N0, N1, N2);
    add(c, DATA, all, in), add(c, DATA, N1, in), add(c, DATA, N1, in), add(c, DATA, all, in);
    add(c, F32S, count_of(N0, N3, 1), in), add(c, F32S, count_of(N0, N3, 1), in);
}
static void gn_bwd_bufs(call *c, input *in) {
    int64_t all = count_of(N0, N1, N2);
    add(c, DATA, all, in), add(c, DATA, all, in), add(c, DATA, N1, in), add(c, F32S, count_of(N0, N3, 1), in);
    add(c, DATA, all, in), add(c, F32S, N1, in), add(c, F32S, N1, in);
}
static norma_status gn_fwd(call *c) {
    return norma_group_norm_fwd(D, L, N0, N1, N2, N3, P(c, 0), P(c, 1), P(c, 2), c->eps, P(c, 3), P(c, 4), P(c, 5));
}
static norma_status gn_bwd(call *c) {
    return norma_group_norm_bwd(D, L, N0, N1, N2, N3, P(c, 0), P(c, 1), P(c, 2), P(c, 3), c->eps, P(c, 4), P(c, 5),
                                P(c, 6));
}
static void gn_silu_bwd_bufs(call *c, input *in) {
    int64_t all = count_of(N0, N1, N2), stats = count_of(N0, N3, 1);
    add(c, DATA, all, in), add(c, DATA, all, in), add(c, DATA, N1, in), add(c, DATA, N1, in);
    add(c, F32S, stats, in), add(c, F32S, stats, in), add(c, DATA, all, in), add(c, F32S, N1, in), add(c, F32S, N1, in);
}
static norma_status gn_silu_fwd(call *c) {
    return norma_group_norm_silu_fwd(D, L, N0, N1, N2, N3, P(c, 0), P(c, 1), P(c, 2), c->eps, P(c, 3), P(c, 4),
                                     P(c, 5));
}
static norma_status gn_silu_bwd(call *c) {
    return norma_group_norm_silu_bwd(D, L, N0, N1, N2, N3, P(c, 0), P(c, 1), P(c, 2), P(c, 3), P(c, 4), P(c, 5),
                                     c->eps, P(c, 6), P(c, 7), P(c, 8));
}
static int64_t agn_extent(call *c) {
    if (N0 > 40 || N1 > 40) return (int64_t)1 << 40; /* an impossible size: no real buffer */
    return N0 > 0 && N1 > 0 && c->s1 >= 0 ? (N0 - 1) * c->s1 + N1 : 0;
}
static void agn_fwd_bufs(call *c, input *in) {
    c->s1 = (int64_t)(byte(in) % 3) * unit(N1) - (byte(in) == 255);
    int64_t all = count_of(N0, N1, N2);
    add(c, DATA, all, in), add(c, DATA, agn_extent(c), in), add(c, DATA, agn_extent(c), in), add(c, DATA, all, in);
    add(c, F32S, count_of(N0, N3, 1), in), add(c, F32S, count_of(N0, N3, 1), in);
}
static void agn_bwd_bufs(call *c, input *in) {
    c->s1 = (int64_t)(byte(in) % 3) * unit(N1);
    int64_t all = count_of(N0, N1, N2);
    add(c, DATA, all, in), add(c, DATA, all, in), add(c, DATA, agn_extent(c), in), add(c, F32S, count_of(N0, N3, 1), in);
    add(c, DATA, all, in), add(c, DATA, agn_extent(c), in), add(c, DATA, agn_extent(c), in);
}
static norma_status agn_fwd(call *c) {
    return norma_ada_group_norm_fwd(D, L, N0, N1, N2, N3, P(c, 0), P(c, 1), P(c, 2), c->s1, c->eps, P(c, 3), P(c, 4),
                                    P(c, 5));
}
static norma_status agn_bwd(call *c) {
    return norma_ada_group_norm_bwd(D, L, N0, N1, N2, N3, P(c, 0), P(c, 1), P(c, 2), c->s1, P(c, 3), c->eps, P(c, 4),
                                    P(c, 5), P(c, 6));
}
/* AdaIN: n x c, content spatial N2, style spatial N3 */
static void adain_fwd_bufs(call *c, input *in) {
    add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, count_of(N0, N1, N3), in), add(c, DATA, count_of(N0, N1, N2), in);
    add(c, F32S, count_of(N0, N1, 1), in), add(c, F32S, count_of(N0, N1, 1), in);
}
static void adain_bwd_bufs(call *c, input *in) {
    add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, count_of(N0, N1, N3), in);
    add(c, F32S, count_of(N0, N1, 1), in), add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, count_of(N0, N1, N3), in);
}
static norma_status adain_fwd(call *c) {
    return norma_adain_fwd(D, L, N0, N1, N2, N3, P(c, 0), P(c, 1), (norma_variance)(c->flag % 3), c->eps, P(c, 2),
                           P(c, 3), P(c, 4));
}
static norma_status adain_bwd(call *c) {
    return norma_adain_bwd(D, L, N0, N1, N2, N3, P(c, 0), P(c, 1), P(c, 2), (norma_variance)(c->flag % 3), P(c, 3),
                           c->eps, P(c, 4), P(c, 5));
}
static void crms_fwd_bufs(call *c, input *in) {
    add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, N1, in), add(c, DATA, N1, in), add(c, DATA, count_of(N0, N1, N2), in);
}
static void crms_bwd_bufs(call *c, input *in) {
    add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, count_of(N0, N1, N2), in), add(c, DATA, N1, in);
    add(c, DATA, count_of(N0, N1, N2), in), add(c, F32S, N1, in), add(c, F32S, N1, in);
}
static norma_status crms_fwd(call *c) {
    return norma_channel_rms_norm_fwd(D, L, N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), c->eps, P(c, 3));
}
static norma_status crms_bwd(call *c) {
    return norma_channel_rms_norm_bwd(D, L, N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), c->eps, P(c, 3), P(c, 4), P(c, 5));
}
/* with a SiLU: the backward reads beta too (buffer 6) */
static norma_status crms_silu_fwd(call *c) {
    return norma_channel_rms_norm_silu_fwd(D, L, N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), c->eps, P(c, 3));
}
static void crms_silu_bwd_bufs(call *c, input *in) {
    crms_bwd_bufs(c, in);
    add(c, DATA, N1, in);
}
static norma_status crms_silu_bwd(call *c) {
    return norma_channel_rms_norm_silu_bwd(D, L, N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), P(c, 6), c->eps, P(c, 3),
                                           P(c, 4), P(c, 5));
}

/* weights: outer x rows x inner */
static void sn_bufs(call *c, input *in) {
    int64_t all = count_of(N0, N1, N2);
    add(c, DATA, all, in), add(c, F32S, N1, in), add(c, F32S, count_of(N0, N2, 1), in), add(c, DATA, all, in);
    add(c, F64S, 1, in), add(c, DATA, all, in);
}
/* power iterations: -1 .. 4 (a valid huge count would just run for ever) */
static int64_t iterations(call *c) { return (int64_t)(c->flag % 6) - 1; }
static norma_status sn_fwd(call *c) {
    return norma_spectral_norm_fwd(D, N0, N1, N2, P(c, 0), P(c, 1), P(c, 2), iterations(c), c->eps, P(c, 3), P(c, 4));
}
static norma_status sn_bwd(call *c) {
    return norma_spectral_norm_bwd(D, N0, N1, N2, P(c, 3), P(c, 0), P(c, 1), P(c, 2), c->scalar, P(c, 5));
}
static norma_status sn_power(call *c) {
    return norma_spectral_norm_power_iteration(D, N0, N1, N2, P(c, 0), iterations(c), c->eps, P(c, 1), P(c, 2));
}
static norma_status sn_init(call *c) {
    return norma_spectral_norm_init(D, N0, N1, N2, P(c, 0), (uint64_t)N3, c->eps, P(c, 1), P(c, 2));
}
static void wn_bufs(call *c, input *in) {
    int64_t all = count_of(N0, N1, N2);
    add(c, DATA, all, in), add(c, DATA, N1, in), add(c, DATA, all, in), add(c, DATA, all, in), add(c, F32S, N1, in);
}
static norma_status wn_fwd(call *c) { return norma_weight_norm_fwd(D, N0, N1, N2, P(c, 0), P(c, 1), P(c, 2)); }
static norma_status wn_bwd(call *c) {
    return norma_weight_norm_bwd(D, N0, N1, N2, P(c, 3), P(c, 0), P(c, 1), P(c, 2), P(c, 4));
}

/* BatchNorm in three steps; merge_stats takes N3 parts (kept <= 40: a valid huge count of parts
 * cannot be allocated, and nothing could tell its buffer's size) */
static int64_t parts(call *c) { return N3 > 40 ? 40 : N3; }
static void steps_bufs(call *c, input *in) {
    int64_t all = count_of(N0, N1, N2);
    add(c, DATA, all, in), add(c, DATA, all, in), add(c, DATA, N1, in), add(c, F64S, count_of(3, N1, 1), in);
    add(c, F32S, N1, in), add(c, F32S, N1, in), add(c, DATA, all, in), add(c, F32S, N1, in), add(c, F32S, N1, in);
    add(c, F64S, count_of(4, N1, parts(c) > 0 ? parts(c) : 1), in);
    /* mostly valid statistics for apply_stats: counts of at least 2, M2 >= 0 */
    buffer *st = &c->b[3];
    if (!(c->flag & 4) && !st->null && !st->token && N1 > 0)
        for (int64_t ch = 0; ch < N1; ch++) {
            double *v = st->p;
            v[ch] = 2.0 + (double)(ch % 5), v[2 * N1 + ch] = fabs(v[2 * N1 + ch]);
        }
    if (!st->null) memcpy(st->start, st->p, st->bytes);
}
static norma_status bn_stats(call *c) { return norma_batch_norm_stats(D, L, N0, N1, N2, P(c, 0), P(c, 3)); }
static norma_status bn_merge(call *c) { return norma_batch_norm_merge_stats(N1, parts(c), P(c, 9), P(c, 3)); }
static norma_status bn_apply(call *c) {
    return norma_batch_norm_apply_stats(D, L, N0, N1, N2, P(c, 0), P(c, 2), P(c, 2), P(c, 3), P(c, 4), P(c, 5),
                                        c->momentum, c->eps, P(c, 6), P(c, 7), P(c, 8));
}
static norma_status bn_sums(call *c) { return norma_batch_norm_bwd_sums(D, L, N0, N1, N2, P(c, 1), P(c, 0), P(c, 4), P(c, 9)); }
static norma_status bn_bwd_apply(call *c) {
    /* mostly a valid count: this process's elements per channel, or a multiple of spatial */
    double count = c->flag & 2 ? c->scalar : N0 > 40 || N2 > 40 ? 1.0 : (double)((N0 + (c->flag & 1)) * N2);
    return norma_batch_norm_bwd_apply(D, L, N0, N1, N2, P(c, 1), P(c, 0), P(c, 2), P(c, 4), P(c, 9), count, c->eps,
                                      P(c, 6), P(c, 7), P(c, 8));
}

static const op ops[] = {
    {"layer_norm_fwd", rows_fwd, layer_fwd},         {"layer_norm_bwd", rows_bwd, layer_bwd},
    {"rms_norm_fwd", rows_fwd, rms_fwd},             {"rms_norm_bwd", rows_bwd, rms_bwd},
    {"l2_normalize_fwd", rows_fwd, l2_fwd},          {"l2_normalize_bwd", rows_bwd, l2_bwd},
    {"ada_layer_norm_fwd", ada_fwd_bufs, ada_fwd},   {"ada_layer_norm_bwd", ada_bwd_bufs, ada_bwd},
    {"batch_norm_fwd", chan_fwd_bufs, bn_fwd},       {"batch_norm_bwd", chan_bwd_bufs, bn_bwd},
    {"instance_norm_fwd", chan_fwd_bufs, in_fwd},    {"instance_norm_bwd", chan_bwd_bufs, in_bwd},
    {"group_norm_fwd", gn_fwd_bufs, gn_fwd},         {"group_norm_bwd", gn_bwd_bufs, gn_bwd},
    {"ada_group_norm_fwd", agn_fwd_bufs, agn_fwd},   {"ada_group_norm_bwd", agn_bwd_bufs, agn_bwd},
    {"adain_fwd", adain_fwd_bufs, adain_fwd},        {"adain_bwd", adain_bwd_bufs, adain_bwd},
    {"channel_rms_norm_fwd", crms_fwd_bufs, crms_fwd}, {"channel_rms_norm_bwd", crms_bwd_bufs, crms_bwd},
    {"spectral_norm_fwd", sn_bufs, sn_fwd},          {"spectral_norm_bwd", sn_bufs, sn_bwd},
    {"spectral_norm_power_iteration", sn_bufs, sn_power}, {"spectral_norm_init", sn_bufs, sn_init},
    {"weight_norm_fwd", wn_bufs, wn_fwd},            {"weight_norm_bwd", wn_bufs, wn_bwd},
    {"batch_norm_stats", steps_bufs, bn_stats},      {"batch_norm_merge_stats", steps_bufs, bn_merge},
    {"batch_norm_apply_stats", steps_bufs, bn_apply}, {"batch_norm_bwd_sums", steps_bufs, bn_sums},
    {"batch_norm_bwd_apply", steps_bufs, bn_bwd_apply},
    {"add_layer_norm_fwd", add_fwd_bufs, add_ln_fwd},  {"add_rms_norm_fwd", add_fwd_bufs, add_rms_fwd},
    {"add_layer_norm_bwd", add_bwd_bufs, add_ln_bwd},  {"add_rms_norm_bwd", add_bwd_bufs, add_rms_bwd},
    {"group_norm_silu_fwd", gn_fwd_bufs, gn_silu_fwd}, {"group_norm_silu_bwd", gn_silu_bwd_bufs, gn_silu_bwd},
    {"gated_ada_layer_norm_fwd", gated_fwd_bufs, gated_fwd}, {"gated_ada_layer_norm_bwd", gated_bwd_bufs, gated_bwd},
    {"channel_rms_norm_silu_fwd", crms_fwd_bufs, crms_silu_fwd},
    {"channel_rms_norm_silu_bwd", crms_silu_bwd_bufs, crms_silu_bwd},
};
enum { NOPS = sizeof ops / sizeof ops[0] };

/* ----- the checks ------------------------------------------------------------------------------------ */

/* Equal as values of their kind, NaN equal to NaN (payloads may differ between variants). */
static bool same(const call *c, const buffer *b, const void *x, const void *y) {
    size_t es = elem_bytes(c, b->kind), n = b->bytes / es;
    for (size_t i = 0; i < n; i++) {
        double u, v;
        if (b->kind == DATA) u = load_elem(c->elem, x, (int64_t)i), v = load_elem(c->elem, y, (int64_t)i);
        else if (b->kind == F32S) u = ((const float *)x)[i], v = ((const float *)y)[i];
        else u = ((const double *)x)[i], v = ((const double *)y)[i];
        if (isnan(u) && isnan(v)) continue;
        if (memcmp((const char *)x + i * es, (const char *)y + i * es, es) != 0) return false;
    }
    return true;
}

static void fail(const char *what, const op *o, const call *c, int buf) {
    fprintf(stderr, "fuzz_api: %s: %s dtype %d layout %d sizes %lld %lld %lld %lld, buffer %d\n", o->name, what,
            (int)c->dtype, (int)c->layout, (long long)c->d[0], (long long)c->d[1], (long long)c->d[2],
            (long long)c->d[3], buf);
    abort();
}

static void restore(call *c) {
    for (int i = 0; i < c->nbufs; i++)
        if (!c->b[i].null) memcpy(c->b[i].p, c->b[i].start, c->b[i].bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    input in = {data, size};
    const op *o = &ops[byte(&in) % NOPS];
    call c = {.elem = (norma_dtype)(byte(&in) % 3), .layout = (norma_layout)(byte(&in) % 3)};
    c.dtype = byte(&in) == 255 ? (norma_dtype)7 : c.elem; /* sometimes an invalid dtype */
    if (c.layout == 2) c.layout = byte(&in) == 255 ? (norma_layout)5 : NORMA_CHANNELS_LAST;
    for (int i = 0; i < 4; i++) c.d[i] = size_of(&in);
    c.eps = eps_of(&in), c.momentum = momentum_of(&in), c.flag = (int)byte(&in);
    c.scalar = (double)value_of(&in) * 8.0;
    o->buffers(&c, &in);
    norma_set_num_threads(1 + (int)(c.flag >> 7 & 1)); /* 1 or 2 threads: results must not differ */
    norma_set_f32_compute((norma_f32_compute)(c.flag >> 6 & 1)); /* f32 in double or in float, both variants */

    if (getenv("NORMA_FUZZ_VERBOSE"))
        fprintf(stderr, "call %s dtype %d layout %d sizes %lld %lld %lld %lld strides %lld %lld flag %d eps %g\n", o->name,
                (int)c.dtype, (int)c.layout, (long long)c.d[0], (long long)c.d[1], (long long)c.d[2],
                (long long)c.d[3], (long long)c.s1, (long long)c.s2, c.flag, c.eps);
    /* the kernels this CPU chose */
    norma_kernel_use(NULL);
    norma_status s1 = o->run(&c);
    void *after[MAX_BUFS] = {0};
    for (int i = 0; i < c.nbufs; i++) {
        buffer *b = &c.b[i];
        if (b->null) continue;
        if (s1 != NORMA_OK && memcmp(b->p, b->start, b->bytes) != 0) fail("a failed call wrote to a buffer", o, &c, i);
        after[i] = malloc(b->bytes ? b->bytes : 1);
        memcpy(after[i], b->p, b->bytes);
    }
    /* the portable reference, from the same buffers */
    restore(&c);
    norma_kernel_use(&norma_kernels_reference);
    norma_status s2 = o->run(&c);
    norma_kernel_use(NULL);
    if (s1 != s2) fail("the status differs between kernel variants", o, &c, -1);
    if (getenv("NORMA_FUZZ_VERBOSE"))
        fprintf(stderr, "%-30s %-18s sizes %lld %lld %lld %lld  %s\n", o->name, norma_status_name(s1),
                (long long)c.d[0], (long long)c.d[1], (long long)c.d[2], (long long)c.d[3],
                s1 == NORMA_OK ? "" : norma_last_error());
    for (int i = 0; i < c.nbufs; i++)
        if (!c.b[i].null && !same(&c, &c.b[i], c.b[i].p, after[i])) fail("the variants' results differ", o, &c, i);
    for (int i = 0; i < c.nbufs; i++) free(after[i]);
    norma_set_f32_compute(NORMA_F32_COMPUTE_DOUBLE);
    free_call(&c);
    return 0;
}
