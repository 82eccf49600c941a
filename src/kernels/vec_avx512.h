/* vec_avx512.h: the shim of vec_scalar.h on AVX-512 (F, BW, VL, DQ): vd is two zmm of doubles
 * (lanes 0-7, 8-15), vf one zmm of floats. Tails use masked loads and stores. Every operation rounds
 * like its scalar twin, and vd_reduce adds in the same tree, so results are bitwise the reference's.
 * Rounding to bf16 uses vcvtneps2bf16 where the build has AVX512-BF16 (the avx512bf16 variant), and
 * otherwise the same rule in integer arithmetic (see convert.h). */
#ifndef NORMA_VEC_AVX512_H
#define NORMA_VEC_AVX512_H

#include <immintrin.h>

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

typedef struct { __m512d lo, hi; } vd;
typedef __m512 vf;

SHIM vd vd_zero(void) { return (vd){_mm512_setzero_pd(), _mm512_setzero_pd()}; }
SHIM vd vd_set(double a) { return (vd){_mm512_set1_pd(a), _mm512_set1_pd(a)}; }
SHIM vd vd_add(vd a, vd b) { return (vd){_mm512_add_pd(a.lo, b.lo), _mm512_add_pd(a.hi, b.hi)}; }
SHIM vd vd_sub(vd a, vd b) { return (vd){_mm512_sub_pd(a.lo, b.lo), _mm512_sub_pd(a.hi, b.hi)}; }
SHIM vd vd_mul(vd a, vd b) { return (vd){_mm512_mul_pd(a.lo, b.lo), _mm512_mul_pd(a.hi, b.hi)}; }
/* minpd/maxpd return the second operand where either is NaN: a < b ? a : b */
SHIM vd vd_min(vd a, vd b) { return (vd){_mm512_min_pd(a.lo, b.lo), _mm512_min_pd(a.hi, b.hi)}; }
SHIM vd vd_max(vd a, vd b) { return (vd){_mm512_max_pd(a.lo, b.lo), _mm512_max_pd(a.hi, b.hi)}; }
SHIM vd vd_div(vd a, vd b) { return (vd){_mm512_div_pd(a.lo, b.lo), _mm512_div_pd(a.hi, b.hi)}; }
SHIM vd vd_sqrt(vd a) { return (vd){_mm512_sqrt_pd(a.lo), _mm512_sqrt_pd(a.hi)}; }

SHIM vd vd_fma(vd a, vd b, vd c) { return (vd){_mm512_fmadd_pd(a.lo, b.lo, c.lo), _mm512_fmadd_pd(a.hi, b.hi, c.hi)}; }

SHIM vf vf_zero(void) { return _mm512_setzero_ps(); }
SHIM vf vf_set(float a) { return _mm512_set1_ps(a); }
SHIM vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
SHIM vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
SHIM vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
SHIM vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
SHIM vf vf_fms(vf a, vf b, vf c) { return _mm512_fmsub_ps(a, b, c); }
SHIM vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
/* minps/maxps return the second operand when either is NaN: the scalar shim's a < b ? a : b */
SHIM vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
SHIM vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
SHIM vf vf_scale2(vf p, vf n) { return _mm512_scalef_ps(p, n); } /* p·2^floor(n), rounded once */

/* lanes l + 8, then l + 4, l + 2, l + 1: the reference's tree */
SHIM double vd_reduce(vd a) {
    __m512d s8 = _mm512_add_pd(a.lo, a.hi);
    __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(s8), _mm512_extractf64x4_pd(s8, 1));
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    __m128d s1 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
    return _mm_cvtsd_f64(s1);
}

SHIM __mmask16 mask16(int k) { return (__mmask16)((1u << k) - 1u); }

SHIM float vf_reduce(vf a) {
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

SHIM vf vf_first(vf a, int k) { return _mm512_maskz_mov_ps(mask16(k), a); }

/* ----- 16 elements of a dtype <-> 16 floats ----- */

/* A bf16 is the high half of its float: word j of h goes to the high word of lane j, the low words are
 * zeroed, in one word permute (vpermw with a zeroing mask) instead of a widening and a shift: 1.6 against
 * 2.1 cycles per 16 elements (with an add) on the AMD Zen 4 host, where a 512-bit operation takes a
 * cycle and the 16-bit norms are bound by their operations. */
SHIM vf bf16_widen(__m256i h) {
    const __m512i high_words = _mm512_set_epi16(15, 0, 14, 0, 13, 0, 12, 0, 11, 0, 10, 0, 9, 0, 8, 0, 7, 0, 6, 0, 5, 0,
                                                4, 0, 3, 0, 2, 0, 1, 0, 0, 0);
    return _mm512_castsi512_ps(_mm512_maskz_permutexvar_epi16(0xAAAAAAAAu, high_words, _mm512_castsi256_si512(h)));
}

SHIM __m256i bf16_narrow(vf f) {
#if defined(__AVX512BF16__)
    return (__m256i)_mm512_cvtneps_pbh(f);
#else
    __m512i u = _mm512_castps_si512(f);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    __m512i sign = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x8000));
    __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    __mmask16 subnormal = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
    rounded = _mm512_mask_mov_epi32(rounded, subnormal, sign);
    return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, quiet));
#endif
}

SHIM vf vf_load_part(norma_dtype t, const void *p, int64_t i, int k) {
    __mmask16 m = mask16(k);
    switch (t) {
    case NORMA_BF16: return bf16_widen(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
    case NORMA_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
    default: return _mm512_maskz_loadu_ps(m, (const float *)p + i);
    }
}

SHIM vf vf_load(norma_dtype t, const void *p, int64_t i) {
    switch (t) {
    case NORMA_BF16: return bf16_widen(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
    case NORMA_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
    default: return _mm512_loadu_ps((const float *)p + i);
    }
}

SHIM __m256i narrow16(norma_dtype t, vf a) {
    return t == NORMA_BF16 ? bf16_narrow(a) : _mm512_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

SHIM void vf_store(norma_dtype t, void *p, int64_t i, vf a) {
    if (t == NORMA_F32) _mm512_storeu_ps((float *)p + i, a);
    else _mm256_storeu_si256((__m256i *)((uint16_t *)p + i), narrow16(t, a));
}

SHIM void vf_store_part(norma_dtype t, void *p, int64_t i, int k, vf a) {
    if (t == NORMA_F32) _mm512_mask_storeu_ps((float *)p + i, mask16(k), a);
    else _mm256_mask_storeu_epi16((uint16_t *)p + i, mask16(k), narrow16(t, a));
}

/* ----- doubles ----- */

SHIM vd vd_from_vf(vf a) {
    return (vd){_mm512_cvtps_pd(_mm512_castps512_ps256(a)),
                _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)))};
}

SHIM vf vf_from_vd(vd a) {
    __m256 lo = _mm512_cvtpd_ps(a.lo), hi = _mm512_cvtpd_ps(a.hi);
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

SHIM vd vd_load(norma_dtype t, const void *p, int64_t i) {
    if (t == NORMA_F32) { /* two halves straight from memory: no lane extraction */
        const float *f = (const float *)p + i;
        return (vd){_mm512_cvtps_pd(_mm256_loadu_ps(f)), _mm512_cvtps_pd(_mm256_loadu_ps(f + 8))};
    }
    return vd_from_vf(vf_load(t, p, i));
}
SHIM vd vd_load_part(norma_dtype t, const void *p, int64_t i, int k) {
    return vd_from_vf(vf_load_part(t, p, i, k));
}
SHIM void vd_store(norma_dtype t, void *p, int64_t i, vd a) {
    if (t == NORMA_F32) {
        float *f = (float *)p + i;
        _mm256_storeu_ps(f, _mm512_cvtpd_ps(a.lo)), _mm256_storeu_ps(f + 8, _mm512_cvtpd_ps(a.hi));
        return;
    }
    vf_store(t, p, i, vf_from_vd(a));
}
SHIM void vd_store_part(norma_dtype t, void *p, int64_t i, int k, vd a) {
    vf_store_part(t, p, i, k, vf_from_vd(a));
}

SHIM vd vd_first(vd a, int k) {
    __mmask8 lo = (__mmask8)(k >= 8 ? 0xff : (1u << k) - 1u), hi = (__mmask8)(k <= 8 ? 0 : (1u << (k - 8)) - 1u);
    return (vd){_mm512_maskz_mov_pd(lo, a.lo), _mm512_maskz_mov_pd(hi, a.hi)};
}

SHIM vd vd_load_acc(const double *p, int k) {
    if (k == VL) return (vd){_mm512_loadu_pd(p), _mm512_loadu_pd(p + 8)};
    __mmask8 lo = (__mmask8)(k >= 8 ? 0xff : (1u << k) - 1u), hi = (__mmask8)(k <= 8 ? 0 : (1u << (k - 8)) - 1u);
    return (vd){_mm512_maskz_loadu_pd(lo, p), _mm512_maskz_loadu_pd(hi, p + 8)};
}

SHIM void vd_store_acc(double *p, int k, vd a) {
    if (k == VL) {
        _mm512_storeu_pd(p, a.lo), _mm512_storeu_pd(p + 8, a.hi);
        return;
    }
    __mmask8 lo = (__mmask8)(k >= 8 ? 0xff : (1u << k) - 1u), hi = (__mmask8)(k <= 8 ? 0 : (1u << (k - 8)) - 1u);
    _mm512_mask_storeu_pd(p, lo, a.lo), _mm512_mask_storeu_pd(p + 8, hi, a.hi);
}

/* Non-temporal stores of full 16-element vectors where aligned (64 bytes for f32, 32 for 16-bit);
 * ordinary stores otherwise. The caller fences after its last one. */
SHIM void vf_stream(norma_dtype t, void *p, int64_t i, vf a) {
    if (t == NORMA_F32) {
        float *f = (float *)p + i;
        if (((uintptr_t)f & 63) == 0) _mm512_stream_ps(f, a);
        else _mm512_storeu_ps(f, a);
        return;
    }
    __m256i *h = (__m256i *)((uint16_t *)p + i);
    if (((uintptr_t)h & 31) == 0) _mm256_stream_si256(h, narrow16(t, a));
    else _mm256_storeu_si256(h, narrow16(t, a));
}
SHIM void vd_stream(norma_dtype t, void *p, int64_t i, vd a) { vf_stream(t, p, i, vf_from_vd(a)); }

#endif /* NORMA_VEC_AVX512_H */
