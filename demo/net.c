/* net.c: the demo's CNN (see net.h). Activations are NHWC; each block keeps its conv input patches
 * (cols), its conv output (the norm's input) and its norm + ReLU output for the backward pass. */
#include "net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "norma.h"

#define NORM_EPS 1e-5
#define BN_MOMENTUM 0.1
#define MAX_PARAMS 16

static const char *const norm_names[NORM_KINDS] = {"none", "batch", "group", "layer", "instance"};

const char *norm_name(norm_kind k) { return k < NORM_KINDS ? norm_names[k] : "?"; }

int norm_parse(const char *name, norm_kind *k) {
    for (int i = 0; i < NORM_KINDS; i++)
        if (!strcmp(name, norm_names[i])) return *k = (norm_kind)i, 0;
    return -1;
}

/* A norma call that cannot fail with valid shapes: a failure is a bug, reported and fatal. */
static void must(norma_status s, const char *what) {
    if (s != NORMA_OK) {
        fprintf(stderr, "norma-demo: %s failed: %s\n", what, norma_last_error());
        abort();
    }
}

typedef struct param {
    const char *name;
    float *value, *grad, *velocity;
    int64_t size;
    int decay; /* weight decay applies */
} param;

typedef struct block {
    conv_shape conv;      /* n set per call */
    int side, c, last;    /* input side, channels; last: global average pool instead of 2x2 max pool */
    int64_t hw, pooled;   /* side², and the pool's outputs per sample: (side/2)²·c, or c */
    param *w, *b, *gamma, *beta;
    float *running_mean, *running_var;
    float *mean, *rstd;   /* saved by the forward */
    float *cols, *pre, *act, *out;
    int32_t *argmax;      /* the max pool's choice per output */
} block;

struct net {
    net_config cfg;
    param params[MAX_PARAMS];
    int nparams;
    block blk[3];
    param *fc_w, *fc_b;
    /* the last training forward */
    int n;
    const float *input;
    const uint8_t *labels;
    float *logits;
    /* backward scratch */
    float *d_out, *d_act, *d_pre, *dcols, *d_feat, *d_logits;
    int out_of_memory;
};

/* ----- memory ------------------------------------------------------------------------------- */

/* Zeroed floats; a failure is remembered and reported by net_create. */
static float *floats_of(net *nt, int64_t n) {
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p) nt->out_of_memory = 1;
    return p;
}
#define floats(n) floats_of(nt, n)

static param *new_param(net *nt, const char *name, int64_t size, int decay) {
    param *p = &nt->params[nt->nparams++];
    *p = (param){.name = name, .value = floats(size), .grad = floats(size), .velocity = floats(size), .size = size,
                 .decay = decay};
    return p;
}

/* SplitMix64 and Box-Muller: the initial weights from cfg.seed. */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static double normal(uint64_t *s) {
    double u = ((double)(next_u64(s) >> 11) + 1.0) * 0x1p-53, v = (double)(next_u64(s) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void fill_normal(float *x, int64_t n, double std, uint64_t *s) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(std * normal(s));
}

static void fill(float *x, int64_t n, float v) {
    for (int64_t i = 0; i < n; i++) x[i] = v;
}

static int valid(const net_config *c) {
    if (c->norm >= NORM_KINDS || c->image < 8 || c->image % 4 || c->classes < 2 || c->max_batch < 1) return 0;
    for (int k = 0; k < 3; k++)
        if (c->width[k] < 1 || (c->norm == NORM_GROUP && (c->groups < 1 || c->width[k] % c->groups))) return 0;
    return 1;
}

/* The norm's affine parameters and saved statistics for block B. */
static void make_norm(net *nt, block *B) {
    int64_t N = nt->cfg.max_batch, C = B->c;
    static const char *names[3][2] = {{"norm1.weight", "norm1.bias"}, {"norm2.weight", "norm2.bias"},
                                      {"norm3.weight", "norm3.bias"}};
    int k = (int)(B - nt->blk);
    int64_t affine = nt->cfg.norm == NORM_LAYER ? B->hw * C : C, stats = N * C;
    if (nt->cfg.norm == NORM_NONE) return;
    B->gamma = new_param(nt, names[k][0], affine, 0);
    B->beta = new_param(nt, names[k][1], affine, 0);
    fill(B->gamma->value, affine, 1.0f);
    if (nt->cfg.norm == NORM_BATCH) {
        B->running_mean = floats(C), B->running_var = floats(C);
        fill(B->running_var, C, 1.0f);
    }
    B->mean = floats(stats), B->rstd = floats(stats);
}

net *net_create(const net_config *cfg) {
    if (!valid(cfg)) {
        fprintf(stderr, "norma-demo: invalid network configuration\n");
        return NULL;
    }
    net *nt = calloc(1, sizeof *nt);
    if (!nt) return NULL;
    nt->cfg = *cfg;
    uint64_t seed = cfg->seed;
    int64_t N = cfg->max_batch, most = 0;
    static const char *names[3][2] = {{"conv1.weight", "conv1.bias"}, {"conv2.weight", "conv2.bias"},
                                      {"conv3.weight", "conv3.bias"}};
    for (int k = 0; k < 3; k++) {
        block *B = &nt->blk[k];
        int cin = k ? cfg->width[k - 1] : 1;
        B->side = cfg->image >> k, B->c = cfg->width[k], B->hw = (int64_t)B->side * B->side, B->last = k == 2;
        B->pooled = B->last ? B->c : (int64_t)(B->side / 2) * (B->side / 2) * B->c;
        B->conv = (conv_shape){.n = 0, .h = B->side, .w = B->side, .cin = cin, .cout = B->c};
        B->w = new_param(nt, names[k][0], 9LL * cin * B->c, 1);
        B->b = new_param(nt, names[k][1], B->c, 0);
        fill_normal(B->w->value, B->w->size, sqrt(2.0 / (9.0 * cin)), &seed); /* He initialization */
        make_norm(nt, B);
        int64_t act = N * B->hw * B->c;
        B->cols = floats(N * B->hw * 9 * cin), B->pre = floats(act), B->act = floats(act);
        B->out = floats(N * B->pooled);
        if (!B->last && !(B->argmax = calloc((size_t)(N * B->pooled), sizeof(int32_t)))) nt->out_of_memory = 1;
        if (N * B->hw * 9 * cin > most) most = N * B->hw * 9 * cin;
    }
    int feat = (int)nt->blk[2].pooled;
    nt->fc_w = new_param(nt, "fc.weight", (int64_t)cfg->classes * feat, 1);
    nt->fc_b = new_param(nt, "fc.bias", cfg->classes, 0);
    fill_normal(nt->fc_w->value, nt->fc_w->size, sqrt(1.0 / feat), &seed);
    int64_t act = 0;
    for (int k = 0; k < 3; k++) act = nt->blk[k].hw * nt->blk[k].c > act ? nt->blk[k].hw * nt->blk[k].c : act;
    nt->logits = floats(N * cfg->classes), nt->d_logits = floats(N * cfg->classes), nt->d_feat = floats(N * feat);
    nt->d_out = floats(N * act), nt->d_act = floats(N * act), nt->d_pre = floats(N * act), nt->dcols = floats(most);
    if (nt->out_of_memory) {
        fprintf(stderr, "norma-demo: out of memory for a network with batches of %d\n", cfg->max_batch);
        net_free(nt);
        return NULL;
    }
    return nt;
}

void net_free(net *nt) {
    if (!nt) return;
    for (int i = 0; i < nt->nparams; i++) free(nt->params[i].value), free(nt->params[i].grad), free(nt->params[i].velocity);
    for (int k = 0; k < 3; k++) {
        block *B = &nt->blk[k];
        free(B->running_mean), free(B->running_var), free(B->mean), free(B->rstd);
        free(B->cols), free(B->pre), free(B->act), free(B->out), free(B->argmax);
    }
    free(nt->logits), free(nt->d_logits), free(nt->d_feat), free(nt->d_out), free(nt->d_act), free(nt->d_pre);
    free(nt->dcols);
    free(nt);
}

/* ----- the norm ------------------------------------------------------------------------------ */

static float *value(param *p) { return p ? p->value : NULL; }
static float *grad(param *p) { return p ? p->grad : NULL; }

static void norm_forward(const net *nt, block *B, int N, int training) {
    const norma_layout L = NORMA_CHANNELS_LAST;
    int64_t C = B->c, S = B->hw;
    float *g = value(B->gamma), *b = value(B->beta);
    switch (nt->cfg.norm) {
    case NORM_NONE: memcpy(B->act, B->pre, (size_t)(N * S * C) * sizeof(float)); break;
    case NORM_BATCH:
        must(norma_batch_norm_fwd(NORMA_F32, L, N, C, S, B->pre, g, b, B->running_mean, B->running_var, training,
                                  BN_MOMENTUM, NORM_EPS, B->act, B->mean, B->rstd), "batch_norm_fwd");
        break;
    case NORM_GROUP:
        must(norma_group_norm_fwd(NORMA_F32, L, N, C, S, nt->cfg.groups, B->pre, g, b, NORM_EPS, B->act, B->mean,
                                  B->rstd), "group_norm_fwd");
        break;
    case NORM_LAYER:
        must(norma_layer_norm_fwd(NORMA_F32, N, S * C, B->pre, g, b, NORM_EPS, B->act, B->mean, B->rstd),
             "layer_norm_fwd");
        break;
    case NORM_INSTANCE:
        must(norma_instance_norm_fwd(NORMA_F32, L, N, C, S, B->pre, g, b, NULL, NULL, 1, BN_MOMENTUM, NORM_EPS, B->act,
                                     B->mean, B->rstd), "instance_norm_fwd");
        break;
    default: break;
    }
}

/* dx = d_pre from dy = d_act; the affine gradients into gamma/beta. */
static void norm_backward(const net *nt, block *B, int N, const float *dy, float *dx) {
    const norma_layout L = NORMA_CHANNELS_LAST;
    int64_t C = B->c, S = B->hw;
    float *g = value(B->gamma), *dg = grad(B->gamma), *db = grad(B->beta);
    switch (nt->cfg.norm) {
    case NORM_NONE: memcpy(dx, dy, (size_t)(N * S * C) * sizeof(float)); break;
    case NORM_BATCH:
        must(norma_batch_norm_bwd(NORMA_F32, L, N, C, S, dy, B->pre, g, B->mean, B->running_mean, B->running_var, 1,
                                  NORM_EPS, dx, dg, db), "batch_norm_bwd");
        break;
    case NORM_GROUP:
        must(norma_group_norm_bwd(NORMA_F32, L, N, C, S, nt->cfg.groups, dy, B->pre, g, B->mean, NORM_EPS, dx, dg, db),
             "group_norm_bwd");
        break;
    case NORM_LAYER:
        must(norma_layer_norm_bwd(NORMA_F32, N, S * C, dy, B->pre, g, B->mean, NORM_EPS, dx, dg, db), "layer_norm_bwd");
        break;
    case NORM_INSTANCE:
        must(norma_instance_norm_bwd(NORMA_F32, L, N, C, S, dy, B->pre, g, B->mean, NULL, NULL, 1, NORM_EPS, dx, dg, db),
             "instance_norm_bwd");
        break;
    default: break;
    }
}

/* ----- pooling ------------------------------------------------------------------------------- */

/* 2x2 max pool, NHWC; argmax holds the index (into act) of each output's maximum. */
static void max_pool(const block *B, int N) {
    int s = B->side, h = s / 2, C = B->c;
    for (int n = 0; n < N; n++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < h; x++)
                for (int c = 0; c < C; c++) {
                    int64_t o = (((int64_t)n * h + y) * h + x) * C + c, best = -1;
                    for (int t = 0; t < 4; t++) {
                        int64_t i = (((int64_t)n * s + 2 * y + t / 2) * s + 2 * x + t % 2) * C + c;
                        if (best < 0 || B->act[i] > B->act[best]) best = i;
                    }
                    B->out[o] = B->act[best], B->argmax[o] = (int32_t)best;
                }
}

/* Global average pool: the mean of each (sample, channel) over the positions. */
static void average_pool(const block *B, int N) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < B->c; c++) {
            double s = 0.0;
            for (int64_t p = 0; p < B->hw; p++) s += B->act[((int64_t)n * B->hw + p) * B->c + c];
            B->out[(int64_t)n * B->c + c] = (float)(s / (double)B->hw);
        }
}

/* ----- forward ------------------------------------------------------------------------------- */

static void block_forward(const net *nt, block *B, int N, const float *x, int training) {
    B->conv.n = N;
    conv3x3_forward(B->conv, x, B->w->value, B->b->value, B->cols, B->pre);
    norm_forward(nt, B, N, training);
    int64_t size = (int64_t)N * B->hw * B->c;
    for (int64_t i = 0; i < size; i++) B->act[i] = B->act[i] > 0.0f ? B->act[i] : 0.0f; /* ReLU */
    if (B->last) average_pool(B, N);
    else max_pool(B, N);
}

/* logits = feat·fc_wᵀ + fc_b; returns the mean cross-entropy (softmax in double). */
static double classify(const net *nt, int N, const float *feat, const uint8_t *labels, float *logits) {
    int K = nt->cfg.classes, F = (int)nt->blk[2].pooled;
    double loss = 0.0;
    for (int n = 0; n < N; n++) {
        float *z = logits + (int64_t)n * K;
        double top = -INFINITY, sum = 0.0;
        for (int k = 0; k < K; k++) {
            double s = nt->fc_b->value[k];
            for (int f = 0; f < F; f++) s += (double)nt->fc_w->value[(int64_t)k * F + f] * feat[(int64_t)n * F + f];
            z[k] = (float)s;
            top = s > top ? s : top;
        }
        for (int k = 0; k < K; k++) sum += exp(z[k] - top);
        if (labels) loss += log(sum) + top - z[labels[n]];
    }
    return loss / N;
}

double net_forward(net *nt, int N, const float *images, const uint8_t *labels, int training, float *logits) {
    const float *x = images;
    for (int k = 0; k < 3; k++) {
        block_forward(nt, &nt->blk[k], N, x, training);
        x = nt->blk[k].out;
    }
    double loss = classify(nt, N, x, labels, nt->logits);
    if (logits) memcpy(logits, nt->logits, (size_t)N * nt->cfg.classes * sizeof(float));
    if (training) nt->n = N, nt->input = images, nt->labels = labels;
    return loss;
}

/* ----- backward ------------------------------------------------------------------------------ */

/* d_logits = (softmax - onehot)/N; fc gradients; d_feat. */
static void classify_backward(net *nt) {
    int N = nt->n, K = nt->cfg.classes, F = (int)nt->blk[2].pooled;
    const float *feat = nt->blk[2].out;
    memset(nt->fc_w->grad, 0, (size_t)nt->fc_w->size * sizeof(float));
    memset(nt->fc_b->grad, 0, (size_t)K * sizeof(float));
    for (int n = 0; n < N; n++) {
        const float *z = nt->logits + (int64_t)n * K;
        float *dz = nt->d_logits + (int64_t)n * K;
        double top = -INFINITY, sum = 0.0;
        for (int k = 0; k < K; k++) top = z[k] > top ? z[k] : top;
        for (int k = 0; k < K; k++) sum += exp(z[k] - top);
        for (int k = 0; k < K; k++) dz[k] = (float)((exp(z[k] - top) / sum - (k == nt->labels[n])) / N);
        for (int k = 0; k < K; k++) {
            nt->fc_b->grad[k] += dz[k];
            for (int f = 0; f < F; f++) nt->fc_w->grad[(int64_t)k * F + f] += dz[k] * feat[(int64_t)n * F + f];
        }
        for (int f = 0; f < F; f++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) s += (double)dz[k] * nt->fc_w->value[(int64_t)k * F + f];
            nt->d_feat[(int64_t)n * F + f] = (float)s;
        }
    }
}

/* From the gradient of the block's output (d_out) to its input's (dx, NULL for the first block). */
static void block_backward(net *nt, block *B, const float *d_out, float *dx) {
    int N = nt->n;
    int64_t size = (int64_t)N * B->hw * B->c;
    if (B->last) {
        for (int64_t i = 0; i < size; i++) nt->d_act[i] = d_out[i / (B->hw * B->c) * B->c + i % B->c] / (float)B->hw;
    } else {
        memset(nt->d_act, 0, (size_t)size * sizeof(float));
        for (int64_t o = 0; o < N * B->pooled; o++) nt->d_act[B->argmax[o]] += d_out[o];
    }
    for (int64_t i = 0; i < size; i++) nt->d_act[i] = B->act[i] > 0.0f ? nt->d_act[i] : 0.0f; /* ReLU */
    norm_backward(nt, B, N, nt->d_act, nt->d_pre);
    B->conv.n = N;
    conv3x3_backward(B->conv, nt->d_pre, B->cols, B->w->value, B->w->grad, B->b->grad, nt->dcols, dx);
}

void net_backward(net *nt) {
    classify_backward(nt);
    /* d_out holds the gradient of block k's output while block k runs, and receives block k-1's */
    block_backward(nt, &nt->blk[2], nt->d_feat, nt->d_out);
    block_backward(nt, &nt->blk[1], nt->d_out, nt->d_out);
    block_backward(nt, &nt->blk[0], nt->d_out, NULL);
}

/* ----- training -------------------------------------------------------------------------------- */

void net_sgd(net *nt, float lr, float momentum, float weight_decay) {
    for (int i = 0; i < nt->nparams; i++) {
        param *p = &nt->params[i];
        float wd = p->decay ? weight_decay : 0.0f;
        for (int64_t j = 0; j < p->size; j++) {
            p->velocity[j] = momentum * p->velocity[j] + p->grad[j] + wd * p->value[j];
            p->value[j] -= lr * p->velocity[j];
        }
    }
}

int net_params(net *nt, net_param *out, int max) {
    for (int i = 0; i < nt->nparams && i < max; i++)
        out[i] = (net_param){.name = nt->params[i].name, .value = nt->params[i].value, .grad = nt->params[i].grad,
                             .size = nt->params[i].size};
    return nt->nparams;
}
