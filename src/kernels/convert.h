/* convert.h: scalar conversions between float and the 16-bit storage types, bit for bit as the SIMD
 * conversions of the other variants, so that all variants store the same bits:
 *   f16:  round to nearest even, subnormals kept, NaN quieted (F16C's vcvtps2ph / vcvtph2ps);
 *   bf16: round to nearest even, NaN quieted, and a subnormal float becomes a zero of its sign, as
 *         AVX512-BF16's vcvtneps2bf16 does (PyTorch keeps bf16 subnormals; the two differ only for
 *         |x| < 1.2e-38). */
#ifndef NORMA_CONVERT_H
#define NORMA_CONVERT_H

#include <stdint.h>
#include <string.h>

#include "norma.h"

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* bfloat16 is the upper half of a binary32. */
static inline float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);          /* subnormal: ±0 */
    u += 0x7fffu + ((u >> 16) & 1u);                                              /* ties to even */
    return (uint16_t)(u >> 16);
}

static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant ? 0x00400000u | (mant << 13) : 0u));
    if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
    if (mant == 0) return f32_from_bits(sign);
    /* subnormal: mant · 2^-24, exact in binary32 */
    float f = (float)mant * 0x1p-24f;
    return sign ? -f : f;
}

static inline uint16_t f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* quiet NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: infinity */
    if (a >= 0x38800000u) {                                  /* normal half: exponent >= -14 */
        uint32_t r = a - 0x38000000u;                         /* rebias 127 -> 15 */
        r += 0x0fffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (a < 0x33000000u) return sign; /* below half of the smallest subnormal (2^-25): zero */
    /* subnormal half: round a's value / 2^-24 to an integer, ties to even */
    uint32_t exp = a >> 23, mant = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - exp; /* value = mant · 2^(exp - 150); in units of 2^-24: mant >> (126 - exp) */
    uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

/* Element i of a buffer of the given dtype (norma.h's norma_dtype), as a float, and back. */
static inline float load_elem(norma_dtype t, const void *p, int64_t i) {
    switch (t) {
    case NORMA_BF16: return bf16_to_f32(((const uint16_t *)p)[i]);
    case NORMA_F16: return f16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

static inline void store_elem(norma_dtype t, void *p, int64_t i, float f) {
    switch (t) {
    case NORMA_BF16: ((uint16_t *)p)[i] = f32_to_bf16(f); break;
    case NORMA_F16: ((uint16_t *)p)[i] = f32_to_f16(f); break;
    default: ((float *)p)[i] = f; break;
    }
}

#endif /* NORMA_CONVERT_H */
