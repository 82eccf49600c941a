/* spectral_norm.c: spectral normalization, y = W/σ with σ = uᵀWv from power iteration
 * (torch.nn.utils.parametrizations.spectral_norm). A 1-D weight is L2-normalized instead
 * (norma_l2_normalize_*, in row_norm.c).
 *
 * Matrix-vector products. The weight's memory is taken as `batch` row-major (m x n) blocks A_b, and
 * the two products every layout needs are
 *   gather:   p[r]   = Σ_b A_b[r, :]·q_b      (dot products along the rows; a task owns some r)
 *   scatter:  q_b[j] = Σ_r A_b[r, j]·p[r]     (accumulation down the columns; a task owns a strip of j)
 * with p of m elements and q of batch·n. For a view (outer, rows, inner) with inner > 1 the blocks are
 * weight[o] (batch = outer, m = rows, n = inner) and W = [A_0 A_1 ...]: u is p and v is q, so W v is a
 * gather and Wᵀu a scatter. With inner = 1 (dim is the last dimension) rows of one element would be
 * slow, so the memory is one (outer x rows) block A = Wᵀ instead: u is q and v is p, W v a scatter and
 * Wᵀu a gather. Either way a product reads the weight once, in memory order, accumulating in double,
 * and every output element adds its terms in a fixed order: results do not depend on the thread count.
 *
 * The iteration keeps u and v as the floats the caller stores (PyTorch's buffers): each normalized
 * vector is rounded to float before the next product uses it. After a step v = t/max(‖t‖, eps) with
 * t = Wᵀu, so σ = uᵀWv = t·v needs no further pass over W.
 *
 * Backward (u and v constant): dW = G/σ - (⟨G, W⟩/σ²)·u vᵀ. One pass reduces ⟨G, W⟩ over fixed chunks;
 * a second writes dW run by run: run (b, r) of the rank-one term u vᵀ is p[r]·q_b in both layouts. */
#include <math.h>
#include <string.h>

#include "weight_view.h"

#define STRIP 2048                    /* columns per scatter task: 16 KiB of accumulators, cached */
#define TASK_BYTES ((int64_t)1 << 17)  /* weight bytes per task where the partition is free */
#define DOT_CHUNK ((int64_t)1 << 15)   /* elements per partial sum of ⟨G, W⟩, fixed by the size alone */

/* The weight's memory as blocks, and which side u is on. */
typedef struct mat_view {
    const weight_view *w;
    int64_t batch, m, n;
    bool u_is_q; /* inner = 1: the single block is Wᵀ */
} mat_view;

static mat_view mat_of(const weight_view *w) {
    if (w->inner == 1) return (mat_view){.w = w, .batch = 1, .m = w->outer, .n = w->rows, .u_is_q = true};
    return (mat_view){.w = w, .batch = w->outer, .m = w->rows, .n = w->inner, .u_is_q = false};
}

static const void *block_row(const mat_view *M, const void *base, int64_t b, int64_t r) {
    return (const char *)base + (size_t)((b * M->m + r) * M->n) * M->w->es;
}

static bool small(const weight_view *w, int passes) {
    return w->numel * (int64_t)w->es * passes < NORMA_SERIAL_BYTES;
}

/* Whether an output of w's size is stored past the caches: too large to stay in them. */
static bool streams(const weight_view *w) { return w->numel * (int64_t)w->es >= NORMA_STREAM_BYTES; }

/* Rows of the blocks per task: ~TASK_BYTES of weight. */
static int64_t rows_per_task(const mat_view *M) {
    return max_i64(1, TASK_BYTES / (M->batch * M->n * (int64_t)M->w->es));
}

/* ----- the two products ----------------------------------------------------------------------- */

typedef struct product_job {
    const mat_view *M;
    const void *a;
    const double *in;
    double *out;
    int64_t rows_per_task;               /* gather */
    int64_t strips, parts, part_rows;    /* scatter */
    double *partials;                    /* scatter with parts > 1: batch·parts vectors of n */
} product_job;

static void gather_task(void *ctx, int64_t t) {
    enum { GROUP = 64 };
    const product_job *j = ctx;
    const mat_view *M = j->M;
    const weight_view *w = M->w;
    int64_t r1 = min_i64(M->m, (t + 1) * j->rows_per_task);
    for (int64_t r0 = t * j->rows_per_task; r0 < r1; r0 += GROUP) {
        int64_t rows = min_i64(GROUP, r1 - r0);
        double sum[GROUP] = {0}, part[GROUP];
        for (int64_t b = 0; b < M->batch; b++) { /* each row adds its blocks in order */
            w->k->row_dotv(w->dtype, rows, M->n, M->n, block_row(M, j->a, b, r0), j->in + b * M->n, part);
            for (int64_t r = 0; r < rows; r++) sum[r] += part[r];
        }
        memcpy(j->out + r0, sum, (size_t)rows * sizeof(double));
    }
}

/* Task (b, strip, part): the part's rows of one column strip of block b, into its partial vector. */
static void scatter_task(void *ctx, int64_t t) {
    const product_job *j = ctx;
    const mat_view *M = j->M;
    const weight_view *w = M->w;
    int64_t b = t / (j->strips * j->parts), s = t / j->parts % j->strips, p = t % j->parts;
    int64_t j0 = s * STRIP, width = min_i64(STRIP, M->n - j0), r0 = p * j->part_rows;
    int64_t rows = min_i64(j->part_rows, M->m - r0);
    double *acc = j->parts == 1 ? j->out + b * M->n + j0 : j->partials + (b * j->parts + p) * M->n + j0;
    memset(acc, 0, (size_t)width * sizeof(double));
    if (rows <= 0) return;
    const char *a = (const char *)block_row(M, j->a, b, r0) + (size_t)j0 * w->es;
    w->k->col_dotv(w->dtype, rows, width, M->n, a, j->in + r0, acc);
}

/* Task (b, strip): the parts' partial vectors added in order. */
static void combine_task(void *ctx, int64_t t) {
    const product_job *j = ctx;
    const mat_view *M = j->M;
    int64_t b = t / j->strips, j0 = t % j->strips * STRIP, j1 = min_i64(M->n, j0 + STRIP);
    for (int64_t c = j0; c < j1; c++) {
        double sum = 0.0;
        for (int64_t p = 0; p < j->parts; p++) sum += j->partials[(b * j->parts + p) * M->n + c];
        j->out[b * M->n + c] = sum;
    }
}

/* p = Σ_b A_b q_b */
static void gather(const mat_view *M, const void *a, const double *q, double *p) {
    product_job j = {.M = M, .a = a, .in = q, .out = p, .rows_per_task = rows_per_task(M)};
    norma_parallel_for(ceil_div(M->m, j.rows_per_task), small(M->w, 1), gather_task, &j);
}

/* How a scatter splits the rows: into up to MAX_PARTS parts of at least MIN_PART_ROWS rows, so that
 * tasks read whole rows of a strip (sequential memory), with partial vectors of at most
 * PARTIALS_DOUBLES in all. Depends on the sizes only. */
#define MAX_PARTS 16
#define MIN_PART_ROWS 64
#define PARTIALS_DOUBLES ((int64_t)1 << 21)

static int64_t scatter_parts(const mat_view *M) {
    int64_t by_rows = M->m / MIN_PART_ROWS, by_memory = PARTIALS_DOUBLES / (M->batch * M->n);
    return max_i64(1, min_i64(MAX_PARTS, min_i64(by_rows, by_memory)));
}

static int64_t scatter_scratch(const mat_view *M) {
    int64_t parts = scatter_parts(M);
    return parts > 1 ? M->batch * parts * M->n : 0;
}

/* q_b = A_bᵀ p; partials: scatter_scratch(M) doubles. */
static void scatter(const mat_view *M, const void *a, const double *p, double *q, double *partials) {
    product_job j = {.M = M, .a = a, .in = p, .out = q, .strips = ceil_div(M->n, STRIP), .parts = scatter_parts(M),
                     .partials = partials};
    j.part_rows = ceil_div(M->m, j.parts);
    norma_parallel_for(M->batch * j.strips * j.parts, small(M->w, 1), scatter_task, &j);
    if (j.parts > 1) norma_parallel_for(M->batch * j.strips, small(M->w, 1), combine_task, &j);
}

static void times_v(const mat_view *M, const void *a, const double *v, double *u, double *partials) {
    if (M->u_is_q) scatter(M, a, v, u, partials);
    else gather(M, a, v, u);
}

static void times_u(const mat_view *M, const void *a, const double *u, double *v, double *partials) {
    if (M->u_is_q) gather(M, a, u, v);
    else scatter(M, a, u, v, partials);
}

/* ----- power iteration ------------------------------------------------------------------------ */

/* out = x / max(‖x‖₂, eps) rounded to float, and x = out (what the next product uses). Returns
 * Σ x_before·out: σ when x is Wᵀu. A NaN norm stays NaN, as torch's clamp_min. */
static double normalize_into(int64_t n, double *x, double eps, float *out) {
    double ss = 0.0, dot = 0.0;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    double norm = sqrt(ss), d = norm < eps ? eps : norm;
    for (int64_t i = 0; i < n; i++) {
        out[i] = (float)(x[i] / d);
        dot += x[i] * (double)out[i];
        x[i] = out[i];
    }
    return dot;
}

static void load_vector(int64_t n, const float *src, double *dst) {
    for (int64_t i = 0; i < n; i++) dst[i] = src[i];
}

/* The caller's u and v as doubles, and room for a product: scratch for one call. */
typedef struct iteration {
    mat_view M;
    const void *weight;
    double eps;
    float *u_f, *v_f;
    double *u, *v, *tmp; /* rows, outer·inner, rows */
    double *partials;    /* the scatter's */
} iteration;

/* load: start from the caller's u and v (else the caller fills it->u and it->v). */
static norma_status iteration_init(iteration *it, const char *fn, const weight_view *w, const void *weight,
                                   double eps, float *u, float *v, bool load) {
    int64_t cols = w->outer * w->inner;
    norma_arena a;
    mat_view M = mat_of(w);
    TRY(norma_arena_init(&a, fn, 2 * w->rows + cols + scatter_scratch(&M)));
    *it = (iteration){.M = M, .weight = weight, .eps = eps, .u_f = u, .v_f = v, .u = norma_alloc(&a, w->rows),
                      .v = norma_alloc(&a, cols), .tmp = norma_alloc(&a, w->rows),
                      .partials = norma_alloc(&a, scatter_scratch(&M))};
    if (load) load_vector(w->rows, u, it->u), load_vector(cols, v, it->v);
    return NORMA_OK;
}

/* `steps` steps of u = normalize(W v), v = normalize(Wᵀ u); returns σ = uᵀWv after them (for
 * steps = 0, from one more product). */
static double iterate(iteration *it, int64_t steps) {
    const weight_view *w = it->M.w;
    double sigma = 0.0;
    for (int64_t s = 0; s < steps; s++) {
        times_v(&it->M, it->weight, it->v, it->u, it->partials);
        normalize_into(w->rows, it->u, it->eps, it->u_f);
        times_u(&it->M, it->weight, it->u, it->v, it->partials);
        sigma = normalize_into(w->outer * w->inner, it->v, it->eps, it->v_f);
    }
    if (steps > 0) return sigma;
    times_v(&it->M, it->weight, it->v, it->tmp, it->partials);
    for (int64_t r = 0; r < w->rows; r++) sigma += it->u[r] * it->tmp[r];
    return sigma;
}

/* ----- y = W/σ -------------------------------------------------------------------------------- */

typedef struct scale_job {
    const weight_view *w;
    const void *x;
    void *y;
    norma_affine a;
    int64_t chunk;
} scale_job;

static void scale_task(void *ctx, int64_t t) {
    const scale_job *j = ctx;
    int64_t i0 = t * j->chunk, n = min_i64(j->chunk, j->w->numel - i0);
    size_t off = (size_t)i0 * j->w->es;
    j->w->k->apply(j->w->dtype, n, (const char *)j->x + off, (char *)j->y + off, &j->a, NULL);
}

static void scale_weight(const weight_view *w, const void *x, void *y, double sigma) {
    scale_job j = {.w = w, .x = x, .y = y, .chunk = TASK_BYTES / (int64_t)w->es,
                   .a = {.mean = 0.0, .rstd = 1.0 / sigma, .g0 = 1.0, .stream = streams(w)}};
    norma_parallel_for(ceil_div(w->numel, j.chunk), small(w, 2), scale_task, &j);
}

/* ----- entry points --------------------------------------------------------------------------- */

static norma_status check_state(const char *fn, const void *weight, const void *u, const void *v) {
    TRY(norma_check_ptr(fn, "weight", weight));
    TRY(norma_check_ptr(fn, "u", u));
    return norma_check_ptr(fn, "v", v);
}

static norma_status check_iteration(const char *fn, int64_t steps, double eps) {
    TRY(norma_check_count(fn, "n_power_iterations", steps, 0));
    return norma_check_eps(fn, eps);
}

norma_status norma_spectral_norm_power_iteration(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner,
                                                 const void *weight, int64_t n_power_iterations, double eps,
                                                 float *u, float *v) {
    static const char fn[] = "norma_spectral_norm_power_iteration";
    weight_view w;
    TRY(weight_view_make(fn, dtype, outer, rows, inner, &w));
    TRY(check_iteration(fn, n_power_iterations, eps));
    TRY(check_state(fn, weight, u, v));
    if (n_power_iterations == 0) return NORMA_OK;
    iteration it;
    TRY(iteration_init(&it, fn, &w, weight, eps, u, v, true));
    iterate(&it, n_power_iterations);
    return NORMA_OK;
}

norma_status norma_spectral_norm_fwd(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner,
                                     const void *weight, float *u, float *v, int64_t n_power_iterations, double eps,
                                     void *y, double *sigma) {
    static const char fn[] = "norma_spectral_norm_fwd";
    weight_view w;
    TRY(weight_view_make(fn, dtype, outer, rows, inner, &w));
    TRY(check_iteration(fn, n_power_iterations, eps));
    TRY(check_state(fn, weight, u, v));
    TRY(norma_check_ptr(fn, "y", y));
    iteration it;
    TRY(iteration_init(&it, fn, &w, weight, eps, u, v, true));
    double s = iterate(&it, n_power_iterations);
    scale_weight(&w, weight, y, s);
    if (sigma) *sigma = s;
    return NORMA_OK;
}

/* ----- backward ------------------------------------------------------------------------------- */

typedef struct bwd_job {
    const mat_view *M;
    const void *dy, *weight;
    void *dx;
    double *partials;    /* ⟨G, W⟩ per DOT_CHUNK */
    const double *p, *q; /* u and v on the block sides */
    double a, c;         /* dx = a·G + c·p[r]·q_b */
    int64_t rows_per_task;
    int stream; /* dx past the caches (see norma_spectral_norm_bwd) */
} bwd_job;

static void dot_task(void *ctx, int64_t t) {
    const bwd_job *j = ctx;
    const weight_view *w = j->M->w;
    int64_t i0 = t * DOT_CHUNK, n = min_i64(DOT_CHUNK, w->numel - i0);
    size_t off = (size_t)i0 * w->es;
    norma_affine unit = {.g0 = 1.0};
    double s[4]; /* Σg, Σg·d with g = dy, d = weight */
    w->k->bwd_sums(w->dtype, n, (const char *)j->dy + off, (const char *)j->weight + off, &unit, 0.0, 0, s, NULL);
    j->partials[t] = s[1];
}

static void rank_one_task(void *ctx, int64_t t) {
    const bwd_job *j = ctx;
    const mat_view *M = j->M;
    const weight_view *w = M->w;
    int64_t runs = M->batch * M->m;
    for (int64_t run = t * j->rows_per_task; run < min_i64(runs, (t + 1) * j->rows_per_task); run++) {
        int64_t b = run / M->m, r = run % M->m;
        w->k->axpv(w->dtype, M->n, block_row(M, j->dy, b, r), (void *)block_row(M, j->dx, b, r), j->a,
                   j->c * j->p[r], j->q + b * M->n, j->stream);
    }
}

norma_status norma_spectral_norm_bwd(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner, const void *dy,
                                     const void *weight, const float *u, const float *v, double sigma,
                                     void *dweight) {
    static const char fn[] = "norma_spectral_norm_bwd";
    weight_view w;
    TRY(weight_view_make(fn, dtype, outer, rows, inner, &w));
    TRY(norma_check_ptr(fn, "dy", dy));
    TRY(check_state(fn, weight, u, v));
    if (!dweight) return NORMA_OK;
    mat_view M = mat_of(&w);
    int64_t cols = outer * inner, chunks = ceil_div(w.numel, DOT_CHUNK);
    norma_arena arena;
    TRY(norma_arena_init(&arena, fn, rows + cols + chunks));
    double *ud = norma_alloc(&arena, rows), *vd = norma_alloc(&arena, cols);
    load_vector(rows, u, ud), load_vector(cols, v, vd);
    bwd_job j = {.M = &M, .dy = dy, .weight = weight, .dx = dweight, .partials = norma_alloc(&arena, chunks),
                 .p = M.u_is_q ? vd : ud, .q = M.u_is_q ? ud : vd, .rows_per_task = rows_per_task(&M),
                 /* f32 only: streaming dx measured 1.08-1.12x for f32 and 0.79-0.84x for bf16 (4096 x
                  * 4096, bench/ab.py, Xeon host); why is not established (the row norms' bf16 outputs
                  * gain from streaming: without it they measured 0.48-0.86x) */
                 .stream = streams(&w) && w.dtype == NORMA_F32};
    norma_parallel_for(chunks, small(&w, 2), dot_task, &j);
    double gw = 0.0;
    for (int64_t t = 0; t < chunks; t++) gw += j.partials[t];
    j.a = 1.0 / sigma;
    j.c = -gw * j.a * j.a;
    /* rows_per_task counts block rows of the whole batch; here a task takes that many single runs */
    j.rows_per_task = max_i64(1, TASK_BYTES / (M.n * (int64_t)w.es));
    norma_parallel_for(ceil_div(M.batch * M.m, j.rows_per_task), small(&w, 3), rank_one_task, &j);
    return NORMA_OK;
}

/* ----- initial state -------------------------------------------------------------------------- */

/* SplitMix64 (Steele, Lea & Flood 2014): a small generator with a full 2^64 period, enough for
 * starting vectors; normals by Box-Muller. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static double uniform_open0(uint64_t *state) { /* in (0, 1] */
    return (double)((splitmix64(state) >> 11) + 1) * 0x1p-53;
}

static void fill_normal(uint64_t *state, int64_t n, double *x) {
    const double two_pi = 6.283185307179586;
    for (int64_t i = 0; i < n; i += 2) {
        double radius = sqrt(-2.0 * log(uniform_open0(state))), angle = two_pi * uniform_open0(state);
        x[i] = radius * cos(angle);
        if (i + 1 < n) x[i + 1] = radius * sin(angle);
    }
}

norma_status norma_spectral_norm_init(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner,
                                      const void *weight, uint64_t seed, double eps, float *u, float *v) {
    static const char fn[] = "norma_spectral_norm_init";
    weight_view w;
    TRY(weight_view_make(fn, dtype, outer, rows, inner, &w));
    TRY(norma_check_eps(fn, eps));
    TRY(check_state(fn, weight, u, v));
    iteration it;
    TRY(iteration_init(&it, fn, &w, weight, eps, u, v, false));
    uint64_t state = seed;
    fill_normal(&state, rows, it.u);
    fill_normal(&state, outer * inner, it.v);
    normalize_into(rows, it.u, eps, u);
    normalize_into(outer * inner, it.v, eps, v);
    iterate(&it, NORMA_SPECTRAL_NORM_WARMUP);
    return NORMA_OK;
}
