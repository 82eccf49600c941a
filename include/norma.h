/*
 * norma.h: normalization layers for deep learning, forward and backward, on the CPU.
 *
 * Every normalization layer computes statistics over a set of elements and then applies an affine
 * map; only the set changes (Wu & He, Group Normalization, §3). norma implements each layer as a
 * thin plan over one shared reduction core, with PyTorch's semantics.
 *
 * Conventions (they hold for every function below)
 * ------------------------------------------------
 * - Status.   Every call returns a norma_status. On failure nothing has been written to any output
 *             or state buffer, and norma_last_error() describes the problem (per calling thread).
 * - dtype.    Activation-shaped tensors (x, y, dy, dx, modulation vectors and their gradients) and
 *             per-feature parameters (weight, bias) are all of the call's `dtype`.
 *             Statistics (mean, rstd) and parameter gradients (dweight, dbias) are always float:
 *             they are reductions, and a float keeps gradient accumulation lossless for bf16/f16.
 *             Internally every statistic is accumulated in double; f32 results are computed in
 *             double and rounded once (or in float: norma_set_f32_compute), bf16/f16 results are
 *             computed in float and rounded once.
 * - eps and momentum are doubles, as PyTorch's Python floats are.
 * - Memory.   The caller owns every buffer; all tensors are dense and row-major. Sizes are int64_t
 *             element counts. Outputs may alias inputs only where a function says so; otherwise
 *             they must not overlap.
 * - Gradients. Backward functions overwrite their outputs (dx, dweight, ...); they never
 *             accumulate into them. Pass NULL for a gradient you do not need.
 * - Threads.  Work is split into blocks that depend only on the problem size, and partial sums are
 *             combined in a fixed order, so results are bitwise identical for any thread count.
 * - Empty batches. A batch or row count of 0 is valid: nothing is read, parameter gradients are
 *             set to zero. Data pointers may then be NULL.
 * - NaN/Inf in the data are not errors: they propagate into the outputs of their own row (their own
 *             statistic set) and nowhere else.
 */
#ifndef NORMA_H
#define NORMA_H

#include <float.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's exported symbols (everything else is hidden). */
#if defined(_WIN32)
#define NORMA_API
#else
#define NORMA_API __attribute__((visibility("default")))
#endif

#define NORMA_VERSION_MAJOR 0
#define NORMA_VERSION_MINOR 1
#define NORMA_VERSION_PATCH 0

/* ---------------------------------------------------------------------------------------------
 * Status, errors, data types
 * ------------------------------------------------------------------------------------------- */

typedef enum norma_status {
    NORMA_OK = 0,
    NORMA_ENULL = 1,        /* a required pointer is NULL */
    NORMA_EINVAL = 2,       /* an argument is out of range: a size, a stride, eps, ... */
    NORMA_EUNSUPPORTED = 3, /* a valid request this build cannot serve (unknown dtype, ...) */
    NORMA_ENOMEM = 4,       /* scratch memory could not be allocated, or the workspace is too small */
    NORMA_ECOMM = 5         /* a communicator call failed (synchronized BatchNorm) */
} norma_status;

/* Message describing the last failure of a norma call on the calling thread, e.g.
 * "norma_layer_norm_fwd: eps must be a finite number >= 0 (got -1)". "" if none. */
NORMA_API const char *norma_last_error(void);

/* Name of a status: "NORMA_OK", "NORMA_EINVAL", ... */
NORMA_API const char *norma_status_name(norma_status status);

/* "major.minor.patch" of the library actually linked. */
NORMA_API const char *norma_version(void);

typedef enum norma_dtype {
    NORMA_F32 = 0,  /* IEEE binary32 */
    NORMA_BF16 = 1, /* bfloat16: the upper half of a binary32, rounded to nearest even */
    NORMA_F16 = 2   /* IEEE binary16 */
} norma_dtype;

/* Bytes per element of a dtype; 0 for an unknown value. */
NORMA_API size_t norma_dtype_size(norma_dtype dtype);

/* ---------------------------------------------------------------------------------------------
 * Threads and kernels
 * ------------------------------------------------------------------------------------------- */

/* Number of threads norma uses for one call (including the calling thread). n >= 1.
 * The default is the number of online CPUs, or the environment variable NORMA_NUM_THREADS.
 * Small problems always run on the calling thread. Results do not depend on this setting. */
NORMA_API norma_status norma_set_num_threads(int n);
NORMA_API int norma_get_num_threads(void);

/* ---------------------------------------------------------------------------------------------
 * Scratch memory
 *
 * Some calls need scratch: partial sums per block of work (a parameter gradient's per-block column
 * sums, a block's per-position statistics); KiB to a few MiB, never a copy of the activations (the
 * largest: GroupNorm + SiLU's bf16/f16 backward keeps one group's gradient as floats per thread, up to
 * 4 MiB each). By
 * default each thread keeps one grow-only buffer, allocated by the first call that needs more than
 * it has and reused by every later call, so a training or inference loop allocates only on its first
 * step (the buffer is freed when the thread exits).
 *
 * A caller that must own all memory (a framework's allocator, a fixed arena, no allocation inside the
 * library) gives the calling thread a workspace instead:
 *   norma_set_workspace(mem, bytes): later calls on this thread take their scratch from mem (which
 *     must stay valid until replaced) and never allocate; a call that needs more than `bytes` fails
 *     with NORMA_ENOMEM, naming the size it needed, and writes nothing. mem = NULL (bytes 0) returns
 *     to the thread's own buffer. Fails with NORMA_ENULL for mem NULL with bytes > 0.
 *   norma_workspace_needed(): the most scratch, in bytes, any call on this thread has asked for since
 *     the thread started or since the last norma_set_workspace: run a step once (with a workspace of
 *     0 bytes the calls fail but still report), then give a workspace of that size. The needs depend on
 *     the shapes and the thread count (norma_set_num_threads), not on the data.
 * Scratch is taken once per call on the calling thread; the pool's threads work in parts of it.
 * ------------------------------------------------------------------------------------------- */
NORMA_API norma_status norma_set_workspace(void *mem, size_t bytes);
NORMA_API size_t norma_workspace_needed(void);

/* How f32 data is computed (for every call from now on, on every thread; read once at the start of
 * each call, so a call never mixes the two):
 *   NORMA_F32_COMPUTE_DOUBLE (the default): in double, each result rounded once to float: within about
 *     half a float ulp of the exact result (of the terms it adds, where a result cancels), never less
 *     accurate than PyTorch's float32 kernels.
 *   NORMA_F32_COMPUTE_FLOAT: in float, with the same care as bf16/f16 data: statistics still summed in
 *     float lanes flushed into double, around a centre near the mean, recomputed in double where
 *     float squares overflow or underflow; each output a few float roundings of its terms from exact,
 *     as PyTorch's float32 kernels are (its tests allow 8 times PyTorch's float32 error; measured up to
 *     ~6 times on a few results, and as small or smaller on most). Faster where arithmetic
 *     rather than memory bounds a kernel (CPUs without AVX-512; see bench/README.md). One difference
 *     in range: where a statistic leaves float's range (an rstd beyond FLT_MAX: f32 data below
 *     ~1e-38 with eps 0), the outputs are inf/NaN, as PyTorch's.
 * Both are deterministic and bitwise identical across kernel variants and thread counts. The
 * environment variable NORMA_F32_COMPUTE=float (or double) sets the initial value.
 * Fails with NORMA_EINVAL for another value. */
typedef enum norma_f32_compute {
    NORMA_F32_COMPUTE_DOUBLE = 0,
    NORMA_F32_COMPUTE_FLOAT = 1
} norma_f32_compute;
NORMA_API norma_status norma_set_f32_compute(norma_f32_compute mode);
NORMA_API norma_f32_compute norma_get_f32_compute(void);

/* Name of the kernel variant in use: "reference" (portable scalar C), "avx2", "avx512" or
 * "avx512bf16" (AVX-512 with the BF16 conversion instructions).
 * It is chosen once from the CPU's features; the environment variable NORMA_KERNELS
 * (one of those names) forces one the CPU supports. All variants give bitwise identical results. */
NORMA_API const char *norma_kernels(void);

/* ---------------------------------------------------------------------------------------------
 * LayerNorm (torch.nn.LayerNorm, torch.nn.functional.layer_norm)
 *
 * x is `rows` rows of `cols` elements; each row is normalized over its `cols` elements:
 *     mean = Σx / cols,   var = Σ(x - mean)² / cols   (biased),   rstd = 1 / sqrt(var + eps)
 *     y = (x - mean) · rstd · weight + bias
 * weight, bias: `cols` elements each, or NULL (weight 1, bias 0; PyTorch's elementwise_affine=False,
 *     or bias=False).
 * mean, rstd: `rows` floats, or NULL. The backward pass needs the mean; rstd is for callers who want it.
 * y may alias x. eps must be finite and >= 0 (PyTorch's default is 1e-5; eps = 0 on a constant row
 * gives NaN, as in PyTorch).
 * Fails with NORMA_ENULL (x or y NULL while rows > 0), NORMA_EINVAL (rows < 0, cols < 1,
 * rows·cols too large, eps negative, NaN or infinite) or NORMA_EUNSUPPORTED (unknown dtype).
 * ------------------------------------------------------------------------------------------- */
NORMA_API norma_status norma_layer_norm_fwd(norma_dtype dtype, int64_t rows, int64_t cols,
                                  const void *x, const void *weight, const void *bias, double eps,
                                  void *y, float *mean, float *rstd);

/* LayerNorm backward, from the upstream gradient dy, the forward's input x, its saved mean, and eps:
 *     xhat = (x - mean) · rstd,   g = dy · weight
 *     dx = rstd · (g - mean(g) - xhat · mean(g · xhat))          (means over the row)
 *     dweight = Σ_rows dy · xhat,   dbias = Σ_rows dy
 * The statistics are recomputed exactly, in double, in the pass that reduces dy: the saved mean (a
 * float) serves as the centre d = x - mean, and mean + Σd/cols, var = Σd²/cols - (Σd/cols)² and
 * rstd = 1/sqrt(var + eps) follow. So the gradients do not inherit the rounding of the saved float
 * statistics (PyTorch's do), and stay accurate for rows whose mean is large against their spread.
 * Pass the forward's eps and the mean it saved.
 * weight: as given to the forward (NULL for none). dx (rows·cols), dweight, dbias (cols floats)
 * may each be NULL when not needed. dx may alias dy or x. With rows = 0, dweight and dbias are
 * zeroed. Fails like norma_layer_norm_fwd; also NORMA_ENULL if dy, x or mean is NULL (rows > 0). */
NORMA_API norma_status norma_layer_norm_bwd(norma_dtype dtype, int64_t rows, int64_t cols,
                                            const void *dy, const void *x, const void *weight,
                                            const float *mean, double eps,
                                            void *dx, float *dweight, float *dbias);

/* ---------------------------------------------------------------------------------------------
 * RMSNorm (torch.nn.RMSNorm, torch.nn.functional.rms_norm)
 *
 *     rstd = 1 / sqrt(Σx² / cols + eps),   y = x · rstd · weight
 * weight: `cols` elements or NULL. rstd: `rows` floats, or NULL (the backward does not need it).
 * PyTorch (>= 2.7) uses eps = FLT_EPSILON when eps is None: pass NORMA_RMS_NORM_DEFAULT_EPS.
 * (FLUX and Qwen-Image use 1e-6; LLaMA 1e-5.) y may alias x. Errors as for LayerNorm.
 * ------------------------------------------------------------------------------------------- */
#define NORMA_RMS_NORM_DEFAULT_EPS ((double)FLT_EPSILON)

NORMA_API norma_status norma_rms_norm_fwd(norma_dtype dtype, int64_t rows, int64_t cols,
                                const void *x, const void *weight, double eps,
                                void *y, float *rstd);

/* RMSNorm backward:   xhat = x · rstd,   g = dy · weight
 *     dx = rstd · (g - xhat · mean(g · xhat)),   dweight = Σ_rows dy · xhat
 * rstd is recomputed exactly from x and eps (pass the forward's eps) in the pass that reduces dy.
 * dx (may alias dy or x) and dweight may each be NULL. */
NORMA_API norma_status norma_rms_norm_bwd(norma_dtype dtype, int64_t rows, int64_t cols,
                                          const void *dy, const void *x, const void *weight,
                                          double eps, void *dx, float *dweight);

/* ---------------------------------------------------------------------------------------------
 * Residual add fused with LayerNorm / RMSNorm (pre-norm transformer blocks; vLLM's and FlashInfer's
 * fused_add_rms_norm): one pass reads x and the residual stream and writes both outputs.
 *     sum = residual + x   (added in the compute type, rounded once to the dtype, stored)
 *     y   = LayerNorm(sum) / RMSNorm(sum)   exactly as norma_layer_norm_fwd / norma_rms_norm_fwd of sum
 * sum may alias x or residual (residual += x in place); y may alias x or residual but not sum.
 * ------------------------------------------------------------------------------------------- */
NORMA_API norma_status norma_add_layer_norm_fwd(norma_dtype dtype, int64_t rows, int64_t cols,
                                                const void *x, const void *residual, void *sum,
                                                const void *weight, const void *bias, double eps,
                                                void *y, float *mean, float *rstd);
NORMA_API norma_status norma_add_rms_norm_fwd(norma_dtype dtype, int64_t rows, int64_t cols,
                                              const void *x, const void *residual, void *sum,
                                              const void *weight, double eps, void *y, float *rstd);

/* Backward. sum is the forward's sum (the norm's input); dsum (may be NULL) is the gradient reaching
 * the sum from the rest of the network (the residual stream). Then
 *     dx = norm_backward(dy) + dsum   (added in the compute type, rounded once)
 * is the gradient of both x and residual. dweight, dbias as norma_layer_norm_bwd. dx may alias dy,
 * not dsum. */
NORMA_API norma_status norma_add_layer_norm_bwd(norma_dtype dtype, int64_t rows, int64_t cols,
                                                const void *dy, const void *dsum, const void *sum,
                                                const void *weight, const float *mean, double eps,
                                                void *dx, float *dweight, float *dbias);
NORMA_API norma_status norma_add_rms_norm_bwd(norma_dtype dtype, int64_t rows, int64_t cols,
                                              const void *dy, const void *dsum, const void *sum,
                                              const void *weight, double eps, void *dx, float *dweight);

/* ---------------------------------------------------------------------------------------------
 * Adaptive LayerNorm modulation (DiT `modulate`, FLUX `Modulation`, Qwen-Image `_modulate`,
 * diffusers AdaLayerNormZero / AdaLayerNormContinuous)
 *
 * x has shape (batch, tokens, dim). Each token row is normalized without affine parameters, by
 * LayerNorm or RMSNorm, and modulated:
 *     y = norm(x) · (1 + scale) + shift
 * shift and scale are vectors of `dim` elements, either one per sample, broadcast over the tokens
 * (FLUX, DiT, Qwen-Image: shapes (B, D) or (B, 1, D)), or one per token ((B, L, D)). Where sample b's
 * token l reads its vectors is given by two strides, in elements:
 *     shift + b · mod_sample_stride + l · mod_token_stride        (the same for scale)
 *   per sample, contiguous (B, D):           mod_sample_stride = dim,        mod_token_stride = 0
 *   per token, contiguous (B, L, D):         mod_sample_stride = tokens·dim, mod_token_stride = dim
 *   chunks of a FLUX modulation (B, 1, 6·D): mod_sample_stride = 6·dim,      mod_token_stride = 0,
 *     with shift = mod + 0·dim, scale = mod + 1·dim (and gate = mod + 2·dim for the residual).
 * shift or scale may be NULL (no shift, or scale 0).
 *
 * The chunk-order trap: FLUX, DiT and Qwen-Image split the modulation output as (shift, scale, gate);
 * diffusers' AdaLayerNormContinuous (the final layer of its FLUX/SD3 ports) splits it as
 * (scale, shift), and checkpoint converters swap the halves. norma names both pointers, so the
 * order is the caller's to get right: pass the chunk that multiplies as `scale`.
 *
 * norm: NORMA_LAYER_NORM or NORMA_RMS_NORM (then mean is not written and may be NULL).
 * eps: FLUX/Qwen-Image/DiT use 1e-6. mean, rstd: batch·tokens floats, or NULL; the backward of
 * NORMA_LAYER_NORM needs the mean. y may alias x.
 * Strides must be >= 0. Fails with NORMA_EINVAL also when a stride is negative or dim < 1.
 * ------------------------------------------------------------------------------------------- */
typedef enum norma_norm_kind {
    NORMA_LAYER_NORM = 0, /* centred: (x - mean) · rstd, rstd over the variance */
    NORMA_RMS_NORM = 1    /* not centred: x · rstd, rstd over the mean square */
} norma_norm_kind;

NORMA_API norma_status norma_ada_layer_norm_fwd(norma_dtype dtype, norma_norm_kind norm,
                                      int64_t batch, int64_t tokens, int64_t dim,
                                      const void *x, const void *shift, const void *scale,
                                      int64_t mod_sample_stride, int64_t mod_token_stride,
                                      double eps, void *y, float *mean, float *rstd);

/* Backward of the modulation:
 *     g = dy · (1 + scale),   dx = the LayerNorm/RMSNorm backward of g (no affine),
 *     dscale = dy · norm(x),   dshift = dy,
 * summed over the tokens when the vectors are per sample (mod_token_stride = 0). As for LayerNorm,
 * the statistics are recomputed exactly from x, the saved mean (NORMA_LAYER_NORM; ignored for
 * NORMA_RMS_NORM, may be NULL) and eps.
 * dshift and dscale are written with the same strides as shift and scale (of the call's dtype), so
 * they can land directly in the chunks of a modulation gradient; the vectors written must not
 * overlap: with mod_token_stride = 0, mod_sample_stride >= dim, or 0 (one vector shared by every
 * sample: its gradient sums over the batch too), or batch = 1; otherwise mod_token_stride >= dim and
 * mod_sample_stride >= (tokens - 1) · mod_token_stride + dim (or batch = 1).
 * Without rows (batch or tokens 0), per-sample and shared gradient vectors are set to zero (their
 * sums are empty) and per-token ones, of which there are none, are not written.
 * dx (may alias dy or x), dshift and dscale may each be NULL. */
NORMA_API norma_status norma_ada_layer_norm_bwd(norma_dtype dtype, norma_norm_kind norm,
                                      int64_t batch, int64_t tokens, int64_t dim,
                                      const void *dy, const void *x, const void *scale,
                                      int64_t mod_sample_stride, int64_t mod_token_stride,
                                      const float *mean, double eps,
                                      void *dx, void *dshift, void *dscale);

/* ---------------------------------------------------------------------------------------------
 * Gated residual fused with the next modulated norm (FLUX double/single blocks, Qwen-Image, DiT):
 *     sum = residual + gate · h          (h: the block's attention or MLP output)
 *     y   = norm(sum) · (1 + scale) + shift
 * one pass that reads h and the residual stream and writes sum and y, where PyTorch makes four
 * (gate·h, the add, the norm, the modulation). FLUX's
 *     img = img + mod1.gate * attn_out;  x = (1 + mod2.scale) * norm2(img) + mod2.shift
 * is one call with residual = img, h = attn_out, and gate, shift, scale chunks of the modulation.
 * gate, shift and scale are modulation vectors with the same strides (as in norma_ada_layer_norm_fwd:
 * per sample or per token); any may be NULL (gate 1, shift 0, scale 0). sum = residual + gate·h is
 * formed in the compute type (the product is exact there) and rounded once to the dtype, and y is
 * exactly norma_ada_layer_norm_fwd of sum. sum may alias h or residual (residual += gate·h in place);
 * y may alias h or residual, not sum. mean, rstd as for norma_ada_layer_norm_fwd.
 * Fails like norma_ada_layer_norm_fwd; NORMA_ENULL if h, residual, sum or y is NULL (rows > 0),
 * NORMA_EINVAL if y is sum.
 * ------------------------------------------------------------------------------------------- */
NORMA_API norma_status norma_gated_ada_layer_norm_fwd(norma_dtype dtype, norma_norm_kind norm,
                                            int64_t batch, int64_t tokens, int64_t dim,
                                            const void *h, const void *gate, const void *residual, void *sum,
                                            const void *shift, const void *scale,
                                            int64_t mod_sample_stride, int64_t mod_token_stride,
                                            double eps, void *y, float *mean, float *rstd);

/* Backward. sum is the forward's sum; dy the gradient at y, dsum (may be NULL: 0) the gradient reaching
 * the sum from the rest of the network (the residual stream goes on). Then
 *     dresidual = the modulated norm's backward of dy (as norma_ada_layer_norm_bwd) + dsum
 *     dh        = gate · dresidual,      dgate = Σ h · dresidual   (over the tokens when per sample)
 *     dshift, dscale as norma_ada_layer_norm_bwd
 * dresidual is the gradient of the sum, hence of the residual. All are computed in one pass, in the
 * compute type, from dresidual before its rounding: each output is rounded once (PyTorch rounds the
 * norm's gradient, the add, then the products).
 * dresidual is required; dh, dgate, dshift, dscale may each be NULL (h is needed only for dgate,
 * gate only for dh). The gradient vectors are written with the modulation's strides, under the same
 * no-overlap rules as norma_ada_layer_norm_bwd. dresidual may alias dy or sum; not dsum, dh, or (with
 * dgate) h. dh may alias dy, h, dsum or sum.
 * Fails like norma_ada_layer_norm_bwd; NORMA_ENULL if dy, sum, dresidual, mean (NORMA_LAYER_NORM) or
 * (with dgate) h is NULL while there are rows; NORMA_EINVAL for a forbidden alias. */
NORMA_API norma_status norma_gated_ada_layer_norm_bwd(norma_dtype dtype, norma_norm_kind norm,
                                            int64_t batch, int64_t tokens, int64_t dim,
                                            const void *dy, const void *dsum, const void *sum,
                                            const void *h, const void *gate, const void *scale,
                                            int64_t mod_sample_stride, int64_t mod_token_stride,
                                            const float *mean, double eps,
                                            void *dresidual, void *dh, void *dgate, void *dshift,
                                            void *dscale);


/* =============================================================================================
 * Channel norms: activations of shape (N, C, spatial...)
 *
 * x holds N samples of C channels over `spatial` positions: spatial is the product of the spatial
 * sizes (H·W for images, D·H·W for volumes, L for sequences, 1 for none). Two memory layouts:
 *   NORMA_CHANNELS_FIRST  (NCHW, PyTorch's contiguous):  x[(n·C + c)·spatial + s]
 *   NORMA_CHANNELS_LAST   (NHWC, torch.channels_last):   x[(n·spatial + s)·C + c]
 * y, dy, dx have x's shape and layout. Per-channel parameters (weight, bias) have C elements of the
 * call's dtype; running statistics and saved statistics are floats.
 * Sizes: n >= 0, c >= 1, spatial >= 0; a tensor with no elements is valid (see each function).
 * All fail with NORMA_EUNSUPPORTED for an unknown dtype or layout, NORMA_EINVAL for a bad size, eps
 * or momentum, NORMA_ENULL for a missing required pointer.
 * ============================================================================================= */
typedef enum norma_layout {
    NORMA_CHANNELS_FIRST = 0,
    NORMA_CHANNELS_LAST = 1
} norma_layout;

/* ---------------------------------------------------------------------------------------------
 * BatchNorm (torch.nn.BatchNorm1d/2d/3d, F.batch_norm)
 *
 * training != 0: statistics of the batch, per channel over all n and s (count = n·spatial):
 *     mean, var = Σ(x - mean)²/count (biased),  rstd = 1/sqrt(var + eps)  (0 if var = eps = 0),
 *     y = (x - mean)·rstd·weight + bias;
 *   and, when running_mean and running_var are given (C floats each), they are updated in place:
 *     running_mean = (1 - momentum)·running_mean + momentum·mean
 *     running_var  = (1 - momentum)·running_var  + momentum·var·count/(count - 1)   (unbiased)
 *   PyTorch's momentum=None (cumulative average) is momentum = 1/num_batches_tracked, which the
 *   caller counts. count = 1 fails (NORMA_EINVAL: "Expected more than 1 value per channel when
 *   training"). An empty batch (count = 0) writes nothing: y is empty, statistics are unchanged.
 * training == 0 (inference): mean = running_mean, rstd = 1/sqrt(running_var + eps); both required.
 * PyTorch's track_running_stats=False is training != 0 with running_mean = running_var = NULL.
 * weight, bias: C elements or NULL. save_mean, save_rstd: C floats for the backward pass, or NULL;
 * written in training only. momentum in [0, 1]. y may alias x.
 * ------------------------------------------------------------------------------------------- */
NORMA_API norma_status norma_batch_norm_fwd(norma_dtype dtype, norma_layout layout,
                                            int64_t n, int64_t c, int64_t spatial,
                                            const void *x, const void *weight, const void *bias,
                                            float *running_mean, float *running_var,
                                            int training, double momentum, double eps,
                                            void *y, float *save_mean, float *save_rstd);

/* BatchNorm backward (PyTorch's native_batch_norm_backward), per channel with g = dy:
 *   training:   dx = (dy - mean(dy) - (x - mean)·rstd²·mean(dy·(x - mean)))·rstd·weight,
 *               the statistics recomputed exactly from x (save_mean is the centre) and eps;
 *   inference:  dx = dy·rstd·weight with rstd = 1/sqrt(running_var + eps) (constants);
 *   both:       dweight = Σ dy·(x - mean)·rstd,   dbias = Σ dy.
 * training needs save_mean; inference needs running_mean and running_var. dx, dweight, dbias may
 * each be NULL. dx may alias dy or x. */
NORMA_API norma_status norma_batch_norm_bwd(norma_dtype dtype, norma_layout layout,
                                            int64_t n, int64_t c, int64_t spatial,
                                            const void *dy, const void *x, const void *weight,
                                            const float *save_mean, const float *running_mean,
                                            const float *running_var, int training, double eps,
                                            void *dx, float *dweight, float *dbias);

/* ---------------------------------------------------------------------------------------------
 * SyncBatchNorm: BatchNorm over a batch split across processes (data-parallel training)
 *
 * Every process calls with its own samples (n may differ between processes, and may be 0). In
 * training the statistics are those of the whole batch, carried between processes by a
 * communicator the caller provides: MPI (norma_mpi.h, libnorma_mpi), torch.distributed (the Python
 * package's norma.nn.SyncBatchNorm), or anything else that can gather. Inference is plain BatchNorm
 * on the running statistics, without communication.
 *
 * Collective: every process of the communicator must make the same sequence of calls. Before any
 * statistics, the processes exchange their arguments' signature (dtype, layout, c, spatial,
 * training, eps, momentum, mode, and whether their own arguments were valid); if they disagree,
 * every process returns NORMA_EINVAL naming the first difference, never a hang or a wrong answer.
 * A communicator failure returns NORMA_ECOMM.
 * ------------------------------------------------------------------------------------------- */

/* The communicator: `size` processes, this one `rank`. allgather(ctx, send, recv, counts): process r
 * contributes counts[r] doubles (this process: counts[rank], from send); recv receives every
 * contribution in rank order, Σ counts doubles. counts is the same array on every process; a count
 * may be 0. Returns 0 on success. */
typedef struct norma_comm {
    int size, rank;
    void *ctx;
    int (*allgather)(void *ctx, const double *send, double *recv, const int64_t *counts);
} norma_comm;

typedef enum norma_sync_mode {
    /* The statistics of every sample's cells are gathered and merged in global sample order (the
     * samples of rank 0, then rank 1, ...): the results are bitwise equal to norma_batch_norm_* on the
     * concatenated batch, for any number of processes. Gathers 2·K·C doubles per sample forward and
     * 4·C per sample backward (K = 1 unless one sample's channel plane is larger than 2^18 elements,
     * or C·spatial is, channels-last). */
    NORMA_SYNC_EXACT = 0,
    /* Each process's per-channel statistics are gathered (3·C doubles forward, 4·C backward) and merged
     * in rank order with Chan's formula: deterministic for a given split, equal to the exact mode to
     * rounding. What PyTorch's SyncBatchNorm does. */
    NORMA_SYNC_FAST = 1
} norma_sync_mode;

/* norma_batch_norm_fwd over the whole batch: y, save_mean and save_rstd (global statistics) for this
 * process's samples; running_mean/running_var updated identically on every process from the global
 * mean and unbiased variance. A whole batch of one value per channel fails on every process. */
NORMA_API norma_status norma_sync_batch_norm_fwd(const norma_comm *comm, norma_sync_mode mode,
                                                 norma_dtype dtype, norma_layout layout,
                                                 int64_t n, int64_t c, int64_t spatial,
                                                 const void *x, const void *weight, const void *bias,
                                                 float *running_mean, float *running_var,
                                                 int training, double momentum, double eps,
                                                 void *y, float *save_mean, float *save_rstd);

/* norma_batch_norm_bwd over the whole batch: dx of this process's samples from the global sums.
 * dweight and dbias are this process's parts (Σ over its own samples), as PyTorch's SyncBatchNorm:
 * data-parallel training all-reduces them with every other parameter gradient. */
NORMA_API norma_status norma_sync_batch_norm_bwd(const norma_comm *comm, norma_sync_mode mode,
                                                 norma_dtype dtype, norma_layout layout,
                                                 int64_t n, int64_t c, int64_t spatial,
                                                 const void *dy, const void *x, const void *weight,
                                                 const float *save_mean, const float *running_mean,
                                                 const float *running_var, int training, double eps,
                                                 void *dx, float *dweight, float *dbias);

/* The same in three steps, for engines that cannot be a callback (the middle step is the caller's):
 *
 *   1. norma_batch_norm_stats: this process's per-channel statistics, 3·C doubles:
 *        stats[c] = count, stats[C + c] = mean, stats[2·C + c] = M2 = Σ(x - mean)²
 *   2. gather every process's stats, then norma_batch_norm_merge_stats: merges `parts` of them
 *      (parts·3·C doubles, in the order given) with Chan's formula; parts with count 0 are skipped
 *   3. norma_batch_norm_apply_stats: y = (x - mean)·rstd·weight + bias with the merged statistics;
 *      save_mean/save_rstd and the running statistics (if given) from them, as norma_batch_norm_fwd.
 *
 * Backward, training mode:
 *   1. norma_batch_norm_bwd_sums: per channel, with d = x - save_mean, 4·C doubles:
 *        sums[c] = Σdy, sums[C + c] = Σdy·d, sums[2·C + c] = Σd, sums[3·C + c] = Σd²
 *   2. add every process's sums (an all-reduce)
 *   3. norma_batch_norm_bwd_apply: dx from the summed sums over `count` elements per channel (the
 *      whole batch's n·spatial); dweight, dbias from this process's samples. */
NORMA_API norma_status norma_batch_norm_stats(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                              int64_t spatial, const void *x, double *stats);
NORMA_API norma_status norma_batch_norm_merge_stats(int64_t c, int64_t parts, const double *stats_parts,
                                                    double *stats);
NORMA_API norma_status norma_batch_norm_apply_stats(norma_dtype dtype, norma_layout layout,
                                                    int64_t n, int64_t c, int64_t spatial,
                                                    const void *x, const void *weight, const void *bias,
                                                    const double *stats, float *running_mean,
                                                    float *running_var, double momentum, double eps,
                                                    void *y, float *save_mean, float *save_rstd);
NORMA_API norma_status norma_batch_norm_bwd_sums(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                                 int64_t spatial, const void *dy, const void *x,
                                                 const float *save_mean, double *sums);
NORMA_API norma_status norma_batch_norm_bwd_apply(norma_dtype dtype, norma_layout layout,
                                                  int64_t n, int64_t c, int64_t spatial,
                                                  const void *dy, const void *x, const void *weight,
                                                  const float *save_mean, const double *sums, double count,
                                                  double eps, void *dx, float *dweight, float *dbias);

/* ---------------------------------------------------------------------------------------------
 * InstanceNorm (torch.nn.InstanceNorm1d/2d/3d, F.instance_norm)
 *
 * use_input_stats != 0: statistics per (sample, channel) over the spatial positions; the running
 *   statistics (C floats, optional) move toward the averages over the batch of the per-instance
 *   statistics (unbiased variance), as PyTorch does; spatial = 1 fails ("Expected more than 1
 *   spatial element when training"). save_mean, save_rstd: n·C floats, or NULL.
 * use_input_stats == 0: every instance uses running_mean/running_var (required), as BatchNorm
 *   inference. weight, bias: C elements or NULL (PyTorch's default is affine=False). y may alias x.
 * ------------------------------------------------------------------------------------------- */
NORMA_API norma_status norma_instance_norm_fwd(norma_dtype dtype, norma_layout layout,
                                               int64_t n, int64_t c, int64_t spatial,
                                               const void *x, const void *weight, const void *bias,
                                               float *running_mean, float *running_var,
                                               int use_input_stats, double momentum, double eps,
                                               void *y, float *save_mean, float *save_rstd);

/* InstanceNorm backward: per instance as GroupNorm with one channel per group (use_input_stats),
 * or as BatchNorm inference (running statistics). save_mean: n·C floats (use_input_stats). */
NORMA_API norma_status norma_instance_norm_bwd(norma_dtype dtype, norma_layout layout,
                                               int64_t n, int64_t c, int64_t spatial,
                                               const void *dy, const void *x, const void *weight,
                                               const float *save_mean, const float *running_mean,
                                               const float *running_var, int use_input_stats,
                                               double eps, void *dx, float *dweight, float *dbias);

/* ---------------------------------------------------------------------------------------------
 * GroupNorm (torch.nn.GroupNorm, F.group_norm)
 *
 * The C channels form `groups` groups of C/groups consecutive channels (C % groups == 0, else
 * NORMA_EINVAL); statistics per (sample, group) over its channels and positions:
 *     y = (x - mean)·rstd·weight[c] + bias[c],   rstd = 1/sqrt(var + eps)
 * mean, rstd: n·groups floats, or NULL. With spatial = 0, mean is 0 and rstd NaN (as PyTorch).
 * groups = C is InstanceNorm without running statistics; groups = 1 is LayerNorm over (C, spatial)
 * with per-channel affine. FLUX's and Stable Diffusion's VAEs use 32 groups, eps 1e-6. y may alias x.
 * ------------------------------------------------------------------------------------------- */
NORMA_API norma_status norma_group_norm_fwd(norma_dtype dtype, norma_layout layout,
                                            int64_t n, int64_t c, int64_t spatial, int64_t groups,
                                            const void *x, const void *weight, const void *bias,
                                            double eps, void *y, float *mean, float *rstd);

/* GroupNorm backward, with g = dy·weight[c] and the means over the group:
 *     dx = rstd·(g - mean(g) - xhat·mean(g·xhat)),   dweight[c] = Σ dy·xhat,   dbias[c] = Σ dy
 * statistics recomputed exactly from x, the saved mean (the centre) and eps. */
NORMA_API norma_status norma_group_norm_bwd(norma_dtype dtype, norma_layout layout,
                                            int64_t n, int64_t c, int64_t spatial, int64_t groups,
                                            const void *dy, const void *x, const void *weight,
                                            const float *mean, double eps,
                                            void *dx, float *dweight, float *dbias);

/* ---------------------------------------------------------------------------------------------
 * GroupNorm followed by SiLU, fused (the norm + activation of every FLUX and Qwen-Image VAE block,
 * nn.Sequential(nn.GroupNorm(...), nn.SiLU())):
 *     y = silu(z) = z·σ(z),   z = GroupNorm(x) as norma_group_norm_fwd,   σ(z) = 1/(1 + e^-z)
 * in the passes GroupNorm alone takes (z never stored); mean and rstd as GroupNorm's. σ is evaluated
 * in float for every dtype, from z rounded to float (as PyTorch's composition, whose GroupNorm output is
 * float): within 2 float ulps of σ(float(z)); where e^-z overflows float (z < -88.7) the result is -0,
 * as PyTorch's float SiLU. y may alias x.
 * ------------------------------------------------------------------------------------------- */
NORMA_API norma_status norma_group_norm_silu_fwd(norma_dtype dtype, norma_layout layout,
                                                 int64_t n, int64_t c, int64_t spatial, int64_t groups,
                                                 const void *x, const void *weight, const void *bias,
                                                 double eps, void *y, float *mean, float *rstd);

/* Its backward: dz = dy·silu'(z), silu'(z) = σ(z)·(1 + z·(1 - σ(z))), with z recomputed from x, the
 * saved mean and rstd (required), weight and bias; then GroupNorm's backward of dz (statistics
 * recomputed exactly from x, the saved mean and eps): dx, dweight[c] = Σ dz·xhat, dbias[c] = Σ dz. */
NORMA_API norma_status norma_group_norm_silu_bwd(norma_dtype dtype, norma_layout layout,
                                                 int64_t n, int64_t c, int64_t spatial, int64_t groups,
                                                 const void *dy, const void *x, const void *weight,
                                                 const void *bias, const float *mean, const float *rstd,
                                                 double eps, void *dx, float *dweight, float *dbias);

/* ---------------------------------------------------------------------------------------------
 * Modulated GroupNorm (diffusers AdaGroupNorm; with groups = C, conditional InstanceNorm):
 *     y = GroupNorm(x, no affine)·(1 + scale[n, c]) + shift[n, c]
 * shift and scale hold C elements per sample, sample n's at shift + n·mod_sample_stride (as for
 * AdaLN: C for a contiguous (N, C), 2·C for the halves of a (N, 2·C) projection). Either may be
 * NULL. diffusers' AdaGroupNorm chunks its projection as (scale, shift).
 * ------------------------------------------------------------------------------------------- */
NORMA_API norma_status norma_ada_group_norm_fwd(norma_dtype dtype, norma_layout layout,
                                                int64_t n, int64_t c, int64_t spatial, int64_t groups,
                                                const void *x, const void *shift, const void *scale,
                                                int64_t mod_sample_stride, double eps,
                                                void *y, float *mean, float *rstd);

/* dshift[n, c] = Σ_s dy,  dscale[n, c] = Σ_s dy·xhat, written with mod_sample_stride (which must then
 * be >= C unless n = 1); dx as GroupNorm's with weight 1 + scale. */
NORMA_API norma_status norma_ada_group_norm_bwd(norma_dtype dtype, norma_layout layout,
                                                int64_t n, int64_t c, int64_t spatial, int64_t groups,
                                                const void *dy, const void *x, const void *scale,
                                                int64_t mod_sample_stride, const float *mean, double eps,
                                                void *dx, void *dshift, void *dscale);

/* ---------------------------------------------------------------------------------------------
 * AdaIN, adaptive instance normalization (Huang & Belongie 2017):
 *     y = σ(style)·(content - μ(content))/σ(content) + μ(style)
 * μ and σ per (sample, channel) over the spatial positions; content and style share N, C and the
 * layout but may differ in spatial size. σ = sqrt(var + eps) with
 *   NORMA_VAR_UNBIASED: var over (count - 1): the reference implementation (naoto0804/pytorch-AdaIN,
 *                       calc_mean_std with torch.var, eps 1e-5), the default; count 1 gives NaN;
 *   NORMA_VAR_BIASED:   var over count (instance norm's convention).
 * content_mean, style_mean: n·C floats each, or NULL; the backward needs content_mean. y may alias
 * content.
 * ------------------------------------------------------------------------------------------- */
typedef enum norma_variance {
    NORMA_VAR_UNBIASED = 0,
    NORMA_VAR_BIASED = 1
} norma_variance;

NORMA_API norma_status norma_adain_fwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                       int64_t content_spatial, int64_t style_spatial,
                                       const void *content, const void *style,
                                       norma_variance variance, double eps,
                                       void *y, float *content_mean, float *style_mean);

/* Gradients to content (an instance-norm backward with gain σ(style)) and to style (through μ(style)
 * and σ(style)). The statistics are recomputed exactly from content (content_mean, saved by the
 * forward, is the centre), style and eps. dcontent (may alias dy) and dstyle may each be NULL. */
NORMA_API norma_status norma_adain_bwd(norma_dtype dtype, norma_layout layout, int64_t n, int64_t c,
                                       int64_t content_spatial, int64_t style_spatial,
                                       const void *dy, const void *content, const void *style,
                                       norma_variance variance, const float *content_mean, double eps,
                                       void *dcontent, void *dstyle);

/* ---------------------------------------------------------------------------------------------
 * Channel RMSNorm (Qwen-Image VAE's QwenImageRMS_norm, Wan 2.1's RMS_norm): per position, over the
 * C channels,
 *     y = x / max(‖x‖₂, eps) · sqrt(C) · gamma[c] + beta[c]
 * (F.normalize along the channels, then the scale). gamma: C elements or NULL (1); beta: C elements
 * or NULL (0). eps default 1e-12 (NORMA_CHANNEL_RMS_NORM_DEFAULT_EPS). y may alias x.
 * ------------------------------------------------------------------------------------------- */
#define NORMA_CHANNEL_RMS_NORM_DEFAULT_EPS 1e-12

NORMA_API norma_status norma_channel_rms_norm_fwd(norma_dtype dtype, norma_layout layout,
                                                  int64_t n, int64_t c, int64_t spatial,
                                                  const void *x, const void *gamma, const void *beta,
                                                  double eps, void *y);

/* Backward: with g = dy·gamma·sqrt(C) and ν = ‖x‖₂ over the channels,
 *     dx = (g - x·Σ(g·x)/ν²)/ν  if ν >= eps,   g/eps otherwise (the clamp is constant);
 *     dgamma[c] = Σ dy·x·sqrt(C)/max(ν, eps),   dbeta[c] = Σ dy.
 * dx (may alias dy or x), dgamma, dbeta (C floats) may each be NULL. */
NORMA_API norma_status norma_channel_rms_norm_bwd(norma_dtype dtype, norma_layout layout,
                                                  int64_t n, int64_t c, int64_t spatial,
                                                  const void *dy, const void *x, const void *gamma,
                                                  double eps, void *dx, float *dgamma, float *dbeta);

/* Channel RMSNorm followed by SiLU, fused (the Qwen-Image / Wan VAE blocks' RMS_norm, SiLU):
 *     y = silu(z),   z = norma_channel_rms_norm_fwd's y
 * in the passes of the norm alone (z never stored); σ in float as norma_group_norm_silu_fwd's. The
 * backward is the norm's with dy·silu'(z) for dy, so it needs beta (to form z) and reads x once more
 * than the norm alone (ν before the sums, from cache). dgamma = Σ dz·x̂, dbeta = Σ dz with
 * dz = dy·silu'(z). Aliases, NULLs and errors as the norm's. */
NORMA_API norma_status norma_channel_rms_norm_silu_fwd(norma_dtype dtype, norma_layout layout,
                                                       int64_t n, int64_t c, int64_t spatial,
                                                       const void *x, const void *gamma, const void *beta,
                                                       double eps, void *y);
NORMA_API norma_status norma_channel_rms_norm_silu_bwd(norma_dtype dtype, norma_layout layout,
                                                       int64_t n, int64_t c, int64_t spatial,
                                                       const void *dy, const void *x, const void *gamma,
                                                       const void *beta, double eps,
                                                       void *dx, float *dgamma, float *dbeta);

/* ---------------------------------------------------------------------------------------------
 * Weight reparametrizations: spectral normalization and weight normalization
 *
 * These act on a layer's weight, not on activations. A weight tensor and a chosen dimension `dim`
 * are described as (outer, rows, inner): rows = the size along dim, outer = the product of the
 * sizes before it, inner = the product of the sizes after it (1 if none). Examples:
 *   Linear (out, in), dim 0:                  outer 1,   rows out,  inner in
 *   Conv2d (out, in, kh, kw), dim 0:          outer 1,   rows out,  inner in·kh·kw
 *   ConvTranspose2d (in, out, kh, kw), dim 1: outer in,  rows out,  inner kh·kw
 * outer, rows and inner must be >= 1. The weight and its gradient are of the call's dtype; the
 * power-iteration vectors u and v and dg are float, sigma a double. The matrix W of spectral normalization is
 * (rows x outer·inner) with W[r, o·inner + i] = weight[o, r, i]: dim moved to the front and the
 * rest flattened, as PyTorch's reshape.
 * ------------------------------------------------------------------------------------------- */

/* The power iterations norma_spectral_norm_init runs, as torch.nn.utils.parametrizations. */
#define NORMA_SPECTRAL_NORM_WARMUP 15
#define NORMA_SPECTRAL_NORM_DEFAULT_EPS 1e-12

/* Spectral normalization (Miyato et al. 2018), as torch.nn.utils.parametrizations.spectral_norm:
 *     y = weight / sigma,   sigma = uᵀ W v  ~  the largest singular value of W
 * u (rows floats) and v (outer·inner floats) are the caller's persistent power-iteration state. First
 * n_power_iterations >= 0 steps of
 *     u = normalize(W v),   v = normalize(Wᵀ u),     normalize(x) = x / max(‖x‖₂, eps)
 * update u and v in place (training; pass 0 for inference, which leaves them unchanged). Then sigma
 * is computed with the updated u and v; after at least one step it comes from the last product,
 * sigma = (Wᵀu)·v, so a training forward reads the weight 2·n_power_iterations + 1 times. y may alias
 * weight; *sigma (if sigma is not NULL) receives sigma, in double, for the backward (which then
 * differentiates exactly the y computed; a float sigma would cost the gradient up to two float
 * roundings of relative error). A zero weight gives sigma 0
 * and y = NaN, as PyTorch. Products accumulate in double. */
NORMA_API norma_status norma_spectral_norm_fwd(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner,
                                               const void *weight, float *u, float *v,
                                               int64_t n_power_iterations, double eps,
                                               void *y, double *sigma);

/* Backward to the weight with u and v held constant (as the parametrization's autograd sees them):
 *     dweight = dy/sigma - (⟨dy, weight⟩/sigma²)·u vᵀ
 * u, v and sigma as the forward left them. dweight may alias dy. */
NORMA_API norma_status norma_spectral_norm_bwd(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner,
                                               const void *dy, const void *weight,
                                               const float *u, const float *v, double sigma,
                                               void *dweight);

/* Only the power iterations of the forward: n_power_iterations >= 0 steps, u and v updated. */
NORMA_API norma_status norma_spectral_norm_power_iteration(norma_dtype dtype, int64_t outer, int64_t rows,
                                                           int64_t inner, const void *weight,
                                                           int64_t n_power_iterations, double eps,
                                                           float *u, float *v);

/* Initial state, as the parametrization's registration: u and v drawn from N(0, 1), normalized, then
 * NORMA_SPECTRAL_NORM_WARMUP power iterations. The draws come from norma's own generator seeded by
 * `seed` (the same seed gives the same u and v on every machine), not from PyTorch's. */
NORMA_API norma_status norma_spectral_norm_init(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner,
                                                const void *weight, uint64_t seed, double eps,
                                                float *u, float *v);

/* L2 normalization of each of `rows` rows of `cols` elements, F.normalize(x, dim=-1, eps):
 *     y = x / max(‖x‖₂, eps)
 * A 1-D weight's spectral normalization is exactly this (rows = 1), as PyTorch's. y may alias x. */
NORMA_API norma_status norma_l2_normalize_fwd(norma_dtype dtype, int64_t rows, int64_t cols,
                                              const void *x, double eps, void *y);

/* Backward, with ν = ‖x‖₂ per row:
 *     dx = (dy - x·Σ(dy·x)/ν²)/ν  if ν >= eps,   dy/eps otherwise (the clamp is constant).
 * dx may alias dy or x. */
NORMA_API norma_status norma_l2_normalize_bwd(norma_dtype dtype, int64_t rows, int64_t cols,
                                              const void *dy, const void *x, double eps, void *dx);

/* Weight normalization (Salimans & Kingma 2016), as torch._weight_norm(v, g, dim):
 *     w[o, r, i] = v[o, r, i] · g[r] / ν[r],   ν[r] = ‖v[:, r, :]‖₂
 * the norm over every dimension but dim. PyTorch's dim=None (one norm over the whole tensor, scalar
 * g) is outer = rows = 1, inner = numel. g: rows elements of the dtype. There is no eps, as in
 * PyTorch: an all-zero slice gives NaN (0/0). w may alias v. */
NORMA_API norma_status norma_weight_norm_fwd(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner,
                                             const void *v, const void *g, void *w);

/* Backward (torch's _weight_norm_interface_backward), with s[r] = Σ dw·v over slice r:
 *     dg[r] = s[r]/ν[r],   dv = (g[r]/ν[r])·(dw - dg[r]·v/ν[r])
 * dv (may alias dw) and dg (rows floats) may each be NULL. */
NORMA_API norma_status norma_weight_norm_bwd(norma_dtype dtype, int64_t outer, int64_t rows, int64_t inner,
                                             const void *dw, const void *v, const void *g,
                                             void *dv, float *dg);

#ifdef __cplusplus
}
#endif

#endif /* NORMA_H */
