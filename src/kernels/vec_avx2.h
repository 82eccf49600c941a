/* vec_avx2.h: the shim of vec_scalar.h on AVX2 + FMA + F16C: vd is four ymm of doubles (lanes 0-3, 4-7,
 * 8-11, 12-15), vf two ymm of floats. AVX2 has no masked 16-bit loads, so tails go through a small
 * zero-padded buffer. Every operation rounds like its scalar twin and vd_reduce adds in the same
 * tree, so results are bitwise the reference's. */
#ifndef NORMA_VEC_AVX2_H
#define NORMA_VEC_AVX2_H

#include <immintrin.h>
#include <string.h>

#include "norma.h"

/* Every operation is inlined: in the large kernel functions GCC, past its growth limits, left some
 * (vd_load, vf_load_part, vf_stream, ...) as calls inside the loops of the generic forms. */
#ifndef SHIM
#if defined(__GNUC__)
#define SHIM static inline __attribute__((always_inline))
#else
#define SHIM static inline
#endif
#endif

#define VL 16
/* A vd is four of the 16 ymm registers: the constants of two rows of bwd_apply_pair (a dozen vd) and
 * its values spill to the stack, which cost more than the pair saves (Zen 3, bench/ab.py, 9 rounds: the
 * gated residual's backward 1.5x (f32) and 1.7x (bf16), RMSNorm bf16 backward 1.55x as two single
 * rows, the other row backwards level). core.inc runs the pair as two rows, and gives the single row
 * the pair's specialized forms (core_prec.inc, PAIR_FORMS). */
#define VEC_PAIR_ROWS 0
/* Two streamed outputs in one loop, each written a half line (16-bit data) or a line (f32) per step,
 * ran the gated residual's backward at 0.45x (bf16) and 0.83x (f32) of storing the second through
 * the caches on Zen 3 (bench/ab.py, 5 rounds; AVX-512 streams f32's second output alone: core.inc). */
#define VEC_STREAM_TWO_OUTPUTS 0

typedef struct { __m256d q0, q1, q2, q3; } vd;
typedef struct { __m256 lo, hi; } vf;

SHIM vd vd_zero(void) { __m256d z = _mm256_setzero_pd(); return (vd){z, z, z, z}; }
SHIM vd vd_set(double a) { __m256d s = _mm256_set1_pd(a); return (vd){s, s, s, s}; }
#define VD_OP(name, op)                                                                            \
    SHIM vd name(vd a, vd b) {                                                                     \
        return (vd){op(a.q0, b.q0), op(a.q1, b.q1), op(a.q2, b.q2), op(a.q3, b.q3)};               \
    }
VD_OP(vd_add, _mm256_add_pd)
VD_OP(vd_sub, _mm256_sub_pd)
VD_OP(vd_mul, _mm256_mul_pd)
VD_OP(vd_min, _mm256_min_pd) /* the second operand where either is NaN: a < b ? a : b */
VD_OP(vd_max, _mm256_max_pd)
VD_OP(vd_div, _mm256_div_pd)
#undef VD_OP
SHIM vd vd_sqrt(vd a) {
    return (vd){_mm256_sqrt_pd(a.q0), _mm256_sqrt_pd(a.q1), _mm256_sqrt_pd(a.q2), _mm256_sqrt_pd(a.q3)};
}
SHIM vd vd_fma(vd a, vd b, vd c) {
    return (vd){_mm256_fmadd_pd(a.q0, b.q0, c.q0), _mm256_fmadd_pd(a.q1, b.q1, c.q1), _mm256_fmadd_pd(a.q2, b.q2, c.q2),
                _mm256_fmadd_pd(a.q3, b.q3, c.q3)};
}

SHIM vf vf_zero(void) { return (vf){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
SHIM vf vf_set(float a) { return (vf){_mm256_set1_ps(a), _mm256_set1_ps(a)}; }
SHIM vf vf_add(vf a, vf b) { return (vf){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
SHIM vf vf_sub(vf a, vf b) { return (vf){_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
SHIM vf vf_mul(vf a, vf b) { return (vf){_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
SHIM vf vf_fma(vf a, vf b, vf c) { return (vf){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
SHIM vf vf_fms(vf a, vf b, vf c) {
    return (vf){_mm256_fmsub_ps(a.lo, b.lo, c.lo), _mm256_fmsub_ps(a.hi, b.hi, c.hi)};
}
SHIM vf vf_div(vf a, vf b) { return (vf){_mm256_div_ps(a.lo, b.lo), _mm256_div_ps(a.hi, b.hi)}; }
/* minps/maxps return the second operand when either is NaN: the scalar shim's a < b ? a : b */
SHIM vf vf_min(vf a, vf b) { return (vf){_mm256_min_ps(a.lo, b.lo), _mm256_min_ps(a.hi, b.hi)}; }
SHIM vf vf_max(vf a, vf b) { return (vf){_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }
/* p·2^n as p·2^h·2^(n-h), h = floor(n/2): each factor 2^h in [2^-63, 2^64] is built in the exponent
 * field, the first product is exact and the second rounds once (to a subnormal or inf as ldexpf) */
SHIM __m256 pow2i8(__m256i n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}
SHIM __m256 scale2_8(__m256 p, __m256 n) {
    __m256i ni = _mm256_cvtps_epi32(n), h = _mm256_srai_epi32(ni, 1);
    return _mm256_mul_ps(_mm256_mul_ps(p, pow2i8(h)), pow2i8(_mm256_sub_epi32(ni, h)));
}
SHIM vf vf_scale2(vf p, vf n) { return (vf){scale2_8(p.lo, n.lo), scale2_8(p.hi, n.hi)}; }

/* lanes l + 8, then l + 4, l + 2, l + 1: the reference's tree */
SHIM double vd_reduce(vd a) {
    __m256d s4 = _mm256_add_pd(_mm256_add_pd(a.q0, a.q2), _mm256_add_pd(a.q1, a.q3));
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
}

SHIM float vf_reduce(vf a) {
    __m256 s8 = _mm256_add_ps(a.lo, a.hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

SHIM vf vf_first(vf a, int k) {
    static const int32_t lanes[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    __m256i kk = _mm256_set1_epi32(k);
    __m256 lo = _mm256_castsi256_ps(_mm256_cmpgt_epi32(kk, _mm256_loadu_si256((const __m256i *)lanes)));
    __m256 hi = _mm256_castsi256_ps(_mm256_cmpgt_epi32(kk, _mm256_loadu_si256((const __m256i *)(lanes + 8))));
    return (vf){_mm256_and_ps(a.lo, lo), _mm256_and_ps(a.hi, hi)};
}

/* ----- 16 elements of a dtype <-> 16 floats ----- */

SHIM __m256 bf16_widen8(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }

/* Eight floats rounded to bf16 to nearest even, each in the low half of its 32-bit lane: adding 0x7fff
 * plus the kept part's lowest bit carries into it exactly when the dropped half is above a tie, or a
 * tie with an odd kept part (a carry on into the exponent is the right step to the next binade or to
 * inf). Right for ±0, normals and ±inf; not for NaN (a carry can reach the sign) or subnormals. */
SHIM __m256i bf16_round8_ordinary(__m256 f) {
    __m256i u = _mm256_castps_si256(f);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    return _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
}

/* The same for every float, as AVX512-BF16's vcvtneps2bf16: NaN quieted, subnormals to a signed zero. */
SHIM __m256i bf16_round8(__m256 f) {
    __m256i u = _mm256_castps_si256(f), high = _mm256_srli_epi32(u, 16);
    __m256i quiet = _mm256_or_si256(high, _mm256_set1_epi32(0x40));
    __m256i sign = _mm256_and_si256(high, _mm256_set1_epi32(0x8000));
    __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q));
    __m256i subnormal = _mm256_cmpeq_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7f800000)), _mm256_setzero_si256());
    return _mm256_blendv_epi8(_mm256_blendv_epi8(bf16_round8_ordinary(f), sign, subnormal), quiet, nan);
}

/* Whether none of 16 floats is a NaN or a nonzero subnormal (bf16_round8_ordinary is right for them
 * all): no lane both below FLT_MIN in magnitude (or NaN) and nonzero (or NaN). Zeros pass: a test that let
 * them take the full rounding ran a backward whose bf16 output mixed zeros with other values at 0.72x. */
SHIM int bf16_all_ordinary(vf a) {
    __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), tiny = _mm256_set1_ps(0x1p-126f);
    __m256 zero = _mm256_setzero_ps();
    __m256 lo = _mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(a.lo, magnitude), tiny, _CMP_NGE_UQ),
                              _mm256_cmp_ps(a.lo, zero, _CMP_NEQ_UQ));
    __m256 hi = _mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(a.hi, magnitude), tiny, _CMP_NGE_UQ),
                              _mm256_cmp_ps(a.hi, zero, _CMP_NEQ_UQ));
    __m256 any = _mm256_or_ps(lo, hi);
    return _mm256_testz_ps(any, any);
}

/* 16 floats as 16 elements of a 16-bit dtype, in one ymm. bf16: the in-lane pack leaves quadwords
 * 0, 2, 1, 3; the permute puts them back in order. The same bits either way; per 16 floats the full
 * rounding is 24 instructions, the ordinary one 10 and its test 11 (norma-kernel-bench: the bf16
 * storing primitives 6-10% faster; bench/ab.py over every bf16 case: median 1.05x). */
SHIM __m256i narrow16(norma_dtype t, vf a) {
    if (t == NORMA_BF16) {
        __m256i packed = bf16_all_ordinary(a)
                             ? _mm256_packus_epi32(bf16_round8_ordinary(a.lo), bf16_round8_ordinary(a.hi))
                             : _mm256_packus_epi32(bf16_round8(a.lo), bf16_round8(a.hi));
        return _mm256_permute4x64_epi64(packed, 0xD8);
    }
    return _mm256_set_m128i(_mm256_cvtps_ph(a.hi, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                            _mm256_cvtps_ph(a.lo, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

SHIM vf vf_load(norma_dtype t, const void *p, int64_t i) {
    if (t == NORMA_F32) {
        const float *f = (const float *)p + i;
        return (vf){_mm256_loadu_ps(f), _mm256_loadu_ps(f + 8)};
    }
    const uint16_t *h = (const uint16_t *)p + i;
    __m128i a = _mm_loadu_si128((const __m128i *)h), b = _mm_loadu_si128((const __m128i *)(h + 8));
    if (t == NORMA_BF16) return (vf){bf16_widen8(a), bf16_widen8(b)};
    return (vf){_mm256_cvtph_ps(a), _mm256_cvtph_ps(b)};
}

SHIM vf vf_load_part(norma_dtype t, const void *p, int64_t i, int k) {
    float f[VL] = {0};
    uint16_t h[VL] = {0};
    if (t == NORMA_F32) {
        memcpy(f, (const float *)p + i, (size_t)k * sizeof(float));
        return vf_load(t, f, 0);
    }
    memcpy(h, (const uint16_t *)p + i, (size_t)k * sizeof(uint16_t));
    return vf_load(t, h, 0);
}

SHIM void vf_store(norma_dtype t, void *p, int64_t i, vf a) {
    if (t == NORMA_F32) {
        float *f = (float *)p + i;
        _mm256_storeu_ps(f, a.lo), _mm256_storeu_ps(f + 8, a.hi);
        return;
    }
    _mm256_storeu_si256((__m256i *)((uint16_t *)p + i), narrow16(t, a));
}

SHIM void vf_store_part(norma_dtype t, void *p, int64_t i, int k, vf a) {
    if (t == NORMA_F32) {
        float f[VL];
        vf_store(t, f, 0, a);
        memcpy((float *)p + i, f, (size_t)k * sizeof(float));
    } else {
        uint16_t h[VL];
        vf_store(t, h, 0, a);
        memcpy((uint16_t *)p + i, h, (size_t)k * sizeof(uint16_t));
    }
}

/* ----- doubles ----- */

SHIM vd vd_from_vf(vf a) {
    return (vd){_mm256_cvtps_pd(_mm256_castps256_ps128(a.lo)), _mm256_cvtps_pd(_mm256_extractf128_ps(a.lo, 1)),
                _mm256_cvtps_pd(_mm256_castps256_ps128(a.hi)), _mm256_cvtps_pd(_mm256_extractf128_ps(a.hi, 1))};
}

SHIM vf vf_from_vd(vd a) {
    return (vf){_mm256_set_m128(_mm256_cvtpd_ps(a.q1), _mm256_cvtpd_ps(a.q0)),
                _mm256_set_m128(_mm256_cvtpd_ps(a.q3), _mm256_cvtpd_ps(a.q2))};
}

SHIM vd vd_load(norma_dtype t, const void *p, int64_t i) { return vd_from_vf(vf_load(t, p, i)); }
SHIM vd vd_load_part(norma_dtype t, const void *p, int64_t i, int k) {
    return vd_from_vf(vf_load_part(t, p, i, k));
}
SHIM void vd_store(norma_dtype t, void *p, int64_t i, vd a) { vf_store(t, p, i, vf_from_vd(a)); }
SHIM void vd_store_part(norma_dtype t, void *p, int64_t i, int k, vd a) {
    vf_store_part(t, p, i, k, vf_from_vd(a));
}

SHIM vd vd_load_acc(const double *p, int k) {
    if (k == VL) return (vd){_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4), _mm256_loadu_pd(p + 8), _mm256_loadu_pd(p + 12)};
    double d[VL] = {0};
    memcpy(d, p, (size_t)k * sizeof(double));
    return vd_load_acc(d, VL);
}

SHIM void vd_store_acc(double *p, int k, vd a) {
    double d[VL];
    double *out = k == VL ? p : d;
    _mm256_storeu_pd(out, a.q0), _mm256_storeu_pd(out + 4, a.q1);
    _mm256_storeu_pd(out + 8, a.q2), _mm256_storeu_pd(out + 12, a.q3);
    if (k != VL) memcpy(p, d, (size_t)k * sizeof(double));
}

SHIM vd vd_first(vd a, int k) {
    double d[VL];
    vd_store_acc(d, VL, a);
    for (int l = k; l < VL; l++) d[l] = 0.0;
    return vd_load_acc(d, VL);
}

/* Non-temporal stores of full vectors where 32-byte aligned; ordinary stores otherwise. */
SHIM void vf_stream(norma_dtype t, void *p, int64_t i, vf a) {
    uintptr_t at = t == NORMA_F32 ? (uintptr_t)((float *)p + i) : (uintptr_t)((uint16_t *)p + i);
    if (at & 31) {
        vf_store(t, p, i, a);
        return;
    }
    if (t == NORMA_F32) {
        float *f = (float *)p + i;
        _mm256_stream_ps(f, a.lo), _mm256_stream_ps(f + 8, a.hi);
    } else {
        _mm256_stream_si256((__m256i *)((uint16_t *)p + i), narrow16(t, a));
    }
}
SHIM void vd_stream(norma_dtype t, void *p, int64_t i, vd a) { vf_stream(t, p, i, vf_from_vd(a)); }

#endif /* NORMA_VEC_AVX2_H */
