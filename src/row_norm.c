/* row_norm.c: the row norms: LayerNorm, RMSNorm, adaptive LayerNorm modulation (AdaLN) and L2
 * normalization (F.normalize).
 *
 * Every row of `cols` contiguous elements is one statistic set:
 *   LayerNorm:  mean, var = M2/cols,  rstd = 1/sqrt(var + eps),  y = (x - mean)·rstd·gain + bias
 *   RMSNorm:    rstd = 1/sqrt(Σx²/cols + eps),                   y = x·rstd·gain
 *   L2:         rstd = 1/max(‖x‖₂, eps),                         y = x·rstd
 * with per-element gain = g0 + gain_vec[j] and bias = bias_vec[j]. The gain and bias vectors of row
 * r = b·tokens + l (sample b, token l) sit at  vec + b·stride_b + l·stride_l: both strides are 0 for
 * LayerNorm/RMSNorm weights (one vector for every row), and AdaLN's (1 + scale, shift) vectors are per
 * sample (stride_l = 0) or per token. So all three layers are one plan.
 *
 * Backward (per row, n = cols, g = dy·gain, xc = x - mean, xhat = xc·rstd):
 *   LayerNorm:  dx = rstd·(g - mean(g) - xhat·mean(g·xhat))
 *   RMSNorm:    dx = rstd·(g - xhat·mean(g·xhat))
 *   dgain = Σ dy·xhat,  dbias = Σ dy   over the rows that share the vector.
 * The backward recomputes the statistics exactly, in double, in the same pass as Σg and Σg·d: with
 * d = x - mean_saved (the saved float mean is only a shift), mean = mean_saved + Σd/n and
 * var = Σd²/n - (Σd/n)². So it does not inherit the rounding of a saved float rstd or mean. The
 * derivation is in docs/row_norms.md.
 *
 * Determinism: forward rows are independent. The backward's column sums (dgain, dbias) are
 * accumulated per block of rows into partial sums, blocks fixed by the problem size alone, and the
 * partials are added in block order, so the result does not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "kernels/kernels.h"
#include "row_norm.h"

/* ----- addressing ---------------------------------------------------------------------------- */

/* The rows of a problem and where each row finds its per-row vectors. */
typedef struct row_layout {
    norma_dtype dtype;
    size_t esize;
    int64_t rows, cols;
    int64_t tokens;             /* rows per sample, for the vector strides (1 if unused) */
    int64_t stride_b, stride_l; /* in elements */
} row_layout;

static const void *row_ptr(const row_layout *L, const void *base, int64_t r) {
    return (const char *)base + (size_t)(r * L->cols) * L->esize;
}

static int64_t vector_offset(const row_layout *L, int64_t r) {
    return (r / L->tokens) * L->stride_b + (r % L->tokens) * L->stride_l;
}

static const void *row_vector(const row_layout *L, const void *base, int64_t r) {
    return base ? (const char *)base + (size_t)vector_offset(L, r) * L->esize : NULL;
}

/* Asks for a short row about to be worked on, so that its memory latency overlaps the current row's
 * work (the hardware prefetchers do not ramp up within a few lines). Not for longer rows: a prefetch per
 * line of a 6 KiB row at once filled the miss queue and stalled (5% of a LayerNorm backward); the
 * row passes fetch those line by line instead (fetch_next). */
#define PREFETCH_MAX_BYTES 2048
static void prefetch_row(const void *p, int64_t bytes) {
#if defined(__GNUC__)
    if (bytes > PREFETCH_MAX_BYTES) return;
    for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch((const char *)p + b, 0, 3);
#else
    (void)p, (void)bytes;
#endif
}

/* Rows per task for work whose partition does not matter: ~128 KiB of data per task. */
static int64_t rows_per_task(const row_layout *L) {
    int64_t row_bytes = L->cols * (int64_t)L->esize;
    return max_i64(1, ((int64_t)1 << 17) / row_bytes);
}

static bool run_serial(const row_layout *L, int streams) {
    return L->rows * L->cols * (int64_t)L->esize * streams < NORMA_SERIAL_BYTES;
}

static int64_t tensor_bytes(const row_layout *L) { return L->rows * L->cols * (int64_t)L->esize; }
/* Whether the tensor is too large to stay cached, so that its rows come from memory (its outputs are
 * stored past the caches from this size on, a forward's from half of it: norma_streams_output). */
static bool streams(const row_layout *L) { return tensor_bytes(L) >= NORMA_STREAM_BYTES; }

/* Rows of such a tensor longer than prefetch_row takes whole: each row pass fetches the next row as it
 * goes (fetch_next), so that the next row's first pass reads L2 and the memory reads overlap this pass's
 * arithmetic (on the Intel host of 2026-11-23: LayerNorm 4096 x 3072 f32 forward 1.35x, backward
 * 1.23x; in cached tensors it cost 3-8%). The backward spreads the fetch over both its passes, the sums
 * taking dy and the apply x, so that the memory is not idle while the sums work from L2 (bench/ab.py on
 * the AMD Zen 5 host, against the apply fetching both: f32 LayerNorm, AdaLN, gated AdaLN and RMSNorm
 * 1.09-1.18x, RMSNorm bf16 1.13x, LayerNorm bf16 1.02x). */
static bool long_streamed_rows(const row_layout *L) {
    return streams(L) && L->cols * (int64_t)L->esize > PREFETCH_MAX_BYTES;
}

/* ----- vectors shared by many rows, ready-made --------------------------------------------------- */

/* When rows share their gain/bias vectors (LayerNorm/RMSNorm weights; AdaLN per-sample modulation),
 * they are converted once per call to the compute type, g0 included (norma_affine.gain_c/bias_c),
 * instead of on every row. Per-token vectors are used as they are, and so are vectors shared by fewer
 * than PREPARE_MIN_ROWS rows (one row of LLM decoding), where converting would cost more than it saves.
 * Nor are the vectors of long rows streamed from memory: there, converting them in the loop beat reading
 * them ready-made (bench/ab.py on the AMD Zen 5 host: LayerNorm 4096 x 3072 f32 forward 1.32-1.36x,
 * backward 1.15-1.16x, RMSNorm 4096 x 4096 backward f32 1.15-1.16x, bf16 1.06-1.08x; the other bf16
 * row norms 0.97-1.10x). The likely cause: ready-made they are of the compute type, twice the data's
 * size (for f32, 16 bytes per element from L2 for a gain and a bias against the row's own 4), while L2
 * also takes in the next row. Short rows keep them (1-6 KiB, in L1: QK RMSNorm backward 128 f32 0.91x
 * without them, channels-last channel RMSNorm 384 0.87x). Either way the same sum g0 + gain is formed:
 * the results are the same (test_row_norm's test_streamed_rows). */
#define PREPARE_MIN_ROWS 8
typedef struct prepared_vectors {
    char *gain, *bias; /* `count` vectors of cols compute-type elements, or NULL */
    int64_t count;
    size_t bytes; /* of one vector */
} prepared_vectors;

static int64_t prepared_count(const row_layout *L) {
    if (L->stride_l != 0 && L->tokens > 1) return 0; /* per token */
    if (long_streamed_rows(L)) return 0;
    int64_t vectors = L->stride_b == 0 ? 1 : L->rows / L->tokens;
    return L->rows / vectors < PREPARE_MIN_ROWS ? 0 : vectors;
}

static size_t prepared_bytes(const norma_kernel_table *k, const row_layout *L, const void *gain, const void *bias) {
    return (size_t)prepared_count(L) * (size_t)L->cols * norma_compute_size(k, L->dtype) * ((gain != NULL) + (bias != NULL));
}

/* Fills pv from `mem` (prepared_bytes of it). */
static void prepare_vectors(const norma_kernel_table *k, const row_layout *L, double g0, const void *gain,
                            const void *bias, void *mem, prepared_vectors *pv) {
    *pv = (prepared_vectors){.count = prepared_count(L), .bytes = (size_t)L->cols * norma_compute_size(k, L->dtype)};
    char *next = mem;
    if (gain && pv->count) pv->gain = next, next += (size_t)pv->count * pv->bytes;
    if (bias && pv->count) pv->bias = next;
    for (int64_t v = 0; v < pv->count; v++) {
        int64_t r = v * L->tokens; /* the first row of sample v */
        if (pv->gain) k->prepare(L->dtype, L->cols, g0, row_vector(L, gain, r), pv->gain + (size_t)v * pv->bytes);
        if (pv->bias) k->prepare(L->dtype, L->cols, 0.0, row_vector(L, bias, r), pv->bias + (size_t)v * pv->bytes);
    }
}

/* Row r's ready-made vector, or NULL. */
static const void *prepared(const prepared_vectors *pv, const char *base, const row_layout *L, int64_t r) {
    return base ? base + (size_t)(pv->count == 1 ? 0 : r / L->tokens) * pv->bytes : NULL;
}

/* ----- forward ------------------------------------------------------------------------------- */

/* The sum row x's rstd comes from: M2 around its mean, into a->mean (STAT_VARIANCE; fetching `next`, NULL:
 * nothing, as it goes), else Σx² (a->mean = 0). */
static double row_sums(const norma_kernel_table *k, row_stat stat, const row_layout *L, const void *x,
                       norma_affine *a, const void *next) {
    if (stat == STAT_VARIANCE) {
        double m2;
        k->moments(L->dtype, L->cols, x, &a->mean, &m2, next);
        return m2;
    }
    a->mean = 0.0;
    return k->sum_sq(L->dtype, L->cols, x);
}

/* rstd from row_sums' q over n elements, for count rows at once (one kernel call; correctly rounded
 * operations, so the bits of the scalar formulas): LayerNorm (q = M2) and RMSNorm (q = Σx²)
 * 1/sqrt(q/n + eps); F.normalize 1/max(sqrt(q), eps); channel RMSNorm (F.normalize, then ·sqrt(n))
 * sqrt(n)/max(sqrt(q), eps), a NaN norm staying NaN as torch's clamp_min. */
static void rstds_of(const norma_kernel_table *k, row_stat stat, int64_t count, const double *q, double n, double eps,
                     double *rstd) {
    if (stat == STAT_VARIANCE || stat == STAT_MEAN_SQUARE) k->rstd_mean_sq(count, q, n, eps, rstd);
    else k->rstd_norm(count, q, stat == STAT_L2_UNIT ? 1.0 : sqrt(n), eps, rstd);
}

/* The statistics of row x into a->mean (0 without centring) and a->rstd. */
static void row_stats(const norma_kernel_table *k, row_stat stat, const row_layout *L, const void *x, double eps,
                      norma_affine *a) {
    double q = row_sums(k, stat, L, x, a, NULL);
    rstds_of(k, stat, 1, &q, (double)L->cols, eps, &a->rstd);
}

typedef struct row_fwd {
    row_layout L;
    const norma_kernel_table *k;
    row_stat stat;
    double eps;
    const void *x;
    void *y;
    const void *addend; /* fused residual add: the norm's input is sum = x + gate·addend (stored), or NULL */
    const void *gate;   /* per-row vectors (as gain and bias), or NULL: 1 */
    void *sum;
    double g0;
    const void *gain, *bias;
    float *mean, *rstd;
    int act; /* a SiLU after the norm: y = silu(z) */
    int64_t rows_per_task;
    prepared_vectors pv;
    int stream; /* y is too large to stay cached: store it past the caches */
} row_fwd;

/* Short rows go in groups of up to GROUP_ROWS, GROUP_BYTES in all (in L1): the group's sums first, then
 * its coefficients (a square root and divisions per row, ~40-80 cycles of latency, which overlap in one
 * loop instead of each row's apply waiting for its own), then its applies. While one group is worked
 * on, the next one's rows are fetched (each row prefetches the row a group ahead), so that the memory
 * stays busy through the applies. */
#define GROUP_ROWS 16
#define GROUP_BYTES 8192
static int64_t group_rows(const row_layout *L, int arrays) { /* arrays: the rows read per row */
    return min_i64(GROUP_ROWS, max_i64(1, GROUP_BYTES / (arrays * L->cols * (int64_t)L->esize)));
}

/* Row r's affine without its rstd, after the fused residual add if any: the sum rstd comes from. */
static double forward_sums(const row_fwd *p, int64_t r, norma_affine *a) {
    const row_layout *L = &p->L;
    const void *x = row_ptr(L, p->x, r);
    int64_t ahead = r + group_rows(L, p->addend ? 2 : 1);
    if (p->addend) { /* the residual add, while the row is being read anyway: it stays cached for the norm */
        void *sum = (void *)row_ptr(L, p->sum, r);
        if (ahead < L->rows) prefetch_row(row_ptr(L, p->addend, ahead), L->cols * (int64_t)L->esize);
        p->k->add(L->dtype, L->cols, x, row_ptr(L, p->addend, r), row_vector(L, p->gate, r), sum);
        x = sum;
    }
    *a = norma_affine_zero;
    a->g0 = p->g0, a->gain = row_vector(L, p->gain, r), a->bias = row_vector(L, p->bias, r);
    a->gain_c = prepared(&p->pv, p->pv.gain, L, r), a->bias_c = prepared(&p->pv, p->pv.bias, L, r);
    a->stream = p->stream, a->act = p->act;
    if (ahead < L->rows) prefetch_row(row_ptr(L, p->x, ahead), L->cols * (int64_t)L->esize);
    /* long rows from memory: the moments pass fetches the next row as the apply does after it, so that the
     * memory is busy from the row's start (LayerNorm 4096 x 3072 bf16 forward 1.02-1.09x, AdaLN 1.05-1.08x,
     * bench/ab.py; f32 1.01-1.06x). Σx² has no such fetch: RMSNorm's forward is at its limit. */
    bool fetch = !p->addend && long_streamed_rows(L) && r + 1 < L->rows;
    return row_sums(p->k, p->stat, L, x, a, fetch ? row_ptr(L, p->x, r + 1) : NULL);
}

/* Whether a row pass should fetch the task's next row (`next`: there is one) as it goes. */
static bool fetch_next(const row_layout *L, bool next) { return next && long_streamed_rows(L); }

/* y of row r from its statistics, which are saved if wanted; fetching the next row if `next`. */
static void forward_apply(const row_fwd *p, int64_t r, bool next, const norma_affine *a) {
    const row_layout *L = &p->L;
    if (p->mean) p->mean[r] = (float)a->mean;
    if (p->rstd) p->rstd[r] = (float)a->rstd;
    const void *x = row_ptr(L, p->addend ? p->sum : p->x, r);
    const void *next_row[2] = {NULL, NULL}; /* what forward_sums reads */
    bool fetch = fetch_next(L, next);
    if (fetch) next_row[0] = row_ptr(L, p->x, r + 1), next_row[1] = p->addend ? row_ptr(L, p->addend, r + 1) : NULL;
    p->k->apply(L->dtype, L->cols, x, (void *)row_ptr(L, p->y, r), a, fetch ? next_row : NULL);
}

static void forward_task(void *ctx, int64_t task) {
    const row_fwd *p = ctx;
    int64_t r0 = task * p->rows_per_task, r1 = min_i64(p->L.rows, r0 + p->rows_per_task);
    int64_t group = group_rows(&p->L, p->addend ? 2 : 1);
    norma_affine a[GROUP_ROWS];
    double q[GROUP_ROWS], rstd[GROUP_ROWS];
    for (int64_t g0 = r0; g0 < r1; g0 += group) {
        int64_t g1 = min_i64(r1, g0 + group);
        for (int64_t r = g0; r < g1; r++) q[r - g0] = forward_sums(p, r, &a[r - g0]);
        rstds_of(p->k, p->stat, g1 - g0, q, (double)p->L.cols, p->eps, rstd);
        for (int64_t i = 0; i < g1 - g0; i++) a[i].rstd = rstd[i];
        for (int64_t r = g0; r < g1; r++) forward_apply(p, r, r + 1 < r1, &a[r - g0]);
    }
}

/* RMSNorm's weight on f32 data is read as stored, whatever the rows: the apply works in pairs of
 * floats there (apply_gain_pairs, core.inc), 2.8 cycles per 16 elements against 3.7 with a ready-made
 * double vector, so that one row and many give the same bits. */
static bool gain_as_stored(const row_fwd *p) {
    return p->L.dtype == NORMA_F32 && p->stat != STAT_VARIANCE && p->g0 == 0.0 && p->gain && !p->bias && !p->act;
}

static norma_status row_forward(row_fwd *p, const char *fn) {
    p->k = norma_kernel_for(p->L.dtype);
    p->rows_per_task = rows_per_task(&p->L);
    p->stream = norma_streams_output(tensor_bytes(&p->L), true);
    const void *gain = gain_as_stored(p) ? NULL : p->gain; /* the one to prepare */
    size_t bytes = prepared_bytes(p->k, &p->L, gain, p->bias);
    void *mem = NULL;
    if (bytes) TRY(norma_scratch(fn, bytes, &mem));
    prepare_vectors(p->k, &p->L, p->g0, gain, p->bias, mem, &p->pv);
    norma_parallel_for(ceil_div(p->L.rows, p->rows_per_task), run_serial(&p->L, 2), forward_task, p);
    return NORMA_OK;
}

/* ----- backward ------------------------------------------------------------------------------ */

/* Where the parameter gradients go. Rows are grouped into segments of `seg_rows` consecutive rows
 * that share one gain/bias vector (all rows for LayerNorm weights, one sample's tokens for per-sample
 * modulation); a segment's gradients are the sum over its rows. Per-token modulation (per_row) writes
 * each row's gradient terms directly instead. */
enum { GRAD_GAIN, GRAD_BIAS, GRAD_GATE, NGRADS };
typedef struct row_grads {
    void *out[NGRADS];     /* dgain, dbias, dgate: NULL if not wanted */
    norma_dtype dtype;     /* of the gradients: F32 for weights, the data dtype for modulation */
    int64_t segments;      /* segment s writes its sums at offset s·stride_b of each out */
    int64_t seg_rows;      /* rows per segment */
    int64_t blocks_per_seg; /* fixed by the problem size only */
    bool per_row;
    double *partials;      /* per task: NGRADS·cols doubles (dgain, dbias, dgate) */
    float *rows_acc;       /* per task: NGRADS·cols floats, the last few rows' terms before they join partials */
} row_grads;

typedef struct row_bwd {
    row_layout L;
    const norma_kernel_table *k;
    row_stat stat;
    const void *dy, *x;
    void *dx;
    const void *dsum; /* fused residual add: dx += dsum before rounding (the gradient reaching the sum from later) */
    const void *h, *gate; /* gated residual add (sum = residual + gate·h): dh = gate·dx, dgate = Σ h·dx, from the
                           * unrounded dx */
    void *dh;
    double g0, eps;
    const void *gain;
    const void *bias; /* read only with act */
    int act;          /* a SiLU after the norm: dy is the gradient at its output */
    const float *mean;
    row_grads G;
    int64_t rows_per_task; /* when the partition is free (no summed gradients) */
    prepared_vectors pv;
    int stream; /* dx is too large to stay cached */
} row_bwd;

static bool wants_grads(const row_grads *G) { return G->out[GRAD_GAIN] || G->out[GRAD_BIAS] || G->out[GRAD_GATE]; }
static bool sums_grads(const row_grads *G) { return wants_grads(G) && !G->per_row; }

/* One row of the backward between its passes: the sums, then the coefficients of its dx. */
typedef struct bwd_row {
    norma_affine a;
    const void *dy; /* dy, or dz = dy·silu'(z) kept in dx */
    void *dx;
    double s[4]; /* Σg, Σg·d, Σd, Σd² with d = x - shift */
    double shift, delta, rstd; /* delta = mean - shift */
    norma_bwd_coef c;
} bwd_row;

/* Row r's first pass: its sums; fetching dy of row `fetch_row` (-1: none; see backward_task). */
static void backward_sums(const row_bwd *p, int64_t r, int64_t fetch_row, bwd_row *w) {
    const row_layout *L = &p->L;
    const void *x = row_ptr(L, p->x, r);
    w->dy = row_ptr(L, p->dy, r);
    w->a = norma_affine_zero;
    w->a.g0 = p->g0, w->a.gain = row_vector(L, p->gain, r), w->a.gain_c = prepared(&p->pv, p->pv.gain, L, r);
    w->a.stream = p->stream;
    if (p->act) { /* the SiLU's input z needs the statistics before the sums: one more pass over the cached row */
        row_stats(p->k, p->stat, L, x, p->eps, &w->a);
        w->a.act = 1, w->a.bias = row_vector(L, p->bias, r);
    }
    int64_t ahead = r + group_rows(L, 2);
    if (ahead < L->rows) {
        prefetch_row(row_ptr(L, p->x, ahead), L->cols * (int64_t)L->esize);
        prefetch_row(row_ptr(L, p->dy, ahead), L->cols * (int64_t)L->esize);
    }
    w->shift = p->stat == STAT_VARIANCE ? (double)p->mean[r] : 0.0;
    w->dx = p->dx ? (void *)row_ptr(L, p->dx, r) : NULL;
    /* f32 with a SiLU: bwd_sums keeps dz = dy·silu'(z) in dx for bwd_apply (the row is cached: a store
     * and a load instead of a second sigmoid); not over x, which bwd_apply still reads */
    bool keep_dz = p->act && L->dtype == NORMA_F32 && w->dx && p->dx != p->x;
    if (keep_dz) w->a.act_dz = w->dx;
    const void *next_dy[2] = {fetch_row >= 0 ? row_ptr(L, p->dy, fetch_row) : NULL, NULL};
    p->k->bwd_sums(L->dtype, L->cols, w->dy, x, &w->a, w->shift, p->stat == STAT_VARIANCE, w->s,
                   fetch_row >= 0 ? next_dy : NULL);
    if (keep_dz) w->dy = w->dx, w->a.act = 0, w->a.act_dz = NULL;
}

/* The rstd of a group's rows from their sums, exact in double (the saved float mean is only the
 * shift): 1/sqrt(var + eps) centred (var/1 is exact), else from Σx² as the forward, for the whole group
 * in one kernel call; with a SiLU, the rstd z was formed with. */
static void backward_rstds(const row_bwd *p, bwd_row *rows, int64_t count) {
    bool centred = p->stat == STAT_VARIANCE;
    double n = (double)p->L.cols, q[GROUP_ROWS], rstd[GROUP_ROWS];
    for (int64_t i = 0; i < count; i++) {
        const double *s = rows[i].s;
        double delta = centred ? s[2] / n : 0.0, var = s[3] / n - delta * delta;
        rows[i].delta = delta;
        q[i] = centred ? (var < 0.0 ? 0.0 : var) : s[3];
    }
    if (!p->act) rstds_of(p->k, p->stat, count, q, centred ? 1.0 : n, p->eps, rstd);
    for (int64_t i = 0; i < count; i++) rows[i].rstd = p->act ? rows[i].a.rstd : rstd[i];
}

/* Row r's coefficients of dx from its sums and rstd. */
static void backward_coefs(const row_bwd *p, int64_t r, bwd_row *w) {
    const row_layout *L = &p->L;
    const double *s = w->s;
    bool centred = p->stat == STAT_VARIANCE;
    double n = (double)L->cols, delta = w->delta, rstd = w->rstd;
    /* channel RMSNorm's clamp max(‖x‖, eps) is a constant when it bites: no term through the norm */
    bool l2 = p->stat == STAT_L2_CLAMP || p->stat == STAT_L2_UNIT;
    bool clamped = l2 && sqrt(s[3]) < p->eps; /* torch: no gradient below the clamp */
    /* dx = rstd·(g - [mean(g)] - x̂·Σ(g·x̂)/m): m = n where x̂ has unit mean square (LayerNorm, RMSNorm,
     * channel RMSNorm), 1 where it has unit norm (F.normalize). */
    double m = p->stat == STAT_L2_UNIT ? 1.0 : n;
    double mean_gxhat = rstd * (s[1] - delta * s[0]) / m; /* Σ(g·x̂)/m, x̂ = (d - delta)·rstd */
    w->c = (norma_bwd_coef){.centre = w->shift + delta, .kg = rstd, .kx = clamped ? 0.0 : -rstd * mean_gxhat,
                            .k0 = centred ? -rstd * s[0] / n : 0.0, .dsum = p->dsum ? row_ptr(L, p->dsum, r) : NULL,
                            .h = p->h ? row_ptr(L, p->h, r) : NULL, .gate = row_vector(L, p->gate, r),
                            .dh = p->dh ? (void *)row_ptr(L, p->dh, r) : NULL};
}

/* Row r's second pass: dx, and its parameter-gradient terms into acc (NULL where not wanted, by GRAD_*);
 * fetching the next row if `next` (see fetch_next). */
static void backward_apply(const row_bwd *p, int64_t r, bool next, bwd_row *w, void *const acc[NGRADS]) {
    const row_layout *L = &p->L;
    w->c.dgate = acc[GRAD_GATE];
    const void *next_row[2] = {NULL, NULL}; /* x: backward_sums fetches dy */
    bool fetch = fetch_next(L, next);
    if (fetch) next_row[0] = row_ptr(L, p->x, r + 1);
    p->k->bwd_apply(L->dtype, L->cols, w->dy, row_ptr(L, p->x, r), w->dx, &w->a, &w->c, w->rstd, acc[GRAD_GAIN],
                    acc[GRAD_BIAS], fetch ? next_row : NULL);
}

/* Rows r and r + 1's second passes in one (bwd_apply_pair: each accumulator loaded and stored once for
 * both, the same bits as two backward_apply); fetching the two rows after them if `next`. */
static void backward_apply_pair(const row_bwd *p, int64_t r, bool next, bwd_row *w, void *const acc[NGRADS]) {
    const row_layout *L = &p->L;
    w[0].c.dgate = w[1].c.dgate = acc[GRAD_GATE];
    const void *next_rows[4] = {NULL, NULL, NULL, NULL};
    bool fetch = fetch_next(L, next);
    if (fetch) {
        int64_t after = r + 3 < L->rows ? r + 3 : r + 2; /* a missing fourth row repeats the third */
        next_rows[0] = row_ptr(L, p->x, r + 2), next_rows[2] = row_ptr(L, p->x, after); /* dy: backward_sums */
    }
    const void *dy[2] = {w[0].dy, w[1].dy}, *x[2] = {row_ptr(L, p->x, r), row_ptr(L, p->x, r + 1)};
    void *dx[2] = {w[0].dx, w[1].dx};
    const norma_affine *a[2] = {&w[0].a, &w[1].a};
    const norma_bwd_coef *c[2] = {&w[0].c, &w[1].c};
    double rstd[2] = {w[0].rstd, w[1].rstd};
    p->k->bwd_apply_pair(L->dtype, L->cols, dy, x, dx, a, c, rstd, acc[GRAD_GAIN], acc[GRAD_BIAS],
                         fetch ? next_rows : NULL);
}

/* Stores n sums of `blocks` partials each (ld apart) as the gradient's dtype at out[offset...], if out. */
static void store_grad(const row_bwd *p, void *out, int64_t offset, const double *parts, int64_t blocks, int64_t ld,
                       int64_t n) {
    if (!out) return;
    p->k->sum_store(p->G.dtype, n, blocks, ld, parts, (char *)out + (size_t)offset * norma_dtype_size(p->G.dtype));
}

/* The parameter-gradient terms of each row are added to the task's double partials: directly for f32
 * data computed in double, through float accumulators flushed every FLUSH_ROWS rows where the kernels
 * compute in float (bf16/f16, and f32 in float: norma_set_f32_compute), as the kernels' float sums: no
 * float partial adds more than 16 terms. */
#define FLUSH_ROWS 16

/* Zeroes the wanted vectors of a task's partials (and of its float accumulators, if any). */
static void zero_wanted(const row_grads *G, size_t n, double *part, float *rows_acc) {
    for (int w = 0; w < NGRADS; w++) {
        if (!G->out[w]) continue;
        memset(part + w * n, 0, n * sizeof(double));
        if (rows_acc) memset(rows_acc + w * n, 0, n * sizeof(float));
    }
}

static void backward_task(void *ctx, int64_t task) {
    const row_bwd *p = ctx;
    const row_grads *G = &p->G;
    int64_t cols = p->L.cols;
    size_t n = (size_t)cols, all = NGRADS * n;
    bool direct = norma_compute_size(p->k, p->L.dtype) == sizeof(double); /* straight into the double partials */
    double *part = NULL;
    float *rows_acc = NULL;
    void *acc[NGRADS] = {NULL};
    if (wants_grads(G)) {
        part = G->partials + (size_t)task * all;
        rows_acc = G->rows_acc + (size_t)task * all;
        zero_wanted(G, n, part, direct ? NULL : rows_acc);
        for (int w = 0; w < NGRADS; w++)
            if (G->out[w]) acc[w] = direct ? (void *)(part + w * n) : (void *)(rows_acc + w * n);
    }
    int64_t r0, r1;
    if (sums_grads(G)) {
        int64_t seg = task / G->blocks_per_seg, blk = task % G->blocks_per_seg, base = seg * G->seg_rows;
        r0 = base + block_begin(G->seg_rows, G->blocks_per_seg, blk);
        r1 = base + block_begin(G->seg_rows, G->blocks_per_seg, blk + 1);
    } else {
        r0 = task * p->rows_per_task;
        r1 = min_i64(p->L.rows, r0 + p->rows_per_task);
    }
    /* Rows summed into the same accumulators go in pairs (backward_apply_pair): groups of an even count,
     * so that a pair starts at an even row of the task and never straddles a flush (FLUSH_ROWS is even). */
    bool pairs = sums_grads(G);
    int64_t group = group_rows(&p->L, 2); /* as in the forward: dy and x */
    if (pairs) group = max_i64(2, group & ~(int64_t)1);
    bwd_row rows[GROUP_ROWS];
    for (int64_t g0 = r0; g0 < r1; g0 += group) {
        int64_t g1 = min_i64(r1, g0 + group);
        for (int64_t r = g0; r < g1; r++) /* fetching dy of the row a group ahead, the applies its x */
            backward_sums(p, r, fetch_next(&p->L, r + (g1 - g0) < r1) ? r + (g1 - g0) : -1, &rows[r - g0]);
        backward_rstds(p, rows, g1 - g0);
        for (int64_t r = g0; r < g1; r++) backward_coefs(p, r, &rows[r - g0]);
        for (int64_t r = g0; r < g1; r++) {
            if (pairs && r + 1 < g1) backward_apply_pair(p, r, r + 2 < r1, &rows[r - g0], acc), r++;
            else backward_apply(p, r, r + 1 < r1, &rows[r - g0], acc);
            bool last = G->per_row || (r - r0) % FLUSH_ROWS == FLUSH_ROWS - 1 || r == r1 - 1;
            if (!direct && last) /* only the vectors wanted: a QK norm's row is as short as its weight */
                for (int w = 0; w < NGRADS; w++)
                    if (G->out[w]) p->k->acc_flush(cols, rows_acc + w * n, part + w * n);
            if (G->per_row && wants_grads(G)) { /* each row's own gradient: store it and start again */
                int64_t off = vector_offset(&p->L, r);
                for (int w = 0; w < NGRADS; w++) store_grad(p, G->out[w], off, part + w * n, 1, 0, cols);
                zero_wanted(G, n, part, NULL);
            }
        }
    }
}

/* Adds each segment's block partials in block order and stores the sums. Task = one segment and one
 * block of columns. */
#define REDUCE_COLS 1024
static void reduce_task(void *ctx, int64_t task) {
    const row_bwd *p = ctx;
    const row_grads *G = &p->G;
    int64_t cols = p->L.cols, col_blocks = ceil_div(cols, REDUCE_COLS);
    int64_t seg = task / col_blocks, j0 = (task % col_blocks) * REDUCE_COLS, j1 = min_i64(cols, j0 + REDUCE_COLS);
    for (int which = 0; which < NGRADS; which++) { /* block b's partials of `which`: b·NGRADS·cols further */
        const double *parts = G->partials + ((size_t)(seg * G->blocks_per_seg) * NGRADS + (size_t)which) * (size_t)cols;
        store_grad(p, G->out[which], seg * p->L.stride_b + j0, parts + j0, G->blocks_per_seg, NGRADS * cols, j1 - j0);
    }
}

#define MAX_GRAD_BLOCKS 64 /* partial-sum blocks per problem, split among the segments */
/* Rows per block at least: a block's partials are zeroed and then read by the reduction (two passes
 * over 8 bytes per column and gradient), which 32 rows of data outweigh by 12x or more (at 8 rows the
 * partials cost 17% of a LayerNorm backward of 512 x 3072 f32). */
#define MIN_BLOCK_ROWS 32

/* No rows: the gradient of every shared vector is zero (a sum of no partials), and nothing is read. */
static void zero_grads(const row_bwd *p) {
    if (p->G.per_row) return;
    for (int64_t s = 0; s < p->G.segments; s++)
        for (int which = 0; which < NGRADS; which++)
            store_grad(p, p->G.out[which], s * p->L.stride_b, NULL, 0, 0, p->L.cols);
}

static norma_status row_backward(row_bwd *p, const char *fn) {
    row_layout *L = &p->L;
    row_grads *G = &p->G;
    p->k = norma_kernel_for(p->L.dtype);
    p->stream = norma_streams_output(tensor_bytes(L), false);
    if (L->rows == 0) return zero_grads(p), NORMA_OK;
    if (!p->dx && !wants_grads(G)) return NORMA_OK;
    int64_t tasks;
    if (sums_grads(G)) {
        G->blocks_per_seg = G->seg_rows == 0 ? 0
                                             : max_i64(1, min_i64(ceil_div(G->seg_rows, MIN_BLOCK_ROWS),
                                                                  MAX_GRAD_BLOCKS / max_i64(1, G->segments)));
        tasks = G->segments * G->blocks_per_seg;
    } else {
        p->rows_per_task = rows_per_task(L);
        tasks = ceil_div(L->rows, p->rows_per_task);
    }
    size_t per_task = NGRADS * (size_t)L->cols, grads = wants_grads(G) ? (size_t)tasks * per_task * (sizeof(double) + sizeof(float)) : 0;
    grads = (grads + 63) / 64 * 64; /* the prepared vectors after them: aligned for their doubles */
    size_t vectors = prepared_bytes(p->k, L, p->gain, NULL), bytes = grads + vectors;
    void *scratch = NULL;
    if (bytes) TRY(norma_scratch(fn, bytes, &scratch));
    char *mem = scratch;
    if (grads) {
        G->partials = (double *)mem;
        G->rows_acc = (float *)(G->partials + (size_t)tasks * per_task);
    }
    prepare_vectors(p->k, L, p->g0, p->gain, NULL, mem ? mem + grads : NULL, &p->pv);
    norma_parallel_for(tasks, run_serial(L, 3), backward_task, p);
    if (sums_grads(G)) norma_parallel_for(G->segments * ceil_div(L->cols, REDUCE_COLS), run_serial(L, 1), reduce_task, p);
    return NORMA_OK;
}

/* ----- validation ---------------------------------------------------------------------------- */

static norma_status check_rows(const char *fn, norma_dtype dtype, int64_t rows, int64_t cols) {
    TRY(norma_check_dtype(fn, dtype));
    TRY(norma_check_count(fn, "rows", rows, 0));
    TRY(norma_check_count(fn, "cols", cols, 1));
    int64_t numel, sizes[2] = {rows, cols};
    const char *const names[2] = {"rows", "cols"};
    return norma_check_numel(fn, &numel, 2, sizes, names);
}

static row_layout plain_layout(norma_dtype dtype, int64_t rows, int64_t cols) {
    return (row_layout){.dtype = dtype, .esize = norma_dtype_size(dtype), .rows = rows, .cols = cols,
                        .tokens = 1, .stride_b = 0, .stride_l = 0};
}

/* ----- LayerNorm ----------------------------------------------------------------------------- */

norma_status norma_layer_norm_fwd(norma_dtype dtype, int64_t rows, int64_t cols, const void *x,
                                  const void *weight, const void *bias, double eps, void *y, float *mean,
                                  float *rstd) {
    static const char fn[] = "norma_layer_norm_fwd";
    TRY(check_rows(fn, dtype, rows, cols));
    TRY(norma_check_eps(fn, eps));
    if (rows == 0) return NORMA_OK;
    TRY(norma_check_ptr(fn, "x", x));
    TRY(norma_check_ptr(fn, "y", y));
    row_fwd p = {.L = plain_layout(dtype, rows, cols), .stat = STAT_VARIANCE, .eps = eps, .x = x, .y = y,
                 .g0 = weight ? 0.0 : 1.0, .gain = weight, .bias = bias, .mean = mean, .rstd = rstd};
    return row_forward(&p, fn);
}

/* The checks shared by the LayerNorm and RMSNorm backward passes. */
static norma_status check_row_bwd(const char *fn, norma_dtype dtype, int64_t rows, int64_t cols, const void *dy,
                                  const void *x, const float *mean, bool needs_mean, double eps) {
    TRY(check_rows(fn, dtype, rows, cols));
    TRY(norma_check_eps(fn, eps));
    if (rows == 0) return NORMA_OK;
    TRY(norma_check_ptr(fn, "dy", dy));
    TRY(norma_check_ptr(fn, "x", x));
    return needs_mean ? norma_check_ptr(fn, "mean", mean) : NORMA_OK;
}

norma_status norma_layer_norm_bwd(norma_dtype dtype, int64_t rows, int64_t cols, const void *dy, const void *x,
                                  const void *weight, const float *mean, double eps, void *dx, float *dweight,
                                  float *dbias) {
    static const char fn[] = "norma_layer_norm_bwd";
    TRY(check_row_bwd(fn, dtype, rows, cols, dy, x, mean, true, eps));
    row_bwd p = {.L = plain_layout(dtype, rows, cols), .stat = STAT_VARIANCE, .dy = dy, .x = x, .dx = dx,
                 .g0 = weight ? 0.0 : 1.0, .eps = eps, .gain = weight, .mean = mean,
                 .G = {.out = {dweight, dbias}, .dtype = NORMA_F32, .segments = 1, .seg_rows = rows}};
    return row_backward(&p, fn);
}

/* ----- RMSNorm ------------------------------------------------------------------------------- */

norma_status norma_rms_norm_fwd(norma_dtype dtype, int64_t rows, int64_t cols, const void *x, const void *weight,
                                double eps, void *y, float *rstd) {
    static const char fn[] = "norma_rms_norm_fwd";
    TRY(check_rows(fn, dtype, rows, cols));
    TRY(norma_check_eps(fn, eps));
    if (rows == 0) return NORMA_OK;
    TRY(norma_check_ptr(fn, "x", x));
    TRY(norma_check_ptr(fn, "y", y));
    row_fwd p = {.L = plain_layout(dtype, rows, cols), .stat = STAT_MEAN_SQUARE, .eps = eps, .x = x, .y = y,
                 .g0 = weight ? 0.0 : 1.0, .gain = weight, .rstd = rstd};
    return row_forward(&p, fn);
}

norma_status norma_rms_norm_bwd(norma_dtype dtype, int64_t rows, int64_t cols, const void *dy, const void *x,
                                const void *weight, double eps, void *dx, float *dweight) {
    static const char fn[] = "norma_rms_norm_bwd";
    TRY(check_row_bwd(fn, dtype, rows, cols, dy, x, NULL, false, eps));
    row_bwd p = {.L = plain_layout(dtype, rows, cols), .stat = STAT_MEAN_SQUARE, .dy = dy, .x = x, .dx = dx,
                 .g0 = weight ? 0.0 : 1.0, .eps = eps, .gain = weight,
                 .G = {.out = {dweight}, .dtype = NORMA_F32, .segments = 1, .seg_rows = rows}};
    return row_backward(&p, fn);
}

/* ----- residual add fused with LayerNorm / RMSNorm ------------------------------------------------ */

/* The tensors of a fused residual forward (sum = residual + addend, y = norm(sum)), when there are rows. */
static norma_status check_sum_tensors(const char *fn, const char *addend_name, const void *addend,
                                      const void *residual, const void *sum, const void *y) {
    TRY(norma_check_ptr(fn, addend_name, addend));
    TRY(norma_check_ptr(fn, "residual", residual));
    TRY(norma_check_ptr(fn, "sum", sum));
    TRY(norma_check_ptr(fn, "y", y));
    if (y == sum) return norma_fail(NORMA_EINVAL, fn, "y and sum are the same buffer: the sum would be lost");
    return NORMA_OK;
}

static norma_status check_add_fwd(const char *fn, norma_dtype dtype, int64_t rows, int64_t cols, const void *x,
                                  const void *residual, const void *sum, const void *y, double eps) {
    TRY(check_rows(fn, dtype, rows, cols));
    TRY(norma_check_eps(fn, eps));
    return rows == 0 ? NORMA_OK : check_sum_tensors(fn, "x", x, residual, sum, y);
}

norma_status norma_add_layer_norm_fwd(norma_dtype dtype, int64_t rows, int64_t cols, const void *x,
                                      const void *residual, void *sum, const void *weight, const void *bias,
                                      double eps, void *y, float *mean, float *rstd) {
    static const char fn[] = "norma_add_layer_norm_fwd";
    TRY(check_add_fwd(fn, dtype, rows, cols, x, residual, sum, y, eps));
    if (rows == 0) return NORMA_OK;
    row_fwd p = {.L = plain_layout(dtype, rows, cols), .stat = STAT_VARIANCE, .eps = eps, .x = residual, .addend = x,
                 .sum = sum, .y = y, .g0 = weight ? 0.0 : 1.0, .gain = weight, .bias = bias, .mean = mean, .rstd = rstd};
    return row_forward(&p, fn);
}

norma_status norma_add_rms_norm_fwd(norma_dtype dtype, int64_t rows, int64_t cols, const void *x, const void *residual,
                                    void *sum, const void *weight, double eps, void *y, float *rstd) {
    static const char fn[] = "norma_add_rms_norm_fwd";
    TRY(check_add_fwd(fn, dtype, rows, cols, x, residual, sum, y, eps));
    if (rows == 0) return NORMA_OK;
    row_fwd p = {.L = plain_layout(dtype, rows, cols), .stat = STAT_MEAN_SQUARE, .eps = eps, .x = residual,
                 .addend = x, .sum = sum, .y = y, .g0 = weight ? 0.0 : 1.0, .gain = weight, .rstd = rstd};
    return row_forward(&p, fn);
}

norma_status norma_add_layer_norm_bwd(norma_dtype dtype, int64_t rows, int64_t cols, const void *dy, const void *dsum,
                                      const void *sum, const void *weight, const float *mean, double eps, void *dx,
                                      float *dweight, float *dbias) {
    static const char fn[] = "norma_add_layer_norm_bwd";
    TRY(check_row_bwd(fn, dtype, rows, cols, dy, sum, mean, true, eps));
    if (dx && dsum == dx) return norma_fail(NORMA_EINVAL, fn, "dx and dsum are the same buffer");
    row_bwd p = {.L = plain_layout(dtype, rows, cols), .stat = STAT_VARIANCE, .dy = dy, .x = sum, .dx = dx,
                 .dsum = dsum, .g0 = weight ? 0.0 : 1.0, .eps = eps, .gain = weight, .mean = mean,
                 .G = {.out = {dweight, dbias}, .dtype = NORMA_F32, .segments = 1, .seg_rows = rows}};
    return row_backward(&p, fn);
}

norma_status norma_add_rms_norm_bwd(norma_dtype dtype, int64_t rows, int64_t cols, const void *dy, const void *dsum,
                                    const void *sum, const void *weight, double eps, void *dx, float *dweight) {
    static const char fn[] = "norma_add_rms_norm_bwd";
    TRY(check_row_bwd(fn, dtype, rows, cols, dy, sum, NULL, false, eps));
    if (dx && dsum == dx) return norma_fail(NORMA_EINVAL, fn, "dx and dsum are the same buffer");
    row_bwd p = {.L = plain_layout(dtype, rows, cols), .stat = STAT_MEAN_SQUARE, .dy = dy, .x = sum, .dx = dx,
                 .dsum = dsum, .g0 = weight ? 0.0 : 1.0, .eps = eps, .gain = weight,
                 .G = {.out = {dweight}, .dtype = NORMA_F32, .segments = 1, .seg_rows = rows}};
    return row_backward(&p, fn);
}

/* ----- L2 normalization (F.normalize) --------------------------------------------------------- */

norma_status norma_l2_normalize_fwd(norma_dtype dtype, int64_t rows, int64_t cols, const void *x, double eps,
                                    void *y) {
    static const char fn[] = "norma_l2_normalize_fwd";
    TRY(check_rows(fn, dtype, rows, cols));
    TRY(norma_check_eps(fn, eps));
    if (rows == 0) return NORMA_OK;
    TRY(norma_check_ptr(fn, "x", x));
    TRY(norma_check_ptr(fn, "y", y));
    return norma_row_stat_fwd(fn, STAT_L2_UNIT, dtype, rows, cols, x, NULL, 1.0, NULL, eps, 0, y);
}

norma_status norma_l2_normalize_bwd(norma_dtype dtype, int64_t rows, int64_t cols, const void *dy, const void *x,
                                    double eps, void *dx) {
    static const char fn[] = "norma_l2_normalize_bwd";
    TRY(check_row_bwd(fn, dtype, rows, cols, dy, x, NULL, false, eps));
    if (rows == 0 || !dx) return NORMA_OK;
    return norma_row_stat_bwd(fn, STAT_L2_UNIT, dtype, rows, cols, dy, x, NULL, 1.0, NULL, eps, 0, dx, NULL, NULL);
}

/* ----- AdaLN modulation ---------------------------------------------------------------------- */

static norma_status check_ada(const char *fn, norma_dtype dtype, norma_norm_kind norm, int64_t batch,
                              int64_t tokens, int64_t dim, int64_t sb, int64_t sl) {
    TRY(norma_check_dtype(fn, dtype));
    if (norm != NORMA_LAYER_NORM && norm != NORMA_RMS_NORM)
        return norma_fail(NORMA_EINVAL, fn, "norm must be NORMA_LAYER_NORM or NORMA_RMS_NORM (got %d)", (int)norm);
    TRY(norma_check_count(fn, "batch", batch, 0));
    TRY(norma_check_count(fn, "tokens", tokens, 0));
    TRY(norma_check_count(fn, "dim", dim, 1));
    TRY(norma_check_count(fn, "mod_sample_stride", sb, 0));
    TRY(norma_check_count(fn, "mod_token_stride", sl, 0));
    int64_t numel, sizes[3] = {batch, tokens, dim};
    const char *const names[3] = {"batch", "tokens", "dim"};
    TRY(norma_check_numel(fn, &numel, 3, sizes, names));
    if (batch == 0 || tokens == 0) return NORMA_OK;
    /* the last element read: (batch-1)·sb + (tokens-1)·sl + dim - 1 must be addressable */
    int64_t limit = PTRDIFF_MAX / (int64_t)norma_dtype_size(dtype), last = dim - 1;
    if ((sb && batch - 1 > (limit - last) / sb) || (last += (batch - 1) * sb, sl && tokens - 1 > (limit - last) / sl))
        return norma_fail(NORMA_EINVAL, fn, "the modulation strides (%lld, %lld) reach beyond the address space",
                          (long long)sb, (long long)sl);
    return NORMA_OK;
}

static row_layout ada_layout(norma_dtype dtype, int64_t batch, int64_t tokens, int64_t dim, int64_t sb,
                             int64_t sl) {
    return (row_layout){.dtype = dtype, .esize = norma_dtype_size(dtype), .rows = batch * tokens, .cols = dim,
                        .tokens = tokens > 0 ? tokens : 1, .stride_b = sb, .stride_l = sl};
}

/* The forward plan of a modulation, without its tensors (x, y and a residual's). */
static row_fwd ada_fwd_plan(norma_dtype dtype, norma_norm_kind norm, int64_t batch, int64_t tokens, int64_t dim,
                            const void *shift, const void *scale, int64_t sb, int64_t sl, double eps, float *mean,
                            float *rstd) {
    bool rms = norm == NORMA_RMS_NORM;
    return (row_fwd){.L = ada_layout(dtype, batch, tokens, dim, sb, sl), .stat = rms ? STAT_MEAN_SQUARE : STAT_VARIANCE,
                     .eps = eps, .g0 = 1.0, .gain = scale, .bias = shift, .mean = rms ? NULL : mean, .rstd = rstd};
}

norma_status norma_ada_layer_norm_fwd(norma_dtype dtype, norma_norm_kind norm, int64_t batch, int64_t tokens,
                                      int64_t dim, const void *x, const void *shift, const void *scale,
                                      int64_t mod_sample_stride, int64_t mod_token_stride, double eps, void *y,
                                      float *mean, float *rstd) {
    static const char fn[] = "norma_ada_layer_norm_fwd";
    TRY(check_ada(fn, dtype, norm, batch, tokens, dim, mod_sample_stride, mod_token_stride));
    TRY(norma_check_eps(fn, eps));
    if (batch == 0 || tokens == 0) return NORMA_OK;
    TRY(norma_check_ptr(fn, "x", x));
    TRY(norma_check_ptr(fn, "y", y));
    row_fwd p = ada_fwd_plan(dtype, norm, batch, tokens, dim, shift, scale, mod_sample_stride, mod_token_stride, eps,
                             mean, rstd);
    p.x = x, p.y = y;
    return row_forward(&p, fn);
}

norma_status norma_gated_ada_layer_norm_fwd(norma_dtype dtype, norma_norm_kind norm, int64_t batch, int64_t tokens,
                                            int64_t dim, const void *h, const void *gate, const void *residual,
                                            void *sum, const void *shift, const void *scale,
                                            int64_t mod_sample_stride, int64_t mod_token_stride, double eps, void *y,
                                            float *mean, float *rstd) {
    static const char fn[] = "norma_gated_ada_layer_norm_fwd";
    TRY(check_ada(fn, dtype, norm, batch, tokens, dim, mod_sample_stride, mod_token_stride));
    TRY(norma_check_eps(fn, eps));
    if (batch == 0 || tokens == 0) return NORMA_OK;
    TRY(check_sum_tensors(fn, "h", h, residual, sum, y));
    row_fwd p = ada_fwd_plan(dtype, norm, batch, tokens, dim, shift, scale, mod_sample_stride, mod_token_stride, eps,
                             mean, rstd);
    p.x = residual, p.addend = h, p.gate = gate, p.sum = sum, p.y = y;
    return row_forward(&p, fn);
}

/* The checks of a modulation backward: sizes, eps, and that the gradient vectors it writes (any of
 * `grads`) do not overlap. */
static norma_status check_ada_bwd(const char *fn, norma_dtype dtype, norma_norm_kind norm, int64_t batch,
                                  int64_t tokens, int64_t dim, int64_t sb, int64_t sl, double eps, bool grads) {
    TRY(check_ada(fn, dtype, norm, batch, tokens, dim, sb, sl));
    TRY(norma_check_eps(fn, eps));
    if (!grads || batch == 0 || tokens == 0) return NORMA_OK;
    /* With one token per sample the two layouts coincide: per sample. */
    bool per_token = sl != 0 && tokens != 1;
    if (per_token && sl < dim)
        return norma_fail(NORMA_EINVAL, fn, "mod_token_stride (%lld) < dim (%lld): the per-token gradients "
                                            "would overlap", (long long)sl, (long long)dim);
    int64_t extent = per_token ? (tokens - 1) * sl + dim : dim;
    if (batch > 1 && sb < extent && (per_token || sb != 0)) /* sb = 0: one vector shared by all samples */
        return norma_fail(NORMA_EINVAL, fn, "mod_sample_stride (%lld) < %lld: the gradients of consecutive "
                                            "samples would overlap", (long long)sb, (long long)extent);
    return NORMA_OK;
}

/* The backward plan of a modulation: gradient vectors per sample, per token, or one shared by the
 * batch (sb = 0); dgain = dscale, dbias = dshift. */
static row_bwd ada_bwd_plan(norma_dtype dtype, norma_norm_kind norm, int64_t batch, int64_t tokens, int64_t dim,
                            const void *scale, int64_t sb, int64_t sl, const float *mean, double eps, void *dshift,
                            void *dscale) {
    bool rms = norm == NORMA_RMS_NORM, per_token = sl != 0 && tokens != 1;
    row_bwd p = {.L = ada_layout(dtype, batch, tokens, dim, sb, sl), .stat = rms ? STAT_MEAN_SQUARE : STAT_VARIANCE,
                 .g0 = 1.0, .eps = eps, .gain = scale, .mean = mean,
                 .G = {.out = {dscale, dshift}, .dtype = dtype, .segments = batch, .seg_rows = tokens,
                       .per_row = per_token}};
    if (!per_token && sb == 0) p.G.segments = 1, p.G.seg_rows = batch * tokens; /* one shared vector */
    return p;
}

norma_status norma_ada_layer_norm_bwd(norma_dtype dtype, norma_norm_kind norm, int64_t batch, int64_t tokens,
                                      int64_t dim, const void *dy, const void *x, const void *scale,
                                      int64_t mod_sample_stride, int64_t mod_token_stride, const float *mean,
                                      double eps, void *dx, void *dshift, void *dscale) {
    static const char fn[] = "norma_ada_layer_norm_bwd";
    int64_t sb = mod_sample_stride, sl = mod_token_stride;
    TRY(check_ada_bwd(fn, dtype, norm, batch, tokens, dim, sb, sl, eps, dshift || dscale));
    if (batch > 0 && tokens > 0) {
        TRY(norma_check_ptr(fn, "dy", dy));
        TRY(norma_check_ptr(fn, "x", x));
        if (norm == NORMA_LAYER_NORM) TRY(norma_check_ptr(fn, "mean", mean));
    }
    row_bwd p = ada_bwd_plan(dtype, norm, batch, tokens, dim, scale, sb, sl, mean, eps, dshift, dscale);
    p.dy = dy, p.x = x, p.dx = dx;
    return row_backward(&p, fn);
}

norma_status norma_gated_ada_layer_norm_bwd(norma_dtype dtype, norma_norm_kind norm, int64_t batch, int64_t tokens,
                                            int64_t dim, const void *dy, const void *dsum, const void *sum,
                                            const void *h, const void *gate, const void *scale,
                                            int64_t mod_sample_stride, int64_t mod_token_stride, const float *mean,
                                            double eps, void *dresidual, void *dh, void *dgate, void *dshift,
                                            void *dscale) {
    static const char fn[] = "norma_gated_ada_layer_norm_bwd";
    int64_t sb = mod_sample_stride, sl = mod_token_stride;
    TRY(check_ada_bwd(fn, dtype, norm, batch, tokens, dim, sb, sl, eps, dgate || dshift || dscale));
    if (batch > 0 && tokens > 0) {
        TRY(norma_check_ptr(fn, "dy", dy));
        TRY(norma_check_ptr(fn, "sum", sum));
        if (norm == NORMA_LAYER_NORM) TRY(norma_check_ptr(fn, "mean", mean));
        TRY(norma_check_ptr(fn, "dresidual", dresidual));
        if (dgate) TRY(norma_check_ptr(fn, "h (for dgate)", h));
        if (dresidual == dsum) return norma_fail(NORMA_EINVAL, fn, "dresidual and dsum are the same buffer");
        if (dresidual == dh) return norma_fail(NORMA_EINVAL, fn, "dresidual and dh are the same buffer");
        if (dgate && dresidual == h)
            return norma_fail(NORMA_EINVAL, fn, "dresidual and h are the same buffer: dgate needs h");
    }
    row_bwd p = ada_bwd_plan(dtype, norm, batch, tokens, dim, scale, sb, sl, mean, eps, dshift, dscale);
    p.dy = dy, p.x = sum, p.dx = dresidual, p.dsum = dsum, p.h = h, p.gate = gate, p.dh = dh;
    p.G.out[GRAD_GATE] = dgate;
    return row_backward(&p, fn);
}

/* ----- rows of channels: channel RMSNorm in channels-last memory (src/channel_rms_norm.c) ------- */

norma_status norma_row_stat_fwd(const char *fn, row_stat stat, norma_dtype dtype, int64_t rows, int64_t cols,
                                const void *x, const void *gain, double g0, const void *bias, double eps, int act,
                                void *y) {
    row_fwd p = {.L = plain_layout(dtype, rows, cols), .stat = stat, .eps = eps, .x = x, .y = y, .g0 = g0,
                 .gain = gain, .bias = bias, .act = act};
    return row_forward(&p, fn);
}

norma_status norma_row_stat_bwd(const char *fn, row_stat stat, norma_dtype dtype, int64_t rows, int64_t cols,
                                const void *dy, const void *x, const void *gain, double g0, const void *bias,
                                double eps, int act, void *dx, float *dgain, float *dbias) {
    row_bwd p = {.L = plain_layout(dtype, rows, cols), .stat = stat, .dy = dy, .x = x, .dx = dx, .g0 = g0,
                 .eps = eps, .gain = gain, .bias = bias, .act = act,
                 .G = {.out = {dgain, dbias}, .dtype = NORMA_F32, .segments = 1, .seg_rows = rows}};
    return row_backward(&p, fn);
}
