/* kernels.h: the reduction core, the only code that reads or writes activation memory.
 *
 * Every norm is a plan over the same few primitives on a contiguous run of n elements:
 *   moments:   mean and Σ(x - mean)² of the run
 *   sum_sq:    Σ x² of the run
 *   rstd_mean_sq, rstd_norm: 1/sqrt(q/n + eps), s/max(sqrt(q), eps) of many rows' sums q at once
 *   apply:     y = (x - mean) · rstd · gain + bias            (the forward of every norm)
 *   bwd_sums:  Σg, Σg·d, Σd, Σd²   with g = dy · gain, d = x - c   (what every backward reduces)
 *   bwd_apply: dx = kg·g + kx·x̂ + k0 with x̂ = (x - c)·rstd, and the parameter-gradient terms
 *   add:       a (gated) residual add, a + w·b (bwd_apply has its backward)
 *   row_dotv, col_dotv, axpv: W·v, Wᵀ·u and a rank-one update for spectral normalization
 * where gain and bias are a scalar plus an optional per-element vector, so the same primitive serves
 * a LayerNorm row (vector weight and bias), a BatchNorm plane (scalar weight and bias of its channel)
 * and an AdaLN row (gain 1 + scale[j], bias shift[j]).
 *
 * And the same on 2-D blocks of `rows` rows of `cols` elements (row r at x + r·ld), reducing down the
 * columns into double sums (one per column, written: the block's sums): what a channels-last
 * tensor (pixels x channels) needs for per-channel statistics, and a channels-first one for
 * per-pixel statistics over the channels:
 *   col_dev:           Σd and Σd² with d = x - c[j] (c NULL: 0)
 *   col_bwd_sums:      Σg, Σg·d, Σd, Σd² with g = dy·rg[r], d = x - c[j]
 *   col_apply:         y = ((x - m[j])·a[j])·rg[r] + b[j] + rb[r]   (then silu(y), if act)
 *   col_bwd_apply:     dx = kg[j]·dy·rg[r] + kx[j]·(x - c[j])·rs[j] + k0[j]; and, if row_sums, each
 *                      row's Σdy·x̂, Σdy (x̂ = (x - c[j])·rs[j]) added to row_sums[2r], [2r + 1]: a
 *                      channels-first channel's parameter gradients, from the same reads (dx NULL:
 *                      the sums alone)
 * (with a SiLU after the norm, the backward's dy is dy·silu'(z), z from norma_col_act)
 * (an optional vector, NULL, contributes 0 to a sum and 1 to a product; a NULL centre costs no operation;
 * col_dev's Σd may be NULL when not wanted, and col_bwd_sums' Σg and Σd, both or neither). Each
 * combination of options the library uses runs a loop of its own (core.inc's forms). Columns
 * accumulate row by row in order, so these too are identical across variants.
 *
 * Numerics, identical in every variant:
 * - f32 data is computed in double (results within about half a float ulp of exact, so never less
 *   accurate than PyTorch's float32); bf16/f16 data in float, whose error is far below their rounding.
 *   Each table has a twin (f32_in_float) that computes f32 data in float too: the same float code as
 *   bf16/f16, for callers who trade a few float roundings for speed (norma_set_f32_compute).
 *   One exception, for speed: RMSNorm's apply on f32 data with its weight as stored (no centre, bias
 *   or SiLU, g0 = 0, gain and no gain_c) works in pairs of floats (core.inc's apply_gain_pairs): within
 *   0.5 + 2^-22 ulp, where 2^-60 <= rstd <= 2^60 (the double lanes elsewhere); it assumes x·rstd
 *   within float's range, as RMSNorm's |x̂| <= sqrt(n) is (where x·rstd overflowed, y would be NaN).
 *   Double sums run in 16 lanes; float sums in 16 lanes flushed into double lanes every 16 steps (no
 *   float partial adds more than 16 terms). Element i of each 16-element step goes to lane i % 16, and
 *   lanes are added by one fixed tree. moments() works on fixed 2048-element chunks merged in order
 *   with Chan's formula: one pass around a shift in double; in float one pass around the mean of the
 *   first 16 elements (a second around the mean where that is more than a standard deviation off).
 * - The float path sums around a float centre near the mean, and splits a double centre into a float
 *   hi + lo, so x - centre is exact near a large mean; chunks (and columns of a 2-D block) whose float
 *   squares overflowed or underflowed are recomputed in double.
 * - Fused multiply-adds only where written (vd_fma/vf_fma: IEEE fma, rounded once, in every variant;
 *   the reference calls fma(), which glibc runs on the FMA instruction where the CPU has one); the
 *   build forbids the compiler any other contraction (-ffp-contract=off). So every variant (reference,
 *   AVX2, AVX-512) performs the same operations in the same order, and their results are bitwise
 *   identical (NaN payloads aside).
 *
 * The variants live in <isa>.c: each includes its shim (vec_<isa>.h) and core.inc, which defines the
 * primitives once against the shim. dispatch.c picks one table at startup.
 */
#ifndef NORMA_KERNELS_H
#define NORMA_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "norma.h"

/* y = (x - mean) · rstd · (g0 + gain[j]) + (b0 + bias[j]); a NULL vector contributes 0.
 * A plan that applies the same vectors to many rows passes them ready-made instead: gain_c and
 * bias_c, n elements of the compute type (double for f32 data, float for bf16/f16; see
 * norma_compute_size) that already include g0 and b0; where set they replace gain/g0 and bias/b0 (which
 * must still be given: the float path's exact fallback reads them). */
typedef struct norma_affine {
    double mean, rstd;
    double g0;
    const void *gain; /* n elements of the data's dtype, or NULL */
    double b0;
    const void *bias; /* n elements of the data's dtype, or NULL */
    const void *gain_c, *bias_c;
    int stream; /* store the output with streaming stores: it will not fit in the caches anyway */
    /* A SiLU after the norm (act = 1): apply's output is silu(y); bwd_sums and bwd_apply take the
     * gradient at the SiLU's output, dy·silu'(z), with z = y as above from mean, rstd and the rest;
     * bwd_sums also stores dy·silu'(z) to act_dz (n floats, whatever the dtype: for 16-bit data the
     * float value bwd_apply computes, even where the sums fall back to double; for f32 data rounded
     * from double) if not NULL, for a later pass to read
     * instead of computing it again: bwd_apply, with dy_f32 and without act, takes such floats as its
     * dy (for 16-bit data then the same dx as from act). */
    int act;
    float *act_dz;
    int dy_f32;
} norma_affine;

/* The input of a SiLU after a column norm: z = ((x - m[j])·a[j])·rg[r] + b[j] + rb[r], col_apply's y
 * (rg: the call's row gains; m, a, b, rb NULL: 0, 1, 0, 0). A NULL norma_col_act: no SiLU.
 * col_bwd_sums stores dy·silu'(z) to dz (floats in the block's layout, ld) if not NULL, as bwd_sums' act_dz. */
typedef struct norma_col_act {
    const double *m, *a, *b, *rb;
    float *dz;
} norma_col_act;

/* dx = kg · g + kx · x̂ + k0, with g = dy · (g0 + gain[j]) and x̂ = (x - centre) · rstd. (kx multiplies
 * x̂, not x - centre: for |x| ~ 1e30, rstd² would underflow a float where rstd does not.) */
typedef struct norma_bwd_coef {
    double centre; /* the precise mean (0 for RMSNorm) */
    double kg, kx, k0;
    /* A residual sum fused before the norm, sum = residual + gate·h: its gradient dt = dx + dsum (dsum,
     * the gradient reaching the sum from later, or NULL), stored to dx; from dt, unrounded, also
     * dh = gate·dt (if dh; gate NULL: 1) and dgate[j] += h·dt (if dgate: an accumulator of the compute
     * type, as dgain). dsum, h, gate: n elements of the dtype; dsum is not dx's memory, dh is not dx's. */
    const void *dsum, *h, *gate;
    void *dh, *dgate;
} norma_bwd_coef;

/* All-zero structs to start a per-row or per-cell norma_affine or norma_bwd_coef from (then set the
 * fields wanted): a copy is a few vector moves, where GCC builds a compound literal of these sizes with
 * `rep stos`, whose start-up took a quarter of forward_task's own time on a QK norm's rows of 128
 * (~70 cycles a row in all). Defined in dispatch.c. */
extern const norma_affine norma_affine_zero;
extern const norma_bwd_coef norma_bwd_coef_zero;

/* Adds a part of b elements (mean mb, M2 m2b) to running statistics (count *n, *mean, *m2), by Chan,
 * Golub & LeVeque's pairwise update: δ = mb - mean, mean += δ·b/(n+b), M2 += m2b + δ²·n·b/(n+b).
 * Numerically stable; never E[x²] - E[x]². */
static inline void moments_merge(double *n, double *mean, double *m2, double b, double mb, double m2b) {
    if (b == 0.0) return;
    double total = *n + b, delta = mb - *mean;
    *mean += delta * (b / total);
    *m2 += m2b + delta * delta * (*n * b / total);
    *n = total;
}

/* Outputs are written with streaming stores (norma_affine.stream, the `stream` of the column
 * primitives) when the tensor is larger than a last-level cache would usefully keep: caching them then
 * only costs the read-for-ownership of every line. A backward's output (and the regime of rows streamed
 * from memory, row_norm.c) from NORMA_STREAM_BYTES; a forward's from NORMA_STREAM_FWD_BYTES, where its
 * input and output together fill half the 32 MiB L3 that the development machine's cores share. Measured
 * with bench/ab.py on the AMD Zen 5 host, 12 MiB bf16 channel RMSNorm: forwards streamed 1.3-1.9x in both
 * layouts, with or without SiLU (in a loop over one cached tensor: no change); backwards streamed
 * 0.86-0.94x channels-first, so they keep the higher threshold. Weight and spectral norm take
 * NORMA_STREAM_BYTES for both directions: their flag also chooses the next-slice fetch (weight_norm.c). */
#define NORMA_STREAM_BYTES ((int64_t)16 << 20)
#define NORMA_STREAM_FWD_BYTES ((int64_t)8 << 20)
static inline bool norma_streams_output(int64_t bytes, bool forward) {
    return bytes >= (forward ? NORMA_STREAM_FWD_BYTES : NORMA_STREAM_BYTES);
}

/* Length of the chunks moments() works on: two passes over a chunk stay in L1. */
#define NORMA_CHUNK 2048

typedef struct norma_kernel_table {
    const char *name;
    /* The twin of this table whose kernels compute f32 data in float, as bf16/f16 data (what
     * norma_set_f32_compute selects; only f32 data is handed to it); NULL in the twin itself, which
     * is how a table tells it computes f32 in float (norma_f32_in_float). */
    const struct norma_kernel_table *f32_in_float;
    /* n >= 1. *mean = Σx/n, *m2 = Σ(x - mean)². next: NULL, or n elements that a later pass reads,
     * fetched into L2 a line per line of x (as bwd_apply's). */
    void (*moments)(norma_dtype dtype, int64_t n, const void *x, double *mean, double *m2, const void *next);
    /* Σ x². */
    double (*sum_sq)(norma_dtype dtype, int64_t n, const void *x);
    /* rstd[i] = 1/sqrt(q[i]/n + eps) for i < count: IEEE double operations, each rounded once, so the
     * same bits as the scalar expression; vectors take the divider's latency for many rows at once. */
    void (*rstd_mean_sq)(int64_t count, const double *q, double n, double eps, double *rstd);
    /* rstd[i] = s/max(sqrt(q[i]), eps), a NaN norm staying NaN (F.normalize's clamp_min), likewise. */
    void (*rstd_norm)(int64_t count, const double *q, double s, double eps, double *rstd);
    /* y[j] for j < n as above; y may alias x. next: NULL, or what the next row's first pass will read,
     * {x, and a second array or NULL} (n elements each), fetched as bwd_apply's. */
    void (*apply)(norma_dtype dtype, int64_t n, const void *x, void *y, const norma_affine *a,
                  const void *const *next);
    /* out = a + w·b in the compute type, rounded once to the dtype (residual streams; w, a gate vector,
     * NULL for 1); out may alias a or b. */
    void (*add)(norma_dtype dtype, int64_t n, const void *a, const void *b, const void *w, void *out);
    /* With g = dy · (a->g0 + a->gain[j]) and d = x - centre:
     * sums = {Σg, Σg·d, Σd, Σd²}; without `full` only Σg·d and Σd² are formed (sums[0] = sums[2] = 0),
     * what RMSNorm and a dot product need. a->mean, rstd, bias serve only a SiLU's z. next: NULL, or
     * {an array, a second or NULL} of n elements that a later pass reads, fetched as bwd_apply's. */
    void (*bwd_sums)(norma_dtype dtype, int64_t n, const void *dy, const void *x, const norma_affine *a,
                     double centre, int full, double sums[4], const void *const *next);
    /* dx[j] (if dx) as above (and a fused residual's gradients, see norma_bwd_coef); dgain[j] += dy·x̂
     * (if dgain); dbias[j] += dy (if dbias). The
     * accumulators are arrays of the compute type: double for f32 data, float for bf16/f16 data
     * (callers flush those into double every few rows; see norma_compute_size). dx may alias dy or x.
     * next: NULL, or {x, dy} of the next row (n elements each), fetched into L2 a line per line of this
     * row, so that the next row's first pass finds them cached and the memory reads overlap this pass's
     * arithmetic (a burst of prefetches for a whole long row stalls on the miss queue instead). Not a
     * field of norma_bwd_coef: growing it cost ~10 ns per short row. */
    void (*bwd_apply)(norma_dtype dtype, int64_t n, const void *dy, const void *x, void *dx,
                      const norma_affine *a, const norma_bwd_coef *k, double rstd, void *dgain, void *dbias,
                      const void *const *next);
    /* bwd_apply of two rows (dy, x, dx, a, k, rstd: one each), both adding to the same dgain and dbias:
     * row 0's terms and then row 1's, as two calls would (the same bits), but each accumulator loaded and
     * stored once for both, which is most of what the parameter gradients cost. The rows have the same
     * options (gain, SiLU, stream, fused residual or not). next: NULL, or {x, dy} of the two rows after
     * them (4 pointers; the last two may repeat the first two). */
    void (*bwd_apply_pair)(norma_dtype dtype, int64_t n, const void *const dy[2], const void *const x[2],
                           void *const dx[2], const norma_affine *const a[2], const norma_bwd_coef *const k[2],
                           const double rstd[2], void *dgain, void *dbias, const void *const *next);
    /* dst[i] = src[i] converted through float (rounded to nearest even; NaN quieted). */
    void (*convert)(norma_dtype from, norma_dtype to, int64_t n, const void *src, void *dst);
    /* sum[j] += acc[j], then acc[j] = 0: the float accumulators of bwd_apply flushed into double. */
    void (*acc_flush)(int64_t n, float *acc, double *sum);
    /* out[j] = 0 + parts[j] + parts[ld + j] + ... + parts[(blocks - 1)·ld + j], added in that order in
     * double, stored as the dtype through float (the parameter gradients from their block partials);
     * blocks 0 stores zeros and reads nothing. */
    void (*sum_store)(norma_dtype dtype, int64_t n, int64_t blocks, int64_t ld, const double *parts, void *out);
    /* dst[j] = offset + (src ? src[j] : 0), n elements of the compute type (for gain_c, bias_c). */
    void (*prepare)(norma_dtype dtype, int64_t n, double offset, const void *src, void *dst);
    /* out[r] = Σ_j x[r, j]·v[j] for a block of rows (W v), v a double vector. */
    void (*row_dotv)(norma_dtype dtype, int64_t rows, int64_t n, int64_t ld, const void *x, const double *v,
                     double *out);
    /* acc[j] += Σ_r coef[r]·x[r, j] for a block of rows (Wᵀu), rows in order. */
    void (*col_dotv)(norma_dtype dtype, int64_t rows, int64_t cols, int64_t ld, const void *x, const double *coef,
                     double *acc);
    /* dx = a·dy + b·v, with v a double vector (a row of a rank-one update). dx may alias dy. stream: dx
     * stored past the caches (a tensor too large for them). */
    void (*axpv)(norma_dtype dtype, int64_t n, const void *dy, void *dx, double a, double b, const double *v,
                 int stream);
    /* ----- 2-D blocks, per-column accumulation ----- */
    void (*col_dev)(norma_dtype dtype, int64_t rows, int64_t cols, int64_t ld, const void *x, const double *c,
                    double *sum_d, double *sum_dd);
    void (*col_bwd_sums)(norma_dtype dtype, int64_t rows, int64_t cols, int64_t ld, const void *dy,
                         const void *x, const double *c, const double *rg, const norma_col_act *act,
                         double *sums[4]);
    void (*col_apply)(norma_dtype dtype, int64_t rows, int64_t cols, int64_t ld, const void *x, void *y,
                      const double *m, const double *a, const double *b, const double *rg, const double *rb,
                      int act, int stream);
    void (*col_bwd_apply)(norma_dtype dtype, int64_t rows, int64_t cols, int64_t ld, const void *dy,
                          const void *x, void *dx, const double *c, const double *rs, const double *kg,
                          const double *kx, const double *k0, const double *rg, const norma_col_act *act,
                          double *row_sums, int stream);
} norma_kernel_table;

/* Bytes of an element of a valid dtype: norma_dtype_size inline, so that it folds to a constant in the
 * kernels (each inlined per dtype) instead of a call per kernel call. */
static inline size_t norma_elem_size(norma_dtype dtype) { return dtype == NORMA_F32 ? 4 : 2; }

/* Bytes of an element of the compute type of table k for data of a dtype: double for f32 (float in the
 * f32-in-float twin), float otherwise. The type of bwd_apply's accumulators and of norma_affine's
 * gain_c/bias_c. */
static inline bool norma_f32_in_float(const norma_kernel_table *k) { return k->f32_in_float == NULL; }
static inline size_t norma_compute_size(const norma_kernel_table *k, norma_dtype dtype) {
    return dtype == NORMA_F32 && !norma_f32_in_float(k) ? sizeof(double) : sizeof(float);
}

/* The table in use (chosen once; NORMA_KERNELS may force one). */
const norma_kernel_table *norma_kernel(void);
/* The table for one call on data of a dtype: norma_kernel(), or its f32-in-float twin for f32 data
 * when norma_set_f32_compute asks for float. A call takes it once, at its start, and keeps it. */
const norma_kernel_table *norma_kernel_for(norma_dtype dtype);
/* For tests (the fuzzer compares every variant with the reference through the public API): makes `t`
 * the table later calls use; NULL restores the automatic choice. Not thread-safe. */
void norma_kernel_use(const norma_kernel_table *t);

/* Every table compiled in, whether or not this CPU can run it. */
extern const norma_kernel_table norma_kernels_reference;
#if defined(NORMA_HAVE_X86_KERNELS)
extern const norma_kernel_table norma_kernels_avx2;
extern const norma_kernel_table norma_kernels_avx512;
extern const norma_kernel_table norma_kernels_avx512bf16;
#endif

/* The table of a variant by name if this CPU can run it, else NULL (tests compare variants). */
const norma_kernel_table *norma_kernel_by_name(const char *name);

#endif /* NORMA_KERNELS_H */
